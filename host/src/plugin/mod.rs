//! The sandboxed plugin runtime: a wasmtime engine per code tier, compiled plugins cached by
//! sha256, and calls that each get a fresh instance under time, fuel, memory, output and log
//! limits.
//!
//! With a compile worker, an upload is compiled twice (`upgrade`): first by Winch, whose code
//! answers the upload and runs the plugin's first calls, then by Cranelift in the background,
//! whose code replaces it. Without one (embedders, the offline CLI) only Cranelift compiles.
//!
//! This module and `bindings` are the only places that touch wasmtime.

mod cache;
mod call;
mod compile;
mod cpu;
mod engine;
mod error;
mod executor;
mod limits;
mod loaded;
mod logs;
mod spare;
mod state;
mod structure;
mod upgrade;
mod worker;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::Engine;
use wasmtime::component::Linker;

#[doc(hidden)]
pub use call::ReusedInstance;
pub use call::{PluginCall, PluginOutput, PluginTimings};
pub use compile::CompileBounds;
pub use engine::Tier;
pub use error::{Hook, PluginError};
pub use limits::{CallLimits, ITEM_OVERHEAD_BYTES};
pub use loaded::{LoadSource, LoadedPlugin, sha256};
pub use structure::{Structure, StructureLimit, StructureLimits};
pub use worker::{upload_wall_bound, worker_main as compile_worker_main};

use crate::metrics::Metrics;
use crate::model::LogLine;
use crate::quota::KeyedSlots;
use cache::Digest;
use loaded::Origin;

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled artifacts are kept as `<sha256>.cwasm`, so restarts do not recompile.
    pub cache_dir: Option<PathBuf>,
    /// The ceilings: calls' limits are clamped to these, and the instance pool is sized by them.
    pub max_limits: CallLimits,
    /// Instances alive at once; further calls wait (up to their timeout) for a slot.
    pub max_concurrent_instances: u32,
    /// Instances one project (`PluginContext::project`) may hold or wait for at once while half
    /// the pool or more is in use (below that idle instances are lent); past it a call is
    /// `Busy` at once, so a looping tenant burns its share and no more.
    pub slots_per_project: u32,
    /// What a component may contain before anything compiles it.
    pub structure: StructureLimits,
    /// Time, memory and concurrency of compilation, and the worker that does it.
    pub compile: CompileBounds,
    /// Bytes of compiled plugins kept in memory; the least recently used go past it.
    pub cache_bytes: usize,
    pub metrics: Arc<Metrics>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        let limits = crate::config::Limits::default();
        Self {
            cache_dir: None,
            max_limits: CallLimits::default(),
            max_concurrent_instances: 64,
            slots_per_project: 8,
            structure: StructureLimits::default(),
            compile: CompileBounds::default(),
            cache_bytes: usize::try_from(limits.plugin_cache_bytes).unwrap_or(usize::MAX),
            metrics: Arc::new(Metrics::default()),
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
    /// The optimized tier's engine and linker: every plugin's code in the end.
    engine: Engine,
    linker: Linker<state::CallState>,
    /// The baseline tier, only with a compile worker.
    baseline: Option<Baseline>,
    upgrades: upgrade::Upgrades,
    cache: cache::PluginCache,
    max_limits: CallLimits,
    /// One permit per pooled instance slot, so a burst waits instead of failing the pool.
    slots: Semaphore,
    /// Each project's share of the calls holding or waiting for a slot, taken without waiting.
    shares: KeyedSlots,
    /// The cores long-running calls share, so they never take them all.
    cpu: cpu::CpuTurns,
    structure: StructureLimits,
    compile: CompileBounds,
    /// One permit per compilation allowed at once.
    compile_slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    /// The lower-priority threads guests run on.
    executor: executor::Executor,
    /// The next compile worker, started ahead of its job; `None` compiles in this process.
    spare: Option<spare::SpareWorker>,
}

/// What compiles and runs baseline code: its own engine (an artifact loads only into an engine
/// of its tier), linker and compile worker.
struct Baseline {
    engine: Engine,
    linker: Linker<state::CallState>,
    spare: spare::SpareWorker,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime").field("max_limits", &self.inner.max_limits).finish_non_exhaustive()
    }
}

impl PluginRuntime {
    pub fn new(options: RuntimeOptions) -> Result<Self, PluginError> {
        let instances = options.max_concurrent_instances.max(1);
        let engine = engine::new_engine(&options.max_limits, instances, Tier::Optimized)?;
        let linker = call::new_linker(&engine)?;
        let cache = cache::PluginCache::new(options.cache_dir, options.cache_bytes, options.metrics.clone())?;
        let (spare, baseline) = match &options.compile.worker {
            Some(path) => {
                let spare = spare::SpareWorker::new(path.clone(), options.compile.clone(), Tier::Optimized)?;
                // Its own instance pool as large as the other: the slot semaphore bounds both together.
                let engine = engine::new_engine(&options.max_limits, instances, Tier::Baseline)?;
                let linker = call::new_linker(&engine)?;
                let worker = spare::SpareWorker::new(path.clone(), options.compile.clone(), Tier::Baseline)?;
                (Some(spare), Some(Baseline { engine, linker, spare: worker }))
            }
            None => (None, None),
        };
        match &baseline {
            Some(baseline) => engine::start_ticker(&[&engine, &baseline.engine])?,
            None => engine::start_ticker(&[&engine])?,
        }
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                baseline,
                upgrades: upgrade::Upgrades::new(),
                cache,
                max_limits: options.max_limits,
                slots: Semaphore::new(instances as usize),
                // While under half the instances are in use a project may borrow past its
                // share; a looping tenant can then hold half the pool, never the whole of it.
                shares: KeyedSlots::lending(
                    options.slots_per_project as usize,
                    (instances as usize).saturating_mul(CALLS_PER_SLOT),
                    instances as usize / 2,
                ),
                cpu: cpu::CpuTurns::for_this_machine(),
                structure: options.structure,
                compile_slots: Arc::new(Semaphore::new(options.compile.concurrency.max(1) as usize)),
                compile: options.compile,
                metrics: options.metrics,
                executor: executor::Executor::new().map_err(|e| PluginError::Engine(e.into()))?,
                spare,
            }),
        })
    }

    pub fn max_limits(&self) -> &CallLimits {
        &self.inner.max_limits
    }

    /// Validates and compiles (or reuses) a plugin, compiling in this process: for the offline
    /// CLI and embedders. Blocking: async callers use `load_upload`, which bounds compilation.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        let sha256 = sha256(wasm);
        if let Some(plugin) = self.inner.cache.get(&sha256) {
            return Ok(plugin);
        }
        let plugin = match self.check_and_reuse(sha256, wasm)? {
            Some(plugin) if plugin.tier() == Tier::Optimized => plugin,
            // Baseline code found on disk: this path compiles the optimized code itself.
            Some(_) | None => {
                let artifact = self.inner.metrics.time_compile(Tier::Optimized, || {
                    compile::in_process(&self.inner.engine, wasm, &self.inner.compile)
                })?;
                self.inner.metrics.record_plugin_compile();
                self.accept_artifact(sha256, wasm.len(), &artifact, Tier::Optimized)?
            }
        };
        Ok(self.inner.cache.insert(plugin))
    }

    /// Validates and compiles (or reuses) an upload or a stored plugin's bytes: checked
    /// structurally first, then compiled under the compile bounds (in the worker process when
    /// one is configured, to baseline code first), at most `concurrency` at once. Concurrent
    /// loads of the same bytes compile once. Nothing of a refused component is kept, in memory
    /// or on disk; bytes whose optimized compile refused them are refused again.
    pub async fn load_upload(&self, wasm: bytes::Bytes) -> Result<Arc<LoadedPlugin>, PluginError> {
        let hashed = wasm.clone();
        let sha256 = blocking(move || Ok(sha256(&hashed))).await?;
        if let Some(refusal) = self.inner.upgrades.refusal(&sha256) {
            return Err(refusal);
        }
        let loaded = self.inner.cache.get_or_load(sha256, || self.load_fresh(sha256, wasm)).await?;
        loaded.ok_or_else(|| PluginError::Internal("a fresh load answered nothing".into()))
    }

    /// The plugin with this hex sha256, from memory or else from its artifact on disk,
    /// without its wasm; `None` when neither has it, or the disk only has its baseline code (the
    /// caller then reads the bytes from the store and calls `load_upload`, which also queues
    /// their optimized compile). `size` is the upload's, as the store recorded it. The error the
    /// optimized compile refused the plugin with, if it did.
    pub async fn load_stored(
        &self,
        sha256_hex: &str,
        size: usize,
    ) -> Result<Option<Arc<LoadedPlugin>>, PluginError> {
        let Some(sha256) = digest(sha256_hex) else { return Ok(None) };
        if let Some(refusal) = self.inner.upgrades.refusal(&sha256) {
            return Err(refusal);
        }
        let Some(path) = self.inner.cache.artifact_path(&sha256) else {
            return Ok(self.inner.cache.get(&sha256));
        };
        let this = self.clone();
        self.inner
            .cache
            .get_or_load(sha256, || {
                blocking(move || {
                    let Some((component, artifact_bytes, Tier::Optimized)) =
                        cache::from_disk(&this.engines(), &path)
                    else {
                        return Ok(None);
                    };
                    let origin = Origin {
                        sha256,
                        size,
                        artifact_bytes,
                        source: LoadSource::Disk,
                        tier: Tier::Optimized,
                    };
                    match loaded::check_world(&this.inner.engine, &this.inner.linker, &component, origin) {
                        Ok(plugin) => Ok(Some(plugin)),
                        // An artifact of another world cannot be an accepted plugin: recompile.
                        Err(_) => Ok(None),
                    }
                })
            })
            .await
    }

    /// The plugin with this hex sha256 if it is loaded already, so callers holding only the
    /// digest (a store row) can skip reading the bytes.
    pub fn loaded(&self, sha256_hex: &str) -> Option<Arc<LoadedPlugin>> {
        self.inner.cache.get(&digest(sha256_hex)?)
    }

    /// Deletes the on-disk artifacts of every digest not in `keep` (lower-case hex), and at
    /// start the leftovers of interrupted writes. Answers how many files went. Blocking.
    pub fn collect_artifacts(&self, keep: &HashSet<String>, at_start: bool) -> usize {
        self.inner.cache.collect_artifacts(keep, at_start)
    }

    /// The structural check and the on-disk artifact, off the async threads; else a compile in
    /// a compile turn, baseline code first when there is a baseline tier and room in the upgrade
    /// queue, its optimized code then queued.
    async fn load_fresh(
        &self,
        sha256: Digest,
        wasm: bytes::Bytes,
    ) -> Result<Option<LoadedPlugin>, PluginError> {
        let this = self.clone();
        let input = wasm.clone();
        if let Some(plugin) = blocking(move || this.check_and_reuse(sha256, &input)).await? {
            if plugin.tier() == Tier::Baseline
                && let Some(ticket) = self.inner.upgrades.reserve(sha256)
            {
                self.upgrade_later(ticket, wasm);
            }
            return Ok(Some(plugin));
        }
        let bounds = &self.inner.compile;
        let slots = self.inner.compile_slots.clone();
        let turn = match tokio::time::timeout(bounds.timeout, slots.acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            // The semaphore is never closed; either way there is no turn to compile in.
            Ok(Err(_)) | Err(_) => return Err(PluginError::Busy),
        };
        let ticket = self.inner.baseline.as_ref().and_then(|_| self.inner.upgrades.reserve(sha256));
        let this = self.clone();
        let input = wasm.clone();
        // The turn moves into the blocking task: an upload whose client went away still holds
        // it until its compilation ends, so disconnecting cannot start compilations unbounded.
        let (plugin, ticket) = blocking(move || {
            let _turn = turn;
            this.compile_upload(sha256, &input, ticket)
        })
        .await?;
        if let Some(ticket) = ticket {
            self.upgrade_later(ticket, wasm);
        }
        Ok(Some(plugin))
    }

    /// Compiles an upload in its compile turn: to baseline code when given a place in the upgrade
    /// queue (answered with it then, to be upgraded), else (or when the baseline compile failed
    /// for a reason the optimized compile could answer otherwise) to optimized code.
    fn compile_upload(
        &self,
        sha256: Digest,
        wasm: &bytes::Bytes,
        ticket: Option<upgrade::Ticket>,
    ) -> Result<(LoadedPlugin, Option<upgrade::Ticket>), PluginError> {
        let bounds = &self.inner.compile;
        if let (Some(baseline), Some(ticket)) = (&self.inner.baseline, ticket) {
            let compiled = (self.inner.metrics)
                .time_compile(Tier::Baseline, || {
                    baseline.spare.take().and_then(|worker| worker::compile(worker, wasm.clone(), bounds))
                })
                .and_then(|artifact| self.accept_artifact(sha256, wasm.len(), &artifact, Tier::Baseline));
            match compiled {
                Ok(plugin) => {
                    self.inner.metrics.record_plugin_compile();
                    return Ok((plugin, Some(ticket)));
                }
                // Cranelift needs several times Winch's CPU for the same code (json-reply: 7×; 90,000
                // empty functions: 1.4 s against tens of seconds): over the bound for one, over
                // it for the other. Refused as the optimized compile would refuse it, in half the time.
                Err(error @ PluginError::CompileTimeout { .. }) => return Err(error),
                // Anything else (a proposal Winch lacks, a worker fault, a refusal the optimized
                // compile might word otherwise) is for the optimized compile to answer, as before tiers.
                Err(error) => tracing::debug!(%error, "baseline compile failed; compiling optimized code"),
            }
        }
        let artifact = self.inner.metrics.time_compile(Tier::Optimized, || match &self.inner.spare {
            Some(spare) => worker::compile(spare.take()?, wasm.clone(), bounds),
            None => compile::in_process(&self.inner.engine, wasm, bounds),
        })?;
        self.inner.metrics.record_plugin_compile();
        self.accept_artifact(sha256, wasm.len(), &artifact, Tier::Optimized).map(|plugin| (plugin, None))
    }

    /// Queues the optimized compile of a plugin running on baseline code: in the upgrade lane,
    /// then in a compile turn like any compile, at a lower CPU priority.
    fn upgrade_later(&self, ticket: upgrade::Ticket, wasm: bytes::Bytes) {
        let this = self.clone();
        tokio::spawn(async move {
            let Some(lane) = this.inner.upgrades.lane().await else { return };
            let Ok(turn) = this.inner.compile_slots.clone().acquire_owned().await else { return };
            let _ = blocking(move || {
                let (_lane, _turn) = (lane, turn);
                this.upgrade(ticket, &wasm);
                Ok(())
            })
            .await;
        });
    }

    /// The optimized compile of a plugin running on baseline code. Its code replaces the baseline
    /// code in memory and on disk; a refusal (an upload error: over the compile bounds, say) is
    /// remembered and answered from then on for these bytes, to chats and uploads alike, and the
    /// baseline code is dropped. A fault of the host leaves the baseline code running.
    fn upgrade(&self, ticket: upgrade::Ticket, wasm: &bytes::Bytes) {
        let sha256 = ticket.sha256();
        if !self.inner.cache.has_artifact(&sha256) {
            // Its version was pruned meanwhile: nothing will run it again.
            return;
        }
        let bounds = &self.inner.compile;
        let artifact = self.inner.metrics.time_compile(Tier::Optimized, || match &self.inner.spare {
            Some(spare) => spare.take().and_then(|worker| {
                worker::lower_priority(&worker);
                worker::compile(worker, wasm.clone(), bounds)
            }),
            None => compile::in_process(&self.inner.engine, wasm, bounds),
        });
        let loaded = artifact.and_then(|artifact| {
            let plugin = self.load_artifact(sha256, wasm.len(), &artifact, Tier::Optimized)?;
            Ok((plugin, artifact))
        });
        let sha256_hex = hex::encode(sha256);
        match loaded {
            Ok((plugin, artifact)) => {
                tracing::debug!(sha256 = sha256_hex, "plugin upgraded to optimized code");
                self.inner.cache.upgrade(plugin, &artifact);
            }
            Err(error) if error.is_upload_error() => {
                tracing::warn!(sha256 = sha256_hex, %error, "optimized compile refused a plugin");
                // Remembered before the code goes, so a load in between finds one or the other.
                self.inner.upgrades.refuse(sha256, error);
                self.inner.cache.forget(&sha256);
            }
            Err(error) => {
                tracing::warn!(sha256 = sha256_hex, %error, "optimized compile failed; baseline code kept");
            }
        }
    }

    /// The engines artifacts on disk may come from, the optimized first.
    fn engines(&self) -> Vec<(Tier, &Engine)> {
        let mut engines = vec![(Tier::Optimized, &self.inner.engine)];
        if let Some(baseline) = &self.inner.baseline {
            engines.push((Tier::Baseline, &baseline.engine));
        }
        engines
    }

    /// Sniffs and checks the structure of `wasm`, then answers the plugin from its artifact
    /// on disk if there is a usable one (of either tier).
    fn check_and_reuse(&self, sha256: Digest, wasm: &[u8]) -> Result<Option<LoadedPlugin>, PluginError> {
        compile::sniff(wasm)?;
        let structure = structure::check(wasm, &self.inner.structure)?;
        tracing::debug!(sha256 = hex::encode(sha256), ?structure, "plugin structure checked");
        let Some(path) = self.inner.cache.artifact_path(&sha256) else { return Ok(None) };
        let Some((component, artifact_bytes, tier)) = cache::from_disk(&self.engines(), &path) else {
            return Ok(None);
        };
        let origin = Origin { sha256, size: wasm.len(), artifact_bytes, source: LoadSource::Disk, tier };
        let (engine, linker) = self.tier(tier);
        loaded::check_world(engine, linker, &component, origin).map(Some)
    }

    /// The engine and linker of a tier (the optimized ones when there is no baseline tier).
    fn tier(&self, tier: Tier) -> (&Engine, &Linker<state::CallState>) {
        match (tier, &self.inner.baseline) {
            (Tier::Baseline, Some(baseline)) => (&baseline.engine, &baseline.linker),
            _ => (&self.inner.engine, &self.inner.linker),
        }
    }

    /// A freshly compiled artifact, checked against the world; only then written to disk.
    fn accept_artifact(
        &self,
        sha256: Digest,
        size: usize,
        artifact: &[u8],
        tier: Tier,
    ) -> Result<LoadedPlugin, PluginError> {
        let plugin = self.load_artifact(sha256, size, artifact, tier)?;
        if let Some(path) = self.inner.cache.artifact_path(&sha256) {
            cache::store_artifact(artifact, &path);
        }
        Ok(plugin)
    }

    /// A freshly compiled artifact of `tier`, checked against the world.
    fn load_artifact(
        &self,
        sha256: Digest,
        size: usize,
        artifact: &[u8],
        tier: Tier,
    ) -> Result<LoadedPlugin, PluginError> {
        let (engine, linker) = self.tier(tier);
        // The artifact comes from this build's own compiler: one it cannot load is a host fault.
        let component = cache::deserialize(engine, artifact)
            .map_err(|e| PluginError::CompileWorker(format!("unusable artifact: {e:#}")))?;
        let origin =
            Origin { sha256, size, artifact_bytes: artifact.len(), source: LoadSource::Compiled, tier };
        loaded::check_world(engine, linker, &component, origin)
    }

    /// Runs `extract` then `format` in one fresh instance. `limits` are clamped to the
    /// runtime's maximums. The call starts on the caller's thread and moves to the plugin
    /// threads at its first yield (`executor`); the guest yields at every epoch tick and every
    /// `call::INLINE_FUEL` of fuel, so a busy guest shares a worker thread rather than holding it.
    ///
    /// The call's project (`call.context.project`) must have a share free (else `Busy` at
    /// once); then the call waits, at most its timeout, for a slot of the shared pool.
    pub async fn run(&self, plugin: &Arc<LoadedPlugin>, call: PluginCall, limits: &CallLimits) -> PluginRun {
        let limits = limits.clamp_to(&self.inner.max_limits);
        let log = logs::CallLog::new(limits.log_bytes, limits.max_log_lines);
        let mut timings = PluginTimings::default();
        let result = match self.inner.shares.try_acquire(&call.context.project) {
            Err(_) => Err(PluginError::Busy),
            Ok(_share) => match self.slot(limits.timeout).await {
                Some(_slot) => {
                    let (engine, plugin, log, cpu) =
                        (plugin.engine.clone(), plugin.clone(), log.clone(), self.inner.cpu.meter());
                    // Boxed here, so the call's state (large: it nests every step's future) is never
                    // moved by the futures around it, only a pointer.
                    let task = Box::pin(async move {
                        let mut timings = PluginTimings::default();
                        let result =
                            call::call(&engine, &plugin, call, &limits, &log, cpu, &mut timings).await;
                        (result, timings)
                    });
                    match self.inner.executor.run(task).await {
                        Some((result, call_timings)) => {
                            timings = call_timings;
                            result
                        }
                        None => Err(PluginError::Engine(anyhow::anyhow!("the plugin call's task panicked"))),
                    }
                }
                None => Err(PluginError::Busy),
            },
        };
        self.inner.metrics.record_plugin_call(&timings);
        PluginRun { logs: log.take_lines(), result, timings }
    }

    /// A slot of the shared instance pool: at once when one is free (no timer to arm), else the
    /// first to come back within `timeout`.
    async fn slot(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        if let Ok(slot) = self.inner.slots.try_acquire() {
            return Some(slot);
        }
        // The semaphore is never closed; either way there is no slot to run in.
        tokio::time::timeout(timeout, self.inner.slots.acquire()).await.ok()?.ok()
    }

    /// False when `project` holds its whole share of instance slots now, so a caller can
    /// answer `Busy` before doing work (an upstream call) whose result no plugin could take.
    pub fn has_share(&self, project: &str) -> bool {
        self.inner.shares.has_room(project)
    }

    /// An instance kept across calls: the benchmark's baseline for what instantiation costs.
    #[doc(hidden)]
    pub async fn bench_reused_instance(
        &self,
        plugin: &Arc<LoadedPlugin>,
        limits: &CallLimits,
    ) -> Result<ReusedInstance, PluginError> {
        ReusedInstance::new(&plugin.engine, plugin, limits.clamp_to(&self.inner.max_limits)).await
    }
}

fn digest(sha256_hex: &str) -> Option<Digest> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(sha256_hex, &mut digest).ok()?;
    Some(digest)
}

/// Runs blocking work (hashing, parsing, compiling, reading artifacts) off the async threads.
/// A panic there is a bug of the host: `Internal`, never mistaken for a busy host or a bad upload.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, PluginError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(PluginError::Internal("a plugin load panicked".into())),
        Err(_) => Err(PluginError::Internal("a plugin load was cancelled".into())),
    }
}
