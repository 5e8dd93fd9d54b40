//! The trained intent classifier through the API: paraphrases match and near misses fall back
//! at the default threshold, chats report the confidence, the model's state is visible, a
//! restart reads the model back instead of training, an edit retrains, and the evaluation
//! command runs on the repository's copy of BANKING77-OOS.

use std::time::Duration;

use fallback_tests::host::TestHost;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BOT: &[(&str, &[&str])] = &[
    ("opening_hours", &["what are your opening hours", "when do you open", "are you open on sunday"]),
    ("greeting", &["hello", "hi there", "good morning"]),
    ("card_lost", &["i lost my card", "my card was stolen", "block my card please"]),
    ("refund", &["i want a refund", "how do i get my money back"]),
];

async fn put_intents(host: &TestHost, project: &str, key: &str, intents: &[(&str, &[&str])]) {
    for (id, examples) in intents {
        let body = json!({ "examples": examples, "responses": [format!("answer of {id}")] });
        let (status, answer) =
            host.call("PUT", &format!("/v1/projects/{project}/intents/{id}"), Some(key), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

/// The model's status once it is trained on the current intents.
async fn trained(host: &TestHost, project: &str, key: &str) -> Value {
    for _ in 0..600 {
        let (status, model) =
            host.call("GET", &format!("/v1/projects/{project}/model"), Some(key), None).await;
        assert_eq!(status, StatusCode::OK, "{model}");
        if model["state"] == "trained" {
            return model;
        }
        assert_eq!(model["state"], "training", "{model}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the model of {project} was not trained within 30 s");
}

#[tokio::test]
async fn paraphrases_match_and_near_misses_fall_back() {
    let host = TestHost::start().await;
    let key = host.create_project("bank").await;
    let (_, empty) = host.call("GET", "/v1/projects/bank/model", Some(&key), None).await;
    assert_eq!(empty["state"], "empty", "{empty}");
    put_intents(&host, "bank", &key, BOT).await;
    let model = trained(&host, "bank", &key).await;
    assert_eq!(
        (model["matcher"].as_str(), model["intents"].as_u64(), model["examples"].as_u64()),
        (Some("lexical"), Some(4), Some(11))
    );
    assert_eq!(model["threshold"], 0.3, "a new project gets the default threshold");
    assert!(model["training_ms"].is_u64() && model["model_bytes"].as_u64() > Some(0), "{model}");

    for (message, intent) in [
        ("When do you open on Sundays?", "opening_hours"),
        ("somebody stole my card", "card_lost"),
        ("hello there", "greeting"),
        ("can I get my money back", "refund"),
    ] {
        let answer = host.chat("bank", &key, "user", message).await;
        assert_eq!(answer["intent"], intent, "{message}: {answer}");
        let confidence = answer["confidence"].as_f64().expect("confidence");
        assert!((0.3..=1.0).contains(&confidence), "{message}: {answer}");
        assert_eq!(answer["replies"][0]["text"], format!("answer of {intent}"), "{answer}");
    }
    for message in ["do you sell shoes", "what is the weather in paris", "tell me a joke"] {
        let answer = host.chat("bank", &key, "user", message).await;
        assert_eq!(
            (answer["fallback"].as_bool(), answer["intent"].as_str()),
            (Some(true), None),
            "{message}: {answer}"
        );
        let confidence = answer["confidence"].as_f64().expect("confidence");
        assert!(confidence < 0.3, "{message}: {answer}");
    }
}

#[tokio::test]
async fn a_restart_reads_the_model_back_and_an_edit_retrains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let key = host.create_project("bank").await;
    put_intents(&host, "bank", &key, BOT).await;
    let before = trained(&host, "bank", &key).await;
    assert!(before["training_ms"].is_u64(), "{before}");
    host.stop().await;

    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let answer = host.chat("bank", &key, "user", "when do you open").await;
    assert_eq!(answer["intent"], "opening_hours", "{answer}");
    let after = trained(&host, "bank", &key).await;
    assert_eq!(after["training_ms"], Value::Null, "read back, not trained again: {after}");
    assert_eq!(after["trained_at"], before["trained_at"], "{after}");

    // Change what "opening_hours" means: the next model answers by its new examples.
    put_intents(
        &host,
        "bank",
        &key,
        &[("opening_hours", &["where is your nearest branch", "find a branch near me"])],
    )
    .await;
    let edited = trained(&host, "bank", &key).await;
    assert!(edited["training_ms"].is_u64(), "{edited}");
    let answer = host.chat("bank", &key, "user", "is there a branch near me").await;
    assert_eq!(answer["intent"], "opening_hours", "{answer}");
    let answer = host.chat("bank", &key, "user", "what are your opening hours on sunday").await;
    assert_ne!(answer["intent"], "opening_hours", "{answer}");

    // A deleted intent is never answered, even by a model trained before the delete.
    let (status, _) = host.call("DELETE", "/v1/projects/bank/intents/greeting", Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = host.chat("bank", &key, "user", "hello").await;
    assert_ne!(answer["intent"], "greeting", "{answer}");
    trained(&host, "bank", &key).await;
    host.stop().await;
}

#[tokio::test]
async fn a_model_of_another_project_is_not_visible() {
    let host = TestHost::start().await;
    let key = host.create_project("one").await;
    host.create_project("two").await;
    let (status, _) = host.call("GET", "/v1/projects/two/model", Some(&key), None).await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN, "{status}");
    let (status, _) =
        host.call("GET", "/v1/projects/nope/model", Some(fallback_tests::host::ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// `intents eval` on the repository's dataset, only its few-shot run so it stays quick in a debug
/// build; the README's figures come from the full command.
#[test]
fn the_evaluation_command_prints_both_thresholds() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
        .args(["intents", "eval", "--few", "5", "--few-only"])
        .arg(repo.join("datasets/banking77-oos.json"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("fallback-host runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("50 intents; test: 2000 in scope, 1076 out of scope"), "{stdout}");
    assert!(stdout.contains("lexical, first 5 examples per intent: 250 examples"), "{stdout}");
    assert!(!stdout.contains("all examples"), "{stdout}");
    assert_eq!(stdout.matches("(default): in-scope accuracy").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("(val: best harmonic mean): in-scope accuracy").count(), 1, "{stdout}");
    assert_eq!(
        stdout.matches("(val: in-scope within 4 points of its best): in-scope").count(),
        1,
        "{stdout}"
    );
}
