//! A project's fallback (a text or a webhook) and its secrets (write-only: names are listed,
//! values never leave the host).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::{ProjectPath, SecretPath};
use super::openapi::schemas::{ErrorBody, SecretList, SecretName};
use super::state::AppState;
use crate::store::Fallback;

const MAX_FALLBACK_TEXT: usize = 4000;
const MAX_SECRET_BYTES: usize = 8 * 1024;

/// Exactly one of `webhook` or `text`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutFallback {
    /// Call this webhook of the project.
    #[serde(default)]
    #[schema(nullable = false, pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    webhook: Option<String>,
    /// Answer this text (1 to 4000 characters).
    #[serde(default)]
    #[schema(nullable = false)]
    text: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/fallback",
    operation_id = "put_fallback",
    tag = "fallback",
    summary = "Set what the project answers when no intent matches",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = PutFallback, examples(
        ("webhook" = (summary = "Call a webhook", value = json!(examples::fallback_webhook()))),
        ("text" = (summary = "Answer a fixed text", value = json!(examples::fallback_text()))),
    )),
    responses(
        (status = 200, description = "The fallback as set.", body = Fallback, examples(
            ("webhook" = (value = json!(examples::fallback_webhook()))),
            ("text" = (value = json!(examples::fallback_text()))),
        )),
        (status = 422, description = "Not exactly one of `webhook` or `text`, or a blank or too long text \
            (`invalid_fallback`); a webhook the project does not have (`unknown_webhook`).", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/fallback",
    operation_id = "get_fallback",
    tag = "fallback",
    summary = "Read the project's fallback",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The fallback.", body = Fallback, example = json!(examples::fallback_webhook())),
        (status = 404, description = "No fallback set yet, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// 1 byte to 8 KiB; sealed at rest, never shown again.
    #[schema(min_length = 1)]
    value: String,
}

/// Says how long the value is, never what it is.
impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSecret").field("value", &format_args!("<{} bytes>", self.value.len())).finish()
    }
}

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/secrets/{name}",
    operation_id = "put_secret",
    tag = "secrets",
    summary = "Set a secret",
    description = "Templates use it as `{secret.NAME}`; the value never appears in an answer, a log or the \
        test console.",
    params(SecretPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = PutSecret, example = json!(examples::put_secret())),
    responses(
        (status = 200, description = "Stored; the answer names it only.", body = SecretName,
            example = json!(examples::secret_name())),
        (status = 422, description = "An empty value or one over 8 KiB (`invalid_secret`).", body = ErrorBody),
    ),
)]
pub async fn put_secret(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, name)): Path<(String, String)>,
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

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/secrets",
    operation_id = "list_secrets",
    tag = "secrets",
    summary = "List the project's secrets by name",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses((status = 200, description = "The names, never the values.", body = SecretList,
        example = json!(examples::secrets()))),
)]
pub async fn list_secrets(
    access: ProjectAccess,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let names = state.store.list_secret_names(&access.project).await?;
    Ok(Json(json!({ "secrets": names })))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{project}/secrets/{name}",
    operation_id = "delete_secret",
    tag = "secrets",
    summary = "Delete a secret",
    params(SecretPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such secret, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn delete_secret(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ensure_id("secret", &name)?;
    if !state.store.delete_secret(&access.project, &name).await? {
        return Err(ApiError::NotFound(format!("secret {name}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
