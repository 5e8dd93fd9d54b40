//! The HTTP server bounded, over raw sockets: a slow request head is cut off, an idle
//! keep-alive connection is closed, the connection cap holds while `/healthz` keeps answering,
//! every request has a deadline, and shutdown drains within its deadline.

use std::time::Duration;

use fallback_host::config::Config;
use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any deadline set below: only a guard against a hung test.
const GUARD: Duration = Duration::from_secs(20);

/// A host on a fresh data dir (kept alive by the caller) with adjusted limits.
async fn start_with(adjust: impl FnOnce(&mut Config)) -> (tempfile::TempDir, TestHost) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), adjust).await;
    (dir, host)
}

/// Reads until the server closes the connection; what it sent before closing.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GUARD, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open; received {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sets a chat project up whose fallback webhook calls the upstream's 10-second `/slow`.
async fn slow_project(host: &TestHost, upstream: &Upstream, project: &str) -> String {
    let key = host.create_project(project).await;
    let spec = json!({
        "url": upstream.url("/slow"),
        "timeout_ms": 30000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Too slow."}
    });
    host.put_webhook(project, &key, "slow", spec).await;
    host.use_webhook_as_fallback(project, &key, "slow").await;
    key
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let (_dir, host) = start_with(|config| {
        config.limits.http_header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut slow = TcpStream::connect(host.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("half a head");
    let received = read_until_closed(&mut slow).await;
    assert!(received.is_empty(), "no answer to half a head: {:?}", String::from_utf8_lossy(&received));

    let (status, _) = host.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "whole requests are still served");
    host.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_dir, host) = start_with(|config| {
        // The head deadline is longer than the guard: only the idle deadline can close it.
        config.limits.http_header_read_timeout = Duration::from_secs(60);
        config.limits.http_keep_alive_idle = Duration::from_millis(300);
    })
    .await;
    let mut stream = TcpStream::connect(host.addr).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("request");
    let received = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "answered, then closed when idle: {text}");
    assert!(!text.to_ascii_lowercase().contains("connection: close"), "kept alive after the answer: {text}");
    host.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds_while_healthz_keeps_answering() {
    const CAP: usize = 20;
    let (_dir, host) = start_with(|config| {
        config.limits.http_max_connections = CAP;
        config.limits.http_header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(host.addr).await.expect("connect (accepted or in the backlog)"));
    }
    // A fresh client gets its answer once slots free up: the idle ones time out, 20 at a time.
    let health = tokio::time::timeout(GUARD, host.client.get(host.url("/healthz")).send())
        .await
        .expect("healthz answered before the guard")
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    // Every idle connection is eventually accepted and cut off: none is held forever.
    for stream in &mut idle {
        assert!(read_until_closed(stream).await.is_empty());
    }
    let (status, metrics) = host.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().expect("text").to_string();
    let peak: usize = metrics
        .lines()
        .find_map(|line| line.strip_prefix("fallback_http_connections_peak "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the peak gauge");
    assert!((2..=CAP).contains(&peak), "at most {CAP} connections were ever open at once, saw {peak}");
    host.stop().await;
}

#[tokio::test]
async fn a_request_over_its_deadline_is_answered_503_timeout() {
    let upstream = Upstream::start().await;
    let (_dir, host) = start_with(|config| {
        config.limits.http_request_timeout = Duration::from_millis(300);
    })
    .await;
    let key = slow_project(&host, &upstream, "slowpoke").await;
    let response = host
        .client
        .post(host.url("/v1/projects/slowpoke/chat"))
        .bearer_auth(&key)
        .json(&json!({"send_id": "U024BE7LH", "message": "anyone there?"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    let (status, _) = host.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    host.stop().await;
}

#[tokio::test]
async fn shutdown_drops_what_outlives_the_drain_deadline() {
    let upstream = Upstream::start().await;
    let (_dir, host) = start_with(|config| {
        config.limits.shutdown_drain = Duration::from_millis(200);
    })
    .await;
    let key = slow_project(&host, &upstream, "stuck").await;
    let request = host
        .client
        .post(host.url("/v1/projects/stuck/chat"))
        .bearer_auth(&key)
        .json(&json!({"send_id": "s", "message": "wait for me"}))
        .send();
    let in_flight = tokio::spawn(request);
    for _ in 0..200 {
        if upstream.count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.count(), 1, "the chat is in flight");
    // The upstream answers after 10 s; the drain deadline ends the wait well before.
    tokio::time::timeout(Duration::from_secs(8), host.stop()).await.expect("stopped at the drain deadline");
    let outcome = in_flight.await.expect("task");
    assert!(outcome.is_err(), "the dropped connection ends the request: {outcome:?}");
}
