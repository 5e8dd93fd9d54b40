//! `fallback-host plugin new` for each language, followed as its README says: the project is
//! scaffolded into a temporary directory, every command of the README's `sh` blocks runs there
//! (build, the project's own test, `plugin check`, `plugin run`, then the curl upload and test
//! console against a real host and upstream). Rust always; JavaScript and Python when their
//! toolchains are installed (skipped, saying why, otherwise; failing under `CI`).

use std::path::{Path, PathBuf};
use std::process::Command;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::{langs, tools};
use serde_json::Value;

const CLI: &str = env!("CARGO_BIN_EXE_fallback-host-cli");
const NAME: &str = "shop-hours";

fn cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(CLI).args(args).output().expect("the CLI runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().expect("exit code"), text(&output.stdout), text(&output.stderr))
}

/// The commands of each ```sh block of `readme`, in order, one list per block.
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), command) if !command.is_empty() => block.push(command.to_owned()),
            _ => {}
        }
    }
    blocks
}

/// A directory holding `fallback-host` (the CLI under test), for the README's commands' PATH.
fn path_with_cli(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(CLI, bin.join("fallback-host")).expect("symlink the CLI");
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", bin.display())
}

/// Runs one README command with `sh` in `project`; answers its stdout, panicking on failure.
fn sh(project: &Path, path: &str, command: &str, env: &[(&str, &str)]) -> String {
    let mut sh = Command::new("sh");
    // What the outer cargo set for this test must not steer the project's own builds.
    for name in
        ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_MAKEFLAGS"]
    {
        sh.env_remove(name);
    }
    let output = sh
        .args(["-c", command])
        .current_dir(project)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {command}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`{command}` failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Scaffolds `lang`, then follows its README: the first block (build, test, check, run), then
/// the upload block against a real host whose webhook points at a real upstream.
fn follow_the_readme(lang: &str, prepare: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) =
        cli(&["plugin", "new", NAME, "--lang", lang, "--dir", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    let project = dir.path().join(NAME);
    assert!(stdout.contains(&project.display().to_string()), "{stdout}");
    prepare(&project);
    let path = path_with_cli(dir.path());
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README.md");
    let blocks = sh_blocks(&readme);
    assert_eq!(blocks.len(), 3, "{readme}");

    for command in &blocks[0] {
        let stdout = sh(&project, &path, command, &[]);
        if command.starts_with("fallback-host plugin check") {
            assert!(exports_both_hooks(&stdout), "{stdout}");
        }
        if command.starts_with("fallback-host plugin run") {
            assert!(stdout.contains(r#"reply = "Our store opens at 9am and closes at 6pm.""#), "{stdout}");
            assert!(stdout.contains(r#"[Thanks!] -> "thanks""#), "{stdout}");
            assert!(stdout.contains("[info] answering with `message`"), "{stdout}");
        }
    }

    let Some(()) = tools::available(tools::require_tool("curl", "apt-get install -y curl")) else { return };
    let tokio =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let (host, upstream, key, _data) = tokio.block_on(async {
        let upstream = Upstream::start().await;
        let data = tempfile::tempdir().expect("tempdir");
        let host = TestHost::start_on(data.path(), |config| {
            config.limits.plugin_call_timeout = std::time::Duration::from_secs(10);
        })
        .await;
        let key = host.create_project("shop").await;
        (host, upstream, key, data)
    });
    // As the README says: point `url` at the answer API.
    let webhook_path = project.join("webhook.json");
    let mut webhook: Value =
        serde_json::from_slice(&std::fs::read(&webhook_path).expect("webhook.json")).expect("json");
    webhook["url"] = upstream.url("/chat?input={latest_message}&chatId={send_id}").into();
    std::fs::write(&webhook_path, webhook.to_string()).expect("write webhook.json");

    let base = host.url("");
    let env = [("HOST", base.trim_end_matches('/')), ("PROJECT", "shop"), ("KEY", key.as_str())];
    let mut console = String::new();
    for command in &blocks[1] {
        let stdout = sh(&project, &path, command, &env);
        if command.contains("/test\"") {
            console = stdout;
        }
    }
    let trace: Value = serde_json::from_str(&console).expect("the test console answers JSON");
    assert_eq!(trace["outcome"], "success", "{trace}");
    assert_eq!(trace["replies"][0]["text"], "echo: hello", "{trace}");
    assert_eq!(trace["replies"][0]["buttons"][0]["label"], "Thanks!", "{trace}");
    let logs = trace["plugin"]["logs"].to_string();
    assert!(logs.contains("answering with `message` (11 bytes)"), "{trace}");
    assert_eq!(upstream.count(), 1);

    // Versions: a second upload, the list, the rollback to the first.
    let outputs: Vec<String> = blocks[2].iter().map(|command| sh(&project, &path, command, &env)).collect();
    let versions: Value = serde_json::from_str(&outputs[1]).expect("the versions answer JSON");
    assert_eq!(versions["active"], 2, "{versions}");
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2), "{versions}");
    let (status, versions) = tokio.block_on(host.call(
        "GET",
        &format!("/v1/projects/shop/webhooks/{NAME}/plugin"),
        Some(&key),
        None,
    ));
    assert!(status.is_success(), "{versions}");
    assert_eq!(versions["active"], 1, "rolled back: {versions}");
    drop(tokio);
}

#[test]
fn rust_project_builds_tests_and_uploads() {
    follow_the_readme("rust", |project| {
        // The registry crates and the SDK are compiled once for every run of this test.
        let shared = langs::repo_root().join("target/plugin-new-rust");
        std::fs::create_dir_all(&shared).expect("shared target dir");
        std::os::unix::fs::symlink(&shared, project.join("target")).expect("symlink target");
    });
}

#[test]
fn javascript_project_builds_tests_and_uploads() {
    let tools = tools::require_tool("node", "Node.js 20+: apt-get install -y nodejs npm")
        .and_then(|()| tools::require_tool("npm", "apt-get install -y npm"));
    if tools::available(tools).is_some() {
        follow_the_readme("js", |_| {});
    }
}

#[test]
fn python_project_builds_tests_and_uploads() {
    let tools = tools::require_tool("python3", "apt-get install -y python3 python3-pip").and_then(|()| {
        tools::require_tool("componentize-py", "pip install -r guest-sdk/python/requirements.txt")
    });
    if tools::available(tools).is_some() {
        follow_the_readme("python", |_| {});
    }
}

#[test]
fn bad_names_and_taken_directories_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = dir.path().to_str().expect("utf-8");
    let (code, _, stderr) = cli(&["plugin", "new", "My Plugin", "--dir", parent]);
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid plugin name \"My Plugin\""), "{stderr}");
    std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
    std::fs::write(dir.path().join("taken/notes.txt"), "mine").expect("write");
    let (code, _, stderr) = cli(&["plugin", "new", "taken", "--lang", "js", "--dir", parent]);
    assert_eq!(code, 1);
    assert!(stderr.contains("exists and is not empty"), "{stderr}");
    let (code, _, stderr) = cli(&["plugin", "new", "x", "--lang", "ruby", "--dir", parent]);
    assert_eq!(code, 2, "{stderr}");
    let names: Vec<PathBuf> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(names, vec![dir.path().join("taken")], "nothing else was written");
}

/// Whether `plugin check`'s `exports:` line names both hooks (componentize-py adds an export of
/// its own beside them).
fn exports_both_hooks(stdout: &str) -> bool {
    stdout.lines().any(|line| {
        line.strip_prefix("exports: ").is_some_and(|names| {
            names.split(", ").any(|n| n == "extract") && names.split(", ").any(|n| n == "format")
        })
    })
}
