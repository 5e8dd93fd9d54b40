//! Who is calling: the operator (admin token) or one project (its key). Extractors, so a
//! handler cannot forget to check.
//!
//! A project key has the form `fbk_<project>.<secret>`: the id lets us tell "a valid key of
//! another project" (404, the resource is not yours) from "no valid key" (401) without a lookup
//! by hash, and only the hash is stored.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{bearer_token, verify_token};
use crate::model::is_valid_id;

/// The operator. Required by the project administration routes.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token(parts)?;
        if verify_token(token, &state.admin.hash) { Ok(Admin) } else { Err(ApiError::Unauthorized) }
    }
}

/// Access to the project named by the `{project}` path segment, granted by that project's key
/// (or the operator's token).
#[derive(Debug)]
pub struct ProjectAccess {
    pub project: String,
}

impl FromRequestParts<AppState> for ProjectAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token(parts)?.to_string();
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("route".to_string()))?;
        let project = params
            .iter()
            .find(|(name, _)| *name == "project")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| ApiError::NotFound("route".to_string()))?;

        if verify_token(&token, &state.admin.hash) {
            ensure_id("project", &project)?;
            // The operator may act on any project, but only on one that exists.
            if state.catalog.project(&project).await?.is_none() {
                return Err(ApiError::NotFound(format!("project {project}")));
            }
            return Ok(ProjectAccess { project });
        }
        let key_project = key_project(&token).ok_or(ApiError::Unauthorized)?;
        let Some(view) = state.catalog.project(key_project).await? else {
            return Err(ApiError::Unauthorized);
        };
        if !view.key_matches(&token) {
            return Err(ApiError::Unauthorized);
        }
        // A genuine key, but for another project: that project's resources do not exist for it.
        if key_project != project {
            return Err(ApiError::NotFound(format!("project {project}")));
        }
        Ok(ProjectAccess { project })
    }
}

/// Mints a project key that carries its project id.
pub fn new_project_key(project: &str) -> String {
    crate::auth::generate_token(&format!("fbk_{project}."))
}

fn key_project(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("fbk_")?;
    let (project, _) = rest.split_once('.')?;
    is_valid_id(project).then_some(project)
}

fn token(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized)
}

/// Ids are checked before any lookup, so a malformed id is a 400 rather than a confusing 404.
pub fn ensure_id(what: &str, id: &str) -> Result<(), ApiError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_id",
            format!("invalid {what} id {id:?}: ids match [a-z0-9][a-z0-9_-]{{0,63}}"),
        ))
    }
}
