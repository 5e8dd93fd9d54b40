//! A project's intents: example utterances and the answers given when one matches.

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
use super::openapi::params::{IntentPath, ProjectPath};
use super::openapi::schemas::{ErrorBody, IntentList};
use super::state::AppState;
use crate::store::{Intent, NewIntent};

const MAX_ITEMS: usize = 1000;
const MAX_TEXT_CHARS: usize = 2000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutIntent {
    /// Utterances that mean this intent: 1 to 1000, each 1 to 2000 characters.
    #[schema(min_items = 1, max_items = 1000)]
    examples: Vec<String>,
    /// What the bot answers when a message matches: 1 to 1000, each 1 to 2000 characters.
    #[schema(min_items = 1, max_items = 1000)]
    responses: Vec<String>,
}

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/intents/{intent}",
    operation_id = "put_intent",
    tag = "intents",
    summary = "Create or replace an intent",
    params(IntentPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = PutIntent, example = json!(examples::put_intent())),
    responses(
        (status = 200, description = "The intent as stored.", body = Intent, example = json!(examples::intent())),
        (status = 422, description = "No examples or responses, too many, or a blank or too long one \
            (`invalid_intent`).", body = ErrorBody),
    ),
)]
pub async fn put(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, intent)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutIntent>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("intent", &intent)?;
    check_texts("examples", &body.examples)?;
    check_texts("responses", &body.responses)?;
    let saved = NewIntent { id: intent.clone(), examples: body.examples, responses: body.responses };
    state.store.put_intent(&access.project, saved).await?;
    stored(&state, &access.project, &intent).await
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/intents",
    operation_id = "list_intents",
    tag = "intents",
    summary = "List a project's intents",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses((status = 200, description = "The intents, by id.", body = IntentList, example = json!(examples::intents()))),
)]
pub async fn list(access: ProjectAccess, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let intents = state.store.list_intents(&access.project).await?;
    Ok(Json(json!({ "intents": intents })))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/intents/{intent}",
    operation_id = "get_intent",
    tag = "intents",
    summary = "Read an intent",
    params(IntentPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The intent.", body = Intent, example = json!(examples::intent())),
        (status = 404, description = "No such intent, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn get(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, intent)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("intent", &intent)?;
    stored(&state, &access.project, &intent).await
}

async fn stored(state: &AppState, project: &str, intent: &str) -> Result<Json<Value>, ApiError> {
    let stored = state
        .store
        .get_intent(project, intent)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("intent {intent}")))?;
    Ok(Json(serde_json::to_value(stored).map_err(ApiError::internal)?))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{project}/intents/{intent}",
    operation_id = "delete_intent",
    tag = "intents",
    summary = "Delete an intent",
    params(IntentPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such intent, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn delete(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, intent)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    ensure_id("intent", &intent)?;
    if !state.store.delete_intent(&access.project, &intent).await? {
        return Err(ApiError::NotFound(format!("intent {intent}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn check_texts(field: &str, texts: &[String]) -> Result<(), ApiError> {
    if texts.is_empty() || texts.len() > MAX_ITEMS {
        return Err(ApiError::unprocessable(
            "invalid_intent",
            format!("{field}: between 1 and {MAX_ITEMS} entries"),
        ));
    }
    for (index, text) in texts.iter().enumerate() {
        let chars = text.trim().chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(ApiError::unprocessable(
                "invalid_intent",
                format!("{field}[{index}]: 1 to {MAX_TEXT_CHARS} characters, not blank"),
            ));
        }
    }
    Ok(())
}
