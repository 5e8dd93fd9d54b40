//! Builds the json-reply example plugin that `fallback-host demo` attaches to its webhook.

fn main() -> anyhow::Result<()> {
    let built = plugin_build::build(&["json-reply"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    for path in built {
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, out_dir.join(name))?;
        }
    }
    Ok(())
}
