//! The process's wasmtime engines, one per code tier: their configuration, instance pools and
//! epoch ticker.

use std::thread;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

use super::PluginError;
use super::limits::CallLimits;

/// How often the epoch advances. A running guest yields to the async runtime once per tick
/// and checks its deadline then, so this bounds both timeout precision and how long a guest
/// holds a worker thread in one go.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Slots per component instance: Rust components use a handful of core instances and one
/// or two memories; JavaScript and Python components use more. A plugin needing more than
/// this fails to instantiate rather than starving others.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 16;

/// Per memory or table slot, at most this much is reset in place rather than decommitted.
const KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;

/// Which compiler made a plugin's machine code. An artifact only loads into an engine of its own
/// tier (wasmtime records the calling convention in it), so each tier has its own engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Winch, a single-pass compiler: about 7× less CPU to compile than Cranelift (json-reply:
    /// 57 against 410 ms), slower code. An upload runs on it until its optimized code is ready.
    Baseline,
    /// Cranelift: the code every plugin ends up running.
    Optimized,
}

impl Tier {
    /// How the parent tells a compile worker which compiler to build (see `worker`).
    pub(crate) const ENV: &'static str = "FALLBACK_COMPILE_WORKER_TIER";

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Tier::Baseline => "baseline",
            Tier::Optimized => "optimized",
        }
    }

    pub(crate) fn from_env() -> Self {
        match std::env::var(Self::ENV).as_deref() {
            Ok("baseline") => Tier::Baseline,
            _ => Tier::Optimized,
        }
    }
}

pub(crate) fn new_engine(max: &CallLimits, max_instances: u32, tier: Tier) -> Result<Engine, PluginError> {
    let instances = max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_stacks(instances)
        // The pool is shared: a call only fails for lack of core slots when many large
        // components run at once; the semaphore on component instances covers the rest.
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(max.memory_bytes)
        // A fresh instance per call makes slot reuse the hot path: scan for the pages the last
        // call dirtied and reset just those (kernel 6.7+; `Auto` falls back to `madvise`), so
        // the next instance does not page-fault its heap and stack back in.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);

    let mut config = code_config(tier);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| PluginError::Engine(e.into()))
}

/// An engine that only compiles, for the compile worker: the same code settings as
/// `new_engine`'s, so its artifacts load there, without the instance pool (whose address
/// space reservation has no use in a process that never instantiates).
pub(crate) fn compile_engine(tier: Tier) -> Result<Engine, PluginError> {
    Engine::new(&code_config(tier)).map_err(|e| PluginError::Engine(e.into()))
}

/// Everything that shapes compiled code. Artifacts record it, and an engine refuses to load
/// one compiled under another. Both tiers meter fuel and check epochs the same way, so a call's
/// bounds do not depend on which code runs it.
fn code_config(tier: Tier) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true).consume_fuel(true).memory_init_cow(true);
    config.strategy(match tier {
        Tier::Baseline => Strategy::Winch,
        Tier::Optimized => Strategy::Cranelift,
    });
    config
}

/// Starts the one thread that advances the engines' epochs. It ends on its own once every
/// clone of the first engine is dropped, so it never outlives the runtime by more than a tick.
pub(crate) fn start_ticker(engines: &[&Engine]) -> Result<(), PluginError> {
    let weak: Vec<_> = engines.iter().map(|engine| engine.weak()).collect();
    thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            while weak.first().is_some_and(|first| first.upgrade().is_some()) {
                for engine in weak.iter().filter_map(|weak| weak.upgrade()) {
                    engine.increment_epoch();
                }
                thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| PluginError::Engine(e.into()))
}
