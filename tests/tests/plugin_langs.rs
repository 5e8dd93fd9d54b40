//! The JavaScript and Python json-reply plugins, built from source, against the Rust one: uploaded
//! to the real host, chatted with through a real upstream, they answer alike; their refusals and
//! log lines reach the test console; `plugin check` and `plugin run` take them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use fallback_tests::{langs, tools};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAILURE: &str = "Sorry, json-reply could not answer.";

/// Each language's plugin, Rust's first; the others only when their toolchain is there.
fn plugins() -> Vec<(&'static str, PathBuf)> {
    let mut all = vec![("rust", PathBuf::from(wasm::JSON_REPLY))];
    all.extend(langs::json_reply_js().map(|path| ("js", path)));
    all.extend(langs::json_reply_py().map(|path| ("py", path)));
    all
}

fn spec(upstream: &Upstream, path: &str, config: Value) -> Value {
    json!({
        "url": upstream.url(&format!("{path}?input={{latest_message}}&chatId={{send_id}}")),
        "timeout_ms": 5000,
        "response": {"variables": ["reply"], "success": "{reply}", "failure": FAILURE},
        "plugin_config": config,
    })
}

/// A host whose plugins get generous time: the tests run on two busy cores, and what is under
/// test is the answer, not the clock.
async fn host() -> (TestHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.plugin_call_timeout = Duration::from_secs(10);
    })
    .await;
    (host, dir)
}

/// One project per language, each with webhook `answer` as its fallback and the plugin on it.
async fn projects(
    host: &TestHost,
    upstream: &Upstream,
    plugins: &[(&str, PathBuf)],
) -> Vec<(String, String)> {
    let mut projects = Vec::new();
    for (lang, path) in plugins {
        let project = format!("json-reply-{lang}");
        let key = host.create_project(&project).await;
        host.put_webhook(&project, &key, "answer", spec(upstream, "/chat", json!({}))).await;
        host.use_webhook_as_fallback(&project, &key, "answer").await;
        host.upload_plugin(&project, &key, "answer", wasm::read(path)).await;
        projects.push((project, key));
    }
    projects
}

async fn console(host: &TestHost, project: &str, key: &str, message: &str) -> Value {
    let (status, trace) = host
        .call(
            "POST",
            &format!("/v1/projects/{project}/webhooks/answer/test"),
            Some(key),
            Some(json!({"latest_message": message, "send_id": "console"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    trace
}

#[tokio::test]
async fn javascript_and_python_answer_as_rust_does() {
    let plugins = plugins();
    let upstream = Upstream::start().await;
    let (host, _dir) = host().await;
    let projects = projects(&host, &upstream, &plugins).await;
    let cases = [
        ("/chat", json!({})),
        ("/chat", json!({"field": "chatId", "variable": "area"})),
        ("/llm", json!({"field": "choices.0.message.content"})),
        ("/llm", json!({"field": "$.choices.0.index"})),
        ("/llm", json!({"field": "choices.0.message"})),
        ("/options", json!({"field": "options"})),
        ("/options", json!({"field": "options.1.payload"})),
        ("/missing", json!({})),
        ("/invalid", json!({})),
        ("/llm-error", json!({"field": "choices.0.text"})),
        ("/chat", json!({"feild": "message"})),
        ("/chat", json!({"field": 3})),
    ];
    for (index, (path, config)) in cases.iter().enumerate() {
        let send_id = format!("case-{index}");
        let mut answers = Vec::new();
        for (project, key) in &projects {
            host.put_webhook(project, key, "answer", spec(&upstream, path, config.clone())).await;
            let answer = host.chat(project, key, &send_id, "when do you open?").await;
            answers.push((project.as_str(), answer["outcome"].clone(), answer["replies"].clone()));
        }
        let (_, outcome, replies) = &answers[0];
        assert!(outcome == "success" || outcome == "failure", "{path} {config}: {outcome}");
        for (project, other_outcome, other_replies) in &answers[1..] {
            assert_eq!(
                (other_outcome, other_replies),
                (outcome, replies),
                "{project} on {path} with {config}, against Rust"
            );
        }
    }
    // The successes and failures above are the ones json-reply documents.
    let (project, key) = &projects[0];
    host.put_webhook(project, key, "answer", spec(&upstream, "/chat", json!({}))).await;
    let answer = host.chat(project, key, "last", "hi").await;
    assert_eq!(answer["replies"][0]["text"], "echo: hi", "{answer}");
}

#[tokio::test]
async fn refusals_and_log_lines_reach_the_test_console() {
    let plugins = plugins();
    let upstream = Upstream::start().await;
    let (host, _dir) = host().await;
    let projects = projects(&host, &upstream, &plugins).await;
    for ((lang, _), (project, key)) in plugins.iter().zip(&projects) {
        host.put_webhook(
            project,
            key,
            "answer",
            spec(&upstream, "/missing", json!({"field": "data.answer"})),
        )
        .await;
        let trace = console(&host, project, key, "hi").await;
        assert_eq!(trace["outcome"], "failure", "{lang}: {trace}");
        assert_eq!(trace["replies"][0]["text"], FAILURE, "{lang}");
        assert_eq!(trace["error"]["stage"], "plugin", "{lang}: {trace}");
        let message = trace["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("`data.answer` not found in the response (no `data`)"), "{lang}: {message}");
        if *lang == "rust" {
            continue;
        }
        let logs = trace["plugin"]["logs"].as_array().cloned().unwrap_or_default();
        let line = json!({"level": "debug", "message": "reading `data.answer` into `reply`"});
        assert!(logs.contains(&line), "{lang}: {logs:?}");

        host.put_webhook(project, key, "answer", spec(&upstream, "/chat", json!({"field": "chatId"}))).await;
        let trace = console(&host, project, key, "hi").await;
        assert_eq!(trace["outcome"], "success", "{lang}: {trace}");
        assert_eq!(trace["variables"]["reply"], "console", "{lang}: {trace}");
        let logs = trace["plugin"]["logs"].as_array().cloned().unwrap_or_default();
        assert!(
            logs.contains(&json!({"level": "debug", "message": "reading `chatId` into `reply`"})),
            "{lang}"
        );
    }
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_fallback-host-cli")).args(args).output().expect("the CLI runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().expect("exit code"), text(&output.stdout), text(&output.stderr))
}

#[test]
fn plugin_check_and_run_take_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let response = dir.path().join("response.json");
    std::fs::write(&response, r#"{"data":{"answer":"Open 9 to 5."}}"#).expect("write");
    let response = response.to_str().expect("utf-8");
    for (lang, path) in plugins() {
        let path = path.to_str().expect("utf-8");
        let (code, stdout, stderr) = cli(&["plugin", "check", path]);
        assert_eq!(code, 0, "{lang}: {stderr}");
        assert!(exports_both_hooks(&stdout), "{lang}: {stdout}");

        let config = r#"{"field":"data.answer"}"#;
        let (code, stdout, stderr) =
            cli(&["plugin", "run", path, "--response", response, "--config", config]);
        assert_eq!(code, 0, "{lang}: {stderr}");
        assert!(stdout.contains(r#"reply = "Open 9 to 5.""#), "{lang}: {stdout}");
        assert!(stdout.contains("replies: none"), "{lang}: {stdout}");

        let config = r#"{"field":"data.question"}"#;
        let (code, _, stderr) = cli(&["plugin", "run", path, "--response", response, "--config", config]);
        assert_eq!(code, 1, "{lang}");
        assert!(
            stderr.contains("plugin extract failed") && stderr.contains("`data.question`"),
            "{lang}: {stderr}"
        );
    }
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

/// The examples' own unit tests, run as their READMEs say (`npm test`; `python3 -m unittest` with
/// the helper on the path), so the plugins' pure logic is checked outside WebAssembly too.
#[test]
fn the_examples_own_tests_pass_as_their_readmes_say() {
    let root = langs::repo_root();
    if tools::available(tools::require_tool("node", "Node.js 20+: apt-get install -y nodejs npm")).is_some() {
        langs::run(Command::new("npm").arg("test").current_dir(root.join("plugins/json-reply-js")));
    }
    if tools::available(tools::require_tool("python3", "apt-get install -y python3")).is_some() {
        langs::run(
            Command::new("python3")
                .args(["-m", "unittest"])
                .env("PYTHONPATH", "../../guest-sdk/python")
                .current_dir(root.join("plugins/json-reply-py")),
        );
    }
}
