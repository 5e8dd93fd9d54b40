//! The JavaScript and Python example plugins, built from source with their own toolchains
//! (componentize-js through `guest-sdk/js/build.js`, componentize-py), once per test binary and
//! cached in `target/langs/` by a hash of their sources. A missing toolchain skips the test that
//! asked, saying why; under `CI` it fails it instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::tools::{Skipped, available, require_tool};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// A plugin built from another language, or why it could not be.
pub type Built = Result<PathBuf, Skipped>;

/// `json-reply-js` (componentize-js): `None` when node or npm is missing (printed), panics under `CI`.
pub fn json_reply_js() -> Option<PathBuf> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    available(BUILT.get_or_init(build_json_reply_js).clone())
}

/// `json-reply-py` (componentize-py): `None` when componentize-py is missing (printed), panics under `CI`.
pub fn json_reply_py() -> Option<PathBuf> {
    static BUILT: OnceLock<Built> = OnceLock::new();
    available(BUILT.get_or_init(build_json_reply_py).clone())
}

/// Ensures `guest-sdk/js/node_modules` holds the pinned componentize-js (`npm ci` when not).
pub fn js_sdk_ready() -> Result<(), Skipped> {
    require_tool("node", "Node.js 20+: apt-get install -y nodejs npm")?;
    require_tool("npm", "apt-get install -y npm")?;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = repo_root().join("guest-sdk/js");
        if !dir.join("node_modules/@bytecodealliance/componentize-js/package.json").is_file() {
            run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir));
        }
    });
    Ok(())
}

fn build_json_reply_js() -> Built {
    js_sdk_ready()?;
    let root = repo_root();
    let sources = [
        "guest-sdk/js/fallback-plugin.js",
        "guest-sdk/js/build.js",
        "guest-sdk/js/package-lock.json",
        "wit/plugin.wit",
        "plugins/json-reply-js/plugin.js",
    ];
    Ok(cached("json_reply_js", &sources, |out| {
        let mut command = Command::new("node");
        command
            .arg(root.join("guest-sdk/js/build.js"))
            .arg("--wit")
            .arg(root.join("wit"))
            .arg("--out")
            .arg(out)
            .arg(root.join("plugins/json-reply-js/plugin.js"));
        run(&mut command);
    }))
}

fn build_json_reply_py() -> Built {
    require_tool("componentize-py", "pip install -r guest-sdk/python/requirements.txt")?;
    let root = repo_root();
    let sources = [
        "guest-sdk/python/fallback_plugin.py",
        "guest-sdk/python/requirements.txt",
        "wit/plugin.wit",
        "plugins/json-reply-py/app.py",
    ];
    Ok(cached("json_reply_py", &sources, |out| {
        let mut command = Command::new("componentize-py");
        command
            .current_dir(root.join("plugins/json-reply-py"))
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "plugin", "componentize", "app", "-p", "."])
            .arg("-p")
            .arg(root.join("guest-sdk/python"))
            .arg("-o")
            .arg(out);
        run(&mut command);
    }))
}

/// `target/langs/<name>-<hash>.wasm`, built by `build` (into a temporary name, then renamed, so a
/// half-written file is never taken for a build) unless it is there already.
fn cached(name: &str, sources: &[&str], build: impl FnOnce(&Path)) -> PathBuf {
    let root = repo_root();
    let mut all = Vec::new();
    for source in sources {
        all.extend_from_slice(source.as_bytes());
        all.extend_from_slice(&crate::wasm::read(root.join(source)));
    }
    let hash: String = fallback_host::plugin::sha256(&all)[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir = root.join("target/langs");
    let out = dir.join(format!("{name}-{hash}.wasm"));
    if out.is_file() {
        return out;
    }
    std::fs::create_dir_all(&dir).expect("target/langs");
    let partial = dir.join(format!("{name}-{hash}.{}.partial.wasm", std::process::id()));
    build(&partial);
    std::fs::rename(&partial, &out).expect("rename the built plugin");
    out
}

/// Runs a build step, panicking with its output when it fails: the tool is there, so a failure
/// is the code's.
pub fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
