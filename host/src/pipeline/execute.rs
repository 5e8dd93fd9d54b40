//! One webhook execution: render the request, send it, map the response, run the plugin, build
//! the replies. Every failure becomes the webhook's failure text plus a trace that says why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Limits;

use crate::model::{PluginContext, Reply, UpstreamResponse, Variables};
use crate::outbound::OutboundRequest;
use crate::plugin::{CallLimits, PluginCall};
use crate::webhook::{
    BuiltRequest, Builtins, FieldError, RequestVars, WebhookLimits, WebhookSpec, failure_template,
    render_failure,
};

use super::host_log;
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

/// Where the user's words and the conversation are, for templates and plugins alike.
struct Call<'a> {
    project: &'a str,
    webhook: &'a str,
    latest_message: &'a str,
    send_id: &'a str,
    detail: Detail,
}

impl<'a> Call<'a> {
    /// The built-in variables every template may use.
    fn builtins(&self) -> Builtins<'a> {
        Builtins { latest_message: self.latest_message, send_id: self.send_id, project: self.project }
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
        let call = Call { project, webhook, latest_message, send_id, detail };
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
            .try_acquire(call.project)
            .map_err(|full| TraceError::new(Stage::Admission, BUSY, format!("webhook executions: {full}")))?;
        // A project whose plugin slots are all taken would only wait for the upstream to be
        // refused afterwards: refuse it now, before spending an upstream call on it.
        if prepared.plugin.is_some() && !self.runtime.has_share(call.project) {
            let busy = crate::plugin::PluginError::Busy;
            return Err(TraceError::new(Stage::Plugin, busy.code(), busy.to_string()));
        }
        // Each stage's time goes to the metrics when its timer drops, however the stage ends.
        let timer = |stage| self.metrics.time_stage(stage);
        let built = {
            let _timed = timer(Stage::Request);
            self.request_stage(call, prepared, secrets, trace)?
        };
        let response = {
            let _timed = timer(Stage::Upstream);
            self.upstream_stage(call, prepared, &built, trace).await?
        };
        let variables = {
            let _timed = timer(Stage::Mapping);
            mapping_stage(prepared, &response, trace)?
        };
        let (variables, replies) = {
            let _timed = prepared.plugin.is_some().then(|| timer(Stage::Plugin));
            self.plugin_stage(call, prepared, response, variables, trace).await?
        };
        if call.detail == Detail::Trace {
            trace.variables = variables.clone();
        }
        let _timed = timer(Stage::Reply);
        reply_stage(call, prepared, &variables, replies, trace)
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

    /// The webhook's plugin, if it has one: its variables over the mapping's, and its replies.
    async fn plugin_stage(
        &self,
        call: &Call<'_>,
        prepared: &Prepared,
        response: UpstreamResponse,
        variables: Variables,
        trace: &mut WebhookTrace,
    ) -> Result<(Variables, Option<Vec<Reply>>), TraceError> {
        let Some(plugin) = &prepared.plugin else {
            return Ok((variables, None));
        };
        let step = Instant::now();
        let plugin_call = PluginCall {
            response,
            context: PluginContext {
                project: call.project.to_string(),
                webhook: call.webhook.to_string(),
                send_id: call.send_id.to_string(),
                latest_message: call.latest_message.to_string(),
                plugin_config: prepared.compiled.plugin_config().to_string(),
            },
            variables,
        };
        let limits = call_limits(&self.limits, prepared.compiled.limits());
        let loaded = (self.loaded_plugin(plugin).await)
            .map_err(|error| TraceError::new(Stage::Plugin, error.code(), error.to_string()))?;
        let run = self.runtime.run(&loaded, plugin_call, &limits).await;
        trace.timings_ms.plugin = millis(step);
        trace.plugin =
            Some(PluginTrace { version: plugin.version, sha256: plugin.sha256.clone(), logs: run.logs });
        let output =
            run.result.map_err(|error| TraceError::new(Stage::Plugin, error.code(), error.to_string()))?;
        Ok((output.variables, output.replies))
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
        let record = self.store.get_webhook(call.project, call.webhook).await.ok().flatten();
        let spec = record.and_then(|record| serde_json::from_str::<WebhookSpec>(&record.spec).ok());
        match spec.as_ref().and_then(failure_template) {
            Some(failure) => render_failure(&failure, &call.builtins()),
            None => NO_FALLBACK_TEXT.to_string(),
        }
    }
}

/// The declarative mapping of the upstream's body into variables.
fn mapping_stage(
    prepared: &Prepared,
    response: &UpstreamResponse,
    trace: &mut WebhookTrace,
) -> Result<Variables, TraceError> {
    let step = Instant::now();
    let mapped = prepared.compiled.extract(&response.body);
    trace.timings_ms.mapping = millis(step);
    match mapped {
        Ok(mapped) => {
            trace.missing_variables = mapped.missing;
            Ok(mapped.variables)
        }
        // A plugin may read bodies the declarative mapping cannot, so only fail without one.
        Err(error) if prepared.plugin.is_none() => {
            Err(TraceError::new(Stage::Mapping, "unreadable_body", error.to_string()))
        }
        Err(_) => Ok(Variables::new()),
    }
}

/// The plugin's replies, or the success template over the variables.
fn reply_stage(
    call: &Call<'_>,
    prepared: &Prepared,
    variables: &Variables,
    replies: Option<Vec<Reply>>,
    trace: &mut WebhookTrace,
) -> Result<Vec<Reply>, TraceError> {
    let step = Instant::now();
    let replies = match replies {
        Some(replies) => replies,
        None => {
            let text = prepared
                .compiled
                .render_success(variables, &call.builtins())
                .map_err(|error| TraceError::new(Stage::Reply, "missing_variable", error.to_string()))?;
            // An empty bubble is no answer: the user gets the failure text instead.
            if text.trim().is_empty() {
                return Err(TraceError::new(
                    Stage::Reply,
                    "empty_reply",
                    "the success template rendered to blank text",
                ));
            }
            vec![Reply::text(text)]
        }
    };
    trace.timings_ms.reply = millis(step);
    Ok(replies)
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

/// The operator's plugin limits, lowered where the webhook asks (validation kept them at most
/// the operator's; `min` keeps that true even if the operator lowered a limit since).
fn call_limits(operator: &Limits, webhook: &WebhookLimits) -> CallLimits {
    let mut limits = CallLimits::from_config(operator);
    if let Some(ms) = webhook.plugin_timeout_ms {
        limits.timeout = limits.timeout.min(Duration::from_millis(ms));
    }
    if let Some(fuel) = webhook.plugin_fuel {
        limits.fuel = limits.fuel.min(fuel);
    }
    let lower = |current: &mut usize, wanted: Option<u64>| {
        if let Some(wanted) = wanted {
            *current = (*current).min(saturating_usize(wanted));
        }
    };
    lower(&mut limits.memory_bytes, webhook.plugin_memory_bytes);
    lower(&mut limits.output_bytes, webhook.plugin_output_bytes);
    lower(&mut limits.log_bytes, webhook.plugin_log_bytes);
    lower(&mut limits.max_variables, webhook.plugin_max_variables);
    lower(&mut limits.max_replies, webhook.plugin_max_replies);
    lower(&mut limits.max_buttons, webhook.plugin_max_buttons);
    lower(&mut limits.max_log_lines, webhook.plugin_max_log_lines);
    limits
}

fn saturating_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
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
    since.elapsed().as_secs_f64() * 1000.0
}
