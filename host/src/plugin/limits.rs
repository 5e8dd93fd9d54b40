//! Per-call limits and the memory limiter that enforces one of them inside a store.

use std::time::Duration;

use wasmtime::ResourceLimiter;

use crate::config::Limits;

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
    /// Bytes of variables (names and values) from `extract`, and of replies from `format`.
    pub output_bytes: usize,
    /// Bytes of log lines, stdout and stderr together, for the whole call.
    pub log_bytes: usize,
}

impl CallLimits {
    pub fn from_config(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.plugin_memory_bytes,
            timeout: limits.plugin_call_timeout,
            fuel: limits.plugin_fuel,
            output_bytes: limits.plugin_output_bytes,
            log_bytes: limits.plugin_log_bytes,
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
        }
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
