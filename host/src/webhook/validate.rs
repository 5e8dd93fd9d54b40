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
use super::mapping::CompiledExtract;
use super::request::{CompiledBody, JsonTemplate};
use super::spec::{BodySpec, WebhookSpec};
use super::template::{Template, is_forbidden_in_header, is_identifier, secret_name};
use crate::config::Limits;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Used when the webhook gives no `timeout_ms`.
    pub timeout_default: Duration,
    pub timeout_max: Duration,
    pub retries_max: u32,
}

impl From<&Limits> for ValidationLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            timeout_default: limits.upstream_timeout_default,
            timeout_max: limits.upstream_timeout_max,
            retries_max: MAX_RETRIES,
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

pub fn validate(spec: &WebhookSpec, limits: &ValidationLimits) -> Result<(), Vec<FieldError>> {
    compile(spec, limits).map(|_| ())
}

pub(crate) fn compile(spec: &WebhookSpec, limits: &ValidationLimits) -> Result<CompiledWebhook, Vec<FieldError>> {
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
    let provided: BTreeSet<&str> = (spec.response.extract.keys().chain(&spec.response.variables))
        .map(String::as_str)
        .collect();
    let success = c.template(&spec.response.success, "response.success", Scope::Success(&provided));
    let failure = c.template(&spec.response.failure, "response.failure", Scope::Failure);
    c.check(spec.plugin_config.is_object(), "plugin_config", || "must be a JSON object".to_owned());

    match (method, url, headers, body, timeout, extract, success, failure) {
        (Some(method), Some(url), Some(headers), Some(body), Some(timeout), Some(extract), Some(success), Some(failure))
            if c.errors.is_empty() =>
        {
            Ok(CompiledWebhook {
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
            })
        }
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
            self.error("method", format!("`{method}` is not supported: use one of {} (uppercase)", METHODS.join(", ")));
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
        let before = self.errors.len();
        if template.literals().any(|l| l.contains('#')) {
            self.error("url", "a URL fragment (`#…`) is never sent: remove it");
        }
        // The scheme and the host must be written out: a value from a variable could otherwise choose
        // where the request goes (and the network policy would be the only line of defence).
        let has_variables = template.variables().next().is_some();
        let prefix = template.literal_prefix();
        let authority_is_literal = prefix
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains(['/', '?']));
        if has_variables && !authority_is_literal {
            self.error("url", "the scheme and host must be written out, not come from a variable");
        }
        // Every hole rendered as a harmless value: what remains is the bot builder's text, which must parse.
        let sample = template.render(super::template::Encoding::UrlComponent, |_| Some("x"));
        match sample.map(|s| s.parse::<http::Uri>()) {
            Ok(Ok(uri)) => {
                let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
                match scheme.as_deref() {
                    Some("http" | "https") => {}
                    Some(other) => self.error("url", format!("scheme `{other}` is not allowed: use http or https")),
                    None => self.error("url", "must be an absolute http:// or https:// URL"),
                }
                match uri.authority() {
                    Some(a) if a.as_str().contains('@') => self.error(
                        "url",
                        "credentials in the URL are not allowed: put them in a header with {secret.NAME}",
                    ),
                    Some(a) if !a.host().is_empty() => {}
                    _ => self.error("url", "the URL has no host"),
                }
            }
            Ok(Err(e)) => self.error("url", format!("not a valid URL: {e}")),
            Err(e) => self.error("url", e.to_string()),
        }
        (self.errors.len() == before).then_some(template)
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
            if let Some(problem) = variable_name_problem(name) {
                self.error(&field, problem);
                continue;
            }
            match JsonPath::parse(path) {
                Ok(p) => paths.push((name.clone(), p)),
                Err(e) => self.error(&field, format!("invalid JSONPath `{path}`: {e}")),
            }
        }
        (self.errors.len() == before).then(|| CompiledExtract::new(paths))
    }

    fn plugin_variables(&mut self, names: &[String]) {
        for (i, name) in names.iter().enumerate() {
            if let Some(problem) = variable_name_problem(name) {
                self.error(&format!("response.variables[{i}]"), problem);
            }
        }
    }
}

/// Why `name` cannot be an extracted or plugin variable, if it cannot.
fn variable_name_problem(name: &str) -> Option<String> {
    if !is_identifier(name) {
        Some(format!("`{name}` is not a valid variable name: use letters, digits and `_`, not starting with a digit"))
    } else if is_builtin(name) {
        Some(format!("`{name}` is a built-in variable and cannot be redefined"))
    } else {
        None
    }
}

/// Why `name` cannot be used in a template of this scope, if it cannot.
fn scope_problem(name: &str, scope: Scope<'_>) -> Option<String> {
    let builtins = BUILTIN_NAMES.map(|b| format!("{{{b}}}")).join(", ");
    match scope {
        _ if is_builtin(name) => None,
        Scope::Request if secret_name(name).is_some() => None,
        Scope::Request => Some(format!("unknown variable `{{{name}}}`: a request may use {builtins} and {{secret.NAME}}")),
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

/// `.name` for identifiers, `["…"]` otherwise, so a field path stays unambiguous.
pub(crate) fn path_key(key: &str) -> String {
    if is_identifier(key) { format!(".{key}") } else { format!("[{}]", Value::String(key.to_owned())) }
}
