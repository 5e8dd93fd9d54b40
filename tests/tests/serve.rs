//! `fallback-host serve` as an operator runs it: the generated admin token, SIGTERM, restarts;
//! and the graceful drain of in-flight requests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use reqwest::StatusCode;
use serde_json::json;

/// A `serve` process and what it printed until it said where it listens.
struct Served {
    child: Child,
    addr: String,
    stderr_head: Vec<String>,
}

fn serve(data_dir: &std::path::Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("FALLBACK_ADMIN_TOKEN")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut head = Vec::new();
    let addr = loop {
        let line = lines.next().expect("serve printed where it listens").expect("utf-8");
        head.push(line.clone());
        if let Some(at) = line.find("address=") {
            let rest = &line[at + "address=".len()..];
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served { child, addr, stderr_head: head }
}

fn terminate(mut served: Served) -> std::process::ExitStatus {
    let status =
        Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = served.child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = served.child.kill();
    panic!("serve did not stop on SIGTERM");
}

#[tokio::test]
async fn serve_generates_the_admin_token_once_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = serve(dir.path());
    let printed = first.stderr_head.join("\n");
    let token_file = dir.path().join("admin_token");
    let token = std::fs::read_to_string(&token_file).expect("token kept in the data dir");
    let token = token.trim().to_string();
    assert!(printed.contains(&token), "the generated token is printed: {printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }

    let client = reqwest::Client::new();
    let base = format!("http://{}", first.addr);
    let health = client.get(format!("{base}/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    let created = client
        .post(format!("{base}/v1/projects"))
        .bearer_auth(&token)
        .json(&json!({"id": "ops", "name": "Ops"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let request_id = created.headers().get("x-request-id").cloned();
    assert!(request_id.is_some(), "every answer carries its request id");

    let status = terminate(first);
    assert!(status.success(), "SIGTERM is a clean stop: {status}");

    let second = serve(dir.path());
    let printed = second.stderr_head.join("\n");
    assert!(!printed.contains(&token), "the token is printed only when generated: {printed}");
    let base = format!("http://{}", second.addr);
    let listed = client.get(format!("{base}/v1/projects")).bearer_auth(&token).send().await.expect("list");
    assert_eq!(listed.status(), StatusCode::OK);
    let body: serde_json::Value = listed.json().await.expect("json");
    assert_eq!(body["projects"][0]["id"], "ops");
    assert!(terminate(second).success());
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project("drain").await;
    let spec = json!({
        "url": format!("{}?input={{latest_message}}", upstream.url("/slow")),
        "timeout_ms": 1500,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Too slow."}
    });
    let (status, body) = host.call("PUT", "/v1/projects/drain/webhooks/slow", Some(&key), Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    host.call("PUT", "/v1/projects/drain/fallback", Some(&key), Some(json!({"webhook": "slow"}))).await;

    let url = host.url("/v1/projects/drain/chat");
    let client = host.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(key)
            .json(&json!({"send_id": "s", "message": "take your time"}))
            .send()
            .await
    });
    // Stop only once the chat is surely in flight: its webhook call has reached the upstream.
    for _ in 0..200 {
        if upstream.count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.count(), 1, "the chat reached its webhook");
    let addr = host.addr;
    host.stop().await;

    let response = in_flight.await.expect("task").expect("the in-flight request was answered");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["replies"][0]["text"], "Too slow.");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "a stopped host accepts no new connections");
}
