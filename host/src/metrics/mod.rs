//! The host's Prometheus series: what it records and how `/metrics` renders them, through the
//! `prometheus-client` registry. Every label set is closed and pre-created (see `labels`) except
//! the webhook failures' code, a stable code from the host's own list; no series carries a
//! webhook, send id or message, nor a project unless the operator opts in (see `projects`).

mod buckets;
mod labels;
mod projects;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::{Outcome, Stage};
use crate::plugin::{PluginError, PluginTimings, Tier};
pub use labels::{CompileOutcome, StatusClass};
use labels::{HOOKS, OUTCOMES, One, TIERS, TIMED_STAGES, Two, compiler, handles, index};

/// The `Content-Type` of `render`'s text: Prometheus text format 0.0.4, which every scraper reads.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Why a webhook execution failed. `code` is one of the host's stable error codes, a set fixed
/// by its source (never text from a tenant or an upstream), so the family stays small.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    stage: &'static str,
    code: String,
}

pub struct Metrics {
    registry: Registry,
    responses: [Counter; 5],
    chats: [Counter; 3],
    chat_seconds: [Histogram; 3],
    /// Chat fallbacks' webhook executions: success, failure.
    webhook_calls: [Counter; 2],
    webhook_seconds: Counter<f64, AtomicU64>,
    /// Webhook failures by stage (`pipeline::Stage::as_str`) and stable error code. `busy` under
    /// stage `admission` or `plugin` counts executions refused past a concurrency bound.
    webhook_failures: Family<FailureLabels, Counter>,
    stage_seconds: [Histogram; 5],
    upstream_seconds: [Histogram; 6],
    plugin_seconds: [Histogram; 3],
    /// By tier, then by outcome.
    compile_seconds: [[Histogram; 3]; 2],
    plugin_uploads: Counter,
    /// Intent models trained, and read back from disk instead.
    intent_training_seconds: Histogram,
    intent_models_read: Counter,
    /// Chat and test-console requests refused by the per-project rate.
    rate_limited: Counter,
    plugin_compiles: Counter,
    plugin_evictions: Counter,
    plugin_cache_bytes: Gauge<u64, AtomicU64>,
    http_connections_open: Gauge,
    /// The most connections open at once since start: shows the cap holding.
    http_connections_peak: Gauge,
    /// Chats by project too, when the operator asked for it (`metrics_project_labels`).
    projects: Option<projects::ProjectSeries>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes each histogram of a family with its bound list.
#[derive(Debug, Clone, Copy)]
struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

fn histograms<L: Clone + std::hash::Hash + Eq>(bounds: &'static [f64]) -> Family<L, Histogram, Buckets> {
    Family::new_with_constructor(Buckets(bounds))
}

impl Metrics {
    /// The series without project labels.
    pub fn new() -> Self {
        Self::with_project_labels(0)
    }

    /// The series, plus chats by project for the first `projects` projects seen (0: none).
    pub fn with_project_labels(projects: usize) -> Self {
        let mut registry = Registry::default();

        let responses = Family::<One, Counter>::default();
        registry.register("fallback_http_responses", "HTTP responses by status class", responses.clone());
        let chats = Family::<One, Counter>::default();
        registry.register("fallback_chats", "Chat messages by outcome", chats.clone());
        let chat_seconds = histograms(buckets::CHAT);
        registry.register(
            "fallback_chat_seconds",
            "Time to answer a chat message, by outcome",
            chat_seconds.clone(),
        );
        let webhook_calls = Family::<One, Counter>::default();
        registry.register("fallback_webhook_calls", "Webhook executions by result", webhook_calls.clone());
        let webhook_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "fallback_webhook_failures",
            "Webhook failures by stage and reason",
            webhook_failures.clone(),
        );
        let webhook_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "fallback_webhook_seconds",
            "Time spent in webhook executions",
            webhook_seconds.clone(),
        );
        let stage_seconds = histograms(buckets::STAGE);
        registry.register(
            "fallback_webhook_stage_seconds",
            "Time of each stage of a webhook execution (chats and test console)",
            stage_seconds.clone(),
        );
        let upstream_seconds = histograms(buckets::UPSTREAM);
        registry.register(
            "fallback_upstream_seconds",
            "Upstream calls by the class of their answer (error: none), retries included",
            upstream_seconds.clone(),
        );
        let plugin_seconds = histograms(buckets::PLUGIN);
        registry.register(
            "fallback_plugin_call_seconds",
            "Time of each step of a plugin call",
            plugin_seconds.clone(),
        );
        let compile_seconds = histograms::<Two>(buckets::COMPILE);
        registry.register(
            "fallback_plugin_compile_seconds",
            "Compilations by compiler and outcome",
            compile_seconds.clone(),
        );
        let plugin_uploads = Counter::default();
        registry.register("fallback_plugin_uploads", "Plugin versions accepted", plugin_uploads.clone());
        let intent_training_seconds = Histogram::new(buckets::COMPILE.iter().copied());
        registry.register(
            "fallback_intent_training_seconds",
            "Intent model trainings that finished",
            intent_training_seconds.clone(),
        );
        let intent_models_read = Counter::default();
        registry.register(
            "fallback_intent_models_read",
            "Intent models read back from disk instead of trained",
            intent_models_read.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "fallback_rate_limited",
            "Requests refused by the per-project rate",
            rate_limited.clone(),
        );
        let plugin_compiles = Counter::default();
        registry.register("fallback_plugin_compiles", "Components compiled", plugin_compiles.clone());
        let plugin_evictions = Counter::default();
        registry.register(
            "fallback_plugin_cache_evictions",
            "Compiled plugins evicted from memory",
            plugin_evictions.clone(),
        );
        let plugin_cache_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "fallback_plugin_cache_bytes",
            "Bytes of compiled plugins kept in memory",
            plugin_cache_bytes.clone(),
        );
        let http_connections_open = Gauge::default();
        registry.register(
            "fallback_http_connections_open",
            "HTTP connections open now",
            http_connections_open.clone(),
        );
        let http_connections_peak = Gauge::default();
        registry.register(
            "fallback_http_connections_peak",
            "The most HTTP connections open at once",
            http_connections_peak.clone(),
        );

        let projects = (projects > 0).then(|| projects::ProjectSeries::register(&mut registry, projects));

        Self {
            registry,
            responses: handles(&responses, "class", ["1xx", "2xx", "3xx", "4xx", "5xx"]),
            chats: handles(&chats, "outcome", OUTCOMES.map(Outcome::as_str)),
            chat_seconds: handles(&chat_seconds, "outcome", OUTCOMES.map(Outcome::as_str)),
            webhook_calls: handles(&webhook_calls, "result", ["success", "failure"]),
            webhook_seconds,
            webhook_failures,
            stage_seconds: handles(&stage_seconds, "stage", TIMED_STAGES.map(Stage::as_str)),
            upstream_seconds: handles(&upstream_seconds, "class", StatusClass::ALL.map(StatusClass::as_str)),
            plugin_seconds: handles(&plugin_seconds, "hook", HOOKS.map(|hook| hook.as_str())),
            compile_seconds: TIERS.map(|tier| {
                CompileOutcome::ALL.map(|outcome| {
                    compile_seconds
                        .get_or_create_owned(&[("compiler", compiler(tier)), ("outcome", outcome.as_str())])
                })
            }),
            plugin_uploads,
            intent_training_seconds,
            intent_models_read,
            rate_limited,
            plugin_compiles,
            plugin_evictions,
            plugin_cache_bytes,
            http_connections_open,
            http_connections_peak,
            projects,
        }
    }

    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].inc();
    }

    /// One chat of `project` answered, and how long it took.
    pub fn record_chat(&self, project: &str, outcome: Outcome, elapsed: Duration) {
        if let Some(at) = index(&OUTCOMES, outcome) {
            self.chats[at].inc();
            self.chat_seconds[at].observe(elapsed.as_secs_f64());
        }
        if let Some(projects) = &self.projects {
            projects.record(project, outcome, elapsed);
        }
    }

    /// One fallback webhook execution: its result, its time, and why it failed if it did.
    pub fn record_webhook(&self, elapsed: Duration, failure: Option<(&'static str, &str)>) {
        self.webhook_calls[usize::from(failure.is_some())].inc();
        self.webhook_seconds.inc_by(elapsed.as_secs_f64());
        if let Some((stage, code)) = failure {
            self.webhook_failures.get_or_create(&FailureLabels { stage, code: code.to_string() }).inc();
        }
    }

    /// Times one stage of a webhook execution until the guard drops, whichever way the stage
    /// ends (an error, a `?`, a cancelled request).
    pub fn time_stage(&self, stage: Stage) -> StageTimer<'_> {
        StageTimer {
            histogram: index(&TIMED_STAGES, stage).map(|at| &self.stage_seconds[at]),
            started: Instant::now(),
        }
    }

    /// A stage timed by its caller (the mapping, plugin and reply stages, which `respond` times
    /// for the CLI and the host alike).
    pub fn record_stage(&self, stage: Stage, took: Duration) {
        if let Some(at) = index(&TIMED_STAGES, stage) {
            self.stage_seconds[at].observe(took.as_secs_f64());
        }
    }

    /// One upstream call: the status it answered (`None`: no answer) and its time.
    pub fn record_upstream(&self, status: Option<u16>, elapsed: Duration) {
        if let Some(at) = index(&StatusClass::ALL, StatusClass::of(status)) {
            self.upstream_seconds[at].observe(elapsed.as_secs_f64());
        }
    }

    /// The steps one plugin call ran (a step that did not run has no time).
    pub fn record_plugin_call(&self, timings: &PluginTimings) {
        for (histogram, took) in
            self.plugin_seconds.iter().zip([timings.instantiate, timings.extract, timings.format])
        {
            if !took.is_zero() {
                histogram.observe(took.as_secs_f64());
            }
        }
    }

    /// Runs one compilation of `tier` and records its time and outcome.
    pub fn time_compile<T>(
        &self,
        tier: Tier,
        compile: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let started = Instant::now();
        let result = compile();
        let outcome = CompileOutcome::of(&result);
        if let (Some(tier), Some(outcome)) = (index(&TIERS, tier), index(&CompileOutcome::ALL, outcome)) {
            self.compile_seconds[tier][outcome].observe(started.elapsed().as_secs_f64());
        }
        result
    }

    pub fn record_rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub fn record_plugin_upload(&self) {
        self.plugin_uploads.inc();
    }

    /// One compilation of a component (an upload or a reload whose artifact was gone).
    pub fn record_plugin_compile(&self) {
        self.plugin_compiles.inc();
    }

    /// An intent model trained (`Some(time)`) or read back from disk (`None`).
    pub fn record_intent_model(&self, trained_in: Option<Duration>) {
        match trained_in {
            Some(time) => self.intent_training_seconds.observe(time.as_secs_f64()),
            None => {
                self.intent_models_read.inc();
            }
        }
    }

    /// Compiled plugins dropped from memory to stay under the cache's byte bound.
    pub fn record_plugin_evictions(&self, count: u64) {
        self.plugin_evictions.inc_by(count);
    }

    pub fn set_plugin_cache_bytes(&self, bytes: usize) {
        self.plugin_cache_bytes.set(u64::try_from(bytes).unwrap_or(u64::MAX));
    }

    pub fn connection_opened(&self) {
        let open = self.http_connections_open.inc() + 1;
        self.http_connections_peak.inner().fetch_max(open, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.http_connections_open.dec();
    }

    /// The Prometheus text of every series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a `String` cannot fail, nor can the crate's encoders of these metric types.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// Records a webhook stage's time when dropped.
pub struct StageTimer<'a> {
    histogram: Option<&'a Histogram>,
    started: Instant,
}

impl Drop for StageTimer<'_> {
    fn drop(&mut self) {
        if let Some(histogram) = self.histogram {
            histogram.observe(self.started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests;
