//! A webhook's plugin: upload (validated by the runtime before anything is stored), versions,
//! a version's bytes (so a project file can keep the plugin beside it), rollback, detach. The active version swaps atomically; the newest versions are kept (the
//! operator's `plugin_versions_kept`) and the compiled artifacts of pruned ones deleted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::{ProjectAccess, ensure_id};
use super::body::{JsonBody, WasmBody};
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::{PluginVersionPath, WebhookPath};
use super::openapi::schemas::{ErrorBody, PluginUploaded, WasmComponent};
use super::state::AppState;
use crate::plugin::PluginError;
use crate::store::PluginVersions;

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/webhooks/{webhook}/plugin",
    operation_id = "upload_plugin",
    tag = "plugins",
    summary = "Upload a plugin for a webhook",
    description = "A WebAssembly component (`wasm32-wasip2`) of the `fallback:plugin` world. It is checked and \
        compiled before anything is stored; once accepted it is the webhook's new active version. Up to \
        `plugin_upload_bytes` (32 MiB by default).",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = WasmComponent, content_type = "application/wasm", description = "The component's bytes."),
    responses(
        (status = 201, description = "Stored as a new version, now active.", body = PluginUploaded,
            example = json!(examples::plugin_uploaded())),
        (status = 400, description = "Not WebAssembly (`not_wasm`), or an invalid id (`invalid_id`).", body = ErrorBody),
        (status = 404, description = "No such webhook, or no such project (`not_found`).", body = ErrorBody),
        (status = 413, description = "Over `plugin_upload_bytes` (`payload_too_large`).", body = ErrorBody),
        (status = 415, description = "The Content-Type is not `application/wasm` (`unsupported_media_type`).",
            body = ErrorBody),
        (status = 422, description = "Refused, nothing stored: a core module (`core_module`), not a valid \
            component (`invalid_component`), another world (`wrong_world`), over a structural limit \
            (`too_many_functions`, `code_too_large`, `function_too_large`, `too_many_locals`, \
            `nesting_too_deep`, `too_many_modules`), or over a compile bound (`compile_timeout`, \
            `compile_memory`, `compile_failed`).", body = ErrorBody),
        (status = 503, description = "The compile queue is full (`busy`), the store does not answer \
            (`store_unavailable`), or the deadline passed (`timeout`).", body = ErrorBody),
    ),
)]
pub async fn upload(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
    WasmBody(wasm): WasmBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    let loaded = state.pipeline.validate_plugin(wasm.clone()).await.map_err(upload_error)?;
    let sha256 = loaded.sha256_hex();
    let keep = state.config.limits.plugin_versions_kept;
    let version =
        state.store.add_plugin_version(&access.project, &webhook, &sha256, wasm.to_vec(), keep).await?;
    state.pipeline.collect_plugin_artifacts(false).await;
    state.metrics.record_plugin_upload();
    tracing::info!(project = %access.project, webhook, version = version.version, sha256, "plugin uploaded");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "version": version.version, "sha256": version.sha256, "size": version.size })),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/webhooks/{webhook}/plugin",
    operation_id = "plugin_versions",
    tag = "plugins",
    summary = "List a webhook's plugin versions",
    description = "Oldest first, at most `plugin_versions_kept`; `active` is null once the plugin is detached.",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The versions and the active one.", body = PluginVersions,
            example = json!(examples::plugin_versions())),
        (status = 404, description = "No such webhook, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn versions(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    let versions = state.store.plugin_versions(&access.project, &webhook).await?;
    Ok(Json(serde_json::to_value(versions).map_err(ApiError::internal)?))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/webhooks/{webhook}/plugin/versions/{version}",
    operation_id = "download_plugin_version",
    tag = "plugins",
    summary = "Download one kept plugin version's bytes",
    description = "The component exactly as it was uploaded; `fallback-host export` writes it beside the project file.",
    params(PluginVersionPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The component's bytes.", body = WasmComponent, content_type = "application/wasm"),
        (status = 404, description = "No such version, webhook or project (`not_found`).", body = ErrorBody),
    ),
)]
/// The wasm bytes of one stored version, as uploaded: `export` writes them beside the project
/// file, and anyone holding the project's key could have uploaded them.
pub async fn download(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    let not_found = || ApiError::NotFound(format!("plugin version {version}"));
    let number: u32 = version.parse().map_err(|_| not_found())?;
    let versions = state.store.plugin_versions(&access.project, &webhook).await?;
    let stored = versions.versions.iter().find(|stored| stored.version == number).ok_or_else(not_found)?;
    let wasm = state.store.plugin_wasm(&stored.sha256).await?.ok_or_else(not_found)?;
    Ok(([(CONTENT_TYPE, "application/wasm")], wasm).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// A kept version of this webhook's plugin.
    version: u32,
}

#[utoipa::path(
    post,
    path = "/v1/projects/{project}/webhooks/{webhook}/plugin/rollback",
    operation_id = "rollback_plugin",
    tag = "plugins",
    summary = "Make a kept plugin version the active one",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = Rollback, example = json!(examples::rollback())),
    responses(
        (status = 200, description = "The versions, the chosen one active.", body = PluginVersions,
            example = json!(examples::plugin_versions())),
        (status = 404, description = "No such version, webhook or project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn rollback(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
    JsonBody(body): JsonBody<Rollback>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    state.store.activate_plugin_version(&access.project, &webhook, body.version).await.map_err(|error| {
        match error {
            crate::store::StoreError::NotFound(_) => {
                ApiError::NotFound(format!("plugin version {}", body.version))
            }
            other => other.into(),
        }
    })?;
    let versions = state.store.plugin_versions(&access.project, &webhook).await?;
    Ok(Json(serde_json::to_value(versions).map_err(ApiError::internal)?))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{project}/webhooks/{webhook}/plugin",
    operation_id = "detach_plugin",
    tag = "plugins",
    summary = "Detach the webhook's plugin",
    description = "The webhook runs without a plugin from now on; its versions are kept for a rollback.",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 204, description = "Detached."),
        (status = 404, description = "No plugin attached, or no such webhook or project (`not_found`).",
            body = ErrorBody),
    ),
)]
pub async fn detach(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    if !state.store.detach_plugin(&access.project, &webhook).await? {
        return Err(ApiError::NotFound(format!("plugin of webhook {webhook}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn require_webhook(state: &AppState, project: &str, webhook: &str) -> Result<(), ApiError> {
    match state.store.get_webhook(project, webhook).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("webhook {webhook}"))),
    }
}

/// A rejected upload says what is wrong with the file (a structural or compile limit is named
/// by its code); nothing was stored. A fault of the host (a panic, a dead compile worker) is
/// a 500, and only a full compile queue is `busy`.
fn upload_error(error: PluginError) -> ApiError {
    if error.is_upload_error() {
        let code = error.code();
        if code == "not_wasm" {
            ApiError::bad_request(code, error.to_string())
        } else {
            ApiError::unprocessable(code, error.to_string())
        }
    } else if matches!(error, PluginError::Busy) {
        ApiError::Busy
    } else {
        ApiError::internal(error)
    }
}
