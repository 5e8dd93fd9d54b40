//! Domain values shared by the pipeline, the webhook engine, the plugin runtime and the API.
//!
//! None of these carry HTTP or wasmtime types, so every layer can use them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Variables by name, as templates see them. Ordered so traces and tests are stable.
pub type Variables = BTreeMap<String, String>;

/// A quick-reply button: `label` is shown, `payload` comes back as the user's next message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Button {
    pub label: String,
    pub payload: String,
}

/// One message of the bot's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"text": "We open at 9 am.", "buttons": [{"label": "Thanks!", "payload": "thanks"}]}))]
pub struct Reply {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), buttons: Vec::new() }
    }
}

/// The upstream's answer as the host read it (body already capped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamResponse {
    pub status: u16,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

/// What a plugin is told about the call. Never holds secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginContext {
    pub project: String,
    pub webhook: String,
    pub send_id: String,
    pub latest_message: String,
    /// The webhook's `plugin_config`, as JSON text (`{}` when unset).
    pub plugin_config: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One line a plugin logged (or wrote to stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// Ids of projects, intents, webhooks, secrets and conversations: `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_documented_pattern() {
        assert!(is_valid_id("a"));
        assert!(is_valid_id("demo-bot_2"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("-a"));
        assert!(!is_valid_id("_a"));
        assert!(!is_valid_id("Abc"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a/b"));
    }
}
