//! {{name}}: a Fallback Host plugin. `extract` copies one field of the upstream's JSON answer into
//! `reply`; `format` answers it with a "Thanks!" button.

use guest_sdk::serde::Deserialize;
use guest_sdk::serde_json::Value;
use guest_sdk::{Context, Plugin, PluginError, Reply, Response, Variables, export_plugin, log};

/// The webhook's `plugin_config`, e.g. `{"field": "message"}`.
#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde", default)]
pub struct Config {
    pub field: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { field: "message".to_string() }
    }
}

/// The string at `field` of the upstream's answer.
pub fn answer(body: &Value, field: &str) -> Result<String, PluginError> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| PluginError::new(format!("no string field `{field}` in the response")))
}

/// One reply with a button; `None` lets the webhook's success template answer, so the plugin
/// still works when `reply` comes from nowhere.
pub fn replies(vars: &Variables) -> Option<Vec<Reply>> {
    let text = vars.get("reply")?;
    Some(vec![Reply::text(text).button("Thanks!", "thanks")])
}

pub struct Answer;

impl Plugin for Answer {
    fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
        let config: Config = ctx.config()?;
        let text = answer(&response.json_value()?, &config.field)?;
        log::info(format!("answering with `{}` ({} bytes)", config.field, text.len()));
        Ok(Variables::new().with("reply", text))
    }

    fn format(vars: &Variables, _ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
        Ok(replies(vars))
    }
}

export_plugin!(Answer);

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(body: &str, config: &str) -> Result<Variables, PluginError> {
        Answer::extract(&Response::new(200, body), &Context::default().with_config(config))
    }

    #[test]
    fn copies_the_field_into_reply() -> Result<(), PluginError> {
        let sample = include_str!("../sample-response.json");
        let vars = extract(sample, "{}")?;
        assert_eq!(vars.get("reply"), Some("Our store opens at 9am and closes at 6pm."));
        assert_eq!(extract(sample, r#"{"field":"id"}"#)?.get("reply"), Some("r-1842"));
        Ok(())
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = extract(r#"{"other":1}"#, "{}").err().map(|e| e.message().to_string());
        assert_eq!(err.as_deref(), Some("no string field `message` in the response"));
    }

    #[test]
    fn format_adds_a_button_or_defers_to_the_template() -> Result<(), PluginError> {
        let replies = Answer::format(&Variables::new().with("reply", "hi"), &Context::default())?;
        let reply = replies.as_deref().and_then(<[Reply]>::first).map(|r| (r.text.as_str(), r.buttons.len()));
        assert_eq!(reply, Some(("hi", 1)));
        assert!(Answer::format(&Variables::new(), &Context::default())?.is_none());
        Ok(())
    }
}
