//! The webhook engine: definition, validation, templates, request building and response mapping.
//!
//! Pure logic, no I/O: the API validates a `WebhookSpec` when it is saved, the pipeline compiles it
//! once (`CompiledWebhook`) and, for each fallback, builds the request, maps the response and renders
//! the reply. The `outbound` client sends what `build_request` produced.

mod builtins;
mod field_path;
mod mapping;
mod request;
mod spec;
mod template;
mod validate;

use std::time::Duration;

use http::header::HeaderName;

pub use builtins::{BUILTIN_NAMES, Builtins};
pub use mapping::{CompiledExtract, ExtractError, ExtractOutcome};
pub use request::{BuildError, BuiltRequest, RedactedRequest, RequestVars};
pub use spec::{BodySpec, DEFAULT_FAILURE, DEFAULT_SUCCESS, ResponseSpec, WebhookLimits, WebhookSpec};
pub use template::{Encoding, RenderError, Template, TemplateError};
pub use validate::{FieldError, MAX_RETRIES, METHODS, ValidationLimits, failure_template, validate};

use crate::model::Variables;
use request::CompiledBody;

/// A validated webhook with every template and JSONPath parsed, so a request does no parsing.
/// Build one per saved webhook (or per cache entry) and share it.
#[derive(Debug, Clone)]
pub struct CompiledWebhook {
    method: http::Method,
    url: Template,
    headers: Vec<(HeaderName, Template)>,
    body: Option<CompiledBody>,
    timeout: Duration,
    retries: u32,
    extract: CompiledExtract,
    success: Template,
    failure: Template,
    plugin_config: String,
    limits: WebhookLimits,
}

impl CompiledWebhook {
    /// Validates and compiles in one pass: `Err` holds every problem, each naming its field.
    pub fn compile(spec: &WebhookSpec, limits: &ValidationLimits) -> Result<Self, Vec<FieldError>> {
        validate::compile(spec, limits)
    }

    pub fn build_request(&self, vars: &RequestVars<'_>) -> Result<BuiltRequest, BuildError> {
        request::build_request(self, vars)
    }

    /// The declarative mapping (`response.extract`) applied to the upstream's body.
    pub fn extract(&self, body: &[u8]) -> Result<ExtractOutcome, ExtractError> {
        self.extract.apply(body)
    }

    /// The success reply from the merged variables (extracted, then plugin's) and the built-ins.
    pub fn render_success(&self, vars: &Variables, builtins: &Builtins<'_>) -> Result<String, RenderError> {
        mapping::render_success(&self.success, vars, builtins)
    }

    /// The failure reply; it only uses built-ins, so it always renders.
    pub fn render_failure(&self, builtins: &Builtins<'_>) -> String {
        mapping::render_failure(&self.failure, builtins)
    }

    /// The effective upstream timeout: the webhook's own, or the operator's default.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// This webhook's own ceilings, already checked against the operator's.
    pub fn limits(&self) -> &WebhookLimits {
        &self.limits
    }

    /// `plugin_config` as JSON text, as `PluginContext` carries it.
    pub fn plugin_config(&self) -> &str {
        &self.plugin_config
    }

    pub fn has_extract(&self) -> bool {
        !self.extract.is_empty()
    }
}

/// Renders a failure template over the built-ins; falls back to the default failure text.
pub fn render_failure(failure: &Template, builtins: &Builtins<'_>) -> String {
    mapping::render_failure(failure, builtins)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn one_fallback_from_definition_to_reply() {
        let mut value = spec::design_example();
        value["response"]["extract"]["mood"] = serde_json::json!("$.meta.mood");
        value["response"]["failure"] =
            serde_json::json!("Sorry, I can't answer \"{latest_message}\" right now.");
        value["plugin_config"] = serde_json::json!({"tone": "warm"});
        let spec: WebhookSpec = serde_json::from_value(value).unwrap();
        let webhook = CompiledWebhook::compile(&spec, &ValidationLimits::default()).unwrap();
        assert!(webhook.has_extract());
        assert_eq!(webhook.plugin_config(), r#"{"tone":"warm"}"#);

        let builtins = Builtins { latest_message: "what's 2+2?", send_id: "s-1", project: "demo" };
        let secrets = BTreeMap::from([("upstream_key".to_owned(), "k".to_owned())]);
        let req = webhook.build_request(&RequestVars { builtins, secrets: &secrets }).unwrap();
        assert_eq!(req.url, "http://localhost:8081/chat?input=what%27s%202%2B2%3F&chatId=s-1");

        let outcome = webhook.extract(br#"{"message": "4", "meta": {}}"#).unwrap();
        assert_eq!(outcome.missing, ["mood"]);
        assert_eq!(webhook.render_success(&outcome.variables, &builtins).unwrap(), "4");
        assert_eq!(webhook.render_failure(&builtins), "Sorry, I can't answer \"what's 2+2?\" right now.");

        let empty = webhook.extract(br#"{"error": "down"}"#).unwrap();
        assert_eq!(
            webhook.render_success(&empty.variables, &builtins),
            Err(RenderError::Missing("reply".into()))
        );
    }
}
