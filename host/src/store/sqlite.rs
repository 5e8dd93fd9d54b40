//! `SqliteStore`: the [`Store`] on an embedded SQLite file, `fallback.db` in the data dir.
//!
//! Every method is one transaction on the blocking pool (see [`Pool`]), and every query that
//! takes a project filters by it, so one tenant's rows never answer another's call.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::secret_key::{SecretKey, load_or_create_secret_key};

use super::changes::Changes;
use super::clock::{now, unix_ms};
use super::codec::{from_json, to_json};
use super::group_commit::TurnWriter;
use super::pool::Pool;
use super::sealing::{ResealReport, Sealer};
use super::{
    ActivePlugin, Fallback, Intent, NewIntent, NewProject, PluginVersion, PluginVersions, Project,
    ProjectConfig, ProjectDump, Store, StoreCounts, StoreError, Turn, WebhookRecord,
};

/// The database file's name inside the data dir.
pub const DB_FILE: &str = "fallback.db";

pub struct SqliteStore {
    pool: Pool,
    sealer: Arc<Sealer>,
    changes: Changes,
    turns: TurnWriter,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens `data_dir/fallback.db` with the data dir's own secret key file (generated if
    /// absent): [`open_sealed`](Self::open_sealed) for callers without a configured key.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let (key, _) = load_or_create_secret_key(data_dir, None)?;
        Ok(Self::open_sealed(data_dir, &key, None)?.0)
    }

    /// Brings `data_dir/fallback.db` to the latest schema (creating it if absent) and closes it:
    /// `fallback-host migrate`. Blocking.
    pub fn migrate(data_dir: &Path) -> Result<(), StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        Pool::open(&data_dir.join(DB_FILE)).map(drop)
    }

    /// Opens `data_dir/fallback.db`, creating the directory and the database as needed,
    /// migrating the schema, and sealing every secret under `key` (plaintext rows of older
    /// versions, and rows sealed under `previous` during a key rotation). Fails, changing
    /// nothing, if a secret opens under neither key. Blocking: call it at startup.
    pub fn open_sealed(
        data_dir: &Path,
        key: &SecretKey,
        previous: Option<&SecretKey>,
    ) -> Result<(Self, ResealReport), StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_owned(), source })?;
        let pool = Pool::open(&data_dir.join(DB_FILE))?;
        let sealer = Arc::new(Sealer::new(key, previous));
        let report = pool.with_writer_blocking(|conn| sealer.reseal_all(conn))?;
        let turns = TurnWriter::start(pool.writer()).map_err(StoreError::WriterThread)?;
        Ok((Self { pool, sealer, changes: Changes::default(), turns }, report))
    }
}

fn project_exists(tx: &Transaction<'_>, project: &str) -> Result<bool, StoreError> {
    Ok(tx.query_row("SELECT 1 FROM projects WHERE id = ?1", [project], |_| Ok(())).optional()?.is_some())
}

fn require_project(tx: &Transaction<'_>, project: &str) -> Result<(), StoreError> {
    if project_exists(tx, project)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("project {project}")))
    }
}

fn webhook_exists(tx: &Transaction<'_>, project: &str, webhook: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row("SELECT 1 FROM webhooks WHERE project = ?1 AND id = ?2", [project, webhook], |_| Ok(()))
        .optional()?
        .is_some())
}

fn require_webhook(tx: &Transaction<'_>, project: &str, webhook: &str) -> Result<(), StoreError> {
    if webhook_exists(tx, project, webhook)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("webhook {project}/{webhook}")))
    }
}

/// Drops plugin bytes no version points at any more, so deletes give the space back.
fn collect_orphan_blobs(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM plugin_blobs WHERE NOT EXISTS \
         (SELECT 1 FROM plugin_versions v WHERE v.sha256 = plugin_blobs.sha256)",
        [],
    )?;
    Ok(())
}

/// Keeps the webhook's newest `keep` versions and its active one, deleting older versions
/// and then the bytes no version uses any more.
fn prune_plugin_versions(
    tx: &Transaction<'_>,
    project: &str,
    webhook: &str,
    keep: u32,
) -> Result<(), StoreError> {
    let pruned = tx.execute(
        "DELETE FROM plugin_versions WHERE project = ?1 AND webhook = ?2 \
           AND version NOT IN (SELECT version FROM plugin_versions \
                               WHERE project = ?1 AND webhook = ?2 ORDER BY version DESC LIMIT ?3) \
           AND version IS NOT (SELECT active_plugin FROM webhooks WHERE project = ?1 AND id = ?2)",
        params![project, webhook, keep],
    )?;
    if pruned > 0 {
        collect_orphan_blobs(tx)?;
    }
    Ok(())
}

const PROJECT_COLUMNS: &str = "id, name, match_threshold, created_at";

fn project_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project { id: row.get(0)?, name: row.get(1)?, match_threshold: row.get(2)?, created_at: row.get(3)? })
}

/// An intent's columns as stored, before its JSON lists are decoded.
type IntentColumns = (String, String, String, String);

fn intent_columns(row: &Row<'_>) -> rusqlite::Result<IntentColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn intent_from((id, examples, responses, updated_at): IntentColumns) -> Result<Intent, StoreError> {
    Ok(Intent {
        id,
        examples: from_json(&examples, "intent examples")?,
        responses: from_json(&responses, "intent responses")?,
        updated_at,
    })
}

fn webhook_row(row: &Row<'_>) -> rusqlite::Result<WebhookRecord> {
    Ok(WebhookRecord { id: row.get(0)?, spec: row.get(1)?, updated_at: row.get(2)? })
}

fn plugin_version_row(row: &Row<'_>) -> rusqlite::Result<PluginVersion> {
    Ok(PluginVersion {
        version: row.get(0)?,
        sha256: row.get(1)?,
        size: row.get(2)?,
        uploaded_at: row.get(3)?,
    })
}

fn active_plugin_row(row: &Row<'_>) -> rusqlite::Result<ActivePlugin> {
    Ok(ActivePlugin { version: row.get(0)?, sha256: row.get(1)?, wasm: row.get(2)? })
}

/// A turn's columns as stored, before its replies are decoded.
type TurnColumns = (String, String, String, Option<String>, bool, String);

pub(super) fn turn_from(
    (at, message, replies, intent, fallback, outcome): TurnColumns,
) -> Result<Turn, StoreError> {
    Ok(Turn { at, message, replies: from_json(&replies, "turn replies")?, intent, fallback, outcome })
}

pub(super) fn read_project(tx: &Transaction<'_>, id: &str) -> Result<Option<Project>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"))?
        .query_row([id], project_row)
        .optional()?)
}

pub(super) fn read_key_hash(tx: &Transaction<'_>, id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT key_hash FROM projects WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?)
}

pub(super) fn read_intents(tx: &Transaction<'_>, project: &str) -> Result<Vec<Intent>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, examples, responses, updated_at FROM intents WHERE project = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project], intent_columns)?;
    rows.map(|row| intent_from(row?)).collect()
}

pub(super) fn read_fallback(tx: &Transaction<'_>, project: &str) -> Result<Option<Fallback>, StoreError> {
    let row = tx
        .prepare_cached("SELECT text, webhook FROM fallbacks WHERE project = ?1")?
        .query_row([project], |row| Ok((row.get::<_, Option<String>>(0)?, row.get::<_, Option<String>>(1)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((Some(text), None)) => Ok(Some(Fallback::Text(text))),
        Some((None, Some(webhook))) => Ok(Some(Fallback::Webhook(webhook))),
        Some(_) => Err(StoreError::Corrupt(format!(
            "fallback of project {project} is not exactly one of text and webhook"
        ))),
    }
}

pub(super) fn read_secrets(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    project: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT name, value, sealed FROM secrets WHERE project = ?1")?;
    let rows = stmt.query_map([project], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<Vec<u8>>>(2)?))
    })?;
    let mut secrets = BTreeMap::new();
    for row in rows {
        let (name, value, sealed) = row?;
        // An unsealed row exists only between the migration and the open-time pass.
        let value = match sealed {
            Some(sealed) => sealer.open(project, &name, &sealed)?,
            None => value,
        };
        secrets.insert(name, value);
    }
    Ok(secrets)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(&self, project: NewProject) -> Result<Project, StoreError> {
        let changed = project.id.clone();
        self.pool
            .write(move |tx| {
                if project_exists(tx, &project.id)? {
                    return Err(StoreError::Conflict(format!("project {}", project.id)));
                }
                let created_at = now()?;
                tx.execute(
                    "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![project.id, project.name, project.key_hash, project.match_threshold, created_at],
                )?;
                Ok(Project {
                    id: project.id,
                    name: project.name,
                    match_threshold: project.match_threshold,
                    created_at,
                })
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        self.pool
            .read(|tx| {
                let mut stmt = tx.prepare(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id"))?;
                let rows = stmt.query_map([], project_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let id = id.to_owned();
        self.pool.read(move |tx| read_project(tx, &id)).await
    }

    async fn delete_project(&self, id: &str) -> Result<bool, StoreError> {
        let changed = id.to_owned();
        let id = id.to_owned();
        self.pool
            .write(move |tx| {
                let deleted = tx.execute("DELETE FROM projects WHERE id = ?1", [&id])?;
                collect_orphan_blobs(tx)?;
                Ok(deleted > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn set_match_threshold(&self, id: &str, threshold: f64) -> Result<bool, StoreError> {
        let changed = id.to_owned();
        let id = id.to_owned();
        self.pool
            .write(move |tx| {
                let updated = tx.execute(
                    "UPDATE projects SET match_threshold = ?2 WHERE id = ?1",
                    params![id, threshold],
                )?;
                Ok(updated > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn set_project_key_hash(&self, id: &str, key_hash: &str) -> Result<bool, StoreError> {
        let changed = id.to_owned();
        let (id, key_hash) = (id.to_owned(), key_hash.to_owned());
        self.pool
            .write(move |tx| {
                let updated =
                    tx.execute("UPDATE projects SET key_hash = ?2 WHERE id = ?1", params![id, key_hash])?;
                Ok(updated > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn put_intent(&self, project: &str, intent: NewIntent) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let project = project.to_owned();
        self.pool
            .write(move |tx| {
                require_project(tx, &project)?;
                let existed = tx
                    .query_row(
                        "SELECT 1 FROM intents WHERE project = ?1 AND id = ?2",
                        [&project, &intent.id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                tx.execute(
                    "INSERT INTO intents (project, id, examples, responses, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (project, id) DO UPDATE SET examples = excluded.examples, \
                     responses = excluded.responses, updated_at = excluded.updated_at",
                    params![
                        project,
                        intent.id,
                        to_json(&intent.examples, "intent examples")?,
                        to_json(&intent.responses, "intent responses")?,
                        now()?
                    ],
                )?;
                Ok(!existed)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn list_intents(&self, project: &str) -> Result<Vec<Intent>, StoreError> {
        let project = project.to_owned();
        self.pool.read(move |tx| read_intents(tx, &project)).await
    }

    async fn get_intent(&self, project: &str, id: &str) -> Result<Option<Intent>, StoreError> {
        let (project, id) = (project.to_owned(), id.to_owned());
        self.pool
            .read(move |tx| {
                tx.query_row(
                    "SELECT id, examples, responses, updated_at FROM intents \
                     WHERE project = ?1 AND id = ?2",
                    [&project, &id],
                    intent_columns,
                )
                .optional()?
                .map(intent_from)
                .transpose()
            })
            .await
    }

    async fn delete_intent(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, id) = (project.to_owned(), id.to_owned());
        self.pool
            .write(move |tx| {
                let deleted =
                    tx.execute("DELETE FROM intents WHERE project = ?1 AND id = ?2", [&project, &id])?;
                Ok(deleted > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn put_webhook(&self, project: &str, id: &str, spec_json: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, id, spec) = (project.to_owned(), id.to_owned(), spec_json.to_owned());
        self.pool
            .write(move |tx| {
                require_project(tx, &project)?;
                let existed = webhook_exists(tx, &project, &id)?;
                // An upsert, not INSERT OR REPLACE: replacing would delete the row and cascade
                // away the webhook's plugin versions.
                tx.execute(
                    "INSERT INTO webhooks (project, id, spec, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (project, id) DO UPDATE SET spec = excluded.spec, \
                     updated_at = excluded.updated_at",
                    params![project, id, spec, now()?],
                )?;
                Ok(!existed)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn get_webhook(&self, project: &str, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let (project, id) = (project.to_owned(), id.to_owned());
        self.pool
            .read(move |tx| {
                Ok(tx
                    .query_row(
                        "SELECT id, spec, updated_at FROM webhooks WHERE project = ?1 AND id = ?2",
                        [&project, &id],
                        webhook_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn list_webhooks(&self, project: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let project = project.to_owned();
        self.pool
            .read(move |tx| {
                let mut stmt =
                    tx.prepare("SELECT id, spec, updated_at FROM webhooks WHERE project = ?1 ORDER BY id")?;
                let rows = stmt.query_map([&project], webhook_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn delete_webhook(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, id) = (project.to_owned(), id.to_owned());
        self.pool
            .write(move |tx| {
                let is_fallback = tx
                    .query_row(
                        "SELECT 1 FROM fallbacks WHERE project = ?1 AND webhook = ?2",
                        [&project, &id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if is_fallback {
                    return Err(StoreError::InUse(format!(
                        "webhook {project}/{id} is the project's fallback"
                    )));
                }
                let deleted =
                    tx.execute("DELETE FROM webhooks WHERE project = ?1 AND id = ?2", [&project, &id])?;
                collect_orphan_blobs(tx)?;
                Ok(deleted > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn set_fallback(&self, project: &str, fallback: Fallback) -> Result<(), StoreError> {
        let changed = project.to_owned();
        let project = project.to_owned();
        self.pool
            .write(move |tx| {
                require_project(tx, &project)?;
                let (text, webhook) = match fallback {
                    Fallback::Text(text) => (Some(text), None),
                    Fallback::Webhook(webhook) => {
                        require_webhook(tx, &project, &webhook)?;
                        (None, Some(webhook))
                    }
                };
                tx.execute(
                    "INSERT INTO fallbacks (project, text, webhook) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (project) DO UPDATE SET text = excluded.text, \
                     webhook = excluded.webhook",
                    params![project, text, webhook],
                )?;
                Ok(())
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn get_fallback(&self, project: &str) -> Result<Option<Fallback>, StoreError> {
        let project = project.to_owned();
        self.pool.read(move |tx| read_fallback(tx, &project)).await
    }

    async fn put_secret(&self, project: &str, name: &str, value: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, name) = (project.to_owned(), name.to_owned());
        let sealed = self.sealer.seal(&project, &name, value)?;
        self.pool
            .write(move |tx| {
                require_project(tx, &project)?;
                let existed = tx
                    .query_row(
                        "SELECT 1 FROM secrets WHERE project = ?1 AND name = ?2",
                        [&project, &name],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                tx.execute(
                    "INSERT INTO secrets (project, name, value, sealed) VALUES (?1, ?2, '', ?3) \
                     ON CONFLICT (project, name) DO UPDATE SET value = '', sealed = excluded.sealed",
                    params![project, name, sealed],
                )?;
                Ok(!existed)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn list_secret_names(&self, project: &str) -> Result<Vec<String>, StoreError> {
        let project = project.to_owned();
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare("SELECT name FROM secrets WHERE project = ?1 ORDER BY name")?;
                let rows = stmt.query_map([&project], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, name) = (project.to_owned(), name.to_owned());
        self.pool
            .write(move |tx| {
                let deleted =
                    tx.execute("DELETE FROM secrets WHERE project = ?1 AND name = ?2", [&project, &name])?;
                Ok(deleted > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn project_config(&self, id: &str) -> Result<Option<ProjectConfig>, StoreError> {
        let id = id.to_owned();
        let sealer = Arc::clone(&self.sealer);
        self.pool
            .read(move |tx| {
                let Some(project) = read_project(tx, &id)? else { return Ok(None) };
                let key_hash = read_key_hash(tx, &id)?.unwrap_or_default();
                Ok(Some(ProjectConfig {
                    project,
                    key_hash,
                    fallback: read_fallback(tx, &id)?,
                    secrets: read_secrets(tx, &sealer, &id)?,
                    intents: read_intents(tx, &id)?,
                }))
            })
            .await
    }

    fn changes(&self) -> &Changes {
        &self.changes
    }

    async fn add_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        sha256: &str,
        wasm: Vec<u8>,
        keep_versions: u32,
    ) -> Result<PluginVersion, StoreError> {
        let changed = project.to_owned();
        let (project, webhook, sha256) = (project.to_owned(), webhook.to_owned(), sha256.to_owned());
        // Hash before taking the writer, so a 32 MiB upload does not hold up other writes.
        let wasm = super::digest::verified(sha256.clone(), wasm).await?;
        self.pool
            .write(move |tx| {
                require_webhook(tx, &project, &webhook)?;
                let next: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions \
                     WHERE project = ?1 AND webhook = ?2",
                    [&project, &webhook],
                    |row| row.get(0),
                )?;
                let version = u32::try_from(next).map_err(|_| {
                    StoreError::Corrupt(format!("plugin version {next} of {project}/{webhook}"))
                })?;
                let size = u64::try_from(wasm.len())
                    .map_err(|_| StoreError::Corrupt("plugin larger than u64".to_owned()))?;
                let uploaded_at = now()?;
                tx.execute(
                    "INSERT OR IGNORE INTO plugin_blobs (sha256, wasm) VALUES (?1, ?2)",
                    params![sha256, wasm],
                )?;
                tx.execute(
                    "INSERT INTO plugin_versions (project, webhook, version, sha256, size, uploaded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![project, webhook, version, sha256, size, uploaded_at],
                )?;
                tx.execute(
                    "UPDATE webhooks SET active_plugin = ?3 WHERE project = ?1 AND id = ?2",
                    params![project, webhook, version],
                )?;
                prune_plugin_versions(tx, &project, &webhook, keep_versions)?;
                Ok(PluginVersion { version, sha256, size, uploaded_at })
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn plugin_versions(&self, project: &str, webhook: &str) -> Result<PluginVersions, StoreError> {
        let (project, webhook) = (project.to_owned(), webhook.to_owned());
        self.pool
            .read(move |tx| {
                let active: Option<u32> = tx
                    .query_row(
                        "SELECT active_plugin FROM webhooks WHERE project = ?1 AND id = ?2",
                        [&project, &webhook],
                        |row| row.get(0),
                    )
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("webhook {project}/{webhook}")))?;
                let mut stmt = tx.prepare(
                    "SELECT version, sha256, size, uploaded_at FROM plugin_versions \
                     WHERE project = ?1 AND webhook = ?2 ORDER BY version",
                )?;
                let versions =
                    stmt.query_map([&project, &webhook], plugin_version_row)?.collect::<Result<_, _>>()?;
                Ok(PluginVersions { active, versions })
            })
            .await
    }

    async fn activate_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        version: u32,
    ) -> Result<(), StoreError> {
        let changed = project.to_owned();
        let (project, webhook) = (project.to_owned(), webhook.to_owned());
        self.pool
            .write(move |tx| {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM plugin_versions \
                         WHERE project = ?1 AND webhook = ?2 AND version = ?3",
                        params![project, webhook, version],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !exists {
                    return Err(StoreError::NotFound(format!(
                        "plugin version {project}/{webhook}/{version}"
                    )));
                }
                tx.execute(
                    "UPDATE webhooks SET active_plugin = ?3 WHERE project = ?1 AND id = ?2",
                    params![project, webhook, version],
                )?;
                Ok(())
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn detach_plugin(&self, project: &str, webhook: &str) -> Result<bool, StoreError> {
        let changed = project.to_owned();
        let (project, webhook) = (project.to_owned(), webhook.to_owned());
        self.pool
            .write(move |tx| {
                let detached = tx.execute(
                    "UPDATE webhooks SET active_plugin = NULL \
                     WHERE project = ?1 AND id = ?2 AND active_plugin IS NOT NULL",
                    [&project, &webhook],
                )?;
                Ok(detached > 0)
            })
            .await
            .inspect(|_| self.changes.project(&changed))
    }

    async fn active_plugin(&self, project: &str, webhook: &str) -> Result<Option<ActivePlugin>, StoreError> {
        let (project, webhook) = (project.to_owned(), webhook.to_owned());
        self.pool
            .read(move |tx| {
                Ok(tx
                    .query_row(
                        "SELECT v.version, v.sha256, b.wasm FROM webhooks w \
                         JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id \
                              AND v.version = w.active_plugin \
                         JOIN plugin_blobs b ON b.sha256 = v.sha256 \
                         WHERE w.project = ?1 AND w.id = ?2",
                        [&project, &webhook],
                        active_plugin_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn active_plugin_version(
        &self,
        project: &str,
        webhook: &str,
    ) -> Result<Option<PluginVersion>, StoreError> {
        let (project, webhook) = (project.to_owned(), webhook.to_owned());
        self.pool
            .read(move |tx| {
                Ok(tx
                    .query_row(
                        "SELECT v.version, v.sha256, v.size, v.uploaded_at FROM webhooks w \
                         JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id \
                              AND v.version = w.active_plugin \
                         WHERE w.project = ?1 AND w.id = ?2",
                        [&project, &webhook],
                        plugin_version_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn plugin_wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sha256 = sha256.to_owned();
        self.pool
            .read(move |tx| {
                Ok(tx
                    .query_row("SELECT wasm FROM plugin_blobs WHERE sha256 = ?1", [&sha256], |row| row.get(0))
                    .optional()?)
            })
            .await
    }

    async fn plugin_digests(&self) -> Result<Vec<String>, StoreError> {
        self.pool
            .read(|tx| {
                let mut stmt = tx.prepare("SELECT sha256 FROM plugin_blobs")?;
                let rows = stmt.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn all_active_plugins(&self) -> Result<Vec<(String, String, ActivePlugin)>, StoreError> {
        self.pool
            .read(|tx| {
                let mut stmt = tx.prepare(
                    "SELECT w.project, w.id, v.version, v.sha256, b.wasm FROM webhooks w \
                     JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id \
                          AND v.version = w.active_plugin \
                     JOIN plugin_blobs b ON b.sha256 = v.sha256 \
                     ORDER BY w.project, w.id",
                )?;
                let rows = stmt.query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        ActivePlugin { version: row.get(2)?, sha256: row.get(3)?, wasm: row.get(4)? },
                    ))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    async fn append_turn(
        &self,
        project: &str,
        send_id: &str,
        turn: Turn,
        max_turns: usize,
    ) -> Result<(), StoreError> {
        self.turns.append(project.to_owned(), send_id.to_owned(), turn, max_turns).await
    }

    async fn conversation(&self, project: &str, send_id: &str) -> Result<Option<Vec<Turn>>, StoreError> {
        let (project, send_id) = (project.to_owned(), send_id.to_owned());
        self.pool
            .read(move |tx| {
                let mut stmt = tx.prepare(
                    "SELECT at, message, replies, intent, fallback, outcome FROM turns \
                     WHERE project = ?1 AND send_id = ?2 ORDER BY seq",
                )?;
                let rows = stmt.query_map([&project, &send_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
                })?;
                let turns = rows.map(|row| turn_from(row?)).collect::<Result<Vec<_>, _>>()?;
                Ok((!turns.is_empty()).then_some(turns))
            })
            .await
    }

    async fn expire_conversations(
        &self,
        last_turn_before: SystemTime,
        max: usize,
    ) -> Result<usize, StoreError> {
        let cutoff = unix_ms(last_turn_before);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.pool
            .write(move |tx| {
                let expired: Vec<(String, String)> = {
                    let mut stmt = tx.prepare(
                        "SELECT project, send_id FROM conversations WHERE last_turn_ms < ?1 LIMIT ?2",
                    )?;
                    let rows = stmt.query_map(params![cutoff, max], |row| Ok((row.get(0)?, row.get(1)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                for (project, send_id) in &expired {
                    tx.execute("DELETE FROM turns WHERE project = ?1 AND send_id = ?2", [project, send_id])?;
                    tx.execute(
                        "DELETE FROM conversations WHERE project = ?1 AND send_id = ?2",
                        [project, send_id],
                    )?;
                }
                Ok(expired.len())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pool.read(|tx| Ok(tx.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.pool.read(super::sqlite_dump::counts).await
    }

    async fn export_project(&self, id: &str) -> Result<Option<ProjectDump>, StoreError> {
        let id = id.to_owned();
        let sealer = Arc::clone(&self.sealer);
        self.pool.read(move |tx| super::sqlite_dump::export(tx, &sealer, &id)).await
    }

    async fn import_project(&self, dump: ProjectDump) -> Result<(), StoreError> {
        let changed = dump.project.id.clone();
        let sealer = Arc::clone(&self.sealer);
        self.pool
            .write(move |tx| super::sqlite_dump::import(tx, &sealer, &dump))
            .await
            .inspect(|_| self.changes.project(&changed))
    }
}
