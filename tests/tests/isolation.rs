//! Tenants stay apart under trouble: a slow upstream or a hostile plugin in one project neither
//! takes the host down nor holds up another project's answers.

use std::sync::Arc;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn project_with_webhook(host: &TestHost, id: &str, spec: Value) -> String {
    let key = host.create_project(id).await;
    let (status, body) =
        host.call("PUT", &format!("/v1/projects/{id}/webhooks/w"), Some(&key), Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = host
        .call("PUT", &format!("/v1/projects/{id}/fallback"), Some(&key), Some(json!({"webhook": "w"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    key
}

fn spec(url: String, timeout_ms: u64, plugin_config: Value) -> Value {
    json!({
        "url": format!("{url}?input={{latest_message}}"),
        "timeout_ms": timeout_ms,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Sorry."},
        "plugin_config": plugin_config
    })
}

#[tokio::test]
async fn a_slow_upstream_does_not_hold_up_other_tenants() {
    let upstream = Upstream::start().await;
    let host = Arc::new(TestHost::start().await);
    let slow_key = project_with_webhook(&host, "slow", spec(upstream.url("/slow"), 5000, json!({}))).await;
    let fast_key = project_with_webhook(&host, "fast", spec(upstream.url("/chat"), 1000, json!({}))).await;

    let waiting = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for index in 0..4 {
                answers.push(tokio::spawn({
                    let host = host.clone();
                    let key = slow_key.clone();
                    async move { host.chat("slow", &key, &format!("s{index}"), "anyone there?").await }
                }));
            }
            for answer in answers {
                let answer = answer.await.expect("slow chat");
                assert_eq!(answer["outcome"], "failure");
            }
        })
    };
    for turn in 0..20 {
        let answer = host.chat("fast", &fast_key, "f", &format!("quick {turn}")).await;
        assert_eq!(answer["replies"][0]["text"], format!("echo: quick {turn}"));
    }
    assert!(!waiting.is_finished(), "the fast tenant was answered while the slow one still waited");
    waiting.await.expect("slow tenant ends with its failure text");
}

#[tokio::test]
async fn hostile_plugins_do_not_take_the_host_or_other_tenants_down() {
    let upstream = Upstream::start().await;
    let host = Arc::new(TestHost::start().await);
    let good_key = project_with_webhook(&host, "good", spec(upstream.url("/chat"), 1000, json!({}))).await;
    let mut hostile = Vec::new();
    for mode in ["loop", "grow", "sleep", "panic", "huge-output", "log-flood"] {
        let id = format!("evil-{mode}");
        let key =
            project_with_webhook(&host, &id, spec(upstream.url("/chat"), 1000, json!({"mode": mode}))).await;
        host.upload_plugin(&id, &key, "w", wasm::read(wasm::HOSTILE)).await;
        hostile.push((id, key));
    }

    let mut attacks = Vec::new();
    for round in 0..3 {
        for (id, key) in &hostile {
            let (host, id, key) = (host.clone(), id.clone(), key.clone());
            attacks.push(tokio::spawn(async move {
                let answer = host.chat(&id, &key, &format!("r{round}"), "attack").await;
                assert_eq!(answer["outcome"], "failure", "{id}: {answer}");
                assert_eq!(answer["replies"][0]["text"], "Sorry.");
            }));
        }
    }
    for turn in 0..10 {
        let answer = host.chat("good", &good_key, "g", &format!("still fine {turn}")).await;
        assert_eq!(answer["outcome"], "success", "{answer}");
        assert_eq!(answer["replies"][0]["text"], format!("echo: still fine {turn}"));
    }
    for attack in attacks {
        attack.await.expect("each hostile chat is answered");
    }
    let (status, _) = host.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let answer = host.chat("good", &good_key, "g", "after the storm").await;
    assert_eq!(answer["replies"][0]["text"], "echo: after the storm");
}
