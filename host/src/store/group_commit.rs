//! Conversation turns written with group commit: chats hand their turn to one writer thread,
//! which commits every turn waiting at that moment in one transaction, then answers each chat.
//!
//! Under load a commit (and its WAL append) is shared by many chats instead of paid by each,
//! and no chat waits for a blocking-pool thread. A chat is answered only once the transaction
//! holding its turn has committed, so an acknowledged turn survives the process being killed.
//! A turn that cannot be kept (its project deleted meanwhile) is refused before it writes
//! anything, so it fails alone; a failed write fails the whole batch, every chat in it told.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, Turn};

/// Turns committed in one transaction at most; more wait for the next one.
const MAX_BATCH: usize = 256;
/// Turns waiting for the writer at most; further chats wait to hand theirs over.
const QUEUE: usize = 4096;
/// While chats keep coming (the last commit held more than one turn), the writer waits this
/// long for more turns before it commits, so a commit's fixed cost (its WAL frames, locks and
/// syscalls, about half of a lone turn's) is shared by more chats. A lone chat never waits.
const LINGER: std::time::Duration = std::time::Duration::from_micros(200);

struct Job {
    project: String,
    send_id: String,
    turn: Turn,
    max_turns: i64,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The chats' side: a queue to the writer thread, which stops when this is dropped.
pub(super) struct TurnWriter {
    queue: mpsc::Sender<Job>,
}

impl TurnWriter {
    /// Starts the writer thread on the store's one writer connection (shared, behind its mutex,
    /// with every other write).
    pub(super) fn start(writer: Arc<Mutex<Connection>>) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("turn-writer".into()).spawn(move || run(&writer, jobs))?;
        Ok(Self { queue })
    }

    /// Appends the turn, keeping the newest `max_turns` of the conversation; answers once the
    /// turn is committed.
    pub(super) async fn append(
        &self,
        project: String,
        send_id: String,
        turn: Turn,
        max_turns: usize,
    ) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let max_turns = i64::try_from(max_turns).unwrap_or(i64::MAX);
        let job = Job { project, send_id, turn, max_turns, done };
        self.queue.send(job).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

fn run(writer: &Mutex<Connection>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut busy = false;
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        if busy && jobs.is_empty() {
            std::thread::sleep(LINGER);
        }
        while batch.len() < MAX_BATCH
            && let Ok(job) = jobs.try_recv()
        {
            batch.push(job);
        }
        busy = batch.len() > 1;
        let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        match commit(&mut conn, &batch) {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.done.send(result);
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StoreError::Batch(Arc::clone(&error))));
                }
            }
        }
    }
}

/// One transaction for the batch: answers each turn's own result, or the error that lost them
/// all.
fn commit(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let results = batch.iter().map(|job| append(&tx, job)).collect::<Result<Vec<_>, _>>()?;
    tx.commit()?;
    Ok(results)
}

/// `Ok(Err(..))`: this turn is refused, having written nothing. `Err(..)`: a write failed
/// midway, and only rolling the whole transaction back undoes it.
fn append(tx: &Connection, job: &Job) -> Result<Result<(), StoreError>, StoreError> {
    let Job { project, send_id, turn, max_turns, .. } = job;
    let exists = tx.prepare_cached("SELECT 1 FROM projects WHERE id = ?1")?.exists([project])?;
    if !exists {
        return Ok(Err(StoreError::NotFound(format!("project {project}"))));
    }
    let replies = match serde_json::to_string(&turn.replies) {
        Ok(replies) => replies,
        Err(source) => return Ok(Err(StoreError::Json { what: "turn replies", source })),
    };
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE project = ?1 AND send_id = ?2")?
        .query_row([project, send_id], |row| row.get(0))?;
    tx.prepare_cached(
        "INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        project,
        send_id,
        seq,
        turn.at,
        turn.message,
        replies,
        turn.intent,
        turn.fallback,
        turn.outcome
    ])?;
    let oldest_kept = seq.saturating_sub(*max_turns);
    if oldest_kept > 0 {
        tx.prepare_cached("DELETE FROM turns WHERE project = ?1 AND send_id = ?2 AND seq <= ?3")?
            .execute(params![project, send_id, oldest_kept])?;
    }
    tx.prepare_cached(
        "INSERT INTO conversations (project, send_id, last_turn_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (project, send_id) DO UPDATE SET last_turn_ms = excluded.last_turn_ms",
    )?
    .execute(params![project, send_id, super::clock::unix_ms(std::time::SystemTime::now())])?;
    Ok(Ok(()))
}
