//! One project with everything it owns, as a backend reads it out and another writes it in
//! (`db copy`), and the row counts that prove a copy complete.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Fallback, Intent, PluginVersion, Project, Turn, WebhookRecord};

/// Everything stored of one project, with stored times, version numbers and sequence numbers
/// kept as they are, so the copy answers exactly as the original did.
#[derive(Clone, PartialEq)]
pub struct ProjectDump {
    pub project: Project,
    pub key_hash: String,
    /// Ordered by id.
    pub intents: Vec<Intent>,
    /// Ordered by id.
    pub webhooks: Vec<WebhookDump>,
    /// The bytes of every plugin version above, by sha256 (shared blobs appear once).
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub fallback: Option<Fallback>,
    /// Plain values: the target seals them under its own key.
    pub secrets: BTreeMap<String, String>,
    /// Ordered by send id.
    pub conversations: Vec<ConversationDump>,
}

impl std::fmt::Debug for ProjectDump {
    /// Neither the key hash, the secrets' values nor megabytes of wasm belong in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectDump")
            .field("project", &self.project)
            .field("intents", &self.intents.len())
            .field("webhooks", &self.webhooks.len())
            .field("blobs", &self.blobs.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("conversations", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

/// A webhook with its plugin versions (oldest first) and which one runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDump {
    pub record: WebhookRecord,
    pub active_plugin: Option<u32>,
    pub versions: Vec<PluginVersion>,
}

/// A conversation's turns (oldest first, with their sequence numbers) and when it last spoke.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationDump {
    pub send_id: String,
    /// Unix time of the last turn, in milliseconds: what expiry reads.
    pub last_turn_ms: i64,
    pub turns: Vec<(i64, Turn)>,
}

/// How many rows of each kind a store holds: `db copy` compares both ends'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    pub projects: u64,
    pub intents: u64,
    pub webhooks: u64,
    pub plugin_versions: u64,
    pub plugin_blobs: u64,
    pub fallbacks: u64,
    pub secrets: u64,
    pub conversations: u64,
    pub turns: u64,
}

impl StoreCounts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for StoreCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} projects, {} intents, {} webhooks, {} plugin versions ({} binaries), {} fallbacks, \
             {} secrets, {} conversations, {} turns",
            self.projects,
            self.intents,
            self.webhooks,
            self.plugin_versions,
            self.plugin_blobs,
            self.fallbacks,
            self.secrets,
            self.conversations,
            self.turns
        )
    }
}
