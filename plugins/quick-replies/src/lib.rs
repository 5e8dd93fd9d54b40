//! quick-replies: a text plus quick-reply buttons from the upstream's JSON response.
//!
//! `extract` reads both (the text into `reply`, so the success template works without `format`;
//! the buttons, normalised, into `options` as JSON text), and `format` turns them into one reply.
//! The buttons travel through a variable because `format` sees variables, not the response.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use guest_sdk::serde::{Deserialize, Serialize};
use guest_sdk::serde_json::{self, Value};
use guest_sdk::{Button, Context, Plugin, PluginError, Reply, Response, Variables, export_plugin};

/// The variable holding the text, read by `{reply}` templates and by `format`.
pub const TEXT_VARIABLE: &str = "reply";
/// The variable carrying the buttons from `extract` to `format`: a JSON array of
/// `{"label","payload"}`.
pub const OPTIONS_VARIABLE: &str = "options";

/// The webhook's `plugin_config`: top-level field names of the response, both optional.
#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde", default, deny_unknown_fields)]
pub struct Config {
    pub text_field: String,
    pub options_field: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { text_field: "message".to_string(), options_field: "options".to_string() }
    }
}

/// A button as it travels in the `options` variable.
#[derive(Debug, Serialize, Deserialize)]
#[serde(crate = "guest_sdk::serde")]
struct ButtonJson {
    label: String,
    payload: String,
}

/// The text and the buttons of `body`. A missing options field means no buttons.
pub fn read_body(body: &Value, config: &Config) -> Result<(String, Vec<Button>), PluginError> {
    let text = match body.get(&config.text_field) {
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(PluginError::new(format!("field `{}` is not a string", config.text_field)));
        }
        None => {
            return Err(PluginError::new(format!("field `{}` not found in the response", config.text_field)));
        }
    };
    let buttons = match body.get(&config.options_field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| button(item, &config.options_field, index))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(PluginError::new(format!("field `{}` is not an array", config.options_field)));
        }
    };
    Ok((text, buttons))
}

/// `"Yes"` is label and payload at once; `{"label": "Yes", "payload": "yes"}` sets both, and a
/// missing payload defaults to the label.
fn button(item: &Value, field: &str, index: usize) -> Result<Button, PluginError> {
    match item {
        Value::String(label) => Ok(Button::new(label.as_str(), label.as_str())),
        Value::Object(map) => {
            let label = map
                .get("label")
                .and_then(Value::as_str)
                .ok_or_else(|| PluginError::new(format!("`{field}.{index}` has no string `label`")))?;
            let payload = match map.get("payload") {
                None => label,
                Some(payload) => payload
                    .as_str()
                    .ok_or_else(|| PluginError::new(format!("`{field}.{index}.payload` is not a string")))?,
            };
            Ok(Button::new(label, payload))
        }
        _ => Err(PluginError::new(format!(
            "`{field}.{index}` is neither a string nor a {{label, payload}} object"
        ))),
    }
}

/// The variables `extract` returns for a text and its buttons.
pub fn to_variables(text: &str, buttons: &[Button]) -> Result<Variables, PluginError> {
    let options: Vec<ButtonJson> =
        buttons.iter().map(|b| ButtonJson { label: b.label.clone(), payload: b.payload.clone() }).collect();
    Ok(Variables::new().with(TEXT_VARIABLE, text).with(OPTIONS_VARIABLE, serde_json::to_string(&options)?))
}

/// The one reply `format` answers; without `reply`, it defers to the success template.
pub fn to_reply(variables: &Variables) -> Result<Option<Reply>, PluginError> {
    let Some(text) = variables.get(TEXT_VARIABLE) else {
        return Ok(None);
    };
    let options: Vec<ButtonJson> = match variables.get(OPTIONS_VARIABLE) {
        Some(json) => serde_json::from_str(json).map_err(|err| {
            PluginError::new(format!("variable `{OPTIONS_VARIABLE}` is not a list of buttons: {err}"))
        })?,
        None => Vec::new(),
    };
    Ok(Some(options.into_iter().fold(Reply::text(text), |reply, o| reply.button(o.label, o.payload))))
}

pub struct QuickReplies;

impl Plugin for QuickReplies {
    fn extract(response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
        let config: Config = ctx.config()?;
        let (text, buttons) = read_body(&response.json_value()?, &config)?;
        to_variables(&text, &buttons)
    }

    fn format(variables: &Variables, _ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
        Ok(to_reply(variables)?.map(|reply| vec![reply]))
    }
}

export_plugin!(QuickReplies);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(body: &str, config: &str) -> Result<Option<Vec<Reply>>, PluginError> {
        let ctx = Context::default().with_config(config);
        let vars = QuickReplies::extract(&Response::new(200, body), &ctx)?;
        QuickReplies::format(&vars, &ctx)
    }

    #[test]
    fn strings_and_objects_become_buttons() {
        let body = r#"{"message":"Which size?","options":["Small",{"label":"Large","payload":"size_l"},{"label":"Medium"}]}"#;
        let replies = round_trip(body, "{}").unwrap().unwrap();
        let expected = Reply::text("Which size?")
            .button("Small", "Small")
            .button("Large", "size_l")
            .button("Medium", "Medium");
        assert_eq!(replies, vec![expected]);
    }

    #[test]
    fn extract_sets_reply_for_the_template() {
        let ctx = Context::default();
        let vars =
            QuickReplies::extract(&Response::new(200, r#"{"message":"Hi","options":["A"]}"#), &ctx).unwrap();
        assert_eq!(vars.get("reply"), Some("Hi"));
        assert_eq!(vars.get("options"), Some(r#"[{"label":"A","payload":"A"}]"#));
    }

    #[test]
    fn fields_are_configurable() {
        let body = r#"{"text":"Pick","choices":["x","y"]}"#;
        let replies =
            round_trip(body, r#"{"text_field":"text","options_field":"choices"}"#).unwrap().unwrap();
        assert_eq!(replies, vec![Reply::text("Pick").button("x", "x").button("y", "y")]);
    }

    #[test]
    fn no_options_means_a_plain_reply() {
        assert_eq!(
            round_trip(r#"{"message":"Just text"}"#, "{}").unwrap().unwrap(),
            vec![Reply::text("Just text")]
        );
    }

    #[test]
    fn without_reply_format_defers_to_the_template() {
        assert_eq!(QuickReplies::format(&Variables::new(), &Context::default()).unwrap(), None);
    }

    #[test]
    fn bad_shapes_are_named() {
        let err = round_trip(r#"{"options":[]}"#, "{}").unwrap_err();
        assert!(err.message().contains("`message` not found"), "{err}");
        let err = round_trip(r#"{"message":"m","options":"A,B"}"#, "{}").unwrap_err();
        assert!(err.message().contains("`options` is not an array"), "{err}");
        let err = round_trip(r#"{"message":"m","options":["A",3]}"#, "{}").unwrap_err();
        assert!(err.message().contains("`options.1`"), "{err}");
        let err = round_trip(r#"{"message":"m","options":[{"payload":"p"}]}"#, "{}").unwrap_err();
        assert!(err.message().contains("no string `label`"), "{err}");
        let err = round_trip("not json", "{}").unwrap_err();
        assert!(err.message().contains("not JSON"), "{err}");
    }
}
