//! A project's webhooks: saved only once valid (each problem a 422 naming its field), read back
//! as saved, deleted unless the fallback still uses them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::{ProjectPath, WebhookPath};
use super::openapi::schemas::{ErrorBody, Webhook, WebhookList};
use super::state::AppState;
use crate::webhook::WebhookSpec;

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/webhooks/{webhook}",
    operation_id = "put_webhook",
    tag = "webhooks",
    summary = "Create or replace a webhook",
    description = "Saved only once valid: every template names only variables it can have, JSONPaths parse, \
        the URL's scheme and host are literal. Each problem is named in `details`.",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = WebhookSpec, example = json!(examples::put_webhook())),
    responses(
        (status = 200, description = "The webhook as saved, defaults filled in.", body = Webhook,
            example = json!(examples::webhook())),
        (status = 422, description = "Refused (`invalid_webhook`); `details` lists each field and why.",
            body = ErrorBody, example = json!(examples::invalid_webhook())),
    ),
)]
pub async fn put(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
    JsonBody(spec): JsonBody<WebhookSpec>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    state.pipeline.validate_webhook(&spec).map_err(|errors| {
        let message = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect::<Vec<_>>()
            .join("; ");
        let details = errors
            .iter()
            .map(|error| json!({ "field": error.field, "message": error.message }))
            .collect::<Vec<_>>();
        ApiError::Unprocessable { code: "invalid_webhook", message, details: Some(Value::Array(details)) }
    })?;
    let text = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    state.store.put_webhook(&access.project, &webhook, &text).await?;
    Ok(Json(describe(&webhook, &spec)?))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/webhooks/{webhook}",
    operation_id = "get_webhook",
    tag = "webhooks",
    summary = "Read a webhook",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The webhook as saved.", body = Webhook, example = json!(examples::webhook())),
        (status = 404, description = "No such webhook, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn get(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    let spec = load(&state, &access.project, &webhook).await?;
    Ok(Json(describe(&webhook, &spec)?))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    summary = "List a project's webhooks",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses((status = 200, description = "The webhooks' ids.", body = WebhookList, example = json!(examples::webhooks()))),
)]
pub async fn list(access: ProjectAccess, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let records = state.store.list_webhooks(&access.project).await?;
    let ids: Vec<&str> = records.iter().map(|record| record.id.as_str()).collect();
    Ok(Json(json!({ "webhooks": ids })))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{project}/webhooks/{webhook}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    summary = "Delete a webhook and its plugin versions",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such webhook, or no such project (`not_found`).", body = ErrorBody),
        (status = 409, description = "The webhook is the project's fallback: set another first (`conflict`).",
            body = ErrorBody),
    ),
)]
pub async fn delete(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ensure_id("webhook", &webhook)?;
    let deleted =
        state.store.delete_webhook(&access.project, &webhook).await.map_err(|error| match error {
            crate::store::StoreError::InUse(_) => ApiError::Conflict(format!(
                "webhook {webhook} is the project's fallback: set another fallback first"
            )),
            other => other.into(),
        })?;
    if !deleted {
        return Err(ApiError::NotFound(format!("webhook {webhook}")));
    }
    state.pipeline.collect_plugin_artifacts(false).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads a stored webhook back; stored JSON was validated on the way in, so a parse failure here
/// is corruption, not bad input.
async fn load(state: &AppState, project: &str, webhook: &str) -> Result<WebhookSpec, ApiError> {
    let record = state
        .store
        .get_webhook(project, webhook)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook {webhook}")))?;
    serde_json::from_str(&record.spec).map_err(ApiError::internal)
}

fn describe(id: &str, spec: &WebhookSpec) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(spec).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut value {
        map.insert("id".to_string(), Value::String(id.to_string()));
    }
    Ok(value)
}
