//! The load benchmark's ceiling: the host's webhook call with nothing around it. It takes the
//! chat body `{"send_id","message"}`, sends `GET /chat?input=…&chatId=…` to the upstream with a
//! pooled hyper-util client (the host's client and pool settings, without TLS and policy), reads
//! the JSON `message` and answers `{"send_id","replies":[{"text"}]}`. No auth, no store, no plugin.
//! Usage: `bench-proxy ADDR UPSTREAM_ADDR`; prints `listening on ADDR` when ready.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, body::Incoming};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

type Upstream = Client<HttpConnector, Empty<Bytes>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

async fn chat(
    req: Request<Incoming>,
    client: Upstream,
    upstream: &str,
) -> Result<Response<Full<Bytes>>, Error> {
    let body: Value = serde_json::from_slice(&req.into_body().collect().await?.to_bytes())?;
    let send_id = body["send_id"].as_str().unwrap_or_default();
    let message = body["message"].as_str().unwrap_or_default();
    let uri = format!(
        "http://{upstream}/chat?input={}&chatId={}",
        utf8_percent_encode(message, NON_ALPHANUMERIC),
        utf8_percent_encode(send_id, NON_ALPHANUMERIC)
    );
    let answer = client.get(uri.parse()?).await?;
    let answer: Value = serde_json::from_slice(&answer.into_body().collect().await?.to_bytes())?;
    let Some(text) = answer["message"].as_str() else { return Err("no message in the answer".into()) };
    let reply = json!({"send_id": send_id, "replies": [{"text": text}]});
    let mut response = Response::new(Full::new(Bytes::from(reply.to_string())));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(upstream)) = (args.next(), args.next()) else {
        return Err("usage: bench-proxy ADDR UPSTREAM_ADDR".into());
    };
    let upstream: &'static str = Box::leak(upstream.into_boxed_str());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(128)
        .build(connector);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let client = client.clone();
                async move {
                    Ok::<_, Infallible>(chat(req, client, upstream).await.unwrap_or_else(|error| {
                        let mut response = Response::new(Full::new(Bytes::from(error.to_string())));
                        *response.status_mut() = StatusCode::BAD_GATEWAY;
                        response
                    }))
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
