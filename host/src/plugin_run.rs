//! `fallback-host plugin run --webhook FILE`: a plugin on a sample response through the webhook it
//! serves, by the pipeline's own `respond` (mapping, extract, format, success template), with
//! the webhook validated as the API validates it and its `plugin_config` and limits applied.

use std::path::Path;

use crate::config::Limits;
use crate::pipeline::{Asked, ReadyPlugin, call_limits, respond};
use crate::plugin_cmd::{
    CommandError, Failure, Sample, current_thread, load, read, write_logs, write_replies, write_timings,
    write_variables,
};
use crate::webhook::{CompiledWebhook, ValidationLimits, WebhookSpec};

/// Stands for the project, webhook and conversation a local run has none of.
const LOCAL: &str = "cli";

pub(crate) fn run(
    file: &Path,
    webhook: &Path,
    sample: &Sample,
    config: Option<String>,
) -> Result<String, Failure> {
    let fail = |e| (String::new(), e);
    let compiled = compile(webhook).map_err(fail)?;
    let config = match config {
        Some(config) => {
            serde_json::from_str::<serde_json::Value>(&config).map_err(|e| fail(CommandError::Config(e)))?;
            config
        }
        None => compiled.plugin_config().to_owned(),
    };
    let response = sample.upstream().map_err(fail)?;
    let (runtime, loaded) = load(file).map_err(fail)?;
    // The operator's defaults, lowered by the webhook's own limits, as a default host runs it.
    let operator = Limits::default();
    let plugin = ReadyPlugin {
        runtime: &runtime,
        loaded,
        limits: call_limits(&operator, compiled.limits()),
        config: &config,
    };
    let asked = Asked { project: LOCAL, webhook: LOCAL, latest_message: &sample.message, send_id: LOCAL };
    let tokio = current_thread().map_err(fail)?;
    let responded = tokio.block_on(respond(&compiled, asked, Some(plugin), response));

    let mut report = String::new();
    if !responded.missing_variables.is_empty() {
        report.push_str(&format!(
            "mapping: not found in the response: {}\n",
            responded.missing_variables.join(", ")
        ));
    }
    let part = responded.plugin.unwrap_or_default();
    match responded.result {
        Ok(answer) => {
            write_variables(&mut report, &answer.variables);
            let heading =
                if answer.from_plugin { "replies:" } else { "replies (the webhook's success template):" };
            write_replies(&mut report, heading, &answer.replies);
            write_logs(&mut report, &part.logs);
            write_timings(&mut report, &part.timings);
            Ok(report)
        }
        Err(error) => {
            write_logs(&mut report, &part.logs);
            write_timings(&mut report, &part.timings);
            let failure = compiled.render_failure(&asked.builtins());
            let error = CommandError::Webhook {
                stage: error.stage,
                code: error.code,
                message: error.message,
                failure,
            };
            Err((report, error))
        }
    }
}

/// The webhook file, read, parsed and validated exactly as `PUT …/webhooks/{w}` does under the
/// operator's default limits.
fn compile(path: &Path) -> Result<CompiledWebhook, CommandError> {
    let text = read(path)?;
    let spec: WebhookSpec = serde_json::from_slice(&text)
        .map_err(|source| CommandError::WebhookJson { path: path.to_owned(), source })?;
    CompiledWebhook::compile(&spec, &ValidationLimits::from(&Limits::default()))
        .map_err(|errors| CommandError::InvalidWebhook { path: path.to_owned(), errors })
}
