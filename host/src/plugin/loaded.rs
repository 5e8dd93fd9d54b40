//! A validated, compiled plugin version ready to instantiate, and the world check that makes
//! one out of a compiled component.

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::PluginError;
use super::engine::Tier;
use super::state::CallState;
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
    /// What keeping it in memory costs, about: see `weight_of`.
    weight: usize,
    source: LoadSource,
    tier: Tier,
    exports: Vec<String>,
    imports: Vec<String>,
    /// The engine of the code's tier: a call's store must belong to it.
    pub(crate) engine: Engine,
    pub(crate) pre: PluginPre<CallState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("sha256", &self.sha256_hex())
            .field("size", &self.size)
            .field("weight", &self.weight)
            .field("source", &self.source)
            .field("tier", &self.tier)
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

    /// Bytes this plugin is counted for in the runtime's memory bound (its compiled artifact).
    pub fn weight(&self) -> usize {
        self.weight
    }

    pub fn source(&self) -> LoadSource {
        self.source
    }

    /// Which compiler made the code that runs now: `Baseline` for a fresh upload until its
    /// optimized code replaces it in the runtime's cache.
    pub fn tier(&self) -> Tier {
        self.tier
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

/// What the loader knows of a compiled component besides the component itself.
pub(super) struct Origin {
    pub sha256: [u8; 32],
    /// The upload's size; for an artifact read back without its wasm, the artifact's.
    pub size: usize,
    /// Size of the serialized artifact the component was read from.
    pub artifact_bytes: usize,
    pub source: LoadSource,
    pub tier: Tier,
}

/// What a loaded plugin costs in memory: its code image (the artifact's size) plus the
/// type information, metadata and pre-instantiation wasmtime keeps beside it, which measured
/// at about an eighth more (1,000 distinct json-reply plugins: 0.68 MiB artifacts, 0.76 MiB
/// of resident memory each).
fn weight_of(artifact_bytes: usize) -> usize {
    artifact_bytes.saturating_add(artifact_bytes / 8)
}

/// Checks that the component implements the world, and pre-instantiates it against the
/// linker so every call only instantiates.
pub(super) fn check_world(
    engine: &Engine,
    linker: &Linker<CallState>,
    component: &Component,
    origin: Origin,
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
    let Origin { sha256, size, artifact_bytes, source, tier } = origin;
    Ok(LoadedPlugin {
        sha256,
        size,
        weight: weight_of(artifact_bytes),
        source,
        tier,
        exports,
        imports,
        engine: engine.clone(),
        pre,
    })
}
