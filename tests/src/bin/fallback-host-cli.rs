//! `fallback-host`'s command line, built inside this crate so the CLI tests can run it.
//!
//! Cargo only hands integration tests the binaries of their own package
//! (`CARGO_BIN_EXE_<name>`); this one-line twin of `host/src/main.rs` runs the very same
//! `fallback_host::cli::main`, without a nested cargo build of the host's binary.

fn main() -> std::process::ExitCode {
    fallback_host::cli::main()
}
