//! The values the store keeps and hands back: projects, intents, webhooks, fallback, plugins, turns.

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// A project as the API shows it. The key hash is deliberately absent: it never leaves the store
/// except in [`ProjectConfig`], for auth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub match_threshold: f64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// What creating a project needs. `key_hash` comes from [`crate::auth::hash_token`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub match_threshold: f64,
}

/// An intent as stored; `updated_at` is set by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Intent {
    pub id: String,
    pub examples: Vec<String>,
    pub responses: Vec<String>,
    pub updated_at: String,
}

/// What `put_intent` needs: an [`Intent`] without the timestamp the store owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    pub id: String,
    pub examples: Vec<String>,
    pub responses: Vec<String>,
}

/// A webhook as stored: its JSON text, validated by the caller before it is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookRecord {
    pub id: String,
    /// Serialized as the JSON object it holds, not as a string, so the API can return the record.
    #[serde(serialize_with = "embedded_json")]
    pub spec: String,
    pub updated_at: String,
}

fn embedded_json<S: Serializer>(spec: &str, serializer: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = serde_json::from_str(spec).map_err(serde::ser::Error::custom)?;
    value.serialize(serializer)
}

/// What a project answers when no intent matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Fallback {
    /// `{"text": "..."}`: a fixed answer.
    Text(String),
    /// `{"webhook": "name"}`: call this webhook of the project.
    Webhook(String),
}

/// One uploaded plugin binary of a webhook. Versions count 1, 2, 3.. per webhook and are kept
/// after a newer upload so a bad release can be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginVersion {
    pub version: u32,
    pub sha256: String,
    pub size: u64,
    pub uploaded_at: String,
}

/// Every version of a webhook's plugin, oldest first, and which one runs (none once detached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginVersions {
    pub active: Option<u32>,
    pub versions: Vec<PluginVersion>,
}

/// The plugin a webhook runs, with its bytes, for the plugin runtime to compile (cached by sha256).
#[derive(Clone, PartialEq, Eq)]
pub struct ActivePlugin {
    pub version: u32,
    pub sha256: String,
    pub wasm: Vec<u8>,
}

impl std::fmt::Debug for ActivePlugin {
    /// Megabytes of wasm in a log line help nobody: show the size instead.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivePlugin")
            .field("version", &self.version)
            .field("sha256", &self.sha256)
            .field("size", &self.wasm.len())
            .finish()
    }
}

/// One exchange of a conversation: the user's message and what the bot answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Turn {
    /// RFC 3339, UTC; set by the caller, which knows when the message arrived.
    pub at: String,
    pub message: String,
    /// The replies as the chat endpoint returned them.
    #[schema(value_type = Vec<crate::model::Reply>)]
    pub replies: serde_json::Value,
    pub intent: Option<String>,
    pub fallback: bool,
    /// `matched`, `success` or `failure`.
    pub outcome: String,
}

/// Everything a chat needs of its project, read in one snapshot so the pieces agree: what the
/// in-memory catalog keeps per project. Webhooks are not in it: a project may have many, a chat
/// runs one, so they are read when first run.
#[derive(Clone)]
pub struct ProjectConfig {
    pub project: Project,
    /// For auth only: see [`Project`].
    pub key_hash: String,
    pub fallback: Option<Fallback>,
    /// Names to values, for `{secret.NAME}`.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Ordered by id.
    pub intents: Vec<Intent>,
}

impl std::fmt::Debug for ProjectConfig {
    /// The key hash and the secrets' values stay out of any log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectConfig")
            .field("project", &self.project)
            .field("fallback", &self.fallback)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("intents", &self.intents.len())
            .finish_non_exhaustive()
    }
}
