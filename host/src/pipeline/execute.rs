//! One webhook execution: render the request, send it, map the response, run the plugin, build
//! the replies. Every failure becomes the webhook's failure text plus a trace that says why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Limits;

use crate::model::{PluginContext, Reply, UpstreamResponse, Variables};
use crate::outbound::OutboundRequest;
use crate::plugin::{CallLimits, PluginCall};
use crate::webhook::{Builtins, RequestVars, WebhookLimits};

use super::cache::Prepared;
use super::host_log;
use super::trace::{
    Outcome, PluginTrace, TRACE_BODY_BYTES, Timings, TraceError, UpstreamTrace, WebhookTrace,
};
use super::{Pipeline, PipelineError};

/// Where the user's words and the conversation are, for templates and plugins alike.
struct Call<'a> {
    project: &'a str,
    webhook: &'a str,
    latest_message: &'a str,
    send_id: &'a str,
}

impl<'a> Call<'a> {
    /// The built-in variables every template may use.
    fn builtins(&self) -> Builtins<'a> {
        Builtins { latest_message: self.latest_message, send_id: self.send_id, project: self.project }
    }
}

impl Pipeline {
    pub(super) async fn execute(
        &self,
        project: &str,
        webhook: &str,
        latest_message: &str,
        send_id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<WebhookTrace, PipelineError> {
        let started = Instant::now();
        let prepared = self.prepared(project, webhook).await?;
        let call = Call { project, webhook, latest_message, send_id };
        let mut trace = WebhookTrace {
            webhook: webhook.to_string(),
            request: None,
            upstream: None,
            variables: Variables::new(),
            missing_variables: Vec::new(),
            plugin: None,
            replies: Vec::new(),
            outcome: Outcome::Failure,
            error: None,
            timings_ms: Timings::default(),
            clipped: Vec::new(),
        };

        let result = self.run_steps(&call, &prepared, secrets, &mut trace).await;
        if let Some(plugin) = &trace.plugin {
            host_log::plugin_lines(project, webhook, plugin, secrets);
        }
        match result {
            Ok(replies) => {
                trace.replies = replies;
                trace.outcome = Outcome::Success;
            }
            Err(error) => {
                let version = prepared.plugin.as_ref().map(|plugin| plugin.version);
                host_log::failure(project, webhook, version, &error, secrets);
                let text = prepared.compiled.render_failure(&call.builtins());
                trace.replies = vec![Reply::text(text)];
                trace.outcome = Outcome::Failure;
                trace.error = Some(error);
            }
        }
        trace.timings_ms.total = millis(started);
        Ok(trace)
    }

    async fn run_steps(
        &self,
        call: &Call<'_>,
        prepared: &Prepared,
        secrets: &BTreeMap<String, String>,
        trace: &mut WebhookTrace,
    ) -> Result<Vec<Reply>, TraceError> {
        let step = Instant::now();
        let vars = RequestVars { builtins: call.builtins(), secrets };
        let built = prepared
            .compiled
            .build_request(&vars)
            .map_err(|error| fail("request", "request_render", error.to_string()))?;
        trace.request = Some(built.redacted().clone());
        trace.timings_ms.request = millis(step);

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
        let response = response.map_err(|error| fail("upstream", error.code(), error.to_string()))?;
        trace.upstream = Some(upstream_trace(&response));
        if response.status >= 400 {
            return Err(fail(
                "upstream",
                "upstream_status",
                format!("upstream answered HTTP {}", response.status),
            ));
        }

        let step = Instant::now();
        let mapped = prepared.compiled.extract(&response.body);
        trace.timings_ms.mapping = millis(step);
        let mut variables = match mapped {
            Ok(mapped) => {
                trace.missing_variables = mapped.missing;
                mapped.variables
            }
            // A plugin may read bodies the declarative mapping cannot, so only fail without one.
            Err(error) if prepared.plugin.is_none() => {
                return Err(fail("mapping", "unreadable_body", error.to_string()));
            }
            Err(_) => Variables::new(),
        };

        let mut replies = None;
        if let Some(plugin) = &prepared.plugin {
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
                variables: variables.clone(),
            };
            let limits = call_limits(&self.limits, prepared.compiled.limits());
            let run = self.runtime.run(&plugin.loaded, plugin_call, &limits).await;
            trace.timings_ms.plugin = millis(step);
            trace.plugin = Some(PluginTrace {
                version: plugin.version,
                sha256: plugin.loaded.sha256_hex(),
                logs: run.logs,
            });
            let output = run.result.map_err(|error| fail("plugin", error.code(), error.to_string()))?;
            variables = output.variables;
            replies = output.replies;
        }
        trace.variables = variables.clone();

        let step = Instant::now();
        let replies = match replies {
            Some(replies) => replies,
            None => {
                let text = prepared
                    .compiled
                    .render_success(&variables, &call.builtins())
                    .map_err(|error| fail("reply", "missing_variable", error.to_string()))?;
                // An empty bubble is no answer: the user gets the failure text instead.
                if text.trim().is_empty() {
                    return Err(fail(
                        "reply",
                        "empty_reply",
                        "the success template rendered to blank text".into(),
                    ));
                }
                vec![Reply::text(text)]
            }
        };
        trace.timings_ms.reply = millis(step);
        Ok(replies)
    }
}

fn fail(stage: &'static str, code: impl Into<String>, message: String) -> TraceError {
    TraceError { stage, code: code.into(), message }
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
