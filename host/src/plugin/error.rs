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
    /// Counted with `ITEM_OVERHEAD_BYTES` per item.
    #[error("plugin {hook} output is {size} bytes, over the {limit}-byte limit")]
    OutputTooLarge { hook: Hook, size: usize, limit: usize },
    /// The result was too big for the host even to lift out of the guest (see
    /// `CallLimits::lift_bytes`); its items were never counted.
    #[error("plugin {hook} output is larger than the {limit} bytes the host will copy out")]
    LiftTooLarge { hook: Hook, limit: usize },
    #[error("plugin extract returned {count} variables, over the limit of {limit}")]
    TooManyVariables { count: usize, limit: usize },
    #[error("plugin format returned {count} replies, over the limit of {limit}")]
    TooManyReplies { count: usize, limit: usize },
    /// `reply` is the index of the first reply over the limit.
    #[error("plugin format returned {count} buttons on reply {reply}, over the limit of {limit}")]
    TooManyButtons { reply: usize, count: usize, limit: usize },
    #[error("plugin logs exceeded the {limit}-byte limit")]
    LogTooLarge { limit: usize },
    /// Ends the call at the first line past the limit, so a flood costs no more than that.
    #[error("plugin logged more than {limit} lines")]
    TooManyLogLines { limit: usize },
    /// `name` is shown escaped and cut to a few dozen characters: it is the plugin's text.
    #[error("plugin {hook} returned an invalid variable name {name:?}: {problem}")]
    InvalidVariableName { hook: Hook, name: String, problem: crate::varname::VarNameError },
    /// The plugin's own `plugin-error`: a refusal, not a fault of the host.
    #[error("plugin {hook} failed: {message}")]
    Plugin { hook: Hook, message: String },
    /// The project's share of instance slots is taken, or every slot of the shared pool
    /// stayed taken for the whole call timeout.
    #[error("too many plugin calls at once for this project or this host")]
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
            PluginError::OutputTooLarge { .. } | PluginError::LiftTooLarge { .. } => {
                "plugin_output_too_large"
            }
            PluginError::TooManyVariables { .. } => "plugin_too_many_variables",
            PluginError::TooManyReplies { .. } => "plugin_too_many_replies",
            PluginError::TooManyButtons { .. } => "plugin_too_many_buttons",
            PluginError::LogTooLarge { .. } => "plugin_log_too_large",
            PluginError::TooManyLogLines { .. } => "plugin_too_many_log_lines",
            PluginError::InvalidVariableName { .. } => "plugin_invalid_variable_name",
            PluginError::Plugin { .. } => "plugin_error",
            PluginError::Busy => "busy",
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

    /// A copy of an upload error, to answer again for the same bytes (the optimized compile that
    /// refused them ran after their upload was answered). `None` for any other error.
    pub(crate) fn upload_error_copy(&self) -> Option<PluginError> {
        let message = |error: &anyhow::Error| anyhow::anyhow!("{error:#}");
        Some(match self {
            PluginError::NotWasm => PluginError::NotWasm,
            PluginError::CoreModule => PluginError::CoreModule,
            PluginError::InvalidComponent(error) => PluginError::InvalidComponent(message(error)),
            PluginError::WrongWorld { detail } => PluginError::WrongWorld { detail: detail.clone() },
            PluginError::Compile(error) => PluginError::Compile(message(error)),
            PluginError::Structure { limit, found, max } => {
                PluginError::Structure { limit: *limit, found: *found, max: *max }
            }
            PluginError::CompileTimeout { limit } => PluginError::CompileTimeout { limit: *limit },
            PluginError::CompileMemory { limit } => PluginError::CompileMemory { limit: *limit },
            _ => return None,
        })
    }

    /// The hook a call failed in, when the error belongs to a call.
    pub fn hook(&self) -> Option<Hook> {
        match self {
            PluginError::Trap { hook, .. }
            | PluginError::Timeout { hook }
            | PluginError::OutOfFuel { hook }
            | PluginError::MemoryLimit { hook }
            | PluginError::OutputTooLarge { hook, .. }
            | PluginError::LiftTooLarge { hook, .. }
            | PluginError::InvalidVariableName { hook, .. }
            | PluginError::Plugin { hook, .. } => Some(*hook),
            PluginError::TooManyVariables { .. } => Some(Hook::Extract),
            PluginError::TooManyReplies { .. } | PluginError::TooManyButtons { .. } => Some(Hook::Format),
            _ => None,
        }
    }
}
