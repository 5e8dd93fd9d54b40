//! `PgStore`: the [`Store`] on PostgreSQL, shared by any number of host nodes.
//!
//! Every method is one transaction on a pooled connection (or one statement, which PostgreSQL
//! runs as one), and every query that takes a project filters by it. Each write notifies the
//! other nodes (`listen`) in its transaction, so they hear of it exactly when it commits, and
//! publishes to this node's own [`Changes`] before it returns.

mod dump;
mod listen;
mod schema;
mod turns;
mod url;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use url::{DatabaseUrl, DatabaseUrlError};

use self::turns::{TurnRow, TurnWriter};
use super::changes::Changes;
use super::clock::{now, unix_ms};
use super::codec::{from_json, to_json};
use super::sealing::{ResealReport, Sealer};
use super::{
    ActivePlugin, Fallback, Intent, NewIntent, NewProject, PluginVersion, PluginVersions, Project,
    ProjectConfig, ProjectDump, Store, StoreCounts, StoreError, Turn, WebhookRecord,
};
use crate::secret_key::SecretKey;

/// Connections per node. Chats hold one only for their turn's one statement.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection, or for a new one to open, before failing with
/// `Unavailable` (503): when the database is down, chats fail fast instead of piling up.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// The `fallback_meta` row sealed under the secret key.
const KEY_CHECK: &str = "secret_key_check";
const KEY_CHECK_VALUE: &str = "fallback-host secret key check";

pub struct PgStore {
    pool: Pool,
    sealer: Arc<Sealer>,
    changes: Arc<Changes>,
    listener: tokio::task::JoinHandle<()>,
    turns: TurnWriter,
    url: DatabaseUrl,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl From<PoolError> for StoreError {
    /// Not getting a connection at all (the server down, refusing, or every connection busy
    /// past the wait) is unavailability, whatever the server said.
    fn from(error: PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// Unique and foreign-key violations name the caller's mistake (or a race with another node),
/// not the host's: they map to `Conflict` and `NotFound`.
fn sql_state(error: &StoreError) -> Option<&SqlState> {
    match error {
        StoreError::Postgres(error) => error.code(),
        _ => None,
    }
}

fn pg<T>(result: Result<T, tokio_postgres::Error>) -> Result<T, StoreError> {
    result.map_err(StoreError::Postgres)
}

fn version_of(value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("plugin version {value}")))
}

fn size_of(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("plugin size {value}")))
}

fn version_to_sql(version: u32) -> Result<i32, StoreError> {
    i32::try_from(version).map_err(|_| StoreError::Corrupt(format!("plugin version {version}")))
}

fn project_of(row: &tokio_postgres::Row) -> Project {
    Project { id: row.get(0), name: row.get(1), match_threshold: row.get(2), created_at: row.get(3) }
}

fn intent_of(row: &tokio_postgres::Row) -> Result<Intent, StoreError> {
    Ok(Intent {
        id: row.get(0),
        examples: from_json(row.get(1), "intent examples")?,
        responses: from_json(row.get(2), "intent responses")?,
        updated_at: row.get(3),
    })
}

fn plugin_version_of(row: &tokio_postgres::Row) -> Result<PluginVersion, StoreError> {
    Ok(PluginVersion {
        version: version_of(row.get(0))?,
        sha256: row.get(1),
        size: size_of(row.get(2))?,
        uploaded_at: row.get(3),
    })
}

fn turn_of(row: &tokio_postgres::Row) -> Result<Turn, StoreError> {
    Ok(Turn {
        at: row.get(0),
        message: row.get(1),
        replies: from_json(row.get(2), "turn replies")?,
        intent: row.get(3),
        fallback: row.get(4),
        outcome: row.get(5),
    })
}

fn fallback_of(project: &str, text: Option<String>, webhook: Option<String>) -> Result<Fallback, StoreError> {
    match (text, webhook) {
        (Some(text), None) => Ok(Fallback::Text(text)),
        (None, Some(webhook)) => Ok(Fallback::Webhook(webhook)),
        _ => Err(StoreError::Corrupt(format!(
            "fallback of project {project} is not exactly one of text and webhook"
        ))),
    }
}

/// A read-only transaction whose queries all see one snapshot, as SQLite's read transaction
/// gives: the pieces of a project read together agree.
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    pg(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await)
}

/// Tells every node (this one included) that `project` changed, when the transaction commits.
async fn notify(client: &impl GenericClient, project: &str) -> Result<(), StoreError> {
    pg(client.execute("SELECT pg_notify($1, $2)", &[&listen::CHANNEL, &project]).await)?;
    Ok(())
}

async fn project_exists(client: &impl GenericClient, project: &str) -> Result<bool, StoreError> {
    Ok(pg(client.query_opt("SELECT 1 FROM projects WHERE id = $1", &[&project]).await)?.is_some())
}

async fn require_project(client: &impl GenericClient, project: &str) -> Result<(), StoreError> {
    if project_exists(client, project).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("project {project}")))
    }
}

/// Locks the webhook's row for the transaction: plugin uploads, activations and deletes of one
/// webhook queue on it, whichever node runs them.
async fn lock_webhook(
    client: &impl GenericClient,
    project: &str,
    webhook: &str,
) -> Result<Option<Option<i32>>, StoreError> {
    let row = pg(client
        .query_opt(
            "SELECT active_plugin FROM webhooks WHERE project = $1 AND id = $2 FOR UPDATE",
            &[&project, &webhook],
        )
        .await)?;
    Ok(row.map(|row| row.get(0)))
}

async fn collect_orphan_blobs(client: &impl GenericClient) -> Result<(), StoreError> {
    pg(client
        .execute(
            "DELETE FROM plugin_blobs b WHERE NOT EXISTS \
             (SELECT 1 FROM plugin_versions v WHERE v.sha256 = b.sha256)",
            &[],
        )
        .await)?;
    Ok(())
}

async fn read_secrets(
    client: &impl GenericClient,
    sealer: &Sealer,
    project: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let rows = pg(client.query("SELECT name, sealed FROM secrets WHERE project = $1", &[&project]).await)?;
    let mut secrets = BTreeMap::new();
    for row in rows {
        let name: String = row.get(0);
        let sealed: Vec<u8> = row.get(1);
        let value = sealer.open(project, &name, &sealed)?;
        secrets.insert(name, value);
    }
    Ok(secrets)
}

async fn read_intents(client: &impl GenericClient, project: &str) -> Result<Vec<Intent>, StoreError> {
    let rows = pg(client
        .query(
            "SELECT id, examples, responses, updated_at FROM intents WHERE project = $1 ORDER BY id",
            &[&project],
        )
        .await)?;
    rows.iter().map(intent_of).collect()
}

async fn read_fallback(client: &impl GenericClient, project: &str) -> Result<Option<Fallback>, StoreError> {
    let row =
        pg(client.query_opt("SELECT text, webhook FROM fallbacks WHERE project = $1", &[&project]).await)?;
    row.map(|row| fallback_of(project, row.get(0), row.get(1))).transpose()
}

impl PgStore {
    /// Connects, migrates the schema, checks the secret key against the database (a node with
    /// another key refuses to start) and re-seals secrets sealed under `previous`; then starts
    /// listening for other nodes' writes.
    ///
    /// `tls` is used only when the URL says `sslmode=require`.
    pub async fn connect(
        url: &DatabaseUrl,
        key: &SecretKey,
        previous: Option<&SecretKey>,
        tls: rustls::ClientConfig,
    ) -> Result<(Self, ResealReport), StoreError> {
        let tls = MakeRustlsConnect::new(tls);
        let manager = Manager::from_config(
            url.config().clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let sealer = Arc::new(Sealer::new(key, previous));
        let report = {
            let mut client = pool.get().await?;
            let applied = schema::apply(&mut client).await?;
            if applied > 0 {
                tracing::info!(applied, database = %url, "database schema migrated");
            }
            reseal_all(&mut client, &sealer).await?
        };
        let changes = Arc::new(Changes::default());
        let listener = tokio::spawn(listen::run(url.config().clone(), tls, Arc::clone(&changes)));
        let turns = TurnWriter::start(pool.clone());
        Ok((Self { pool, sealer, changes, listener, turns, url: url.clone() }, report))
    }

    /// Applies pending migrations and returns how many: `fallback-host migrate`.
    pub async fn migrate(url: &DatabaseUrl, tls: rustls::ClientConfig) -> Result<usize, StoreError> {
        let (mut client, connection) = pg(url.config().connect(MakeRustlsConnect::new(tls)).await)?;
        let driver = tokio::spawn(connection);
        let applied = schema::apply(&mut client).await;
        drop(client);
        let _ = driver.await;
        applied
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

/// Checks (or, on a fresh database, records) the key, and re-seals every secret the previous key
/// sealed, in one transaction; fails, changing nothing, on a value neither key opens.
async fn reseal_all(
    client: &mut deadpool_postgres::Object,
    sealer: &Sealer,
) -> Result<ResealReport, StoreError> {
    let tx = pg(client.transaction().await)?;
    // One node at a time: two nodes rotating at once would each re-seal the other's rows.
    pg(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&0x0fa1_1bac_0002_i64]).await)?;
    let mut report = ResealReport::default();
    match pg(tx.query_opt("SELECT value FROM fallback_meta WHERE name = $1", &[&KEY_CHECK]).await)? {
        Some(row) => {
            let sealed: Vec<u8> = row.get(0);
            if let (_, true) = sealer.open_any("", KEY_CHECK, &sealed)? {
                let resealed = sealer.seal("", KEY_CHECK, KEY_CHECK_VALUE)?;
                pg(tx
                    .execute("UPDATE fallback_meta SET value = $2 WHERE name = $1", &[&KEY_CHECK, &resealed])
                    .await)?;
            }
        }
        None => {
            let sealed = sealer.seal("", KEY_CHECK, KEY_CHECK_VALUE)?;
            pg(tx
                .execute(
                    "INSERT INTO fallback_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&KEY_CHECK, &sealed],
                )
                .await)?;
        }
    }
    let rows = pg(tx.query("SELECT project, name, sealed FROM secrets", &[]).await)?;
    for row in rows {
        let (project, name, sealed): (String, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
        if let (plaintext, true) = sealer.open_any(&project, &name, &sealed)? {
            let resealed = sealer.seal(&project, &name, &plaintext)?;
            pg(tx
                .execute(
                    "UPDATE secrets SET sealed = $3 WHERE project = $1 AND name = $2",
                    &[&project, &name, &resealed],
                )
                .await)?;
            report.rotated += 1;
        }
    }
    pg(tx.commit().await)?;
    Ok(report)
}

#[async_trait]
impl Store for PgStore {
    async fn create_project(&self, project: NewProject) -> Result<Project, StoreError> {
        let mut client = self.client().await?;
        let tx = pg(client.transaction().await)?;
        let created_at = now()?;
        let inserted = pg(tx
            .execute(
                "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                &[&project.id, &project.name, &project.key_hash, &project.match_threshold, &created_at],
            )
            .await)?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("project {}", project.id)));
        }
        notify(&tx, &project.id).await?;
        pg(tx.commit().await)?;
        self.changes.project(&project.id);
        Ok(Project {
            id: project.id,
            name: project.name,
            match_threshold: project.match_threshold,
            created_at,
        })
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let client = self.client().await?;
        let rows = pg(client
            .query("SELECT id, name, match_threshold, created_at FROM projects ORDER BY id", &[])
            .await)?;
        Ok(rows.iter().map(project_of).collect())
    }

    async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let client = self.client().await?;
        let row = pg(client
            .query_opt("SELECT id, name, match_threshold, created_at FROM projects WHERE id = $1", &[&id])
            .await)?;
        Ok(row.as_ref().map(project_of))
    }

    async fn project_config(&self, id: &str) -> Result<Option<ProjectConfig>, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let statement = pg(tx
            .prepare_cached(
                "SELECT id, name, match_threshold, created_at, key_hash FROM projects WHERE id = $1",
            )
            .await)?;
        let Some(row) = pg(tx.query_opt(&statement, &[&id]).await)? else { return Ok(None) };
        let config = ProjectConfig {
            project: project_of(&row),
            key_hash: row.get(4),
            fallback: read_fallback(&tx, id).await?,
            secrets: read_secrets(&tx, &self.sealer, id).await?,
            intents: read_intents(&tx, id).await?,
        };
        pg(tx.commit().await)?;
        Ok(Some(config))
    }

    fn changes(&self) -> &Changes {
        &self.changes
    }

    async fn delete_project(&self, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = pg(client.transaction().await)?;
        let deleted = pg(tx.execute("DELETE FROM projects WHERE id = $1", &[&id]).await)?;
        collect_orphan_blobs(&tx).await?;
        notify(&tx, id).await?;
        pg(tx.commit().await)?;
        self.changes.project(id);
        Ok(deleted > 0)
    }

    async fn set_match_threshold(&self, id: &str, threshold: f64) -> Result<bool, StoreError> {
        self.update_project(id, "UPDATE projects SET match_threshold = $2 WHERE id = $1", &threshold).await
    }

    async fn set_project_key_hash(&self, id: &str, key_hash: &str) -> Result<bool, StoreError> {
        self.update_project(id, "UPDATE projects SET key_hash = $2 WHERE id = $1", &key_hash).await
    }

    async fn put_intent(&self, project: &str, intent: NewIntent) -> Result<bool, StoreError> {
        let examples = to_json(&intent.examples, "intent examples")?;
        let responses = to_json(&intent.responses, "intent responses")?;
        let updated_at = now()?;
        self.upsert(
            project,
            "INSERT INTO intents (project, id, examples, responses, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (project, id) DO UPDATE SET examples = excluded.examples, \
             responses = excluded.responses, updated_at = excluded.updated_at RETURNING (xmax = 0)",
            &[&project, &intent.id, &examples, &responses, &updated_at],
        )
        .await
    }

    async fn list_intents(&self, project: &str) -> Result<Vec<Intent>, StoreError> {
        let client = self.client().await?;
        read_intents(&client, project).await
    }

    async fn get_intent(&self, project: &str, id: &str) -> Result<Option<Intent>, StoreError> {
        let client = self.client().await?;
        let row = pg(client
            .query_opt(
                "SELECT id, examples, responses, updated_at FROM intents WHERE project = $1 AND id = $2",
                &[&project, &id],
            )
            .await)?;
        row.as_ref().map(intent_of).transpose()
    }

    async fn delete_intent(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        self.delete_row(project, "DELETE FROM intents WHERE project = $1 AND id = $2", id).await
    }

    async fn put_webhook(&self, project: &str, id: &str, spec_json: &str) -> Result<bool, StoreError> {
        let updated_at = now()?;
        self.upsert(
            project,
            "INSERT INTO webhooks (project, id, spec, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project, id) DO UPDATE SET spec = excluded.spec, \
             updated_at = excluded.updated_at RETURNING (xmax = 0)",
            &[&project, &id, &spec_json, &updated_at],
        )
        .await
    }

    async fn get_webhook(&self, project: &str, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let client = self.client().await?;
        let row = pg(client
            .query_opt(
                "SELECT id, spec, updated_at FROM webhooks WHERE project = $1 AND id = $2",
                &[&project, &id],
            )
            .await)?;
        Ok(row.map(|row| WebhookRecord { id: row.get(0), spec: row.get(1), updated_at: row.get(2) }))
    }

    async fn list_webhooks(&self, project: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let client = self.client().await?;
        let rows = pg(client
            .query("SELECT id, spec, updated_at FROM webhooks WHERE project = $1 ORDER BY id", &[&project])
            .await)?;
        Ok(rows
            .iter()
            .map(|row| WebhookRecord { id: row.get(0), spec: row.get(1), updated_at: row.get(2) })
            .collect())
    }

    async fn delete_webhook(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        let in_use = || StoreError::InUse(format!("webhook {project}/{id} is the project's fallback"));
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            if lock_webhook(&tx, project, id).await?.is_none() {
                return Ok(false);
            }
            let is_fallback = pg(tx
                .query_opt("SELECT 1 FROM fallbacks WHERE project = $1 AND webhook = $2", &[&project, &id])
                .await)?
            .is_some();
            if is_fallback {
                return Err(in_use());
            }
            let deleted = pg(tx
                .execute("DELETE FROM webhooks WHERE project = $1 AND id = $2", &[&project, &id])
                .await)?;
            collect_orphan_blobs(&tx).await?;
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(deleted > 0)
        }
        .await;
        match result {
            // A fallback set on another node between our check and our delete.
            Err(error) if sql_state(&error) == Some(&SqlState::FOREIGN_KEY_VIOLATION) => Err(in_use()),
            other => self.finish(project, other),
        }
    }

    async fn set_fallback(&self, project: &str, fallback: Fallback) -> Result<(), StoreError> {
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            require_project(&tx, project).await?;
            let (text, webhook) = match &fallback {
                Fallback::Text(text) => (Some(text.as_str()), None),
                Fallback::Webhook(webhook) => {
                    if lock_webhook(&tx, project, webhook).await?.is_none() {
                        return Err(StoreError::NotFound(format!("webhook {project}/{webhook}")));
                    }
                    (None, Some(webhook.as_str()))
                }
            };
            pg(tx
                .execute(
                    "INSERT INTO fallbacks (project, text, webhook) VALUES ($1, $2, $3) \
                     ON CONFLICT (project) DO UPDATE SET text = excluded.text, webhook = excluded.webhook",
                    &[&project, &text, &webhook],
                )
                .await)?;
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(())
        }
        .await;
        self.finish(project, result)
    }

    async fn get_fallback(&self, project: &str) -> Result<Option<Fallback>, StoreError> {
        let client = self.client().await?;
        read_fallback(&client, project).await
    }

    async fn put_secret(&self, project: &str, name: &str, value: &str) -> Result<bool, StoreError> {
        let sealed = self.sealer.seal(project, name, value)?;
        self.upsert(
            project,
            "INSERT INTO secrets (project, name, sealed) VALUES ($1, $2, $3) \
             ON CONFLICT (project, name) DO UPDATE SET sealed = excluded.sealed RETURNING (xmax = 0)",
            &[&project, &name, &sealed],
        )
        .await
    }

    async fn list_secret_names(&self, project: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows =
            pg(client.query("SELECT name FROM secrets WHERE project = $1 ORDER BY name", &[&project]).await)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn delete_secret(&self, project: &str, name: &str) -> Result<bool, StoreError> {
        self.delete_row(project, "DELETE FROM secrets WHERE project = $1 AND name = $2", name).await
    }

    async fn add_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        sha256: &str,
        wasm: Vec<u8>,
        keep_versions: u32,
    ) -> Result<PluginVersion, StoreError> {
        let wasm = super::digest::verified(sha256.to_owned(), wasm).await?;
        let size =
            i64::try_from(wasm.len()).map_err(|_| StoreError::Corrupt("plugin too large".to_owned()))?;
        let keep = i64::from(keep_versions);
        let uploaded_at = now()?;
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            if lock_webhook(&tx, project, webhook).await?.is_none() {
                return Err(StoreError::NotFound(format!("webhook {project}/{webhook}")));
            }
            let next: i32 = pg(tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions WHERE project = $1 AND webhook = $2",
                    &[&project, &webhook],
                )
                .await)?
            .get(0);
            pg(tx
                .execute(
                    "INSERT INTO plugin_blobs (sha256, wasm) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                    &[&sha256, &wasm],
                )
                .await)?;
            pg(tx
                .execute(
                    "INSERT INTO plugin_versions (project, webhook, version, sha256, size, uploaded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&project, &webhook, &next, &sha256, &size, &uploaded_at],
                )
                .await)?;
            pg(tx
                .execute("UPDATE webhooks SET active_plugin = $3 WHERE project = $1 AND id = $2", &[&project, &webhook, &next])
                .await)?;
            let pruned = pg(tx
                .execute(
                    "DELETE FROM plugin_versions WHERE project = $1 AND webhook = $2 \
                       AND version NOT IN (SELECT version FROM plugin_versions \
                                           WHERE project = $1 AND webhook = $2 ORDER BY version DESC LIMIT $3) \
                       AND version IS DISTINCT FROM (SELECT active_plugin FROM webhooks WHERE project = $1 AND id = $2)",
                    &[&project, &webhook, &keep],
                )
                .await)?;
            if pruned > 0 {
                collect_orphan_blobs(&tx).await?;
            }
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(PluginVersion { version: version_of(next)?, sha256: sha256.to_owned(), size: size_of(size)?, uploaded_at })
        }
        .await;
        self.finish(project, result)
    }

    async fn plugin_versions(&self, project: &str, webhook: &str) -> Result<PluginVersions, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let active = pg(tx
            .query_opt(
                "SELECT active_plugin FROM webhooks WHERE project = $1 AND id = $2",
                &[&project, &webhook],
            )
            .await)?
        .ok_or_else(|| StoreError::NotFound(format!("webhook {project}/{webhook}")))?
        .get::<_, Option<i32>>(0)
        .map(version_of)
        .transpose()?;
        let rows = pg(tx
            .query(
                "SELECT version, sha256, size, uploaded_at FROM plugin_versions \
                 WHERE project = $1 AND webhook = $2 ORDER BY version",
                &[&project, &webhook],
            )
            .await)?;
        let versions = rows.iter().map(plugin_version_of).collect::<Result<_, _>>()?;
        pg(tx.commit().await)?;
        Ok(PluginVersions { active, versions })
    }

    async fn activate_plugin_version(
        &self,
        project: &str,
        webhook: &str,
        version: u32,
    ) -> Result<(), StoreError> {
        let version = version_to_sql(version)?;
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            let not_found = || StoreError::NotFound(format!("plugin version {project}/{webhook}/{version}"));
            if lock_webhook(&tx, project, webhook).await?.is_none() {
                return Err(not_found());
            }
            let exists = pg(tx
                .query_opt(
                    "SELECT 1 FROM plugin_versions WHERE project = $1 AND webhook = $2 AND version = $3",
                    &[&project, &webhook, &version],
                )
                .await)?
            .is_some();
            if !exists {
                return Err(not_found());
            }
            pg(tx
                .execute(
                    "UPDATE webhooks SET active_plugin = $3 WHERE project = $1 AND id = $2",
                    &[&project, &webhook, &version],
                )
                .await)?;
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(())
        }
        .await;
        self.finish(project, result)
    }

    async fn detach_plugin(&self, project: &str, webhook: &str) -> Result<bool, StoreError> {
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            let detached = pg(tx
                .execute(
                    "UPDATE webhooks SET active_plugin = NULL \
                     WHERE project = $1 AND id = $2 AND active_plugin IS NOT NULL",
                    &[&project, &webhook],
                )
                .await)?;
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(detached > 0)
        }
        .await;
        self.finish(project, result)
    }

    async fn active_plugin(&self, project: &str, webhook: &str) -> Result<Option<ActivePlugin>, StoreError> {
        let client = self.client().await?;
        let row = pg(client
            .query_opt(
                "SELECT v.version, v.sha256, b.wasm FROM webhooks w \
                 JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id AND v.version = w.active_plugin \
                 JOIN plugin_blobs b ON b.sha256 = v.sha256 \
                 WHERE w.project = $1 AND w.id = $2",
                &[&project, &webhook],
            )
            .await)?;
        row.map(|row| {
            Ok(ActivePlugin { version: version_of(row.get(0))?, sha256: row.get(1), wasm: row.get(2) })
        })
        .transpose()
    }

    async fn active_plugin_version(
        &self,
        project: &str,
        webhook: &str,
    ) -> Result<Option<PluginVersion>, StoreError> {
        let client = self.client().await?;
        let row = pg(client
            .query_opt(
                "SELECT v.version, v.sha256, v.size, v.uploaded_at FROM webhooks w \
                 JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id AND v.version = w.active_plugin \
                 WHERE w.project = $1 AND w.id = $2",
                &[&project, &webhook],
            )
            .await)?;
        row.as_ref().map(plugin_version_of).transpose()
    }

    async fn plugin_wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let row = pg(client.query_opt("SELECT wasm FROM plugin_blobs WHERE sha256 = $1", &[&sha256]).await)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn plugin_digests(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = pg(client.query("SELECT sha256 FROM plugin_blobs", &[]).await)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn all_active_plugins(&self) -> Result<Vec<(String, String, ActivePlugin)>, StoreError> {
        let client = self.client().await?;
        let rows = pg(client
            .query(
                "SELECT w.project, w.id, v.version, v.sha256, b.wasm FROM webhooks w \
                 JOIN plugin_versions v ON v.project = w.project AND v.webhook = w.id AND v.version = w.active_plugin \
                 JOIN plugin_blobs b ON b.sha256 = v.sha256 ORDER BY w.project, w.id",
                &[],
            )
            .await)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.get(0),
                    row.get(1),
                    ActivePlugin { version: version_of(row.get(2))?, sha256: row.get(3), wasm: row.get(4) },
                ))
            })
            .collect()
    }

    async fn append_turn(
        &self,
        project: &str,
        send_id: &str,
        turn: Turn,
        max_turns: usize,
    ) -> Result<(), StoreError> {
        let row = TurnRow {
            project: project.to_owned(),
            send_id: send_id.to_owned(),
            replies: to_json(&turn.replies, "turn replies")?,
            at: turn.at,
            message: turn.message,
            intent: turn.intent,
            fallback: turn.fallback,
            outcome: turn.outcome,
            max_turns: i64::try_from(max_turns).unwrap_or(i64::MAX),
        };
        self.turns.append(row).await
    }

    async fn conversation(&self, project: &str, send_id: &str) -> Result<Option<Vec<Turn>>, StoreError> {
        let client = self.client().await?;
        let statement = pg(client
            .prepare_cached(
                "SELECT at, message, replies, intent, fallback, outcome FROM turns \
                 WHERE project = $1 AND send_id = $2 ORDER BY seq",
            )
            .await)?;
        let rows = pg(client.query(&statement, &[&project, &send_id]).await)?;
        let turns = rows.iter().map(turn_of).collect::<Result<Vec<_>, _>>()?;
        Ok((!turns.is_empty()).then_some(turns))
    }

    async fn expire_conversations(
        &self,
        last_turn_before: SystemTime,
        max: usize,
    ) -> Result<usize, StoreError> {
        let cutoff = unix_ms(last_turn_before);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let client = self.client().await?;
        // SKIP LOCKED: conversations being appended to right now are not expiring; and two
        // nodes sweeping at once take different rows. Turns go by cascade.
        let deleted = pg(client
            .execute(
                "DELETE FROM conversations WHERE (project, send_id) IN ( \
                     SELECT project, send_id FROM conversations WHERE last_turn_ms < $1 \
                     LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&cutoff, &max],
            )
            .await)?;
        usize::try_from(deleted).map_err(|_| StoreError::Corrupt("deleted count".to_owned()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        pg(client.simple_query("").await)?;
        Ok(())
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let client = self.client().await?;
        dump::counts(&client).await
    }

    async fn export_project(&self, id: &str) -> Result<Option<ProjectDump>, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let dump = dump::export(&tx, &self.sealer, id).await?;
        pg(tx.commit().await)?;
        Ok(dump)
    }

    async fn import_project(&self, dump: ProjectDump) -> Result<(), StoreError> {
        let id = dump.project.id.clone();
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            dump::import(&tx, &self.sealer, &dump).await?;
            notify(&tx, &id).await?;
            pg(tx.commit().await)?;
            Ok(())
        }
        .await;
        self.finish(&id, result)
    }
}

impl PgStore {
    /// After a write's transaction: publish the change on success, and name a project deleted
    /// by a concurrent write (a foreign key failing) as `NotFound`, as SQLite's checks would.
    fn finish<T>(&self, project: &str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok(value) => {
                self.changes.project(project);
                Ok(value)
            }
            Err(error) if sql_state(&error) == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NotFound(format!("project {project}")))
            }
            Err(error) => Err(error),
        }
    }

    /// Creates or replaces one row of an existing project; `true` if created. `sql` is an upsert
    /// `RETURNING (xmax = 0)`: only a row the statement inserted, rather than updated, has it 0.
    async fn upsert(
        &self,
        project: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool, StoreError> {
        let result = async {
            let mut client = self.client().await?;
            let tx = pg(client.transaction().await)?;
            require_project(&tx, project).await?;
            let created: bool = pg(tx.query_one(sql, params).await)?.get(0);
            notify(&tx, project).await?;
            pg(tx.commit().await)?;
            Ok(created)
        }
        .await;
        self.finish(project, result)
    }

    async fn update_project(
        &self,
        id: &str,
        sql: &str,
        value: &(dyn ToSql + Sync),
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = pg(client.transaction().await)?;
        let updated = pg(tx.execute(sql, &[&id, value]).await)?;
        notify(&tx, id).await?;
        pg(tx.commit().await)?;
        self.changes.project(id);
        Ok(updated > 0)
    }

    async fn delete_row(&self, project: &str, sql: &str, key: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = pg(client.transaction().await)?;
        let deleted = pg(tx.execute(sql, &[&project, &key]).await)?;
        notify(&tx, project).await?;
        pg(tx.commit().await)?;
        self.changes.project(project);
        Ok(deleted > 0)
    }
}
