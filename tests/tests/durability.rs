//! `kill -9` in the middle of a burst of chats loses no acknowledged turn: every chat the host
//! answered 200 is in its conversation after a restart on the same data dir, in the order it was
//! sent. This is what proves that answering only once a turn is durable (group commit or not)
//! holds under a crash, not only under a clean stop.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fallback_tests::served::ServeProcess;
use fallback_tests::upstream::Upstream;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const ADMIN: &str = "fba_durability-admin-token-0123456789";
const PROJECT: &str = "durable";
/// Concurrent clients; each owns its send ids and sends on them one chat at a time, so the
/// order it got its answers in is the order the conversation must keep.
const TASKS: usize = 32;
const SEND_IDS_PER_TASK: usize = 2;
/// Acknowledged chats before the SIGKILL: the burst is in full flight by then.
const KILL_AFTER: usize = 4_000;
/// Far above what one send id can get before the kill, so no acknowledged turn is trimmed.
const MAX_TURNS: &str = "100000";
/// Every fourth chat falls to the webhook (an upstream call before its turn is written).
const WEBHOOK_EVERY: usize = 4;

/// One chat a task sent, in the order it sent them.
struct Sent {
    send_id: String,
    message: String,
    acknowledged: bool,
}

#[tokio::test]
async fn sigkill_mid_burst_loses_no_acknowledged_turn() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = serve(dir.path());
    let client = reqwest::Client::new();
    let key = setup_project(&client, &first, &upstream).await;

    // Each kind of chat once, so a setup mistake fails here and not as a missing turn.
    let base = first.url("");
    let (status, answer) = chat(&client, &base, &key, "probe", &matched_message(99, 0)).await.expect("probe");
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("matched")), "{answer}");
    let (status, answer) = chat(&client, &base, &key, "probe", &webhook_message(99, 1)).await.expect("probe");
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("success")), "{answer}");

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let mut burst = JoinSet::new();
    for task in 0..TASKS {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let (acknowledged, kill_now) = (acknowledged.clone(), kill_now.clone());
        burst.spawn(async move {
            let mut sent = Vec::new();
            for n in 0.. {
                let send_id = format!("user-{task:02}-{}", n % SEND_IDS_PER_TASK);
                let message = if n % WEBHOOK_EVERY == WEBHOOK_EVERY - 1 {
                    webhook_message(task, n)
                } else {
                    matched_message(task, n)
                };
                let answer = chat(&client, &base, &key, &send_id, &message).await;
                let acked = matches!(answer, Ok((StatusCode::OK, _)));
                sent.push(Sent { send_id, message, acknowledged: acked });
                match answer {
                    Ok(_) if acked => {
                        if acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            kill_now.notify_one();
                        }
                    }
                    // A refusal (busy, timeout) is not an acknowledgement; the next chat still goes.
                    Ok(_) => {}
                    // The process is gone: this chat may or may not have been written.
                    Err(_) => break,
                }
            }
            sent
        });
    }
    let mut sent = Vec::new();
    tokio::select! {
        () = kill_now.notified() => {}
        () = async {
            while let Some(task) = burst.join_next().await {
                sent.push(task.expect("burst task"));
            }
        } => panic!("the burst ended before {KILL_AFTER} chats were acknowledged"),
    }
    first.kill().expect("SIGKILL");
    while let Some(task) = burst.join_next().await {
        sent.push(task.expect("burst task"));
    }

    let second = serve(dir.path());
    let base = second.url("");
    let mut by_send_id: HashMap<String, Vec<&Sent>> = HashMap::new();
    for chat in sent.iter().flatten() {
        by_send_id.entry(chat.send_id.clone()).or_default().push(chat);
    }
    let total_acked = sent.iter().flatten().filter(|chat| chat.acknowledged).count();
    assert!(total_acked >= KILL_AFTER, "{total_acked} acknowledged");
    let mut unacknowledged_kept = 0;
    for (send_id, chats) in &by_send_id {
        let kept = conversation(&client, &base, &key, send_id).await;
        unacknowledged_kept += check_conversation(send_id, chats, &kept);
    }
    eprintln!(
        "{total_acked} chats acknowledged over {} send ids before SIGKILL, all kept after restart; \
         {unacknowledged_kept} unacknowledged chats were kept too",
        by_send_id.len()
    );
    drop(second);
}

/// Asserts that the conversation holds every acknowledged chat, in the order they were sent,
/// and nothing that was not sent, each at most once; answers how many unacknowledged chats
/// (in flight at the kill, or refused) it holds as well.
fn check_conversation(send_id: &str, chats: &[&Sent], kept: &[String]) -> usize {
    let position: HashMap<&str, usize> =
        chats.iter().enumerate().map(|(i, chat)| (chat.message.as_str(), i)).collect();
    let mut seen = HashSet::new();
    let mut last = None;
    for message in kept {
        let Some(&at) = position.get(message.as_str()) else {
            panic!("{send_id}: the conversation holds {message:?}, which was never sent on it");
        };
        assert!(seen.insert(at), "{send_id}: {message:?} is kept twice");
        assert!(last < Some(at), "{send_id}: {message:?} is kept out of the order it was sent in");
        last = Some(at);
    }
    let lost: Vec<&str> = chats
        .iter()
        .enumerate()
        .filter(|(i, chat)| chat.acknowledged && !seen.contains(i))
        .map(|(_, chat)| chat.message.as_str())
        .collect();
    assert!(lost.is_empty(), "{send_id}: {} acknowledged chats lost, e.g. {:?}", lost.len(), &lost[..1]);
    seen.iter().filter(|&&i| !chats[i].acknowledged).count()
}

fn serve(data_dir: &Path) -> ServeProcess {
    ServeProcess::start(
        Path::new(env!("CARGO_BIN_EXE_fallback-host-cli")),
        data_dir,
        &[
            ("FALLBACK_ADMIN_TOKEN", ADMIN),
            ("FALLBACK_ALLOW_NETWORKS", "127.0.0.0/8"),
            ("FALLBACK_CONVERSATION_MAX_TURNS", MAX_TURNS),
        ],
    )
    .expect("serve starts")
}

/// The project: an intent for the greetings and the upstream's `/chat` as fallback for the rest.
async fn setup_project(client: &reqwest::Client, host: &ServeProcess, upstream: &Upstream) -> String {
    let created =
        send(client, "POST", &host.url("/v1/projects"), ADMIN, json!({"id": PROJECT, "name": PROJECT})).await;
    let key = created["api_key"].as_str().expect("api_key").to_string();
    let project = host.url(&format!("/v1/projects/{PROJECT}"));
    let intent = json!({
        "examples": ["hello there, good morning to you", "good morning, hello there"],
        "responses": ["Good morning!"]
    });
    send(client, "PUT", &format!("{project}/intents/greeting"), &key, intent).await;
    let webhook = json!({
        "method": "GET",
        "url": format!("{}?input={{latest_message}}&chatId={{send_id}}", upstream.url("/chat")),
        "timeout_ms": 5000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "upstream failed"}
    });
    send(client, "PUT", &format!("{project}/webhooks/answers"), &key, webhook).await;
    send(client, "PUT", &format!("{project}/fallback"), &key, json!({"webhook": "answers"})).await;
    key
}

/// A greeting the intent matches, unique to this task and sequence number.
fn matched_message(task: usize, n: usize) -> String {
    format!("hello there, good morning to you m{task:02}x{n:05}")
}

/// A question no intent matches, unique to this task and sequence number.
fn webhook_message(task: usize, n: usize) -> String {
    format!("what is the weather like w{task:02}x{n:05}")
}

/// One chat: the status and body, or the transport error once the process is gone.
async fn chat(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    send_id: &str,
    message: &str,
) -> reqwest::Result<(StatusCode, Value)> {
    let response = client
        .post(format!("{base}/v1/projects/{PROJECT}/chat"))
        .bearer_auth(key)
        .json(&json!({"send_id": send_id, "message": message}))
        .send()
        .await?;
    let status = response.status();
    // An answer is acknowledged only once its whole body arrived.
    let body = response.json().await?;
    Ok((status, body))
}

/// The messages of a conversation's turns, oldest first; none if it has no turns.
async fn conversation(client: &reqwest::Client, base: &str, key: &str, send_id: &str) -> Vec<String> {
    let response = client
        .get(format!("{base}/v1/projects/{PROJECT}/conversations/{send_id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("conversation request");
    if response.status() == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("conversation json");
    body["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .map(|turn| turn["message"].as_str().expect("message").to_string())
        .collect()
}

async fn send(client: &reqwest::Client, method: &str, url: &str, token: &str, body: Value) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = client.request(method, url).bearer_auth(token).json(&body).send().await.expect("sent");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}
