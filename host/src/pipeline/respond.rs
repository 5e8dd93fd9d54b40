//! From an upstream response to replies: the webhook's declarative mapping, then its plugin's
//! `extract` (merged over the mapping's variables) and `format`, then the success template when
//! `format` answers none. The pipeline runs it after each upstream call, and `plugin run
//! --webhook` on a sample response, so an author's local run is the host's own code path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::model::{LogLine, PluginContext, Reply, UpstreamResponse, Variables};
use crate::plugin::{CallLimits, LoadedPlugin, PluginCall, PluginRuntime, PluginTimings};
use crate::webhook::{Builtins, CompiledWebhook, WebhookLimits};

use super::stage::Stage;
use super::trace::TraceError;

/// Who asked what: the built-ins every template may use, and the plugin's context.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub project: &'a str,
    pub webhook: &'a str,
    pub latest_message: &'a str,
    pub send_id: &'a str,
}

impl<'a> Asked<'a> {
    pub fn builtins(&self) -> Builtins<'a> {
        Builtins { latest_message: self.latest_message, send_id: self.send_id, project: self.project }
    }
}

/// A webhook's plugin, loaded, with the limits and configuration its calls get.
pub struct ReadyPlugin<'a> {
    pub runtime: &'a PluginRuntime,
    pub loaded: Arc<LoadedPlugin>,
    pub limits: CallLimits,
    /// `plugin_config` as JSON text.
    pub config: &'a str,
}

/// What the plugin's call left behind, whether it answered or failed.
#[derive(Debug, Default)]
pub struct PluginPart {
    pub logs: Vec<LogLine>,
    pub timings: PluginTimings,
}

/// Wall time of each stage; `None` for one that did not run.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub mapping: Option<Duration>,
    pub plugin: Option<Duration>,
    pub reply: Option<Duration>,
}

/// The replies and the variables they were made from.
#[derive(Debug)]
pub struct Answer {
    pub variables: Variables,
    pub replies: Vec<Reply>,
    /// The plugin's `format` gave the replies (rather than the success template).
    pub from_plugin: bool,
}

/// Everything `respond` did: a failed stage still leaves what ran before it.
#[derive(Debug)]
pub struct Responded {
    /// Variables the mapping looked for and did not find.
    pub missing_variables: Vec<String>,
    /// `None` without a plugin.
    pub plugin: Option<PluginPart>,
    pub times: StageTimes,
    pub result: Result<Answer, TraceError>,
}

/// Runs the mapping, the plugin (if any) and the reply on one upstream response.
pub async fn respond(
    webhook: &CompiledWebhook,
    asked: Asked<'_>,
    plugin: Option<ReadyPlugin<'_>>,
    response: UpstreamResponse,
) -> Responded {
    let mut missing_variables = Vec::new();
    let mut part = None;
    let mut times = StageTimes::default();
    let result = async {
        let step = Instant::now();
        let mapped = webhook.extract(&response.body);
        times.mapping = Some(step.elapsed());
        let variables = match mapped {
            Ok(mapped) => {
                missing_variables = mapped.missing;
                mapped.variables
            }
            // A plugin may read bodies the declarative mapping cannot, so only fail without one.
            Err(error) if plugin.is_none() => {
                return Err(TraceError::new(Stage::Mapping, "unreadable_body", error.to_string()));
            }
            Err(_) => Variables::new(),
        };
        let (variables, replies) = match plugin {
            None => (variables, None),
            Some(plugin) => {
                let step = Instant::now();
                let call = PluginCall {
                    response,
                    context: PluginContext {
                        project: asked.project.to_string(),
                        webhook: asked.webhook.to_string(),
                        send_id: asked.send_id.to_string(),
                        latest_message: asked.latest_message.to_string(),
                        plugin_config: plugin.config.to_string(),
                    },
                    variables,
                };
                let run = plugin.runtime.run(&plugin.loaded, call, &plugin.limits).await;
                times.plugin = Some(step.elapsed());
                part = Some(PluginPart { logs: run.logs, timings: run.timings });
                let output = run
                    .result
                    .map_err(|error| TraceError::new(Stage::Plugin, error.code(), error.to_string()))?;
                (output.variables, output.replies)
            }
        };
        let step = Instant::now();
        let answer = reply(webhook, asked, variables, replies);
        times.reply = Some(step.elapsed());
        answer
    }
    .await;
    Responded { missing_variables, plugin: part, times, result }
}

/// The plugin's replies, or the success template over the variables.
fn reply(
    webhook: &CompiledWebhook,
    asked: Asked<'_>,
    variables: Variables,
    replies: Option<Vec<Reply>>,
) -> Result<Answer, TraceError> {
    if let Some(replies) = replies {
        return Ok(Answer { variables, replies, from_plugin: true });
    }
    let text = webhook
        .render_success(&variables, &asked.builtins())
        .map_err(|error| TraceError::new(Stage::Reply, "missing_variable", error.to_string()))?;
    // An empty bubble is no answer: the user gets the failure text instead.
    if text.trim().is_empty() {
        return Err(TraceError::new(
            Stage::Reply,
            "empty_reply",
            "the success template rendered to blank text",
        ));
    }
    Ok(Answer { variables, replies: vec![Reply::text(text)], from_plugin: false })
}

/// The operator's plugin limits, lowered where the webhook asks (validation kept them at most
/// the operator's; `min` keeps that true even if the operator lowered a limit since).
pub fn call_limits(operator: &Limits, webhook: &WebhookLimits) -> CallLimits {
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

pub(super) fn saturating_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}
