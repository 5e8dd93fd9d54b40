//! Per-call limits and the memory limiter that enforces one of them inside a store.

use std::time::Duration;

use wasmtime::ResourceLimiter;

use crate::config::Limits;

/// What every returned item costs on top of its text, against the output and log byte limits:
/// a variable is name + value + this, a reply text + this, a button label + payload + this, a log
/// line message + this. Without it a flood of empty items would cost nothing, yet each one costs
/// the host an allocation, a JSON object in the console and a turn in the conversation.
pub const ITEM_OVERHEAD_BYTES: usize = 16;

/// What one plugin call may use. The runtime clamps these to its own maximums, so a webhook
/// can lower a limit but never raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Linear memory per instance, all memories together.
    pub memory_bytes: usize,
    /// Wall time for instantiation and for each hook.
    pub timeout: Duration,
    /// Fuel for instantiation and for each hook.
    pub fuel: u64,
    /// Bytes of variables (names and values) from `extract`, and of replies from `format`, each
    /// item counted with `ITEM_OVERHEAD_BYTES`.
    pub output_bytes: usize,
    /// Bytes of log lines, stdout and stderr together, for the whole call, each line counted
    /// with `ITEM_OVERHEAD_BYTES`.
    pub log_bytes: usize,
    /// Variables `extract` may return.
    pub max_variables: usize,
    /// Replies `format` may return.
    pub max_replies: usize,
    /// Buttons on one reply.
    pub max_buttons: usize,
    /// Log lines (`host.log` calls, stdout and stderr lines) for the whole call.
    pub max_log_lines: usize,
}

impl CallLimits {
    pub fn from_config(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.plugin_memory_bytes,
            timeout: limits.plugin_call_timeout,
            fuel: limits.plugin_fuel,
            output_bytes: limits.plugin_output_bytes,
            log_bytes: limits.plugin_log_bytes,
            max_variables: limits.plugin_max_variables,
            max_replies: limits.plugin_max_replies,
            max_buttons: limits.plugin_max_buttons,
            max_log_lines: limits.plugin_max_log_lines,
        }
    }

    /// Each limit lowered to `max`'s where it is higher.
    pub fn clamp_to(&self, max: &CallLimits) -> Self {
        Self {
            memory_bytes: self.memory_bytes.min(max.memory_bytes),
            timeout: self.timeout.min(max.timeout),
            fuel: self.fuel.min(max.fuel),
            output_bytes: self.output_bytes.min(max.output_bytes),
            log_bytes: self.log_bytes.min(max.log_bytes),
            max_variables: self.max_variables.min(max.max_variables),
            max_replies: self.max_replies.min(max.max_replies),
            max_buttons: self.max_buttons.min(max.max_buttons),
            max_log_lines: self.max_log_lines.min(max.max_log_lines),
        }
    }

    /// The most host memory that lifting one value out of the guest may take (wasmtime's
    /// "hostcall fuel": bytes of host-side list elements plus string bytes), for a hook's result,
    /// a `host.log` message or a stdout write alike.
    ///
    /// The guest's memory limit already bounds a returned list (a `reply` is 16 bytes in guest
    /// memory and 48 on the host, so 64 MiB of guest memory could ask for 192 MiB here); this
    /// bound is a quarter of that memory limit, and never less than a valid result needs. Lists
    /// within it are lifted and then counted (each overrun gets its own error); beyond it the
    /// lift itself fails, before the host allocates, and the call ends as `OutputTooLarge`.
    pub fn lift_bytes(&self) -> usize {
        use crate::bindings::{Button, Reply, Variable};
        let variables = self.max_variables.saturating_mul(size_of::<Variable>());
        let buttons = self.max_buttons.saturating_mul(size_of::<Button>());
        let replies = self.max_replies.saturating_mul(size_of::<Reply>().saturating_add(buttons));
        // Slack for the result wrapper and for one stdout write (`logs::WRITE_PERMIT`).
        const SLACK: usize = 64 * 1024;
        let valid = self
            .output_bytes
            .max(self.log_bytes)
            .saturating_add(variables.max(replies))
            .saturating_add(SLACK);
        valid.max(self.memory_bytes / 4)
    }
}

impl Default for CallLimits {
    fn default() -> Self {
        Self::from_config(&Limits::default())
    }
}

/// Raised as a trap when the guest grows memory past its limit, so that case surfaces as
/// `PluginError::MemoryLimit` rather than as whatever the guest's allocator does on failure.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded")]
pub(crate) struct MemoryLimitExceeded {
    pub limit: usize,
}

/// Counts linear memory across every memory of the store against one budget.
pub(crate) struct MemoryLimiter {
    limit: usize,
    used: usize,
}

impl MemoryLimiter {
    pub fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }
}

/// Tables are bounded by the pooling allocator's slots; this only stops runaway growth.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used - current.min(self.used) + desired;
        if used > self.limit {
            return Err(MemoryLimitExceeded { limit: self.limit }.into());
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamping_lowers_but_never_raises() {
        let max = CallLimits::default();
        let lower = CallLimits { timeout: Duration::from_millis(10), ..max };
        assert_eq!(lower.clamp_to(&max).timeout, Duration::from_millis(10));
        let higher = CallLimits { memory_bytes: max.memory_bytes * 2, ..max };
        assert_eq!(higher.clamp_to(&max).memory_bytes, max.memory_bytes);
    }

    #[test]
    fn memory_is_counted_across_memories() {
        let mut limiter = MemoryLimiter::new(10 * 65536);
        assert!(limiter.memory_growing(0, 6 * 65536, None).expect("within budget"));
        assert!(limiter.memory_growing(0, 4 * 65536, None).expect("within budget"));
        assert!(limiter.memory_growing(4 * 65536, 5 * 65536, None).is_err());
    }
}
