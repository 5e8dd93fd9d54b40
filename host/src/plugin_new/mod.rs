//! `fallback-host plugin new NAME [--lang rust|js|python] [--dir PARENT] [--sdk PATH]`: scaffolds a
//! plugin project, outside this repository, that builds, tests and runs as it stands.

mod error;
mod scaffold;
mod templates;

use std::path::PathBuf;
use std::process::ExitCode;

pub use error::NewError;
pub use scaffold::scaffold;

/// The language of a new plugin project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A cdylib on the repository's `guest-sdk`, built for wasm32-wasip2.
    Rust,
    /// An ES module built by componentize-js (Node.js 20+).
    Js,
    /// A module built by componentize-py (Python 3.10+).
    Python,
}

#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The project's name, also its directory and the webhook id its README uses:
    /// `[a-z0-9][a-z0-9_-]{0,63}`.
    pub name: String,
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// Where to create the project directory (default: the current directory).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The `guest-sdk` directory a Rust project depends on by path (default: this build's).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// The `guest-sdk` of the repository this binary was built from.
pub fn default_sdk_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk"))
}

pub fn execute(args: NewArgs) -> ExitCode {
    match scaffold(&args) {
        Ok(project) => {
            println!(
                "created {} ({:?}): its README.md says how to build, test and upload it",
                project.display(),
                args.lang
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
