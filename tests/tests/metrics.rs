//! `/metrics` on the real server: after a matched chat, a webhook success, failing upstreams and
//! a plugin call, the text parses as Prometheus text, each histogram's `_count` moved by exactly
//! what happened with exactly the expected labels, and no id or message sent appears in it.

use std::collections::BTreeMap;
use std::time::Duration;

use fallback_tests::host::TestHost;
use fallback_tests::upstream::{Upstream, closed_port};
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::json;

const PROJECT: &str = "quartz-proj";
const WEBHOOK: &str = "zebra-hook";
const SEND_ID: &str = "sendid-unique-4711";
const MESSAGE: &str = "xylophone words 93821";

/// One sample line: its name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text exposition; panics on any line that is not a comment, a
/// blank or `name{label="value",...} number`, and on a sample whose family has no `# TYPE`.
fn parse(text: &str) -> Vec<Sample> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.push((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(inner, line))
            }
            None => (series, BTreeMap::new()),
        };
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        let family = typed.iter().rev().find(|(family, kind)| match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str())),
            _ => name == family,
        });
        assert!(family.is_some(), "no # TYPE for {name}");
        samples.push(Sample { name: name.to_string(), labels, value });
    }
    samples
}

/// `a="x",b="y"`: values are quoted, with `\"`, `\\` and `\n` escapes.
fn parse_labels(mut inner: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !inner.is_empty() {
        let (key, rest) = inner.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => panic!("bad escape: {line}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("unclosed label value: {line}"),
            }
        };
        labels.insert(key.to_string(), value);
        inner = rest[end + 1..].strip_prefix(',').unwrap_or(&rest[end + 1..]);
    }
    labels
}

/// The value of the sample `name` whose labels are exactly `labels`; 0 when absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> =
        labels.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    let found: Vec<_> = samples.iter().filter(|s| s.name == name && s.labels == wanted).collect();
    assert!(found.len() <= 1, "{name} {labels:?} appears {} times", found.len());
    found.first().map_or(0.0, |sample| sample.value)
}

/// Every `_count` of every histogram, keyed by name and labels.
fn counts(samples: &[Sample]) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|sample| sample.name.ends_with("_count"))
        .map(|sample| (format!("{}{:?}", sample.name, sample.labels), sample.value))
        .collect()
}

/// What moved between two scrapes' `_count`s (zeros left out).
fn moved(before: &[Sample], after: &[Sample]) -> BTreeMap<String, f64> {
    let before = counts(before);
    counts(after)
        .into_iter()
        .map(|(key, count)| {
            let delta = count - before.get(&key).copied().unwrap_or(0.0);
            (key, delta)
        })
        .filter(|(_, delta)| *delta != 0.0)
        .collect()
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: BTreeMap<String, String> =
        labels.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    format!("{name}{labels:?}")
}

async fn scrape(host: &TestHost) -> (String, Vec<Sample>) {
    let response = host.client.get(host.url("/metrics")).send().await.expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("text");
    let samples = parse(&text);
    check_histograms(&samples);
    (text, samples)
}

/// Buckets are cumulative and the `+Inf` bucket equals `_count`.
fn check_histograms(samples: &[Sample]) {
    for count in samples.iter().filter(|sample| sample.name.ends_with("_count")) {
        let base = count.name.trim_end_matches("_count");
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|sample| sample.name == format!("{base}_bucket"))
            .filter(|sample| sample.labels.iter().all(|(k, v)| k == "le" || count.labels.get(k) == Some(v)))
            .filter(|sample| sample.labels.len() == count.labels.len() + 1)
            .map(|sample| {
                let le = &sample.labels["le"];
                (if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le") }, sample.value)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1), "{base} {:?}", count.labels);
        assert_eq!(buckets.last().map(|(le, n)| (*le, *n)), Some((f64::INFINITY, count.value)), "{base}");
    }
}

async fn chat(host: &TestHost, key: &str, message: &str) -> serde_json::Value {
    host.chat(PROJECT, key, SEND_ID, message).await
}

fn webhook(url: String) -> serde_json::Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "timeout_ms": 1000,
        "retries": 0,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Sorry."},
        "plugin_config": {}
    })
}

#[tokio::test]
async fn histograms_count_what_happened_with_bounded_labels() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project(PROJECT).await;
    let intent = json!({"examples": ["when are you open"], "responses": ["We open at nine."]});
    let (status, _) =
        host.call("PUT", &format!("/v1/projects/{PROJECT}/intents/hours"), Some(&key), Some(intent)).await;
    assert_eq!(status, StatusCode::OK);
    host.put_webhook(PROJECT, &key, WEBHOOK, webhook(upstream.url("/chat"))).await;
    host.use_webhook_as_fallback(PROJECT, &key, WEBHOOK).await;

    let chat_count = |outcome| series("fallback_chat_seconds_count", &[("outcome", outcome)]);
    let stage = |stage| series("fallback_webhook_stage_seconds_count", &[("stage", stage)]);
    let upstream_class = |class| series("fallback_upstream_seconds_count", &[("class", class)]);
    let hook = |hook| series("fallback_plugin_call_seconds_count", &[("hook", hook)]);
    let expect = |pairs: Vec<(String, f64)>| pairs.into_iter().collect::<BTreeMap<_, _>>();

    // The intent's model, trained in the background once.
    let mut trained = false;
    for _ in 0..300 {
        let (_, model) = host.call("GET", &format!("/v1/projects/{PROJECT}/model"), Some(&key), None).await;
        if model["state"] == "trained" {
            trained = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(trained, "the intent model was not trained in 15 s");

    // A matched chat: its outcome's histogram, nothing of the webhook's.
    let (_, before) = scrape(&host).await;
    assert_eq!(value(&before, "fallback_intent_training_seconds_count", &[]), 1.0);
    let answer = chat(&host, &key, "When are you open?").await;
    assert_eq!(answer["outcome"], "matched", "{answer}");
    let (_, after) = scrape(&host).await;
    assert_eq!(moved(&before, &after), expect(vec![(chat_count("matched"), 1.0)]));
    assert_eq!(value(&after, "fallback_chats_total", &[("outcome", "matched")]), 1.0);

    // A webhook success: every stage but the plugin's, one 2xx upstream call.
    let answer = chat(&host, &key, MESSAGE).await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    let (_, later) = scrape(&host).await;
    assert_eq!(
        moved(&after, &later),
        expect(vec![
            (chat_count("success"), 1.0),
            (stage("request"), 1.0),
            (stage("upstream"), 1.0),
            (stage("mapping"), 1.0),
            (stage("reply"), 1.0),
            (upstream_class("2xx"), 1.0),
        ])
    );

    // Failing upstreams: a 500, then no answer at all. Both end at the upstream stage.
    let (_, before) = scrape(&host).await;
    host.put_webhook(PROJECT, &key, WEBHOOK, webhook(upstream.url("/status/500"))).await;
    assert_eq!(chat(&host, &key, MESSAGE).await["outcome"], "failure");
    let refused = closed_port().await;
    host.put_webhook(PROJECT, &key, WEBHOOK, webhook(format!("http://{refused}/chat"))).await;
    assert_eq!(chat(&host, &key, MESSAGE).await["outcome"], "failure");
    let (_, after) = scrape(&host).await;
    assert_eq!(
        moved(&before, &after),
        expect(vec![
            (chat_count("failure"), 2.0),
            (stage("request"), 2.0),
            (stage("upstream"), 2.0),
            (upstream_class("5xx"), 1.0),
            (upstream_class("error"), 1.0),
        ])
    );
    let upstream_failures: Vec<(&str, f64)> = after
        .iter()
        .filter(|s| s.name == "fallback_webhook_failures_total" && s.labels["stage"] == "upstream")
        .map(|s| (s.labels["code"].as_str(), s.value))
        .collect();
    assert!(upstream_failures.contains(&("upstream_status", 1.0)), "{upstream_failures:?}");
    assert!(
        upstream_failures.iter().any(|(code, count)| code.contains("connect") && *count == 1.0),
        "{upstream_failures:?}"
    );

    // A plugin: its upload compiles with Winch at once, then with Cranelift in the background.
    host.put_webhook(PROJECT, &key, WEBHOOK, webhook(upstream.url("/chat"))).await;
    let (_, before) = scrape(&host).await;
    host.upload_plugin(PROJECT, &key, WEBHOOK, wasm::read(wasm::JSON_REPLY)).await;
    let compiled = |samples: &[Sample], compiler| {
        value(samples, "fallback_plugin_compile_seconds_count", &[("compiler", compiler), ("outcome", "ok")])
    };
    let mut after = scrape(&host).await.1;
    let mut waited = 0;
    while compiled(&after, "cranelift") < 1.0 {
        assert!(waited < 1200, "the optimized compile never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
        after = scrape(&host).await.1;
    }
    assert_eq!(
        moved(&before, &after),
        expect(vec![
            (
                series("fallback_plugin_compile_seconds_count", &[("compiler", "winch"), ("outcome", "ok")]),
                1.0
            ),
            (
                series(
                    "fallback_plugin_compile_seconds_count",
                    &[("compiler", "cranelift"), ("outcome", "ok")]
                ),
                1.0
            ),
        ])
    );
    let answer = chat(&host, &key, MESSAGE).await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    assert_eq!(answer["replies"][0]["text"], format!("echo: {MESSAGE}"), "{answer}");
    let (text, later) = scrape(&host).await;
    assert_eq!(
        moved(&after, &later),
        expect(vec![
            (chat_count("success"), 1.0),
            (stage("request"), 1.0),
            (stage("upstream"), 1.0),
            (stage("mapping"), 1.0),
            (stage("plugin"), 1.0),
            (stage("reply"), 1.0),
            (upstream_class("2xx"), 1.0),
            (hook("instantiate"), 1.0),
            (hook("extract"), 1.0),
            (hook("format"), 1.0),
        ])
    );

    // Nothing a tenant or a user sent is a label or a value.
    for secret in [PROJECT, WEBHOOK, SEND_ID, MESSAGE, "xylophone", "93821", &key] {
        assert!(!text.contains(secret), "{secret} appears in /metrics:\n{text}");
    }
    let label_values: std::collections::BTreeSet<&str> =
        later.iter().flat_map(|sample| sample.labels.values().map(String::as_str)).collect();
    assert!(label_values.len() < 100, "label values stay a small closed set: {label_values:?}");
}

#[tokio::test]
async fn project_labels_are_opt_in_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |config| config.metrics_project_labels = 1).await;
    let first = host.create_project("first-tenant").await;
    let second = host.create_project("second-tenant").await;
    // No fallback configured: each answers the generic text, outcome `failure`.
    assert_eq!(host.chat("first-tenant", &first, SEND_ID, MESSAGE).await["outcome"], "failure");
    assert_eq!(host.chat("second-tenant", &second, SEND_ID, MESSAGE).await["outcome"], "failure");
    assert_eq!(host.chat("first-tenant", &first, SEND_ID, MESSAGE).await["outcome"], "failure");
    let (text, samples) = scrape(&host).await;
    let chats = |project| {
        value(&samples, "fallback_project_chats_total", &[("project", project), ("outcome", "failure")])
    };
    assert_eq!((chats("first-tenant"), chats("_other")), (2.0, 1.0));
    let seconds = |project| {
        value(
            &samples,
            "fallback_project_chat_seconds_count",
            &[("project", project), ("outcome", "failure")],
        )
    };
    assert_eq!((seconds("first-tenant"), seconds("_other")), (2.0, 1.0));
    assert!(!text.contains("second-tenant"), "past the bound a project has no label of its own:\n{text}");
    for secret in [SEND_ID, MESSAGE] {
        assert!(!text.contains(secret), "{secret} appears in /metrics");
    }
}
