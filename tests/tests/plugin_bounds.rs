//! Issue 7, compile and memory bounds, over the HTTP API: compile bombs refused by the limit
//! they break with nothing left behind, loaded plugins evicted and reloaded under a small
//! cache bound, versions pruned with their artifacts, and first chats compiling once.

use std::path::Path;

use fallback_tests::bombs;
use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FAILURE: &str = "Sorry, I can't answer that right now.";

fn spec(url: &str) -> Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "timeout_ms": 2000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE},
    })
}

/// A project whose fallback is webhook `w0`, with `webhooks` webhooks `w0`, `w1`.. in all.
async fn seed(host: &TestHost, project: &str, upstream: &Upstream, webhooks: usize) -> String {
    let key = host.create_project(project).await;
    for n in 0..webhooks {
        host.put_webhook(project, &key, &format!("w{n}"), spec(&upstream.url("/chat"))).await;
    }
    host.use_webhook_as_fallback(project, &key, "w0").await;
    key
}

fn artifacts(data_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("plugin-cache"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn metric(host: &TestHost, name: &str) -> f64 {
    let text =
        host.client.get(host.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[tokio::test]
async fn compile_bombs_are_refused_by_name_and_leave_nothing() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = seed(&host, "bombs", &upstream, 1).await;
    let path = "/v1/projects/bombs/webhooks/w0/plugin";

    let cases = [
        ("too_many_functions", bombs::many_functions(1_000_000)),
        ("too_many_locals", bombs::many_locals(20_000)),
        ("nesting_too_deep", bombs::deep_nesting(100_000)),
        ("function_too_large", bombs::huge_body(5 * 1024 * 1024)),
    ];
    for (code, bomb) in cases {
        let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), bomb).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("plugin_max_")), "{body}");
    }

    // Valid components of the wrong world compile, and are refused all the same.
    let empty = wat::parse_str("(component)").expect("wat");
    for wrong in [wasm::read(wasm::OTHER_WORLD), empty, bombs::many_functions(10)] {
        let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), wrong).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "wrong_world", "{body}");
    }

    let (_, versions) = host.call("GET", path, Some(&key), None).await;
    assert_eq!(versions["versions"], json!([]), "nothing stored: {versions}");
    assert_eq!(artifacts(&host.data_dir), Vec::<String>::new(), "nothing on disk");
    assert_eq!(metric(&host, "fallback_plugin_cache_bytes").await, 0.0, "nothing in memory");

    // The host still takes a good plugin, which answers.
    host.upload_plugin("bombs", &key, "w0", wasm::read(wasm::JSON_REPLY)).await;
    let answer = host.chat("bombs", &key, "s", "still here").await;
    assert_eq!(answer["replies"][0]["text"], "echo: still here", "{answer}");
}

#[tokio::test]
async fn compilation_is_bounded_in_time_and_memory() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = "/v1/projects/p/webhooks/w0/plugin";

    // No compilation fits in a millisecond: starting the worker alone takes longer.
    let host = TestHost::start_on(dir.path(), |c| {
        c.limits.plugin_compile_timeout = std::time::Duration::from_millis(1)
    })
    .await;
    let key = seed(&host, "p", &upstream, 1).await;
    let wasm = wasm::read(wasm::JSON_REPLY);
    let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), wasm.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_timeout", "{body}");
    host.stop().await;

    // 90,000 functions pass the structural check and need tens of CPU seconds to compile.
    let host = TestHost::start_on(dir.path(), |c| {
        c.limits.plugin_compile_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let bomb = bombs::many_functions(90_000);
    let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), bomb).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_timeout", "{body}");
    host.stop().await;

    // Nor in 8 MiB of memory.
    let host =
        TestHost::start_on(dir.path(), |c| c.limits.plugin_compile_memory_bytes = 8 * 1024 * 1024).await;
    let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), wasm).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "compile_memory", "{body}");

    let (_, versions) = host.call("GET", path, Some(&key), None).await;
    assert_eq!(versions["versions"], json!([]), "nothing stored: {versions}");
    assert_eq!(artifacts(dir.path()), Vec::<String>::new(), "nothing on disk");
}

#[tokio::test]
async fn a_compile_worker_that_dies_is_an_internal_error_not_a_bad_upload() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // `false` exits 1 at once, as a worker that crashed would, without an artifact.
    let host = TestHost::start_on(dir.path(), |c| c.plugin_compile_worker = Some("/bin/false".into())).await;
    let key = seed(&host, "p", &upstream, 1).await;
    let path = "/v1/projects/p/webhooks/w0/plugin";
    let wasm = wasm::read(wasm::JSON_REPLY);
    let (status, body) = host.call_raw("PUT", path, Some(&key), Some("application/wasm"), wasm).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "internal", "{body}");
    let (_, versions) = host.call("GET", path, Some(&key), None).await;
    assert_eq!(versions["versions"], json!([]), "nothing stored: {versions}");
    assert_eq!(artifacts(dir.path()), Vec::<String>::new(), "nothing on disk");
}

#[tokio::test]
async fn a_small_cache_evicts_and_reloads_plugins_that_still_answer() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = wasm::read(wasm::JSON_REPLY);

    // The size of one compiled plugin, to make room for two and a half.
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let key = seed(&host, "lru", &upstream, 5).await;
    host.upload_plugin("lru", &key, "w0", bombs::distinct(&base, 0)).await;
    let artifact = artifacts(dir.path()).pop().expect("an artifact");
    let weight = std::fs::metadata(dir.path().join("plugin-cache").join(artifact)).expect("artifact").len();
    host.stop().await;

    let host = TestHost::start_on(dir.path(), |c| c.limits.plugin_cache_bytes = weight * 5 / 2).await;
    for n in 1..5 {
        host.upload_plugin("lru", &key, &format!("w{n}"), bombs::distinct(&base, n)).await;
    }
    for round in 0..3 {
        for n in 0..5 {
            host.use_webhook_as_fallback("lru", &key, &format!("w{n}")).await;
            let message = format!("round {round} plugin {n}");
            let answer = host.chat("lru", &key, "s", &message).await;
            assert_eq!(answer["replies"][0]["text"], format!("echo: {message}"), "{answer}");
        }
    }
    assert!(metric(&host, "fallback_plugin_cache_evictions_total").await >= 10.0);
    assert!(metric(&host, "fallback_plugin_cache_bytes").await <= (weight * 5 / 2) as f64);
    // Reloads came from the artifacts on disk: only the four uploads compiled.
    assert_eq!(metric(&host, "fallback_plugin_compiles_total").await, 4.0);
}

#[tokio::test]
async fn old_versions_are_pruned_with_their_artifacts() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = seed(&host, "versions", &upstream, 2).await;
    let base = wasm::read(wasm::JSON_REPLY);
    let path = "/v1/projects/versions/webhooks/w0/plugin";

    let mut digests = Vec::new();
    for n in 0..12 {
        let (status, body) =
            host.call_raw("PUT", path, Some(&key), Some("application/wasm"), bombs::distinct(&base, n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        digests.push(body["sha256"].as_str().expect("sha256").to_string());
    }
    let (_, listed) = host.call("GET", path, Some(&key), None).await;
    let versions: Vec<u64> = listed["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(versions, (3..=12).collect::<Vec<u64>>(), "{listed}");
    assert_eq!(listed["active"], 12);

    let kept: Vec<String> = digests[2..].iter().map(|d| format!("{d}.cwasm")).collect();
    let mut expected = kept.clone();
    expected.sort();
    assert_eq!(artifacts(&host.data_dir), expected, "only kept versions have artifacts");

    // A rollback to the oldest kept version still runs it; deleting the webhook empties the cache.
    let (status, body) =
        host.call("POST", &format!("{path}/rollback"), Some(&key), Some(json!({"version": 3}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = host.chat("versions", &key, "s", "rolled back").await;
    assert_eq!(answer["replies"][0]["text"], "echo: rolled back", "{answer}");
    host.use_webhook_as_fallback("versions", &key, "w1").await;
    let (status, body) = host.call("DELETE", "/v1/projects/versions/webhooks/w0", Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(artifacts(&host.data_dir), Vec::<String>::new());
}

#[tokio::test]
async fn concurrent_first_chats_compile_once() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let key = seed(&host, "once", &upstream, 1).await;
    host.upload_plugin("once", &key, "w0", wasm::read(wasm::JSON_REPLY)).await;
    host.stop().await;
    for name in artifacts(dir.path()) {
        std::fs::remove_file(dir.path().join("plugin-cache").join(name)).expect("remove artifact");
    }

    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let chats = (0..8).map(|n| {
        let (host, key) = (&host, &key);
        async move { host.chat("once", key, &format!("s{n}"), &format!("hello {n}")).await }
    });
    for (n, answer) in futures_join_all(chats).await.into_iter().enumerate() {
        assert_eq!(answer["replies"][0]["text"], format!("echo: hello {n}"), "{answer}");
    }
    assert_eq!(metric(&host, "fallback_plugin_compiles_total").await, 1.0);
    assert_eq!(artifacts(dir.path()).len(), 1, "the artifact is written again");
}

/// Runs the futures concurrently on this task and answers their outputs in order.
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
