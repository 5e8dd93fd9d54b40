//! The end-user surface: chat, the webhook test console and conversation history.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::state::AppState;
use crate::pipeline::ChatAnswer;
use crate::send_id::SendId;

const MAX_MESSAGE_BYTES: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    send_id: String,
    message: String,
}

pub async fn chat(
    access: ProjectAccess,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ChatRequest>,
) -> Result<Json<ChatAnswer>, ApiError> {
    let send_id = send_id(body.send_id)?;
    check_message("message", &body.message)?;
    let started = std::time::Instant::now();
    let answer = state.pipeline.chat(&access.project, send_id.as_str(), &body.message).await?;
    state.metrics.record_chat(&access.project, answer.outcome, started.elapsed());
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    latest_message: String,
    #[serde(default = "default_test_send_id")]
    send_id: String,
}

fn default_test_send_id() -> String {
    "test-console".to_string()
}

pub async fn test_webhook(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, webhook)): Path<(String, String)>,
    JsonBody(body): JsonBody<TestRequest>,
) -> Result<Json<Value>, ApiError> {
    ensure_id("webhook", &webhook)?;
    let send_id = send_id(body.send_id)?;
    check_message("latest_message", &body.latest_message)?;
    let trace = state
        .pipeline
        .test_webhook(&access.project, &webhook, &body.latest_message, send_id.as_str())
        .await?;
    Ok(Json(serde_json::to_value(trace).map_err(ApiError::internal)?))
}

pub async fn conversation(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_, send_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    // `Path` has percent-decoded the segment: `whatsapp%3A%2B1415..` arrives as `whatsapp:+1415..`.
    let send_id = self::send_id(send_id)?;
    let turns = state
        .store
        .conversation(&access.project, send_id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {send_id:?}")))?;
    Ok(Json(serde_json::json!({ "send_id": send_id.as_str(), "turns": turns })))
}

/// A channel's send id, or 400 `invalid_send_id` saying what is wrong with it.
fn send_id(text: String) -> Result<SendId, ApiError> {
    SendId::parse(text).map_err(|error| ApiError::bad_request("invalid_send_id", error.to_string()))
}

fn check_message(field: &str, message: &str) -> Result<(), ApiError> {
    if message.trim().is_empty() {
        return Err(ApiError::unprocessable("invalid_message", format!("{field}: must not be blank")));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::unprocessable(
            "invalid_message",
            format!("{field}: at most {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    Ok(())
}
