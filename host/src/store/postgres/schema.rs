//! The PostgreSQL schema, as numbered migrations recorded in `fallback_schema`.
//!
//! All pending migrations run in one transaction under an advisory lock, so nodes starting
//! together apply each migration once, and a failure leaves the previous version intact.
//! Append new migrations; never edit a released one. The tables mirror the SQLite schema.

use super::super::StoreError;

/// Held for the migration transaction: any other node migrating waits for it.
const MIGRATION_LOCK: i64 = 0x0fa1_1bac_0001;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE projects (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        key_hash        TEXT NOT NULL,
        match_threshold DOUBLE PRECISION NOT NULL,
        created_at      TEXT NOT NULL
    );

    CREATE TABLE intents (
        project    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        id         TEXT NOT NULL,
        examples   TEXT NOT NULL, -- JSON array of strings
        responses  TEXT NOT NULL, -- JSON array of strings
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, id)
    );

    CREATE TABLE webhooks (
        project       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        id            TEXT NOT NULL,
        spec          TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        active_plugin INTEGER,
        PRIMARY KEY (project, id)
    );

    -- Plugin bytes by digest, shared by every version (of any project) with the same bytes.
    CREATE TABLE plugin_blobs (
        sha256 TEXT PRIMARY KEY,
        wasm   BYTEA NOT NULL
    );

    CREATE TABLE plugin_versions (
        project     TEXT NOT NULL,
        webhook     TEXT NOT NULL,
        version     INTEGER NOT NULL CHECK (version > 0),
        sha256      TEXT NOT NULL REFERENCES plugin_blobs(sha256),
        size        BIGINT NOT NULL CHECK (size >= 0),
        uploaded_at TEXT NOT NULL,
        PRIMARY KEY (project, webhook, version),
        FOREIGN KEY (project, webhook) REFERENCES webhooks(project, id) ON DELETE CASCADE
    );
    CREATE INDEX plugin_versions_by_sha256 ON plugin_versions(sha256);

    -- Exactly one of text and webhook; the foreign key keeps the fallback's webhook alive.
    CREATE TABLE fallbacks (
        project TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        text    TEXT,
        webhook TEXT,
        CHECK ((text IS NULL) <> (webhook IS NULL)),
        FOREIGN KEY (project, webhook) REFERENCES webhooks(project, id)
    );

    -- Sealed under the nodes' common secret key; see `sealing`.
    CREATE TABLE secrets (
        project TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        sealed  BYTEA NOT NULL,
        PRIMARY KEY (project, name)
    );

    -- last_seq numbers the conversation's turns: appending updates this row, so appends to one
    -- conversation from several nodes queue on its lock and get consecutive numbers.
    CREATE TABLE conversations (
        project      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        send_id      TEXT NOT NULL,
        last_turn_ms BIGINT NOT NULL,
        last_seq     BIGINT NOT NULL,
        PRIMARY KEY (project, send_id)
    );
    CREATE INDEX conversations_by_last_turn ON conversations(last_turn_ms);

    CREATE TABLE turns (
        project  TEXT NOT NULL,
        send_id  TEXT NOT NULL,
        seq      BIGINT NOT NULL,
        at       TEXT NOT NULL,
        message  TEXT NOT NULL,
        replies  TEXT NOT NULL, -- JSON
        intent   TEXT,
        fallback BOOLEAN NOT NULL,
        outcome  TEXT NOT NULL,
        PRIMARY KEY (project, send_id, seq),
        FOREIGN KEY (project, send_id) REFERENCES conversations(project, send_id) ON DELETE CASCADE
    );

    -- A value sealed under the secret key, so a node started with another key refuses to start
    -- even before any project has a secret.
    CREATE TABLE fallback_meta (
        name  TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    "#,
    // 2: match thresholds became the trained classifier's probabilities (issue 12). Projects
    // left at the similarity matcher's default (0.45) move to the classifier's (0.30); any
    // other value was the bot builder's choice and stays.
    r#"
    UPDATE projects SET match_threshold = 0.30 WHERE match_threshold = 0.45;
    "#,
];

/// The schema version this host writes.
pub(super) fn latest() -> i64 {
    // A handful of entries; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// Brings the database to [`latest`]; answers how many migrations it applied.
pub(super) async fn apply(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS fallback_schema (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found: i64 =
        tx.query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM fallback_schema", &[]).await?.get(0);
    if found > latest() {
        return Err(StoreError::SchemaTooNew { found, known: latest() });
    }
    let applied =
        usize::try_from(found).map_err(|_| StoreError::Corrupt(format!("schema version {found}")))?;
    let pending = MIGRATIONS.get(applied..).unwrap_or_default();
    for (offset, sql) in pending.iter().enumerate() {
        tx.batch_execute(sql).await?;
        let version = i32::try_from(applied + offset + 1)
            .map_err(|_| StoreError::Corrupt("too many migrations".to_owned()))?;
        tx.execute("INSERT INTO fallback_schema (version) VALUES ($1)", &[&version]).await?;
    }
    tx.commit().await?;
    Ok(pending.len())
}
