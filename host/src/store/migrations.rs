//! The SQLite schema, as numbered migrations tracked by `PRAGMA user_version`.
//!
//! Migration `n` (1-based) takes the database from version `n - 1` to `n`. Each runs in its own
//! transaction together with the version bump, so a crash mid-way leaves the previous version
//! intact and the next open simply retries. Append new migrations; never edit a released one.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE projects (
        id              TEXT PRIMARY KEY NOT NULL,
        name            TEXT NOT NULL,
        key_hash        TEXT NOT NULL,
        match_threshold REAL NOT NULL,
        created_at      TEXT NOT NULL
    ) STRICT;

    CREATE TABLE intents (
        project    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        id         TEXT NOT NULL,
        examples   TEXT NOT NULL, -- JSON array of strings
        responses  TEXT NOT NULL, -- JSON array of strings
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, id)
    ) STRICT;

    -- active_plugin names a row of plugin_versions; it has no foreign key because that table
    -- already references this one (its versions go when the webhook goes).
    CREATE TABLE webhooks (
        project       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        id            TEXT NOT NULL,
        spec          TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        active_plugin INTEGER,
        PRIMARY KEY (project, id)
    ) STRICT;

    -- Plugin bytes, shared by every version (of any project) that uploaded the same digest.
    CREATE TABLE plugin_blobs (
        sha256 TEXT PRIMARY KEY NOT NULL,
        wasm   BLOB NOT NULL
    ) STRICT;

    CREATE TABLE plugin_versions (
        project     TEXT NOT NULL,
        webhook     TEXT NOT NULL,
        version     INTEGER NOT NULL CHECK (version > 0),
        sha256      TEXT NOT NULL REFERENCES plugin_blobs(sha256),
        size        INTEGER NOT NULL CHECK (size >= 0),
        uploaded_at TEXT NOT NULL,
        PRIMARY KEY (project, webhook, version),
        FOREIGN KEY (project, webhook) REFERENCES webhooks(project, id) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX plugin_versions_by_sha256 ON plugin_versions(sha256);

    -- Exactly one of text and webhook is set. The foreign key keeps a webhook that is the
    -- fallback from being deleted under it.
    CREATE TABLE fallbacks (
        project TEXT PRIMARY KEY NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        text    TEXT,
        webhook TEXT,
        CHECK ((text IS NULL) <> (webhook IS NULL)),
        FOREIGN KEY (project, webhook) REFERENCES webhooks(project, id)
    ) STRICT;

    CREATE TABLE secrets (
        project TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (project, name)
    ) STRICT;

    CREATE TABLE turns (
        project  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        send_id  TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        at       TEXT NOT NULL,
        message  TEXT NOT NULL,
        replies  TEXT NOT NULL, -- JSON
        intent   TEXT,
        fallback INTEGER NOT NULL,
        outcome  TEXT NOT NULL,
        PRIMARY KEY (project, send_id, seq)
    ) STRICT;
    "#,
    // --- issue 7 slice D: secrets sealed at rest, conversations expire ---
    // 2: secrets sealed at rest. `sealed` holds the ciphertext (see `sealing`); `value` is kept
    // only for rows written before this migration, until the store seals them at open (every
    // open seals what is left, so a crash between the two loses nothing).
    r#"
    ALTER TABLE secrets ADD COLUMN sealed BLOB;
    "#,
    // 3: each conversation's last turn, indexed, so the sweeper finds expired ones without
    // scanning every turn. Backfilled from the turns' RFC 3339 times.
    r#"
    CREATE TABLE conversations (
        project      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        send_id      TEXT NOT NULL,
        last_turn_ms INTEGER NOT NULL, -- Unix time of the last turn, in milliseconds
        PRIMARY KEY (project, send_id)
    ) STRICT;
    CREATE INDEX conversations_by_last_turn ON conversations(last_turn_ms);
    INSERT INTO conversations (project, send_id, last_turn_ms)
        SELECT project, send_id,
               COALESCE(CAST((julianday(MAX(at)) - 2440587.5) * 86400000.0 AS INTEGER),
                        CAST(strftime('%s', 'now') AS INTEGER) * 1000)
        FROM turns GROUP BY project, send_id;
    "#,
    // 4: match thresholds became the trained classifier's probabilities (issue 12). Projects
    // left at the similarity matcher's default (0.45) move to the classifier's (0.30); any
    // other value was the bot builder's choice and stays.
    r#"
    UPDATE projects SET match_threshold = 0.30 WHERE match_threshold = 0.45;
    "#,
];

/// The schema version this host writes.
pub(super) fn latest() -> i64 {
    // The list is a handful of entries; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// Brings the database to [`latest`], applying only what it lacks; a no-op on an up-to-date one.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two processes opening
        // the same directory cannot both apply the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if found > latest() {
            return Err(StoreError::SchemaTooNew { found, known: latest() });
        }
        let applied = usize::try_from(found)
            .map_err(|_| StoreError::Corrupt(format!("negative schema version {found}")))?;
        let Some(sql) = MIGRATIONS.get(applied) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, latest());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1).unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    }
}
