//! One plugin call: a fresh store with an empty WASI context, then instantiate, `extract` and
//! `format` in that one instance, each under the call's time, fuel and memory limits.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::add_to_linker_async;

use super::error::{Hook, PluginError};
use super::limits::{CallLimits, MemoryLimitExceeded, MemoryLimiter};
use super::loaded::LoadedPlugin;
use super::logs::{CallLog, LogBudgetExceeded, Stream};
use super::state::CallState;
use crate::bindings::{self, Context, Header, HttpResponse, Plugin, Variable};
use crate::model::{Button, PluginContext, Reply, UpstreamResponse, Variables};

/// The input of one webhook execution's plugin call.
#[derive(Debug, Clone, Default)]
pub struct PluginCall {
    pub response: UpstreamResponse,
    pub context: PluginContext,
    /// From the webhook's declarative mapping; the plugin's variables are merged over them.
    pub variables: Variables,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOutput {
    /// The plugin's `extract` variables merged over `PluginCall::variables`.
    pub variables: Variables,
    /// `None`: use the webhook's success template.
    pub replies: Option<Vec<Reply>>,
}

/// Wall time of each step; zero for a step that did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginTimings {
    pub instantiate: Duration,
    pub extract: Duration,
    pub format: Duration,
}

/// Raised from the epoch callback when a hook's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("plugin call deadline exceeded")]
struct DeadlineExceeded;

/// WASI (all of p2, granting nothing: see `new_store`) and the world's `host` interface.
pub(crate) fn new_linker(engine: &Engine) -> Result<Linker<CallState>, PluginError> {
    let mut linker = Linker::new(engine);
    add_to_linker_async(&mut linker).map_err(|e| PluginError::Engine(e.into()))?;
    Plugin::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |state| state)
        .map_err(|e| PluginError::Engine(e.into()))?;
    Ok(linker)
}

/// A store whose WASI context has no preopened directory, no environment, no arguments, no
/// sockets and no name lookup; stdin is empty and stdout/stderr go to the call's log.
fn new_store(engine: &Engine, limits: &CallLimits, log: &CallLog) -> Store<CallState> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(log.stream(Stream::Stdout))
        .stderr(log.stream(Stream::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    let state = CallState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        log: log.clone(),
        limiter: MemoryLimiter::new(limits.memory_bytes),
        deadline: Instant::now(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // Every tick the guest yields to the async runtime (so it never holds a worker thread for
    // long) and traps once its deadline has passed.
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            return Err(DeadlineExceeded.into());
        }
        Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
    });
    store
}

/// Gives the next step its own deadline and fuel.
fn arm(store: &mut Store<CallState>, limits: &CallLimits) -> Result<(), PluginError> {
    store.data_mut().deadline = Instant::now() + limits.timeout;
    store.set_epoch_deadline(1);
    store.set_fuel(limits.fuel).map_err(|e| PluginError::Engine(e.into()))
}

/// Runs one step under the timeout. The outer `tokio::time::timeout` is what ends a guest
/// blocked in a host call (a WASI sleep or poll), where no epoch check can reach it: the
/// step's future is dropped and its fiber with it.
async fn bounded<T>(
    hook: Hook,
    limits: &CallLimits,
    log: &CallLog,
    step: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, PluginError> {
    match tokio::time::timeout(limits.timeout, step).await {
        Err(_) => Err(PluginError::Timeout { hook }),
        Ok(Err(error)) => Err(classify(hook, error, log)),
        Ok(Ok(value)) => Ok(value),
    }
}

fn classify(hook: Hook, error: wasmtime::Error, log: &CallLog) -> PluginError {
    if let Some(e) = error.downcast_ref::<LogBudgetExceeded>() {
        return PluginError::LogTooLarge { limit: e.limit };
    }
    if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return PluginError::MemoryLimit { hook };
    }
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        return PluginError::Timeout { hook };
    }
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return PluginError::Busy;
    }
    let trap = error.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel { hook },
        Some(Trap::Interrupt) => PluginError::Timeout { hook },
        Some(trap) => PluginError::Trap {
            hook,
            message: trap.to_string(),
            guest_message: log.panic_message(),
            source: error.into(),
        },
        None if hook == Hook::Instantiate => PluginError::Instantiate(error.into()),
        None => {
            let error = anyhow::Error::from(error);
            PluginError::Trap {
                hook,
                message: error.root_cause().to_string(),
                guest_message: log.panic_message(),
                source: error,
            }
        }
    }
}

pub(crate) async fn call(
    engine: &Engine,
    plugin: &LoadedPlugin,
    call: PluginCall,
    limits: &CallLimits,
    log: &CallLog,
    timings: &mut PluginTimings,
) -> Result<PluginOutput, PluginError> {
    let mut store = new_store(engine, limits, log);
    let instance = instantiate(&mut store, plugin, limits, log, timings).await?;
    hooks(&mut store, &instance, call, limits, log, timings).await
}

async fn instantiate(
    store: &mut Store<CallState>,
    plugin: &LoadedPlugin,
    limits: &CallLimits,
    log: &CallLog,
    timings: &mut PluginTimings,
) -> Result<Plugin, PluginError> {
    let started = Instant::now();
    arm(store, limits)?;
    let instance = bounded(Hook::Instantiate, limits, log, plugin.pre.instantiate_async(&mut *store)).await;
    timings.instantiate = started.elapsed();
    instance
}

/// `extract`, the merge, then `format`, in one instance.
async fn hooks(
    store: &mut Store<CallState>,
    instance: &Plugin,
    call: PluginCall,
    limits: &CallLimits,
    log: &CallLog,
    timings: &mut PluginTimings,
) -> Result<PluginOutput, PluginError> {
    let context = Context {
        project: call.context.project,
        webhook: call.context.webhook,
        send_id: call.context.send_id,
        latest_message: call.context.latest_message,
        plugin_config: call.context.plugin_config,
    };
    let response = HttpResponse {
        status: call.response.status,
        headers: call.response.headers.into_iter().map(|(name, value)| Header { name, value }).collect(),
        body: call.response.body.into(),
    };

    let started = Instant::now();
    arm(store, limits)?;
    let extracted =
        bounded(Hook::Extract, limits, log, instance.call_extract(&mut *store, &response, &context)).await;
    timings.extract = started.elapsed();
    let extracted =
        extracted?.map_err(|e| PluginError::Plugin { hook: Hook::Extract, message: e.message })?;
    check_variables(&extracted, limits)?;

    let mut variables = call.variables;
    variables.extend(extracted.into_iter().map(|v| (v.name, v.value)));
    let list: Vec<Variable> =
        variables.iter().map(|(name, value)| Variable { name: name.clone(), value: value.clone() }).collect();

    let started = Instant::now();
    arm(store, limits)?;
    let formatted =
        bounded(Hook::Format, limits, log, instance.call_format(&mut *store, &list, &context)).await;
    timings.format = started.elapsed();
    let replies = formatted?.map_err(|e| PluginError::Plugin { hook: Hook::Format, message: e.message })?;
    let replies = replies.map(|replies| check_replies(replies, limits)).transpose()?;

    Ok(PluginOutput { variables, replies })
}

/// One instance called again and again, for the benchmark's "reused instance" baseline only:
/// the product never reuses an instance across calls.
#[doc(hidden)]
pub struct ReusedInstance {
    store: Store<CallState>,
    instance: Plugin,
    limits: CallLimits,
    log: CallLog,
}

impl ReusedInstance {
    pub(crate) async fn new(
        engine: &Engine,
        plugin: &LoadedPlugin,
        limits: CallLimits,
    ) -> Result<Self, PluginError> {
        let log = CallLog::new(limits.log_bytes);
        let mut store = new_store(engine, &limits, &log);
        let instance = instantiate(&mut store, plugin, &limits, &log, &mut PluginTimings::default()).await?;
        Ok(Self { store, instance, limits, log })
    }

    pub async fn call(&mut self, call: PluginCall) -> Result<PluginOutput, PluginError> {
        let mut timings = PluginTimings::default();
        let result =
            hooks(&mut self.store, &self.instance, call, &self.limits, &self.log, &mut timings).await;
        self.log.clear();
        result
    }
}

fn check_variables(variables: &[Variable], limits: &CallLimits) -> Result<(), PluginError> {
    let size: usize = variables.iter().map(|v| v.name.len() + v.value.len()).sum();
    if size > limits.output_bytes {
        return Err(PluginError::OutputTooLarge { hook: Hook::Extract, size, limit: limits.output_bytes });
    }
    match variables.iter().find(|v| !is_variable_name(&v.name)) {
        Some(v) => Err(PluginError::BadVariableName { hook: Hook::Extract, name: v.name.clone() }),
        None => Ok(()),
    }
}

/// `[A-Za-z_][A-Za-z0-9_.-]*`, the names templates can reach.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn check_replies(replies: Vec<bindings::Reply>, limits: &CallLimits) -> Result<Vec<Reply>, PluginError> {
    let size: usize = replies
        .iter()
        .map(|r| r.text.len() + r.buttons.iter().map(|b| b.label.len() + b.payload.len()).sum::<usize>())
        .sum();
    if size > limits.output_bytes {
        return Err(PluginError::OutputTooLarge { hook: Hook::Format, size, limit: limits.output_bytes });
    }
    Ok(replies
        .into_iter()
        .map(|r| Reply {
            text: r.text,
            buttons: r.buttons.into_iter().map(|b| Button { label: b.label, payload: b.payload }).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::is_variable_name;

    #[test]
    fn variable_names_follow_the_wit_pattern() {
        for ok in ["reply", "_x", "a.b-c_1", "A"] {
            assert!(is_variable_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a b", "a{b}", "-a", "é"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
