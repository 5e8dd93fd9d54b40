//! The webhook definition as bot builders write it and the API returns it (DESIGN.md "A webhook").
//!
//! This is the stored, user-facing shape: fields stay as written (strings, JSON) so a GET returns what
//! was PUT and so `validate` can name the exact field that is wrong. `CompiledWebhook` is the checked,
//! parsed form the pipeline runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The failure text when the bot builder gives none.
pub const DEFAULT_FAILURE: &str = "Sorry, I can't answer that right now.";
/// The success template when the bot builder gives none: the convention is to extract `reply`.
pub const DEFAULT_SUCCESS: &str = "{reply}";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// One of `GET`, `POST`, `PUT`, `PATCH`, `DELETE` (uppercase).
    #[serde(default = "default_method")]
    pub method: String,
    /// A template; scheme and host must be literal text.
    pub url: String,
    /// Header name -> value template.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// `None` means the operator's default timeout, so changing that default reaches every webhook
    /// that did not choose its own. Omitted from the JSON when unset, as it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub response: ResponseSpec,
    /// Handed to the webhook's plugin as JSON text; an object.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub plugin_config: serde_json::Value,
    /// Tighter ceilings than the operator's for this webhook alone.
    #[serde(default, skip_serializing_if = "WebhookLimits::is_empty")]
    pub limits: WebhookLimits,
}

/// A webhook may lower the operator's limits, never raise them: a bot builder who knows their
/// plugin needs 5 ms and 2 MiB can make a runaway fail fast. An absent key keeps the operator's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLimits {
    /// Wall time per plugin hook call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_timeout_ms: Option<u64>,
    /// Fuel per plugin hook call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_fuel: Option<u64>,
    /// Linear memory of the plugin instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_memory_bytes: Option<u64>,
    /// Variables or replies a plugin hook may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output_bytes: Option<u64>,
    /// Log lines a plugin call may write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_log_bytes: Option<u64>,
    /// Upstream response body read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_bytes: Option<u64>,
    /// Variables the plugin's `extract` may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_max_variables: Option<u64>,
    /// Replies the plugin's `format` may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_max_replies: Option<u64>,
    /// Buttons on one of the plugin's replies (0: text only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_max_buttons: Option<u64>,
    /// Log lines one plugin call may write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_max_log_lines: Option<u64>,
}

impl WebhookLimits {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// `{"type": "json"|"text"|"form", "content": …}`. `type` stays a string so an unknown type is a
/// validation error naming `body.type` rather than a parse error with a line and column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    #[serde(rename = "type")]
    pub kind: String,
    /// json: any JSON value whose string leaves are templates (object keys are literal);
    /// text: a template string; form: an object of template strings.
    pub content: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// Variable name -> JSONPath (RFC 9535) into the upstream's JSON body.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// Extra variable names the webhook's plugin provides, so `success` may name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
    /// The reply template over built-ins, extracted and plugin variables (never secrets).
    #[serde(default = "default_success")]
    pub success: String,
    /// The reply when the call or the processing fails: a template over built-ins only, since
    /// nothing extracted can be relied on when it is shown (plain text needs no escaping beyond braces).
    #[serde(default = "default_failure")]
    pub failure: String,
}

impl Default for ResponseSpec {
    fn default() -> Self {
        Self {
            extract: BTreeMap::new(),
            variables: Vec::new(),
            success: default_success(),
            failure: default_failure(),
        }
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_success() -> String {
    DEFAULT_SUCCESS.to_owned()
}

fn default_failure() -> String {
    DEFAULT_FAILURE.to_owned()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// DESIGN.md's example webhook: the fixture the webhook tests start from.
#[cfg(test)]
pub(crate) fn design_example() -> serde_json::Value {
    serde_json::json!({
        "method": "GET",
        "url": "http://localhost:8081/chat?input={latest_message}&chatId={send_id}",
        "headers": {"Authorization": "Bearer {secret.upstream_key}"},
        "body": null,
        "timeout_ms": 5000,
        "retries": 0,
        "response": {
            "extract": {"reply": "$.message"},
            "success": "{reply}",
            "failure": "Sorry, I can't answer that right now."
        },
        "plugin_config": {}
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_design_example_round_trips_unchanged() {
        let example = design_example();
        let spec: WebhookSpec = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap(), example);
    }

    #[test]
    fn omitted_fields_take_documented_defaults() {
        let spec: WebhookSpec = serde_json::from_value(json!({"url": "https://api.example.com/x"})).unwrap();
        assert_eq!(spec.method, "GET");
        assert!(spec.headers.is_empty());
        assert_eq!(spec.body, None);
        assert_eq!(spec.timeout_ms, None);
        assert_eq!(spec.retries, 0);
        assert_eq!(spec.response, ResponseSpec::default());
        assert_eq!(spec.response.success, "{reply}");
        assert_eq!(spec.response.failure, DEFAULT_FAILURE);
        assert_eq!(spec.plugin_config, json!({}));
        let back = serde_json::to_value(&spec).unwrap();
        assert!(back.get("timeout_ms").is_none());
        assert!(back["response"].get("variables").is_none());
    }

    #[test]
    fn a_body_and_plugin_variables_round_trip() {
        let value = json!({
            "method": "POST", "url": "https://a.example/x", "headers": {}, "retries": 1,
            "body": {"type": "json", "content": {"q": "{latest_message}", "n": [1, true, null]}},
            "response": {"extract": {}, "variables": ["card"], "success": "{card}", "failure": "no"},
            "plugin_config": {"lang": "fr"}
        });
        let spec: WebhookSpec = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap(), value);
    }

    #[test]
    fn unknown_fields_are_rejected_at_every_level() {
        for bad in [
            json!({"url": "http://a/", "urll": "x"}),
            json!({"url": "http://a/", "response": {"sucess": "{reply}"}}),
            json!({"url": "http://a/", "body": {"type": "text", "content": "x", "charset": "utf-8"}}),
        ] {
            let err = serde_json::from_value::<WebhookSpec>(bad).unwrap_err().to_string();
            assert!(err.contains("unknown field"), "{err}");
        }
        assert!(serde_json::from_value::<WebhookSpec>(json!({"method": "GET"})).is_err(), "url is required");
    }
}
