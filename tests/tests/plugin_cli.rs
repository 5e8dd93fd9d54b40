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
