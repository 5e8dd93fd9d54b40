//! Conversation turns written with group commit on PostgreSQL: a node's chats hand their turn
//! to one task, which writes every turn waiting at that moment in one transaction, its
//! statements pipelined on one connection, and answers each chat after the commit.
//!
//! Under load one commit (and its WAL flush) is shared by many chats, and turns of one busy
//! conversation queue on its row lock once per batch rather than once per turn. If the batch
//! fails for a reason of its own rows (a project deleted meanwhile), nothing of it was written,
//! and each turn is tried alone so only the refused one fails; if the database is unreachable,
//! every chat of the batch is told so.

use std::time::SystemTime;

use deadpool_postgres::Pool;
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::super::StoreError;
use super::super::clock::unix_ms;
use super::pg;

/// Turns written in one transaction at most.
const MAX_BATCH: usize = 256;
/// Turns waiting at most; further chats wait to hand theirs over.
const QUEUE: usize = 4096;

/// One statement per turn: the conversation row's upsert hands out the next number under its
/// lock (appends from every node get one order), the turn is inserted, older ones trimmed.
const APPEND: &str = "WITH conversation AS ( \
         INSERT INTO conversations (project, send_id, last_turn_ms, last_seq) \
         VALUES ($1, $2, $3, 1) \
         ON CONFLICT (project, send_id) DO UPDATE \
         SET last_turn_ms = excluded.last_turn_ms, last_seq = conversations.last_seq + 1 \
         RETURNING last_seq), \
     appended AS ( \
         INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
         SELECT $1, $2, last_seq, $4, $5, $6, $7, $8, $9 FROM conversation RETURNING seq) \
     DELETE FROM turns WHERE project = $1 AND send_id = $2 \
         AND seq <= (SELECT seq FROM appended) - $10";

/// A turn as the statement takes it.
pub(super) struct TurnRow {
    pub project: String,
    pub send_id: String,
    pub at: String,
    pub message: String,
    pub replies: String,
    pub intent: Option<String>,
    pub fallback: bool,
    pub outcome: String,
    pub max_turns: i64,
}

struct Job {
    row: TurnRow,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The chats' side of the writer task, which stops when this is dropped.
pub(super) struct TurnWriter {
    queue: mpsc::Sender<Job>,
}

impl TurnWriter {
    pub(super) fn start(pool: Pool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, jobs));
        Self { queue }
    }

    /// Answers once the turn is committed.
    pub(super) async fn append(&self, row: TurnRow) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Job { row, done }).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: Pool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<&TurnRow> = batch.iter().map(|job| &job.row).collect();
        match write(&pool, &rows).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(error) if batch.len() > 1 && !error.is_unavailable() => {
                // Nothing of the batch was written: each turn on its own, so only the one
                // its database refuses fails.
                for job in batch.drain(..) {
                    let result = write(&pool, &[&job.row]).await;
                    let _ = job.done.send(result);
                }
            }
            Err(error) => {
                let error = std::sync::Arc::new(error);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Batch(std::sync::Arc::clone(&error))));
                }
            }
        }
    }
}

/// The rows in one transaction, their statements pipelined. A foreign key failing means the
/// project is gone: `NotFound`.
async fn write(pool: &Pool, rows: &[&TurnRow]) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let now_ms = unix_ms(SystemTime::now());
    let statement = pg(client.prepare_cached(APPEND).await)?;
    let single = rows.len() == 1;
    let result = async {
        let tx = pg(client.transaction().await)?;
        let appends = rows.iter().map(|row| {
            let params: [&(dyn ToSql + Sync); 10] = [
                &row.project,
                &row.send_id,
                &now_ms,
                &row.at,
                &row.message,
                &row.replies,
                &row.intent,
                &row.fallback,
                &row.outcome,
                &row.max_turns,
            ];
            let statement = &statement;
            let tx = &tx;
            async move { tx.execute(statement, &params).await }
        });
        pg(try_join_all(appends).await)?;
        pg(tx.commit().await)
    }
    .await;
    match result {
        Err(StoreError::Postgres(error))
            if single && error.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) =>
        {
            Err(StoreError::NotFound(format!("project {}", rows[0].project)))
        }
        other => other,
    }
}
