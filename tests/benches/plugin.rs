//! What a plugin costs per webhook execution, on a small JSON response (json-reply plugin):
//! (a) a fresh instance + extract + format through `PluginRuntime::run`, as the host does;
//! (b) extract + format on one reused instance, the floor without instantiation;
//! (c) the same logic in native Rust (parse, look the field up), the floor without wasm;
//! (d) as (a) on baseline (Winch) code, what a fresh upload runs until its optimized code is in.
//!
//! `cargo bench -p fallback-tests --bench plugin -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use fallback_host::model::{PluginContext, UpstreamResponse};
use fallback_host::plugin::{CallLimits, CompileBounds, PluginCall, PluginRuntime, RuntimeOptions, Tier};
use fallback_tests::wasm;

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

criterion_group!(benches, plugin);
criterion_main!(benches);
