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

use super::auth::{ProjectAccess, ensure_id};
use super::body::{JsonBody, WasmBody};
use super::error::ApiError;
use super::state::AppState;
use crate::plugin::PluginError;

pub async fn upload(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook)): Path<(String, String)>,
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

pub async fn versions(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    require_webhook(&state, &access.project, &webhook).await?;
    let versions = state.store.plugin_versions(&access.project, &webhook).await?;
    Ok(Json(serde_json::to_value(versions).map_err(ApiError::internal)?))
}

/// The wasm bytes of one stored version, as uploaded: `export` writes them beside the project
/// file, and anyone holding the project's key could have uploaded them.
pub async fn download(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook, version)): Path<(String, String, String)>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    version: u32,
}

pub async fn rollback(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook)): Path<(String, String)>,
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

pub async fn detach(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook)): Path<(String, String)>,
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
