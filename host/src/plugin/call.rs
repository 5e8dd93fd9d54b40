//! One plugin call: a fresh store with an empty WASI context, then instantiate, `extract` and
//! `format` in that one instance, each under the call's time, fuel and memory limits.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::add_to_linker_async;

use super::cpu::CpuMeter;
use super::error::{Hook, PluginError};
use super::limits::{CallLimits, ITEM_OVERHEAD_BYTES, MemoryLimitExceeded, MemoryLimiter};
use super::loaded::LoadedPlugin;
use super::logs::{CallLog, LogBudgetExceeded, Stream};
use super::state::CallState;
use crate::bindings::{self, Context, Header, HttpResponse, Plugin, Variable};
use crate::model::{Button, PluginContext, Reply, UpstreamResponse, Variables};
use crate::varname::VarName;

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

/// Fuel a guest runs between yields to the async runtime, besides its yields at epoch ticks: it
/// bounds the first slice of a call, which runs on the caller's (higher-priority) thread until
/// it yields (see `executor`), to a few hundred thousand instructions of guest code rather than
/// up to a whole tick. A json-reply step needs far less, so a typical call never yields. A long
/// runner pays one fiber switch (about a microsecond) per interval: every ~10 µs in the tightest
/// loop, every ~0.1 ms in ordinary code. (Turning these yields off at the first tick is not
/// possible: compiled code keeps its fuel in a register across the epoch callback.)
pub(crate) const INLINE_FUEL: u64 = 200_000;

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
fn new_store(
    engine: &Engine,
    limits: &CallLimits,
    log: &CallLog,
    cpu: CpuMeter,
) -> Result<Store<CallState>, PluginError> {
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
        cpu,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // Bounds what the host allocates lifting any one value out of the guest (a hook's result, a
    // log message, a stdout write) before any of our checks can run.
    store.set_hostcall_fuel(limits.lift_bytes());
    // Every tick the guest yields to the async runtime (so it never holds a worker thread for
    // long; a long runner also waits for its turn) and traps once its deadline has passed.
    store.epoch_deadline_callback(|mut ctx| {
        if Instant::now() >= ctx.data().deadline {
            return Err(DeadlineExceeded.into());
        }
        Ok(UpdateDeadline::YieldCustom(1, ctx.data_mut().cpu.on_tick()))
    });
    store.fuel_async_yield_interval(Some(INLINE_FUEL)).map_err(|e| PluginError::Engine(e.into()))?;
    Ok(store)
}

/// Gives the next step its own deadline and fuel. Answers when the step starts, for its timing.
fn arm(store: &mut Store<CallState>, limits: &CallLimits) -> Result<Instant, PluginError> {
    let started = Instant::now();
    store.data_mut().deadline = started + limits.timeout;
    store.set_epoch_deadline(1);
    store.set_fuel(limits.fuel).map_err(|e| PluginError::Engine(e.into()))?;
    Ok(started)
}

/// Runs one step until the deadline `arm` gave it. The epoch callback ends a guest computing
/// past it; this timer ends one blocked in a host call (a WASI sleep or poll), where no epoch
/// check can reach it: the step's future is dropped and its fiber with it. The timer is armed
/// only once the step first waits, so a step done in its first poll (nearly all of them) costs
/// no timer registration.
async fn bounded<T>(
    hook: Hook,
    store_deadline: Instant,
    limits: &CallLimits,
    log: &CallLog,
    step: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, PluginError> {
    let mut step = pin!(step);
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(result) = step.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(store_deadline.into())));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await;
    match outcome {
        None => Err(PluginError::Timeout { hook }),
        Some(Err(error)) => Err(classify(hook, error, log, limits.lift_bytes())),
        Some(Ok(value)) => Ok(value),
    }
}

/// Wasmtime's refusal to lift more than the store's hostcall fuel. Its error type is private, so
/// it is known by its message; `tests/tests/plugin_output.rs` fails if a wasmtime upgrade changes it.
fn is_lift_refused(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| cause.to_string().contains("fuel allocated for hostcalls has been exhausted"))
}

fn classify(hook: Hook, error: wasmtime::Error, log: &CallLog, lift_limit: usize) -> PluginError {
    match error.downcast_ref::<LogBudgetExceeded>() {
        Some(LogBudgetExceeded::Bytes { limit }) => return PluginError::LogTooLarge { limit: *limit },
        Some(LogBudgetExceeded::Lines { limit }) => return PluginError::TooManyLogLines { limit: *limit },
        None => {}
    }
    if is_lift_refused(&error) {
        return PluginError::LiftTooLarge { hook, limit: lift_limit };
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
    cpu: CpuMeter,
    timings: &mut PluginTimings,
) -> Result<PluginOutput, PluginError> {
    let mut store = new_store(engine, limits, log, cpu)?;
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
    let started = arm(store, limits)?;
    let deadline = store.data().deadline;
    let instance =
        bounded(Hook::Instantiate, deadline, limits, log, plugin.pre.instantiate_async(&mut *store)).await;
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

    let started = arm(store, limits)?;
    let deadline = store.data().deadline;
    let extracted = bounded(
        Hook::Extract,
        deadline,
        limits,
        log,
        instance.call_extract(&mut *store, &response, &context),
    )
    .await;
    timings.extract = started.elapsed();
    let extracted =
        extracted?.map_err(|e| PluginError::Plugin { hook: Hook::Extract, message: e.message })?;
    check_variables(&extracted, limits)?;

    let mut variables = call.variables;
    variables.extend(extracted.into_iter().map(|v| (v.name, v.value)));
    let list: Vec<Variable> =
        variables.iter().map(|(name, value)| Variable { name: name.clone(), value: value.clone() }).collect();

    let started = arm(store, limits)?;
    let deadline = store.data().deadline;
    let formatted =
        bounded(Hook::Format, deadline, limits, log, instance.call_format(&mut *store, &list, &context))
            .await;
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
        let log = CallLog::new(limits.log_bytes, limits.max_log_lines);
        let mut store = new_store(engine, &limits, &log, CpuMeter::unmetered())?;
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

/// The count first (no walk needed), then every name, then the bytes with each item's overhead.
fn check_variables(variables: &[Variable], limits: &CallLimits) -> Result<(), PluginError> {
    if variables.len() > limits.max_variables {
        return Err(PluginError::TooManyVariables { count: variables.len(), limit: limits.max_variables });
    }
    for variable in variables {
        if let Err(problem) = VarName::parse(&variable.name) {
            return Err(PluginError::InvalidVariableName {
                hook: Hook::Extract,
                name: clip(&variable.name, NAME_SHOWN_CHARS),
                problem,
            });
        }
    }
    let size = variables.iter().map(|v| v.name.len() + v.value.len() + ITEM_OVERHEAD_BYTES).sum();
    if size > limits.output_bytes {
        return Err(PluginError::OutputTooLarge { hook: Hook::Extract, size, limit: limits.output_bytes });
    }
    Ok(())
}

/// How much of an invalid name an error repeats: enough to find it, not a plugin's 64 KiB.
const NAME_SHOWN_CHARS: usize = 80;

fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Counts (replies, then buttons per reply) before bytes, each item with its overhead.
fn check_replies(replies: Vec<bindings::Reply>, limits: &CallLimits) -> Result<Vec<Reply>, PluginError> {
    if replies.len() > limits.max_replies {
        return Err(PluginError::TooManyReplies { count: replies.len(), limit: limits.max_replies });
    }
    if let Some((reply, r)) = replies.iter().enumerate().find(|(_, r)| r.buttons.len() > limits.max_buttons) {
        return Err(PluginError::TooManyButtons { reply, count: r.buttons.len(), limit: limits.max_buttons });
    }
    let size: usize = replies
        .iter()
        .map(|r| {
            let buttons: usize =
                r.buttons.iter().map(|b| b.label.len() + b.payload.len() + ITEM_OVERHEAD_BYTES).sum();
            r.text.len() + ITEM_OVERHEAD_BYTES + buttons
        })
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
    use super::*;

    fn variables(n: usize, name: &str, value: &str) -> Vec<Variable> {
        (0..n).map(|_| Variable { name: name.into(), value: value.into() }).collect()
    }

    fn replies(n: usize, buttons: usize) -> Vec<bindings::Reply> {
        let button = bindings::Button { label: String::new(), payload: String::new() };
        (0..n)
            .map(|_| bindings::Reply { text: String::new(), buttons: vec![button.clone(); buttons] })
            .collect()
    }

    #[test]
    fn variables_are_counted_named_and_sized_with_their_overhead() {
        let limits = CallLimits::default();
        let error = check_variables(&variables(257, "a", ""), &limits).expect_err("too many");
        assert_eq!(error.code(), "plugin_too_many_variables");
        assert!(check_variables(&variables(256, "a", ""), &limits).is_ok());
        let error = check_variables(&variables(1, "a.b", ""), &limits).expect_err("bad name");
        assert_eq!(error.code(), "plugin_invalid_variable_name");
        let error = check_variables(&variables(1, &"x".repeat(10_000), ""), &limits).expect_err("long name");
        assert!(error.to_string().len() < 300, "{error}");
        let tight = CallLimits { output_bytes: 2 * (1 + ITEM_OVERHEAD_BYTES), ..limits };
        assert!(check_variables(&variables(2, "a", ""), &tight).is_ok());
        let error = check_variables(&variables(3, "a", ""), &tight).expect_err("overhead counts");
        assert_eq!(error.code(), "plugin_output_too_large");
    }

    #[test]
    fn replies_and_buttons_are_counted_and_sized_with_their_overhead() {
        let limits = CallLimits::default();
        assert_eq!(check_replies(replies(11, 0), &limits).expect_err("").code(), "plugin_too_many_replies");
        assert_eq!(check_replies(replies(1, 11), &limits).expect_err("").code(), "plugin_too_many_buttons");
        assert_eq!(check_replies(replies(10, 10), &limits).expect("at the limits").len(), 10);
        let tight = CallLimits { output_bytes: 3 * ITEM_OVERHEAD_BYTES, ..limits };
        assert!(check_replies(replies(1, 2), &tight).is_ok());
        assert_eq!(check_replies(replies(1, 3), &tight).expect_err("").code(), "plugin_output_too_large");
    }

    #[test]
    fn a_valid_result_always_fits_the_lift_bound() {
        let limits = CallLimits::default();
        let replies = limits.max_replies
            * (size_of::<bindings::Reply>() + limits.max_buttons * size_of::<bindings::Button>());
        assert!(limits.lift_bytes() > limits.output_bytes + replies);
        let small = CallLimits { memory_bytes: 1 << 20, ..limits };
        assert!(small.lift_bytes() > small.output_bytes + replies);
    }
}
