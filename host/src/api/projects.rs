//! Project administration (operator only): create with a fresh key, list, read, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::{Admin, ProjectAccess, ensure_id, new_project_key};
use super::body::JsonBody;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::ProjectPath;
use super::openapi::schemas::{ErrorBody, ProjectCreated, ProjectKey, ProjectList};
use super::state::AppState;
use crate::auth::hash_token;
use crate::classifier::DEFAULT_THRESHOLD;
use crate::store::{NewProject, Project};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    id: String,
    /// 1 to 200 characters.
    name: String,
    /// The confidence (a probability) an intent needs to answer, in (0, 1]; below it the fallback fires.
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0, maximum = 1.0, default = json!(DEFAULT_THRESHOLD))]
    match_threshold: Option<f64>,
}

#[utoipa::path(
    post,
    path = "/v1/projects",
    operation_id = "create_project",
    tag = "projects",
    summary = "Create a project and its key",
    description = "The key is in this answer only; the host keeps its hash.",
    security(("admin_token" = [])),
    request_body(content = CreateProject, example = json!(examples::create_project())),
    responses(
        (status = 201, description = "Created, with the project's key.", body = ProjectCreated,
            example = json!(examples::project_created())),
        (status = 409, description = "A project with this id exists (`conflict`).", body = ErrorBody),
        (status = 422, description = "A blank or too long name (`invalid_name`), or a threshold outside (0, 1] \
            (`invalid_match_threshold`).", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/projects",
    operation_id = "list_projects",
    tag = "projects",
    summary = "List every project",
    security(("admin_token" = [])),
    responses((status = 200, description = "The projects, by id.", body = ProjectList, example = json!(examples::projects()))),
)]
pub async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let projects = state.store.list_projects().await?;
    Ok(Json(json!({ "projects": projects })))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}",
    operation_id = "get_project",
    tag = "projects",
    summary = "Read a project",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses((status = 200, description = "The project.", body = Project, example = json!(examples::project()))),
)]
pub async fn get(access: ProjectAccess, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let project = state
        .store
        .get_project(&access.project)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project {}", access.project)))?;
    Ok(Json(serde_json::to_value(project).map_err(ApiError::internal)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// The intent similarity needed for a match, in (0, 1].
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    match_threshold: f64,
}

/// Tunes how close a message must be to an intent's examples before it skips the fallback.
#[utoipa::path(
    patch,
    path = "/v1/projects/{project}",
    operation_id = "update_project",
    tag = "projects",
    summary = "Set a project's match threshold",
    description = "How close a message must be to an intent's examples to be answered by it rather than by the fallback.",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = UpdateProject, example = json!(examples::update_project())),
    responses(
        (status = 200, description = "The project as updated.", body = Project, example = json!(examples::project())),
        (status = 422, description = "A threshold outside (0, 1] (`invalid_match_threshold`).", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/projects/{project}/key",
    operation_id = "rotate_project_key",
    tag = "projects",
    summary = "Rotate a project's key",
    description = "The old key stops working at once, on every node.",
    params(ProjectPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The new key.", body = ProjectKey, example = json!(examples::project_key()))),
)]
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

#[utoipa::path(
    delete,
    path = "/v1/projects/{project}",
    operation_id = "delete_project",
    tag = "projects",
    summary = "Delete a project and everything it holds",
    params(ProjectPath),
    security(("admin_token" = [])),
    responses((status = 204, description = "Deleted.")),
)]
pub async fn delete(
    _: Admin,
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    ensure_id("project", &project)?;
    if !state.store.delete_project(&project).await? {
        return Err(ApiError::NotFound(format!("project {project}")));
    }
    state.pipeline.models().forget(&project);
    state.pipeline.collect_plugin_artifacts(false).await;
    Ok(StatusCode::NO_CONTENT)
}
