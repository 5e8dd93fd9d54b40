//! The plugin runtime through its public API, with real plugins built from source: the
//! examples on realistic responses, every hostile behaviour ending in its own typed error
//! (and the runtime carrying on), bad uploads refused, and the on-disk artifact cache.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fallback_host::model::{Button, LogLevel, PluginContext, Reply, UpstreamResponse};
use fallback_host::plugin::{
    CallLimits, Hook, LoadSource, LoadedPlugin, PluginCall, PluginError, PluginOutput, PluginRun,
    PluginRuntime, RuntimeOptions,
};
use fallback_tests::wasm;

/// One runtime for the whole file, like one per process in the host. Its ceiling on time is
/// raised so `unhurried` can grant it; every other call runs with the default limits.
fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let max_limits = unhurried();
        PluginRuntime::new(RuntimeOptions { max_limits, ..RuntimeOptions::default() }).expect("runtime")
    })
}

/// The default limits with more time and fuel: the tests' host is a debug build, where lifting
/// 100,000 variables out of the guest takes ~50 ms alone, more while other tests load both cores.
fn unhurried() -> CallLimits {
    CallLimits { timeout: Duration::from_secs(2), fuel: u64::MAX, ..CallLimits::default() }
}

fn load(path: &str) -> Arc<LoadedPlugin> {
    runtime().load(&wasm::read(path)).expect("plugin loads")
}

fn hostile() -> Arc<LoadedPlugin> {
    static HOSTILE: OnceLock<Arc<LoadedPlugin>> = OnceLock::new();
    HOSTILE.get_or_init(|| load(wasm::HOSTILE)).clone()
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

async fn run(plugin: &Arc<LoadedPlugin>, call: PluginCall) -> PluginRun {
    run_with(plugin, call, &CallLimits::default()).await
}

async fn run_with(plugin: &Arc<LoadedPlugin>, call: PluginCall, limits: &CallLimits) -> PluginRun {
    // Every call must end on its own well before this; the outer bound only turns a hang
    // into a failure.
    tokio::time::timeout(Duration::from_secs(10), runtime().run(plugin, call, limits))
        .await
        .expect("the call ends by itself")
}

fn ok(run: PluginRun) -> PluginOutput {
    match run.result {
        Ok(output) => output,
        Err(e) => panic!("expected success, got {e:?} (logs: {:?})", run.logs),
    }
}

fn err(run: PluginRun) -> PluginError {
    match run.result {
        Ok(output) => panic!("expected an error, got {output:?}"),
        Err(e) => e,
    }
}

/// Runs a hostile `extract` mode, then proves the runtime still serves a normal call.
async fn hostile_extract(mode: &str) -> (PluginError, Vec<fallback_host::model::LogLine>) {
    hostile_extract_with(mode, &CallLimits::default()).await
}

async fn hostile_extract_with(
    mode: &str,
    limits: &CallLimits,
) -> (PluginError, Vec<fallback_host::model::LogLine>) {
    let plugin = hostile();
    let run = run_with(&plugin, call("{}", &format!(r#"{{"mode":"{mode}"}}"#)), limits).await;
    let logs = run.logs.clone();
    let error = err(run);
    let after = ok(run_after(&plugin).await);
    assert_eq!(after.variables["reply"], "ok from hostile", "after {mode}");
    (error, logs)
}

async fn hostile_format(mode: &str) -> PluginError {
    let plugin = hostile();
    let input = call("{}", &format!(r#"{{"format_mode":"{mode}"}}"#));
    let error = err(run_with(&plugin, input, &unhurried()).await);
    ok(run_after(&plugin).await);
    error
}

async fn run_after(plugin: &Arc<LoadedPlugin>) -> PluginRun {
    run(plugin, call("{}", r#"{"mode":"ok"}"#)).await
}

// ---- example plugins ----

#[tokio::test]
async fn json_reply_reads_the_configured_field_over_the_declarative_variables() {
    let plugin = load(wasm::JSON_REPLY);
    let mut input =
        call(r#"{"data":{"answer":"It is 42."},"message":"ignored"}"#, r#"{"field":"data.answer"}"#);
    input.variables.insert("reply".into(), "from the mapping".into());
    input.variables.insert("area".into(), "kept".into());
    let output = ok(run(&plugin, input).await);
    assert_eq!(output.variables["reply"], "It is 42.");
    assert_eq!(output.variables["area"], "kept");
    assert_eq!(output.replies, None, "json-reply leaves formatting to the template");
}

#[tokio::test]
async fn json_reply_defaults_to_message() {
    let plugin = load(wasm::JSON_REPLY);
    let output = ok(run(&plugin, call(r#"{"message":"Hello!"}"#, "{}")).await);
    assert_eq!(output.variables.get("reply").map(String::as_str), Some("Hello!"));
}

#[tokio::test]
async fn json_reply_names_a_missing_field() {
    let plugin = load(wasm::JSON_REPLY);
    let error = err(run(&plugin, call(r#"{"data":{}}"#, r#"{"field":"data.answer"}"#)).await);
    match &error {
        PluginError::Plugin { hook: Hook::Extract, message } => {
            assert!(message.contains("data.answer"), "{message}")
        }
        other => panic!("expected the plugin's own error, got {other:?}"),
    }
    assert_eq!(error.code(), "plugin_error");
}

#[tokio::test]
async fn json_reply_refuses_a_body_that_is_not_json() {
    let plugin = load(wasm::JSON_REPLY);
    let error = err(run(&plugin, call("<html>502 Bad Gateway</html>", "{}")).await);
    assert!(
        matches!(&error, PluginError::Plugin { hook: Hook::Extract, message } if message.contains("JSON")),
        "{error:?}"
    );
}

const CHAT_COMPLETION: &str = r#"{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "  Our store opens at 9am.\n", "refusal": null, "annotations": []},
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29},
  "service_tier": "default"
}"#;

#[tokio::test]
async fn llm_answer_takes_the_first_choice() {
    let plugin = load(wasm::LLM_ANSWER);
    let output = ok(run(&plugin, call(CHAT_COMPLETION, "{}")).await);
    assert_eq!(output.variables["reply"], "Our store opens at 9am.");
    assert_eq!(output.replies, None);
}

#[tokio::test]
async fn llm_answer_reports_the_upstream_error_and_empty_choices() {
    let plugin = load(wasm::LLM_ANSWER);
    let upstream_error = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
    let error = err(run(&plugin, call(upstream_error, "{}")).await);
    assert!(
        matches!(&error, PluginError::Plugin { hook: Hook::Extract, message } if message.contains("Incorrect API key provided")),
        "{error:?}"
    );

    let no_choices = r#"{"id":"x","object":"chat.completion","choices":[]}"#;
    let error = err(run(&plugin, call(no_choices, "{}")).await);
    assert!(
        matches!(&error, PluginError::Plugin { hook: Hook::Extract, message } if message.contains("choices")),
        "{error:?}"
    );
}

#[tokio::test]
async fn quick_replies_answers_text_with_buttons() {
    let plugin = load(wasm::QUICK_REPLIES);
    let body = r#"{"answer":"Which size?","sizes":["Small",{"label":"Large","payload":"size_l"}]}"#;
    let output = ok(run(&plugin, call(body, r#"{"text_field":"answer","options_field":"sizes"}"#)).await);
    assert_eq!(output.variables["reply"], "Which size?");
    assert_eq!(
        output.replies,
        Some(vec![Reply {
            text: "Which size?".into(),
            buttons: vec![
                Button { label: "Small".into(), payload: "Small".into() },
                Button { label: "Large".into(), payload: "size_l".into() },
            ],
        }])
    );
}

#[tokio::test]
async fn quick_replies_names_a_missing_text_field() {
    let plugin = load(wasm::QUICK_REPLIES);
    let error = err(run(&plugin, call(r#"{"options":["A"]}"#, r#"{"text_field":"answer"}"#)).await);
    assert!(
        matches!(&error, PluginError::Plugin { hook: Hook::Extract, message } if message.contains("answer")),
        "{error:?}"
    );
}

// ---- hostile plugin: each misbehaviour its own error, and the runtime carries on ----

#[tokio::test]
async fn a_well_behaved_call_logs_and_answers() {
    let run = run(&hostile(), call("{}", r#"{"mode":"ok"}"#)).await;
    assert!(
        run.logs.iter().any(|l| l.level == LogLevel::Info && l.message == "hostile ok"),
        "{:?}",
        run.logs
    );
    assert!(run.timings.instantiate > Duration::ZERO && run.timings.extract > Duration::ZERO);
    let output = ok(run);
    assert_eq!(output.variables["reply"], "ok from hostile");
}

#[tokio::test]
async fn a_cpu_loop_times_out() {
    // Unlimited fuel, so the wall clock is what stops it (the default 2e9 fuel lasts about as
    // long as the default 100 ms on a tight loop here).
    let limits = CallLimits { fuel: u64::MAX, ..CallLimits::default() };
    let (error, _) = hostile_extract_with("loop", &limits).await;
    assert!(matches!(error, PluginError::Timeout { hook: Hook::Extract }), "{error:?}");
    assert_eq!(error.code(), "plugin_timeout");
}

#[tokio::test]
async fn a_cpu_loop_runs_out_of_fuel() {
    let limits = CallLimits { fuel: 10_000_000, ..unhurried() };
    let (error, _) = hostile_extract_with("loop", &limits).await;
    assert!(matches!(error, PluginError::OutOfFuel { hook: Hook::Extract }), "{error:?}");
    assert_eq!(error.code(), "plugin_out_of_fuel");
}

#[tokio::test]
async fn a_sleep_in_a_host_call_times_out() {
    // The guest sleeps for an hour inside a WASI poll, out of reach of epoch interruption;
    // `run_with`'s 10 s bound fails the test if the call does not end at its own timeout.
    let (error, _) = hostile_extract("sleep").await;
    assert!(matches!(error, PluginError::Timeout { hook: Hook::Extract }), "{error:?}");
}

#[tokio::test]
async fn growing_memory_hits_the_memory_limit() {
    let (error, _) = hostile_extract_with("grow", &unhurried()).await;
    assert!(matches!(error, PluginError::MemoryLimit { hook: Hook::Extract }), "{error:?}");
}

#[tokio::test]
async fn a_panic_traps_with_the_guest_message() {
    let (error, logs) = hostile_extract("panic").await;
    match &error {
        PluginError::Trap { hook: Hook::Extract, guest_message: Some(message), .. } => {
            assert!(message.contains("hostile plugin panicked on purpose"), "{message}")
        }
        other => panic!("expected a trap with the panic message, got {other:?}"),
    }
    assert!(logs.iter().any(|l| l.message.contains("panicked on purpose")), "{logs:?}");
    assert!(error.to_string().contains("panicked on purpose"), "{error}");
}

#[tokio::test]
async fn unbounded_recursion_traps() {
    // Rust keeps its frames' locals on a shadow stack in linear memory (1 MiB); running off its
    // bottom is an out-of-bounds access, before wasm's own call stack is exhausted.
    let (error, _) = hostile_extract("recursion").await;
    match &error {
        PluginError::Trap { hook: Hook::Extract, message, .. } => {
            assert!(message.contains("stack") || message.contains("out of bounds"), "{message}")
        }
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_variables_are_refused() {
    let (error, _) = hostile_extract_with("huge-output", &unhurried()).await;
    match error {
        PluginError::OutputTooLarge { hook: Hook::Extract, size, limit } => {
            assert_eq!(limit, CallLimits::default().output_bytes);
            assert!(size > limit, "{size} <= {limit}");
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    // 100,000 variables are refused by their count before their bytes are even added up.
    let (error, _) = hostile_extract_with("many-variables", &unhurried()).await;
    assert!(
        matches!(error, PluginError::TooManyVariables { count: 100_000, limit: 256 }),
        "expected TooManyVariables, got {error:?}"
    );
}

#[tokio::test]
async fn oversized_replies_are_refused() {
    let error = hostile_format("huge-output").await;
    assert!(matches!(error, PluginError::OutputTooLarge { hook: Hook::Format, .. }), "{error:?}");
}

#[tokio::test]
async fn a_panic_in_format_is_a_format_trap() {
    let error = hostile_format("panic").await;
    assert!(matches!(error, PluginError::Trap { hook: Hook::Format, .. }), "{error:?}");
}

#[tokio::test]
async fn flooding_the_log_or_stdout_hits_the_log_limit() {
    for mode in ["log-flood", "stdout-flood"] {
        let (error, logs) = hostile_extract(mode).await;
        assert!(matches!(error, PluginError::LogTooLarge { .. }), "{mode}: {error:?}");
        let kept: usize = logs.iter().map(|l| l.message.len()).sum();
        assert!(kept <= CallLimits::default().log_bytes, "{mode}: {kept} bytes of logs kept");
        assert!(!logs.is_empty(), "{mode}: the lines within the budget are kept");
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_into_the_logs() {
    let run = run(&hostile(), call("{}", r#"{"mode":"stdout"}"#)).await;
    let messages: Vec<&str> = run.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(messages.contains(&"hello from stdout"), "{messages:?}");
    assert!(messages.contains(&"hello from stderr"), "{messages:?}");
    ok(run);
}

#[tokio::test]
async fn the_filesystem_is_not_there() {
    let output = ok(run(&hostile(), call("{}", r#"{"mode":"read-file"}"#)).await);
    assert!(output.variables["file"].starts_with("error:"), "{:?}", output.variables);
    assert!(output.variables["dir"].starts_with("error:"), "{:?}", output.variables);
}

#[tokio::test]
async fn the_environment_and_arguments_are_empty() {
    let output = ok(run(&hostile(), call("{}", r#"{"mode":"read-env"}"#)).await);
    assert_eq!(output.variables["env_count"], "0");
    assert!(output.variables["home"].starts_with("error:"), "{:?}", output.variables);
    assert_eq!(output.variables["args"], "0");
}

#[tokio::test]
async fn the_plugins_own_error_is_reported_as_such() {
    let (error, _) = hostile_extract("plugin-error").await;
    assert!(
        matches!(&error, PluginError::Plugin { hook: Hook::Extract, message } if message == "hostile refuses"),
        "{error:?}"
    );
}

#[tokio::test]
async fn format_can_answer_replies_with_buttons() {
    let output = ok(run(&hostile(), call("{}", r#"{"format_mode":"reply-buttons"}"#)).await);
    assert_eq!(
        output.replies,
        Some(vec![Reply {
            text: "pick".into(),
            buttons: vec![Button { label: "A".into(), payload: "a".into() }]
        }])
    );
}

#[tokio::test]
async fn a_webhook_can_lower_a_limit_but_not_raise_it() {
    let lower = CallLimits { output_bytes: 10, ..CallLimits::default() };
    let error = err(run_with(&hostile(), call("{}", r#"{"mode":"ok"}"#), &lower).await);
    assert!(matches!(error, PluginError::OutputTooLarge { limit: 10, .. }), "{error:?}");

    // A runtime with the default ceilings: an hour and endless fuel are cut to 100 ms and 2e9,
    // whichever runs out first (`run_with`'s outer bound fails the test if neither applies).
    let runtime = PluginRuntime::new(RuntimeOptions::default()).expect("runtime");
    let plugin = runtime.load(&wasm::read(wasm::HOSTILE)).expect("loads");
    let higher = CallLimits { timeout: Duration::from_secs(3600), fuel: u64::MAX, ..CallLimits::default() };
    let run = tokio::time::timeout(
        Duration::from_secs(10),
        runtime.run(&plugin, call("{}", r#"{"mode":"loop"}"#), &higher),
    )
    .await
    .expect("clamped to the runtime's ceilings");
    let error = err(run);
    assert!(matches!(error, PluginError::Timeout { .. } | PluginError::OutOfFuel { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_instance_pool_wait_for_a_slot() {
    // 16 calls may hold or wait for 4 slots: the project's share covers them all.
    let options =
        RuntimeOptions { max_concurrent_instances: 4, slots_per_project: 16, ..RuntimeOptions::default() };
    let runtime = PluginRuntime::new(options).expect("runtime");
    let plugin = runtime.load(&wasm::read(wasm::JSON_REPLY)).expect("loads");
    let calls = (0..16).map(|i| {
        let (runtime, plugin) = (runtime.clone(), plugin.clone());
        tokio::spawn(async move {
            let body = format!(r#"{{"message":"answer {i}"}}"#);
            (i, runtime.run(&plugin, call(&body, "{}"), &CallLimits::default()).await)
        })
    });
    for handle in calls {
        let (i, run) = handle.await.expect("task");
        assert_eq!(ok(run).variables["reply"], format!("answer {i}"));
    }
}

// ---- bad uploads ----

#[test]
fn random_bytes_and_an_empty_file_are_not_webassembly() {
    for bytes in [&b""[..], b"PK\x03\x04 definitely a zip", &[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5]] {
        let error = runtime().load(bytes).expect_err("refused");
        assert!(matches!(error, PluginError::NotWasm), "{error:?}");
        assert!(error.is_upload_error());
        assert_eq!(error.code(), "not_wasm");
    }
}

#[test]
fn a_core_module_is_not_a_component() {
    let module = wat::parse_str(r#"(module (func (export "extract")))"#).expect("wat");
    let error = runtime().load(&module).expect_err("refused");
    assert!(matches!(error, PluginError::CoreModule), "{error:?}");
    assert!(error.to_string().contains("wasm32-wasip2"), "{error}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let wasm = wasm::read(wasm::JSON_REPLY);
    let error = runtime().load(&wasm[..wasm.len() / 2]).expect_err("refused");
    assert!(matches!(error, PluginError::InvalidComponent(_)), "{error:?}");
    assert!(error.is_upload_error());
}

#[test]
fn a_component_of_another_world_names_the_missing_exports() {
    let error = runtime().load(&wasm::read(wasm::OTHER_WORLD)).expect_err("refused");
    match &error {
        PluginError::WrongWorld { detail } => {
            assert!(detail.contains("`extract`") && detail.contains("`format`"), "{detail}");
            assert!(detail.contains("greet"), "the exports found are listed: {detail}");
        }
        other => panic!("expected WrongWorld, got {other:?}"),
    }
    assert_eq!(error.code(), "wrong_world");
}

#[test]
fn a_component_importing_more_than_the_world_is_refused() {
    let component = wat::parse_str(
        r#"(component
            (import "evil:net/socket" (instance (export "open" (func))))
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (export "extract" (func $f))
            (export "format" (func $f)))"#,
    )
    .expect("wat");
    let error = runtime().load(&component).expect_err("refused");
    match &error {
        PluginError::WrongWorld { detail } => {
            assert!(detail.contains("evil:net/socket"), "{detail}")
        }
        other => panic!("expected WrongWorld, got {other:?}"),
    }
}

#[test]
fn a_mistyped_export_is_refused() {
    let component = wat::parse_str(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (export "extract" (func $f))
            (export "format" (func $f)))"#,
    )
    .expect("wat");
    let error = runtime().load(&component).expect_err("refused");
    match &error {
        PluginError::WrongWorld { detail } => assert!(detail.contains("extract"), "{detail}"),
        other => panic!("expected WrongWorld, got {other:?}"),
    }
}

// ---- caches ----

#[test]
fn loading_the_same_bytes_twice_reuses_the_plugin() {
    let wasm = wasm::read(wasm::JSON_REPLY);
    let first = runtime().load(&wasm).expect("loads");
    let second = runtime().load(&wasm).expect("loads");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(first.size(), wasm.len());
    assert_eq!(first.sha256(), fallback_host::plugin::sha256(&wasm));
    assert_eq!(first.exports(), ["extract", "format"]);
}

#[tokio::test]
async fn a_restart_loads_the_compiled_artifact_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = wasm::read(wasm::JSON_REPLY);
    let options = RuntimeOptions { cache_dir: Some(dir.path().to_owned()), ..RuntimeOptions::default() };

    let first = PluginRuntime::new(options.clone()).expect("runtime");
    let compiled = first.load(&wasm).expect("loads");
    assert_eq!(compiled.source(), LoadSource::Compiled);
    let artifact = dir.path().join(format!("{}.cwasm", compiled.sha256_hex()));
    assert!(artifact.is_file(), "{} written", artifact.display());

    let restarted = PluginRuntime::new(options.clone()).expect("runtime");
    let reused = restarted.load(&wasm).expect("loads");
    assert_eq!(reused.source(), LoadSource::Disk);
    let output =
        ok(restarted.run(&reused, call(r#"{"message":"from disk"}"#, "{}"), &CallLimits::default()).await);
    assert_eq!(output.variables["reply"], "from disk");

    // A corrupt artifact is recompiled and rewritten, not trusted and not fatal.
    std::fs::write(&artifact, b"garbage").expect("corrupt it");
    let after_corruption = PluginRuntime::new(options).expect("runtime");
    let recompiled = after_corruption.load(&wasm).expect("loads");
    assert_eq!(recompiled.source(), LoadSource::Compiled);
    assert!(std::fs::metadata(&artifact).expect("artifact").len() > 1000, "rewritten");
}
