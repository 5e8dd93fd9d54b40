//! A plugin's output and logs bounded by structure, over the HTTP API with the real host and the
//! hostile plugin: every flood of empty items ends with its own code in the test console and the
//! failure text in the chat, the console's answer stays small, the next chat works; text a plugin
//! writes never forges a line of the host's log; host and SDK agree on variable names.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fallback_host::pipeline::{CONSOLE_ANSWER_BYTES, GUEST_LOG};
use fallback_host::varname::VarName;
use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAILURE: &str = "Sorry, the plugin could not answer.";

/// A webhook whose hostile plugin takes its modes from the message ("extract-mode format-mode").
fn spec(url: &str, limits: Value) -> Value {
    json!({
        "url": format!("{url}?input={{latest_message}}"),
        "timeout_ms": 5000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE},
        "plugin_config": {"mode": "message", "format_mode": "message"},
        "limits": limits,
    })
}

/// A host whose plugins get generous time and fuel: the tests run a debug build on two busy
/// cores, and what is under test is the count, not the clock.
async fn host_with_hostile(project: &str, limits: Value) -> (TestHost, Upstream, String, tempfile::TempDir) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.plugin_call_timeout = Duration::from_secs(5);
        config.limits.plugin_fuel = u64::MAX;
    })
    .await;
    let key = host.create_project(project).await;
    host.put_webhook(project, &key, "answers", spec(&upstream.url("/chat"), limits)).await;
    host.use_webhook_as_fallback(project, &key, "answers").await;
    host.upload_plugin(project, &key, "answers", wasm::read(wasm::HOSTILE)).await;
    (host, upstream, key, dir)
}

/// The test console's answer, with its size in bytes as sent.
async fn console(host: &TestHost, project: &str, key: &str, message: &str) -> (Value, usize) {
    let response = host
        .client
        .post(host.url(&format!("/v1/projects/{project}/webhooks/answers/test")))
        .bearer_auth(key)
        .json(&json!({"latest_message": message, "send_id": "console"}))
        .send()
        .await
        .expect("console answers");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("body");
    (serde_json::from_slice(&bytes).expect("json"), bytes.len())
}

#[tokio::test]
async fn each_flood_of_empty_items_ends_with_its_own_code() {
    let (host, _upstream, key, _dir) = host_with_hostile("floods", json!({})).await;
    let cases = [
        ("ok empty-replies", "plugin_too_many_replies"),
        ("ok empty-buttons", "plugin_too_many_buttons"),
        ("empty-variables", "plugin_too_many_variables"),
        ("log-calls", "plugin_too_many_log_lines"),
        ("newlines", "plugin_too_many_log_lines"),
        ("bad-name", "plugin_invalid_variable_name"),
        // Too big to lift out of the guest at all: refused before the host copies it.
        ("ok lift-bomb", "plugin_output_too_large"),
    ];
    for (message, code) in cases {
        let (trace, size) = console(&host, "floods", &key, message).await;
        assert_eq!(trace["outcome"], "failure", "{message}: {}", trace["error"]);
        assert_eq!(trace["error"]["stage"], "plugin", "{message}");
        assert_eq!(trace["error"]["code"], code, "{message}: {}", trace["error"]);
        assert!(size < CONSOLE_ANSWER_BYTES, "{message}: the console answered {size} bytes");
        let logs = trace["plugin"]["logs"].as_array().map_or(0, Vec::len);
        assert!(logs <= 1000, "{message}: {logs} log lines kept");

        let answer = host.chat("floods", &key, "user", message).await;
        assert_eq!(answer["outcome"], "failure", "{message}: {answer}");
        assert_eq!(answer["replies"], json!([{"text": FAILURE}]), "{message}");

        let next = host.chat("floods", &key, "user", "ok").await;
        assert_eq!(next["outcome"], "success", "after {message}: {next}");
        assert_eq!(next["replies"][0]["text"], "ok from hostile", "after {message}");
    }
    let (trace, _) = console(&host, "floods", &key, "log-calls").await;
    assert_eq!(
        trace["plugin"]["logs"].as_array().map(Vec::len),
        Some(1000),
        "the lines within the count are kept"
    );
    assert!(trace["error"]["message"].as_str().unwrap_or("").contains("1000 lines"), "{}", trace["error"]);
}

#[tokio::test]
async fn the_console_cuts_what_the_chat_answers_whole() {
    let (host, _upstream, key, _dir) = host_with_hostile("fit", json!({})).await;
    // Logs, variables and replies each just within their limits, all control characters: as
    // JSON, about 850 KiB.
    let message = "control-max control-replies";
    let (trace, size) = console(&host, "fit", &key, message).await;
    assert_eq!(trace["outcome"], "success", "{}", trace["error"]);
    assert!(size < CONSOLE_ANSWER_BYTES, "the console answered {size} bytes");
    let clipped: Vec<&str> = trace["clipped"]
        .as_array()
        .map(|parts| parts.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for part in ["plugin.logs", "variables", "replies"] {
        assert!(clipped.contains(&part), "{part} is marked as cut: {clipped:?}");
    }

    let answer = host.chat("fit", &key, "user", message).await;
    let replies = answer["replies"].as_array().expect("replies");
    assert_eq!(replies.len(), 10, "the chat answers every reply");
    assert!(replies.iter().all(|reply| reply["text"].as_str().map(str::len) == Some(5000)));
    assert!(replies.iter().all(|reply| reply["buttons"].as_array().map(Vec::len) == Some(5)));
}

#[tokio::test]
async fn a_webhook_lowers_the_counts() {
    let limits = json!({"plugin_max_buttons": 0, "plugin_max_log_lines": 1, "plugin_max_replies": 1});
    let (host, _upstream, key, _dir) = host_with_hostile("counts", limits).await;
    for (message, code) in [
        ("ok reply-buttons", "plugin_too_many_buttons"),
        ("stdout", "plugin_too_many_log_lines"),
        ("ok read-env", "plugin_too_many_replies"),
    ] {
        let (trace, _) = console(&host, "counts", &key, message).await;
        assert_eq!(trace["error"]["code"], code, "{message}: {}", trace["error"]);
    }
    let (trace, _) = console(&host, "counts", &key, "ok").await;
    assert_eq!(trace["outcome"], "success", "one line and no button are within the limits: {trace}");

    let (status, body) = host
        .call(
            "PUT",
            "/v1/projects/counts/webhooks/answers",
            Some(&key),
            Some(spec("http://127.0.0.1:1/chat", json!({"plugin_max_replies": 11}))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a webhook cannot raise a count: {body}");
    assert!(body.to_string().contains("limits.plugin_max_replies"), "{body}");
}

#[test]
fn the_host_and_the_sdk_agree_on_variable_names() {
    let longest = "a".repeat(VarName::MAX_LEN);
    let too_long = "a".repeat(VarName::MAX_LEN + 1);
    let names = [
        "reply",
        "_",
        "A_1",
        "_9",
        "a9_Z",
        "",
        "1a",
        "9",
        "a.b",
        "secret.key",
        "secret",
        "a-b",
        "-a",
        "a b",
        " a",
        "a\n",
        "é",
        "aé",
        "a{b}",
        "a$",
        &longest,
        &too_long,
    ];
    for name in names {
        assert_eq!(
            VarName::is_valid(name),
            guest_sdk::is_valid_variable_name(name),
            "host and SDK disagree on {name:?}"
        );
    }
    assert_eq!(VarName::MAX_LEN, guest_sdk::MAX_VARIABLE_NAME_LEN);
    // Every byte in every position of a short name.
    for byte in 0u8..=127 {
        let c = char::from(byte);
        for name in [format!("{c}"), format!("a{c}"), format!("_{c}x")] {
            assert_eq!(VarName::is_valid(&name), guest_sdk::is_valid_variable_name(&name), "{name:?}");
        }
    }
}

/// A `serve` process whose every stderr line is kept.
struct Served {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(data_dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("FALLBACK_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("FALLBACK_ALLOW_NETWORKS", "127.0.0.0/8")
            .env("FALLBACK_PLUGIN_CALL_TIMEOUT_MS", "5000")
            .env("RUST_LOG", format!("info,{GUEST_LOG}=debug"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut reader = BufReader::new(child.stderr.take().expect("stderr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let mut line = String::new();
            let read = reader.read_line(&mut line).expect("stderr is readable");
            assert!(read > 0, "serve ended before listening: {:?}", lines.lock().expect("lines"));
            lines.lock().expect("lines").push(line.clone());
            if let Some(at) = line.find("address=") {
                break line[at + "address=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        let kept = lines.clone();
        std::thread::spawn(move || {
            // Lines split on `\n` only, so a forged line would show up as a line of its own.
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                kept.lock().expect("lines").push(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            }
        });
        Self { child, addr, lines }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn text_a_plugin_writes_never_forges_a_host_log_line() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path());
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, token: &str| {
        client.request(method, served.url(path)).bearer_auth(token.to_string())
    };

    let created: Value = send(reqwest::Method::POST, "/v1/projects", ADMIN_TOKEN)
        .json(&json!({"id": "forge", "name": "Forge"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let key = created["api_key"].as_str().expect("key").to_string();
    let put = send(reqwest::Method::PUT, "/v1/projects/forge/webhooks/answers", &key)
        .json(&spec(&upstream.url("/chat"), json!({})))
        .send()
        .await
        .expect("webhook");
    assert_eq!(put.status(), StatusCode::OK);
    let fallback = send(reqwest::Method::PUT, "/v1/projects/forge/fallback", &key)
        .json(&json!({"webhook": "answers"}))
        .send()
        .await
        .expect("fallback");
    assert_eq!(fallback.status(), StatusCode::OK);
    let upload = send(reqwest::Method::PUT, "/v1/projects/forge/webhooks/answers/plugin", &key)
        .header("content-type", "application/wasm")
        .body(wasm::read(wasm::HOSTILE))
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), StatusCode::CREATED);

    for mode in ["forge-log", "forge-error", "forge-panic"] {
        let answer: Value = send(reqwest::Method::POST, "/v1/projects/forge/chat", &key)
            .json(&json!({"send_id": "user", "message": mode}))
            .send()
            .await
            .expect("chat")
            .json()
            .await
            .expect("json");
        assert!(answer["outcome"].is_string(), "{mode}: {answer}");
    }
    // The log is written as the chats are answered; give the reader thread a moment.
    let mut log = served.log();
    for _ in 0..50 {
        if log.iter().filter(|line| line.contains("FORGED-LINE")).count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = served.log();
    }

    let all = log.concat();
    assert!(!all.contains('\x1b'), "an escape character reached the host's log:\n{all}");
    for line in &log {
        assert!(
            !line.starts_with("2026-01-01T00:00:00.000000Z"),
            "a plugin forged a line of the host's log: {line:?}\n{all}"
        );
    }
    let forged = "hostile\\n2026-01-01T00:00:00.000000Z  INFO fallback_host: FORGED-LINE \\u{1b}[31mred";
    let logged = log.iter().filter(|line| line.contains(forged)).count();
    assert!(logged >= 2, "the log line and the plugin error are shown escaped, each on one line:\n{all}");
    assert!(
        log.iter().any(|line| line.contains("webhook failed") && line.contains(forged)),
        "the plugin-error message is one escaped line:\n{all}"
    );
    assert!(
        log.iter().any(|line| line.contains("DEBUG") && line.contains(forged)),
        "the plugin's log line is one escaped line:\n{all}"
    );
}
