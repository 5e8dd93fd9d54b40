//! A project's fallback (a text or a webhook) and its secrets (write-only: names are listed,
//! values never leave the host).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::state::AppState;
use crate::store::Fallback;

const MAX_FALLBACK_TEXT: usize = 4000;
const MAX_SECRET_BYTES: usize = 8 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutFallback {
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

pub async fn put_fallback(
    access: ProjectAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PutFallback>,
) -> Result<Json<Value>, ApiError> {
    let fallback = match (body.webhook, body.text) {
        (Some(webhook), None) => {
            ensure_id("webhook", &webhook)?;
            Fallback::Webhook(webhook)
        }
        (None, Some(text)) => {
            let chars = text.trim().chars().count();
            if chars == 0 || chars > MAX_FALLBACK_TEXT {
                return Err(ApiError::unprocessable(
                    "invalid_fallback",
                    format!("text: 1 to {MAX_FALLBACK_TEXT} characters, not blank"),
                ));
            }
            Fallback::Text(text)
        }
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_fallback",
                "give exactly one of \"webhook\" or \"text\"",
            ));
        }
    };
    state.store.set_fallback(&access.project, fallback.clone()).await.map_err(|error| match error {
        crate::store::StoreError::NotFound(what) => ApiError::unprocessable(
            "unknown_webhook",
            format!("the fallback names a webhook that does not exist ({what})"),
        ),
        other => other.into(),
    })?;
    Ok(Json(serde_json::to_value(fallback).map_err(ApiError::internal)?))
}

pub async fn get_fallback(
    access: ProjectAccess,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fallback = state
        .store
        .get_fallback(&access.project)
        .await?
        .ok_or_else(|| ApiError::NotFound("fallback".to_string()))?;
    Ok(Json(serde_json::to_value(fallback).map_err(ApiError::internal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    value: String,
}

/// Says how long the value is, never what it is.
impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSecret").field("value", &format_args!("<{} bytes>", self.value.len())).finish()
    }
}

pub async fn put_secret(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutSecret>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("secret", &name)?;
    if body.value.is_empty() || body.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::unprocessable(
            "invalid_secret",
            format!("value: 1 to {MAX_SECRET_BYTES} bytes"),
        ));
    }
    state.store.put_secret(&access.project, &name, &body.value).await?;
    Ok(Json(json!({ "name": name })))
}

pub async fn list_secrets(
    access: ProjectAccess,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let names = state.store.list_secret_names(&access.project).await?;
    Ok(Json(json!({ "secrets": names })))
}

pub async fn delete_secret(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ensure_id("secret", &name)?;
    if !state.store.delete_secret(&access.project, &name).await? {
        return Err(ApiError::NotFound(format!("secret {name}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
