//! The fallback pipeline end to end: real host, real upstream, real plugins.

use fallback_tests::database::Backend;
use fallback_tests::host::TestHost;
use fallback_tests::upstream::{Upstream, closed_port};
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

fallback_tests::on_both_backends!(
    the_seed_scenario,
    inputs_arrive_upstream_byte_exact_in_query_and_json_body,
    an_intent_match_calls_no_webhook,
    upstream_faults_answer_the_failure_text_and_the_console_says_why,
    the_console_traces_every_step_redacts_secrets_and_records_nothing,
    loopback_is_refused_unless_the_operator_allows_it,
    plugins_change_the_answer_swap_live_and_roll_back,
    a_trapping_plugin_answers_the_failure_text_and_the_next_chat_works,
    fifty_concurrent_conversations_keep_their_histories_apart,
    a_webhook_lowers_its_own_limits,
);

const FAILURE: &str = "Sorry, I can't answer that right now.";

/// A project whose fallback is the seed's webhook: `GET {url}?input={latest_message}&chatId={send_id}`.
async fn seed_project(host: &TestHost, id: &str, url: &str) -> String {
    let key = host.create_project(id).await;
    let spec = json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "headers": {},
        "body": null,
        "timeout_ms": 1000,
        "retries": 0,
        "response": {
            "extract": {"reply": "$.message"},
            "success": "{reply}",
            "failure": FAILURE
        },
        "plugin_config": {}
    });
    host.put_webhook(id, &key, "answers", spec).await;
    host.use_webhook_as_fallback(id, &key, "answers").await;
    key
}

async fn console(host: &TestHost, project: &str, key: &str, webhook: &str, message: &str) -> Value {
    let (status, body) = host
        .call(
            "POST",
            &format!("/v1/projects/{project}/webhooks/{webhook}/test"),
            Some(key),
            Some(json!({"latest_message": message, "send_id": "console"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn the_seed_scenario(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "seed", &upstream.url("/chat")).await;

    let answer = host.chat("seed", &key, "conv-1", "what is the weather").await;
    assert_eq!(answer["replies"][0]["text"], "echo: what is the weather");
    assert_eq!(answer["outcome"], "success");
    assert_eq!(answer["fallback"], true);
    assert_eq!(answer["intent"], Value::Null);
    assert_eq!(answer["send_id"], "conv-1");

    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/chat");
    assert_eq!(requests[0].query_param("input").as_deref(), Some("what is the weather"));
    assert_eq!(requests[0].query_param("chatId").as_deref(), Some("conv-1"));

    let (_, history) = host.call("GET", "/v1/projects/seed/conversations/conv-1", Some(&key), None).await;
    let turns = history["turns"].as_array().cloned().unwrap_or_default();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0]["message"], "what is the weather");
    assert_eq!(turns[0]["outcome"], "success");
}

const HOSTILE_INPUTS: &[&str] = &[
    "hello world",
    "a&b=c",
    "#hash?query",
    "100% + 1",
    "she said \"hi\" and 'bye'",
    "line one\nline two\r\nthree",
    "back\\slash {braces} {{double}}",
    "héllo wörld ✓ 日本語 🎉",
    "tab\there",
];

async fn inputs_arrive_upstream_byte_exact_in_query_and_json_body(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "enc", &upstream.url("/chat")).await;
    for input in HOSTILE_INPUTS {
        let answer = host.chat("enc", &key, "s-1", input).await;
        assert_eq!(answer["outcome"], "success", "{input:?}: {answer}");
        let last = upstream.requests().pop().expect("request");
        assert_eq!(last.query_param("input").as_deref(), Some(*input), "query for {input:?}");
        assert_eq!(answer["replies"][0]["text"], format!("echo: {input}"));
    }

    let post = json!({
        "method": "POST",
        "url": upstream.url("/chat"),
        "body": {"type": "json", "content": {"text": "{latest_message}", "meta": {"chat": "{send_id}", "n": 1}}},
        "timeout_ms": 1000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    });
    host.put_webhook("enc", &key, "answers", post).await;
    for input in HOSTILE_INPUTS {
        let answer = host.chat("enc", &key, "s-2", input).await;
        assert_eq!(answer["outcome"], "success", "{input:?}: {answer}");
        let last = upstream.requests().pop().expect("request");
        assert_eq!(last.method, "POST");
        let body: Value = serde_json::from_slice(&last.body).expect("the body stays valid JSON");
        assert_eq!(body["text"], *input, "body for {input:?}");
        assert_eq!(body["meta"], json!({"chat": "s-2", "n": 1}));
        let content_type = last.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("application/json"), "{content_type}");
    }
}

async fn an_intent_match_calls_no_webhook(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "intents", &upstream.url("/chat")).await;
    let intent = json!({"examples": ["what are your opening hours", "when are you open"], "responses": ["We open at nine."]});
    let (status, _) = host.call("PUT", "/v1/projects/intents/intents/hours", Some(&key), Some(intent)).await;
    assert_eq!(status, StatusCode::OK);

    let answer = host.chat("intents", &key, "s", "When are you OPEN?").await;
    assert_eq!(answer["intent"], "hours");
    assert_eq!(answer["outcome"], "matched");
    assert_eq!(answer["fallback"], false);
    assert_eq!(answer["replies"][0]["text"], "We open at nine.");
    assert_eq!(upstream.count(), 0, "the upstream saw nothing");

    let answer = host.chat("intents", &key, "s", "tell me about quantum physics").await;
    assert_eq!(answer["fallback"], true);
    assert_eq!(upstream.count(), 1);

    // The project's threshold decides: over the confidence of even an example itself, every
    // message goes to the webhook; under it, the example answers again.
    let (status, body) =
        host.call("PATCH", "/v1/projects/intents", Some(&key), Some(json!({"match_threshold": 0.99}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["match_threshold"], 0.99);
    let answer = host.chat("intents", &key, "s", "when are you open on sundays").await;
    assert_eq!(answer["fallback"], true, "{answer}");
    let answer = host.chat("intents", &key, "s", "When are you open").await;
    assert_eq!(answer["fallback"], true, "{answer}");
    let confidence = answer["confidence"].as_f64().expect("the best intent's confidence");
    assert!((0.5..0.99).contains(&confidence), "an example is its intent's, short of certainty: {answer}");
    let (status, _) = host
        .call("PATCH", "/v1/projects/intents", Some(&key), Some(json!({"match_threshold": confidence})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = host.chat("intents", &key, "s", "When are you open").await;
    assert_eq!(answer["intent"], "hours", "{answer}");
    let (status, _) =
        host.call("PATCH", "/v1/projects/intents", Some(&key), Some(json!({"match_threshold": 1.5}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn upstream_faults_answer_the_failure_text_and_the_console_says_why(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let refused = closed_port().await;
    let cases = [
        (upstream.url("/status/500"), "upstream_status"),
        (upstream.url("/status/404"), "upstream_status"),
        (upstream.url("/slow"), "timeout"),
        (format!("http://{refused}/chat"), "connect"),
        (upstream.url("/invalid"), "unreadable_body"),
        (upstream.url("/missing"), "missing_variable"),
        (upstream.url("/empty"), "empty_reply"),
    ];
    for (index, (url, expected)) in cases.iter().enumerate() {
        let project = format!("fault{index}");
        let key = seed_project(&host, &project, url).await;
        let answer = host.chat(&project, &key, "s", "hello?").await;
        assert_eq!(answer["outcome"], "failure", "{url}: {answer}");
        assert_eq!(answer["replies"][0]["text"], FAILURE, "{url}");
        assert!(!answer.to_string().contains("{reply}"), "no hole in the reply");

        let trace = console(&host, &project, &key, "answers", "hello?").await;
        assert_eq!(trace["outcome"], "failure", "{trace}");
        let code = trace["error"]["code"].as_str().unwrap_or("");
        assert!(code.contains(expected), "{url}: expected {expected}, trace error {}", trace["error"]);
        assert!(trace["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(trace["request"]["url"].is_string(), "{trace}");
    }
    let metrics = host.client.get(host.url("/metrics")).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    for line in [
        "fallback_webhook_failures_total{stage=\"upstream\",code=\"upstream_status\"} 2",
        "fallback_webhook_failures_total{stage=\"upstream\",code=\"timeout\"} 1",
        "fallback_webhook_failures_total{stage=\"reply\",code=\"missing_variable\"} 1",
        "fallback_chats_total{outcome=\"failure\"} 7",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

async fn the_console_traces_every_step_redacts_secrets_and_records_nothing(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "trace", &upstream.url("/chat")).await;
    host.call(
        "PUT",
        "/v1/projects/trace/secrets/upstream_key",
        Some(&key),
        Some(json!({"value": "topsecret-42"})),
    )
    .await;
    let spec = json!({
        "method": "GET",
        "url": format!("{}?input={{latest_message}}&chatId={{send_id}}&k={{secret.upstream_key}}", upstream.url("/chat")),
        "headers": {"Authorization": "Bearer {secret.upstream_key}"},
        "timeout_ms": 1000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    });
    host.put_webhook("trace", &key, "answers", spec).await;

    let trace = console(&host, "trace", &key, "answers", "ping topsecret-42").await;
    let text = trace.to_string();
    assert!(!text.contains("topsecret-42"), "secret leaked into the trace: {text}");
    assert_eq!(trace["outcome"], "success");
    assert_eq!(trace["upstream"]["status"], 200);
    assert!(trace["variables"]["reply"].is_string(), "{trace}");
    assert!(trace["replies"][0]["text"].is_string());
    assert!(trace["timings_ms"]["total"].as_f64().is_some(), "{trace}");
    let sent = upstream.requests().pop().expect("request");
    assert_eq!(sent.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer topsecret-42"));
    assert_eq!(sent.query_param("k").as_deref(), Some("topsecret-42"));

    let (status, _) = host.call("GET", "/v1/projects/trace/conversations/console", Some(&key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the console writes no history");
}

async fn loopback_is_refused_unless_the_operator_allows_it(backend: Backend) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on_with(&backend, dir.path(), |config| config.allow_networks.clear()).await;
    let key = seed_project(&host, "policy", &upstream.url("/chat")).await;
    let answer = host.chat("policy", &key, "s", "hi there").await;
    assert_eq!(answer["outcome"], "failure");
    assert_eq!(upstream.count(), 0, "nothing reached the loopback upstream");
    let trace = console(&host, "policy", &key, "answers", "hi").await;
    assert!(trace["error"]["code"].as_str().unwrap_or("").contains("forbidden"), "{trace}");
}

async fn plugins_change_the_answer_swap_live_and_roll_back(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "plug", &upstream.url("/chat")).await;
    let before = host.chat("plug", &key, "s", "one").await;
    assert_eq!(before["replies"][0]["text"], "echo: one");

    // json-reply reading another field.
    let spec = |url: String, config: Value| {
        json!({
            "method": "GET",
            "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
            "timeout_ms": 1000,
            "response": {"extract": {}, "variables": ["reply"], "success": "{reply}", "failure": FAILURE},
            "plugin_config": config
        })
    };
    host.put_webhook("plug", &key, "answers", spec(upstream.url("/chat"), json!({"field": "chatId"}))).await;
    let v1 = host.upload_plugin("plug", &key, "answers", wasm::read(wasm::JSON_REPLY)).await;
    let answer = host.chat("plug", &key, "conv-9", "two").await;
    assert_eq!(answer["replies"][0]["text"], "conv-9", "{answer}");

    // Swapped for llm-answer between two chats, no restart.
    host.put_webhook("plug", &key, "answers", spec(upstream.url("/llm"), json!({}))).await;
    let v2 = host.upload_plugin("plug", &key, "answers", wasm::read(wasm::LLM_ANSWER)).await;
    assert_eq!((v1, v2), (1, 2));
    let answer = host.chat("plug", &key, "s", "three").await;
    assert_eq!(answer["replies"][0]["text"], "LLM says: three", "{answer}");

    // An upstream error object becomes a plugin error: failure text, reason in the console.
    host.put_webhook("plug", &key, "answers", spec(upstream.url("/llm-error"), json!({}))).await;
    let answer = host.chat("plug", &key, "s", "four").await;
    assert_eq!(answer["outcome"], "failure");
    let trace = console(&host, "plug", &key, "answers", "four").await;
    assert!(trace["error"]["message"].as_str().unwrap_or("").contains("model overloaded"), "{trace}");
    assert_eq!(trace["plugin"]["version"], 2);

    // Rollback to json-reply brings its answer back.
    host.put_webhook("plug", &key, "answers", spec(upstream.url("/chat"), json!({"field": "chatId"}))).await;
    let (status, _) = host
        .call(
            "POST",
            "/v1/projects/plug/webhooks/answers/plugin/rollback",
            Some(&key),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = host.chat("plug", &key, "conv-10", "five").await;
    assert_eq!(answer["replies"][0]["text"], "conv-10");

    // quick-replies: a text plus buttons.
    host.put_webhook("plug", &key, "answers", spec(upstream.url("/options"), json!({}))).await;
    host.upload_plugin("plug", &key, "answers", wasm::read(wasm::QUICK_REPLIES)).await;
    let answer = host.chat("plug", &key, "s", "six").await;
    assert_eq!(answer["replies"][0]["text"], "Which size?", "{answer}");
    assert_eq!(answer["replies"][0]["buttons"][0]["label"], "Small");
    assert_eq!(answer["replies"][0]["buttons"][1]["payload"], "size-large");

    // Detached: back to the declarative mapping and template.
    host.put_webhook("plug", &key, "answers", seed_spec(&upstream.url("/chat"))).await;
    host.call("DELETE", "/v1/projects/plug/webhooks/answers/plugin", Some(&key), None).await;
    let answer = host.chat("plug", &key, "s", "seven").await;
    assert_eq!(answer["replies"][0]["text"], "echo: seven");
}

fn seed_spec(url: &str) -> Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "timeout_ms": 1000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    })
}

async fn a_trapping_plugin_answers_the_failure_text_and_the_next_chat_works(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "trap", &upstream.url("/chat")).await;
    let mut spec = seed_spec(&upstream.url("/chat"));
    spec["plugin_config"] = json!({"mode": "panic"});
    host.put_webhook("trap", &key, "answers", spec.clone()).await;
    host.upload_plugin("trap", &key, "answers", wasm::read(wasm::HOSTILE)).await;

    let answer = host.chat("trap", &key, "s", "boom").await;
    assert_eq!(answer["outcome"], "failure");
    assert_eq!(answer["replies"][0]["text"], FAILURE);
    let trace = console(&host, "trap", &key, "answers", "boom").await;
    assert!(trace["error"]["message"].as_str().unwrap_or("").contains("panicked on purpose"), "{trace}");

    spec["plugin_config"] = json!({"mode": "loop"});
    host.put_webhook("trap", &key, "answers", spec.clone()).await;
    let answer = host.chat("trap", &key, "s", "spin").await;
    assert_eq!(answer["outcome"], "failure");

    spec["plugin_config"] = json!({"mode": "ok"});
    host.put_webhook("trap", &key, "answers", spec).await;
    let answer = host.chat("trap", &key, "s", "fine").await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    assert_eq!(answer["replies"][0]["text"], "ok from hostile");
}

async fn fifty_concurrent_conversations_keep_their_histories_apart(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = std::sync::Arc::new(TestHost::start_with(&backend).await);
    let key = seed_project(&host, "crowd", &upstream.url("/chat")).await;
    let mut tasks = Vec::new();
    for user in 0..50 {
        let host = host.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for turn in 0..3 {
                let message = format!("user {user} turn {turn}");
                let answer = host.chat("crowd", &key, &format!("user-{user}"), &message).await;
                assert_eq!(answer["replies"][0]["text"], format!("echo: {message}"));
            }
        }));
    }
    for task in tasks {
        task.await.expect("conversation");
    }
    for user in 0..50 {
        let (status, history) = host
            .call("GET", &format!("/v1/projects/crowd/conversations/user-{user}"), Some(&key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let messages: Vec<&str> = history["turns"]
            .as_array()
            .map(|turns| turns.iter().filter_map(|turn| turn["message"].as_str()).collect())
            .unwrap_or_default();
        let expected: Vec<String> = (0..3).map(|turn| format!("user {user} turn {turn}")).collect();
        assert_eq!(messages, expected, "user {user}");
    }
}

async fn a_webhook_lowers_its_own_limits(backend: Backend) {
    let upstream = Upstream::start().await;
    let host = TestHost::start_with(&backend).await;
    let key = seed_project(&host, "tight", &upstream.url("/chat")).await;
    let cases = [
        (json!({"mode": "grow"}), json!({"plugin_memory_bytes": 4 * 1024 * 1024}), "plugin_memory_limit"),
        (
            json!({"mode": "loop"}),
            json!({"plugin_timeout_ms": 5, "plugin_fuel": 1_000_000_000_000u64 / 1000}),
            "plugin_",
        ),
        (json!({"mode": "ok"}), json!({"plugin_output_bytes": 4}), "plugin_output_too_large"),
        (json!({"mode": "ok"}), json!({"response_body_bytes": 8}), "body_too_large"),
    ];
    host.upload_plugin("tight", &key, "answers", wasm::read(wasm::HOSTILE)).await;
    for (config, limits, expected) in cases {
        let mut spec = seed_spec(&upstream.url("/chat"));
        spec["plugin_config"] = config;
        spec["limits"] = limits.clone();
        host.put_webhook("tight", &key, "answers", spec).await;
        let answer = host.chat("tight", &key, "s", "squeeze").await;
        assert_eq!(answer["outcome"], "failure", "{limits}: {answer}");
        let trace = console(&host, "tight", &key, "answers", "squeeze").await;
        let code = trace["error"]["code"].as_str().unwrap_or("");
        assert!(code.starts_with(expected), "{limits}: expected {expected}, got {}", trace["error"]);
    }
    let (status, body) = host
        .call(
            "PUT",
            "/v1/projects/tight/webhooks/answers",
            Some(&key),
            Some({
                let mut spec = seed_spec(&upstream.url("/chat"));
                spec["limits"] = json!({"plugin_timeout_ms": 60_000});
                spec
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a webhook cannot raise a limit: {body}");
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("limits.plugin_timeout_ms"));
}
