//! The client against real local servers: policy refusals, round trips, caps, timeouts, retries.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::*;

const MIB: usize = 1024 * 1024;
const AGENT: &str = "fallback-host-test/1";

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path_and_query: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Handler = dyn Fn(usize, &Seen) -> Response<Full<Bytes>> + Send + Sync;

struct TestServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A hyper HTTP/1.1 server on 127.0.0.1:0; `handler` gets the request's index (0-based).
async fn serve(
    handler: impl Fn(usize, &Seen) -> Response<Full<Bytes>> + Send + Sync + 'static,
) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let (conns, log) = (Arc::clone(&connections), Arc::clone(&seen));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            conns.fetch_add(1, Ordering::SeqCst);
            let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let seen = Seen {
                        method: parts.method,
                        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                        headers: parts.headers,
                        body,
                    };
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(seen.clone());
                        log.len() - 1
                    };
                    Ok::<_, Infallible>(handler(index, &seen))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    TestServer { addr, connections, seen }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    Response::builder().status(code).body(Full::new(Bytes::new())).unwrap()
}

fn client(allow: &[&str], max_body_bytes: usize) -> OutboundClient {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    OutboundClient::new(
        NetworkPolicy::from_allow_list(&allow).unwrap(),
        ClientOptions {
            max_body_bytes,
            connect_timeout: Duration::from_secs(2),
            user_agent: AGENT.to_owned(),
            extra_roots: Vec::new(),
        },
    )
    .unwrap()
}

fn loopback_client() -> OutboundClient {
    client(&["127.0.0.0/8"], MIB)
}

fn request(method: Method, url: String) -> OutboundRequest {
    OutboundRequest {
        method,
        url,
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(5),
        retries: 0,
        max_body_bytes: None,
    }
}

fn get(url: String) -> OutboundRequest {
    request(Method::GET, url)
}

#[tokio::test]
async fn loopback_is_refused_by_default_and_nothing_reaches_the_server() {
    let server = serve(|_, _| status(200)).await;
    let default = client(&[], MIB);
    for (url, host) in [
        (server.url("/"), "127.0.0.1".to_owned()),
        (format!("http://[::1]:{}/", server.addr.port()), "[::1]".to_owned()),
        (format!("https://127.0.0.1:{}/", server.addr.port()), "127.0.0.1".to_owned()),
    ] {
        match default.send(get(url)).await {
            Err(OutboundError::ForbiddenAddress { host: refused, addr }) => {
                assert_eq!(refused, host);
                assert!(addr.is_loopback());
            }
            other => panic!("expected ForbiddenAddress, got {other:?}"),
        }
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn localhost_is_resolved_and_refused_by_default() {
    let server = serve(|_, _| status(200)).await;
    let err =
        client(&[], MIB).send(get(format!("http://localhost:{}/", server.addr.port()))).await.unwrap_err();
    match &err {
        OutboundError::ForbiddenAddress { host, addr } => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback());
        }
        other => panic!("expected ForbiddenAddress, got {other:?}"),
    }
    assert_eq!(err.code(), "forbidden_address");
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn loopback_cidr_allows_the_call() {
    let server = serve(|_, _| status(204)).await;
    let response = loopback_client().send(get(server.url("/"))).await.unwrap();
    assert_eq!(response.status, 204);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn localhost_host_entry_allows_that_name_only() {
    let server = serve(|_, _| status(200)).await;
    let by_name = client(&["localhost"], MIB);
    let response = by_name.send(get(format!("http://LocalHost:{}/", server.addr.port()))).await.unwrap();
    assert_eq!(response.status, 200);
    let err = by_name.send(get(server.url("/"))).await.unwrap_err();
    assert!(matches!(err, OutboundError::ForbiddenAddress { .. }), "the IP itself stays closed: {err:?}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn get_round_trip_carries_headers_query_and_body() {
    let server = serve(|_, seen| {
        Response::builder()
            .status(200)
            .header("X-Reply", "yes")
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(format!(
                "{{\"message\":\"got {}\"}}",
                seen.headers.get("x-token").and_then(|v| v.to_str().ok()).unwrap_or("")
            ))))
            .unwrap()
    })
    .await;
    let mut req = get(server.url("/chat?input=hello%20there&chatId=42"));
    req.headers.push((HeaderName::from_static("x-token"), HeaderValue::from_static("abc")));
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, Bytes::from_static(b"{\"message\":\"got abc\"}"));
    assert!(response.headers.contains(&("x-reply".to_owned(), "yes".to_owned())));
    assert!(response.headers.contains(&("content-type".to_owned(), "application/json".to_owned())));

    let seen = server.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path_and_query, "/chat?input=hello%20there&chatId=42");
    assert_eq!(seen.headers["user-agent"], AGENT);
    assert_eq!(seen.headers["x-token"], "abc");
    assert!(seen.body.is_empty());
}

#[tokio::test]
async fn post_sends_body_and_content_type() {
    let server = serve(|_, seen| Response::new(Full::new(seen.body.clone()))).await;
    let mut req = request(Method::POST, server.url("/hook"));
    req.body = Some(("application/json".to_owned(), Bytes::from_static(b"{\"q\":\"hi\"}")));
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.body, Bytes::from_static(b"{\"q\":\"hi\"}"));
    let seen = server.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["content-length"], "10");
}

#[tokio::test]
async fn body_past_the_cap_is_refused_with_and_without_content_length() {
    let server = serve(|index, _| {
        let size = if index == 0 { 2 * MIB } else { MIB };
        Response::new(Full::new(Bytes::from(vec![b'x'; size])))
    })
    .await;
    let capped = client(&["127.0.0.0/8"], MIB);
    let err = capped.send(get(server.url("/big"))).await.unwrap_err();
    assert!(matches!(err, OutboundError::BodyTooLarge { limit } if limit == MIB), "{err:?}");
    assert_eq!(err.code(), "body_too_large");
    let at_cap = capped.send(get(server.url("/exact"))).await.unwrap();
    assert_eq!(at_cap.body.len(), MIB, "a body exactly at the cap is accepted");

    // Chunked, no Content-Length: the cap must trip while reading.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut head).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
        let chunk = vec![b'y'; 64 * 1024];
        for _ in 0..32 {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    });
    let err = capped.send(get(format!("http://{addr}/chunked"))).await.unwrap_err();
    assert!(matches!(err, OutboundError::BodyTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn total_deadline_holds_against_a_server_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut req = get(format!("http://{addr}/"));
    req.timeout = Duration::from_millis(300);
    req.retries = 3;
    let started = Instant::now();
    let err = loopback_client().send(req).await.unwrap_err();
    assert!(
        matches!(err, OutboundError::Timeout { after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert_eq!(err.code(), "timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = loopback_client().send(get(format!("http://{addr}/"))).await.unwrap_err();
    assert!(matches!(err, OutboundError::Connect { .. }), "{err:?}");
    assert_eq!(err.code(), "connect");
}

#[tokio::test]
async fn tls_failure_is_reported_as_tls() {
    // A plain-HTTP server answering a TLS ClientHello: the handshake fails.
    let server = serve(|_, _| status(200)).await;
    let err =
        loopback_client().send(get(format!("https://127.0.0.1:{}/", server.addr.port()))).await.unwrap_err();
    assert_eq!(err.code(), "tls", "{err:?}");
}

#[tokio::test]
async fn unavailable_twice_then_ok_is_retried() {
    let server = serve(|index, _| status(if index < 2 { 503 } else { 200 })).await;
    let mut req = get(server.url("/"));
    req.retries = 2;
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn exhausted_retries_return_the_last_answer() {
    let server = serve(|_, _| status(502)).await;
    let mut req = request(Method::PUT, server.url("/"));
    req.retries = 1;
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 502);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn post_is_not_retried() {
    let server = serve(|_, _| status(503)).await;
    let mut req = request(Method::POST, server.url("/"));
    req.retries = 3;
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let server = serve(|index, _| status(if index == 0 { 429 } else { 200 })).await;
    let mut req = get(server.url("/"));
    req.retries = 1;
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = serve(|_, _| status(404)).await;
    let mut req = get(server.url("/"));
    req.retries = 3;
    assert_eq!(loopback_client().send(req).await.unwrap().status, 404);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn retries_stop_at_the_deadline_with_the_last_answer() {
    let server = serve(|_, _| status(503)).await;
    let mut req = get(server.url("/"));
    req.retries = 1000;
    req.timeout = Duration::from_millis(700);
    let response = loopback_client().send(req).await.unwrap();
    assert_eq!(response.status, 503, "the last answer, not a timeout");
    let attempts = server.requests();
    assert!((2..1000).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let server = serve(|_, _| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header("Location", "/elsewhere")
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let response = loopback_client().send(get(server.url("/start"))).await.unwrap();
    assert_eq!(response.status, 302);
    assert!(response.headers.contains(&("location".to_owned(), "/elsewhere".to_owned())));
    assert_eq!(server.requests(), 1);
    assert_eq!(server.seen.lock().unwrap()[0].path_and_query, "/start");
}

#[tokio::test]
async fn traces_name_the_host_but_never_the_query_or_headers() {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("fallback_host=trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = serve(|_, _| status(200)).await;
    let mut req = get(server.url("/path?key=QUERYSECRET"));
    req.headers
        .push((HeaderName::from_static("authorization"), HeaderValue::from_static("Bearer HEADERSECRET")));
    loopback_client().send(req).await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("host=127.0.0.1"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("attempt=1"), "{logs}");
    assert!(!logs.contains("QUERYSECRET") && !logs.contains("HEADERSECRET"), "{logs}");
}
