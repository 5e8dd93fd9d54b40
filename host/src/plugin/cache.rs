//! Turning uploaded bytes into a ready-to-instantiate plugin: sniff, compile or reuse the
//! artifact on disk, check the world, and keep the result in memory by sha256.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::PluginError;
use super::call::CallState;
use crate::bindings::PluginPre;

/// The hooks the world requires a plugin to export.
const REQUIRED_EXPORTS: [&str; 2] = ["extract", "format"];

/// Where a loaded plugin's machine code came from: observable so tests and logs can tell a
/// restart that reused the disk cache from one that recompiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    Compiled,
    Disk,
}

/// A validated, compiled plugin version, ready to instantiate many times.
pub struct LoadedPlugin {
    sha256: [u8; 32],
    size: usize,
    source: LoadSource,
    exports: Vec<String>,
    imports: Vec<String>,
    pub(crate) pre: PluginPre<CallState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256_hex())
            .field("size", &self.size)
            .field("source", &self.source)
            .field("exports", &self.exports)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Size in bytes of the uploaded component.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn source(&self) -> LoadSource {
        self.source
    }

    /// The component's export names (the world's are `extract` and `format`).
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// The component's import names (WASI interfaces and `fallback:plugin/host`).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

pub fn sha256(wasm: &[u8]) -> [u8; 32] {
    Sha256::digest(wasm).into()
}

/// Compiled plugins by sha256, in memory and (optionally) on disk.
pub(crate) struct PluginCache {
    dir: Option<PathBuf>,
    loaded: Mutex<HashMap<[u8; 32], Arc<LoadedPlugin>>>,
}

impl PluginCache {
    pub fn new(dir: Option<PathBuf>) -> Result<Self, PluginError> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir).map_err(|e| PluginError::Engine(e.into()))?;
        }
        Ok(Self { dir, loaded: Mutex::new(HashMap::new()) })
    }

    pub fn load(
        &self,
        engine: &Engine,
        linker: &Linker<CallState>,
        wasm: &[u8],
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let sha256 = sha256(wasm);
        if let Some(plugin) = self.lock().get(&sha256) {
            return Ok(plugin.clone());
        }
        sniff(wasm)?;
        let artifact = self.dir.as_deref().map(|dir| dir.join(format!("{}.cwasm", hex::encode(sha256))));
        let (component, source) = match artifact.as_deref().and_then(|path| from_disk(engine, path)) {
            Some(component) => (component, LoadSource::Disk),
            None => {
                let component = compile(engine, wasm)?;
                if let Some(path) = &artifact {
                    store_artifact(&component, path);
                }
                (component, LoadSource::Compiled)
            }
        };
        let plugin = Arc::new(check_world(engine, linker, &component, sha256, wasm.len(), source)?);
        Ok(self.lock().entry(sha256).or_insert(plugin).clone())
    }

    /// A plugin already loaded in this process, found by its digest without its bytes.
    pub fn get(&self, sha256: &[u8; 32]) -> Option<Arc<LoadedPlugin>> {
        self.lock().get(sha256).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<LoadedPlugin>>> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells the two common wrong uploads apart before compiling: any bytes, and a core module.
fn sniff(wasm: &[u8]) -> Result<(), PluginError> {
    const MAGIC: &[u8; 4] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(PluginError::NotWasm);
    }
    if wasm[4..8] == CORE_VERSION {
        return Err(PluginError::CoreModule);
    }
    Ok(())
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, PluginError> {
    Component::from_binary(engine, wasm).map_err(|e| {
        let e = anyhow::Error::from(e);
        // Validation errors come from wasmtime's translation of the binary; anything else
        // (Cranelift, resources) is a compile failure of an otherwise valid component.
        let invalid = e.chain().any(|cause| {
            let text = cause.to_string();
            text.contains("WebAssembly") || text.contains("failed to parse")
        });
        if invalid { PluginError::InvalidComponent(e) } else { PluginError::Compile(e) }
    })
}

/// An artifact this engine wrote earlier. Anything unusable (corrupt, written by another
/// wasmtime version or configuration) is ignored so the caller recompiles and rewrites it.
///
/// The file is read into memory rather than mapped: a mapped artifact truncated or rewritten
/// in place (by an operator, a backup restore) would crash the process with SIGBUS.
fn from_disk(engine: &Engine, path: &Path) -> Option<Component> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read plugin artifact");
            return None;
        }
    };
    // SAFETY: the cache directory holds only artifacts written by `store_artifact` from
    // `Component::serialize`; wasmtime checks the header, version and engine configuration.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unusable plugin artifact");
            None
        }
    }
}

/// Writes the artifact through a temporary file and a rename, so a concurrent reader never
/// sees half of it. A failure only costs a recompilation at the next start.
fn store_artifact(component: &Component, path: &Path) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = component
        .serialize()
        .map_err(|e| io::Error::other(anyhow::Error::from(e)))
        .and_then(|bytes| fs::write(&tmp, bytes))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        tracing::warn!(path = %path.display(), error = %e, "could not cache plugin artifact");
    }
}

fn check_world(
    engine: &Engine,
    linker: &Linker<CallState>,
    component: &Component,
    sha256: [u8; 32],
    size: usize,
    source: LoadSource,
) -> Result<LoadedPlugin, PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_owned()).collect();
    let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_owned()).collect();
    let missing: Vec<String> = REQUIRED_EXPORTS
        .iter()
        .filter(|name| !exports.iter().any(|e| e == *name))
        .map(|name| format!("`{name}`"))
        .collect();
    if !missing.is_empty() {
        let found = if exports.is_empty() { "none".to_owned() } else { exports.join(", ") };
        return Err(PluginError::WrongWorld {
            detail: format!(
                "missing export {} of fallback:plugin/plugin (exports found: {found})",
                missing.join(" and ")
            ),
        });
    }
    let instance_pre = linker.instantiate_pre(component).map_err(|e| PluginError::WrongWorld {
        detail: format!("unsatisfied import: {:#}", anyhow::Error::from(e)),
    })?;
    let pre = PluginPre::new(instance_pre).map_err(|e| PluginError::WrongWorld {
        detail: format!("mistyped export: {:#}", anyhow::Error::from(e)),
    })?;
    Ok(LoadedPlugin { sha256, size, source, exports, imports, pre })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_tells_bytes_and_core_modules_apart() {
        assert!(matches!(sniff(b""), Err(PluginError::NotWasm)));
        assert!(matches!(sniff(b"hello world"), Err(PluginError::NotWasm)));
        assert!(matches!(sniff(b"\0asm\x01\0\0\0"), Err(PluginError::CoreModule)));
        assert!(sniff(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
