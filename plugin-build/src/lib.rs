//! Builds plugin crates of this workspace for `wasm32-wasip2` from a build script.
//!
//! Plugins are compiled from source by the build (as wasmtime's test-programs are) so a `.wasm`
//! never drifts from its code. The inner cargo gets its own target dir, or it would wait forever
//! on the lock the outer build holds; host and tests share that dir, so each plugin builds once.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The workspace profile for plugins (small, optimised, panic = abort).
pub const PROFILE: &str = "plugin";

/// Builds `packages` (package names) in one cargo run and returns each component's path, in order.
/// Call from a build script: it also prints the `rerun-if-changed` lines.
pub fn build(packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = workspace_root(&manifest_dir)?;
    for watched in ["wit", "guest-sdk", "plugins", "tests/plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = outer_target_dir(&root).join("plugins");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--locked", "--target", TARGET, "--profile", PROFILE, "--target-dir"])
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    // What the outer build set for itself must not leak into the guests' build.
    for name in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        command.env_remove(name);
    }
    let output = command.output().context("cannot run cargo to build the plugins")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            "\nhint: install the plugin target with `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        bail!("building plugins {packages:?} for {TARGET} failed:\n{stderr}{hint}");
    }
    packages
        .iter()
        .map(|package| {
            let path = target_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{}.wasm", package.replace('-', "_")));
            if path.is_file() {
                Ok(path)
            } else {
                bail!("cargo built {package} but {} is missing", path.display())
            }
        })
        .collect()
}

fn workspace_root(start: &Path) -> anyhow::Result<PathBuf> {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if manifest.is_file() && std::fs::read_to_string(&manifest)?.contains("[workspace]") {
            return Ok(dir.to_path_buf());
        }
    }
    bail!("no workspace root above {}", start.display())
}

/// The outer build's target dir: `CARGO_TARGET_DIR` when set, else `<root>/target`.
fn outer_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root.join(dir) }
        }
        None => root.join("target"),
    }
}
