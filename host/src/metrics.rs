//! The host's Prometheus counters: responses by status class, chats by outcome, webhook
//! executions with their failure reasons, plugin uploads. Plain atomics: the set is small and
//! fixed, so a registry would add nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    responses: [AtomicU64; 5],
    chats_matched: AtomicU64,
    chats_success: AtomicU64,
    chats_failure: AtomicU64,
    webhook_success: AtomicU64,
    webhook_failure: AtomicU64,
    webhook_micros: AtomicU64,
    plugin_uploads: AtomicU64,
    /// Chat and test-console requests refused by the per-project rate.
    rate_limited: AtomicU64,
    /// Webhook failures by stage (`pipeline::Stage::as_str`) and stable error code: a small,
    /// closed set of labels. `busy` under stage `admission` or `plugin` counts executions
    /// refused past a concurrency bound.
    webhook_failures: Mutex<BTreeMap<(&'static str, String), u64>>,
    // --- issue 7, slice A: compile and plugin cache ---
    plugin_compiles: AtomicU64,
    plugin_evictions: AtomicU64,
    plugin_cache_bytes: AtomicU64,
    // --- issue 7 slice D: the HTTP server's connections ---
    http_connections_open: AtomicU64,
    /// The most connections open at once since start: shows the cap holding.
    http_connections_peak: AtomicU64,
}

impl Metrics {
    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_chat(&self, outcome: &str) {
        let counter = match outcome {
            "matched" => &self.chats_matched,
            "success" => &self.chats_success,
            _ => &self.chats_failure,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One fallback webhook execution: its result, its time, and why it failed if it did.
    pub fn record_webhook(&self, elapsed: Duration, failure: Option<(&'static str, &str)>) {
        let counter = if failure.is_none() { &self.webhook_success } else { &self.webhook_failure };
        counter.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.webhook_micros.fetch_add(micros, Ordering::Relaxed);
        if let Some((stage, code)) = failure
            && let Ok(mut failures) = self.webhook_failures.lock()
        {
            *failures.entry((stage, code.to_string())).or_default() += 1;
        }
    }

    pub fn record_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_plugin_upload(&self) {
        self.plugin_uploads.fetch_add(1, Ordering::Relaxed);
    }

    /// One compilation of a component (an upload or a reload whose artifact was gone).
    pub fn record_plugin_compile(&self) {
        self.plugin_compiles.fetch_add(1, Ordering::Relaxed);
    }

    /// Compiled plugins dropped from memory to stay under the cache's byte bound.
    pub fn record_plugin_evictions(&self, count: u64) {
        self.plugin_evictions.fetch_add(count, Ordering::Relaxed);
    }

    pub fn set_plugin_cache_bytes(&self, bytes: usize) {
        self.plugin_cache_bytes.store(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        let open = self.http_connections_open.fetch_add(1, Ordering::Relaxed) + 1;
        self.http_connections_peak.fetch_max(open, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.http_connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        out.push_str("# HELP fallback_http_responses_total HTTP responses by status class.\n");
        out.push_str("# TYPE fallback_http_responses_total counter\n");
        for (index, counter) in self.responses.iter().enumerate() {
            let _ =
                writeln!(out, "fallback_http_responses_total{{class=\"{}xx\"}} {}", index + 1, load(counter));
        }
        out.push_str("# HELP fallback_chats_total Chat messages by outcome.\n");
        out.push_str("# TYPE fallback_chats_total counter\n");
        for (outcome, counter) in [
            ("matched", &self.chats_matched),
            ("success", &self.chats_success),
            ("failure", &self.chats_failure),
        ] {
            let _ = writeln!(out, "fallback_chats_total{{outcome=\"{outcome}\"}} {}", load(counter));
        }
        out.push_str("# HELP fallback_webhook_calls_total Webhook executions by result.\n");
        out.push_str("# TYPE fallback_webhook_calls_total counter\n");
        for (result, counter) in [("success", &self.webhook_success), ("failure", &self.webhook_failure)] {
            let _ = writeln!(out, "fallback_webhook_calls_total{{result=\"{result}\"}} {}", load(counter));
        }
        out.push_str("# HELP fallback_webhook_failures_total Webhook failures by stage and reason.\n");
        out.push_str("# TYPE fallback_webhook_failures_total counter\n");
        if let Ok(failures) = self.webhook_failures.lock() {
            for ((stage, code), count) in failures.iter() {
                let _ = writeln!(
                    out,
                    "fallback_webhook_failures_total{{stage=\"{stage}\",code=\"{code}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP fallback_webhook_seconds_total Time spent in webhook executions.\n");
        out.push_str("# TYPE fallback_webhook_seconds_total counter\n");
        let _ =
            writeln!(out, "fallback_webhook_seconds_total {:.6}", load(&self.webhook_micros) as f64 / 1e6);
        out.push_str("# HELP fallback_plugin_uploads_total Plugin versions accepted.\n");
        out.push_str("# TYPE fallback_plugin_uploads_total counter\n");
        let _ = writeln!(out, "fallback_plugin_uploads_total {}", load(&self.plugin_uploads));
        out.push_str("# HELP fallback_rate_limited_total Requests refused by the per-project rate.\n");
        out.push_str("# TYPE fallback_rate_limited_total counter\n");
        let _ = writeln!(out, "fallback_rate_limited_total {}", load(&self.rate_limited));
        out.push_str("# HELP fallback_plugin_compiles_total Components compiled.\n");
        out.push_str("# TYPE fallback_plugin_compiles_total counter\n");
        let _ = writeln!(out, "fallback_plugin_compiles_total {}", load(&self.plugin_compiles));
        out.push_str("# HELP fallback_plugin_cache_evictions_total Compiled plugins evicted from memory.\n");
        out.push_str("# TYPE fallback_plugin_cache_evictions_total counter\n");
        let _ = writeln!(out, "fallback_plugin_cache_evictions_total {}", load(&self.plugin_evictions));
        out.push_str("# HELP fallback_plugin_cache_bytes Bytes of compiled plugins kept in memory.\n");
        out.push_str("# TYPE fallback_plugin_cache_bytes gauge\n");
        let _ = writeln!(out, "fallback_plugin_cache_bytes {}", load(&self.plugin_cache_bytes));
        out.push_str("# HELP fallback_http_connections_open HTTP connections open now.\n");
        out.push_str("# TYPE fallback_http_connections_open gauge\n");
        let _ = writeln!(out, "fallback_http_connections_open {}", load(&self.http_connections_open));
        out.push_str("# HELP fallback_http_connections_peak The most HTTP connections open at once.\n");
        out.push_str("# TYPE fallback_http_connections_peak gauge\n");
        let _ = writeln!(out, "fallback_http_connections_peak {}", load(&self.http_connections_peak));
        out
    }
}
