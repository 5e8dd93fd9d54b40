//! `fallback-host export` and `apply` against a real host: the round trip into a new project,
//! idempotence, `--dry-run`, deletions, plugins uploaded once, and bad files refused whole.

use std::path::{Path, PathBuf};
use std::process::Command;

use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What a run of the CLI printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI off the runtime's thread, so the host under test keeps answering.
async fn cli(args: Vec<String>, envs: Vec<(&'static str, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
            .args(&args)
            .env_remove("FALLBACK_TOKEN")
            .envs(envs)
            .output()
            .expect("the CLI runs");
        Run {
            code: output.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("CLI thread")
}

fn path(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

async fn export(host: &TestHost, project: &str, out: &Path) -> Run {
    let args = ["export", project, "--url", &host.url(""), "--token", ADMIN_TOKEN, "--out", &path(out)];
    cli(args.map(String::from).to_vec(), vec![]).await
}

async fn apply(host: &TestHost, file: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<String> = ["apply", &path(file), "--url", &host.url("")].map(String::from).to_vec();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    // The token from the environment, as a CI job would give it.
    cli(args, vec![("FALLBACK_TOKEN", ADMIN_TOKEN.to_owned())]).await
}

/// A project with an intent or two, a webhook using a secret and running json-reply, and that
/// webhook as the fallback.
async fn shop(host: &TestHost) {
    let key = host.create_project("shop").await;
    let k = Some(key.as_str());
    for (id, examples, responses) in [
        ("hours", json!(["opening hours", "when are you open"]), json!(["9 to 5"])),
        ("returns", json!(["can I return this"]), json!(["Within 30 days.", "Keep the receipt."])),
    ] {
        let body = json!({"examples": examples, "responses": responses});
        let (status, _) = host.call("PUT", &format!("/v1/projects/shop/intents/{id}"), k, Some(body)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let spec = json!({
        "method": "POST",
        "url": "http://127.0.0.1:9/chat",
        "headers": {"Authorization": "Bearer {secret.upstream_key}"},
        "body": {"type": "json", "content": {"q": "{latest_message}", "n": 3}},
        "timeout_ms": 2000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Not now."},
        "plugin_config": {"field": "data.answer"},
        "limits": {"plugin_timeout_ms": 50}
    });
    host.put_webhook("shop", &key, "answers", spec).await;
    let (status, _) =
        host.call("PUT", "/v1/projects/shop/secrets/upstream_key", k, Some(json!({"value": "s3cr3t"}))).await;
    assert_eq!(status, StatusCode::OK);
    host.use_webhook_as_fallback("shop", &key, "answers").await;
    host.upload_plugin("shop", &key, "answers", wasm::read(wasm::JSON_REPLY)).await;
}

async fn get(host: &TestHost, path: &str) -> Value {
    let (status, body) = host.call("GET", path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Everything the API answers about a project, to show that nothing changed.
async fn snapshot(host: &TestHost, project: &str) -> Value {
    let base = format!("/v1/projects/{project}");
    json!({
        "project": get(host, &base).await,
        "intents": get(host, &format!("{base}/intents")).await,
        "webhook": get(host, &format!("{base}/webhooks/answers")).await,
        "plugin": get(host, &format!("{base}/webhooks/answers/plugin")).await,
        "fallback": get(host, &format!("{base}/fallback")).await,
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[tokio::test]
async fn export_then_apply_to_a_new_project_round_trips() {
    let host = TestHost::start().await;
    shop(&host).await;
    let (_keep, dir) = dir();
    let file = dir.join("shop.toml");
    let run = export(&host, "shop", &file).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = read(&file);
    assert!(text.contains("version = 1"), "{text}");
    assert!(text.contains(r#"secrets = ["upstream_key"]"#), "{text}");
    assert!(!text.contains("s3cr3t"), "a secret's value never reaches the file: {text}");
    let plugin = std::fs::read(dir.join("plugins/answers.wasm")).expect("the plugin beside the file");
    assert_eq!(plugin, wasm::read(wasm::JSON_REPLY));
    assert!(text.contains(r#"file = "plugins/answers.wasm""#), "{text}");
    assert!(text.contains(&hex(&fallback_host::plugin::sha256(&plugin))), "{text}");

    // A new project, created by the operator's token, from the file alone.
    let run = apply(&host, &file, &["--project", "copy"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "+ project copy",
        "+ webhook answers",
        "+ plugin answers: upload plugins/answers.wasm",
        "+ fallback: webhook answers",
        "+ intent hours",
        "+ intent returns",
        "! secret upstream_key is named in the file but not set",
        "the project's key, shown once: fbk_copy.",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in:\n{}", run.stdout);
    }
    let (status, _) = host
        .call("PUT", "/v1/projects/copy/secrets/upstream_key", Some(ADMIN_TOKEN), Some(json!({"value": "x"})))
        .await;
    assert_eq!(status, StatusCode::OK);

    let again = dir.join("copy.toml");
    let run = export(&host, "copy", &again).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(read(&again).replace(r#"project = "copy""#, r#"project = "shop""#), text);

    // A second apply makes no write: the plugin is not uploaded again.
    let before = snapshot(&host, "copy").await;
    let run = apply(&host, &file, &["--project", "copy"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "no changes");
    assert_eq!(snapshot(&host, "copy").await, before);
    assert_eq!(before["plugin"]["versions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn dry_run_changes_nothing_and_apply_then_does_it() {
    let host = TestHost::start().await;
    shop(&host).await;
    let (_keep, dir) = dir();
    let file = dir.join("shop.toml");
    assert_eq!(export(&host, "shop", &file).await.code, 0);
    let edited = read(&file)
        .replace("match_threshold = 0.3", "match_threshold = 0.6")
        .replace(r#"responses = ["9 to 5"]"#, r#"responses = ["9 to 6"]"#)
        .replace("Not now.", "Later.");
    let edited = without_table(&edited, "[intents.returns]");
    std::fs::write(&file, &edited).expect("write");

    let before = snapshot(&host, "shop").await;
    let run = apply(&host, &file, &["--dry-run"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in
        ["~ match_threshold 0.3 -> 0.6", "~ webhook answers (response)", "~ intent hours", "- intent returns"]
    {
        assert!(run.stdout.contains(line), "{line:?} in:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("dry run: 4 change(s), none made"), "{}", run.stdout);
    assert_eq!(snapshot(&host, "shop").await, before, "a dry run writes nothing");

    let run = apply(&host, &file, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("applied 4 change(s)"), "{}", run.stdout);
    let (status, _) = host.call("GET", "/v1/projects/shop/intents/returns", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the intent removed from the file is deleted");
    assert_eq!(get(&host, "/v1/projects/shop").await["match_threshold"], 0.6);
    assert_eq!(get(&host, "/v1/projects/shop/intents/hours").await["responses"], json!(["9 to 6"]));
    assert_eq!(get(&host, "/v1/projects/shop/webhooks/answers").await["response"]["failure"], "Later.");
    assert_eq!(apply(&host, &file, &[]).await.stdout.trim(), "no changes");
}

#[tokio::test]
async fn a_plugin_is_uploaded_once_and_a_stored_one_reactivated() {
    let host = TestHost::start().await;
    shop(&host).await;
    let (_keep, dir) = dir();
    let file = dir.join("shop.toml");
    assert_eq!(export(&host, "shop", &file).await.code, 0);
    let json_reply = wasm::read(wasm::JSON_REPLY);
    let quick = wasm::read(wasm::QUICK_REPLIES);
    let original = read(&file);
    let quick_file = original.replace("plugins/answers.wasm", "quick.wasm").replace(
        &hex(&fallback_host::plugin::sha256(&json_reply)),
        &hex(&fallback_host::plugin::sha256(&quick)),
    );
    std::fs::write(dir.join("quick.wasm"), &quick).expect("write");
    std::fs::write(&file, &quick_file).expect("write");

    let run = apply(&host, &file, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("+ plugin answers: upload quick.wasm"), "{}", run.stdout);
    assert_eq!(apply(&host, &file, &[]).await.stdout.trim(), "no changes");

    // Back to the first build: version 1 is still stored, so it is activated, not uploaded.
    std::fs::write(&file, &original).expect("write");
    let run = apply(&host, &file, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("~ plugin answers: activate stored version 1"), "{}", run.stdout);
    let plugin = get(&host, "/v1/projects/shop/webhooks/answers/plugin").await;
    assert_eq!(plugin["active"], 1);
    assert_eq!(plugin["versions"].as_array().map(Vec::len), Some(2));

    // No plugin in the file: the webhook's is detached.
    std::fs::write(&file, without_table(&original, "[plugins.answers]")).expect("write");
    let run = apply(&host, &file, &[]).await;
    assert!(run.stdout.contains("- plugin answers: detach"), "{}", run.stdout);
    assert_eq!(get(&host, "/v1/projects/shop/webhooks/answers/plugin").await["active"], Value::Null);
}

#[tokio::test]
async fn a_bad_file_is_refused_whole_and_changes_nothing() {
    let host = TestHost::start().await;
    shop(&host).await;
    let (_keep, dir) = dir();
    let file = dir.join("shop.toml");
    assert_eq!(export(&host, "shop", &file).await.code, 0);
    let good = read(&file);
    // Each edit also deletes an intent, so a partial apply would show.
    let good = without_table(&good, "[intents.returns]");
    let before = snapshot(&host, "shop").await;
    let cases = [
        (good.replace("version = 1", "version = 7"), "format version 7 is not supported"),
        (good.replace("[intents.hours]", "[intents.hours"), "not a project file"),
        (good.replace("examples = [", "example = ["), "unknown field `example`"),
        (
            good.replace(r#"url = "http://127.0.0.1:9/chat""#, r#"url = "ftp://example.com/""#),
            "webhooks.answers.url",
        ),
        (
            good.replace(r#"responses = ["9 to 5"]"#, "responses = []"),
            "intents.hours.responses: between 1 and",
        ),
        (
            good.replace("match_threshold = 0.3", "match_threshold = 1.5"),
            "match_threshold: a number in (0, 1]",
        ),
        (good.replace(r#"webhook = "answers""#, r#"webhook = "nope""#), "fallback: webhook \"nope\""),
        (good.replace("plugins/answers.wasm", "plugins/missing.wasm"), "plugins.answers.file: cannot read"),
        (good.replace("sha256 = \"", "sha256 = \"00"), "plugins.answers.sha256: the file says 00"),
    ];
    for (text, message) in cases {
        std::fs::write(&file, &text).expect("write");
        let run = apply(&host, &file, &[]).await;
        assert_eq!(run.code, 1, "{message}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(message),
            "{message}: {}",
            run.stderr
        );
        assert_eq!(snapshot(&host, "shop").await, before, "{message}: nothing changed");
    }

    // The API's refusals are shown with their status and code.
    std::fs::write(&file, &good).expect("write");
    let args = ["apply", &path(&file), "--url", &host.url(""), "--token", "fbk_shop.wrong"];
    let run = cli(args.map(String::from).to_vec(), vec![]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("401 Unauthorized unauthorized"), "{}", run.stderr);
    assert_eq!(snapshot(&host, "shop").await, before);
}

/// The file without one `[table]` and its keys.
fn without_table(text: &str, header: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line == header;
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
