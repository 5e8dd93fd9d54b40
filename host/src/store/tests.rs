//! Behaviour of the SQLite store through the `Store` trait, on real files in temp dirs.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use tempfile::TempDir;

use super::*;

fn open() -> (TempDir, SharedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(SqliteStore::open(dir.path()).unwrap());
    (dir, store)
}

fn new_project(id: &str) -> NewProject {
    NewProject {
        id: id.to_owned(),
        name: format!("Project {id}"),
        key_hash: format!("hash-of-{id}"),
        match_threshold: 0.6,
    }
}

fn intent(id: &str, example: &str) -> NewIntent {
    NewIntent { id: id.to_owned(), examples: vec![example.to_owned()], responses: vec!["hi".to_owned()] }
}

fn turn(n: usize) -> Turn {
    let matched = n.is_multiple_of(2);
    Turn {
        at: format!("2025-01-01T00:00:{n:02}.000Z"),
        message: format!("message {n}"),
        replies: json!([{"text": format!("reply {n}")}]),
        intent: matched.then(|| "greet".to_owned()),
        fallback: !matched,
        outcome: if matched { "matched" } else { "success" }.to_owned(),
    }
}

async fn key_hash(store: &SharedStore, project: &str) -> Option<String> {
    store.project_config(project).await.unwrap().map(|config| config.key_hash)
}

async fn secrets(store: &SharedStore, project: &str) -> BTreeMap<String, String> {
    store.project_config(project).await.unwrap().map(|config| config.secrets).unwrap_or_default()
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn add_plugin(store: &SharedStore, project: &str, webhook: &str, wasm: &[u8]) -> PluginVersion {
    store.add_plugin_version(project, webhook, &digest(wasm), wasm.to_vec(), 10).await.unwrap()
}

const SPEC: &str = r#"{"method":"GET","url":"http://x/{latest_message}"}"#;

/// Fills project `p` with one of everything.
async fn populate(store: &SharedStore, p: &str) {
    store.create_project(new_project(p)).await.unwrap();
    store.put_intent(p, intent("greet", "hello")).await.unwrap();
    store.put_webhook(p, "answer", SPEC).await.unwrap();
    store.set_fallback(p, Fallback::Webhook("answer".to_owned())).await.unwrap();
    store.put_secret(p, "key", "s3cret").await.unwrap();
    add_plugin(store, p, "answer", b"plugin one").await;
    store.append_turn(p, "c1", turn(1), 10).await.unwrap();
}

#[tokio::test]
async fn project_round_trip_and_conflict() {
    let (_dir, store) = open();
    let created = store.create_project(new_project("p1")).await.unwrap();
    assert_eq!(created.id, "p1");
    assert_eq!(created.name, "Project p1");
    assert_eq!(created.match_threshold, 0.6);
    assert!(created.created_at.ends_with('Z') && created.created_at.contains('T'));

    let err = store.create_project(new_project("p1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    store.create_project(new_project("p0")).await.unwrap();
    let ids: Vec<_> = store.list_projects().await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["p0", "p1"]);
    assert_eq!(store.get_project("p1").await.unwrap(), Some(created.clone()));
    assert_eq!(store.get_project("nope").await.unwrap(), None);
    assert_eq!(key_hash(&store, "p1").await.as_deref(), Some("hash-of-p1"));
    assert_eq!(key_hash(&store, "nope").await, None);

    assert!(store.set_match_threshold("p1", 0.8).await.unwrap());
    assert!(!store.set_match_threshold("nope", 0.8).await.unwrap());
    assert_eq!(store.get_project("p1").await.unwrap().unwrap().match_threshold, 0.8);

    let shown = serde_json::to_value(&created).unwrap();
    assert!(shown.get("key_hash").is_none(), "the key hash never reaches the API: {shown}");

    assert!(store.delete_project("p1").await.unwrap());
    assert!(!store.delete_project("p1").await.unwrap());
    assert_eq!(store.get_project("p1").await.unwrap(), None);
}

#[tokio::test]
async fn intents_round_trip() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    assert!(store.put_intent("p", intent("greet", "hello")).await.unwrap());
    assert!(!store.put_intent("p", intent("greet", "hey")).await.unwrap(), "replaced, not created");
    assert!(store.put_intent("p", intent("bye", "ciao")).await.unwrap());

    let got = store.get_intent("p", "greet").await.unwrap().unwrap();
    assert_eq!(got.examples, ["hey"]);
    assert_eq!(got.responses, ["hi"]);
    let ids: Vec<_> = store.list_intents("p").await.unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["bye", "greet"]);

    assert!(store.delete_intent("p", "greet").await.unwrap());
    assert!(!store.delete_intent("p", "greet").await.unwrap());
    assert_eq!(store.get_intent("p", "greet").await.unwrap(), None);

    let err = store.put_intent("ghost", intent("greet", "x")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn webhooks_round_trip_and_replacing_keeps_plugins() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    assert!(store.put_webhook("p", "w", SPEC).await.unwrap());
    add_plugin(&store, "p", "w", b"wasm").await;
    let replaced = r#"{"method":"POST"}"#;
    assert!(!store.put_webhook("p", "w", replaced).await.unwrap());

    let got = store.get_webhook("p", "w").await.unwrap().unwrap();
    assert_eq!(got.spec, replaced);
    assert_eq!(store.plugin_versions("p", "w").await.unwrap().active, Some(1));
    assert_eq!(
        serde_json::to_value(&got).unwrap()["spec"],
        json!({"method": "POST"}),
        "the spec is embedded as JSON, not as a string"
    );
    store.put_webhook("p", "a", SPEC).await.unwrap();
    let ids: Vec<_> = store.list_webhooks("p").await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(ids, ["a", "w"]);

    assert!(store.delete_webhook("p", "w").await.unwrap());
    assert!(!store.delete_webhook("p", "w").await.unwrap());
    assert_eq!(store.get_webhook("p", "w").await.unwrap(), None);
    // Re-created, it starts without the old plugin versions.
    store.put_webhook("p", "w", SPEC).await.unwrap();
    assert_eq!(
        store.plugin_versions("p", "w").await.unwrap(),
        PluginVersions { active: None, versions: vec![] }
    );
}

#[tokio::test]
async fn fallback_round_trip_and_failed_change_keeps_the_old_one() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    assert_eq!(store.get_fallback("p").await.unwrap(), None);
    store.set_fallback("p", Fallback::Text("sorry".to_owned())).await.unwrap();
    assert_eq!(store.get_fallback("p").await.unwrap(), Some(Fallback::Text("sorry".to_owned())));

    let err = store.set_fallback("p", Fallback::Webhook("missing".to_owned())).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(store.get_fallback("p").await.unwrap(), Some(Fallback::Text("sorry".to_owned())));

    store.put_webhook("p", "w", SPEC).await.unwrap();
    store.set_fallback("p", Fallback::Webhook("w".to_owned())).await.unwrap();
    assert_eq!(store.get_fallback("p").await.unwrap(), Some(Fallback::Webhook("w".to_owned())));

    let err = store.set_fallback("ghost", Fallback::Text("x".to_owned())).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn the_fallback_webhook_cannot_be_deleted() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    store.put_webhook("p", "w", SPEC).await.unwrap();
    add_plugin(&store, "p", "w", b"wasm").await;
    store.set_fallback("p", Fallback::Webhook("w".to_owned())).await.unwrap();

    let err = store.delete_webhook("p", "w").await.unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
    assert!(store.get_webhook("p", "w").await.unwrap().is_some());
    assert_eq!(store.active_plugin("p", "w").await.unwrap().unwrap().wasm, b"wasm");

    store.set_fallback("p", Fallback::Text("bye".to_owned())).await.unwrap();
    assert!(store.delete_webhook("p", "w").await.unwrap());
}

#[test]
fn fallback_serde_shape() {
    assert_eq!(serde_json::to_value(Fallback::Text("t".into())).unwrap(), json!({"text": "t"}));
    assert_eq!(serde_json::to_value(Fallback::Webhook("w".into())).unwrap(), json!({"webhook": "w"}));
    let parsed: Fallback = serde_json::from_value(json!({"webhook": "w"})).unwrap();
    assert_eq!(parsed, Fallback::Webhook("w".into()));
    assert!(serde_json::from_value::<Fallback>(json!({"url": "w"})).is_err());
}

#[tokio::test]
async fn secrets_round_trip() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    assert!(store.put_secret("p", "b", "1").await.unwrap());
    assert!(store.put_secret("p", "a", "2").await.unwrap());
    assert!(!store.put_secret("p", "b", "3").await.unwrap());
    assert_eq!(store.list_secret_names("p").await.unwrap(), ["a", "b"]);
    let all = secrets(&store, "p").await;
    assert_eq!(all, BTreeMap::from([("a".into(), "2".into()), ("b".into(), "3".into())]));
    assert!(store.delete_secret("p", "a").await.unwrap());
    assert!(!store.delete_secret("p", "a").await.unwrap());
    assert_eq!(store.list_secret_names("p").await.unwrap(), ["b"]);
}

#[tokio::test]
async fn plugin_versions_activate_rollback_detach() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    store.put_webhook("p", "w", SPEC).await.unwrap();
    assert_eq!(store.active_plugin("p", "w").await.unwrap(), None);

    let v1 = add_plugin(&store, "p", "w", b"first").await;
    let v2 = add_plugin(&store, "p", "w", b"second!").await;
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v2.size, 7);
    assert_eq!(v2.sha256, digest(b"second!"));

    let listed = store.plugin_versions("p", "w").await.unwrap();
    assert_eq!(listed.active, Some(2), "the newest upload is active");
    assert_eq!(listed.versions, [v1.clone(), v2.clone()]);
    assert_eq!(store.active_plugin("p", "w").await.unwrap().unwrap().wasm, b"second!");

    assert_eq!(store.active_plugin_version("p", "w").await.unwrap(), Some(v2.clone()));
    store.activate_plugin_version("p", "w", 1).await.unwrap();
    assert_eq!(store.active_plugin_version("p", "w").await.unwrap(), Some(v1.clone()));
    let active = store.active_plugin("p", "w").await.unwrap().unwrap();
    assert_eq!(
        (active.version, active.sha256.as_str(), active.wasm.as_slice()),
        (1, v1.sha256.as_str(), &b"first"[..])
    );

    let err = store.activate_plugin_version("p", "w", 9).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(store.plugin_versions("p", "w").await.unwrap().active, Some(1), "unchanged");

    assert!(store.detach_plugin("p", "w").await.unwrap());
    assert!(!store.detach_plugin("p", "w").await.unwrap());
    assert_eq!(store.active_plugin("p", "w").await.unwrap(), None);
    assert_eq!(store.active_plugin_version("p", "w").await.unwrap(), None);
    let listed = store.plugin_versions("p", "w").await.unwrap();
    assert_eq!((listed.active, listed.versions.len()), (None, 2), "versions survive a detach");

    // Numbering continues after a detach; the same bytes again are a new version.
    let v3 = add_plugin(&store, "p", "w", b"first").await;
    assert_eq!(v3.version, 3);
    assert_eq!(store.plugin_versions("p", "w").await.unwrap().active, Some(3));
    store.activate_plugin_version("p", "w", 2).await.unwrap();
    assert_eq!(store.active_plugin("p", "w").await.unwrap().unwrap().wasm, b"second!");
}

#[tokio::test]
async fn only_the_newest_versions_are_kept_and_pruned_bytes_go() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    store.put_webhook("p", "w", SPEC).await.unwrap();
    let blobs: Vec<Vec<u8>> = (0..4).map(|n| format!("plugin {n}").into_bytes()).collect();
    for wasm in &blobs {
        store.add_plugin_version("p", "w", &digest(wasm), wasm.clone(), 2).await.unwrap();
    }
    let listed = store.plugin_versions("p", "w").await.unwrap();
    assert_eq!(listed.active, Some(4));
    assert_eq!(listed.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(store.plugin_wasm(&digest(&blobs[0])).await.unwrap(), None);
    assert_eq!(store.plugin_wasm(&digest(&blobs[3])).await.unwrap(), Some(blobs[3].clone()));
    let mut digests = store.plugin_digests().await.unwrap();
    digests.sort();
    let mut expected = vec![digest(&blobs[2]), digest(&blobs[3])];
    expected.sort();
    assert_eq!(digests, expected);
}

#[tokio::test]
async fn plugin_upload_errors_change_nothing() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    let err = store.add_plugin_version("p", "missing", &digest(b"x"), b"x".to_vec(), 10).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let err = store.plugin_versions("p", "missing").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");

    store.put_webhook("p", "w", SPEC).await.unwrap();
    let err = store.add_plugin_version("p", "w", &digest(b"other"), b"x".to_vec(), 10).await.unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert_eq!(
        store.plugin_versions("p", "w").await.unwrap(),
        PluginVersions { active: None, versions: vec![] }
    );
}

/// Counts stored blobs straight from the file: deduplication and cleanup are invisible otherwise.
fn blob_count(dir: &TempDir) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.query_row("SELECT COUNT(*) FROM plugin_blobs", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn identical_plugin_bytes_are_stored_once_and_freed_with_their_last_version() {
    let (dir, store) = open();
    for p in ["a", "b"] {
        store.create_project(new_project(p)).await.unwrap();
        store.put_webhook(p, "w", SPEC).await.unwrap();
        add_plugin(&store, p, "w", b"shared").await;
    }
    add_plugin(&store, "a", "w", b"only a").await;
    assert_eq!(blob_count(&dir), 2);

    store.delete_project("a").await.unwrap();
    assert_eq!(blob_count(&dir), 1, "b still uses the shared bytes");
    assert_eq!(store.active_plugin("b", "w").await.unwrap().unwrap().wasm, b"shared");
    store.delete_webhook("b", "w").await.unwrap();
    assert_eq!(blob_count(&dir), 0);
}

#[tokio::test]
async fn conversations_keep_the_newest_turns_oldest_first() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    assert_eq!(store.conversation("p", "c").await.unwrap(), None);
    for n in 1..=5 {
        store.append_turn("p", "c", turn(n), 3).await.unwrap();
    }
    store.append_turn("p", "other", turn(9), 3).await.unwrap();
    let turns = store.conversation("p", "c").await.unwrap().unwrap();
    assert_eq!(turns, [turn(3), turn(4), turn(5)]);
    assert_eq!(store.conversation("p", "other").await.unwrap().unwrap(), [turn(9)]);

    let err = store.append_turn("ghost", "c", turn(1), 3).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test]
async fn deleting_a_project_removes_everything_of_it() {
    let (_dir, store) = open();
    populate(&store, "gone").await;
    populate(&store, "kept").await;
    assert!(store.delete_project("gone").await.unwrap());

    // Re-creating the id finds none of the old data.
    store.create_project(new_project("gone")).await.unwrap();
    assert!(store.list_intents("gone").await.unwrap().is_empty());
    assert!(store.list_webhooks("gone").await.unwrap().is_empty());
    assert_eq!(store.get_fallback("gone").await.unwrap(), None);
    assert!(secrets(&store, "gone").await.is_empty());
    assert_eq!(store.conversation("gone", "c1").await.unwrap(), None);
    let active: Vec<_> =
        store.all_active_plugins().await.unwrap().into_iter().map(|(p, w, _)| (p, w)).collect();
    assert_eq!(active, [("kept".to_owned(), "answer".to_owned())]);

    assert_eq!(store.list_intents("kept").await.unwrap().len(), 1);
    assert!(store.active_plugin("kept", "answer").await.unwrap().is_some());
}

#[tokio::test]
async fn another_projects_data_is_invisible() {
    let (_dir, store) = open();
    populate(&store, "mine").await;
    store.create_project(new_project("theirs")).await.unwrap();
    let t = "theirs";
    assert!(store.list_intents(t).await.unwrap().is_empty());
    assert_eq!(store.get_intent(t, "greet").await.unwrap(), None);
    assert!(!store.delete_intent(t, "greet").await.unwrap());
    assert!(store.list_webhooks(t).await.unwrap().is_empty());
    assert_eq!(store.get_webhook(t, "answer").await.unwrap(), None);
    assert!(!store.delete_webhook(t, "answer").await.unwrap());
    assert_eq!(store.get_fallback(t).await.unwrap(), None);
    let err = store.set_fallback(t, Fallback::Webhook("answer".into())).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(store.list_secret_names(t).await.unwrap().is_empty());
    assert!(secrets(&store, t).await.is_empty());
    assert!(!store.delete_secret(t, "key").await.unwrap());
    assert!(matches!(store.plugin_versions(t, "answer").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.activate_plugin_version(t, "answer", 1).await, Err(StoreError::NotFound(_))));
    assert!(!store.detach_plugin(t, "answer").await.unwrap());
    assert_eq!(store.active_plugin(t, "answer").await.unwrap(), None);
    assert_eq!(store.active_plugin_version(t, "answer").await.unwrap(), None);
    assert!(matches!(
        store.add_plugin_version(t, "answer", &digest(b"x"), b"x".to_vec(), 10).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.conversation(t, "c1").await.unwrap(), None);

    // And none of those attempts touched "mine".
    assert_eq!(store.list_intents("mine").await.unwrap().len(), 1);
    assert_eq!(secrets(&store, "mine").await.len(), 1);
    assert_eq!(store.plugin_versions("mine", "answer").await.unwrap().active, Some(1));
}

#[tokio::test]
async fn reopening_the_directory_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("fresh/data");
    {
        let store: SharedStore = Arc::new(SqliteStore::open(&data_dir).unwrap());
        populate(&store, "p").await;
        add_plugin(&store, "p", "answer", b"plugin two").await;
        store.activate_plugin_version("p", "answer", 1).await.unwrap();
    }
    let store: SharedStore = Arc::new(SqliteStore::open(&data_dir).unwrap());
    assert_eq!(store.get_project("p").await.unwrap().unwrap().name, "Project p");
    assert_eq!(key_hash(&store, "p").await.as_deref(), Some("hash-of-p"));
    assert_eq!(store.get_intent("p", "greet").await.unwrap().unwrap().examples, ["hello"]);
    assert_eq!(store.get_webhook("p", "answer").await.unwrap().unwrap().spec, SPEC);
    assert_eq!(store.get_fallback("p").await.unwrap(), Some(Fallback::Webhook("answer".into())));
    assert_eq!(secrets(&store, "p").await["key"], "s3cret");
    assert_eq!(store.conversation("p", "c1").await.unwrap().unwrap(), [turn(1)]);
    let versions = store.plugin_versions("p", "answer").await.unwrap();
    assert_eq!((versions.active, versions.versions.len()), (Some(1), 2));
    let all = store.all_active_plugins().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].0.as_str(), all[0].1.as_str(), all[0].2.wasm.as_slice()),
        ("p", "answer", &b"plugin one"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_and_reads_all_land() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store.put_intent("p", intent(&format!("i{n}"), "x")).await.unwrap();
                store.list_intents("p").await.unwrap().len()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap() >= 1);
    }
    assert_eq!(store.list_intents("p").await.unwrap().len(), 32);
}

/// The pool's own guarantee, below every method: an `Err` or a panic mid-write leaves nothing.
#[tokio::test]
async fn a_failed_or_panicking_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool::Pool::open(&dir.path().join(DB_FILE)).unwrap();
    let insert = "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) \
                  VALUES ('p', 'P', 'h', 0.5, 'now')";

    let err = pool
        .write(move |tx| -> Result<(), StoreError> {
            tx.execute(insert, [])?;
            Err(StoreError::Conflict("on purpose".to_owned()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let panicked = pool
        .write(move |tx| -> Result<(), StoreError> {
            tx.execute(insert, [])?;
            panic!("on purpose");
        })
        .await
        .unwrap_err();
    assert!(matches!(panicked, StoreError::Task(_)), "{panicked}");

    let count = |tx: &rusqlite::Transaction<'_>| -> Result<i64, StoreError> {
        Ok(tx.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?)
    };
    assert_eq!(pool.read(count).await.unwrap(), 0);
    // The writer survived the panic and still commits.
    pool.write(move |tx| Ok(tx.execute(insert, [])?)).await.unwrap();
    assert_eq!(pool.read(count).await.unwrap(), 1);
}

#[tokio::test]
async fn project_config_reads_everything_a_chat_needs_at_once() {
    let (_dir, store) = open();
    assert!(store.project_config("p").await.unwrap().is_none());
    populate(&store, "p").await;
    let config = store.project_config("p").await.unwrap().unwrap();
    assert_eq!(config.project.id, "p");
    assert_eq!(config.key_hash, "hash-of-p");
    assert_eq!(config.fallback, Some(Fallback::Webhook("answer".to_owned())));
    assert_eq!(config.secrets.get("key").map(String::as_str), Some("s3cret"));
    assert_eq!(config.intents.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["greet"]);
    // Its Debug shows neither the key hash nor a secret's value.
    let shown = format!("{config:?}");
    assert!(!shown.contains("hash-of-p") && !shown.contains("s3cret"), "{shown}");
}

/// Records every change published, in order.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<Change>>);

impl ChangeListener for Heard {
    fn changed(&self, change: &Change) {
        self.0.lock().unwrap().push(change.clone());
    }
}

#[tokio::test]
async fn every_write_publishes_its_project_before_it_returns_and_reads_publish_nothing() {
    let (_dir, store) = open();
    let heard = Arc::new(Heard::default());
    let listener: Arc<dyn ChangeListener> = heard.clone();
    store.changes().subscribe(&listener);
    let count = || heard.0.lock().unwrap().len();

    let mut expected = 0;
    let mut wrote = |n: usize| {
        expected += 1;
        assert_eq!(n, expected, "a write did not publish its change before returning");
        assert_eq!(heard.0.lock().unwrap().last(), Some(&Change::Project("p".to_owned())));
    };
    store.create_project(new_project("p")).await.unwrap();
    wrote(count());
    store.put_intent("p", intent("greet", "hello")).await.unwrap();
    wrote(count());
    store.delete_intent("p", "greet").await.unwrap();
    wrote(count());
    store.put_webhook("p", "answer", SPEC).await.unwrap();
    wrote(count());
    store.set_fallback("p", Fallback::Webhook("answer".to_owned())).await.unwrap();
    wrote(count());
    store.put_secret("p", "key", "v").await.unwrap();
    wrote(count());
    store.delete_secret("p", "key").await.unwrap();
    wrote(count());
    add_plugin(&store, "p", "answer", b"one").await;
    wrote(count());
    store.activate_plugin_version("p", "answer", 1).await.unwrap();
    wrote(count());
    store.detach_plugin("p", "answer").await.unwrap();
    wrote(count());
    store.set_match_threshold("p", 0.5).await.unwrap();
    wrote(count());
    store.set_project_key_hash("p", "new-hash").await.unwrap();
    wrote(count());
    store.set_fallback("p", Fallback::Text("no".to_owned())).await.unwrap();
    wrote(count());
    store.delete_webhook("p", "answer").await.unwrap();
    wrote(count());

    let before = count();
    store.project_config("p").await.unwrap();
    store.list_intents("p").await.unwrap();
    store.append_turn("p", "c", turn(1), 10).await.unwrap();
    assert_eq!(count(), before, "reads and turns change nothing a cache keeps");

    store.delete_project("p").await.unwrap();
    assert_eq!(count(), before + 1);
    // A refused write changed nothing, so it tells nothing either.
    store.put_intent("p", intent("greet", "hello")).await.unwrap_err();
    assert_eq!(count(), before + 1);

    // A listener that is gone is skipped, not kept alive.
    drop(listener);
    drop(heard);
    store.create_project(new_project("q")).await.unwrap();
}

#[tokio::test]
async fn concurrent_turns_share_transactions_and_one_failure_fails_only_its_own_chat() {
    let (_dir, store) = open();
    store.create_project(new_project("p")).await.unwrap();
    let mut chats = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = store.clone();
        chats.spawn(async move {
            // Every tenth chat is for a project that does not exist.
            let project = if n % 10 == 0 { "ghost" } else { "p" };
            let send_id = format!("c{}", n % 7);
            (n, store.append_turn(project, &send_id, turn(n), 1000).await)
        });
    }
    let mut acknowledged = 0;
    while let Some(joined) = chats.join_next().await {
        let (n, result) = joined.unwrap();
        if n % 10 == 0 {
            assert!(matches!(result, Err(StoreError::NotFound(_))), "chat {n}: {result:?}");
        } else {
            result.unwrap();
            acknowledged += 1;
        }
    }
    let mut stored = 0;
    for c in 0..7 {
        let turns = store.conversation("p", &format!("c{c}")).await.unwrap().unwrap_or_default();
        // Each conversation's turns keep the order they were committed in: seq is 1, 2, 3..
        stored += turns.len();
    }
    assert_eq!(stored, acknowledged);
    assert!(store.conversation("ghost", "c0").await.unwrap().is_none());
}
