//! A real upstream answer API for tests, on `127.0.0.1:0`, that records every request it gets
//! byte for byte and misbehaves on demand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The path as it came on the wire, still percent-encoded.
    pub raw_path: String,
    /// The raw query string, still percent-encoded.
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let raw = self.raw_query.as_deref()?;
        form_urlencoded::parse(raw.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

#[derive(Clone)]
struct Log(Arc<Mutex<Vec<Recorded>>>, Gate);

/// Holds `/gate` requests until the test opens it: a deterministic "slow upstream".
#[derive(Clone)]
struct Gate(Arc<tokio::sync::Semaphore>);

impl Default for Log {
    fn default() -> Self {
        Self(Arc::default(), Gate(Arc::new(tokio::sync::Semaphore::new(0))))
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    log: Log,
    _task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Routes:
    /// - `/chat` (any method): `{"message": "echo: <input>", ...}` from the `input` query value or
    ///   the JSON body's `text`;
    /// - `/status/{code}`: that status with a JSON body;
    /// - `/slow`: answers after 10 s;
    /// - `/invalid`: a body that is not JSON;
    /// - `/missing`: JSON without `message`; `/empty`: a blank `message`;
    /// - `/llm`: an OpenAI-style chat completion; `/llm-error`: its error object;
    /// - `/options`: a text with quick-reply options;
    /// - `/gate`: `{"message": "through the gate"}` once the test calls `open_gate`;
    /// - `/echo-auth`: `{"message": "auth: <the Authorization header>"}`.
    /// - `/to/...` (any method, any path below): as `/chat`, for ids carried in the path.
    pub async fn start() -> Self {
        let log = Log::default();
        let app = Router::new().route("/{*path}", any(handle)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log, _task: task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.0.lock().expect("log").clone()
    }

    pub fn count(&self) -> usize {
        self.log.0.lock().expect("log").len()
    }

    /// Lets every held and future `/gate` request through.
    pub fn open_gate(&self) {
        self.log.1.0.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

async fn handle(
    State(log): State<Log>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: format!("/{path}"),
        raw_path: uri.path().to_string(),
        raw_query: uri.query().map(str::to_string),
        headers,
        body: body.clone(),
    };
    let input = recorded
        .query_param("input")
        .or_else(|| {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|value| value["text"].as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let chat_id = recorded.query_param("chatId").unwrap_or_default();
    let auth = recorded.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    log.0.lock().expect("log").push(recorded);

    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["chat"] | ["to", ..] => {
            json_response(StatusCode::OK, json!({ "message": format!("echo: {input}"), "chatId": chat_id }))
        }
        ["status", code] => {
            let status = code.parse().ok().and_then(|code| StatusCode::from_u16(code).ok());
            let status = status.unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, json!({ "message": format!("status {}", status.as_u16()) }))
        }
        ["slow"] => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json_response(StatusCode::OK, json!({ "message": "too late" }))
        }
        ["gate"] => {
            let _through = log.1.0.acquire().await;
            json_response(StatusCode::OK, json!({ "message": "through the gate" }))
        }
        ["echo-auth"] => json_response(StatusCode::OK, json!({ "message": format!("auth: {auth}") })),
        ["invalid"] => (StatusCode::OK, "this is not json {").into_response(),
        ["missing"] => json_response(StatusCode::OK, json!({ "other": "no message here" })),
        ["empty"] => json_response(StatusCode::OK, json!({ "message": "  " })),
        ["llm"] => json_response(
            StatusCode::OK,
            json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [{
                    "index": 0,
                    "message": { "role": "assistant", "content": format!("  LLM says: {input}  \n") },
                    "finish_reason": "stop"
                }]
            }),
        ),
        ["llm-error"] => json_response(
            StatusCode::OK,
            json!({ "error": { "message": "model overloaded", "type": "server_error" } }),
        ),
        ["options"] => json_response(
            StatusCode::OK,
            json!({
                "message": "Which size?",
                "options": ["Small", { "label": "Large", "payload": "size-large" }]
            }),
        ),
        _ => json_response(StatusCode::NOT_FOUND, json!({ "message": "no such route" })),
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// An address where nothing listens: bound, then released.
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}
