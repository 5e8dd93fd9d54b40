//! The shapes of the answers that handlers build as JSON on the spot (a project with its new key,
//! the lists, the error body). Answers that are Rust types (`Project`, `Intent`, `ChatAnswer`, the
//! webhook trace…) carry their own `ToSchema`; the openapi test checks real answers against both.
//!
//! Documentation only: nothing constructs them.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use super::codes::ErrorCode;
use crate::store::{Intent, Project, Turn};
use crate::webhook::{BodySpec, ResponseSpec, WebhookLimits};

/// Every error: `{"error": {"code", "message"}}`, with the status the code names.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": {"code": "not_found", "message": "project demo not found"}}))]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    code: ErrorCode,
    /// For people: what is wrong and, where it helps, how to fix it.
    message: String,
    /// `invalid_webhook` only: each refused field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<Vec<FieldError>>,
}

/// One refused field of a webhook.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    /// The field's path, as `response.extract.reply` or `headers.Authorization`.
    field: String,
    message: String,
}

/// A new project, with its key: the only time the key is shown.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreated {
    id: String,
    name: String,
    match_threshold: f64,
    /// RFC 3339, UTC.
    created_at: String,
    /// The project's key (`fbk_<project>.<secret>`); only its hash is stored.
    api_key: String,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectList {
    projects: Vec<Project>,
}

/// A project's new key; the old one stopped working.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectKey {
    id: String,
    api_key: String,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentList {
    /// Ordered by id.
    intents: Vec<Intent>,
}

/// A webhook as saved: the definition as it was written (defaults filled in), with its id.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    id: String,
    method: String,
    url: String,
    headers: BTreeMap<String, String>,
    body: Option<BodySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    timeout_ms: Option<u64>,
    retries: u32,
    response: ResponseSpec,
    #[schema(value_type = Object)]
    plugin_config: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    limits: Option<WebhookLimits>,
}

/// The ids of the project's webhooks, in order.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookList {
    webhooks: Vec<String>,
}

/// The version a plugin upload became, now active.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginUploaded {
    version: u32,
    /// Hex sha256 of the wasm bytes.
    sha256: String,
    /// Bytes.
    size: u64,
}

/// A secret was stored; its value is never shown again.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretName {
    name: String,
}

/// The project's secrets, by name only.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretList {
    secrets: Vec<String>,
}

/// A conversation's turns, oldest first (at most `conversation_max_turns`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    send_id: String,
    turns: Vec<Turn>,
}

/// `/healthz`: the process is up.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[schema(pattern = "^ok$")]
    status: String,
}

/// `/readyz`: whether the store answers.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    status: ReadinessStatus,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessStatus {
    Ready,
    Unavailable,
}

/// A plugin upload's body: the component's bytes, as they are.
pub struct WasmComponent;

impl PartialSchema for WasmComponent {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .content_media_type("application/wasm")
            .description(Some("A WebAssembly component (`wasm32-wasip2`) of the `fallback:plugin` world."))
            .into()
    }
}

impl ToSchema for WasmComponent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WasmComponent")
    }
}
