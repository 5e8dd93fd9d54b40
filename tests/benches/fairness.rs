//! Fairness under a hostile tenant (issue 7): project B's plugin chats, alone and then while
//! project A keeps 200 chats whose plugin loops in flight. Prints p50/p99 of B's chat latency in
//! each phase, their ratio (goal: p99 within 2x) and B's failures (goal: none).
//!
//! The host runs on its own tokio runtime (2 workers, as on a 2-core machine) and the load
//! generator on another, as a separate client process would.
//!
//! Each of A's 200 clients sends its next chat once the last is answered, but not sooner than
//! `FAIRNESS_A_PACE_MS` (default 100: the time a looping call holds its slot, so A offers what
//! 200 looping chats would; 0: a closed-loop flood of refused chats, which only a rate limit stops).
//!
//! `cargo bench -p fallback-tests --bench fairness` (env `FAIRNESS_B_CHATS`, default 400).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use serde_json::{Value, json};

const A_CONCURRENCY: usize = 200;
const B_CONCURRENCY: usize = 4;

fn main() {
    let b_chats: usize = std::env::var("FAIRNESS_B_CHATS").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    let host_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("host")
        .enable_all()
        .build()
        .expect("host runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime");

    let dir = tempfile::tempdir().expect("dir");
    let (host, _upstream) = host_rt.block_on(async {
        let upstream = Upstream::start().await;
        let host = TestHost::start_on(dir.path(), |_| {}).await;
        (host, upstream)
    });
    let (url, keys) = client_rt.block_on(setup(&host, &_upstream));
    let client = reqwest::Client::builder().pool_max_idle_per_host(512).build().expect("client");
    let target = Target { client, url };

    client_rt.block_on(async {
        // Warm up: connections, caches, the instance pool.
        let _ = run_b(&target, &keys.1, 40).await;

        let alone = run_b(&target, &keys.1, b_chats).await;
        report("B alone", &alone);

        let stop = Arc::new(AtomicBool::new(false));
        let a_stats = Arc::new(AStats::default());
        let flood: Vec<_> = (0..A_CONCURRENCY)
            .map(|i| tokio::spawn(run_a(target.clone(), keys.0.clone(), i, stop.clone(), a_stats.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let loaded = run_b(&target, &keys.1, b_chats).await;
        stop.store(true, Ordering::Relaxed);
        for task in flood {
            let _ = task.await;
        }
        report(&format!("B while A keeps {A_CONCURRENCY} looping chats in flight"), &loaded);
        let (alone_p99, loaded_p99) =
            (percentile(&alone.latencies, 99.0), percentile(&loaded.latencies, 99.0));
        println!(
            "A: {} chats answered, {} with the failure text, {} otherwise; the host's counts:",
            a_stats.total.load(Ordering::Relaxed),
            a_stats.failed.load(Ordering::Relaxed),
            a_stats.other.load(Ordering::Relaxed),
        );
        let metrics = target.client.get(format!("{}/metrics", target.url)).send().await;
        let metrics = match metrics {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        for line in metrics.lines().filter(|line| line.starts_with("fallback_webhook_failures_total{")) {
            println!("  {line}");
        }
        println!(
            "p99 ratio (loaded / alone): {:.2} (goal <= 2.00); B failures: {} (goal 0)",
            loaded_p99.as_secs_f64() / alone_p99.as_secs_f64(),
            loaded.failures
        );
    });
    drop(host);
    host_rt.shutdown_timeout(Duration::from_secs(2));
}

#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
}

impl Target {
    async fn chat(&self, project: &str, key: &str, send_id: &str) -> Option<Value> {
        let response = self
            .client
            .post(format!("{}/v1/projects/{project}/chat", self.url))
            .bearer_auth(key)
            .json(&json!({"send_id": send_id, "message": "tell me something"}))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

/// Two projects on the hostile test plugin: A's loops, B's answers at once.
async fn setup(host: &TestHost, upstream: &Upstream) -> (String, (String, String)) {
    let hostile = wasm::read(wasm::HOSTILE);
    let mut keys = Vec::new();
    for (project, mode) in [("a", "loop"), ("b", "ok")] {
        let key = host.create_project(project).await;
        let spec = json!({
            "method": "GET",
            "url": format!("{}?input={{latest_message}}", upstream.url("/chat")),
            "timeout_ms": 10000,
            "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "Sorry."},
            "plugin_config": {"mode": mode}
        });
        host.put_webhook(project, &key, "w", spec).await;
        host.use_webhook_as_fallback(project, &key, "w").await;
        host.upload_plugin(project, &key, "w", hostile.clone()).await;
        keys.push(key);
    }
    (host.url(""), (keys[0].clone(), keys[1].clone()))
}

struct Run {
    latencies: Vec<Duration>,
    failures: usize,
}

/// `n` chats of B, `B_CONCURRENCY` at a time.
async fn run_b(target: &Target, key: &str, n: usize) -> Run {
    let per_worker = n.div_ceil(B_CONCURRENCY);
    let workers: Vec<_> = (0..B_CONCURRENCY)
        .map(|w| {
            let (target, key) = (target.clone(), key.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                let mut failures = 0;
                for i in 0..per_worker {
                    let started = Instant::now();
                    let answer = target.chat("b", &key, &format!("b-{w}-{}", i % 8)).await;
                    latencies.push(started.elapsed());
                    if answer.as_ref().map(|a| a["outcome"] != "success").unwrap_or(true) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut run = Run { latencies: Vec::with_capacity(n), failures: 0 };
    for worker in workers {
        let (latencies, failures) = worker.await.expect("worker");
        run.latencies.extend(latencies);
        run.failures += failures;
    }
    run
}

#[derive(Default)]
struct AStats {
    total: AtomicU64,
    failed: AtomicU64,
    other: AtomicU64,
}

/// One of A's chats after another until told to stop: always one in flight per task.
async fn run_a(target: Target, key: String, i: usize, stop: Arc<AtomicBool>, stats: Arc<AStats>) {
    let pace = Duration::from_millis(
        std::env::var("FAIRNESS_A_PACE_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(100),
    );
    let send_id = format!("a-{i}");
    // Spread the clients over one pace, so A's chats arrive evenly rather than in waves.
    tokio::time::sleep(pace.mul_f64(i as f64 / A_CONCURRENCY as f64)).await;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let answer = target.chat("a", &key, &send_id).await;
        tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
        stats.total.fetch_add(1, Ordering::Relaxed);
        // The chat answer does not carry the code: `/metrics` tells busy from timed out.
        let counter = match answer {
            Some(answer) if answer["outcome"] == "failure" => &stats.failed,
            _ => &stats.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let index = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn report(label: &str, run: &Run) {
    println!(
        "{label}: {} chats, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, failures {}",
        run.latencies.len(),
        percentile(&run.latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&run.latencies, 99.0).as_secs_f64() * 1e3,
        run.latencies.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
        run.failures
    );
}
