//! Secrets sealed at rest (legacy rows sealed at open, wrong keys refused, rotation) and
//! conversation expiry, on real SQLite files.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::secret_key::SecretKey;

const VALUE: &str = "sk-live-Qx7pL2vN9tR4";

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

fn project(id: &str) -> NewProject {
    NewProject { id: id.to_owned(), name: id.to_owned(), key_hash: "h".to_owned(), match_threshold: 0.5 }
}

fn turn() -> Turn {
    Turn {
        at: "2025-01-01T00:00:00Z".to_owned(),
        message: "hi".to_owned(),
        replies: json!([{"text": "hello"}]),
        intent: None,
        fallback: true,
        outcome: "success".to_owned(),
    }
}

/// Whether any file under `dir` holds `needle`.
fn any_file_contains(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path.display().to_string());
        }
    }
    found
}

fn open(
    dir: &Path,
    key: &SecretKey,
    previous: Option<&SecretKey>,
) -> Result<(SharedStore, ResealReport), StoreError> {
    SqliteStore::open_sealed(dir, key, previous)
        .map(|(store, report)| (Arc::new(store) as SharedStore, report))
}

#[tokio::test]
async fn secrets_are_sealed_on_disk_and_read_back_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let (store, _) = open(dir.path(), &key, None).unwrap();
    store.create_project(project("p")).await.unwrap();
    store.put_secret("p", "token", "first-value-unused").await.unwrap();
    store.put_secret("p", "token", VALUE).await.unwrap();
    assert_eq!(store.project_config("p").await.unwrap().unwrap().secrets["token"], VALUE);
    assert_eq!(any_file_contains(dir.path(), VALUE.as_bytes()), Vec::<String>::new());
    assert_eq!(any_file_contains(dir.path(), b"first-value-unused"), Vec::<String>::new());
    drop(store);
    assert_eq!(any_file_contains(dir.path(), VALUE.as_bytes()), Vec::<String>::new());
}

#[tokio::test]
async fn legacy_plaintext_rows_are_sealed_at_open_and_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A database as the previous release left it: schema 1, the secret in clear.
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(super::migrations::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO projects (id, name, key_hash, match_threshold, created_at) \
             VALUES ('p', 'p', 'h', 0.5, '2025-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
        conn.execute("INSERT INTO secrets (project, name, value) VALUES ('p', 'token', ?1)", [VALUE])
            .unwrap();
        conn.execute(
            "INSERT INTO turns (project, send_id, seq, at, message, replies, intent, fallback, outcome) \
             VALUES ('p', 'old', 1, '2025-01-01T00:00:00.5Z', 'm', '[]', NULL, 1, 'success')",
            [],
        )
        .unwrap();
    }
    assert!(!any_file_contains(dir.path(), VALUE.as_bytes()).is_empty(), "the fixture holds it in clear");

    let key = key();
    let (store, report) = open(dir.path(), &key, None).unwrap();
    assert_eq!(report, ResealReport { sealed: 1, rotated: 0 });
    assert_eq!(store.project_config("p").await.unwrap().unwrap().secrets["token"], VALUE);
    assert_eq!(any_file_contains(dir.path(), VALUE.as_bytes()), Vec::<String>::new());

    // The backfilled conversation is found by its last turn's time.
    assert!(store.conversation("p", "old").await.unwrap().is_some());
    let just_after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_601);
    assert_eq!(store.expire_conversations(just_after, 10).await.unwrap(), 1);
    assert!(store.conversation("p", "old").await.unwrap().is_none());
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_a_rotation_reseals_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (key(), key());
    {
        let (store, _) = open(dir.path(), &old, None).unwrap();
        for id in ["a", "b"] {
            store.create_project(project(id)).await.unwrap();
            store.put_secret(id, "token", &format!("{VALUE}-{id}")).await.unwrap();
        }
    }
    let error = open(dir.path(), &new, None).err().expect("a wrong key is refused");
    assert!(matches!(error, StoreError::Secret(SealError::Unreadable { .. })), "{error}");

    let (store, report) = open(dir.path(), &new, Some(&old)).unwrap();
    assert_eq!(report, ResealReport { sealed: 0, rotated: 2 });
    assert_eq!(store.project_config("b").await.unwrap().unwrap().secrets["token"], format!("{VALUE}-b"));
    drop(store);

    let (store, report) = open(dir.path(), &new, None).unwrap();
    assert_eq!(report, ResealReport::default(), "nothing left to rotate");
    assert_eq!(store.project_config("a").await.unwrap().unwrap().secrets["token"], format!("{VALUE}-a"));
    drop(store);
    assert!(open(dir.path(), &old, None).is_err(), "the old key no longer opens them");
}

#[tokio::test]
async fn a_row_moved_to_another_project_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let (store, _) = open(dir.path(), &key, None).unwrap();
    for id in ["a", "b"] {
        store.create_project(project(id)).await.unwrap();
    }
    store.put_secret("a", "token", VALUE).await.unwrap();
    drop(store);
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute("UPDATE secrets SET project = 'b'", []).unwrap();
    drop(conn);
    assert!(matches!(open(dir.path(), &key, None), Err(StoreError::Secret(SealError::Unreadable { .. }))));
}

#[tokio::test]
async fn conversations_expire_after_their_last_turn_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path(), &key(), None).unwrap();
    store.create_project(project("p")).await.unwrap();
    for n in 0..5 {
        store.append_turn("p", &format!("user-{n}"), turn(), 100).await.unwrap();
    }
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    assert_eq!(crate::server::sweeper::sweep_once(&store, day, now).await.unwrap(), 0);
    assert!(store.conversation("p", "user-0").await.unwrap().is_some());

    let later = now + day + Duration::from_secs(60);
    assert_eq!(store.expire_conversations(later - day, 2).await.unwrap(), 2, "at most a batch");
    assert_eq!(crate::server::sweeper::sweep_once(&store, day, later).await.unwrap(), 3);
    for n in 0..5 {
        assert!(store.conversation("p", &format!("user-{n}")).await.unwrap().is_none());
    }
    // A new turn starts a new conversation, which is kept.
    store.append_turn("p", "user-0", turn(), 100).await.unwrap();
    assert_eq!(crate::server::sweeper::sweep_once(&store, day, SystemTime::now()).await.unwrap(), 0);
    assert_eq!(store.conversation("p", "user-0").await.unwrap().map(|turns| turns.len()), Some(1));
}
