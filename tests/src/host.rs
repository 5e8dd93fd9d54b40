//! A real Fallback Host for tests: `server::run` on `127.0.0.1:0` over a temporary data dir,
//! with a small JSON client that speaks its API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fallback_host::config::Config;

use crate::database::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_TOKEN: &str = "fba_test-admin-token-0123456789";

/// A running host. Dropping it stops the server; `stop` waits for the drain.
pub struct TestHost {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _owned_dir: Option<tempfile::TempDir>,
}

impl TestHost {
    /// A host on a fresh data dir that may call loopback upstreams.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let mut host = Self::start_on(&path, |_| {}).await;
        host._owned_dir = Some(dir);
        host
    }

    /// A host on a fresh data dir and the given backend, that may call loopback upstreams.
    pub async fn start_with(backend: &Backend) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let mut host = Self::start_on_with(backend, &path, |_| {}).await;
        host._owned_dir = Some(dir);
        host
    }

    /// A host on `data_dir` and the given backend (both kept by the caller, for restarts).
    pub async fn start_on_with(backend: &Backend, data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(data_dir, |config| {
            backend.configure(config);
            adjust(config);
        })
        .await
    }

    /// A host on `data_dir` (kept by the caller, for restarts), with a chance to adjust settings.
    pub async fn start_on(data_dir: &Path, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            data_dir: data_dir.to_path_buf(),
            admin_token: Some(ADMIN_TOKEN.to_string()),
            allow_networks: vec!["127.0.0.0/8".to_string()],
            plugin_compile_worker: Some(compile_worker()),
            ..Config::default()
        };
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            fallback_host::server::run(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            data_dir: data_dir.to_path_buf(),
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
            _owned_dir: None,
        }
    }

    /// The same client for a host running elsewhere (a `serve` process): nothing to stop.
    pub fn remote(addr: SocketAddr) -> Self {
        Self {
            addr,
            data_dir: PathBuf::new(),
            client: reqwest::Client::new(),
            shutdown: None,
            task: None,
            _owned_dir: None,
        }
    }

    /// Stops accepting, drains in-flight requests and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional bearer token and JSON body; answers status and JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        read(response).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("request sent");
        read(response).await
    }

    /// Creates a project and returns its key.
    pub async fn create_project(&self, id: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/projects",
                Some(ADMIN_TOKEN),
                Some(serde_json::json!({ "id": id, "name": format!("Project {id}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().expect("api_key").to_string()
    }

    /// Creates or replaces a webhook from its JSON definition.
    pub async fn put_webhook(&self, project: &str, key: &str, webhook: &str, spec: Value) {
        let (status, body) = self
            .call("PUT", &format!("/v1/projects/{project}/webhooks/{webhook}"), Some(key), Some(spec))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Makes `webhook` the project's fallback.
    pub async fn use_webhook_as_fallback(&self, project: &str, key: &str, webhook: &str) {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/v1/projects/{project}/fallback"),
                Some(key),
                Some(serde_json::json!({ "webhook": webhook })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Uploads a plugin to a webhook and returns its version.
    pub async fn upload_plugin(&self, project: &str, key: &str, webhook: &str, wasm: Vec<u8>) -> u64 {
        let (status, body) = self
            .call_raw(
                "PUT",
                &format!("/v1/projects/{project}/webhooks/{webhook}/plugin"),
                Some(key),
                Some("application/wasm"),
                wasm,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["version"].as_u64().expect("version")
    }

    /// Sends one chat message and returns the answer.
    pub async fn chat(&self, project: &str, key: &str, send_id: &str, message: &str) -> Value {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/projects/{project}/chat"),
                Some(key),
                Some(serde_json::json!({ "send_id": send_id, "message": message })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// The relay of the real CLI (`src/bin/fallback-host-cli.rs`), which Cargo builds beside the
/// test executables: the host under test compiles uploads in it, as `serve` does in itself.
pub fn compile_worker() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let name = format!("fallback-host-cli{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} not found beside {}", exe.display()))
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}
