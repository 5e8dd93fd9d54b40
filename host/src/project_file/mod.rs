//! Project files: a project's whole configuration (intents, webhooks, fallback, threshold,
//! plugin files by path and sha256, secret names) as one versioned TOML file for git. `export`
//! writes one from a running host, `apply` makes a project match one, idempotently, over the
//! same HTTP API anyone else uses.

mod apply;
mod check;
mod client;
mod export;
mod format;
mod plan;
mod remote;

use std::path::PathBuf;

pub use apply::{ApplyArgs, apply};
pub use check::Problem;
pub use client::{ApiClient, ClientError};
pub use export::{ExportArgs, Exported, export};
pub use format::{FormatError, PluginFile, ProjectFile, VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ProjectFileError {
    #[error("reading {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{}", path.display())]
    Format { path: PathBuf, source: FormatError },
    #[error(transparent)]
    Render(#[from] FormatError),
    /// Every problem of the file; nothing was changed.
    #[error("{} is not valid, nothing was changed:\n{}", path.display(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
    #[error("project {0} not found")]
    NoProject(String),
    #[error(transparent)]
    Api(#[from] ClientError),
    /// A change the API refused after others were made: the report says which were.
    #[error("{report}after {done} change(s), {change} failed")]
    Partial { report: String, done: usize, change: String, source: ClientError },
}
