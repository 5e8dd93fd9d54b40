//! Builds the example and test plugins from source for `wasm32-wasip2` (profile `plugin`) and
//! hands their paths to the tests as `FALLBACK_PLUGIN_<NAME>` compile-time variables.
//!
//! The inner cargo gets its own target dir under OUT_DIR (sharing the outer one would wait
//! forever on the outer build's lock) and none of the outer build's per-target environment.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// (package, variable) for each plugin the tests load.
const PLUGINS: [(&str, &str); 5] = [
    ("json-reply", "FALLBACK_PLUGIN_JSON_REPLY"),
    ("llm-answer", "FALLBACK_PLUGIN_LLM_ANSWER"),
    ("quick-replies", "FALLBACK_PLUGIN_QUICK_REPLIES"),
    ("hostile-plugin", "FALLBACK_PLUGIN_HOSTILE"),
    ("other-world-plugin", "FALLBACK_PLUGIN_OTHER_WORLD"),
];
/// Set by the outer cargo for this build script; each would misconfigure the inner build
/// (host flags applied to wasm, the outer target dir and its lock, the outer jobserver, a
/// clippy or coverage wrapper).
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

fn main() -> anyhow::Result<()> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir.parent().context("the tests crate sits in the workspace")?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR")?);
    let target_dir = out_dir.join("plugins");

    for watched in ["wit", "guest-sdk", "plugins", "tests/plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    require_target()?;

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in PLUGINS {
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
        bail!("building the plugins for {TARGET} failed ({status}); see the cargo output above");
    }

    for (package, variable) in PLUGINS {
        let wasm = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")));
        if !wasm.is_file() {
            bail!("cargo succeeded but {} is missing", wasm.display());
        }
        println!("cargo:rustc-env={variable}={}", wasm.display());
    }
    Ok(())
}

/// Fails early, and clearly, when the toolchain lacks the plugin target.
fn require_target() -> anyhow::Result<()> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
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
