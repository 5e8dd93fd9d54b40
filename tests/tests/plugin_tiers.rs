//! Tiered compilation through the runtime's public API, with the real compile worker: an upload
//! answers on baseline (Winch) code, which keeps every call bound (time, fuel, memory, stack);
//! its optimized (Cranelift) code then replaces it in memory and on disk; and bytes the optimized
//! compiler refuses are refused from then on with its error, as they were before tiers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fallback_host::model::{PluginContext, UpstreamResponse};
use fallback_host::plugin::{
    CallLimits, CompileBounds, Hook, LoadSource, LoadedPlugin, PluginCall, PluginError, PluginRun,
    PluginRuntime, RuntimeOptions, Tier,
};
use fallback_tests::host::compile_worker;
use fallback_tests::{bombs, wasm};

/// Long enough for a background compile on a loaded debug build; only a hang reaches it.
const UPGRADE_WAIT: Duration = Duration::from_secs(120);

/// The default limits with more time and fuel, as in `plugin_runtime.rs`: the ceiling here.
fn unhurried() -> CallLimits {
    CallLimits { timeout: Duration::from_secs(2), fuel: u64::MAX, ..CallLimits::default() }
}

fn tiered(dir: &Path, worker: &Path) -> PluginRuntime {
    PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(dir.to_owned()),
        max_limits: unhurried(),
        compile: CompileBounds { worker: Some(worker.to_owned()), ..CompileBounds::default() },
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

fn call(body: &str, config: &str) -> PluginCall {
    PluginCall {
        response: UpstreamResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_owned().into(),
        },
        context: PluginContext {
            project: "demo".into(),
            webhook: "answer".into(),
            send_id: "s-1".into(),
            latest_message: "hello".into(),
            plugin_config: config.into(),
        },
        variables: BTreeMap::new(),
    }
}

async fn run(
    runtime: &PluginRuntime,
    plugin: &Arc<LoadedPlugin>,
    call: PluginCall,
    limits: &CallLimits,
) -> PluginRun {
    tokio::time::timeout(Duration::from_secs(10), runtime.run(plugin, call, limits))
        .await
        .expect("the call ends by itself")
}

/// The plugin once the runtime holds its optimized code.
async fn upgraded(runtime: &PluginRuntime, sha256: &str) -> Arc<LoadedPlugin> {
    let deadline = Instant::now() + UPGRADE_WAIT;
    loop {
        if let Some(plugin) = runtime.loaded(sha256).filter(|p| p.tier() == Tier::Optimized) {
            return plugin;
        }
        assert!(Instant::now() < deadline, "no optimized code for {sha256}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_upload_runs_on_baseline_code_until_its_optimized_code_replaces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tiered(dir.path(), &compile_worker());
    let wasm = wasm::read(wasm::JSON_REPLY);

    let baseline = runtime.load_upload(wasm.clone().into()).await.expect("loads");
    assert_eq!((baseline.tier(), baseline.source()), (Tier::Baseline, LoadSource::Compiled));
    let artifact = dir.path().join(format!("{}.cwasm", baseline.sha256_hex()));
    assert!(artifact.is_file(), "the baseline code is on disk at once");
    let output = run(&runtime, &baseline, call(r#"{"message":"on baseline"}"#, "{}"), &CallLimits::default())
        .await
        .result
        .expect("answers");
    assert_eq!(output.variables["reply"], "on baseline");

    let optimized = upgraded(&runtime, &baseline.sha256_hex()).await;
    assert_eq!(optimized.source(), LoadSource::Compiled);
    let output = run(&runtime, &optimized, call(r#"{"message":"optimized"}"#, "{}"), &CallLimits::default())
        .await
        .result
        .expect("answers");
    assert_eq!(output.variables["reply"], "optimized");
    // A load of the same bytes answers the optimized code, without compiling again.
    let again = runtime.load_upload(wasm.clone().into()).await.expect("loads");
    assert!(Arc::ptr_eq(&again, &optimized));

    // The artifact on disk is the optimized code now: a runtime with Cranelift alone loads it.
    let restarted = PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(dir.path().to_owned()),
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let reloaded = restarted.load_stored(&optimized.sha256_hex(), wasm.len()).await.expect("reads");
    let reloaded = reloaded.expect("an optimized artifact");
    assert_eq!((reloaded.tier(), reloaded.source()), (Tier::Optimized, LoadSource::Disk));
}

#[tokio::test]
async fn baseline_code_keeps_every_call_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tiered(dir.path(), &compile_worker());
    // Held here, this plugin runs its baseline code even once the optimized code is cached.
    let plugin = runtime.load_upload(wasm::read(wasm::HOSTILE).into()).await.expect("loads");
    assert_eq!(plugin.tier(), Tier::Baseline);
    let mode = |mode: &str| call("{}", &format!(r#"{{"mode":"{mode}"}}"#));
    let error = |run: PluginRun| run.result.expect_err("refused");

    let loop_on_time = CallLimits { fuel: u64::MAX, ..CallLimits::default() };
    let e = error(run(&runtime, &plugin, mode("loop"), &loop_on_time).await);
    assert!(matches!(e, PluginError::Timeout { hook: Hook::Extract }), "{e:?}");
    let loop_on_fuel = CallLimits { fuel: 10_000_000, ..unhurried() };
    let e = error(run(&runtime, &plugin, mode("loop"), &loop_on_fuel).await);
    assert!(matches!(e, PluginError::OutOfFuel { hook: Hook::Extract }), "{e:?}");
    let e = error(run(&runtime, &plugin, mode("sleep"), &CallLimits::default()).await);
    assert!(matches!(e, PluginError::Timeout { hook: Hook::Extract }), "{e:?}");
    let e = error(run(&runtime, &plugin, mode("grow"), &unhurried()).await);
    assert!(matches!(e, PluginError::MemoryLimit { hook: Hook::Extract }), "{e:?}");
    let e = error(run(&runtime, &plugin, mode("recursion"), &CallLimits::default()).await);
    assert!(matches!(e, PluginError::Trap { hook: Hook::Extract, .. }), "{e:?}");
    let e = error(run(&runtime, &plugin, mode("huge-output"), &unhurried()).await);
    assert!(matches!(e, PluginError::OutputTooLarge { hook: Hook::Extract, .. }), "{e:?}");

    let output = run(&runtime, &plugin, mode("ok"), &CallLimits::default()).await.result.expect("answers");
    assert_eq!(output.variables["reply"], "ok from hostile");
    assert_eq!(plugin.tier(), Tier::Baseline, "every call above ran baseline code");
}

/// A worker that compiles baseline code as the real one does and refuses to compile optimized
/// code: a component only the optimized compiler fails on, which no real one is reliably.
fn refusing_worker(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("refusing-worker");
    let text = format!(
        "#!/bin/sh\nif [ \"$FALLBACK_COMPILE_WORKER_TIER\" = optimized ]; then\n  cat >/dev/null\n  \
         echo 'cranelift says no' >&2\n  exit 3\nfi\nexec '{}' \"$@\"\n",
        compile_worker().display()
    );
    std::fs::write(&script, text).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("executable");
    script
}

#[tokio::test]
async fn bytes_the_optimized_compiler_refuses_are_refused_once_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = tempfile::tempdir().expect("tempdir");
    let runtime = tiered(dir.path(), &refusing_worker(scripts.path()));
    let wasm = bombs::distinct(&wasm::read(wasm::JSON_REPLY), 7);

    let baseline = runtime.load_upload(wasm.clone().into()).await.expect("accepted on baseline code");
    assert_eq!(baseline.tier(), Tier::Baseline);
    let sha256 = baseline.sha256_hex();

    // Once the optimized compile has refused the bytes, every load answers its error: a new
    // upload of them as before tiers, and a chat's load of the stored version.
    let deadline = Instant::now() + UPGRADE_WAIT;
    let error = loop {
        match runtime.load_upload(wasm.clone().into()).await {
            Err(error) => break error,
            Ok(plugin) => assert_eq!(plugin.tier(), Tier::Baseline, "never optimized"),
        }
        assert!(Instant::now() < deadline, "the optimized compile never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(error.code(), "compile_failed", "{error}");
    assert!(error.to_string().contains("cranelift says no"), "{error}");
    let stored = runtime.load_stored(&sha256, wasm.len()).await.expect_err("refused");
    assert_eq!(stored.code(), "compile_failed");
    assert!(runtime.loaded(&sha256).is_none(), "the baseline code is dropped");
    assert!(!dir.path().join(format!("{sha256}.cwasm")).exists(), "and its artifact");

    // Other bytes are not affected.
    let other = runtime.load_upload(wasm::read(wasm::JSON_REPLY).into()).await.expect("loads");
    assert_eq!(other.tier(), Tier::Baseline);
}
