//! What `/metrics` says after a few recordings: the names the tests and bench scripts grep, and
//! each histogram's series.

use std::time::Duration;

use super::{Metrics, Outcome, Stage};
use crate::plugin::{PluginError, PluginTimings, Tier};

fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
}

#[test]
fn the_existing_series_keep_their_names_and_lines() {
    let metrics = Metrics::new();
    metrics.record_response(200);
    metrics.record_response(503);
    metrics.record_chat("p1", Outcome::Failure, Duration::from_millis(3));
    metrics.record_webhook(Duration::from_millis(250), Some(("upstream", "upstream_status")));
    metrics.record_plugin_upload();
    metrics.record_intent_model(None);
    metrics.record_intent_model(Some(Duration::from_millis(20)));
    metrics.set_plugin_cache_bytes(4096);
    metrics.connection_opened();
    metrics.connection_opened();
    metrics.connection_closed();
    let text = metrics.render();
    for (series, value) in [
        ("fallback_http_responses_total{class=\"2xx\"}", "1"),
        ("fallback_http_responses_total{class=\"5xx\"}", "1"),
        ("fallback_chats_total{outcome=\"failure\"}", "1"),
        ("fallback_chats_total{outcome=\"matched\"}", "0"),
        ("fallback_webhook_calls_total{result=\"failure\"}", "1"),
        ("fallback_webhook_failures_total{stage=\"upstream\",code=\"upstream_status\"}", "1"),
        ("fallback_webhook_seconds_total", "0.25"),
        ("fallback_plugin_uploads_total", "1"),
        ("fallback_rate_limited_total", "0"),
        ("fallback_intent_models_read_total", "1"),
        ("fallback_intent_training_seconds_count", "1"),
        ("fallback_plugin_compiles_total", "0"),
        ("fallback_plugin_cache_evictions_total", "0"),
        ("fallback_plugin_cache_bytes", "4096"),
        ("fallback_http_connections_open", "1"),
        ("fallback_http_connections_peak", "2"),
    ] {
        assert_eq!(line(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(text.contains("# TYPE fallback_chat_seconds histogram"), "{text}");
}

#[test]
fn histograms_count_by_their_closed_labels() {
    let metrics = Metrics::new();
    metrics.record_chat("p1", Outcome::Matched, Duration::from_micros(300));
    {
        let _upstream = metrics.time_stage(Stage::Upstream);
        // Refusals take no time of their own: no series for them.
        let _admission = metrics.time_stage(Stage::Admission);
    }
    metrics.record_upstream(Some(404), Duration::from_millis(2));
    metrics.record_upstream(None, Duration::from_millis(2));
    metrics.record_plugin_call(&PluginTimings {
        instantiate: Duration::from_micros(80),
        extract: Duration::from_micros(20),
        format: Duration::ZERO,
    });
    let _ = metrics.time_compile(Tier::Baseline, || Ok::<_, PluginError>(()));
    let _ = metrics.time_compile(Tier::Optimized, || Err::<(), _>(PluginError::NotWasm));
    let text = metrics.render();
    for (series, value) in [
        ("fallback_chat_seconds_count{outcome=\"matched\"}", "1"),
        ("fallback_chat_seconds_bucket{outcome=\"matched\",le=\"0.0005\"}", "1"),
        ("fallback_chat_seconds_bucket{outcome=\"matched\",le=\"0.00025\"}", "0"),
        ("fallback_chat_seconds_count{outcome=\"success\"}", "0"),
        ("fallback_webhook_stage_seconds_count{stage=\"upstream\"}", "1"),
        ("fallback_webhook_stage_seconds_count{stage=\"request\"}", "0"),
        ("fallback_upstream_seconds_count{class=\"4xx\"}", "1"),
        ("fallback_upstream_seconds_count{class=\"error\"}", "1"),
        ("fallback_upstream_seconds_count{class=\"2xx\"}", "0"),
        ("fallback_plugin_call_seconds_count{hook=\"instantiate\"}", "1"),
        ("fallback_plugin_call_seconds_count{hook=\"extract\"}", "1"),
        ("fallback_plugin_call_seconds_count{hook=\"format\"}", "0"),
        ("fallback_plugin_compile_seconds_count{compiler=\"winch\",outcome=\"ok\"}", "1"),
        ("fallback_plugin_compile_seconds_count{compiler=\"cranelift\",outcome=\"refused\"}", "1"),
        ("fallback_plugin_compile_seconds_count{compiler=\"cranelift\",outcome=\"failed\"}", "0"),
    ] {
        assert_eq!(line(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(!text.contains("admission\"}"), "{text}");
}

#[test]
fn project_labels_are_off_by_default_and_bounded_when_asked_for() {
    let metrics = Metrics::new();
    metrics.record_chat("tenant-a", Outcome::Success, Duration::from_millis(1));
    let text = metrics.render();
    assert!(!text.contains("tenant-a") && !text.contains("fallback_project_"), "{text}");

    let metrics = Metrics::with_project_labels(2);
    for project in ["tenant-a", "tenant-b", "tenant-c", "tenant-a", "tenant-d"] {
        metrics.record_chat(project, Outcome::Success, Duration::from_millis(1));
    }
    let text = metrics.render();
    let chats = |project: &str| {
        line(&text, &format!("fallback_project_chats_total{{project=\"{project}\",outcome=\"success\"}}"))
    };
    assert_eq!((chats("tenant-a"), chats("tenant-b"), chats("_other")), (Some("2"), Some("1"), Some("2")));
    assert!(!text.contains("tenant-c") && !text.contains("tenant-d"), "{text}");
    assert_eq!(
        line(&text, "fallback_project_chat_seconds_count{project=\"_other\",outcome=\"success\"}"),
        Some("2")
    );
}
