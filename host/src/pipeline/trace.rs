//! What one webhook execution did, step by step: the test console's answer and the source of the
//! chat's replies.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::stage::Stage;
use crate::model::{LogLine, Reply, Variables};
use crate::webhook::RedactedRequest;

/// How a message was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Matched,
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// The test console shows at most this much of the upstream body.
pub const TRACE_BODY_BYTES: usize = 16 * 1024;

/// The code of an execution refused past a concurrency bound, whichever bound it was.
pub(super) const BUSY: &str = "busy";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookTrace {
    pub webhook: String,
    /// The request as sent, secrets replaced by their `{secret.NAME}` placeholder.
    pub request: Option<RedactedRequest>,
    pub upstream: Option<UpstreamTrace>,
    pub variables: Variables,
    /// Variables the mapping looked for and did not find.
    pub missing_variables: Vec<String>,
    pub plugin: Option<PluginTrace>,
    pub replies: Vec<Reply>,
    pub outcome: Outcome,
    pub error: Option<TraceError>,
    pub timings_ms: Timings,
    /// The parts the test console cut to keep its answer small (see `console`); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clipped: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpstreamTrace {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginTrace {
    pub version: u32,
    pub sha256: String,
    pub logs: Vec<LogLine>,
}

/// Why an execution failed: the step, a stable code and a readable message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TraceError {
    pub stage: Stage,
    pub code: String,
    pub message: String,
}

impl TraceError {
    pub fn new(stage: Stage, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { stage, code: code.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Timings {
    pub request: f64,
    pub upstream: f64,
    pub mapping: f64,
    pub plugin: f64,
    pub reply: f64,
    pub total: f64,
}

/// Replaces every secret value in a text by its `{secret.NAME}` placeholder.
pub struct Scrubber {
    values: Vec<(String, String)>,
}

impl Scrubber {
    pub fn new(secrets: &BTreeMap<String, String>) -> Self {
        let values = secrets
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (value.clone(), format!("{{secret.{name}}}")))
            .collect();
        Self { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn clean(&self, text: &mut String) {
        for (value, placeholder) in &self.values {
            if text.contains(value.as_str()) {
                *text = text.replace(value.as_str(), placeholder);
            }
        }
    }
}

/// Replaces every secret value in what the end user is shown: each reply's text and buttons.
pub fn scrub_replies(scrubber: &Scrubber, replies: &mut [Reply]) {
    for reply in replies {
        scrubber.clean(&mut reply.text);
        for button in &mut reply.buttons {
            scrubber.clean(&mut button.label);
            scrubber.clean(&mut button.payload);
        }
    }
}

impl WebhookTrace {
    /// A trace of nothing done yet: the failure outcome until a stage proves otherwise.
    pub fn new(webhook: &str) -> Self {
        Self {
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
        }
    }

    /// Replaces every secret value wherever upstream or a plugin may have echoed it, so the test
    /// console never shows one.
    pub fn scrub(&mut self, secrets: &BTreeMap<String, String>) {
        let scrubber = Scrubber::new(secrets);
        if scrubber.is_empty() {
            return;
        }
        let clean = |text: &mut String| scrubber.clean(text);
        // The redacted request already hides what the templates put in; this catches a secret
        // the user typed into their message.
        if let Some(request) = &mut self.request {
            clean(&mut request.url);
            for value in request.headers.values_mut() {
                clean(value);
            }
            if let Some(body) = &mut request.body {
                clean(body);
            }
        }
        if let Some(upstream) = &mut self.upstream {
            clean(&mut upstream.body);
            for (_, value) in &mut upstream.headers {
                clean(value);
            }
        }
        for value in self.variables.values_mut() {
            clean(value);
        }
        scrub_replies(&scrubber, &mut self.replies);
        if let Some(plugin) = &mut self.plugin {
            for line in &mut plugin.logs {
                clean(&mut line.message);
            }
        }
        if let Some(error) = &mut self.error {
            clean(&mut error.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Button;

    #[test]
    fn replies_are_scrubbed_in_their_text_and_buttons() {
        let secrets = BTreeMap::from([("api_key".to_string(), "s3cr3t".to_string())]);
        let mut replies = vec![Reply {
            text: "key s3cr3t".into(),
            buttons: vec![Button { label: "use s3cr3t".into(), payload: "s3cr3t!".into() }],
        }];
        scrub_replies(&Scrubber::new(&secrets), &mut replies);
        assert_eq!(replies[0].text, "key {secret.api_key}");
        assert_eq!(replies[0].buttons[0].label, "use {secret.api_key}");
        assert_eq!(replies[0].buttons[0].payload, "{secret.api_key}!");
    }
}
