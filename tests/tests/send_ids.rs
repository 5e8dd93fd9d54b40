//! Send ids as channels give them, end to end: chat, the conversation path, the templates that
//! carry `{send_id}` upstream; and conversations expiring after their last turn.

use std::time::Duration;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Percent-encodes everything but RFC 3986 unreserved characters, as clients do for a segment.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const CHANNEL_IDS: [&str; 6] = [
    "U024BE7LH",
    "whatsapp:+14155238886",
    "user@example.com",
    "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
    "room/42 50% \"done\" & more?#",
    "会話-é-🙂",
];

async fn project_with_echo_webhook(host: &TestHost, upstream: &Upstream, project: &str) -> String {
    let key = host.create_project(project).await;
    let spec = json!({
        "method": "POST",
        "url": format!("{}/{{send_id}}/inbox?input={{latest_message}}&chatId={{send_id}}", upstream.url("/to")),
        "body": {"type": "json", "content": {"sid": "{send_id}", "text": "{latest_message}"}},
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "failed"}
    });
    host.put_webhook(project, &key, "echo", spec).await;
    host.use_webhook_as_fallback(project, &key, "echo").await;
    key
}

#[tokio::test]
async fn channel_send_ids_chat_reach_upstream_byte_exact_and_read_back() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = project_with_echo_webhook(&host, &upstream, "channels").await;
    let longest = "é".repeat(128);
    for send_id in CHANNEL_IDS.iter().copied().chain([longest.as_str()]) {
        let answer = host.chat("channels", &key, send_id, "hello there").await;
        assert_eq!(answer["send_id"], send_id);
        assert_eq!(answer["replies"][0]["text"], "echo: hello there", "{answer}");

        let sent = upstream.requests().pop().expect("the webhook was called");
        assert_eq!(sent.raw_path, format!("/to/{}/inbox", encode(send_id)), "path segment percent-encoded");
        assert_eq!(sent.query_param("chatId").as_deref(), Some(send_id), "query value round-trips");
        let body: Value = serde_json::from_slice(&sent.body).expect("json body");
        assert_eq!(body["sid"], send_id, "JSON-escaped in the body");

        let (status, body) = host
            .call(
                "GET",
                &format!("/v1/projects/channels/conversations/{}", encode(send_id)),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{send_id}: {body}");
        assert_eq!(body["send_id"], send_id);
        assert_eq!(body["turns"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body["turns"][0]["message"], "hello there");
    }

    let (status, body) = host
        .call(
            "POST",
            "/v1/projects/channels/webhooks/echo/test",
            Some(&key),
            Some(json!({"latest_message": "hi", "send_id": "whatsapp:+14155238886"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the test console takes channel ids: {body}");
}

#[tokio::test]
async fn bad_send_ids_are_400_and_change_nothing() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = project_with_echo_webhook(&host, &upstream, "strict").await;
    let too_long = "a".repeat(257);
    let three_byte_too_long = "会".repeat(86);
    for send_id in
        ["", too_long.as_str(), three_byte_too_long.as_str(), "a\nb", "tab\there", "\u{1b}[31mred", "nul\0"]
    {
        let (status, body) = host
            .call(
                "POST",
                "/v1/projects/strict/chat",
                Some(&key),
                Some(json!({"send_id": send_id, "message": "hi"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{send_id:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_send_id", "{body}");
        let (status, body) = host
            .call(
                "POST",
                "/v1/projects/strict/webhooks/echo/test",
                Some(&key),
                Some(json!({"latest_message": "hi", "send_id": send_id})),
            )
            .await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_send_id")));
    }
    assert_eq!(upstream.count(), 0, "nothing reached the upstream");
    for path in [too_long.clone(), encode("a\nb"), "%1B".to_string()] {
        let (status, body) =
            host.call("GET", &format!("/v1/projects/strict/conversations/{path}"), Some(&key), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_send_id");
    }
    // Not UTF-8 once decoded: no such route, answered in the API's error shape.
    let (status, body) = host.call("GET", "/v1/projects/strict/conversations/%FF%FE", Some(&key), None).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let (status, _) =
        host.call("GET", "/v1/projects/strict/conversations/nobody%40example.com", Some(&key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn conversations_expire_after_the_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let key = host.create_project("forgetful").await;
    host.call("PUT", "/v1/projects/forgetful/fallback", Some(&key), Some(json!({"text": "noted"}))).await;
    host.chat("forgetful", &key, "user@example.com", "remember me").await;
    let path = "/v1/projects/forgetful/conversations/user%40example.com";
    let (status, _) = host.call("GET", path, Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "kept under the default retention");
    host.stop().await;

    // The same data with a retention far shorter than the conversation's age.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.conversation_retention = Duration::from_millis(20);
        config.limits.conversation_sweep_interval = Duration::from_millis(50);
    })
    .await;
    let mut status = StatusCode::OK;
    for _ in 0..200 {
        status = host.call("GET", path, Some(&key), None).await.0;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::NOT_FOUND, "the sweeper deleted the expired conversation");
    host.stop().await;
}
