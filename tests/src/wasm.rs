//! The plugins built by `build.rs`, by path, and a reader for them.

use std::path::Path;

pub const JSON_REPLY: &str = env!("FALLBACK_PLUGIN_JSON_REPLY");
pub const LLM_ANSWER: &str = env!("FALLBACK_PLUGIN_LLM_ANSWER");
pub const QUICK_REPLIES: &str = env!("FALLBACK_PLUGIN_QUICK_REPLIES");
/// One plugin, many misbehaviours chosen by `plugin_config` `{"mode": ...}`.
pub const HOSTILE: &str = env!("FALLBACK_PLUGIN_HOSTILE");
/// The README's "plugin in ten lines", verbatim.
pub const SHOUT: &str = env!("FALLBACK_PLUGIN_SHOUT");
/// A valid component of another world: must be refused at upload.
pub const OTHER_WORLD: &str = env!("FALLBACK_PLUGIN_OTHER_WORLD");

/// The bytes of a built plugin. Panics with the path: for tests only.
pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
