//! The store's data of one plugin call, shared by the loader (which types its linker and
//! pre-instantiated plugins by it) and the call (which fills it in).

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::cpu::CpuMeter;
use super::limits::MemoryLimiter;
use super::logs::CallLog;
use crate::bindings::{self, Level};
use crate::model::LogLevel;

/// The store's data: everything a guest can reach, which is nothing but its own log.
pub(crate) struct CallState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) log: CallLog,
    pub(super) limiter: MemoryLimiter,
    /// When the running step must end; checked at every epoch tick.
    pub(super) deadline: Instant,
    /// The call's CPU so far: past a few ticks it shares the long runners' turns.
    pub(super) cpu: CpuMeter,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::LogHost for CallState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        Ok(self.log.log(level.into(), message)?)
    }
}

impl bindings::TypesHost for CallState {}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}
