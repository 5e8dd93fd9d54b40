//! Project secrets sealed at rest: no file in the data dir holds a secret's bytes, a wrong key
//! stops the start with a clear error, and a key rotation keeps webhooks working.

use std::path::Path;

use fallback_host::config::Config;
use fallback_host::secret_key::SecretKey;
use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use reqwest::StatusCode;
use serde_json::json;

const VALUE: &str = "sk-live-4f8Kq2ZpX9wLmN7r";

/// Every file under `dir`, recursively, whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A project whose fallback webhook sends the secret `token` in a header.
async fn project_with_secret(host: &TestHost, upstream: &Upstream) -> String {
    let key = host.create_project("vault").await;
    let spec = json!({
        "url": format!("{}?input={{latest_message}}", upstream.url("/chat")),
        "headers": {"Authorization": "Bearer {secret.token}"},
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "failed"}
    });
    let (status, body) = host.call("PUT", "/v1/projects/vault/webhooks/w", Some(&key), Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    host.call("PUT", "/v1/projects/vault/fallback", Some(&key), Some(json!({"webhook": "w"}))).await;
    let (status, body) =
        host.call("PUT", "/v1/projects/vault/secrets/token", Some(&key), Some(json!({"value": VALUE}))).await;
    assert!(status.is_success(), "{body}");
    key
}

/// Chats once and checks the upstream got the secret, whole.
async fn chat_sends_the_secret(host: &TestHost, upstream: &Upstream, key: &str) {
    let answer = host.chat("vault", key, "whatsapp:+14155238886", "hi").await;
    assert_eq!(answer["outcome"], "success", "{answer}");
    let sent = upstream.requests().pop().expect("called");
    assert_eq!(sent.headers["authorization"], format!("Bearer {VALUE}").as_str());
}

fn keyed(key: &SecretKey, previous: Option<&SecretKey>) -> impl FnOnce(&mut Config) {
    let (key, previous) = (key.clone(), previous.cloned());
    move |config| {
        config.secret_key = Some(key);
        config.secret_key_previous = previous;
    }
}

#[tokio::test]
async fn no_file_in_the_data_dir_holds_a_secret_value() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let key = project_with_secret(&host, &upstream).await;
    chat_sends_the_secret(&host, &upstream, &key).await;
    assert_eq!(files_containing(dir.path(), VALUE.as_bytes()), Vec::<String>::new(), "while running");
    host.stop().await;
    assert_eq!(files_containing(dir.path(), VALUE.as_bytes()), Vec::<String>::new(), "after a stop");

    let key_file = dir.path().join("secret_key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("a key file was generated").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    // A restart reads the same key file and the secret still works.
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    chat_sends_the_secret(&host, &upstream, &key).await;
    host.stop().await;
}

#[tokio::test]
async fn a_wrong_key_stops_the_start_and_a_rotation_keeps_webhooks_working() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (SecretKey::generate().expect("key"), SecretKey::generate().expect("key"));

    let host = TestHost::start_on(dir.path(), keyed(&old, None)).await;
    let key = project_with_secret(&host, &upstream).await;
    chat_sends_the_secret(&host, &upstream, &key).await;
    host.stop().await;
    assert!(!dir.path().join("secret_key").exists(), "a configured key is never written");

    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    keyed(&new, None)(&mut config);
    let Err(error) = fallback_host::server::Host::build(config).await else {
        panic!("a host with the wrong key must not start");
    };
    let message = format!("{:#}", anyhow::Error::from(error));
    assert!(message.contains("does not decrypt the stored secrets"), "{message}");
    assert!(message.contains("FALLBACK_SECRET_KEY_PREVIOUS"), "says how to rotate: {message}");

    // Rotation: the new key in force, the old one as previous; then the new one alone.
    let host = TestHost::start_on(dir.path(), keyed(&new, Some(&old))).await;
    chat_sends_the_secret(&host, &upstream, &key).await;
    host.stop().await;
    let host = TestHost::start_on(dir.path(), keyed(&new, None)).await;
    chat_sends_the_secret(&host, &upstream, &key).await;
    host.stop().await;

    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    keyed(&old, None)(&mut config);
    assert!(fallback_host::server::Host::build(config).await.is_err(), "the old key no longer opens them");
    assert_eq!(files_containing(dir.path(), VALUE.as_bytes()), Vec::<String>::new());
}

#[tokio::test]
async fn a_lost_key_file_stops_the_start_and_is_not_replaced() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    project_with_secret(&host, &upstream).await;
    host.stop().await;
    let key_file = dir.path().join("secret_key");
    let original = std::fs::read_to_string(&key_file).expect("key file");
    std::fs::remove_file(&key_file).expect("lose it");

    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let Err(error) = fallback_host::server::Host::build(config).await else {
        panic!("a host without its key must not start");
    };
    let message = format!("{:#}", anyhow::Error::from(error));
    assert!(message.contains("restore the key file"), "{message}");
    assert!(!key_file.exists(), "no wrong key is left in its place");

    std::fs::write(&key_file, original).expect("restore");
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    assert!(fallback_host::server::Host::build(config).await.is_ok(), "the restored key opens them");
}
