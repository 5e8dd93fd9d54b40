//! What one webhook execution writes to the host's own log. Plugin and upstream text gets there
//! scrubbed of the project's secrets and escaped (`LogText`), so it can neither leak a secret
//! nor forge a line.

use std::collections::BTreeMap;

use super::trace::{BUSY, PluginTrace, Scrubber, TraceError};
use crate::log_text::LogText;

/// The `tracing` target of plugins' own log lines, at debug level (a call may write 1,000):
/// `RUST_LOG=info,fallback_host::plugin::guest=debug` shows them.
pub const GUEST_LOG: &str = "fallback_host::plugin::guest";

/// The plugin's lines, one host log line each, when that target is enabled.
pub(super) fn plugin_lines(
    project: &str,
    webhook: &str,
    plugin: &PluginTrace,
    secrets: &BTreeMap<String, String>,
) {
    if plugin.logs.is_empty() || !tracing::enabled!(target: GUEST_LOG, tracing::Level::DEBUG) {
        return;
    }
    let scrubber = Scrubber::new(secrets);
    for line in &plugin.logs {
        tracing::debug!(
            target: GUEST_LOG,
            project,
            webhook,
            plugin_version = plugin.version,
            level = ?line.level,
            "{}",
            LogText(&scrubbed(&scrubber, &line.message))
        );
    }
}

/// The failure, with DESIGN.md's project, webhook and plugin version.
pub(super) fn failure(
    project: &str,
    webhook: &str,
    plugin_version: Option<u32>,
    error: &TraceError,
    secrets: &BTreeMap<String, String>,
) {
    let message = scrubbed(&Scrubber::new(secrets), &error.message);
    // A refusal past a bound is the bound working, and a flooding tenant makes thousands a
    // second: counted in the metrics, logged only at debug level.
    if error.code == BUSY {
        tracing::debug!(project, webhook, stage = %error.stage, "webhook refused: {}", LogText(&message));
        return;
    }
    tracing::warn!(
        project,
        webhook,
        plugin_version,
        stage = %error.stage,
        code = %LogText(&error.code),
        "webhook failed: {}",
        LogText(&message)
    );
}

fn scrubbed(scrubber: &Scrubber, text: &str) -> String {
    let mut text = text.to_owned();
    scrubber.clean(&mut text);
    text
}
