//! Builds the example and test plugins from source for `wasm32-wasip2` and hands their paths to
//! the tests as `FALLBACK_PLUGIN_<NAME>` compile-time variables.

/// (package, variable) for each plugin the tests load.
const PLUGINS: [(&str, &str); 6] = [
    ("json-reply", "FALLBACK_PLUGIN_JSON_REPLY"),
    ("llm-answer", "FALLBACK_PLUGIN_LLM_ANSWER"),
    ("quick-replies", "FALLBACK_PLUGIN_QUICK_REPLIES"),
    ("hostile-plugin", "FALLBACK_PLUGIN_HOSTILE"),
    ("other-world-plugin", "FALLBACK_PLUGIN_OTHER_WORLD"),
    ("shout", "FALLBACK_PLUGIN_SHOUT"),
];

fn main() -> anyhow::Result<()> {
    let packages: Vec<&str> = PLUGINS.iter().map(|(package, _)| *package).collect();
    let built = plugin_build::build(&packages)?;
    for ((_, variable), path) in PLUGINS.iter().zip(built) {
        println!("cargo:rustc-env={variable}={}", path.display());
    }
    Ok(())
}
