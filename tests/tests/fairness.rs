//! Every tenant bounded: a project past its share of webhook executions or plugin slots is
//! answered `busy` at once while another project's chats all succeed; the per-project request
//! rate answers 429 with `Retry-After`; `/chat` never shows a secret an upstream echoes; a stored
//! webhook over a limit the operator lowered since answers its failure text with a code.

use std::time::Duration;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const FAILURE: &str = "Sorry, busy right now.";

fn webhook(url: &str) -> Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}"),
        "timeout_ms": 10000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    })
}

/// A project whose fallback is `spec` (as webhook `answers`); returns its key.
async fn project_with(host: &TestHost, id: &str, spec: Value) -> String {
    let key = host.create_project(id).await;
    host.put_webhook(id, &key, "answers", spec).await;
    host.use_webhook_as_fallback(id, &key, "answers").await;
    key
}

async fn console(host: &TestHost, project: &str, key: &str, webhook: &str) -> Value {
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/projects/{project}/webhooks/{webhook}/test"),
            Some(key),
            Some(json!({"latest_message": "hello", "send_id": "console"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn metrics(host: &TestHost) -> String {
    let (status, body) = host.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    body.as_str().expect("metrics text").to_string()
}

/// The value of one series, 0 when absent.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0)
}

/// One chat on its own task, so many run at once; answers the HTTP status and body.
fn spawn_chat(host: &TestHost, project: &str, key: &str, send_id: String) -> JoinHandle<(StatusCode, Value)> {
    let request = host
        .client
        .post(host.url(&format!("/v1/projects/{project}/chat")))
        .bearer_auth(key)
        .json(&json!({"send_id": send_id, "message": "tell me something"}));
    tokio::spawn(async move {
        let response = request.send().await.expect("chat sent");
        let status = response.status();
        (status, response.json().await.expect("chat answer"))
    })
}

async fn answers(handles: Vec<JoinHandle<(StatusCode, Value)>>) -> Vec<Value> {
    let mut answers = Vec::with_capacity(handles.len());
    for handle in handles {
        let (status, body) = handle.await.expect("chat task");
        assert_eq!(status, StatusCode::OK, "{body}");
        answers.push(body);
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_past_its_executions_in_flight_is_busy_while_another_is_served() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.webhook_max_in_flight_per_project = 4;
    })
    .await;
    let a = project_with(&host, "flood", webhook(&upstream.url("/gate"))).await;
    let b = project_with(&host, "calm", webhook(&upstream.url("/chat"))).await;

    // A's 20 chats: 4 reach the held upstream, 16 are answered `busy` at once.
    let flood: Vec<_> = (0..20).map(|i| spawn_chat(&host, "flood", &a, format!("a-{i}"))).collect();
    let mut waited = 0;
    while upstream.requests().iter().filter(|r| r.path == "/gate").count() < 4 {
        assert!(waited < 600, "A's first chats never reached the upstream");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let busy = "fallback_webhook_failures_total{stage=\"admission\",code=\"busy\"}";
    while counter(&metrics(&host).await, busy) < 16 {
        assert!(waited < 1200, "A's other chats were not refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }

    // The console of the full project says why; B's chats all succeed meanwhile.
    let trace = console(&host, "flood", &a, "answers").await;
    assert_eq!(trace["outcome"], "failure", "{trace}");
    assert_eq!(trace["error"]["stage"], "admission", "{trace}");
    assert_eq!(trace["error"]["code"], "busy", "{trace}");
    assert_eq!(trace["replies"][0]["text"], FAILURE);
    for round in 0..3 {
        // B's own share is 4 at once too.
        let calm: Vec<_> = (0..4).map(|i| spawn_chat(&host, "calm", &b, format!("b-{round}-{i}"))).collect();
        for answer in answers(calm).await {
            assert_eq!(answer["outcome"], "success", "{answer}");
            assert_eq!(answer["replies"][0]["text"], "echo: tell me something");
        }
    }

    upstream.open_gate();
    let flood = answers(flood).await;
    let succeeded = flood.iter().filter(|answer| answer["outcome"] == "success").count();
    let refused: Vec<_> = flood.iter().filter(|answer| answer["outcome"] == "failure").collect();
    assert_eq!(succeeded, 4, "the 4 admitted chats finish once the upstream answers");
    assert_eq!(refused.len(), 16);
    assert!(refused.iter().all(|answer| answer["replies"][0]["text"] == FAILURE), "{refused:?}");
    assert_eq!(counter(&metrics(&host).await, busy), 16, "the console's refusal is not a chat");

    // The slots came back: A is served again.
    let again = host.chat("flood", &a, "a-again", "hello").await;
    assert_eq!(again["outcome"], "success", "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_plugin_uses_its_projects_slots_and_no_more() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.plugin_slots_per_project = 2;
        // A pool of 8: A may borrow past its share only while fewer than 4 are in use, so its
        // 10 looping chats hold at most 4 and the rest are refused at once.
        config.limits.plugin_max_concurrent = 8;
        // Long enough that A's loops still hold their slots while B chats, in a debug build.
        config.limits.plugin_call_timeout = Duration::from_secs(3);
    })
    .await;
    let mut looping = webhook(&upstream.url("/chat"));
    looping["plugin_config"] = json!({"mode": "loop"});
    let a = project_with(&host, "looper", looping).await;
    let b = project_with(&host, "benign", webhook(&upstream.url("/chat"))).await;
    host.upload_plugin("looper", &a, "answers", wasm::read(wasm::HOSTILE)).await;
    host.upload_plugin("benign", &b, "answers", wasm::read(wasm::HOSTILE)).await;

    let flood: Vec<_> = (0..10).map(|i| spawn_chat(&host, "looper", &a, format!("a-{i}"))).collect();
    // B has its own 2 slots, whatever A does with its own.
    for round in 0..3 {
        let benign: Vec<_> =
            (0..2).map(|i| spawn_chat(&host, "benign", &b, format!("b-{round}-{i}"))).collect();
        for answer in answers(benign).await {
            assert_eq!(answer["outcome"], "success", "{answer}");
            assert_eq!(answer["replies"][0]["text"], "ok from hostile");
        }
    }
    let flood = answers(flood).await;
    assert!(flood.iter().all(|answer| answer["outcome"] == "failure"), "{flood:?}");
    assert!(flood.iter().all(|answer| answer["replies"][0]["text"] == FAILURE), "{flood:?}");

    let text = metrics(&host).await;
    let busy = counter(&text, "fallback_webhook_failures_total{stage=\"plugin\",code=\"busy\"}");
    let ended = ["plugin_timeout", "plugin_out_of_fuel"].iter().map(|code| {
        counter(&text, &format!("fallback_webhook_failures_total{{stage=\"plugin\",code=\"{code}\"}}"))
    });
    assert_eq!(busy + ended.sum::<u64>(), 10, "{text}");
    assert!(busy >= 1, "past its 2 slots a chat is busy at once: {text}");
}

#[tokio::test]
async fn past_its_rate_a_project_gets_429_with_retry_after_then_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.chat_rate_per_second = 1;
        config.limits.chat_rate_burst = 2;
    })
    .await;
    // No fallback configured: the chat answers at once, so only the rate can refuse it.
    let a = host.create_project("chatty").await;
    let b = host.create_project("quiet").await;
    let chat = |project: &'static str, key: String, send_id: &'static str| {
        host.client
            .post(host.url(&format!("/v1/projects/{project}/chat")))
            .bearer_auth(key)
            .json(&json!({"send_id": send_id, "message": "hello"}))
            .send()
    };

    for _ in 0..2 {
        let response = chat("chatty", a.clone(), "s").await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "the burst passes");
    }
    let mut refused = None;
    for _ in 0..20 {
        let response = chat("chatty", a.clone(), "s").await.expect("sent");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("past the burst and the rate, a chat is refused");
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!(retry_after >= 1);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Another project has its own bucket; the console shares the project's.
    assert_eq!(chat("quiet", b.clone(), "s").await.expect("sent").status(), StatusCode::OK);
    let (status, body) = host
        .call(
            "POST",
            "/v1/projects/chatty/webhooks/none/test",
            Some(&a),
            Some(json!({"latest_message": "hi", "send_id": "console"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // A refused chat changed nothing: the conversation has only the admitted turns.
    let (_, history) = host.call("GET", "/v1/projects/chatty/conversations/s", Some(&a), None).await;
    let admitted = history["turns"].as_array().map(Vec::len).unwrap_or(0);

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let response = chat("chatty", a.clone(), "s").await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "the project recovers after Retry-After");
    let (_, history) = host.call("GET", "/v1/projects/chatty/conversations/s", Some(&a), None).await;
    assert_eq!(history["turns"].as_array().map(Vec::len), Some(admitted + 1));
    assert!(counter(&metrics(&host).await, "fallback_rate_limited_total") >= 2);
}

#[tokio::test]
async fn chat_replies_never_show_an_echoed_secret() {
    const SECRET: &str = "tok-5ecr3t-echoed-back";
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let mut spec = webhook(&upstream.url("/echo-auth"));
    spec["headers"] = json!({"Authorization": "Bearer {secret.upstream_key}"});
    let key = project_with(&host, "echo", spec).await;
    let (status, _) = host
        .call("PUT", "/v1/projects/echo/secrets/upstream_key", Some(&key), Some(json!({"value": SECRET})))
        .await;
    assert!(status.is_success(), "{status}");

    let answer = host.chat("echo", &key, "s-1", "hi").await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    let text = answer["replies"][0]["text"].as_str().expect("text");
    assert_eq!(text, "auth: Bearer {secret.upstream_key}");
    assert!(upstream.requests().iter().any(|r| {
        r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET}"))
    }));

    let (_, history) = host.call("GET", "/v1/projects/echo/conversations/s-1", Some(&key), None).await;
    assert!(!history.to_string().contains(SECRET), "{history}");
    assert!(!console(&host, "echo", &key, "answers").await.to_string().contains(SECRET));
}

#[tokio::test]
async fn a_stored_webhook_over_a_lowered_limit_answers_its_failure_text_with_a_code() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let mut spec = webhook(&upstream.url("/chat"));
    spec["timeout_ms"] = json!(5000);
    spec["response"]["failure"] = json!("Sorry {send_id}, not now.");
    let key = project_with(&host, "lowered", spec).await;
    let mut plugin_limited = webhook(&upstream.url("/chat"));
    plugin_limited["limits"] = json!({"plugin_memory_bytes": 32 * 1024 * 1024});
    host.put_webhook("lowered", &key, "limited", plugin_limited).await;
    assert_eq!(host.chat("lowered", &key, "s-1", "hi").await["outcome"], "success");
    host.stop().await;

    let host = TestHost::start_on(dir.path(), |config| {
        config.limits.upstream_timeout_default = Duration::from_millis(1000);
        config.limits.upstream_timeout_max = Duration::from_millis(2000);
        config.limits.plugin_memory_bytes = 16 * 1024 * 1024;
    })
    .await;
    let answer = host.chat("lowered", &key, "s-2", "hi").await;
    assert_eq!(answer["outcome"], "failure", "{answer}");
    assert_eq!(answer["replies"][0]["text"], "Sorry s-2, not now.");

    let trace = console(&host, "lowered", &key, "answers").await;
    assert_eq!(trace["error"]["stage"], "webhook", "{trace}");
    assert_eq!(trace["error"]["code"], "webhook_over_limit", "{trace}");
    assert!(trace["error"]["message"].as_str().unwrap_or("").contains("timeout_ms"), "{trace}");
    assert_eq!(trace["replies"][0]["text"], "Sorry console, not now.");

    let trace = console(&host, "lowered", &key, "limited").await;
    assert_eq!(trace["error"]["code"], "webhook_over_limit", "{trace}");
    assert!(
        trace["error"]["message"].as_str().unwrap_or("").contains("limits.plugin_memory_bytes"),
        "{trace}"
    );
    assert_eq!(trace["replies"][0]["text"], FAILURE);
    let text = metrics(&host).await;
    assert_eq!(
        counter(&text, "fallback_webhook_failures_total{stage=\"webhook\",code=\"webhook_over_limit\"}"),
        1,
        "{text}"
    );
}
