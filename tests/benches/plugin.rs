//! What a plugin costs per webhook execution, on a small JSON response (json-reply plugin):
//! (a) a fresh instance + extract + format through `PluginRuntime::run`, as the host does;
//! (b) extract + format on one reused instance, the floor without instantiation;
//! (c) the same logic in native Rust (parse, look the field up), the floor without wasm;
//! (d) as (a) on baseline (Winch) code, what a fresh upload runs until its optimized code is in;
//! (e) json-reply in Rust, JavaScript and Python side by side: component size, compile time with
//! Winch and with Cranelift, and (a) for each, with its ratio to Rust's in the same run. The
//! JavaScript and Python plugins are built from source first (skipped, saying why, without node
//! or componentize-py).
//!
//! `cargo bench -p fallback-tests --bench plugin -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fallback_host::model::{PluginContext, UpstreamResponse};
use fallback_host::plugin::{CallLimits, CompileBounds, PluginCall, PluginRuntime, RuntimeOptions, Tier};
use fallback_tests::{langs, wasm};

const BODY: &str =
    r#"{"message":"Our store opens at 9am and closes at 6pm.","id":"r-1842","confidence":0.93}"#;

fn call() -> PluginCall {
    PluginCall {
        response: UpstreamResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: BODY.into(),
        },
        context: PluginContext {
            project: "demo".into(),
            webhook: "answer".into(),
            send_id: "s-1".into(),
            latest_message: "when do you open?".into(),
            plugin_config: r#"{"field":"message"}"#.into(),
        },
        variables: BTreeMap::new(),
    }
}

fn native(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("message")?.as_str().map(str::to_owned)
}

fn plugin(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let runtime = PluginRuntime::new(RuntimeOptions::default()).expect("runtime");
    let plugin = runtime.load(&wasm::read(wasm::JSON_REPLY)).expect("plugin");
    let limits = CallLimits::default();

    let check = tokio.block_on(runtime.run(&plugin, call(), &limits)).result.expect("the call works");
    assert_eq!(check.variables["reply"], "Our store opens at 9am and closes at 6pm.");

    let mut group = c.benchmark_group("json-reply");
    group.bench_function("fresh instance + extract + format", |b| {
        b.iter(|| tokio.block_on(runtime.run(&plugin, call(), &limits)).result.expect("ok"))
    });

    let mut reused = tokio.block_on(runtime.bench_reused_instance(&plugin, &limits)).expect("instance");
    group.bench_function("reused instance: extract + format", |b| {
        b.iter(|| tokio.block_on(reused.call(call())).expect("ok"))
    });

    let input = call();
    group.bench_function("native serde_json", |b| {
        b.iter(|| native(std::hint::black_box(&input.response.body)).expect("ok"))
    });

    // With a compile worker an upload is compiled to baseline code first; the plugin held here
    // keeps running that code after its optimized code replaces it in the runtime's cache.
    let compile =
        CompileBounds { worker: Some(fallback_tests::host::compile_worker()), ..CompileBounds::default() };
    let tiered =
        PluginRuntime::new(RuntimeOptions { compile, ..RuntimeOptions::default() }).expect("runtime");
    let baseline = tokio.block_on(tiered.load_upload(wasm::read(wasm::JSON_REPLY).into())).expect("plugin");
    assert_eq!(baseline.tier(), Tier::Baseline);
    group.bench_function("baseline code: fresh instance + extract + format", |b| {
        b.iter(|| tokio.block_on(tiered.run(&baseline, call(), &limits)).result.expect("ok"))
    });
    group.finish();
}

/// One language's figures, measured in this run.
struct Figures {
    lang: &'static str,
    size: usize,
    winch: Duration,
    cranelift: Duration,
    fresh: Duration,
    p90: Duration,
    mean: Duration,
}

/// `runs` fresh-instance calls, sorted: the ratio table compares medians, like with like, and
/// shows the tail beside them.
fn fresh_calls(
    tokio: &tokio::runtime::Runtime,
    runtime: &PluginRuntime,
    plugin: &std::sync::Arc<fallback_host::plugin::LoadedPlugin>,
    limits: &CallLimits,
    runs: usize,
) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            tokio.block_on(runtime.run(plugin, call(), limits)).result.expect("ok");
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn languages(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let limits = CallLimits::default();
    let mut plugins: Vec<(&'static str, PathBuf)> = vec![("rust", PathBuf::from(wasm::JSON_REPLY))];
    plugins.extend(langs::json_reply_js().map(|path| ("javascript", path)));
    plugins.extend(langs::json_reply_py().map(|path| ("python", path)));

    let mut figures = Vec::new();
    let mut group = c.benchmark_group("json-reply by language");
    for (lang, path) in plugins {
        let bytes = wasm::read(&path);
        // Each compile on a runtime of its own, so nothing is found in a cache.
        let runtime = PluginRuntime::new(RuntimeOptions::default()).expect("runtime");
        let start = Instant::now();
        let plugin = runtime.load(&bytes).expect("plugin");
        let cranelift = start.elapsed();
        let compile = CompileBounds {
            worker: Some(fallback_tests::host::compile_worker()),
            ..CompileBounds::default()
        };
        let tiered =
            PluginRuntime::new(RuntimeOptions { compile, ..RuntimeOptions::default() }).expect("runtime");
        let start = Instant::now();
        let baseline = tokio.block_on(tiered.load_upload(bytes.clone().into())).expect("plugin");
        let winch = start.elapsed();
        assert_eq!(baseline.tier(), Tier::Baseline);

        let check = tokio.block_on(runtime.run(&plugin, call(), &limits)).result.expect("the call works");
        assert_eq!(check.variables["reply"], "Our store opens at 9am and closes at 6pm.", "{lang}");
        group.bench_function(format!("fresh instance + extract + format/{lang}"), |b| {
            b.iter(|| tokio.block_on(runtime.run(&plugin, call(), &limits)).result.expect("ok"))
        });
        let times = fresh_calls(&tokio, &runtime, &plugin, &limits, 200);
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        figures.push(Figures {
            lang,
            size: bytes.len(),
            winch,
            cranelift,
            fresh: times[100],
            p90: times[180],
            mean,
        });
    }
    group.finish();

    let rust = figures.first().map(|f| f.fresh.as_secs_f64()).unwrap_or(1.0);
    println!(
        "\njson-reply by language (fresh instance + extract + format: median, p90 and mean of 200 calls)"
    );
    println!(
        "{:<11} {:>13} {:>15} {:>18} {:>12} {:>8} {:>10} {:>10}",
        "language",
        "size (bytes)",
        "compile Winch",
        "compile Cranelift",
        "fresh call",
        "vs Rust",
        "p90",
        "mean"
    );
    for f in &figures {
        println!(
            "{:<11} {:>13} {:>15.1?} {:>18.1?} {:>12.1?} {:>7.1}x {:>10.1?} {:>10.1?}",
            f.lang,
            f.size,
            f.winch,
            f.cranelift,
            f.fresh,
            f.fresh.as_secs_f64() / rust,
            f.p90,
            f.mean
        );
    }
}

criterion_group!(benches, plugin, languages);
criterion_main!(benches);
