//! Request body extractors that answer in the API's error shape: content type, size, JSON syntax,
//! unknown fields and wrong types each get their own status and code.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. Unlike axum's `Json`, its rejections are `ApiError`s, and serde's message
/// (which names the unknown or mistyped field) reaches the client.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_content_type(&req, "application/json")?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON text, telling malformed syntax apart from a well-formed body of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ApiError::bad_request("malformed_json", format!("malformed JSON: {error}"))
        }
        _ => ApiError::bad_request("invalid_body", format!("invalid request body: {error}")),
    })
}

/// A plugin upload: raw bytes sent as `application/wasm`.
#[derive(Debug)]
pub struct WasmBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for WasmBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_content_type(&req, "application/wasm")?;
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        Ok(WasmBody(bytes))
    }
}

fn require_content_type(req: &Request, expected: &str) -> Result<(), ApiError> {
    let found = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match found {
        Some(found) if found == expected => Ok(()),
        Some(found) => {
            Err(ApiError::UnsupportedMediaType(format!("expected Content-Type {expected}, got {found}")))
        }
        None => Err(ApiError::UnsupportedMediaType(format!("expected Content-Type {expected}"))),
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body too large".to_string())
    } else {
        ApiError::bad_request("unreadable_body", rejection.body_text())
    }
}
