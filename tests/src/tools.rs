//! Tools outside Rust that some tests need (node, componentize-py, curl, jq, bash): a missing
//! one skips the test that asked, saying why and how to install it; under `CI` it fails it
//! instead, so a CI machine without them never passes by skipping.

use std::process::Command;

/// Why a test was skipped: a tool outside Rust is missing.
#[derive(Debug, Clone)]
pub struct Skipped(pub String);

/// Unwraps a result, or prints that the caller is skipped and why; with `CI` set, a missing tool
/// is a failure, never a skip.
pub fn available<T>(built: Result<T, Skipped>) -> Option<T> {
    match built {
        Ok(value) => Some(value),
        Err(Skipped(why)) if std::env::var_os("CI").is_some() => panic!("CI is set and {why}"),
        Err(Skipped(why)) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// Whether `program --version` runs; the error names the tool and how to get it.
pub fn require_tool(program: &str, install: &str) -> Result<(), Skipped> {
    match Command::new(program).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => Err(Skipped(format!("`{program}` is not installed ({install})"))),
    }
}
