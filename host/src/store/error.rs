//! `StoreError`: every way a persistence call can fail, named so the API can map each to a status.

use thiserror::Error;

/// Failures of the [`Store`](super::Store). `NotFound`, `Conflict` and `InUse` are the caller's
/// business (404, 409, 409); every other variant is the host's fault and answers 500.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The named thing (`project p`, `webhook p/w`, `plugin version p/w/3`) does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing already exists and may not be replaced.
    #[error("{0} already exists")]
    Conflict(String),
    /// The named thing is still referenced and was left as it was.
    #[error("{0}")]
    InUse(String),
    /// The caller's sha256 is not the digest of the bytes: storing it would poison the blob
    /// shared by every upload with that digest.
    #[error("plugin sha256 {claimed} does not match its bytes ({actual})")]
    DigestMismatch { claimed: String, actual: String },
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to the database could be had (it is down, unreachable or refusing), or the
    /// one in use broke: the request may succeed later, and `/readyz` says when.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("store task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A stored JSON column no longer parses.
    #[error("stored {what} is not valid JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored value breaks an invariant the schema cannot express.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer host; running older code over it could lose data.
    #[error("database schema version {found} is newer than this host knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored secret could not be sealed or opened (wrong key, tampered row).
    #[error(transparent)]
    Secret(#[from] super::sealing::SealError),
    #[error("cannot set up the secret key")]
    SecretKey(#[from] crate::secret_key::SecretKeyError),
    /// The transaction a batch of turns shared failed as a whole; every turn in it is lost and
    /// its chat is told so.
    #[error("turn batch: {0}")]
    Batch(std::sync::Arc<StoreError>),
    #[error("cannot start the turn writer: {0}")]
    WriterThread(#[source] std::io::Error),
    /// The turn writer's thread is gone (the store is shutting down).
    #[error("the turn writer has stopped")]
    WriterStopped,
    #[error("cannot format the current time: {0}")]
    Clock(#[from] time::error::Format),
}

impl StoreError {
    /// Whether the database could not be reached, as opposed to refusing this request: the API
    /// answers 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Postgres(error) => {
                // No code: the connection broke. Class 08: connection exceptions; 57P01-57P03:
                // the server shut down, was restarted, or cannot accept connections yet; 53300:
                // too many connections.
                let code = error.code().map(tokio_postgres::error::SqlState::code);
                error.is_closed()
                    || code.is_none_or(|code| {
                        code.starts_with("08") || code.starts_with("57P") || code == "53300"
                    })
            }
            Self::Batch(inner) => inner.is_unavailable(),
            _ => false,
        }
    }
}
