//! Project administration (operator only): create with a fresh key, list, read, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Admin, ProjectAccess, ensure_id, new_project_key};
use super::body::JsonBody;
use super::error::ApiError;
use super::state::AppState;
use crate::auth::hash_token;
use crate::intent::DEFAULT_THRESHOLD;
use crate::store::NewProject;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    id: String,
    name: String,
    /// Intent similarity needed for a match, in (0, 1]; defaults to `intent::DEFAULT_THRESHOLD`.
    #[serde(default)]
    match_threshold: Option<f64>,
}

pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    ensure_id("project", &body.id)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable("invalid_name", "name: 1 to 200 characters"));
    }
    let threshold = body.match_threshold.unwrap_or(DEFAULT_THRESHOLD);
    check_threshold(threshold)?;
    let api_key = new_project_key(&body.id);
    let project = state
        .store
        .create_project(NewProject {
            id: body.id.clone(),
            name: name.to_string(),
            key_hash: hash_token(&api_key),
            match_threshold: threshold,
        })
        .await
        .map_err(|error| match error {
            crate::store::StoreError::Conflict(_) => {
                ApiError::Conflict(format!("project {} already exists", body.id))
            }
            other => other.into(),
        })?;
    let mut answer = serde_json::to_value(&project).map_err(ApiError::internal)?;
    answer["api_key"] = Value::String(api_key);
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let projects = state.store.list_projects().await?;
    Ok(Json(json!({ "projects": projects })))
}

pub async fn get(access: ProjectAccess, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let project = state
        .store
        .get_project(&access.project)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project {}", access.project)))?;
    Ok(Json(serde_json::to_value(project).map_err(ApiError::internal)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    match_threshold: f64,
}

/// Tunes how close a message must be to an intent's examples before it skips the fallback.
pub async fn update(
    access: ProjectAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<UpdateProject>,
) -> Result<Json<Value>, ApiError> {
    check_threshold(body.match_threshold)?;
    if !state.store.set_match_threshold(&access.project, body.match_threshold).await? {
        return Err(ApiError::NotFound(format!("project {}", access.project)));
    }
    get(access, State(state)).await
}

fn check_threshold(threshold: f64) -> Result<(), ApiError> {
    if threshold > 0.0 && threshold <= 1.0 {
        Ok(())
    } else {
        Err(ApiError::unprocessable("invalid_match_threshold", "match_threshold: a number in (0, 1]"))
    }
}

/// Issues a new key for the project; the old one stops working at once. Operator only, so a
/// leaked key cannot lock its owner out by rotating it.
pub async fn rotate_key(
    _: Admin,
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("project", &project)?;
    let api_key = new_project_key(&project);
    if !state.store.set_project_key_hash(&project, &hash_token(&api_key)).await? {
        return Err(ApiError::NotFound(format!("project {project}")));
    }
    tracing::info!(project, "project key rotated");
    Ok(Json(json!({ "id": project, "api_key": api_key })))
}

pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    ensure_id("project", &project)?;
    if !state.store.delete_project(&project).await? {
        return Err(ApiError::NotFound(format!("project {project}")));
    }
    state.pipeline.collect_plugin_artifacts(false).await;
    Ok(StatusCode::NO_CONTENT)
}
