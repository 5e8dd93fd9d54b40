//! Why `plugin new` refused or failed: one message each, naming what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "invalid plugin name {0:?}: use 1 to 64 of a-z, 0-9, `_` and `-`, starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("{0} exists and is not empty: choose another name or --dir")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("the guest SDK is not at {0} (no Cargo.toml there): give its directory with --sdk")]
    SdkMissing(PathBuf),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}
