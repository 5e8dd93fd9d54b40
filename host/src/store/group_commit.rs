//! Conversation turns written with group commit: chats hand their turn to one writer thread,
//! which commits every turn waiting at that moment in one transaction, then answers each chat.
//!
//! Under load a commit (and its WAL append) is shared by many chats instead of paid by each,
//! and no chat waits for a blocking-pool thread. A chat is answered only once the transaction
//! holding its turn has committed, so an acknowledged turn survives the process being killed.
//! A turn that cannot be kept (its project deleted meanwhile) is refused before it writes
//! anything, so it fails alone; a failed write fails the whole batch, every chat in it told.
//!
//! Within a batch, what every turn of one project or one conversation would ask or write again
//! is done once: the project's existence is checked once, a conversation's next `seq` is read
//! once and counted on in memory, and its trim and `last_turn_ms` are written once after its
//! last turn. The state committed is the one the turns written one by one would leave.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, params};
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

/// A turn as the writer writes it: its replies already JSON text, serialised (and the value
/// dropped) by the chat before it hands the turn over, since the writer thread is the one place
/// every turn passes through and should do only the writing.
struct Job {
    project: String,
    send_id: String,
    at: String,
    message: String,
    replies: String,
    intent: Option<String>,
    fallback: bool,
    outcome: String,
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
        let Turn { at, message, replies, intent, fallback, outcome } = turn;
        // Refused before it reaches the writer, so it fails alone and writes nothing.
        let replies = serde_json::to_string(&replies)
            .map_err(|source| StoreError::Json { what: "turn replies", source })?;
        let job = Job { project, send_id, at, message, replies, intent, fallback, outcome, max_turns, done };
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
        tracing::trace!(turns = batch.len(), "committing a batch of turns");
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
///
/// `BEGIN` and `COMMIT` are cached statements like the rest (rusqlite's `Transaction` parses
/// them anew each time); any error rolls the transaction back before it is returned.
fn commit(conn: &mut Connection, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let written = write(conn, batch).and_then(|results| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(results)
    });
    if written.is_err() && !conn.is_autocommit() {
        // As rusqlite's `Transaction` does when dropped: the batch has failed either way.
        let _ = conn.execute_batch("ROLLBACK");
    }
    written
}

fn write(tx: &Connection, batch: &[Job]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut projects: HashMap<&str, bool> = HashMap::new();
    let mut conversations: Vec<Conversation<'_>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        results.push(append(tx, job, &mut projects, &mut conversations, &mut index)?);
    }
    let now_ms = super::clock::unix_ms(std::time::SystemTime::now());
    for conversation in &conversations {
        conversation.finish(tx, now_ms)?;
    }
    Ok(results)
}

/// A conversation this batch added turns to.
struct Conversation<'a> {
    project: &'a str,
    send_id: &'a str,
    /// The `seq` its next turn gets.
    next_seq: i64,
    /// Turns up to this `seq` go once the batch's turns are in (0: none).
    trim_through: i64,
}

impl Conversation<'_> {
    /// What each turn would have written after itself, once for all of them: the oldest turns
    /// past the bound dropped, the conversation's last turn time set.
    fn finish(&self, tx: &Connection, now_ms: i64) -> Result<(), StoreError> {
        let Self { project, send_id, trim_through, .. } = *self;
        if trim_through > 0 {
            tx.prepare_cached("DELETE FROM turns WHERE project = ?1 AND send_id = ?2 AND seq <= ?3")?
                .execute(params![project, send_id, trim_through])?;
        }
        tx.prepare_cached(
            "INSERT INTO conversations (project, send_id, last_turn_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (project, send_id) DO UPDATE SET last_turn_ms = excluded.last_turn_ms",
        )?
        .execute(params![project, send_id, now_ms])?;
        Ok(())
    }
}

/// `Ok(Err(..))`: this turn is refused, having written nothing. `Err(..)`: a write failed
/// midway, and only rolling the whole transaction back undoes it.
fn append<'a>(
    tx: &Connection,
    job: &'a Job,
    projects: &mut HashMap<&'a str, bool>,
    conversations: &mut Vec<Conversation<'a>>,
    index: &mut HashMap<(&'a str, &'a str), usize>,
) -> Result<Result<(), StoreError>, StoreError> {
    let Job { project, send_id, at, message, replies, intent, fallback, outcome, max_turns, .. } = job;
    // Nothing else writes while the batch holds the writer, so an answer holds for the batch.
    let exists = match projects.get(project.as_str()) {
        Some(&exists) => exists,
        None => {
            let exists = tx.prepare_cached("SELECT 1 FROM projects WHERE id = ?1")?.exists([project])?;
            projects.insert(project, exists);
            exists
        }
    };
    if !exists {
        return Ok(Err(StoreError::NotFound(format!("project {project}"))));
    }
    let slot = match index.get(&(project.as_str(), send_id.as_str())) {
        Some(&slot) => slot,
        None => {
            let next_seq: i64 = tx
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE project = ?1 AND send_id = ?2",
                )?
                .query_row([project, send_id], |row| row.get(0))?;
            conversations.push(Conversation { project, send_id, next_seq, trim_through: 0 });
            index.insert((project, send_id), conversations.len() - 1);
            conversations.len() - 1
        }
    };
    let conversation = &mut conversations[slot];
    let seq = conversation.next_seq;
    tx.prepare_cached(
        "INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![project, send_id, seq, at, message, replies, intent, fallback, outcome])?;
    conversation.next_seq = seq + 1;
    conversation.trim_through = conversation.trim_through.max(seq.saturating_sub(*max_turns));
    Ok(Ok(()))
}
