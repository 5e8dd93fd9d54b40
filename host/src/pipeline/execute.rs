//! One webhook execution: render the request, send it, then `respond` (map the response, run the
//! plugin, build the replies). Every failure becomes the webhook's failure text plus a trace that says why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::{Reply, UpstreamResponse};
use crate::outbound::OutboundRequest;
use crate::webhook::{
    BuiltRequest, Builtins, FieldError, RequestVars, WebhookSpec, failure_template, render_failure,
};

use super::host_log;
use super::respond::{Asked, ReadyPlugin, call_limits, respond, saturating_usize};
use super::stage::Stage;
use super::trace::{BUSY, Outcome, PluginTrace, TRACE_BODY_BYTES, TraceError, UpstreamTrace, WebhookTrace};
use super::{NO_FALLBACK_TEXT, Pipeline, PipelineError};
use crate::catalog::{PreparedWebhook as Prepared, ProjectView};

/// What the caller of an execution shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Detail {
    /// Only the replies and, on failure, the error: a chat. The copies the trace would keep of
    /// the request, the upstream's answer and the variables are not made.
    Replies,
    /// The whole trace: the test console.
    Trace,
}

/// Where the user's words and the conversation are, and how much of the execution to keep.
struct Call<'a> {
    asked: Asked<'a>,
    detail: Detail,
}

impl<'a> Call<'a> {
    /// The built-in variables every template may use.
    fn builtins(&self) -> Builtins<'a> {
        self.asked.builtins()
    }
}

/// Why an execution answers its failure text, and what that text is.
struct Failed {
    error: TraceError,
    text: String,
    plugin_version: Option<u32>,
}

impl Pipeline {
    pub(super) async fn execute(
        &self,
        view: &ProjectView,
        webhook: &str,
        latest_message: &str,
        send_id: &str,
        detail: Detail,
    ) -> Result<WebhookTrace, PipelineError> {
        let started = Instant::now();
        let (project, secrets) = (view.project.id.as_str(), &view.secrets);
        let call = Call { asked: Asked { project, webhook, latest_message, send_id }, detail };
        let mut trace = WebhookTrace::new(webhook);
        let result = match self.catalog.webhook(view, webhook).await.map_err(PipelineError::from) {
            Ok(prepared) => {
                self.admitted(&call, &prepared, secrets, &mut trace).await.map_err(|error| Failed {
                    error,
                    text: prepared.compiled.render_failure(&call.builtins()),
                    plugin_version: prepared.plugin.as_ref().map(|plugin| plugin.version),
                })
            }
            Err(error) => Err(self.unusable(error, &call).await?),
        };
        if let Some(plugin) = &trace.plugin {
            host_log::plugin_lines(project, webhook, plugin, secrets);
        }
        match result {
            Ok(replies) => {
                trace.replies = replies;
                trace.outcome = Outcome::Success;
            }
            Err(Failed { error, text, plugin_version }) => {
                host_log::failure(project, webhook, plugin_version, &error, secrets);
                trace.replies = vec![Reply::text(text)];
                trace.outcome = Outcome::Failure;
                trace.error = Some(error);
            }
        }
        trace.timings_ms.total = millis(started);
        Ok(trace)
    }

    /// Runs the stages once the project and the host have room for one more execution; past
    /// either bound the execution ends at once as `busy` (no queue: a queue would only turn a
    /// flooding tenant's backlog into everyone's latency).
    async fn admitted(
        &self,
        call: &Call<'_>,
        prepared: &Prepared,
        secrets: &BTreeMap<String, String>,
        trace: &mut WebhookTrace,
    ) -> Result<Vec<Reply>, TraceError> {
        let _slot = self
            .in_flight
            .try_acquire(call.asked.project)
            .map_err(|full| TraceError::new(Stage::Admission, BUSY, format!("webhook executions: {full}")))?;
        // A project whose plugin slots are all taken would only wait for the upstream to be
        // refused afterwards: refuse it now, before spending an upstream call on it.
        if prepared.plugin.is_some() && !self.runtime.has_share(call.asked.project) {
            let busy = crate::plugin::PluginError::Busy;
            return Err(TraceError::new(Stage::Plugin, busy.code(), busy.to_string()));
        }
        // Each stage's time goes to the metrics, however the stage ends.
        let built = {
            let _timed = self.metrics.time_stage(Stage::Request);
            self.request_stage(call, prepared, secrets, trace)?
        };
        let response = {
            let _timed = self.metrics.time_stage(Stage::Upstream);
            self.upstream_stage(call, prepared, &built, trace).await?
        };
        let plugin = self.plugin_stage(prepared).await?;
        let responded = respond(&prepared.compiled, call.asked, plugin.ready, response).await;
        let times = responded.times;
        let plugin_time = times.plugin.map(|run| plugin.load + run);
        for (stage, took) in
            [(Stage::Mapping, times.mapping), (Stage::Plugin, plugin_time), (Stage::Reply, times.reply)]
        {
            if let Some(took) = took {
                self.metrics.record_stage(stage, took);
            }
        }
        trace.missing_variables = responded.missing_variables;
        trace.timings_ms.mapping = millis_of(times.mapping.unwrap_or_default());
        trace.timings_ms.plugin = millis_of(plugin_time.unwrap_or(plugin.load));
        trace.timings_ms.reply = millis_of(times.reply.unwrap_or_default());
        if let (Some(part), Some(stored)) = (responded.plugin, &prepared.plugin) {
            trace.plugin =
                Some(PluginTrace { version: stored.version, sha256: stored.sha256.clone(), logs: part.logs });
        }
        let answer = responded.result?;
        if call.detail == Detail::Trace {
            trace.variables = answer.variables;
        }
        Ok(answer.replies)
    }

    /// Renders the request; the trace keeps it with secrets redacted.
    fn request_stage(
        &self,
        call: &Call<'_>,
        prepared: &Prepared,
        secrets: &BTreeMap<String, String>,
        trace: &mut WebhookTrace,
    ) -> Result<BuiltRequest, TraceError> {
        let step = Instant::now();
        let vars = RequestVars { builtins: call.builtins(), secrets };
        let built = prepared
            .compiled
            .build_request(&vars)
            .map_err(|error| TraceError::new(Stage::Request, "request_render", error.to_string()))?;
        if call.detail == Detail::Trace {
            trace.request = Some(built.redacted().clone());
        }
        trace.timings_ms.request = millis(step);
        Ok(built)
    }

    /// Sends the request; an error status is a failure too, after the trace keeps the answer.
    async fn upstream_stage(
        &self,
        call: &Call<'_>,
        prepared: &Prepared,
        built: &BuiltRequest,
        trace: &mut WebhookTrace,
    ) -> Result<UpstreamResponse, TraceError> {
        let step = Instant::now();
        let timeout = built.timeout.min(self.limits.upstream_timeout_max);
        let response = self
            .outbound
            .send(OutboundRequest {
                method: built.method.clone(),
                url: built.url.clone(),
                headers: built.headers.clone(),
                // The webhook engine already put the body's Content-Type among the headers.
                body: built.body.clone().map(|body| (content_type(&built.headers), body)),
                timeout,
                retries: built.retries,
                max_body_bytes: prepared.compiled.limits().response_body_bytes.map(saturating_usize),
            })
            .await;
        trace.timings_ms.upstream = millis(step);
        self.metrics.record_upstream(response.as_ref().ok().map(|response| response.status), step.elapsed());
        let response =
            response.map_err(|error| TraceError::new(Stage::Upstream, error.code(), error.to_string()))?;
        if call.detail == Detail::Trace {
            trace.upstream = Some(upstream_trace(&response));
        }
        if response.status >= 400 {
            return Err(TraceError::new(
                Stage::Upstream,
                "upstream_status",
                format!("upstream answered HTTP {}", response.status),
            ));
        }
        Ok(response)
    }

    /// The webhook's plugin, if it has one, loaded and with the limits its calls get.
    async fn plugin_stage<'a>(&'a self, prepared: &'a Prepared) -> Result<LoadedStage<'a>, TraceError> {
        let Some(plugin) = &prepared.plugin else {
            return Ok(LoadedStage { ready: None, load: Duration::ZERO });
        };
        let step = Instant::now();
        let loaded = (self.loaded_plugin(plugin).await)
            .map_err(|error| TraceError::new(Stage::Plugin, error.code(), error.to_string()))?;
        let ready = ReadyPlugin {
            runtime: &self.runtime,
            loaded,
            limits: call_limits(&self.limits, prepared.compiled.limits()),
            config: prepared.compiled.plugin_config(),
        };
        Ok(LoadedStage { ready: Some(ready), load: step.elapsed() })
    }

    /// A stored webhook (or its plugin) that cannot run any more answers its failure text with
    /// a code saying why, rather than failing the whole chat: an operator lowering a limit must
    /// not turn a project's chats into 500s. Other errors (the store, a missing webhook) stay.
    async fn unusable(&self, error: PipelineError, call: &Call<'_>) -> Result<Failed, PipelineError> {
        let error = match error {
            PipelineError::InvalidWebhook { errors, .. } => {
                let over = errors.iter().all(FieldError::is_over_limit);
                let code = if over { "webhook_over_limit" } else { "webhook_invalid" };
                let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                TraceError::new(Stage::Webhook, code, message)
            }
            PipelineError::CorruptWebhook { cause, .. } => {
                TraceError::new(Stage::Webhook, "webhook_unreadable", cause.to_string())
            }
            PipelineError::PluginLoad { cause, .. } => TraceError::new(
                Stage::Plugin,
                "plugin_unavailable",
                format!("the stored plugin cannot be loaded ({}): {cause}", cause.code()),
            ),
            other => return Err(other),
        };
        Ok(Failed { error, text: self.failure_text(call).await, plugin_version: None })
    }

    /// The webhook's own failure text, from its failure template alone (which passes whatever
    /// else in the webhook no longer does), or the generic text when even that cannot render.
    async fn failure_text(&self, call: &Call<'_>) -> String {
        let record = self.store.get_webhook(call.asked.project, call.asked.webhook).await.ok().flatten();
        let spec = record.and_then(|record| serde_json::from_str::<WebhookSpec>(&record.spec).ok());
        match spec.as_ref().and_then(failure_template) {
            Some(failure) => render_failure(&failure, &call.builtins()),
            None => NO_FALLBACK_TEXT.to_string(),
        }
    }
}

fn upstream_trace(response: &UpstreamResponse) -> UpstreamTrace {
    let shown = &response.body[..response.body.len().min(TRACE_BODY_BYTES)];
    UpstreamTrace {
        status: response.status,
        headers: response.headers.clone(),
        body: String::from_utf8_lossy(shown).into_owned(),
        body_truncated: response.body.len() > TRACE_BODY_BYTES,
    }
}

fn content_type(headers: &[(http::HeaderName, http::HeaderValue)]) -> String {
    headers
        .iter()
        .find(|(name, _)| name == http::header::CONTENT_TYPE)
        .and_then(|(_, value)| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string()
}

fn millis(since: Instant) -> f64 {
    millis_of(since.elapsed())
}

fn millis_of(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The plugin ready to run, and the time its loading took (part of the plugin stage's time).
struct LoadedStage<'a> {
    ready: Option<ReadyPlugin<'a>>,
    load: Duration,
}
