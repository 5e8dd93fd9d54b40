//! Persistence: the narrow async [`Store`] interface the API and pipeline use, and its two
//! backends: SQLite in the data dir (embedded, one node) and PostgreSQL (several nodes).
//!
//! Callers hold a [`SharedStore`] and never see SQL; both backends pass one test suite. Ids arrive already validated; every method taking a `project` sees only
//! that project's rows, and every change is one transaction (a failure changes nothing).

mod changes;
mod checkpointer;
mod clock;
mod codec;
mod copy;
mod digest;
mod dump;
mod error;
mod group_commit;
mod migrations;
mod pool;
mod postgres;
mod sealing;
mod sqlite;
mod sqlite_dump;
mod types;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod sealed_and_expiry_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;

pub use changes::{Change, ChangeListener, Changes};
pub use copy::{CopyError, copy};
pub use dump::{ConversationDump, ProjectDump, StoreCounts, WebhookDump};
pub use error::StoreError;
pub use postgres::{DatabaseUrl, DatabaseUrlError, PgStore};
pub use sealing::{ResealReport, SealError};
pub use sqlite::{DB_FILE, SqliteStore};
/// How a [`DatabaseUrl`] names its server.
pub use tokio_postgres::config::Host as PgHost;
pub use types::{
    ActivePlugin, Fallback, Intent, NewIntent, NewProject, PluginVersion, PluginVersions, Project,
    ProjectConfig, Turn, WebhookRecord,
};

/// The store as the server shares it between requests.
pub type SharedStore = Arc<dyn Store>;

/// Everything the host keeps. `bool` results say whether the thing existed (deletes, updates)
/// or was newly created (puts), so the API can pick 404/200/201 without a second query.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- projects ---

    /// `Conflict` if the id is taken.
    async fn create_project(&self, project: NewProject) -> Result<Project, StoreError>;
    /// Ordered by id.
    async fn list_projects(&self) -> Result<Vec<Project>, StoreError>;
    async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError>;
    /// Everything a chat needs of the project, in one snapshot; for the in-memory catalog.
    async fn project_config(&self, id: &str) -> Result<Option<ProjectConfig>, StoreError>;
    /// Who hears of committed writes: every write method publishes the project it changed
    /// before it returns.
    fn changes(&self) -> &Changes;
    /// Removes the project and everything of it (intents, webhooks, plugins, fallback, secrets,
    /// conversations). `false` if there was no such project.
    async fn delete_project(&self, id: &str) -> Result<bool, StoreError>;
    /// `false` if there is no such project.
    async fn set_match_threshold(&self, id: &str, threshold: f64) -> Result<bool, StoreError>;
    /// Replaces the project's key hash (key rotation); the old key stops working at once.
    /// `false` if there is no such project.
    async fn set_project_key_hash(&self, id: &str, key_hash: &str) -> Result<bool, StoreError>;

    // --- intents ---

    /// Creates or replaces; `true` if created. `NotFound` if the project is gone.
    async fn put_intent(&self, project: &str, intent: NewIntent) -> Result<bool, StoreError>;
    /// Ordered by id.
    async fn list_intents(&self, project: &str) -> Result<Vec<Intent>, StoreError>;
    async fn get_intent(&self, project: &str, id: &str) -> Result<Option<Intent>, StoreError>;
    async fn delete_intent(&self, project: &str, id: &str) -> Result<bool, StoreError>;

    // --- webhooks ---

    /// Creates or replaces the spec (its plugin versions are kept); `true` if created.
    /// `NotFound` if the project is gone.
    async fn put_webhook(&self, project: &str, id: &str, spec_json: &str) -> Result<bool, StoreError>;
    async fn get_webhook(&self, project: &str, id: &str) -> Result<Option<WebhookRecord>, StoreError>;
    /// Ordered by id.
    async fn list_webhooks(&self, project: &str) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Deletes the webhook and all its plugin versions. `InUse` (and nothing changed) while it
    /// is the project's fallback.
    async fn delete_webhook(&self, project: &str, id: &str) -> Result<bool, StoreError>;

    // --- fallback ---

    /// `NotFound` if the project, or the webhook a `Fallback::Webhook` names, does not exist;
    /// the previous fallback is then kept.
    async fn set_fallback(&self, project: &str, fallback: Fallback) -> Result<(), StoreError>;
    async fn get_fallback(&self, project: &str) -> Result<Option<Fallback>, StoreError>;

    // --- secrets: write-only through the API ---

    /// Creates or replaces; `true` if created. `NotFound` if the project is gone.
    async fn put_secret(&self, project: &str, name: &str, value: &str) -> Result<bool, StoreError>;
    /// Ordered by name.
    async fn list_secret_names(&self, project: &str) -> Result<Vec<String>, StoreError>;
    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool, StoreError>;

    // --- plugins ---

    /// Stores the bytes as the webhook's next version (1, 2, 3..) and makes it active, in one
    /// transaction. `sha256` is the lower-case hex digest of `wasm` (`DigestMismatch` if not);
    /// identical bytes are stored once. In the same transaction only the newest `keep_versions`
    /// versions are kept (the new, active one among them) and bytes no version uses any more
    /// are deleted. `NotFound` if the webhook does not exist.
    async fn add_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        sha256: &str,
        wasm: Vec<u8>,
        keep_versions: u32,
    ) -> Result<PluginVersion, StoreError>;
    /// Oldest first. `NotFound` if the webhook does not exist.
    async fn plugin_versions(&self, project: &str, webhook: &str) -> Result<PluginVersions, StoreError>;
    /// Rollback (or forward): make a kept version the active one. `NotFound` if that version
    /// (or the webhook) does not exist.
    async fn activate_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        version: u32,
    ) -> Result<(), StoreError>;
    /// The webhook runs without a plugin from now on; its versions are kept, so a later
    /// `activate_plugin_version` re-attaches one. `false` if no plugin was active.
    async fn detach_plugin(&self, project: &str, webhook: &str) -> Result<bool, StoreError>;
    async fn active_plugin(&self, project: &str, webhook: &str) -> Result<Option<ActivePlugin>, StoreError>;
    /// The active version without its bytes: a cheap check of whether a cached compiled
    /// component is still current (loading a 12 MiB plugin takes ~0.1 s).
    async fn active_plugin_version(
        &self,
        project: &str,
        webhook: &str,
    ) -> Result<Option<PluginVersion>, StoreError>;
    /// The bytes stored under this lower-case hex digest, by any project.
    async fn plugin_wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The digest of every plugin binary stored, so unused compiled artifacts can go.
    async fn plugin_digests(&self) -> Result<Vec<String>, StoreError>;
    /// Every active plugin as `(project, webhook, plugin)`, to warm caches at start. Loads all
    /// their bytes at once.
    async fn all_active_plugins(&self) -> Result<Vec<(String, String, ActivePlugin)>, StoreError>;

    // --- conversations ---

    /// Appends and keeps only the newest `max_turns` turns of the conversation.
    /// `NotFound` if the project is gone.
    async fn append_turn(
        &self,
        project: &str,
        send_id: &str,
        turn: Turn,
        max_turns: usize,
    ) -> Result<(), StoreError>;
    /// Oldest first; `None` if the conversation has no turns.
    async fn conversation(&self, project: &str, send_id: &str) -> Result<Option<Vec<Turn>>, StoreError>;
    /// Deletes at most `max` conversations (with their turns) whose last turn is older than
    /// `last_turn_before`, in one short transaction; answers how many. The sweeper calls it in a
    /// loop, so the writer is never held for long however many have expired.
    async fn expire_conversations(
        &self,
        last_turn_before: std::time::SystemTime,
        max: usize,
    ) -> Result<usize, StoreError>;

    // --- operations ---

    /// Answers `Ok` while the database does: what `/readyz` reports.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Rows of each kind, for `db copy` to verify what it copied.
    async fn counts(&self) -> Result<StoreCounts, StoreError>;
    /// The project and everything it owns, in one snapshot. `None` if there is no such project.
    async fn export_project(&self, id: &str) -> Result<Option<ProjectDump>, StoreError>;
    /// Writes an exported project in one transaction, keeping its times, versions and sequence
    /// numbers; secrets are sealed under this store's key. `Conflict` if the project exists.
    async fn import_project(&self, dump: ProjectDump) -> Result<(), StoreError>;
}
