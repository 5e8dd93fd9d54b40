//! SQLite connections and the blocking threads they run on: one writer, a few pooled readers.
//!
//! SQLite allows one writer at a time anyway, so a single writer connection behind a mutex
//! serializes writes without `SQLITE_BUSY` churn, while WAL lets readers on their own connections
//! proceed during a write. Every call runs on tokio's blocking pool, never on a worker thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::checkpointer::Checkpointer;
use super::{StoreError, migrations};

/// How long a connection waits for another process's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle reader connections kept open; more are opened under load and closed when returned.
const MAX_IDLE_READERS: usize = 4;

pub(super) struct Pool {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
    _checkpointer: Checkpointer,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = Connection::open(path)?;
        let mode: String = writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("journal mode is {mode}, WAL was refused")));
        }
        // Under WAL, NORMAL never corrupts and loses nothing on a process crash; only the last
        // commits can be lost on power failure, a fair price for not fsyncing every chat turn.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        // Deleted and overwritten cells (a secret replaced, a plaintext row sealed) are zeroed
        // rather than left readable in free space.
        writer.pragma_update(None, "secure_delete", true)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // Checkpoints run on their own thread (see `checkpointer`), never in a commit.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        migrations::apply(&mut writer)?;
        let writer = Arc::new(Mutex::new(writer));
        Ok(Self {
            _checkpointer: Checkpointer::start(path, Arc::clone(&writer))?,
            writer,
            readers: Arc::new(Readers { path: path.to_owned(), idle: Mutex::new(Vec::new()) }),
        })
    }

    /// Runs `work` in one IMMEDIATE transaction on the writer: committed if it returns `Ok`,
    /// rolled back (nothing changed) if it returns `Err` or panics.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            // A panic inside `work` poisons the mutex, but the transaction was rolled back when
            // it unwound, so the connection is clean and safe to keep using.
            let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = work(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await?
    }

    /// The writer connection itself, for the turn writer's thread.
    pub(super) fn writer(&self) -> Arc<Mutex<Connection>> {
        Arc::clone(&self.writer)
    }

    /// Runs `work` on the writer connection, blocking: for the open-time passes, before serving.
    pub(super) fn with_writer_blocking<T>(&self, work: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut conn)
    }

    /// Runs `work` in one read transaction, so the queries it makes see a single snapshot.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let mut conn = readers.checkout()?;
            let out = conn.transaction().map_err(StoreError::from).and_then(|tx| work(&tx));
            readers.checkin(conn);
            out
        })
        .await?
    }
}

impl Readers {
    fn checkout(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                // Read-only: a bug in a read path cannot write. The writer created the WAL files.
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                Ok(conn)
            }
        }
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}
