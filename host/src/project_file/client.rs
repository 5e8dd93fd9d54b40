//! The host's HTTP API as `export` and `apply` speak it: a bearer token, JSON or wasm bodies,
//! and every refusal turned into an error that carries the API's own code.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a request carries.
pub enum Body {
    Empty,
    Json(Value),
    Wasm(Bytes),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--url {0:?} is not an http:// or https:// URL")]
    Url(String),
    #[error("TLS setup failed")]
    Tls(#[from] rustls::Error),
    #[error("{method} {path}")]
    Request {
        method: Method,
        path: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("{method} {path}: reading the answer")]
    Read {
        method: Method,
        path: String,
        #[source]
        source: hyper::Error,
    },
    /// The API refused: its status and `{"error": {"code", "message"}}`.
    #[error("{method} {path}: {status} {code}: {message}")]
    Api { method: Method, path: String, status: StatusCode, code: String, message: String },
    #[error("{method} {path}: unexpected answer")]
    Decode {
        method: Method,
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The API's 404: the resource (or the route, on an older host) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { status: StatusCode::NOT_FOUND, .. })
    }
}

pub struct ApiClient {
    base: String,
    authorization: String,
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl ApiClient {
    /// `url` is the host's root (`http://127.0.0.1:8080`); the token is the operator's or the
    /// project's key.
    pub fn new(url: &str, token: &str) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Url(url.to_owned()));
        }
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(crate::outbound::tls_client_config(&[])?)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { base, authorization: format!("Bearer {token}"), inner })
    }

    /// Sends one request; a status of 400 or more is an error with the API's code.
    pub async fn send(&self, method: Method, path: &str, body: Body) -> Result<Bytes, ClientError> {
        let (content_type, bytes) = match body {
            Body::Empty => (None, Bytes::new()),
            Body::Json(value) => (Some("application/json"), Bytes::from(value.to_string())),
            Body::Wasm(bytes) => (Some("application/wasm"), bytes),
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, &self.authorization);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(bytes)).map_err(|_| ClientError::Url(self.base.clone()))?;
        let fail = |source| ClientError::Request { method: method.clone(), path: path.to_owned(), source };
        let response = self.inner.request(request).await.map_err(fail)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|source| ClientError::Read { method: method.clone(), path: path.to_owned(), source })?
            .to_bytes();
        if status.is_client_error() || status.is_server_error() {
            let (code, message) = error_of(&body);
            return Err(ClientError::Api { method, path: path.to_owned(), status, code, message });
        }
        Ok(body)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.send(Method::GET, path, Body::Empty).await?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode {
            method: Method::GET,
            path: path.to_owned(),
            source,
        })
    }

    /// A GET whose 404 means "there is none", not a failure.
    pub async fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ClientError> {
        match self.get(path).await {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The API's error body, or the raw text of whatever answered instead.
fn error_of(body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|value| value.get("error"));
    let field =
        |name: &str| error.and_then(|error| error.get(name)).and_then(Value::as_str).map(str::to_owned);
    match (field("code"), field("message")) {
        (Some(code), Some(message)) => (code, message),
        _ => ("unknown".to_owned(), String::from_utf8_lossy(body).chars().take(200).collect()),
    }
}
