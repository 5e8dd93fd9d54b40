//! The sandboxed plugin runtime: one wasmtime engine, compiled plugins cached by sha256, and
//! calls that each get a fresh instance under time, fuel, memory, output and log limits.
//!
//! This module and `bindings` are the only places that touch wasmtime.

mod cache;
mod call;
mod cpu;
mod engine;
mod error;
mod executor;
mod limits;
mod logs;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use cache::{LoadSource, LoadedPlugin, sha256};
#[doc(hidden)]
pub use call::ReusedInstance;
pub use call::{PluginCall, PluginOutput, PluginTimings};
pub use error::{Hook, PluginError};
pub use limits::CallLimits;

use crate::model::LogLine;
use crate::quota::KeyedSlots;

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled artifacts are kept as `<sha256>.cwasm`, so restarts do not recompile.
    pub cache_dir: Option<PathBuf>,
    /// The ceilings: calls' limits are clamped to these, and the instance pool is sized by them.
    pub max_limits: CallLimits,
    /// Instances alive at once; further calls wait (up to their timeout) for a slot.
    pub max_concurrent_instances: u32,
    /// Instances one project (`PluginContext::project`) may hold or wait for at once; past it a
    /// call is `Busy` at once, so a looping tenant burns its share and no more.
    pub slots_per_project: u32,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_limits: CallLimits::default(),
            max_concurrent_instances: 64,
            slots_per_project: 8,
        }
    }
}

/// Calls that may hold or wait for an instance slot, per slot: the wait for the shared pool is
/// bounded in length as well as in time.
const CALLS_PER_SLOT: usize = 4;

/// What a call produced: the logs are there even when it failed.
#[derive(Debug)]
pub struct PluginRun {
    pub logs: Vec<LogLine>,
    pub result: Result<PluginOutput, PluginError>,
    pub timings: PluginTimings,
}

/// The process's plugin runtime. Cheap to clone; make one per process (it owns the engine
/// and its epoch thread).
#[derive(Clone)]
pub struct PluginRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<call::CallState>,
    cache: cache::PluginCache,
    max_limits: CallLimits,
    /// One permit per pooled instance slot, so a burst waits instead of failing the pool.
    slots: Semaphore,
    /// Each project's share of the calls holding or waiting for a slot, taken without waiting.
    shares: KeyedSlots,
    /// The cores long-running calls share, so they never take them all.
    cpu: cpu::CpuTurns,
    /// The lower-priority threads guests run on.
    executor: executor::Executor,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime").field("max_limits", &self.inner.max_limits).finish_non_exhaustive()
    }
}

impl PluginRuntime {
    pub fn new(options: RuntimeOptions) -> Result<Self, PluginError> {
        let instances = options.max_concurrent_instances.max(1);
        let engine = engine::new_engine(&options.max_limits, instances)?;
        let linker = call::new_linker(&engine)?;
        let cache = cache::PluginCache::new(options.cache_dir)?;
        engine::start_ticker(&engine)?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                max_limits: options.max_limits,
                slots: Semaphore::new(instances as usize),
                shares: KeyedSlots::new(
                    options.slots_per_project as usize,
                    (instances as usize).saturating_mul(CALLS_PER_SLOT),
                ),
                cpu: cpu::CpuTurns::for_this_machine(),
                executor: executor::Executor::new().map_err(|e| PluginError::Engine(e.into()))?,
            }),
        })
    }

    pub fn max_limits(&self) -> &CallLimits {
        &self.inner.max_limits
    }

    /// Validates and compiles (or reuses) a plugin. Blocking: async callers run it in
    /// `spawn_blocking`.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.inner.cache.load(&self.inner.engine, &self.inner.linker, wasm)
    }

    /// The plugin with this hex sha256 if it is loaded already, so callers holding only the
    /// digest (a store row) can skip reading the bytes.
    pub fn loaded(&self, sha256_hex: &str) -> Option<Arc<LoadedPlugin>> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(sha256_hex, &mut digest).ok()?;
        self.inner.cache.get(&digest)
    }

    /// Runs `extract` then `format` in one fresh instance. `limits` are clamped to the
    /// runtime's maximums. The guest yields to the async runtime at every epoch tick, so a
    /// busy guest shares a worker thread rather than holding it.
    ///
    /// The call's project (`call.context.project`) must have a share free (else `Busy` at
    /// once); then the call waits, at most its timeout, for a slot of the shared pool.
    pub async fn run(&self, plugin: &Arc<LoadedPlugin>, call: PluginCall, limits: &CallLimits) -> PluginRun {
        let limits = limits.clamp_to(&self.inner.max_limits);
        let log = logs::CallLog::new(limits.log_bytes);
        let mut timings = PluginTimings::default();
        let result = match self.inner.shares.try_acquire(&call.context.project) {
            Err(_) => Err(PluginError::Busy),
            Ok(_share) => match tokio::time::timeout(limits.timeout, self.inner.slots.acquire()).await {
                Ok(Ok(_slot)) => {
                    let (engine, plugin, log, cpu) =
                        (self.inner.engine.clone(), plugin.clone(), log.clone(), self.inner.cpu.meter());
                    let task = async move {
                        let mut timings = PluginTimings::default();
                        let result =
                            call::call(&engine, &plugin, call, &limits, &log, cpu, &mut timings).await;
                        (result, timings)
                    };
                    match self.inner.executor.run(task).await {
                        Some((result, call_timings)) => {
                            timings = call_timings;
                            result
                        }
                        None => Err(PluginError::Engine(anyhow::anyhow!("the plugin call's task panicked"))),
                    }
                }
                // The semaphore is never closed; either way there is no slot to run in.
                Ok(Err(_)) | Err(_) => Err(PluginError::Busy),
            },
        };
        PluginRun { logs: log.take_lines(), result, timings }
    }

    /// False when `project` holds its whole share of instance slots now, so a caller can
    /// answer `Busy` before doing work (an upstream call) whose result no plugin could take.
    pub fn has_share(&self, project: &str) -> bool {
        self.inner.shares.held(project) < self.inner.shares.per_key()
    }

    /// An instance kept across calls: the benchmark's baseline for what instantiation costs.
    #[doc(hidden)]
    pub async fn bench_reused_instance(
        &self,
        plugin: &Arc<LoadedPlugin>,
        limits: &CallLimits,
    ) -> Result<ReusedInstance, PluginError> {
        ReusedInstance::new(&self.inner.engine, plugin, limits.clamp_to(&self.inner.max_limits)).await
    }
}
