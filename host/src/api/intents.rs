//! A project's intents: example utterances and the answers given when one matches.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::{IntentPath, ProjectPath};
use super::openapi::schemas::{ErrorBody, IntentList};
use super::state::AppState;
use crate::classifier::models::{MAX_TRAINING_EXAMPLES, MAX_TRAINING_INTENTS};
use crate::store::{Intent, NewIntent};

const MAX_ITEMS: usize = 1000;
const MAX_TEXT_CHARS: usize = 2000;

/// An intent as `PUT …/intents/{i}` takes it, and as a project file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentBody {
    /// Utterances that mean this intent: 1 to 1000, each 1 to 2000 characters.
    #[schema(min_items = 1, max_items = 1000)]
    pub examples: Vec<String>,
    /// What the bot answers when a message matches: 1 to 1000, each 1 to 2000 characters.
    #[schema(min_items = 1, max_items = 1000)]
    pub responses: Vec<String>,
}

/// Why an intent is refused (422 `invalid_intent`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIntent {
    #[error("{field}: between 1 and {MAX_ITEMS} entries")]
    Count { field: &'static str },
    #[error("{field}[{index}]: 1 to {MAX_TEXT_CHARS} characters, not blank")]
    Text { field: &'static str, index: usize },
}

impl IntentBody {
    /// The API's checks, so a project file is refused before anything is written.
    pub fn check(&self) -> Result<(), InvalidIntent> {
        check_texts("examples", &self.examples)?;
        check_texts("responses", &self.responses)
    }
}

#[utoipa::path(
    put,
    path = "/v1/projects/{project}/intents/{intent}",
    operation_id = "put_intent",
    tag = "intents",
    summary = "Create or replace an intent",
    params(IntentPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = IntentBody, example = json!(examples::put_intent())),
    responses(
        (status = 200, description = "The intent as stored.", body = Intent, example = json!(examples::intent())),
        (status = 422, description = "No examples or responses, too many, or a blank or too long one \
            (`invalid_intent`); the project would have more intents or examples than a model is trained \
            for (`too_many_intents`).", body = ErrorBody),
    ),
)]
pub async fn put(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, intent)): Path<(String, String)>,
    JsonBody(body): JsonBody<IntentBody>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("intent", &intent)?;
    body.check().map_err(|error| ApiError::unprocessable("invalid_intent", error.to_string()))?;
    check_totals(&state, &access.project, &intent, &body).await?;
    let saved = NewIntent { id: intent.clone(), examples: body.examples, responses: body.responses };
    state.store.put_intent(&access.project, saved).await?;
    state.pipeline.refresh_model(&access.project).await?;
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
    state.pipeline.refresh_model(&access.project).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses an intent that would take the project past what a model is trained on, so a tenant
/// cannot make training (and its memory) grow without bound.
async fn check_totals(state: &AppState, project: &str, id: &str, body: &IntentBody) -> Result<(), ApiError> {
    let view = state.pipeline.view(project).await?;
    let others = view.intents.training.intents().iter().filter(|(other, _)| other != id);
    let (intents, examples) = others.fold((1, body.examples.len()), |(intents, examples), (_, more)| {
        (intents + 1, examples + more.len())
    });
    if intents > MAX_TRAINING_INTENTS || examples > MAX_TRAINING_EXAMPLES {
        return Err(ApiError::unprocessable(
            "too_many_intents",
            format!(
                "a project holds at most {MAX_TRAINING_INTENTS} intents and {MAX_TRAINING_EXAMPLES} examples in all; \
                 this would make {intents} and {examples}"
            ),
        ));
    }
    Ok(())
}

fn check_texts(field: &'static str, texts: &[String]) -> Result<(), InvalidIntent> {
    if texts.is_empty() || texts.len() > MAX_ITEMS {
        return Err(InvalidIntent::Count { field });
    }
    for (index, text) in texts.iter().enumerate() {
        let chars = text.trim().chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(InvalidIntent::Text { field, index });
        }
    }
    Ok(())
}
