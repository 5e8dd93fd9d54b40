//! From the upstream's body to variables (declarative JSONPath extraction), and from variables to replies.
//!
//! JSONPaths are parsed once per webhook; each request only parses the body and walks the paths.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::builtins::Builtins;
use super::spec::DEFAULT_FAILURE;
use super::template::{Encoding, RenderError, Template};
use crate::model::Variables;
use crate::varname::VarName;

/// The webhook's `response.extract`, compiled: variable name -> JSONPath.
#[derive(Debug, Clone, Default)]
pub struct CompiledExtract {
    paths: Vec<(VarName, JsonPath)>,
}

/// What the declarative mapping found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractOutcome {
    pub variables: Variables,
    /// Names whose path matched nothing (or only `null`). Not an error yet: a plugin may provide
    /// them, and rendering the success template reports any that are still needed.
    pub missing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("the upstream response body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

impl CompiledExtract {
    pub(crate) fn new(paths: Vec<(VarName, JsonPath)>) -> Self {
        Self { paths }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Applies every path to the body. The first node found is the value: strings as they are,
    /// numbers and booleans as JSON text, objects and arrays as compact JSON; `null` counts as missing.
    /// With no paths the body is not even parsed, so a non-JSON upstream is fine for plugin-only webhooks.
    pub fn apply(&self, body: &[u8]) -> Result<ExtractOutcome, ExtractError> {
        let mut outcome = ExtractOutcome::default();
        if self.paths.is_empty() {
            return Ok(outcome);
        }
        let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
        let json: Value = serde_json::from_slice(body).map_err(ExtractError::NotJson)?;
        for (name, path) in &self.paths {
            match path.query(&json).first().and_then(node_text) {
                Some(text) => {
                    outcome.variables.insert(name.to_string(), text);
                }
                None => outcome.missing.push(name.to_string()),
            }
        }
        Ok(outcome)
    }
}

fn node_text(node: &Value) -> Option<String> {
    match node {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The success reply. Built-ins win over variables of the same name (validation keeps extract names
/// apart from them; this stops a plugin from rewriting what the user said). A name without a value
/// is an error, so a reply never has a hole.
pub(crate) fn render_success(
    success: &Template,
    vars: &Variables,
    builtins: &Builtins<'_>,
) -> Result<String, RenderError> {
    success.render(Encoding::Plain, |name| builtins.get(name).or_else(|| vars.get(name).map(String::as_str)))
}

/// The failure reply. Compilation admits only built-in names here and `Builtins` has them all, so
/// rendering cannot miss; the generic text guards the last resort anyway rather than panicking.
pub(crate) fn render_failure(failure: &Template, builtins: &Builtins<'_>) -> String {
    failure.render(Encoding::Plain, |name| builtins.get(name)).unwrap_or_else(|_| DEFAULT_FAILURE.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn compiled(paths: &[(&str, &str)]) -> CompiledExtract {
        CompiledExtract::new(
            paths.iter().map(|(n, p)| (VarName::parse(n).unwrap(), JsonPath::parse(p).unwrap())).collect(),
        )
    }

    #[test]
    fn maps_strings_numbers_booleans_objects_and_arrays() {
        let extract = compiled(&[
            ("reply", "$.message"),
            ("count", "$.n"),
            ("ratio", "$.r"),
            ("ok", "$.ok"),
            ("card", "$.card"),
            ("tags", "$.tags"),
            ("first_tag", "$.tags[0]"),
            ("any_name", "$.people[*].name"),
        ]);
        let body = br#"{"message":"Hello \"you\"\n","n":42,"r":1.5,"ok":false,
            "card":{"b":[1,2],"a":"x"},"tags":["x","y"],"people":[{"name":"Ann"},{"name":"Bo"}]}"#;
        let out = extract.apply(body).unwrap();
        let get = |k: &str| out.variables.get(k).map(String::as_str);
        assert_eq!(get("reply"), Some("Hello \"you\"\n"));
        assert_eq!(get("count"), Some("42"));
        assert_eq!(get("ratio"), Some("1.5"));
        assert_eq!(get("ok"), Some("false"));
        assert_eq!(get("card"), Some(r#"{"a":"x","b":[1,2]}"#));
        assert_eq!(get("tags"), Some(r#"["x","y"]"#));
        assert_eq!(get("first_tag"), Some("x"));
        assert_eq!(get("any_name"), Some("Ann"), "the first node wins");
        assert!(out.missing.is_empty());
    }

    #[test]
    fn absent_and_null_values_are_listed_as_missing() {
        let extract = compiled(&[("reply", "$.message"), ("nothing", "$.none"), ("gone", "$.a.b.c")]);
        let out = extract.apply(br#"{"message":"hi","none":null}"#).unwrap();
        assert_eq!(out.variables.len(), 1);
        assert_eq!(out.missing, ["nothing", "gone"], "in the order of the paths");
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error_only_when_there_is_something_to_extract() {
        let extract = compiled(&[("reply", "$.message")]);
        for body in [&b"<html>oops</html>"[..], b"", b"{\"message\": ", b"\xff\xfe"] {
            let err = extract.apply(body).unwrap_err();
            assert!(err.to_string().contains("not JSON"), "{err}");
        }
        assert_eq!(compiled(&[]).apply(b"<html>").unwrap(), ExtractOutcome::default());
        assert_eq!(
            extract.apply("\u{feff}{\"message\":\"bom\"}".as_bytes()).unwrap().variables["reply"],
            "bom"
        );
    }

    #[test]
    fn success_uses_variables_and_builtins_and_refuses_holes() {
        let t = Template::parse("{reply} ({project}, you said: {latest_message})").unwrap();
        let b = Builtins { latest_message: "hi", send_id: "s", project: "demo" };
        let mut vars = Variables::new();
        assert_eq!(render_success(&t, &vars, &b), Err(RenderError::Missing("reply".into())));
        vars.insert("reply".into(), "Hello".into());
        vars.insert("latest_message".into(), "forged".into());
        assert_eq!(render_success(&t, &vars, &b).unwrap(), "Hello (demo, you said: hi)");
    }

    #[test]
    fn failure_renders_builtins() {
        let b = Builtins { latest_message: "hi", send_id: "s", project: "demo" };
        let t = Template::parse("Sorry, {project} cannot answer \"{latest_message}\" {{now}}.").unwrap();
        assert_eq!(render_failure(&t, &b), "Sorry, demo cannot answer \"hi\" {now}.");
    }
}
