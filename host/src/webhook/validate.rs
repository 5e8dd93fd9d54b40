//! Checking a `WebhookSpec` field by field and compiling it into a `CompiledWebhook` in the same walk.
//!
//! Validation and compilation are one pass so that what is accepted when a webhook is saved is exactly
//! what runs. Every problem is reported (not just the first) as a `FieldError` naming the JSON path.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use http::header::HeaderName;
use serde::Serialize;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::CompiledWebhook;
use super::builtins::{BUILTIN_NAMES, is_builtin};
use super::field_path::path_key;
use super::mapping::CompiledExtract;
use super::request::{CompiledBody, JsonTemplate};
use super::spec::{BodySpec, WebhookLimits, WebhookSpec};
use super::template::{Encoding, Template, is_forbidden_in_header, secret_name};
use crate::config::Limits;
use crate::varname::VarName;

/// Methods a webhook may use. HEAD is left out: it has no body to map into a reply.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A webhook may retry at most this many times, whatever it asks.
pub const MAX_RETRIES: u32 = 5;

/// Headers the HTTP client owns: the host, framing and connection management. Letting a template set
/// them would let a bot builder (or a user's message) smuggle requests or confuse the client.
const FORBIDDEN_HEADERS: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
];

/// The operator's ceilings that bound a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Used when the webhook gives no `timeout_ms`.
    pub timeout_default: Duration,
    pub timeout_max: Duration,
    pub retries_max: u32,
    /// The operator's ceilings that `limits` may only lower.
    pub operator: Limits,
}

impl From<&Limits> for ValidationLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            timeout_default: limits.upstream_timeout_default,
            timeout_max: limits.upstream_timeout_max,
            retries_max: MAX_RETRIES,
            operator: limits.clone(),
        }
    }
}

impl Default for ValidationLimits {
    fn default() -> Self {
        Self::from(&Limits::default())
    }
}

/// One problem with one field; `field` is its JSON path, e.g. `response.success`, `headers.Host`,
/// `body.content.user.name`, `response.variables[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// True when the field is over one of the operator's limits (the upstream timeout or a
    /// `limits` ceiling): a stored webhook fails so when the operator lowered a limit since.
    pub fn is_over_limit(&self) -> bool {
        self.field == "timeout_ms" || self.field.starts_with("limits.")
    }
}

/// The failure template alone, for a stored webhook that no longer compiles as a whole (say,
/// over a limit the operator lowered since), so its users still get its own failure text.
pub fn failure_template(spec: &WebhookSpec) -> Option<Template> {
    Checker::default().template(&spec.response.failure, "response.failure", Scope::Failure)
}

pub fn validate(spec: &WebhookSpec, limits: &ValidationLimits) -> Result<(), Vec<FieldError>> {
    compile(spec, limits).map(|_| ())
}

pub(crate) fn compile(
    spec: &WebhookSpec,
    limits: &ValidationLimits,
) -> Result<CompiledWebhook, Vec<FieldError>> {
    let mut c = Checker::default();
    let method = c.method(&spec.method);
    let url = c.url(&spec.url);
    let headers = c.headers(&spec.headers);
    let body = c.body(spec.body.as_ref(), &spec.method);
    let timeout = c.timeout(spec.timeout_ms, limits);
    c.check(spec.retries <= limits.retries_max, "retries", || {
        format!("must be between 0 and {}", limits.retries_max)
    });
    let extract = c.extract(&spec.response.extract);
    c.plugin_variables(&spec.response.variables);
    // The mapping's variables count against the same bound as a plugin's: each one is a value
    // copied out of the body, shown in the console and handed to the plugin.
    let max_variables = limits.operator.plugin_max_variables;
    for (field, count) in [
        ("response.extract", spec.response.extract.len()),
        ("response.variables", spec.response.variables.len()),
    ] {
        c.check(count <= max_variables, field, || format!("at most {max_variables} variables"));
    }
    let provided: BTreeSet<&str> =
        (spec.response.extract.keys().chain(&spec.response.variables)).map(String::as_str).collect();
    let success = c.template(&spec.response.success, "response.success", Scope::Success(&provided));
    let failure = c.template(&spec.response.failure, "response.failure", Scope::Failure);
    c.check(spec.plugin_config.is_object(), "plugin_config", || "must be a JSON object".to_owned());
    c.limits(&spec.limits, &limits.operator);

    match (method, url, headers, body, timeout, extract, success, failure) {
        (
            Some(method),
            Some(url),
            Some(headers),
            Some(body),
            Some(timeout),
            Some(extract),
            Some(success),
            Some(failure),
        ) if c.errors.is_empty() => Ok(CompiledWebhook {
            method,
            url,
            headers,
            body,
            timeout,
            retries: spec.retries,
            extract,
            success,
            failure,
            plugin_config: spec.plugin_config.to_string(),
            limits: spec.limits.clone(),
        }),
        _ => Err(c.errors),
    }
}

/// Which variables a template may name.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// URL, headers, body: built-ins and secrets.
    Request,
    /// The success reply: built-ins, extracted and plugin-provided names; never a secret.
    Success(&'a BTreeSet<&'a str>),
    /// The failure reply: built-ins only, since it is shown when nothing else can be trusted.
    Failure,
}

#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    /// Each given limit must be at least 1 and at most the operator's.
    fn limits(&mut self, limits: &WebhookLimits, operator: &Limits) {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bytes = |value: usize| u64::try_from(value).unwrap_or(u64::MAX);
        let checks = [
            ("limits.plugin_timeout_ms", limits.plugin_timeout_ms, ms(operator.plugin_call_timeout)),
            ("limits.plugin_fuel", limits.plugin_fuel, operator.plugin_fuel),
            ("limits.plugin_memory_bytes", limits.plugin_memory_bytes, bytes(operator.plugin_memory_bytes)),
            ("limits.plugin_output_bytes", limits.plugin_output_bytes, bytes(operator.plugin_output_bytes)),
            ("limits.plugin_log_bytes", limits.plugin_log_bytes, bytes(operator.plugin_log_bytes)),
            ("limits.response_body_bytes", limits.response_body_bytes, bytes(operator.upstream_body_bytes)),
            (
                "limits.plugin_max_variables",
                limits.plugin_max_variables,
                bytes(operator.plugin_max_variables),
            ),
            ("limits.plugin_max_replies", limits.plugin_max_replies, bytes(operator.plugin_max_replies)),
            ("limits.plugin_max_buttons", limits.plugin_max_buttons, bytes(operator.plugin_max_buttons)),
            (
                "limits.plugin_max_log_lines",
                limits.plugin_max_log_lines,
                bytes(operator.plugin_max_log_lines),
            ),
        ];
        for (field, value, max) in checks {
            // Replies without buttons are a sensible choice; zero of anything else is not.
            let min = u64::from(field != "limits.plugin_max_buttons");
            if let Some(value) = value {
                self.check((min..=max).contains(&value), field, || {
                    format!(
                        "must be between {min} and {max}: a webhook may lower the operator's limit, not raise it"
                    )
                });
            }
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.to_owned(), message: message.into() });
    }

    fn check(&mut self, ok: bool, field: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.error(field, message());
        }
    }

    fn method(&mut self, method: &str) -> Option<http::Method> {
        if !METHODS.contains(&method) {
            self.error(
                "method",
                format!("`{method}` is not supported: use one of {} (uppercase)", METHODS.join(", ")),
            );
            return None;
        }
        match http::Method::from_bytes(method.as_bytes()) {
            Ok(m) => Some(m),
            Err(e) => {
                self.error("method", e.to_string());
                None
            }
        }
    }

    /// Parses a template and checks each name it uses against the scope.
    fn template(&mut self, source: &str, field: &str, scope: Scope<'_>) -> Option<Template> {
        let template = match Template::parse(source) {
            Ok(t) => t,
            Err(e) => {
                self.error(field, e.to_string());
                return None;
            }
        };
        let before = self.errors.len();
        for name in template.variables().collect::<BTreeSet<_>>() {
            if let Some(message) = scope_problem(name, scope) {
                self.error(field, message);
            }
        }
        (self.errors.len() == before).then_some(template)
    }

    fn url(&mut self, source: &str) -> Option<Template> {
        let template = self.template(source, "url", Scope::Request)?;
        match url_problem(&template) {
            Some(problem) => {
                self.error("url", problem);
                None
            }
            None => Some(template),
        }
    }

    fn headers(&mut self, headers: &BTreeMap<String, String>) -> Option<Vec<(HeaderName, Template)>> {
        let before = self.errors.len();
        let mut compiled = Vec::with_capacity(headers.len());
        let mut seen = BTreeSet::new();
        for (name, value) in headers {
            let field = format!("headers{}", path_key(name));
            let header = match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => h,
                Err(_) => {
                    self.error(&field, "not a valid header name");
                    continue;
                }
            };
            if FORBIDDEN_HEADERS.contains(&header.as_str()) {
                self.error(&field, format!("`{name}` is set by the HTTP client and cannot be set here"));
                continue;
            }
            if !seen.insert(header.as_str().to_owned()) {
                self.error(&field, "given twice (header names are case-insensitive)");
                continue;
            }
            let Some(template) = self.template(value, &field, Scope::Request) else { continue };
            if template.literals().any(|l| l.chars().any(is_forbidden_in_header)) {
                self.error(&field, "a header value cannot contain a line break or control character");
                continue;
            }
            compiled.push((header, template));
        }
        (self.errors.len() == before).then_some(compiled)
    }

    /// `Some(None)` is a valid absent body; `None` means errors were recorded.
    fn body(&mut self, body: Option<&BodySpec>, method: &str) -> Option<Option<CompiledBody>> {
        let Some(body) = body else { return Some(None) };
        if method == "GET" {
            self.error("body", "a GET request carries no body: use POST, PUT or PATCH, or set body to null");
            return None;
        }
        match body.kind.as_str() {
            "json" => self.json(&body.content, "body.content").map(|j| Some(CompiledBody::Json(j))),
            "text" => match &body.content {
                Value::String(s) => {
                    self.template(s, "body.content", Scope::Request).map(|t| Some(CompiledBody::Text(t)))
                }
                _ => {
                    self.error("body.content", "a text body's content must be a string");
                    None
                }
            },
            "form" => {
                let Value::Object(fields) = &body.content else {
                    self.error("body.content", "a form body's content must be an object of strings");
                    return None;
                };
                let before = self.errors.len();
                let mut compiled = Vec::with_capacity(fields.len());
                for (name, value) in fields {
                    let field = format!("body.content{}", path_key(name));
                    match value {
                        Value::String(s) => {
                            if let Some(t) = self.template(s, &field, Scope::Request) {
                                compiled.push((name.clone(), t));
                            }
                        }
                        _ => self.error(&field, "a form field's value must be a string"),
                    }
                }
                (self.errors.len() == before).then_some(Some(CompiledBody::Form(compiled)))
            }
            other => {
                self.error("body.type", format!("unknown body type `{other}`: use json, text or form"));
                None
            }
        }
    }

    fn json(&mut self, value: &Value, field: &str) -> Option<JsonTemplate> {
        match value {
            Value::String(s) => self.template(s, field, Scope::Request).map(JsonTemplate::Text),
            Value::Array(items) => {
                let compiled: Vec<_> =
                    items.iter().enumerate().map(|(i, v)| self.json(v, &format!("{field}[{i}]"))).collect();
                compiled.into_iter().collect::<Option<_>>().map(JsonTemplate::Array)
            }
            Value::Object(fields) => {
                let compiled: Vec<_> = fields
                    .iter()
                    .map(|(k, v)| self.json(v, &format!("{field}{}", path_key(k))).map(|t| (k.clone(), t)))
                    .collect();
                compiled.into_iter().collect::<Option<_>>().map(JsonTemplate::Object)
            }
            fixed => Some(JsonTemplate::Fixed(fixed.clone())),
        }
    }

    fn timeout(&mut self, timeout_ms: Option<u64>, limits: &ValidationLimits) -> Option<Duration> {
        let Some(ms) = timeout_ms else { return Some(limits.timeout_default.min(limits.timeout_max)) };
        let max = limits.timeout_max.as_millis();
        if ms == 0 || u128::from(ms) > max {
            self.error("timeout_ms", format!("must be between 1 and {max} (milliseconds)"));
            return None;
        }
        Some(Duration::from_millis(ms))
    }

    fn extract(&mut self, extract: &BTreeMap<String, String>) -> Option<CompiledExtract> {
        let before = self.errors.len();
        let mut paths = Vec::with_capacity(extract.len());
        for (name, path) in extract {
            let field = format!("response.extract{}", path_key(name));
            let name = match variable_name(name) {
                Ok(name) => name,
                Err(problem) => {
                    self.error(&field, problem);
                    continue;
                }
            };
            match JsonPath::parse(path) {
                Ok(p) => paths.push((name, p)),
                Err(e) => self.error(&field, format!("invalid JSONPath `{path}`: {e}")),
            }
        }
        (self.errors.len() == before).then(|| CompiledExtract::new(paths))
    }

    fn plugin_variables(&mut self, names: &[String]) {
        for (i, name) in names.iter().enumerate() {
            if let Err(problem) = variable_name(name) {
                self.error(&format!("response.variables[{i}]"), problem);
            }
        }
    }
}

/// The first thing wrong with a URL template whose names are already known to be fine.
fn url_problem(template: &Template) -> Option<String> {
    // Every hole rendered as a harmless value: what remains is the bot builder's text, which must parse.
    let sample = template.render(Encoding::UrlComponent, |_| Some("x")).ok()?;
    let uri = match sample.parse::<http::Uri>() {
        Ok(uri) => uri,
        Err(e) => return Some(format!("not a valid URL: {e}")),
    };
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => {}
        Some(other) => return Some(format!("scheme `{other}` is not allowed: use http or https")),
        None => return Some("must be an absolute http:// or https:// URL".to_owned()),
    }
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => {
            return Some(
                "credentials in the URL are not allowed: put them in a header with {secret.NAME}".to_owned(),
            );
        }
        Some(a) if !a.host().is_empty() => {}
        _ => return Some("the URL has no host".to_owned()),
    }
    if template.literals().any(|l| l.contains('#')) {
        return Some("a URL fragment (`#…`) is never sent: remove it".to_owned());
    }
    // The scheme and the host must be written out: a value from a variable could otherwise choose
    // where the request goes (and the network policy would be the only line of defence).
    let has_variables = template.variables().next().is_some();
    let authority_is_literal =
        template.literal_prefix().split_once("://").is_some_and(|(_, rest)| rest.contains(['/', '?']));
    if has_variables && !authority_is_literal {
        return Some("the scheme and host must be written out, not come from a variable".to_owned());
    }
    None
}

/// `name` as an extracted or plugin variable, or why it cannot be one.
fn variable_name(name: &str) -> Result<VarName, String> {
    match VarName::parse(name) {
        Err(problem) => Err(format!(
            "`{name}` is not a valid variable name ({problem}): use up to {} letters, digits and `_`, \
             not starting with a digit",
            VarName::MAX_LEN
        )),
        Ok(_) if is_builtin(name) => Err(format!("`{name}` is a built-in variable and cannot be redefined")),
        Ok(name) => Ok(name),
    }
}

/// Why `name` cannot be used in a template of this scope, if it cannot.
fn scope_problem(name: &str, scope: Scope<'_>) -> Option<String> {
    let builtins = BUILTIN_NAMES.map(|b| format!("{{{b}}}")).join(", ");
    match scope {
        _ if is_builtin(name) => None,
        Scope::Request if secret_name(name).is_some() => None,
        Scope::Request => {
            Some(format!("unknown variable `{{{name}}}`: a request may use {builtins} and {{secret.NAME}}"))
        }
        Scope::Success(_) | Scope::Failure if secret_name(name).is_some() => {
            Some(format!("`{{{name}}}` is a secret, and a secret must never reach a reply"))
        }
        Scope::Success(provided) if provided.contains(name) => None,
        Scope::Success(_) => Some(format!(
            "unknown variable `{{{name}}}`: define it in response.extract or list it in response.variables \
             (built-ins: {builtins})"
        )),
        Scope::Failure => Some(format!(
            "`{{{name}}}` cannot be used in the failure text, which is shown when the call or extraction \
             failed: it may use only {builtins}"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> WebhookSpec {
        serde_json::from_value(value).unwrap()
    }

    /// The design's example, with `patch` merged over it at the top level and in `response`.
    fn example(patch: Value) -> WebhookSpec {
        let mut base = crate::webhook::spec::design_example();
        for (k, v) in patch.as_object().unwrap() {
            if k == "response" {
                for (rk, rv) in v.as_object().unwrap() {
                    base["response"][rk] = rv.clone();
                }
            } else {
                base[k] = v.clone();
            }
        }
        spec(base)
    }

    fn errors(patch: Value) -> Vec<FieldError> {
        validate(&example(patch), &ValidationLimits::default()).unwrap_err()
    }

    /// Asserts exactly one error, on `field`, whose message contains `needle`.
    fn assert_one(patch: Value, field: &str, needle: &str) {
        let errs = errors(patch.clone());
        assert_eq!(errs.len(), 1, "{patch}: {errs:?}");
        assert_eq!(errs[0].field, field, "{patch}: {errs:?}");
        assert!(errs[0].message.contains(needle), "{patch}: `{}` lacks `{needle}`", errs[0].message);
    }

    #[test]
    fn a_webhook_may_lower_limits_but_never_raise_them() {
        let lowered = json!({"limits": {"plugin_timeout_ms": 20, "plugin_memory_bytes": 4_194_304, "response_body_bytes": 1024}});
        let compiled = CompiledWebhook::compile(&example(lowered), &ValidationLimits::default()).unwrap();
        assert_eq!(compiled.limits().plugin_timeout_ms, Some(20));
        assert_one(
            json!({"limits": {"plugin_timeout_ms": 101}}),
            "limits.plugin_timeout_ms",
            "between 1 and 100",
        );
        assert_one(json!({"limits": {"plugin_fuel": 0}}), "limits.plugin_fuel", "between 1 and");
        assert_one(
            json!({"limits": {"response_body_bytes": 2 * 1024 * 1024}}),
            "limits.response_body_bytes",
            "not raise it",
        );
        assert_one(
            json!({"limits": {"plugin_max_replies": 11}}),
            "limits.plugin_max_replies",
            "between 1 and 10",
        );
        assert_one(
            json!({"limits": {"plugin_max_log_lines": 0}}),
            "limits.plugin_max_log_lines",
            "between 1",
        );
        let counts = json!({"limits": {"plugin_max_variables": 3, "plugin_max_buttons": 0, "plugin_max_log_lines": 5}});
        assert!(validate(&example(counts), &ValidationLimits::default()).is_ok());
        let many: serde_json::Map<String, Value> =
            (0..257).map(|i| (format!("v{i}"), Value::String("$.a".into()))).collect();
        assert_one(
            json!({"response": {"extract": many, "success": "{v1}"}}),
            "response.extract",
            "at most 256 variables",
        );
        let unknown: Result<WebhookSpec, _> =
            serde_json::from_value(json!({"url": "https://a.example/", "limits": {"cpu": 1}}));
        assert!(unknown.is_err(), "unknown limit keys are refused");
    }

    #[test]
    fn the_design_example_is_valid() {
        assert_eq!(validate(&example(json!({})), &ValidationLimits::default()), Ok(()));
        let minimal =
            spec(json!({"url": "https://api.example.com/x", "response": {"extract": {"reply": "$.a"}}}));
        let compiled = CompiledWebhook::compile(&minimal, &ValidationLimits::default()).unwrap();
        assert_eq!(compiled.timeout(), Duration::from_secs(5), "the operator's default");
        assert_eq!(compiled.retries(), 0);
        assert_eq!(compiled.plugin_config(), "{}");
    }

    #[test]
    fn the_default_timeout_follows_the_operator() {
        let limits = ValidationLimits {
            timeout_default: Duration::from_secs(2),
            timeout_max: Duration::from_secs(10),
            retries_max: 2,
            operator: Limits::default(),
        };
        let no_timeout = spec(json!({"url": "http://a.example/", "response": {"success": "ok"}}));
        assert_eq!(CompiledWebhook::compile(&no_timeout, &limits).unwrap().timeout(), Duration::from_secs(2));
        let errs = validate(&example(json!({"timeout_ms": 10_001, "retries": 3})), &limits).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["timeout_ms", "retries"]);
        assert!(validate(&example(json!({"timeout_ms": 10_000, "retries": 2})), &limits).is_ok());
    }

    #[test]
    fn url_problems_name_the_url() {
        assert_one(json!({"url": "http://localhost/chat?q={area}"}), "url", "unknown variable `{area}`");
        assert_one(json!({"url": "ftp://files.example/x"}), "url", "scheme `ftp`");
        assert_one(json!({"url": "http:///chat"}), "url", "");
        assert_one(json!({"url": "/chat?q={latest_message}"}), "url", "");
        assert_one(json!({"url": "localhost:8081/chat"}), "url", "");
        assert_one(json!({"url": "http://{secret.host}/chat"}), "url", "must be written out");
        assert_one(json!({"url": "http://api.example{latest_message}"}), "url", "must be written out");
        assert_one(json!({"url": "http://user:pw@api.example/x"}), "url", "credentials");
        assert_one(json!({"url": "http://api.example/x#top"}), "url", "fragment");
        assert_one(json!({"url": "http://api.example/a b"}), "url", "not a valid URL");
        assert_one(
            json!({"url": "http://api.example/{latest_message"}),
            "url",
            "unclosed `{` at position 19",
        );
        assert_one(json!({"url": "http://api.example/}"}), "url", "stray `}` at position 19");
        assert!(
            validate(
                &example(json!({"url": "HTTPS://api.example:8443/v1/{send_id}/x?k={secret.k}"})),
                &ValidationLimits::default()
            )
            .is_ok()
        );
        assert!(
            validate(&example(json!({"url": "http://[::1]:8081/chat"})), &ValidationLimits::default())
                .is_ok()
        );
    }

    #[test]
    fn method_must_be_a_supported_uppercase_verb() {
        assert_one(json!({"method": "FETCH"}), "method", "not supported");
        assert_one(json!({"method": "get"}), "method", "uppercase");
        assert_one(json!({"method": "HEAD"}), "method", "not supported");
    }

    #[test]
    fn header_problems_name_the_header() {
        assert_one(json!({"headers": {"X-Note": "a\r\nX-Evil: 1"}}), "headers[\"X-Note\"]", "line break");
        assert_one(
            json!({"headers": {"X-Note": "tab\tok {nope}"}}),
            "headers[\"X-Note\"]",
            "unknown variable `{nope}`",
        );
        assert_one(json!({"headers": {"Host": "evil.example"}}), "headers.Host", "set by the HTTP client");
        assert_one(
            json!({"headers": {"content-length": "3"}}),
            "headers[\"content-length\"]",
            "set by the HTTP client",
        );
        assert_one(
            json!({"headers": {"Transfer-Encoding": "chunked"}}),
            "headers[\"Transfer-Encoding\"]",
            "",
        );
        assert_one(json!({"headers": {"Connection": "close"}}), "headers.Connection", "");
        assert_one(json!({"headers": {"Bad Name": "x"}}), "headers[\"Bad Name\"]", "not a valid header name");
        let errs = errors(json!({"headers": {"X-A": "1", "x-a": "2"}}));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("twice"));
    }

    #[test]
    fn body_problems_name_the_body_field() {
        assert_one(
            json!({"method": "POST", "body": {"type": "xml", "content": "<a/>"}}),
            "body.type",
            "unknown body type `xml`",
        );
        assert_one(json!({"body": {"type": "text", "content": "x"}}), "body", "GET request carries no body");
        assert_one(
            json!({"method": "POST", "body": {"type": "text", "content": 3}}),
            "body.content",
            "must be a string",
        );
        assert_one(
            json!({"method": "POST", "body": {"type": "form", "content": "a=b"}}),
            "body.content",
            "object of strings",
        );
        assert_one(
            json!({"method": "POST", "body": {"type": "form", "content": {"a": 1}}}),
            "body.content.a",
            "must be a string",
        );
        assert_one(
            json!({"method": "POST", "body": {"type": "json", "content": {"q": ["{latest_message}", "{area}"]}}}),
            "body.content.q[1]",
            "unknown variable `{area}`",
        );
        assert_one(
            json!({"method": "PUT", "body": {"type": "json", "content": {"a b": "{x"}}}),
            "body.content[\"a b\"]",
            "unclosed",
        );
        assert!(validate(
            &example(json!({"method": "PATCH", "body": {"type": "json", "content": [1, null, {"k": "{secret.s} {{}}"}]}})),
            &ValidationLimits::default()
        )
        .is_ok());
    }

    #[test]
    fn limits_are_checked() {
        assert_one(json!({"timeout_ms": 0}), "timeout_ms", "between 1 and 30000");
        assert_one(json!({"timeout_ms": 30_001}), "timeout_ms", "between 1 and 30000");
        assert_one(json!({"retries": 6}), "retries", "between 0 and 5");
        assert!(
            validate(&example(json!({"timeout_ms": 30_000, "retries": 5})), &ValidationLimits::default())
                .is_ok()
        );
    }

    #[test]
    fn response_problems_name_the_response_field() {
        assert_one(
            json!({"response": {"success": "{secret.upstream_key}"}}),
            "response.success",
            "never reach a reply",
        );
        assert_one(
            json!({"response": {"success": "{reply} in {area}"}}),
            "response.success",
            "unknown variable `{area}`",
        );
        assert_one(json!({"response": {"failure": "No {reply}"}}), "response.failure", "failure text");
        assert_one(json!({"response": {"failure": "{secret.k}"}}), "response.failure", "never reach a reply");
        assert_one(
            json!({"response": {"extract": {"reply": "$.["}}}),
            "response.extract.reply",
            "invalid JSONPath",
        );
        assert_one(
            json!({"response": {"extract": {"reply": "message"}}}),
            "response.extract.reply",
            "invalid JSONPath",
        );
        assert_one(
            json!({"response": {"extract": {"reply": "$.m", "2x": "$.a"}}}),
            "response.extract[\"2x\"]",
            "not a valid variable name",
        );
        assert_one(
            json!({"response": {"extract": {"reply": "$.m", "project": "$.p"}}}),
            "response.extract.project",
            "built-in",
        );
        assert_one(
            json!({"response": {"variables": ["ok", "a.b"]}}),
            "response.variables[1]",
            "not a valid variable name",
        );
        assert_one(json!({"plugin_config": [1]}), "plugin_config", "object");
        // A plugin-provided name and the built-ins are usable in the success reply; the failure text
        // may use built-ins.
        assert!(
            validate(
                &example(json!({"response": {
                    "variables": ["card"],
                    "success": "{reply} {card} for {project} in {send_id} after {latest_message} {{literal}}",
                    "failure": "Sorry {project}, not now ({latest_message})."
                }})),
                &ValidationLimits::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn the_default_success_needs_a_reply_variable() {
        let no_reply = spec(json!({"url": "http://a.example/"}));
        let errs = validate(&no_reply, &ValidationLimits::default()).unwrap_err();
        assert_eq!(errs[0].field, "response.success");
        assert!(errs[0].message.contains("`{reply}`"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errs = errors(json!({
            "method": "get",
            "url": "ftp://x/{area}",
            "headers": {"Host": "x"},
            "timeout_ms": 0,
            "retries": 9,
            "response": {"extract": {"reply": "$["}, "success": "{secret.k}"},
            "plugin_config": null
        }));
        let fields: BTreeSet<_> = errs.iter().map(|e| e.field.as_str()).collect();
        let expected: BTreeSet<_> = [
            "method",
            "url",
            "headers.Host",
            "timeout_ms",
            "retries",
            "response.extract.reply",
            "response.success",
            "plugin_config",
        ]
        .into();
        assert_eq!(fields, expected, "{errs:?}");
        assert!(errs.iter().all(|e| e.to_string().starts_with(&e.field)));
    }

    #[test]
    fn field_errors_serialize_as_field_and_message() {
        let e = FieldError { field: "url".into(), message: "bad".into() };
        assert_eq!(serde_json::to_value(&e).unwrap(), json!({"field": "url", "message": "bad"}));
    }
}
