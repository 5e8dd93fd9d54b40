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
use super::template::{Encoding, Fill, RenderError, Template, secret_name};
use super::validate::path_key;

/// What a request template may use: the built-ins and the project's secrets.
#[derive(Debug, Clone, Copy)]
pub struct RequestVars<'a> {
    pub builtins: Builtins<'a>,
    pub secrets: &'a BTreeMap<String, String>,
}

/// The request to send. `headers` is complete: it holds the body's `Content-Type` (the webhook's own
/// `Content-Type` header when it sets one, else the body type's), so the client adds nothing.
#[derive(Debug, Clone)]
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

impl BuiltRequest {
    /// The same request with every secret value written as `{secret.NAME}`: for traces and logs.
    pub fn redacted(&self) -> &RedactedRequest {
        &self.redacted
    }
}

/// The request as shown to people (test console, logs): no secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
            Self::Text(text) => Ok(text.render_fill(Encoding::Plain, fill).map_err(at(|| "body.content".into()))?.into_bytes()),
            Self::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    let value = value.render_fill(Encoding::Plain, fill)
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
            Self::Text(template) => {
                Value::String(template.render_fill(Encoding::Plain, fill).map_err(at(|| "body.content".into()))?)
            },
            Self::Array(items) => Value::Array(items.iter().map(|i| i.render(fill)).collect::<Result<_, _>>()?),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(fill)?)))
                    .collect::<Result<_, BuildError>>()?,
            ),
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
        let value = template.render_fill(Encoding::Header, &fill)
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

pub(crate) fn build_request(webhook: &CompiledWebhook, vars: &RequestVars<'_>) -> Result<BuiltRequest, BuildError> {
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
        headers: shown.headers.into_iter().map(|(name, value, _)| (name.as_str().to_owned(), value)).collect(),
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
