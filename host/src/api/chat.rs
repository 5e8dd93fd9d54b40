//! The end-user surface: chat, the webhook test console and conversation history.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{ProjectAccess, ensure_id};
use super::body::JsonBody;
use super::error::ApiError;
use super::openapi::examples;
use super::openapi::params::{ConversationPath, ProjectPath, WebhookPath};
use super::openapi::schemas::{Conversation, ErrorBody};
use super::state::AppState;
use crate::pipeline::{ChatAnswer, WebhookTrace};
use crate::send_id::SendId;

const MAX_MESSAGE_BYTES: usize = 16 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The conversation, as the channel names it: 1 to 256 bytes of UTF-8, no control characters.
    #[schema(min_length = 1)]
    send_id: String,
    /// The user's message: not blank, at most 16 KiB.
    #[schema(min_length = 1)]
    message: String,
}

#[utoipa::path(
    post,
    path = "/v1/projects/{project}/chat",
    operation_id = "chat",
    tag = "chat",
    summary = "Answer a user's message",
    description = "The best intent answers when its confidence reaches the project's `match_threshold`; \
        otherwise the fallback does (a text, or a webhook and its plugin). A webhook that fails answers its \
        failure text with outcome `failure`, still 200 (so does a project with no fallback set). The turn \
        is kept in the conversation.",
    params(ProjectPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = ChatRequest, example = json!(examples::chat())),
    responses(
        (status = 200, description = "The bot's answer.", body = ChatAnswer, example = json!(examples::chat_answer())),
        (status = 400, description = "An invalid send id (`invalid_send_id`), or a body that is not the \
            request's JSON (`malformed_json`, `invalid_body`).", body = ErrorBody),
        (status = 422, description = "A blank message or one over 16 KiB (`invalid_message`).", body = ErrorBody),
        (status = 429, description = "Over the project's `chat_rate_per_second` (`rate_limited`).", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The message to run the webhook with: not blank, at most 16 KiB.
    #[schema(min_length = 1)]
    latest_message: String,
    /// `{send_id}` for the templates.
    #[serde(default = "default_test_send_id")]
    #[schema(default = "test-console", min_length = 1)]
    send_id: String,
}

fn default_test_send_id() -> String {
    "test-console".to_string()
}

#[utoipa::path(
    post,
    path = "/v1/projects/{project}/webhooks/{webhook}/test",
    operation_id = "test_webhook",
    tag = "webhooks",
    summary = "Run a webhook and show every step",
    description = "The test console: the request as sent (secrets as `{secret.NAME}`), the upstream's status, \
        headers and body (capped), the variables, the plugin's version and log lines, the replies, the \
        outcome, the error if any (its stage and code), and each step's time. Nothing is kept.",
    params(WebhookPath),
    security(("project_key" = []), ("admin_token" = [])),
    request_body(content = TestRequest, example = json!(examples::test_webhook())),
    responses(
        (status = 200, description = "What happened, step by step; a failed step is in `error`.",
            body = WebhookTrace, example = json!(examples::trace())),
        (status = 400, description = "An invalid send id (`invalid_send_id`) or id (`invalid_id`), or a body \
            that is not the request's JSON (`malformed_json`, `invalid_body`).", body = ErrorBody),
        (status = 404, description = "No such webhook, or no such project (`not_found`).", body = ErrorBody),
        (status = 422, description = "A blank message or one over 16 KiB (`invalid_message`).", body = ErrorBody),
        (status = 429, description = "Over the project's `chat_rate_per_second` (`rate_limited`).", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
pub async fn test_webhook(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, webhook)): Path<(String, String)>,
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

#[utoipa::path(
    get,
    path = "/v1/projects/{project}/conversations/{send_id}",
    operation_id = "get_conversation",
    tag = "chat",
    summary = "Read a conversation",
    description = "Its turns, oldest first; conversations are kept `conversation_retention_days` after their \
        last turn.",
    params(ConversationPath),
    security(("project_key" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "The turns.", body = Conversation, example = json!(examples::conversation())),
        (status = 400, description = "An invalid send id (`invalid_send_id`).", body = ErrorBody),
        (status = 404, description = "No such conversation, or no such project (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn conversation(
    access: ProjectAccess,
    State(state): State<AppState>,
    Path((_project, send_id)): Path<(String, String)>,
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
