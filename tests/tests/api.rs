//! The service over real sockets: every route's round trip, auth and tenancy, the error contract,
//! and persistence across a restart.

use fallback_tests::database::Backend;
use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

fallback_tests::on_both_backends!(
    every_route_round_trips,
    keys_grant_their_project_and_nothing_else,
    bad_input_gets_its_status_and_changes_nothing,
    bad_plugin_uploads_are_refused_and_store_nothing,
    a_restart_keeps_everything_and_plugins_still_run,
);

fn webhook(url: &str) -> Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "headers": {"Authorization": "Bearer {secret.upstream_key}"},
        "body": null,
        "timeout_ms": 2000,
        "retries": 0,
        "response": {
            "extract": {"reply": "$.message"},
            "success": "{reply}",
            "failure": "Sorry, I can't answer that right now."
        },
        "plugin_config": {}
    })
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "error code missing: {body}");
    assert!(body["error"]["message"].is_string(), "error message missing: {body}");
}

async fn every_route_round_trips(backend: Backend) {
    let host = TestHost::start_with(&backend).await;
    let key = host.create_project("shop").await;
    let k = Some(key.as_str());

    let (status, body) = host.call("GET", "/v1/projects", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["projects"][0]["id"], "shop");
    assert!(body.to_string().find("api_key").is_none(), "keys are never listed: {body}");
    let (status, body) = host.call("GET", "/v1/projects/shop", k, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Project shop");

    let intent = json!({"examples": ["opening hours", "when are you open"], "responses": ["9 to 5"]});
    let (status, _) = host.call("PUT", "/v1/projects/shop/intents/hours", k, Some(intent)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = host.call("GET", "/v1/projects/shop/intents", k, None).await;
    assert_eq!(body["intents"][0]["id"], "hours");
    assert_eq!(body["intents"][0]["examples"][1], "when are you open");
    let (status, _) = host.call("DELETE", "/v1/projects/shop/intents/hours", k, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = host.call("GET", "/v1/projects/shop/intents/hours", k, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let upstream = Upstream::start().await;
    let spec = webhook(&upstream.url("/chat"));
    let (status, body) = host.call("PUT", "/v1/projects/shop/webhooks/answers", k, Some(spec.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = host.call("GET", "/v1/projects/shop/webhooks/answers", k, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["url"], spec["url"]);
    assert_eq!(body["response"]["extract"]["reply"], "$.message");
    let (_, body) = host.call("GET", "/v1/projects/shop/webhooks", k, None).await;
    assert_eq!(body["webhooks"], json!(["answers"]));

    let (status, _) =
        host.call("PUT", "/v1/projects/shop/fallback", k, Some(json!({"webhook": "answers"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = host.call("GET", "/v1/projects/shop/fallback", k, None).await;
    assert_eq!(body, json!({"webhook": "answers"}));

    let (status, _) = host
        .call("PUT", "/v1/projects/shop/secrets/upstream_key", k, Some(json!({"value": "s3cr3t-value"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = host.call("GET", "/v1/projects/shop/secrets", k, None).await;
    assert_eq!(body["secrets"], json!(["upstream_key"]));
    assert!(!body.to_string().contains("s3cr3t-value"));

    let first = host.upload_plugin("shop", &key, "answers", wasm::read(wasm::JSON_REPLY)).await;
    let second = host.upload_plugin("shop", &key, "answers", wasm::read(wasm::LLM_ANSWER)).await;
    assert_eq!((first, second), (1, 2));
    let (_, body) = host.call("GET", "/v1/projects/shop/webhooks/answers/plugin", k, None).await;
    assert_eq!(body["active"], 2);
    assert_eq!(body["versions"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["versions"][0]["sha256"].as_str().map(str::len), Some(64));
    let (status, body) = host
        .call("POST", "/v1/projects/shop/webhooks/answers/plugin/rollback", k, Some(json!({"version": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = host.call("GET", "/v1/projects/shop/webhooks/answers/plugin", k, None).await;
    assert_eq!(body["active"], 1);
    let (status, _) = host
        .call("POST", "/v1/projects/shop/webhooks/answers/plugin/rollback", k, Some(json!({"version": 9})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = host.call("DELETE", "/v1/projects/shop/webhooks/answers/plugin", k, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = host.call("GET", "/v1/projects/shop/webhooks/answers/plugin", k, None).await;
    assert_eq!(body["active"], Value::Null);
    assert_eq!(body["versions"].as_array().map(Vec::len), Some(2), "old versions are kept");

    // The fallback still uses the webhook: it cannot be deleted from under it.
    let (status, body) = host.call("DELETE", "/v1/projects/shop/webhooks/answers", k, None).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    host.call("PUT", "/v1/projects/shop/fallback", k, Some(json!({"text": "Sorry!"}))).await;
    let (status, _) = host.call("DELETE", "/v1/projects/shop/webhooks/answers", k, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = host.call("DELETE", "/v1/projects/shop/secrets/upstream_key", k, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _) = host.call("DELETE", "/v1/projects/shop", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = host.call("GET", "/v1/projects/shop/intents", k, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a deleted project's key opens nothing");

    let (status, body) = host.call("GET", "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let metrics = host.client.get(host.url("/metrics")).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("fallback_http_responses_total{class=\"2xx\"}"), "{text}");
    assert!(text.contains("fallback_plugin_uploads_total 2"), "{text}");
}

async fn keys_grant_their_project_and_nothing_else(backend: Backend) {
    let host = TestHost::start_with(&backend).await;
    let alpha = host.create_project("alpha").await;
    let beta = host.create_project("beta").await;
    host.call(
        "PUT",
        "/v1/projects/beta/intents/hi",
        Some(&beta),
        Some(json!({"examples": ["hi"], "responses": ["hello"]})),
    )
    .await;

    // No key, a wrong key, a malformed header: 401 in the error shape.
    let (status, body) = host.call("GET", "/v1/projects/alpha/intents", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = host.call("GET", "/v1/projects/alpha/intents", Some("fbk_alpha.wrong"), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, _) = host.call("GET", "/v1/projects/alpha/intents", Some("nonsense"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A project key is not the operator's.
    let (status, _) = host.call("GET", "/v1/projects", Some(&alpha), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = host.call("DELETE", "/v1/projects/beta", Some(&alpha), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another tenant's resources do not exist for this key.
    for (method, path) in [
        ("GET", "/v1/projects/beta"),
        ("GET", "/v1/projects/beta/intents"),
        ("GET", "/v1/projects/beta/intents/hi"),
        ("DELETE", "/v1/projects/beta/intents/hi"),
        ("GET", "/v1/projects/beta/secrets"),
        ("GET", "/v1/projects/beta/conversations/x"),
    ] {
        let (status, body) = host.call(method, path, Some(&alpha), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, _) = host
        .call("POST", "/v1/projects/beta/chat", Some(&alpha), Some(json!({"send_id": "s", "message": "hi"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // ...and beta's intent is still there.
    let (status, body) = host.call("GET", "/v1/projects/beta/intents/hi", Some(&beta), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The operator's token works on any project.
    let (status, _) = host.call("GET", "/v1/projects/beta/intents", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = host.call("GET", "/v1/projects/gamma/intents", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a project");
    // The operator rotates a key: the old one opens nothing, the new one works.
    let (status, _) = host.call("POST", "/v1/projects/alpha/key", Some(&alpha), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a project cannot rotate its own key");
    let (status, body) = host.call("POST", "/v1/projects/alpha/key", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rotated = body["api_key"].as_str().expect("new key").to_string();
    assert_ne!(rotated, alpha);
    let (status, _) = host.call("GET", "/v1/projects/alpha/intents", Some(&alpha), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = host.call("GET", "/v1/projects/alpha/intents", Some(&rotated), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = host.call("POST", "/v1/projects/nobody/key", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Creating an existing project is a conflict.
    let (status, body) = host
        .call("POST", "/v1/projects", Some(ADMIN_TOKEN), Some(json!({"id": "alpha", "name": "again"})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
}

async fn bad_input_gets_its_status_and_changes_nothing(backend: Backend) {
    let host = TestHost::start_with(&backend).await;
    let key = host.create_project("p1").await;
    let k = Some(key.as_str());
    let upstream = Upstream::start().await;
    let good = webhook(&upstream.url("/chat"));
    let (status, _) = host.call("PUT", "/v1/projects/p1/webhooks/w", k, Some(good.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = host.call("GET", "/v1/projects/p1/webhooks/w", k, None).await;

    let path = "/v1/projects/p1/webhooks/w";
    let (status, body) =
        host.call_raw("PUT", path, k, Some("application/json"), b"{\"method\": ".to_vec()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_json");
    let mut unknown = good.clone();
    unknown["colour"] = json!("blue");
    let (status, body) = host.call("PUT", path, k, Some(unknown)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap_or("").contains("colour"), "{body}");
    let mut wrong_type = good.clone();
    wrong_type["timeout_ms"] = json!("soon");
    let (status, body) = host.call("PUT", path, k, Some(wrong_type)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) =
        host.call_raw("PUT", path, k, Some("text/plain"), good.to_string().into_bytes()).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = host.call_raw("PUT", path, k, None, good.to_string().into_bytes()).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, body) = host.call_raw("PUT", path, k, Some("application/json"), huge.into_bytes()).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);

    // Semantically invalid webhooks: 422 naming the field.
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "response.success",
            Box::new(|spec: &mut Value| spec["response"]["success"] = json!("It is {area}")),
        ),
        ("url", Box::new(|spec: &mut Value| spec["url"] = json!("ftp://example.com/{latest_message}"))),
        ("url", Box::new(|spec: &mut Value| spec["url"] = json!("http://example.com/?q={nope}"))),
        ("extract", Box::new(|spec: &mut Value| spec["response"]["extract"] = json!({"reply": "$[?"}))),
        ("timeout_ms", Box::new(|spec: &mut Value| spec["timeout_ms"] = json!(60_000))),
        ("timeout_ms", Box::new(|spec: &mut Value| spec["timeout_ms"] = json!(0))),
        ("method", Box::new(|spec: &mut Value| spec["method"] = json!("BREW"))),
        ("headers", Box::new(|spec: &mut Value| spec["headers"] = json!({"X-Bad": "a\r\nb"}))),
        ("headers", Box::new(|spec: &mut Value| spec["headers"] = json!({"Bad Name": "x"}))),
        (
            "response.success",
            Box::new(|spec: &mut Value| spec["response"]["success"] = json!("{secret.upstream_key}")),
        ),
    ];
    for (field, mutate) in cases {
        let mut spec = good.clone();
        mutate(&mut spec);
        let (status, body) = host.call("PUT", path, k, Some(spec.clone())).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(field), "{field} not named for {spec}: {body}");
    }
    let mut bad_body = good.clone();
    bad_body["body"] = json!({"type": "xml", "content": "<a/>"});
    let (status, _) = host.call("PUT", path, k, Some(bad_body)).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");

    // Bad ids, unknown routes, wrong methods.
    let (status, body) = host.call("PUT", "/v1/projects/p1/webhooks/Bad%20Id", k, Some(good.clone())).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = host.call("GET", "/v1/nowhere", k, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = host.call("PATCH", "/v1/projects/p1/webhooks/w", k, Some(good.clone())).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) =
        host.call("POST", "/v1/projects", Some(ADMIN_TOKEN), Some(json!({"id": "-bad", "name": "x"}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) =
        host.call("PUT", "/v1/projects/p1/fallback", k, Some(json!({"webhook": "missing"}))).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = host.call("GET", "/v1/projects/p1/fallback", k, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a refused fallback is not stored");

    // Read it back: nothing changed.
    let (_, after) = host.call("GET", "/v1/projects/p1/webhooks/w", k, None).await;
    assert_eq!(before, after);
    let (_, list) = host.call("GET", "/v1/projects/p1/webhooks", k, None).await;
    assert_eq!(list["webhooks"], json!(["w"]));
    let (_, projects) = host.call("GET", "/v1/projects", Some(ADMIN_TOKEN), None).await;
    assert_eq!(projects["projects"].as_array().map(Vec::len), Some(1));
}

async fn bad_plugin_uploads_are_refused_and_store_nothing(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on_with(&backend, dir.path(), |config| {
        config.limits.plugin_upload_bytes = 4 * 1024 * 1024
    })
    .await;
    let key = host.create_project("p1").await;
    let k = Some(key.as_str());
    let upstream = Upstream::start().await;
    host.call("PUT", "/v1/projects/p1/webhooks/w", k, Some(webhook(&upstream.url("/chat")))).await;
    let path = "/v1/projects/p1/webhooks/w/plugin";
    let good = wasm::read(wasm::JSON_REPLY);

    let core_module = wat::parse_str("(module (func (export \"extract\")))").expect("wat");
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("empty", Vec::new()),
        ("truncated", truncated),
        ("core module", core_module),
        ("other world", wasm::read(wasm::OTHER_WORLD)),
    ];
    let mut messages = Vec::new();
    for (name, bytes) in cases {
        let (status, body) = host.call_raw("PUT", path, k, Some("application/wasm"), bytes).await;
        assert!(status.is_client_error(), "{name}: {status} {body}");
        assert!(body["error"]["message"].is_string(), "{name}: {body}");
        messages.push(body["error"]["message"].as_str().unwrap_or("").to_string());
    }
    let unique: std::collections::BTreeSet<_> = messages.iter().collect();
    assert!(unique.len() >= 4, "each bad upload says what is wrong: {messages:#?}");
    assert!(messages[4].contains("extract") || messages[4].contains("world"), "{}", messages[4]);

    let (status, body) = host.call_raw("PUT", path, k, Some("application/octet-stream"), good.clone()).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) =
        host.call_raw("PUT", path, k, Some("application/wasm"), vec![0u8; 5 * 1024 * 1024]).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) =
        host.call_raw("PUT", "/v1/projects/p1/webhooks/none/plugin", k, Some("application/wasm"), good).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    let (_, body) = host.call("GET", path, k, None).await;
    assert_eq!(body["versions"], json!([]), "nothing stored: {body}");
    assert_eq!(body["active"], Value::Null);
}

async fn a_restart_keeps_everything_and_plugins_still_run(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::start().await;
    let host = TestHost::start_on_with(&backend, dir.path(), |_| {}).await;
    let key = host.create_project("keep").await;
    let k = Some(key.as_str());
    host.call(
        "PUT",
        "/v1/projects/keep/intents/hi",
        k,
        Some(json!({"examples": ["hello there"], "responses": ["Hi!"]})),
    )
    .await;
    let mut spec = webhook(&upstream.url("/llm"));
    spec["response"]["extract"] = json!({});
    spec["response"]["variables"] = json!(["reply"]);
    spec["headers"] = json!({});
    let (status, body) = host.call("PUT", "/v1/projects/keep/webhooks/w", k, Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    host.call("PUT", "/v1/projects/keep/fallback", k, Some(json!({"webhook": "w"}))).await;
    host.call("PUT", "/v1/projects/keep/secrets/token", k, Some(json!({"value": "abc123456"}))).await;
    host.upload_plugin("keep", &key, "w", wasm::read(wasm::LLM_ANSWER)).await;
    let before = host.chat("keep", &key, "s1", "what is rust").await;
    assert_eq!(before["replies"][0]["text"], "LLM says: what is rust");
    host.stop().await;

    let host = TestHost::start_on_with(&backend, dir.path(), |_| {}).await;
    let (status, _) = host.call("GET", "/v1/projects/keep", k, None).await;
    assert_eq!(status, StatusCode::OK, "the key still works");
    let (_, intents) = host.call("GET", "/v1/projects/keep/intents", k, None).await;
    assert_eq!(intents["intents"][0]["id"], "hi");
    let (_, secrets) = host.call("GET", "/v1/projects/keep/secrets", k, None).await;
    assert_eq!(secrets["secrets"], json!(["token"]));
    let (_, plugin) = host.call("GET", "/v1/projects/keep/webhooks/w/plugin", k, None).await;
    assert_eq!(plugin["active"], 1);
    let after = host.chat("keep", &key, "s1", "what is wasm").await;
    assert_eq!(after["replies"][0]["text"], "LLM says: what is wasm");
    assert_eq!(after["outcome"], "success");
    let (_, history) = host.call("GET", "/v1/projects/keep/conversations/s1", k, None).await;
    assert_eq!(history["turns"].as_array().map(Vec::len), Some(2), "{history}");
    let matched = host.chat("keep", &key, "s1", "Hello there!").await;
    assert_eq!(matched["intent"], "hi");
    host.stop().await;
}
