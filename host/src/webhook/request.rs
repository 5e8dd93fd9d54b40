//! Rendering a compiled webhook into the HTTP request to send, and its redacted twin for the test console.
//!
//! Each value is encoded for where it lands: percent-encoded in the URL, refused in headers when it
//! holds a line break, JSON bodies built as a `serde_json::Value` (escaping by construction, so the
//! body is valid JSON whatever the user typed), form bodies serialized by `form_urlencoded`.
//! Redaction renders a second time with every secret hole written back as `{secret.NAME}`, so no
//! secret value can survive it, however it was encoded.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::Value;

use super::CompiledWebhook;
use super::builtins::Builtins;
use super::field_path::path_key;
use super::template::{Encoding, Fill, RenderError, Template, secret_name};

/// What a request template may use: the built-ins and the project's secrets.
#[derive(Clone, Copy)]
pub struct RequestVars<'a> {
    pub builtins: Builtins<'a>,
    pub secrets: &'a BTreeMap<String, String>,
}

/// Names the secrets, never their values: a `{:?}` in a log or a panic must not leak one.
impl std::fmt::Debug for RequestVars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestVars")
            .field("builtins", &self.builtins)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The request to send. `headers` is complete: it holds the body's `Content-Type` (the webhook's own
/// `Content-Type` header when it sets one, else the body type's), so the client adds nothing.
#[derive(Clone)]
pub struct BuiltRequest {
    pub method: http::Method,
    /// Absolute http(s) URL; always parses as an `http::Uri`. May hold secrets: never log it,
    /// log `redacted().url` instead.
    pub url: String,
    /// Values that hold a secret are marked sensitive.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    /// Extra attempts after the first one fails.
    pub retries: u32,
    redacted: RedactedRequest,
}

/// Shows the redacted twin only: the real URL, headers and body may hold secret values.
impl std::fmt::Debug for BuiltRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltRequest")
            .field("redacted", &self.redacted)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl BuiltRequest {
    /// The same request with every secret value written as `{secret.NAME}`: for traces and logs.
    pub fn redacted(&self) -> &RedactedRequest {
        &self.redacted
    }
}

/// The request as shown to people (test console, logs): no secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RedactedRequest {
    pub method: String,
    pub url: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    /// Bodies are UTF-8 text (JSON, plain text or form encoding).
    pub body: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A referenced secret is not set, or a value cannot go where the template puts it.
    #[error("cannot render {field}: {source}")]
    Render {
        field: String,
        #[source]
        source: RenderError,
    },
    /// The URL is not logged here: it may hold a secret.
    #[error("the rendered URL is not valid: {0}")]
    InvalidUrl(#[source] http::uri::InvalidUri),
    #[error("the rendered value of header `{name}` is not valid: {source}")]
    InvalidHeaderValue {
        name: HeaderName,
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    #[error("cannot serialize the JSON body: {0}")]
    Json(#[source] serde_json::Error),
}

/// A body template, checked and parsed.
#[derive(Debug, Clone)]
pub(crate) enum CompiledBody {
    Json(JsonTemplate),
    Text(Template),
    /// Field name (literal) -> value template, in the order written.
    Form(Vec<(String, Template)>),
}

impl CompiledBody {
    fn content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Text(_) => "text/plain; charset=utf-8",
            Self::Form(_) => "application/x-www-form-urlencoded",
        }
    }

    fn render<'v>(&self, fill: &impl Fn(&str) -> Option<Fill<'v>>) -> Result<Vec<u8>, BuildError> {
        match self {
            Self::Json(json) => serde_json::to_vec(&json.render(fill)?).map_err(BuildError::Json),
            Self::Text(text) => Ok(text
                .render_fill(Encoding::Plain, fill)
                .map_err(at(|| "body.content".into()))?
                .into_bytes()),
            Self::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    let value = value
                        .render_fill(Encoding::Plain, fill)
                        .map_err(at(|| format!("body.content{}", path_key(name))))?;
                    form.append_pair(name, &value);
                }
                Ok(form.finish().into_bytes())
            }
        }
    }
}

/// A JSON body whose string leaves are templates. Object keys are literal.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    Fixed(Value),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    fn render<'v>(&self, fill: &impl Fn(&str) -> Option<Fill<'v>>) -> Result<Value, BuildError> {
        Ok(match self {
            Self::Fixed(value) => value.clone(),
            Self::Text(template) => Value::String(
                template.render_fill(Encoding::Plain, fill).map_err(at(|| "body.content".into()))?,
            ),
            Self::Array(items) => {
                Value::Array(items.iter().map(|i| i.render(fill)).collect::<Result<_, _>>()?)
            }
            Self::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| Ok((k.clone(), v.render(fill)?))).collect::<Result<
                    _,
                    BuildError,
                >>(
                )?)
            }
        })
    }
}

/// Names the field of a render error; the name is only built when something failed.
fn at(field: impl FnOnce() -> String) -> impl FnOnce(RenderError) -> BuildError {
    move |source| BuildError::Render { field: field(), source }
}

/// The request's parts as text, before they become HTTP types: shared by the real and redacted passes.
struct RenderedParts {
    url: String,
    /// Name, value, whether the value holds a secret.
    headers: Vec<(HeaderName, String, bool)>,
    body: Option<Vec<u8>>,
}

fn render_parts<'v>(
    webhook: &CompiledWebhook,
    fill: impl Fn(&str) -> Option<Fill<'v>>,
) -> Result<RenderedParts, BuildError> {
    let url = webhook.url.render_fill(Encoding::UrlComponent, &fill).map_err(at(|| "url".into()))?;
    let mut headers = Vec::with_capacity(webhook.headers.len() + 1);
    for (name, template) in &webhook.headers {
        let value = template
            .render_fill(Encoding::Header, &fill)
            .map_err(at(|| format!("headers{}", path_key(name.as_str()))))?;
        headers.push((name.clone(), value, template.uses_secret()));
    }
    let body = match &webhook.body {
        None => None,
        Some(body) => {
            if !headers.iter().any(|(name, _, _)| name == CONTENT_TYPE) {
                headers.push((CONTENT_TYPE, body.content_type().to_owned(), false));
            }
            Some(body.render(&fill)?)
        }
    };
    Ok(RenderedParts { url, headers, body })
}

pub(crate) fn build_request(
    webhook: &CompiledWebhook,
    vars: &RequestVars<'_>,
) -> Result<BuiltRequest, BuildError> {
    let parts = render_parts(webhook, |name| {
        match secret_name(name) {
            Some(secret) => vars.secrets.get(secret).map(String::as_str),
            None => vars.builtins.get(name),
        }
        .map(Fill::Value)
    })?;
    let shown = render_parts(webhook, |name| match secret_name(name) {
        Some(_) => Some(Fill::Redacted),
        None => vars.builtins.get(name).map(Fill::Value),
    })?;

    parts.url.parse::<http::Uri>().map_err(BuildError::InvalidUrl)?;
    let headers = parts
        .headers
        .into_iter()
        .map(|(name, value, sensitive)| match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(mut value) => {
                value.set_sensitive(sensitive);
                Ok((name, value))
            }
            Err(source) => Err(BuildError::InvalidHeaderValue { name, source }),
        })
        .collect::<Result<Vec<_>, _>>()?;

    let redacted = RedactedRequest {
        method: webhook.method.to_string(),
        url: shown.url,
        headers: shown
            .headers
            .into_iter()
            .map(|(name, value, _)| (name.as_str().to_owned(), value))
            .collect(),
        body: shown.body.map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    Ok(BuiltRequest {
        method: webhook.method.clone(),
        url: parts.url,
        headers,
        body: parts.body.map(Bytes::from),
        timeout: webhook.timeout,
        retries: webhook.retries,
        redacted,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{CompiledWebhook, ValidationLimits, WebhookSpec};
    use super::*;
    use serde_json::json;

    const HOSTILE: &str = "a b&c=d#e?f%g+h\"i'j\\k\nl\r\tm😀 ünï/;,:@[]{}<>~-._*\u{0}";
    const SECRET: &str = "s3cr&t/+=\"\\ ü";

    fn compile(value: Value) -> CompiledWebhook {
        let spec: WebhookSpec = serde_json::from_value(value).unwrap();
        CompiledWebhook::compile(&spec, &ValidationLimits::default()).unwrap()
    }

    fn secrets() -> BTreeMap<String, String> {
        BTreeMap::from([("upstream_key".to_owned(), SECRET.to_owned())])
    }

    fn build(webhook: &CompiledWebhook, message: &str) -> Result<BuiltRequest, BuildError> {
        let secrets = secrets();
        let vars = RequestVars {
            builtins: Builtins { latest_message: message, send_id: "conv-1", project: "demo" },
            secrets: &secrets,
        };
        webhook.build_request(&vars)
    }

    fn header<'a>(req: &'a BuiltRequest, name: &str) -> Option<&'a HeaderValue> {
        req.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn design_example() -> CompiledWebhook {
        compile(json!({
            "url": "http://localhost:8081/chat?input={latest_message}&chatId={send_id}",
            "headers": {"Authorization": "Bearer {secret.upstream_key}"},
            "timeout_ms": 1234, "retries": 2,
            "response": {"extract": {"reply": "$.message"}}
        }))
    }

    #[test]
    fn query_values_arrive_byte_exact_whatever_the_message_holds() {
        let req = build(&design_example(), HOSTILE).unwrap();
        assert_eq!(req.method, http::Method::GET);
        let uri: http::Uri = req.url.parse().unwrap();
        assert_eq!(uri.host(), Some("localhost"));
        assert_eq!(uri.path(), "/chat");
        let query: Vec<(String, String)> = uri
            .query()
            .unwrap()
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), percent_encoding::percent_decode_str(v).decode_utf8().unwrap().into_owned())
            })
            .collect();
        assert_eq!(
            query,
            [("input".to_owned(), HOSTILE.to_owned()), ("chatId".to_owned(), "conv-1".to_owned())]
        );
        assert_eq!(req.body, None);
        assert_eq!(req.timeout, Duration::from_millis(1234));
        assert_eq!(req.retries, 2);
    }

    #[test]
    fn path_segments_are_encoded_too() {
        let webhook = compile(
            json!({"url": "https://api.example/v1/{latest_message}/x", "response": {"success": "ok"}}),
        );
        let req = build(&webhook, "../a/b?c#d").unwrap();
        assert_eq!(req.url, "https://api.example/v1/..%2Fa%2Fb%3Fc%23d/x");
        assert_eq!(req.url.parse::<http::Uri>().unwrap().path(), "/v1/..%2Fa%2Fb%3Fc%23d/x");
    }

    #[test]
    fn secret_headers_are_sent_and_marked_sensitive() {
        let webhook = compile(json!({
            "url": "http://a.example/",
            "headers": {"Authorization": "Bearer {secret.upstream_key}", "X-Msg": "{latest_message}"},
            "response": {"success": "ok"}
        }));
        let req = build(&webhook, "héllo\tthere").unwrap();
        let auth = header(&req, "authorization").unwrap();
        assert_eq!(auth.as_bytes(), format!("Bearer {SECRET}").as_bytes());
        assert!(auth.is_sensitive());
        let msg = header(&req, "x-msg").unwrap();
        assert_eq!(msg.as_bytes(), "héllo\tthere".as_bytes());
        assert!(!msg.is_sensitive());
        assert!(header(&req, "content-type").is_none(), "no body, no content type");
    }

    #[test]
    fn a_message_with_a_line_break_cannot_reach_a_header() {
        let webhook = compile(json!({
            "url": "http://a.example/", "headers": {"X-Msg": "{latest_message}"}, "response": {"success": "ok"}
        }));
        for evil in ["a\r\nX-Evil: 1", "a\nb", "a\0"] {
            match build(&webhook, evil) {
                Err(BuildError::Render { field, source: RenderError::ForbiddenInHeader { name, .. } }) => {
                    assert_eq!(field, "headers[\"x-msg\"]");
                    assert_eq!(name, "latest_message");
                }
                other => panic!("{evil:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_secret_is_an_error_naming_it() {
        let webhook =
            compile(json!({"url": "http://a.example/?k={secret.other}", "response": {"success": "ok"}}));
        match build(&webhook, "hi") {
            Err(BuildError::Render { field, source: RenderError::Missing(name) }) => {
                assert_eq!((field.as_str(), name.as_str()), ("url", "secret.other"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_json_body_stays_valid_json_for_hostile_input() {
        let webhook = compile(json!({
            "method": "POST", "url": "http://a.example/",
            "body": {"type": "json", "content": {
                "message": "{latest_message}",
                "wrapped": "<<{latest_message}>> {{x}}",
                "nested": [{"id": "{send_id}", "n": 3, "ok": true, "none": null}],
                "key": "{secret.upstream_key}"
            }},
            "response": {"success": "ok"}
        }));
        let req = build(&webhook, HOSTILE).unwrap();
        assert_eq!(header(&req, "content-type").unwrap(), "application/json");
        let decoded: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
        assert_eq!(decoded["message"].as_str().unwrap().as_bytes(), HOSTILE.as_bytes());
        assert_eq!(decoded["wrapped"], format!("<<{HOSTILE}>> {{x}}"));
        assert_eq!(decoded["nested"], json!([{"id": "conv-1", "n": 3, "ok": true, "none": null}]));
        assert_eq!(decoded["key"], SECRET);
    }

    #[test]
    fn a_form_body_decodes_back_exactly() {
        let webhook = compile(json!({
            "method": "POST", "url": "http://a.example/",
            "body": {"type": "form", "content": {"q": "{latest_message}", "a b&c": "x=y {send_id}"}},
            "response": {"success": "ok"}
        }));
        let req = build(&webhook, HOSTILE).unwrap();
        assert_eq!(header(&req, "content-type").unwrap(), "application/x-www-form-urlencoded");
        let body = req.body.unwrap();
        assert!(body.iter().all(|b| b.is_ascii_graphic()), "{body:?}");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        assert_eq!(
            pairs,
            [("a b&c".to_owned(), "x=y conv-1".to_owned()), ("q".to_owned(), HOSTILE.to_owned())]
        );
    }

    #[test]
    fn a_text_body_is_verbatim_and_the_webhook_may_choose_its_content_type() {
        let webhook = compile(json!({
            "method": "PUT", "url": "http://a.example/",
            "headers": {"Content-Type": "application/xml"},
            "body": {"type": "text", "content": "<q>{latest_message}</q>"},
            "response": {"success": "ok"}
        }));
        let req = build(&webhook, HOSTILE).unwrap();
        assert_eq!(req.method, http::Method::PUT);
        assert_eq!(req.body.as_deref(), Some(format!("<q>{HOSTILE}</q>").as_bytes()));
        let content_types: Vec<_> = req.headers.iter().filter(|(n, _)| n == CONTENT_TYPE).collect();
        assert_eq!(content_types.len(), 1);
        assert_eq!(content_types[0].1, "application/xml");
        let plain = compile(json!({
            "method": "POST", "url": "http://a.example/",
            "body": {"type": "text", "content": "{latest_message}"}, "response": {"success": "ok"}
        }));
        assert_eq!(
            header(&build(&plain, "x").unwrap(), "content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn debug_output_never_shows_a_secret_value() {
        let req = build(&design_example(), "hi").unwrap();
        let secrets = secrets();
        let vars = RequestVars {
            builtins: Builtins { latest_message: "hi", send_id: "s", project: "p" },
            secrets: &secrets,
        };
        for shown in [format!("{req:?}"), format!("{vars:?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("upstream_key"), "{shown}");
        }
    }

    #[test]
    fn redaction_hides_secret_values_everywhere() {
        let webhook = compile(json!({
            "method": "POST",
            "url": "http://a.example/{secret.upstream_key}/x?k={secret.upstream_key}&m={latest_message}",
            "headers": {"Authorization": "Bearer {secret.upstream_key}", "X-Msg": "{latest_message}"},
            "body": {"type": "json", "content": {"key": "{secret.upstream_key}", "m": "{latest_message}"}},
            "response": {"success": "ok"}
        }));
        let req = build(&webhook, "hello you").unwrap();
        let shown = req.redacted();
        assert_eq!(shown.method, "POST");
        assert_eq!(
            shown.url,
            "http://a.example/{secret.upstream_key}/x?k={secret.upstream_key}&m=hello%20you"
        );
        assert_eq!(shown.headers["authorization"], "Bearer {secret.upstream_key}");
        assert_eq!(shown.headers["x-msg"], "hello you");
        assert_eq!(shown.headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(shown.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"key": "{secret.upstream_key}", "m": "hello you"}));

        let form = compile(json!({
            "method": "POST", "url": "http://a.example/",
            "body": {"type": "form", "content": {"key": "{secret.upstream_key}"}}, "response": {"success": "ok"}
        }));
        let text = compile(json!({
            "method": "POST", "url": "http://a.example/",
            "body": {"type": "text", "content": "key={secret.upstream_key}"}, "response": {"success": "ok"}
        }));
        // The secret in every encoding it could take must be absent from what is shown.
        let encodings = [
            SECRET.to_owned(),
            percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC).to_string(),
            form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>(),
            serde_json::to_string(SECRET).unwrap().trim_matches('"').to_owned(),
            "s3cr".to_owned(),
        ];
        for webhook in [&webhook, &form, &text] {
            let req = build(webhook, "hi").unwrap();
            let real = format!("{} {:?} {:?}", req.url, req.headers, req.body);
            assert!(real.contains("s3cr"), "the real request does carry the secret");
            let shown = serde_json::to_string(req.redacted()).unwrap();
            for encoded in &encodings {
                assert!(!shown.contains(encoded.as_str()), "{encoded} leaked in {shown}");
            }
            assert!(shown.contains("secret.upstream_key"));
        }
    }
}
