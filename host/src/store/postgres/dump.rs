//! The PostgreSQL side of `db copy`: a project read out whole, written in whole, and the row
//! counts.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;

use super::super::codec::to_json;
use super::super::dump::{ConversationDump, ProjectDump, StoreCounts, WebhookDump};
use super::super::sealing::Sealer;
use super::super::{Fallback, StoreError, WebhookRecord};
use super::{
    pg, plugin_version_of, project_of, read_fallback, read_intents, read_secrets, turn_of, version_of,
    version_to_sql,
};

pub(super) async fn counts(client: &impl GenericClient) -> Result<StoreCounts, StoreError> {
    let row = pg(client
        .query_one(
            "SELECT (SELECT COUNT(*) FROM projects), (SELECT COUNT(*) FROM intents), \
                    (SELECT COUNT(*) FROM webhooks), (SELECT COUNT(*) FROM plugin_versions), \
                    (SELECT COUNT(*) FROM plugin_blobs), (SELECT COUNT(*) FROM fallbacks), \
                    (SELECT COUNT(*) FROM secrets), (SELECT COUNT(*) FROM conversations), \
                    (SELECT COUNT(*) FROM turns)",
            &[],
        )
        .await)?;
    let count = |index: usize| -> Result<u64, StoreError> {
        let n: i64 = row.get(index);
        u64::try_from(n).map_err(|_| StoreError::Corrupt("negative count".to_owned()))
    };
    Ok(StoreCounts {
        projects: count(0)?,
        intents: count(1)?,
        webhooks: count(2)?,
        plugin_versions: count(3)?,
        plugin_blobs: count(4)?,
        fallbacks: count(5)?,
        secrets: count(6)?,
        conversations: count(7)?,
        turns: count(8)?,
    })
}

pub(super) async fn export(
    client: &impl GenericClient,
    sealer: &Sealer,
    id: &str,
) -> Result<Option<ProjectDump>, StoreError> {
    let Some(row) = pg(client
        .query_opt(
            "SELECT id, name, match_threshold, created_at, key_hash FROM projects WHERE id = $1",
            &[&id],
        )
        .await)?
    else {
        return Ok(None);
    };
    let project = project_of(&row);
    let key_hash: String = row.get(4);
    let mut webhooks = Vec::new();
    let mut blobs = BTreeMap::new();
    let rows = pg(client
        .query(
            "SELECT id, spec, updated_at, active_plugin FROM webhooks WHERE project = $1 ORDER BY id",
            &[&id],
        )
        .await)?;
    for row in rows {
        let record = WebhookRecord { id: row.get(0), spec: row.get(1), updated_at: row.get(2) };
        let active_plugin = row.get::<_, Option<i32>>(3).map(version_of).transpose()?;
        let versions = pg(client
            .query(
                "SELECT version, sha256, size, uploaded_at FROM plugin_versions \
                 WHERE project = $1 AND webhook = $2 ORDER BY version",
                &[&id, &record.id],
            )
            .await)?
        .iter()
        .map(plugin_version_of)
        .collect::<Result<Vec<_>, _>>()?;
        for version in &versions {
            if !blobs.contains_key(&version.sha256) {
                let wasm: Vec<u8> = pg(client
                    .query_opt("SELECT wasm FROM plugin_blobs WHERE sha256 = $1", &[&version.sha256])
                    .await)?
                .ok_or_else(|| StoreError::Corrupt(format!("plugin blob {} is missing", version.sha256)))?
                .get(0);
                blobs.insert(version.sha256.clone(), wasm);
            }
        }
        webhooks.push(WebhookDump { record, active_plugin, versions });
    }
    let mut conversations = Vec::new();
    let rows = pg(client
        .query("SELECT send_id, last_turn_ms FROM conversations WHERE project = $1 ORDER BY send_id", &[&id])
        .await)?;
    for row in rows {
        let send_id: String = row.get(0);
        let turns = pg(client
            .query(
                "SELECT at, message, replies, intent, fallback, outcome, seq FROM turns \
                 WHERE project = $1 AND send_id = $2 ORDER BY seq",
                &[&id, &send_id],
            )
            .await)?
        .iter()
        .map(|row| Ok((row.get::<_, i64>(6), turn_of(row)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
        conversations.push(ConversationDump { send_id, last_turn_ms: row.get(1), turns });
    }
    Ok(Some(ProjectDump {
        project,
        key_hash,
        intents: read_intents(client, id).await?,
        webhooks,
        blobs,
        fallback: read_fallback(client, id).await?,
        secrets: read_secrets(client, sealer, id).await?,
        conversations,
    }))
}

pub(super) async fn import(
    client: &impl GenericClient,
    sealer: &Sealer,
    dump: &ProjectDump,
) -> Result<(), StoreError> {
    let ProjectDump { project, key_hash, intents, webhooks, blobs, fallback, secrets, conversations } = dump;
    let id = project.id.as_str();
    let inserted = pg(client
        .execute(
            "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            &[&id, &project.name, key_hash, &project.match_threshold, &project.created_at],
        )
        .await)?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!("project {id}")));
    }
    for intent in intents {
        let examples = to_json(&intent.examples, "intent examples")?;
        let responses = to_json(&intent.responses, "intent responses")?;
        pg(client
            .execute(
                "INSERT INTO intents (project, id, examples, responses, updated_at) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &intent.id, &examples, &responses, &intent.updated_at],
            )
            .await)?;
    }
    for (sha256, wasm) in blobs {
        pg(client
            .execute(
                "INSERT INTO plugin_blobs (sha256, wasm) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[sha256, wasm],
            )
            .await)?;
    }
    for webhook in webhooks {
        let active = webhook.active_plugin.map(version_to_sql).transpose()?;
        pg(client
            .execute(
                "INSERT INTO webhooks (project, id, spec, updated_at, active_plugin) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &webhook.record.id, &webhook.record.spec, &webhook.record.updated_at, &active],
            )
            .await)?;
        for version in &webhook.versions {
            let size =
                i64::try_from(version.size).map_err(|_| StoreError::Corrupt("plugin size".to_owned()))?;
            pg(client
                .execute(
                    "INSERT INTO plugin_versions (project, webhook, version, sha256, size, uploaded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &id,
                        &webhook.record.id,
                        &version_to_sql(version.version)?,
                        &version.sha256,
                        &size,
                        &version.uploaded_at,
                    ],
                )
                .await)?;
        }
    }
    if let Some(fallback) = fallback {
        let (text, webhook) = match fallback {
            Fallback::Text(text) => (Some(text.as_str()), None),
            Fallback::Webhook(webhook) => (None, Some(webhook.as_str())),
        };
        pg(client
            .execute(
                "INSERT INTO fallbacks (project, text, webhook) VALUES ($1, $2, $3)",
                &[&id, &text, &webhook],
            )
            .await)?;
    }
    for (name, value) in secrets {
        let sealed = sealer.seal(id, name, value)?;
        pg(client
            .execute("INSERT INTO secrets (project, name, sealed) VALUES ($1, $2, $3)", &[&id, name, &sealed])
            .await)?;
    }
    for conversation in conversations {
        let last_seq = conversation.turns.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
        pg(client
            .execute(
                "INSERT INTO conversations (project, send_id, last_turn_ms, last_seq) VALUES ($1, $2, $3, $4)",
                &[&id, &conversation.send_id, &conversation.last_turn_ms, &last_seq],
            )
            .await)?;
        for (seq, turn) in &conversation.turns {
            let replies = to_json(&turn.replies, "turn replies")?;
            pg(client
                .execute(
                    "INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &id,
                        &conversation.send_id,
                        seq,
                        &turn.at,
                        &turn.message,
                        &replies,
                        &turn.intent,
                        &turn.fallback,
                        &turn.outcome,
                    ],
                )
                .await)?;
        }
    }
    Ok(())
}
