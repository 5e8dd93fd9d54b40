//! llm-answer: an OpenAI-compatible chat-completions response into `reply` (the first choice's
//! message content, trimmed).

#![cfg_attr(test, allow(clippy::unwrap_used))]

use guest_sdk::serde::Deserialize;
use guest_sdk::serde_json::Value;
use guest_sdk::{Context, Plugin, PluginError, Response, Variables, export_plugin};

/// The parts of a chat completion (or of an error answer) this plugin reads; everything else
/// (usage, ids, tool calls) is ignored.
#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde")]
pub struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde")]
struct Choice {
    message: Option<Message>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde")]
struct Message {
    content: Option<String>,
}

/// The answer text, or why there is none.
pub fn answer(completion: &Completion) -> Result<String, PluginError> {
    if let Some(error) = &completion.error {
        return Err(PluginError::new(format!("upstream error: {}", upstream_message(error))));
    }
    let choice =
        completion.choices.first().ok_or_else(|| PluginError::new("the completion has no choices"))?;
    let content = choice
        .message
        .as_ref()
        .and_then(|message| message.content.as_deref())
        .ok_or_else(|| PluginError::new("the first choice has no message content"))?
        .trim();
    if content.is_empty() {
        return Err(PluginError::new("the first choice's message content is empty"));
    }
    Ok(content.to_string())
}

/// OpenAI-style `{"error": {"message": ..}}`, but some compatible servers send a bare string.
fn upstream_message(error: &Value) -> String {
    match error {
        Value::String(message) => message.clone(),
        other => match other.get("message").and_then(Value::as_str) {
            Some(message) => message.to_string(),
            None => other.to_string(),
        },
    }
}

pub struct LlmAnswer;

impl Plugin for LlmAnswer {
    fn extract(response: &Response, _ctx: &Context) -> Result<Variables, PluginError> {
        let completion: Completion = response.json()?;
        Ok(Variables::new().with("reply", answer(&completion)?))
    }
}

export_plugin!(LlmAnswer);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: u16, body: &str) -> Result<Variables, PluginError> {
        LlmAnswer::extract(&Response::new(status, body), &Context::default())
    }

    #[test]
    fn the_first_choice_is_the_reply_trimmed() {
        let body = r#"{"id":"c1","object":"chat.completion","choices":[
            {"index":0,"message":{"role":"assistant","content":"  Paris.\n"},"finish_reason":"stop"},
            {"index":1,"message":{"role":"assistant","content":"Lyon"}}],
            "usage":{"total_tokens":9}}"#;
        let vars = run(200, body).unwrap();
        assert_eq!(vars.iter().collect::<Vec<_>>(), vec![("reply", "Paris.")]);
    }

    #[test]
    fn an_upstream_error_carries_its_message() {
        let body = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit"}}"#;
        let err = run(429, body).unwrap_err();
        assert_eq!(err.message(), "upstream error: Rate limit reached");
        let err = run(500, r#"{"error":"model not loaded"}"#).unwrap_err();
        assert_eq!(err.message(), "upstream error: model not loaded");
    }

    #[test]
    fn no_choices_or_no_content_say_so() {
        assert!(run(200, r#"{"choices":[]}"#).unwrap_err().message().contains("no choices"));
        assert!(run(200, r#"{}"#).unwrap_err().message().contains("no choices"));
        let tool_call = r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[]}}]}"#;
        assert!(run(200, tool_call).unwrap_err().message().contains("no message content"));
        let blank = r#"{"choices":[{"message":{"content":"  \n"}}]}"#;
        assert!(run(200, blank).unwrap_err().message().contains("empty"));
    }

    #[test]
    fn a_non_json_body_says_so() {
        assert!(run(502, "Bad Gateway").unwrap_err().message().contains("not JSON"));
    }
}
