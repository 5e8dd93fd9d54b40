//! The host's peak memory (not a test: it prints figures) while (1) compile bombs are
//! uploaded, and (2) a thousand tenants each chat through their own distinct plugin under the
//! default plugin cache bound. Goal for (2): peak RSS within the cache bound plus 100 MiB.
//!
//! `cargo bench -p fallback-tests --bench memory` (`-- 300` for fewer tenants)
//!
//! The host runs in this process, so its peak RSS is this process's (`VmHWM`); compile
//! workers are children, whose peak is the largest child's (`RUSAGE_CHILDREN`). To measure
//! memory rather than compile time, each tenant's plugin is the same component with a
//! custom section of its own, and its artifact is put on disk before its upload (the
//! artifact does not depend on custom sections), so uploads load instead of compiling.

use std::time::Instant;

use fallback_tests::bombs;
use fallback_tests::host::TestHost;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use serde_json::json;

const MIB: f64 = 1024.0 * 1024.0;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn children_peak_mib() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn report(phase: &str) {
    println!(
        "{phase:<44} host RSS {:>7.1} MiB, host peak {:>7.1} MiB, largest compile worker {:>7.1} MiB",
        status_kib("VmRSS:") as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0,
        children_peak_mib()
    );
}

#[tokio::main]
async fn main() {
    let tenants: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let host = TestHost::start_on(dir.path(), |_| {}).await;
    let cache_bound = fallback_host::config::Limits::default().plugin_cache_bytes as f64 / MIB;
    report("started");

    let key = host.create_project("bombs").await;
    let spec = |url: String| {
        json!({
            "method": "GET",
            "url": format!("{url}?input={{latest_message}}"),
            "response": {"extract": {"reply": "$.message"}, "success": "{reply}", "failure": "sorry"},
        })
    };
    host.call("PUT", "/v1/projects/bombs/webhooks/w", Some(&key), Some(spec(upstream.url("/chat")))).await;
    for (name, bomb) in [
        ("1,000,000 empty functions", bombs::many_functions(1_000_000)),
        ("one function of 20,000 locals", bombs::many_locals(20_000)),
        ("100,000 nested blocks", bombs::deep_nesting(100_000)),
        ("a 5 MiB function body", bombs::huge_body(5 * 1024 * 1024)),
        ("90,000 empty functions (compiles)", bombs::many_functions(90_000)),
    ] {
        let started = Instant::now();
        let (status, body) = host
            .call_raw(
                "PUT",
                "/v1/projects/bombs/webhooks/w/plugin",
                Some(&key),
                Some("application/wasm"),
                bomb,
            )
            .await;
        println!("bomb: {name}: {status} {} in {:.2?}", body["error"]["code"], started.elapsed());
        report(&format!("after {name}"));
    }

    // A thousand tenants, each with its own plugin.
    let base = wasm::read(wasm::JSON_REPLY);
    let seed_key = host.create_project("seed").await;
    host.call("PUT", "/v1/projects/seed/webhooks/w", Some(&seed_key), Some(spec(upstream.url("/chat"))))
        .await;
    host.upload_plugin("seed", &seed_key, "w", base.clone()).await;
    let cache = dir.path().join("plugin-cache");
    let artifact = std::fs::read_dir(&cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the seed's artifact");
    let artifact = std::fs::read(artifact).expect("artifact");
    println!(
        "one json-reply artifact: {:.2} MiB; cache bound {cache_bound:.0} MiB",
        artifact.len() as f64 / MIB
    );

    let started = Instant::now();
    let mut keys = Vec::new();
    for n in 0..tenants {
        let project = format!("t{n}");
        let key = host.create_project(&project).await;
        host.put_webhook(&project, &key, "w", spec(upstream.url("/chat"))).await;
        host.use_webhook_as_fallback(&project, &key, "w").await;
        let plugin = bombs::distinct(&base, n as u32);
        let sha = hex_sha256(&plugin);
        std::fs::write(cache.join(format!("{sha}.cwasm")), &artifact).expect("artifact copy");
        host.upload_plugin(&project, &key, "w", plugin).await;
        keys.push((project, key));
    }
    report(&format!("after {tenants} uploads ({:.1?})", started.elapsed()));
    let started = Instant::now();
    for round in 0..2 {
        for (project, key) in &keys {
            let answer = host.chat(project, key, "s", "hello").await;
            assert_eq!(answer["replies"][0]["text"], "echo: hello", "{answer}");
        }
        report(&format!("after chat round {round}"));
    }
    println!("{} chats in {:.1?}", 2 * tenants, started.elapsed());
    let peak = status_kib("VmHWM:") as f64 / 1024.0;
    println!(
        "goal: peak {peak:.1} MiB <= cache bound {cache_bound:.0} MiB + 100 MiB: {}",
        if peak <= cache_bound + 100.0 { "met" } else { "NOT met" }
    );
    host.stop().await;
}

fn hex_sha256(bytes: &[u8]) -> String {
    fallback_host::plugin::sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
