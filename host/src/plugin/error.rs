//! What can go wrong loading or calling a plugin, each with a stable code for the API.

use std::fmt;
use std::time::Duration;

use super::structure::StructureLimit;

/// The step of a call that failed: instantiation, then the two hooks in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Instantiate,
    Extract,
    Format,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Instantiate => "instantiate",
            Hook::Extract => "extract",
            Hook::Format => "format",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("not a WebAssembly file")]
    NotWasm,
    #[error("a core module, not a component: build with --target wasm32-wasip2")]
    CoreModule,
    #[error("not a valid WebAssembly component: {0:#}")]
    InvalidComponent(#[source] anyhow::Error),
    /// The component is valid but does not implement `fallback:plugin/plugin`.
    #[error("wrong world: {detail}")]
    WrongWorld { detail: String },
    #[error("the component failed to compile: {0:#}")]
    Compile(#[source] anyhow::Error),
    /// Refused before compiling: the component is larger in some dimension than the operator allows.
    #[error("the component has {found} {limit}, over the limit of {max} ({setting})", setting = limit.setting())]
    Structure { limit: StructureLimit, found: u64, max: u64 },
    #[error("compiling the component took longer than {}s", limit.as_secs_f64())]
    CompileTimeout { limit: Duration },
    #[error("compiling the component needed more than {limit} bytes of memory")]
    CompileMemory { limit: u64 },
    /// The compile worker died or answered nonsense: a fault of the host, not of the upload.
    #[error("the compile worker failed: {0}")]
    CompileWorker(String),
    /// A bug (a panic) while loading: a fault of the host, not of the upload.
    #[error("internal error while loading the plugin: {0}")]
    Internal(String),
    #[error("the plugin runtime could not start: {0:#}")]
    Engine(#[source] anyhow::Error),
    #[error("plugin trapped in {hook}: {}", guest_message.as_deref().unwrap_or(message))]
    Trap {
        hook: Hook,
        /// Wasmtime's description of the trap (e.g. "wasm `unreachable` instruction executed").
        message: String,
        /// The guest's own panic message, taken from what it wrote to stderr before trapping.
        guest_message: Option<String>,
        #[source]
        source: anyhow::Error,
    },
    #[error("plugin {hook} timed out")]
    Timeout { hook: Hook },
    #[error("plugin {hook} ran out of fuel")]
    OutOfFuel { hook: Hook },
    #[error("plugin {hook} exceeded its memory limit")]
    MemoryLimit { hook: Hook },
    #[error("plugin {hook} output is {size} bytes, over the {limit}-byte limit")]
    OutputTooLarge { hook: Hook, size: usize, limit: usize },
    #[error("plugin logs exceeded the {limit}-byte limit")]
    LogTooLarge { limit: usize },
    #[error("plugin {hook} returned an invalid variable name {name:?}")]
    BadVariableName { hook: Hook, name: String },
    /// The plugin's own `plugin-error`: a refusal, not a fault of the host.
    #[error("plugin {hook} failed: {message}")]
    Plugin { hook: Hook, message: String },
    /// Every instance slot stayed taken for the whole call timeout.
    #[error("too many plugin calls at once")]
    Busy,
    /// Instantiation failed for a reason other than a trap or a limit (cause kept).
    #[error("plugin could not be instantiated: {0:#}")]
    Instantiate(#[source] anyhow::Error),
}

impl PluginError {
    /// Stable snake_case code for API errors and traces.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::NotWasm => "not_wasm",
            PluginError::CoreModule => "core_module",
            PluginError::InvalidComponent(_) => "invalid_component",
            PluginError::WrongWorld { .. } => "wrong_world",
            PluginError::Compile(_) => "compile_failed",
            PluginError::Structure { limit, .. } => limit.code(),
            PluginError::CompileTimeout { .. } => "compile_timeout",
            PluginError::CompileMemory { .. } => "compile_memory",
            PluginError::CompileWorker(_) => "compile_worker",
            PluginError::Internal(_) => "internal",
            PluginError::Engine(_) => "plugin_engine",
            PluginError::Trap { .. } => "plugin_trap",
            PluginError::Timeout { .. } => "plugin_timeout",
            PluginError::OutOfFuel { .. } => "plugin_out_of_fuel",
            PluginError::MemoryLimit { .. } => "plugin_memory_limit",
            PluginError::OutputTooLarge { .. } => "plugin_output_too_large",
            PluginError::LogTooLarge { .. } => "plugin_log_too_large",
            PluginError::BadVariableName { .. } => "plugin_bad_variable_name",
            PluginError::Plugin { .. } => "plugin_error",
            PluginError::Busy => "plugin_busy",
            PluginError::Instantiate(_) => "plugin_instantiate",
        }
    }

    /// True when the uploaded bytes themselves are unusable (answer 4xx, store nothing).
    pub fn is_upload_error(&self) -> bool {
        matches!(
            self,
            PluginError::NotWasm
                | PluginError::CoreModule
                | PluginError::InvalidComponent(_)
                | PluginError::WrongWorld { .. }
                | PluginError::Compile(_)
                | PluginError::Structure { .. }
                | PluginError::CompileTimeout { .. }
                | PluginError::CompileMemory { .. }
        )
    }

    /// The hook a call failed in, when the error belongs to a call.
    pub fn hook(&self) -> Option<Hook> {
        match self {
            PluginError::Trap { hook, .. }
            | PluginError::Timeout { hook }
            | PluginError::OutOfFuel { hook }
            | PluginError::MemoryLimit { hook }
            | PluginError::OutputTooLarge { hook, .. }
            | PluginError::BadVariableName { hook, .. }
            | PluginError::Plugin { hook, .. } => Some(*hook),
            _ => None,
        }
    }
}
