//! json-reply: one field of a JSON response (a dotted path like `data.answer` or `choices.0.text`)
//! into one variable (`reply` by default).

#![cfg_attr(test, allow(clippy::unwrap_used))]

use guest_sdk::serde::Deserialize;
use guest_sdk::serde_json::Value;
use guest_sdk::{Context, Plugin, PluginError, Response, Variables, export_plugin};

/// The webhook's `plugin_config`: `{"field": "data.answer", "variable": "reply"}`, both optional.
#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde", default, deny_unknown_fields)]
pub struct Config {
    pub field: String,
    pub variable: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { field: "message".to_string(), variable: "reply".to_string() }
    }
}

/// The variables for `body` under `config`.
pub fn extract_field(body: &Value, config: &Config) -> Result<Variables, PluginError> {
    let value = lookup(body, &config.field)?;
    Ok(Variables::new().with(config.variable.as_str(), as_text(value, &config.field)?))
}

/// Walks `path`: dot-separated object keys, or array indexes where the value is an array.
/// A leading `$.` is accepted so JSONPath-looking configs (`$.message`) also work.
pub fn lookup<'a>(body: &'a Value, path: &str) -> Result<&'a Value, PluginError> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    let mut current = body;
    for segment in path.split('.') {
        let next = match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        current = next.ok_or_else(|| {
            PluginError::new(format!("field `{path}` not found in the response (no `{segment}`)"))
        })?;
    }
    Ok(current)
}

/// Strings as they are, numbers and booleans as their JSON text, objects and arrays as compact
/// JSON; `null` is refused since "null" is never a sensible reply.
fn as_text(value: &Value, path: &str) -> Result<String, PluginError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Err(PluginError::new(format!("field `{path}` is null in the response"))),
        other => Ok(other.to_string()),
    }
}

pub struct JsonReply;

impl Plugin for JsonReply {
    fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
        let config: Config = ctx.config()?;
        extract_field(&response.json_value()?, &config)
    }
}

export_plugin!(JsonReply);

#[cfg(test)]
mod tests {
    use super::*;
    use guest_sdk::serde_json::json;

    fn run(body: &str, config: &str) -> Result<Variables, PluginError> {
        JsonReply::extract(&Response::new(200, body), &Context::default().with_config(config))
    }

    #[test]
    fn default_reads_message_into_reply() {
        let vars = run(r#"{"message":"Hello!"}"#, "{}").unwrap();
        assert_eq!(vars.iter().collect::<Vec<_>>(), vec![("reply", "Hello!")]);
    }

    #[test]
    fn dotted_paths_and_array_indexes() {
        let body = json!({"data": {"answer": "42"}, "choices": [{"text": "first"}, {"text": "second"}]});
        let config = |field: &str| Config { field: field.into(), ..Config::default() };
        assert_eq!(extract_field(&body, &config("data.answer")).unwrap().get("reply"), Some("42"));
        assert_eq!(extract_field(&body, &config("choices.1.text")).unwrap().get("reply"), Some("second"));
        assert_eq!(extract_field(&body, &config("$.data.answer")).unwrap().get("reply"), Some("42"));
    }

    #[test]
    fn non_strings_become_their_json_text() {
        let vars = run(r#"{"n": 3.5, "ok": true, "list": [1, "a"]}"#, r#"{"field":"n"}"#).unwrap();
        assert_eq!(vars.get("reply"), Some("3.5"));
        let vars = run(r#"{"n": 3.5, "ok": true}"#, r#"{"field":"ok"}"#).unwrap();
        assert_eq!(vars.get("reply"), Some("true"));
        let vars = run(r#"{"list": [1, "a"]}"#, r#"{"field":"list"}"#).unwrap();
        assert_eq!(vars.get("reply"), Some(r#"[1,"a"]"#));
    }

    #[test]
    fn the_output_variable_is_configurable() {
        let vars = run(r#"{"answer":"yes"}"#, r#"{"field":"answer","variable":"area"}"#).unwrap();
        assert_eq!(vars.iter().collect::<Vec<_>>(), vec![("area", "yes")]);
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = run(r#"{"data":{}}"#, r#"{"field":"data.answer"}"#).unwrap_err();
        assert!(err.message().contains("`data.answer`"), "{err}");
        let err = run(r#"{"choices":[]}"#, r#"{"field":"choices.0.text"}"#).unwrap_err();
        assert!(err.message().contains("`choices.0.text`") && err.message().contains("`0`"), "{err}");
        let err = run(r#"{"message":null}"#, "{}").unwrap_err();
        assert!(err.message().contains("`message` is null"), "{err}");
    }

    #[test]
    fn a_non_json_body_says_so() {
        let err = run("<html>oops</html>", "{}").unwrap_err();
        assert!(err.message().contains("not JSON"), "{err}");
    }

    #[test]
    fn a_bad_config_says_so() {
        let err = run(r#"{"message":"x"}"#, r#"{"feild":"x"}"#).unwrap_err();
        assert!(err.message().contains("plugin_config") && err.message().contains("feild"), "{err}");
    }
}
