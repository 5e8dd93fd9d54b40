//! `fallback-host plugin check|run` as a plugin author runs them: exit codes and what they print.

use std::path::Path;
use std::process::{Command, Output};

use fallback_tests::wasm;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fallback-host-cli")).args(args).output().expect("the CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the CLI and returns (exit code, stdout, stderr).
fn plugin(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    let output = cli(&all);
    (output.status.code().expect("exit code"), text(&output.stdout), text(&output.stderr))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn check_accepts_each_example_plugin() {
    for path in [wasm::JSON_REPLY, wasm::LLM_ANSWER, wasm::QUICK_REPLIES] {
        let (code, stdout, stderr) = plugin(&["check", path]);
        assert_eq!(code, 0, "{path}: {stderr}");
        let bytes = wasm::read(path);
        assert!(stdout.contains(&hex(&fallback_host::plugin::sha256(&bytes))), "{stdout}");
        assert!(stdout.contains(&format!("{} bytes", bytes.len())), "{stdout}");
        assert!(stdout.contains("exports: extract, format"), "{stdout}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn check_refuses_each_bad_file_with_its_own_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let component = wasm::read(wasm::JSON_REPLY);
    let core_module = wat::parse_str("(module)").expect("wat");
    let cases = [
        (write(dir.path(), "random.wasm", b"\x7fELF not wasm at all"), "not a WebAssembly file"),
        (write(dir.path(), "empty.wasm", b""), "not a WebAssembly file"),
        (
            write(dir.path(), "core.wasm", &core_module),
            "a core module, not a component: build with --target wasm32-wasip2",
        ),
        (
            write(dir.path(), "truncated.wasm", &component[..component.len() / 3]),
            "not a valid WebAssembly component",
        ),
        (wasm::OTHER_WORLD.to_owned(), "wrong world: missing export `extract` and `format`"),
        (dir.path().join("missing.wasm").to_str().expect("utf-8").to_owned(), "reading"),
    ];
    for (path, message) in cases {
        let (code, stdout, stderr) = plugin(&["check", &path]);
        assert_eq!(code, 1, "{path}: {stdout}");
        assert!(stderr.starts_with("error: ") && stderr.contains(message), "{path}: {stderr}");
    }
}

#[test]
fn run_prints_the_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "response.json", br#"{"data":{"answer":"Open 9 to 5."}}"#);
    let (code, stdout, stderr) =
        plugin(&["run", wasm::JSON_REPLY, "--response", &response, "--config", r#"{"field":"data.answer"}"#]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#"reply = "Open 9 to 5.""#), "{stdout}");
    assert!(stdout.contains("replies: none"), "{stdout}");
}

#[test]
fn run_names_a_missing_field_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "response.json", br#"{"data":{}}"#);
    let (code, _, stderr) =
        plugin(&["run", wasm::JSON_REPLY, "--response", &response, "--config", r#"{"field":"data.answer"}"#]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: plugin extract failed") && stderr.contains("data.answer"), "{stderr}");
}

#[test]
fn run_prints_replies_with_buttons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "response.json", br#"{"message":"Which size?","options":["S","M"]}"#);
    let (code, stdout, stderr) = plugin(&["run", wasm::QUICK_REPLIES, "--response", &response]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#"1. "Which size?""#), "{stdout}");
    assert!(stdout.contains(r#"[S] -> "S""#) && stdout.contains(r#"[M] -> "M""#), "{stdout}");
}

#[test]
fn run_shows_a_guest_panic_and_its_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "response.json", b"{}");
    let (code, stdout, stderr) =
        plugin(&["run", wasm::HOSTILE, "--response", &response, "--config", r#"{"mode":"panic"}"#]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("plugin trapped in extract") && stderr.contains("panicked on purpose"),
        "{stderr}"
    );
    assert!(stdout.contains("logs:"), "{stdout}");
}

#[test]
fn run_refuses_a_config_that_is_not_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "response.json", b"{}");
    let (code, _, stderr) =
        plugin(&["run", wasm::JSON_REPLY, "--response", &response, "--config", "{field:"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--config is not valid JSON"), "{stderr}");
}

/// The README's "plugin in ten lines" and the commands after it, run as written.
#[test]
fn the_readme_plugin_runs_as_written_with_its_webhook() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let section = readme.split("## A plugin in ten lines").nth(1).expect("the README's plugin section");
    let rust = block(section, "```rust\n");
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/shout/src/lib.rs"))
        .expect("shout's source");
    assert!(source.contains(&rust), "tests/plugins/shout/src/lib.rs must hold the README's plugin verbatim");

    let dir = tempfile::tempdir().expect("tempdir");
    let shell = block(section, "```sh\n");
    let mut commands = 0;
    for line in shell.lines() {
        if let Some(rest) = line.strip_prefix("echo '") {
            let (content, name) = rest.rsplit_once("' > ").expect("echo 'TEXT' > FILE");
            std::fs::write(dir.path().join(name), format!("{content}\n")).expect("write");
        } else if let Some(args) = line.strip_prefix("fallback-host ") {
            // The plugin built from the README's source stands for `shout.wasm`.
            let args: Vec<&str> =
                args.split(' ').map(|arg| if arg == "shout.wasm" { wasm::SHOUT } else { arg }).collect();
            let output = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
                .args(&args)
                .current_dir(dir.path())
                .output()
                .expect("the CLI runs");
            let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
            assert!(output.status.success(), "{line}: {stderr}");
            assert!(stdout.contains(r#"reply = "we open at nine""#), "{stdout}");
            assert!(stdout.contains(r#"1. "WE OPEN AT NINE""#), "{stdout}");
            assert!(stdout.contains(r#"[Thanks!] -> "thanks""#), "{stdout}");
            commands += 1;
        }
    }
    assert_eq!(commands, 1, "the README runs `fallback-host plugin run` once:\n{shell}");
}

/// The text of the first fenced block opened by `fence`.
fn block(text: &str, fence: &str) -> String {
    let start = text.find(fence).expect("a fenced block") + fence.len();
    let end = text[start..].find("```").expect("the block's end");
    text[start..start + end].to_owned()
}

#[test]
fn run_without_a_webhook_says_how_to_apply_the_mapping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "sample.json", br#"{"message": "hi"}"#);
    let (code, _, stderr) = plugin(&["run", wasm::SHOUT, "--response", &response]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no reply"), "{stderr}");
    assert!(stderr.contains("--webhook webhook.json applies the webhook's response.extract"), "{stderr}");
}

#[test]
fn run_with_a_webhook_uses_its_config_and_success_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "sample.json", br#"{"data":{"answer":"Open 9 to 5."}}"#);
    let webhook = write(
        dir.path(),
        "webhook.json",
        br#"{"url": "https://api.example.com/x", "plugin_config": {"field": "data.answer"},
             "response": {"variables": ["reply"], "success": "Answer: {reply}", "failure": "Sorry about {latest_message}."}}"#,
    );
    let (code, stdout, stderr) =
        plugin(&["run", wasm::JSON_REPLY, "--response", &response, "--webhook", &webhook]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#"reply = "Open 9 to 5.""#), "{stdout}");
    assert!(stdout.contains("replies (the webhook's success template):"), "{stdout}");
    assert!(stdout.contains(r#"1. "Answer: Open 9 to 5.""#), "{stdout}");

    // --config still wins over the webhook's plugin_config; the failure text is what the user gets.
    let args = [
        "run",
        wasm::JSON_REPLY,
        "--response",
        &response,
        "--webhook",
        &webhook,
        "--config",
        r#"{"field":"x"}"#,
    ];
    let (code, _, stderr) = plugin(&args);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: plugin failed (") && stderr.contains("field `x` not found"), "{stderr}");
    assert!(stderr.contains(r#"the user would get the failure text: "Sorry about hello.""#), "{stderr}");
}

#[test]
fn run_refuses_a_webhook_the_api_would_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = write(dir.path(), "sample.json", b"{}");
    let cases: [(&[u8], &str); 3] = [
        (br#"{"url": "ftp://example.com/"}"#, "invalid webhook: url:"),
        (br#"{"url": "https://a.example/", "response": {"success": "{area}"}}"#, "response.success"),
        (br#"{"url": "https://a.example/", "sucess": 1}"#, "not a webhook: unknown field `sucess`"),
    ];
    for (spec, message) in cases {
        let webhook = write(dir.path(), "webhook.json", spec);
        let (code, _, stderr) = plugin(&["run", wasm::SHOUT, "--response", &response, "--webhook", &webhook]);
        assert_eq!(code, 1, "{message}");
        assert!(stderr.starts_with("error: ") && stderr.contains(message), "{message}: {stderr}");
    }
}
