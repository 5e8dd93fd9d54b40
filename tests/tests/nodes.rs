//! Several nodes on one PostgreSQL database, as an operator runs them behind a load balancer:
//! real `serve` processes, each on an empty data dir of its own.
//!
//! A change made through one node takes effect on the other within a second; killing a node
//! mid-burst loses no acknowledged turn; the database going away makes nodes unready and failing,
//! never crashed, and they recover by themselves; `db copy` moves a SQLite deployment over with
//! the same answers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fallback_host::secret_key::SecretKey;
use fallback_host::store::{DatabaseUrl, NewProject, PgStore, Store, StoreError, Turn};
use fallback_tests::database::{Backend, TEST_SECRET_KEY, TestDatabase};
use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::served::ServeProcess;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How soon a change made on one node must be in force on every node.
const PROPAGATION: Duration = Duration::from_secs(1);
const FAILURE: &str = "Sorry, no answer right now.";

/// A `serve` process on the test's database and an empty data dir, and a client for it.
struct Node {
    process: ServeProcess,
    client: TestHost,
    _dir: tempfile::TempDir,
}

fn start_node(backend: &Backend) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = backend.env();
    let mut envs: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    envs.extend([
        ("FALLBACK_ADMIN_TOKEN", ADMIN_TOKEN),
        ("FALLBACK_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("FALLBACK_CONVERSATION_MAX_TURNS", "100000"),
    ]);
    let process = ServeProcess::start(Path::new(env!("CARGO_BIN_EXE_fallback-host-cli")), dir.path(), &envs)
        .expect("serve starts");
    let client = TestHost::remote(process.addr);
    Node { process, client, _dir: dir }
}

async fn postgres(test: &str) -> Option<(Backend, Arc<TestDatabase>)> {
    let backend = Backend::postgres(test).await?;
    let Backend::Postgres(database) = &backend else { unreachable!("a postgres backend") };
    let database = database.clone();
    Some((backend, database))
}

fn seed_spec(url: &str) -> Value {
    json!({
        "method": "GET",
        "url": format!("{url}?input={{latest_message}}&chatId={{send_id}}"),
        "timeout_ms": 2000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": FAILURE}
    })
}

/// Sends the chat until `accept` holds of its status and answer, for at most `PROPAGATION`;
/// answers how long that took.
async fn within_propagation(
    node: &TestHost,
    project: &str,
    key: &str,
    message: &str,
    accept: impl Fn(StatusCode, &Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, answer) = node
            .call(
                "POST",
                &format!("/v1/projects/{project}/chat"),
                Some(key),
                Some(json!({"send_id": "propagation", "message": message})),
            )
            .await;
        if accept(status, &answer) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION,
            "not in force on the other node after {PROPAGATION:?}: {status} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_made_on_one_node_takes_effect_on_the_other() {
    let Some((backend, _database)) = postgres("change_on_one_node").await else { return };
    let upstream = Upstream::start().await;
    let (a, b) = (start_node(&backend), start_node(&backend));

    // Created on A, chats on B.
    let key = a.client.create_project("shared").await;
    a.client.put_webhook("shared", &key, "answers", seed_spec(&upstream.url("/chat"))).await;
    a.client.use_webhook_as_fallback("shared", &key, "answers").await;
    let answer = b.client.chat("shared", &key, "s1", "hello from b").await;
    assert_eq!(answer["replies"][0]["text"], "echo: hello from b", "{answer}");

    // A plugin uploaded on A answers on B.
    let spec = json!({
        "method": "GET",
        "url": format!("{}?input={{latest_message}}&chatId={{send_id}}", upstream.url("/chat")),
        "timeout_ms": 2000,
        "response": {"extract": {}, "variables": ["reply"], "success": "{reply}", "failure": FAILURE},
        "plugin_config": {"field": "chatId"}
    });
    a.client.put_webhook("shared", &key, "answers", spec).await;
    a.client.upload_plugin("shared", &key, "answers", wasm::read(wasm::JSON_REPLY)).await;
    within_propagation(&b.client, "shared", &key, "plugin?", |status, answer| {
        status == StatusCode::OK && answer["replies"][0]["text"] == "propagation"
    })
    .await;

    // A webhook changed on B is used by A's next chats.
    b.client.put_webhook("shared", &key, "answers", seed_spec(&upstream.url("/to/changed"))).await;
    b.client.call("DELETE", "/v1/projects/shared/webhooks/answers/plugin", Some(&key), None).await;
    within_propagation(&a.client, "shared", &key, "changed?", |status, answer| {
        status == StatusCode::OK && answer["replies"][0]["text"] == "echo: changed?"
    })
    .await;
    assert!(upstream.requests().iter().any(|request| request.path.starts_with("/to/changed")));

    // A key rotated on A is refused on B; the new one works there.
    let (status, rotated) = a.client.call("POST", "/v1/projects/shared/key", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_key = rotated["api_key"].as_str().expect("api_key").to_owned();
    within_propagation(&b.client, "shared", &key, "old key?", |status, _| status == StatusCode::UNAUTHORIZED)
        .await;
    let answer = b.client.chat("shared", &new_key, "s1", "new key").await;
    assert_eq!(answer["replies"][0]["text"], "echo: new key", "{answer}");

    // Deleted on B: gone on A.
    let (status, _) = b.client.call("DELETE", "/v1/projects/shared", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    within_propagation(&a.client, "shared", &new_key, "gone?", |status, _| {
        status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND
    })
    .await;
    drop((a.process, b.process));
}

/// One chat a task sent, in order.
struct Sent {
    send_id: String,
    message: String,
    acknowledged: bool,
}

#[tokio::test]
async fn a_node_killed_mid_burst_loses_no_acknowledged_turn() {
    const TASKS: usize = 16;
    const KILL_AFTER: usize = 1_500;
    let Some((backend, _database)) = postgres("node_killed_mid_burst").await else { return };
    let upstream = Upstream::start().await;
    let (a, b) = (start_node(&backend), start_node(&backend));
    let key = a.client.create_project("burst").await;
    let intent = json!({"examples": ["good morning to you"], "responses": ["Good morning!"]});
    let (status, body) =
        a.client.call("PUT", "/v1/projects/burst/intents/greeting", Some(&key), Some(intent)).await;
    assert!(status.is_success(), "{body}");
    a.client.put_webhook("burst", &key, "answers", seed_spec(&upstream.url("/chat"))).await;
    a.client.use_webhook_as_fallback("burst", &key, "answers").await;

    let urls = Arc::new([a.process.url("/v1/projects/burst/chat"), b.process.url("/v1/projects/burst/chat")]);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let mut burst = JoinSet::new();
    for task in 0..TASKS {
        let (urls, key, acknowledged, kill_now) =
            (urls.clone(), key.clone(), acknowledged.clone(), kill_now.clone());
        burst.spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
            let mut sent = Vec::new();
            let mut a_is_dead_for_me = false;
            for n in 0.. {
                if acknowledged.load(Ordering::Relaxed) >= KILL_AFTER * 2 {
                    break;
                }
                let send_id = format!("t{task}-{}", n % 2);
                // Every third chat falls to the webhook; the others match the intent.
                let message =
                    if n % 3 == 0 { format!("t{task} m{n}") } else { format!("good morning to you {n}") };
                // Alternate nodes chat by chat, so one conversation's turns come from both.
                let node = if a_is_dead_for_me { 1 } else { n % 2 };
                let result = client
                    .post(&urls[node])
                    .bearer_auth(&key)
                    .json(&json!({"send_id": send_id, "message": message}))
                    .send()
                    .await;
                let ok = match result {
                    Ok(response) => response.status() == StatusCode::OK && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if !ok && node == 0 {
                    a_is_dead_for_me = true;
                }
                if ok && acknowledged.fetch_add(1, Ordering::Relaxed) + 1 == KILL_AFTER {
                    kill_now.notify_one();
                }
                sent.push(Sent { send_id, message, acknowledged: ok });
            }
            sent
        });
    }
    kill_now.notified().await;
    a.process.kill().expect("SIGKILL node A");

    let mut sent_by_send_id: HashMap<String, Vec<Sent>> = HashMap::new();
    while let Some(sent) = burst.join_next().await {
        for chat in sent.expect("task") {
            sent_by_send_id.entry(chat.send_id.clone()).or_default().push(chat);
        }
    }
    let mut checked = 0;
    for (send_id, sent) in &sent_by_send_id {
        let (status, history) = b
            .client
            .call("GET", &format!("/v1/projects/burst/conversations/{send_id}"), Some(&key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let stored: Vec<&str> = history["turns"]
            .as_array()
            .expect("turns")
            .iter()
            .map(|turn| turn["message"].as_str().expect("message"))
            .collect();
        // Every acknowledged chat is there, in the order sent (an unacknowledged one may be too).
        let mut position = 0;
        for chat in sent.iter().filter(|chat| chat.acknowledged) {
            let found = stored[position..].iter().position(|message| *message == chat.message);
            let Some(offset) = found else {
                panic!(
                    "acknowledged {:?} on {send_id} is missing or out of order in {stored:?}",
                    chat.message
                )
            };
            position += offset + 1;
            checked += 1;
        }
    }
    assert!(checked >= KILL_AFTER, "only {checked} acknowledged chats checked");
}

#[tokio::test]
async fn the_database_going_away_makes_a_node_unready_and_it_recovers() {
    let Some((backend, database)) = postgres("database_going_away").await else { return };
    let node = start_node(&backend);
    let key = node.client.create_project("outage").await;
    node.client
        .call("PUT", "/v1/projects/outage/fallback", Some(&key), Some(json!({"text": "fallback text"})))
        .await;
    let answer = node.client.chat("outage", &key, "s", "before").await;
    assert_eq!(answer["replies"][0]["text"], "fallback text", "{answer}");
    assert!(readyz_becomes(&node, StatusCode::OK, 1).await, "/readyz is not 200 to begin with");

    // The database refuses new connections and drops every open one.
    let name = database.name().to_owned();
    database
        .execute(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    assert!(
        readyz_becomes(&node, StatusCode::SERVICE_UNAVAILABLE, 100).await,
        "/readyz never answered 503 while the database was away"
    );
    let (status, answer) = node
        .client
        .call(
            "POST",
            "/v1/projects/outage/chat",
            Some(&key),
            Some(json!({"send_id": "s", "message": "during"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "store_unavailable", "{answer}");
    let (status, _) = node.client.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "the process must keep serving");

    // Back: the node recovers by itself.
    database.execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    assert!(readyz_becomes(&node, StatusCode::OK, 200).await, "/readyz never came back to 200");
    let answer = node.client.chat("outage", &key, "s", "after").await;
    assert_eq!(answer["replies"][0]["text"], "fallback text", "{answer}");
    let (_, history) = node.client.call("GET", "/v1/projects/outage/conversations/s", Some(&key), None).await;
    let messages: Vec<&str> = history["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .filter_map(|turn| turn["message"].as_str())
        .collect();
    assert_eq!(messages, ["before", "after"], "{history}");

    // And hears of other nodes' writes again: a second node changes the fallback.
    let other = start_node(&backend);
    other
        .client
        .call("PUT", "/v1/projects/outage/fallback", Some(&key), Some(json!({"text": "changed"})))
        .await;
    within_propagation(&node.client, "outage", &key, "changed?", |status, answer| {
        status == StatusCode::OK && answer["replies"][0]["text"] == "changed"
    })
    .await;
}

/// A node's store on the test database, opened as `serve` opens it (the nodes' key, public roots).
async fn pg_store(url: &DatabaseUrl) -> Result<PgStore, StoreError> {
    let key = SecretKey::parse(TEST_SECRET_KEY).expect("key");
    let tls = fallback_host::outbound::tls_client_config(&[]).expect("tls");
    Ok(PgStore::connect(url, &key, None, tls).await?.0)
}

fn new_project(id: &str) -> NewProject {
    NewProject { id: id.to_owned(), name: id.to_owned(), key_hash: "hash".to_owned(), match_threshold: 0.5 }
}

/// A turn the webhook answered, as the store keeps it.
fn fallback_turn(message: &str) -> Turn {
    Turn {
        at: "2026-01-01T00:00:00.000Z".to_owned(),
        message: message.to_owned(),
        replies: json!([]),
        intent: None,
        fallback: true,
        outcome: "success".to_owned(),
    }
}

/// Asks `/readyz` up to `tries` times, 50 ms apart, until it answers `status`.
async fn readyz_becomes(node: &Node, status: StatusCode, tries: usize) -> bool {
    for _ in 0..tries {
        let answer = reqwest::get(node.process.url("/readyz")).await.map(|response| response.status());
        if answer.ok() == Some(status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn db_copy_moves_a_sqlite_deployment_with_the_same_answers() {
    let Some((backend, database)) = postgres("db_copy").await else { return };
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Every kind of data on SQLite: intents, a webhook with a secret and two plugin versions
    // (the older one active), a fallback, conversations.
    let sqlite = TestHost::start_on(dir.path(), |_| {}).await;
    let key = sqlite.create_project("moving").await;
    let intent = json!({"examples": ["what are your opening hours"], "responses": ["Nine to five."]});
    let (status, _) = sqlite.call("PUT", "/v1/projects/moving/intents/hours", Some(&key), Some(intent)).await;
    assert!(status.is_success());
    let (status, _) = sqlite
        .call("PUT", "/v1/projects/moving/secrets/token", Some(&key), Some(json!({"value": "s3cret"})))
        .await;
    assert!(status.is_success());
    let spec = json!({
        "method": "GET",
        "url": format!("{}?input={{latest_message}}&chatId={{send_id}}", upstream.url("/chat")),
        "headers": {"Authorization": "Bearer {secret.token}"},
        "timeout_ms": 2000,
        "response": {"extract": {}, "variables": ["reply"], "success": "{reply}", "failure": FAILURE},
        "plugin_config": {"field": "chatId"}
    });
    sqlite.put_webhook("moving", &key, "answers", spec).await;
    sqlite.upload_plugin("moving", &key, "answers", wasm::read(wasm::JSON_REPLY)).await;
    sqlite.upload_plugin("moving", &key, "answers", wasm::read(wasm::LLM_ANSWER)).await;
    let (status, _) = sqlite
        .call(
            "POST",
            "/v1/projects/moving/webhooks/answers/plugin/rollback",
            Some(&key),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    sqlite.use_webhook_as_fallback("moving", &key, "answers").await;
    let messages = ["what are your opening hours", "where is my parcel", "anything else"];
    let mut before = Vec::new();
    for (n, message) in messages.iter().enumerate() {
        before.push(sqlite.chat("moving", &key, &format!("conv-{n}"), message).await);
    }
    let stored_before = read_all(&sqlite, &key).await;
    sqlite.stop().await;

    let copy = |replace: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"));
        command.args(["db", "copy", "--from"]).arg(dir.path()).args(["--to", &database.url_text()]);
        if replace {
            command.arg("--replace");
        }
        command.env("FALLBACK_SECRET_KEY", TEST_SECRET_KEY).output().expect("db copy runs")
    };
    let output = copy(false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 projects") && stdout.contains("the counts match"), "{stdout}");
    // A second copy into the now non-empty target is refused unless told.
    let refused = copy(false);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"), "{refused:?}");
    assert!(copy(true).status.success());

    // PostgreSQL, on an empty data dir: the same key, the same stored data, the same answers.
    let postgres = TestHost::start_with(&backend).await;
    assert_eq!(read_all(&postgres, &key).await, stored_before);
    for (n, message) in messages.iter().enumerate() {
        let answer = postgres.chat("moving", &key, &format!("conv-{n}"), message).await;
        assert_eq!(answer["replies"], before[n]["replies"], "{message}");
        assert_eq!(answer["outcome"], before[n]["outcome"], "{message}");
    }
    // The secret was re-sealed under the nodes' key and still reaches the upstream.
    let last = upstream.requests().last().cloned().expect("a request");
    let authorization = last.headers.get("authorization").and_then(|value| value.to_str().ok());
    assert_eq!(authorization, Some("Bearer s3cret"));
}

/// Everything the API shows of the copied project.
async fn read_all(host: &TestHost, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        "/v1/projects/moving",
        "/v1/projects/moving/intents",
        "/v1/projects/moving/webhooks",
        "/v1/projects/moving/webhooks/answers/plugin",
        "/v1/projects/moving/fallback",
        "/v1/projects/moving/secrets",
        "/v1/projects/moving/conversations/conv-0",
        "/v1/projects/moving/conversations/conv-1",
    ] {
        let (status, body) = host.call("GET", path, Some(key), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        all.push(body);
    }
    all
}

#[tokio::test]
async fn two_nodes_appending_to_one_conversation_lose_no_turn_and_keep_one_order() {
    const WRITERS_PER_NODE: usize = 4;
    const TURNS_PER_WRITER: usize = 40;
    let Some((_backend, database)) = postgres("one_conversation_two_nodes").await else { return };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Arc::new(pg_store(&database.url).await.expect("connect")));
    }
    nodes[0].create_project(new_project("p")).await.expect("project");
    let mut writers = JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        for writer in 0..WRITERS_PER_NODE {
            let node = node.clone();
            writers.spawn(async move {
                for turn in 0..TURNS_PER_WRITER {
                    let message = format!("node{n}-writer{writer}-{turn:03}");
                    node.append_turn("p", "shared", fallback_turn(&message), 100_000).await.expect("append");
                }
            });
        }
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    // Both nodes read the same history: every turn, each writer's in the order it wrote them.
    let histories = [
        nodes[0].conversation("p", "shared").await.expect("read").expect("turns"),
        nodes[1].conversation("p", "shared").await.expect("read").expect("turns"),
    ];
    assert_eq!(histories[0], histories[1]);
    let messages: Vec<&str> = histories[0].iter().map(|turn| turn.message.as_str()).collect();
    assert_eq!(messages.len(), 2 * WRITERS_PER_NODE * TURNS_PER_WRITER);
    for n in 0..2 {
        for writer in 0..WRITERS_PER_NODE {
            let prefix = format!("node{n}-writer{writer}-");
            let own: Vec<&str> =
                messages.iter().copied().filter(|message| message.starts_with(&prefix)).collect();
            let expected: Vec<String> =
                (0..TURNS_PER_WRITER).map(|turn| format!("{prefix}{turn:03}")).collect();
            assert_eq!(own, expected, "{prefix}");
        }
    }
    // Trimming keeps the newest, across nodes too.
    nodes[1].append_turn("p", "shared", fallback_turn("last"), 3).await.expect("append");
    let kept = nodes[0].conversation("p", "shared").await.expect("read").expect("turns");
    let kept: Vec<&str> = kept.iter().map(|turn| turn.message.as_str()).collect();
    assert_eq!(kept[..2], messages[messages.len() - 2..]);
    assert_eq!(kept[2], "last");
}

#[tokio::test]
async fn with_sslmode_require_the_server_certificate_is_verified() {
    let Some((_backend, database)) = postgres("sslmode_require").await else { return };
    // The test server's certificate (if it speaks TLS at all) is not signed by a public root.
    let required: DatabaseUrl = format!("{}?sslmode=require", database.url_text()).parse().expect("url");
    let refused = pg_store(&required).await.expect_err("an unverified server is refused");
    let text = format!("{refused:?}").to_lowercase();
    assert!(text.contains("certificate") || text.contains("tls") || text.contains("ssl"), "{text}");
    // Without it, the same server answers in plaintext.
    let plain: DatabaseUrl = database.url_text().parse().expect("url");
    pg_store(&plain).await.expect("plaintext connects");
}

#[tokio::test]
async fn a_turn_for_a_deleted_project_fails_alone_in_its_batch() {
    let Some((_backend, database)) = postgres("turn_fails_alone").await else { return };
    let store = Arc::new(pg_store(&database.url).await.expect("connect"));
    store.create_project(new_project("here")).await.expect("project");
    // Many at once, so they share batches.
    let mut appends = JoinSet::new();
    for n in 0..64 {
        let (store, project) = (store.clone(), if n % 8 == 0 { "gone" } else { "here" });
        let turn = fallback_turn(&format!("m{n}"));
        appends.spawn(async move { (project, store.append_turn(project, "s", turn, 1000).await) });
    }
    let (mut kept, mut refused) = (0, 0);
    while let Some(done) = appends.join_next().await {
        match done.expect("task") {
            ("here", Ok(())) => kept += 1,
            ("gone", Err(StoreError::NotFound(_))) => refused += 1,
            (project, result) => panic!("{project}: {result:?}"),
        }
    }
    assert_eq!((kept, refused), (56, 8));
    assert_eq!(store.conversation("here", "s").await.expect("read").expect("turns").len(), 56);
}
