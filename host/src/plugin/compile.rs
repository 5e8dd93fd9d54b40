//! Turning checked wasm into a serialized artifact: in this process, or in a compile worker
//! (`worker`) when one is configured, under the runtime's compile bounds.

use std::path::PathBuf;
use std::time::Duration;

use wasmtime::Engine;

use super::PluginError;

/// How compilation is bounded. Only a worker process bounds memory and can be stopped at
/// the deadline; compiling in-process (no worker configured: library embedders, unit tests,
/// the offline CLI) keeps only the structural check and the concurrency bound in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileBounds {
    /// CPU time of the worker (wall time backstopped at three times it).
    pub timeout: Duration,
    /// The worker's data segment limit (`RLIMIT_DATA`): heap and private mappings.
    pub memory_bytes: u64,
    /// Compilations at once; further uploads wait up to `timeout` for a turn, then are `Busy`.
    pub concurrency: u32,
    /// The `fallback-host` executable to run as `plugin compile-worker`.
    pub worker: Option<PathBuf>,
}

impl Default for CompileBounds {
    fn default() -> Self {
        let limits = crate::config::Limits::default();
        Self {
            timeout: limits.plugin_compile_timeout,
            memory_bytes: limits.plugin_compile_memory_bytes,
            concurrency: limits.plugin_compile_concurrency,
            worker: None,
        }
    }
}

/// Tells the two common wrong uploads apart before anything else: any bytes, and a core module.
pub(super) fn sniff(wasm: &[u8]) -> Result<(), PluginError> {
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

/// Compiles in this process, without memory or time bounds of its own.
pub(super) fn in_process(
    engine: &Engine,
    wasm: &[u8],
    bounds: &CompileBounds,
) -> Result<Vec<u8>, PluginError> {
    engine.precompile_component(wasm).map_err(|e| classify(e.into(), bounds.memory_bytes))
}

/// Validation errors come from wasmtime's translation of the binary; running out of memory is
/// the compile bound; anything else (Cranelift, resources) is a compile failure of an
/// otherwise valid component.
pub(super) fn classify(error: anyhow::Error, memory_limit: u64) -> PluginError {
    let texts: Vec<String> = error.chain().map(ToString::to_string).collect();
    if texts.iter().any(|text| text.contains("WebAssembly") || text.contains("failed to parse")) {
        PluginError::InvalidComponent(error)
    } else if texts.iter().any(|text| is_out_of_memory(text)) {
        PluginError::CompileMemory { limit: memory_limit }
    } else {
        PluginError::Compile(error)
    }
}

pub(super) fn is_out_of_memory(text: &str) -> bool {
    text.contains("memory allocation of")
        || text.contains("Cannot allocate memory")
        || text.contains("out of memory")
        || text.contains("capacity overflow")
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
