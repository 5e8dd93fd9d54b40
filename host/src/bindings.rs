//! The host side of the plugin contract (`wit/plugin.wit`): the crate's only `bindgen!`.
//!
//! Generated names stay in a private module; the rest of the crate reaches them through the
//! re-exports below, so a change of WIT or of wasmtime's generator touches this file only.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "fallback:plugin/plugin",
        // `log` may end the call (past the log budget), so it returns `wasmtime::Result`.
        imports: { default: trappable },
        // Exports are awaited so a guest blocked in a WASI poll can be abandoned at its timeout.
        exports: { default: async },
    });
}

pub use generated::fallback::plugin::host::{Host as LogHost, Level};
pub use generated::fallback::plugin::types::{
    Button, Context, Header, Host as TypesHost, HttpResponse, PluginError as GuestError, Reply, Variable,
};
pub use generated::{Plugin, PluginPre};
