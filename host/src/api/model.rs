//! A project's trained intent model: whether it answers for the current intents or is being
//! made, and what it was trained on.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ProjectAccess;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::ProjectPath;
use super::openapi::schemas::ErrorBody;
use super::state::AppState;
use crate::classifier::ModelState;

/// The matcher a project's model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Matcher {
    /// TF-IDF word and character n-grams, multinomial logistic regression.
    Lexical,
}

/// What `GET /v1/projects/{project}/model` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelStatus {
    pub matcher: Matcher,
    /// `trained`: the current intents' model answers. `training`: it is being made, and the
    /// previous model (if any) answers meanwhile. `empty`: no intents. `too_large`: more intents
    /// or examples than a model is trained for.
    pub state: ModelState,
    /// Intents and examples the project has now.
    pub intents: usize,
    pub examples: usize,
    /// The confidence a message needs for its intent to answer.
    pub threshold: f64,
    /// Of the model answering now: when it was trained and in how long (`null` when it was read
    /// back from disk), its size in memory.
    pub trained_at: Option<String>,
    pub training_ms: Option<u64>,
    pub model_bytes: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/model",
    operation_id = "get_model",
    tag = "intents",
    summary = "The intent model's state",
    description = "A model is trained in the background whenever the intents change; until it is ready, \
        the previous one answers chats.",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The model's state.", body = ModelStatus, example = json!(examples::model_status())),
        (status = 404, description = "No such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn get(
    access: ProjectAccess,
    State(state): State<AppState>,
) -> Result<Json<ModelStatus>, ApiError> {
    let view = state.pipeline.refresh_model(&access.project).await?;
    let models = state.pipeline.models();
    let intents = &view.intents;
    let current = models.current(&access.project);
    Ok(Json(ModelStatus {
        matcher: Matcher::Lexical,
        state: models.state(&access.project, &intents.training, &intents.digest),
        intents: intents.training.intents().len(),
        examples: intents.training.examples(),
        threshold: view.project.match_threshold,
        trained_at: current.as_ref().map(|trained| trained.trained_at.clone()),
        training_ms: current.as_ref().and_then(|trained| trained.training_ms),
        model_bytes: current.as_ref().map(|trained| trained.model.approx_bytes()),
    }))
}
