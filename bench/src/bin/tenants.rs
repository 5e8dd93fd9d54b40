//! The many-tenants benchmark's setup: creates N projects on a running host at the API, fast,
//! and writes `ID KEY` per line for the load generator.
//!
//! Each project is what `bench/load.sh` sets up: an intent `greeting`, a webhook `answers` to the
//! bench upstream (`GET /chat?input={latest_message}&chatId={send_id}`, reply from
//! `$.message`) and that webhook as its fallback. Every (N / P)th project's webhook also runs its
//! own plugin: the json-reply component with a distinct custom section appended, so each of the P
//! uploads is a new digest, validated and compiled apart (P distinct plugins in the host).
//!
//! Projects are set up by many workers at once over one pooled client (the host, not this
//! process, is what takes the time); plugin uploads go a few at a time, as the host compiles
//! at most `plugin_compile_concurrency` (2) at once and more only queue.
//!
//! Usage: `bench-tenants HOST_ADDR ADMIN_TOKEN UPSTREAM_ADDR WASM OUT_FILE [PROJECTS] [PLUGINS] [PREFIX]`
//! (defaults 10000, 100 and `t`: ids `t00000`, `t00001`, ...); prints progress and timings on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Http = Client<HttpConnector, Full<Bytes>>;

/// Projects being set up at once: enough to keep the host's store writer busy.
const SETUP_WORKERS: usize = 64;
/// Plugin uploads in flight: the host's compile concurrency plus one waiting behind each.
const UPLOAD_WORKERS: usize = 4;

/// What every request needs: the client and where the host and upstream are.
struct Target {
    http: Http,
    host: String,
    admin: String,
    upstream: String,
    /// Project ids are this and the project's index.
    prefix: String,
}

struct Args {
    target: Target,
    wasm: Vec<u8>,
    out: String,
    projects: usize,
    plugins: usize,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let target = Arc::new(args.target);
    let every = args.projects.checked_div(args.plugins).unwrap_or(usize::MAX).max(1);
    let plugins = args.plugins;
    let with_plugin =
        move |index: usize| plugins > 0 && index.is_multiple_of(every) && index / every < plugins;

    let started = Instant::now();
    let keys = create_projects(&target, args.projects, with_plugin).await?;
    let created = started.elapsed();
    eprintln!(
        "{} projects set up in {:.1} s ({:.0} projects/s, 4 requests each)",
        args.projects,
        created.as_secs_f64(),
        args.projects as f64 / created.as_secs_f64()
    );

    let started = Instant::now();
    let plugin_projects: Vec<(usize, String)> = (0..args.projects)
        .filter(|&index| with_plugin(index))
        .map(|index| (index, keys[index].clone()))
        .collect();
    let uploads = upload_plugins(&target, &args.wasm, plugin_projects).await?;
    if uploads > 0 {
        let took = started.elapsed();
        eprintln!(
            "{uploads} distinct plugins uploaded in {:.1} s ({:.0} ms each on average, {UPLOAD_WORKERS} in flight)",
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / uploads as f64
        );
    }

    let lines: String =
        keys.iter().enumerate().map(|(index, key)| format!("{} {key}\n", target.project_id(index))).collect();
    std::fs::write(&args.out, lines)?;
    Ok(())
}

fn parse_args() -> Result<Args, Error> {
    const USAGE: &str = "usage: bench-tenants HOST_ADDR ADMIN_TOKEN UPSTREAM_ADDR WASM OUT_FILE [PROJECTS] [PLUGINS] [PREFIX]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, admin, upstream, wasm, out, rest @ ..] = args.as_slice() else { return Err(USAGE.into()) };
    let count = |at: usize, default: usize| -> Result<usize, Error> {
        rest.get(at).map_or(Ok(default), |text| text.parse().map_err(|_| format!("{USAGE}: {text:?}").into()))
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(SETUP_WORKERS)
        .build(connector);
    Ok(Args {
        target: Target {
            http,
            host: host.clone(),
            admin: admin.clone(),
            upstream: upstream.clone(),
            prefix: rest.get(2).cloned().unwrap_or_else(|| "t".to_string()),
        },
        wasm: std::fs::read(wasm).map_err(|error| format!("{wasm}: {error}"))?,
        out: out.clone(),
        projects: count(0, 10_000)?,
        plugins: count(1, 100)?,
    })
}

/// Sets up projects `0..count` with `SETUP_WORKERS` workers taking the next index in turn;
/// answers their keys by index.
async fn create_projects(
    target: &Arc<Target>,
    count: usize,
    with_plugin: impl Fn(usize) -> bool + Copy + Send + 'static,
) -> Result<Vec<String>, Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SETUP_WORKERS {
        let (target, next) = (target.clone(), next.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, Error>(done);
                }
                let key = create_project(&target, &target.project_id(index), with_plugin(index)).await?;
                done.push((index, key));
                if (index + 1) % 1000 == 0 {
                    eprintln!("  {} projects", index + 1);
                }
            }
        });
    }
    let mut keys = vec![String::new(); count];
    while let Some(worker) = workers.join_next().await {
        for (index, key) in worker?? {
            keys[index] = key;
        }
    }
    Ok(keys)
}

/// One project as `bench/load.sh` makes it; answers its key.
async fn create_project(target: &Target, id: &str, with_plugin: bool) -> Result<String, Error> {
    let created =
        target.json(Method::POST, "/v1/projects", &target.admin, json!({"id": id, "name": id})).await?;
    let key = created["api_key"].as_str().ok_or("no api_key in the answer")?.to_string();
    let base = format!("/v1/projects/{id}");
    let intent =
        json!({"examples": ["hello", "hi there", "good morning"], "responses": ["Hello from the intent!"]});
    target.json(Method::PUT, &format!("{base}/intents/greeting"), &key, intent).await?;
    let config = if with_plugin { json!({"field": "message"}) } else { json!({}) };
    let webhook = json!({
        "method": "GET",
        "url": format!("http://{}/chat?input={{latest_message}}&chatId={{send_id}}", target.upstream),
        "timeout_ms": 5000,
        "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "upstream failed"},
        "plugin_config": config,
    });
    target.json(Method::PUT, &format!("{base}/webhooks/answers"), &key, webhook).await?;
    target.json(Method::PUT, &format!("{base}/fallback"), &key, json!({"webhook": "answers"})).await?;
    Ok(key)
}

/// Uploads plugin number `n` to each `(index, key)` project's `answers` webhook; answers how many.
async fn upload_plugins(
    target: &Arc<Target>,
    wasm: &[u8],
    projects: Vec<(usize, String)>,
) -> Result<usize, Error> {
    let count = projects.len();
    let queue = Arc::new(std::sync::Mutex::new(projects.into_iter().enumerate()));
    let wasm = Bytes::copy_from_slice(wasm);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..UPLOAD_WORKERS {
        let (target, queue, wasm) = (target.clone(), queue.clone(), wasm.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| "upload queue poisoned")?.next();
                let Some((n, (index, key))) = next else { return Ok::<_, Error>(()) };
                let path = format!("/v1/projects/{}/webhooks/answers/plugin", target.project_id(index));
                let body = distinct(&wasm, n);
                let answer = target.send(Method::PUT, &path, &key, "application/wasm", body).await?;
                if answer.0 != StatusCode::CREATED {
                    return Err(format!("upload {n}: {} {}", answer.0, answer.1).into());
                }
            }
        });
    }
    while let Some(worker) = workers.join_next().await {
        worker??;
    }
    Ok(count)
}

/// The component with a custom section `bench` holding `n` appended: the same code under a new
/// digest (as `bench/load.sh` does for its fresh uploads).
fn distinct(wasm: &Bytes, n: usize) -> Bytes {
    let payload = format!("{n:016}");
    let mut bytes = Vec::with_capacity(wasm.len() + 24);
    bytes.extend_from_slice(wasm);
    // Section id 0 (custom), then its size: the name's length byte, the name, the payload.
    bytes.extend_from_slice(&[0x00, (1 + 5 + payload.len()) as u8, 5]);
    bytes.extend_from_slice(b"bench");
    bytes.extend_from_slice(payload.as_bytes());
    Bytes::from(bytes)
}

impl Target {
    fn project_id(&self, index: usize) -> String {
        format!("{}{index:05}", self.prefix)
    }

    /// A JSON request that must succeed (2xx); answers the JSON body.
    async fn json(&self, method: Method, path: &str, token: &str, body: Value) -> Result<Value, Error> {
        let (status, text) =
            self.send(method, path, token, "application/json", Bytes::from(body.to_string())).await?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<(StatusCode, String), Error> {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.host))
            .header(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))?;
        let response = self.http.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}
