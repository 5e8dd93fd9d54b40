//! Builds plugin crates of this workspace for `wasm32-wasip2` from a build script.
//!
//! Plugins are compiled from source by the build (as wasmtime's test-programs are) so a `.wasm`
//! never drifts from its code. The inner cargo gets its own target dir, or it would wait forever
//! on the lock the outer build holds; the host and the tests share that dir, so each plugin
//! builds once.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The workspace profile for plugins (small, optimised, panic = abort).
pub const PROFILE: &str = "plugin";

/// Set by the outer cargo for the build script; each would misconfigure the inner build (host
/// flags applied to wasm, the outer target dir and its lock, the outer jobserver, a clippy or
/// coverage wrapper).
const OUTER_ENV: [&str; 12] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_LLVM_COV",
    "CARGO_PRIMARY_PACKAGE",
];

/// Builds `packages` (package names) in one cargo run and returns each component's path, in
/// order. Call it from a build script: it also prints the `rerun-if-changed` lines.
pub fn build(packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let root = workspace_root(&manifest_dir)?;
    for watched in ["wit", "guest-sdk", "plugins", "tests/plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    require_target()?;
    let target_dir = outer_target_dir(&root).join("plugins");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        command.args(["--package", package]);
    }
    for name in OUTER_ENV {
        command.env_remove(name);
    }
    for (name, _) in env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_CFG_") {
            command.env_remove(name);
        }
    }
    let status = command.status().context("running cargo to build the plugins")?;
    if !status.success() {
        bail!("building plugins {packages:?} for {TARGET} failed ({status}); see the cargo output above");
    }
    packages
        .iter()
        .map(|package| {
            let wasm =
                target_dir.join(TARGET).join(PROFILE).join(format!("{}.wasm", package.replace('-', "_")));
            if wasm.is_file() { Ok(wasm) } else { bail!("cargo succeeded but {} is missing", wasm.display()) }
        })
        .collect()
}

/// Fails early, and clearly, when the toolchain lacks the plugin target.
fn require_target() -> anyhow::Result<()> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output =
        Command::new(rustc).args(["--print", "sysroot"]).output().context("running rustc --print sysroot")?;
    let sysroot = String::from_utf8(output.stdout).context("rustc printed a non-UTF-8 sysroot")?;
    let target_lib = Path::new(sysroot.trim()).join("lib/rustlib").join(TARGET);
    if !target_lib.is_dir() {
        bail!(
            "the Rust target {TARGET} is not installed (looked in {}): run `rustup target add {TARGET}`",
            target_lib.display()
        );
    }
    Ok(())
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
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { root.join(dir) }
        }
        None => root.join("target"),
    }
}
