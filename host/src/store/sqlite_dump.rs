//! The SQLite side of `db copy`: a project read out whole, written in whole, and the row counts.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::codec::to_json;
use super::dump::{ConversationDump, ProjectDump, StoreCounts, WebhookDump};
use super::sealing::Sealer;
use super::sqlite::{read_fallback, read_intents, read_key_hash, read_project, read_secrets, turn_from};
use super::{PluginVersion, StoreError, WebhookRecord};

pub(super) fn counts(tx: &Transaction<'_>) -> Result<StoreCounts, StoreError> {
    let count = |table: &str| -> Result<u64, StoreError> {
        let n: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0))?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count of {table}")))
    };
    Ok(StoreCounts {
        projects: count("projects")?,
        intents: count("intents")?,
        webhooks: count("webhooks")?,
        plugin_versions: count("plugin_versions")?,
        plugin_blobs: count("plugin_blobs")?,
        fallbacks: count("fallbacks")?,
        secrets: count("secrets")?,
        conversations: count("conversations")?,
        turns: count("turns")?,
    })
}

pub(super) fn export(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: &str,
) -> Result<Option<ProjectDump>, StoreError> {
    let Some(project) = read_project(tx, id)? else { return Ok(None) };
    let key_hash = read_key_hash(tx, id)?.unwrap_or_default();
    let mut webhooks = Vec::new();
    let mut blobs = BTreeMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT id, spec, updated_at, active_plugin FROM webhooks WHERE project = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |row| {
            Ok((
                WebhookRecord { id: row.get(0)?, spec: row.get(1)?, updated_at: row.get(2)? },
                row.get::<_, Option<u32>>(3)?,
            ))
        })?;
        for row in rows {
            let (record, active_plugin) = row?;
            let mut versions_stmt = tx.prepare_cached(
                "SELECT version, sha256, size, uploaded_at FROM plugin_versions \
                 WHERE project = ?1 AND webhook = ?2 ORDER BY version",
            )?;
            let versions = versions_stmt
                .query_map([id, record.id.as_str()], |row| {
                    Ok(PluginVersion {
                        version: row.get(0)?,
                        sha256: row.get(1)?,
                        size: row.get(2)?,
                        uploaded_at: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for version in &versions {
                if !blobs.contains_key(&version.sha256) {
                    let wasm: Vec<u8> = tx
                        .query_row(
                            "SELECT wasm FROM plugin_blobs WHERE sha256 = ?1",
                            [&version.sha256],
                            |row| row.get(0),
                        )
                        .optional()?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("plugin blob {} is missing", version.sha256))
                        })?;
                    blobs.insert(version.sha256.clone(), wasm);
                }
            }
            webhooks.push(WebhookDump { record, active_plugin, versions });
        }
    }
    let mut conversations = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT send_id, last_turn_ms FROM conversations WHERE project = ?1 ORDER BY send_id")?;
        let rows = stmt.query_map([id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
        for row in rows {
            let (send_id, last_turn_ms) = row?;
            let mut turns_stmt = tx.prepare_cached(
                "SELECT seq, at, message, replies, intent, fallback, outcome FROM turns \
                 WHERE project = ?1 AND send_id = ?2 ORDER BY seq",
            )?;
            let turns = turns_stmt
                .query_map([id, send_id.as_str()], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?),
                    ))
                })?
                .map(|row| {
                    let (seq, columns) = row?;
                    Ok((seq, turn_from(columns)?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            conversations.push(ConversationDump { send_id, last_turn_ms, turns });
        }
    }
    Ok(Some(ProjectDump {
        project,
        key_hash,
        intents: read_intents(tx, id)?,
        webhooks,
        blobs,
        fallback: read_fallback(tx, id)?,
        secrets: read_secrets(tx, sealer, id)?,
        conversations,
    }))
}

pub(super) fn import(tx: &Transaction<'_>, sealer: &Sealer, dump: &ProjectDump) -> Result<(), StoreError> {
    let ProjectDump { project, key_hash, intents, webhooks, blobs, fallback, secrets, conversations } = dump;
    let id = project.id.as_str();
    let exists = tx.query_row("SELECT 1 FROM projects WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some();
    if exists {
        return Err(StoreError::Conflict(format!("project {id}")));
    }
    tx.execute(
        "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, project.name, key_hash, project.match_threshold, project.created_at],
    )?;
    for intent in intents {
        tx.execute(
            "INSERT INTO intents (project, id, examples, responses, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                intent.id,
                to_json(&intent.examples, "intent examples")?,
                to_json(&intent.responses, "intent responses")?,
                intent.updated_at
            ],
        )?;
    }
    for (sha256, wasm) in blobs {
        tx.execute(
            "INSERT OR IGNORE INTO plugin_blobs (sha256, wasm) VALUES (?1, ?2)",
            params![sha256, wasm],
        )?;
    }
    for webhook in webhooks {
        tx.execute(
            "INSERT INTO webhooks (project, id, spec, updated_at, active_plugin) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                webhook.record.id,
                webhook.record.spec,
                webhook.record.updated_at,
                webhook.active_plugin
            ],
        )?;
        for version in &webhook.versions {
            tx.execute(
                "INSERT INTO plugin_versions (project, webhook, version, sha256, size, uploaded_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    webhook.record.id,
                    version.version,
                    version.sha256,
                    version.size,
                    version.uploaded_at
                ],
            )?;
        }
    }
    if let Some(fallback) = fallback {
        let (text, webhook) = match fallback {
            super::Fallback::Text(text) => (Some(text), None),
            super::Fallback::Webhook(webhook) => (None, Some(webhook)),
        };
        tx.execute(
            "INSERT INTO fallbacks (project, text, webhook) VALUES (?1, ?2, ?3)",
            params![id, text, webhook],
        )?;
    }
    for (name, value) in secrets {
        let sealed = sealer.seal(id, name, value)?;
        tx.execute(
            "INSERT INTO secrets (project, name, value, sealed) VALUES (?1, ?2, '', ?3)",
            params![id, name, sealed],
        )?;
    }
    for conversation in conversations {
        tx.execute(
            "INSERT INTO conversations (project, send_id, last_turn_ms) VALUES (?1, ?2, ?3)",
            params![id, conversation.send_id, conversation.last_turn_ms],
        )?;
        for (seq, turn) in &conversation.turns {
            tx.execute(
                "INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    conversation.send_id,
                    seq,
                    turn.at,
                    turn.message,
                    to_json(&turn.replies, "turn replies")?,
                    turn.intent,
                    turn.fallback,
                    turn.outcome
                ],
            )?;
        }
    }
    Ok(())
}
