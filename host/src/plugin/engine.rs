//! The process's wasmtime `Engine`: its configuration, instance pool and epoch ticker.

use std::thread;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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

pub(crate) fn new_engine(max: &CallLimits, max_instances: u32) -> Result<Engine, PluginError> {
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

    let mut config = code_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| PluginError::Engine(e.into()))
}

/// An engine that only compiles, for the compile worker: the same code settings as
/// `new_engine`'s, so its artifacts load there, without the instance pool (whose address
/// space reservation has no use in a process that never instantiates).
pub(crate) fn compile_engine() -> Result<Engine, PluginError> {
    Engine::new(&code_config()).map_err(|e| PluginError::Engine(e.into()))
}

/// Everything that shapes compiled code. Artifacts record it, and an engine refuses to load
/// one compiled under another.
fn code_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true).consume_fuel(true).memory_init_cow(true);
    config
}

/// Starts the one thread that advances the engine's epoch. It ends on its own once every
/// clone of the engine is dropped, so it never outlives the runtime by more than a tick.
pub(crate) fn start_ticker(engine: &Engine) -> Result<(), PluginError> {
    let weak = engine.weak();
    thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| PluginError::Engine(e.into()))
}
