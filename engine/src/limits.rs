//! What one decision may use, and the limiter that enforces its memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

/// Per-decision resource limits; each tenant may have its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory all of a decision's plugin instances may use together.
    pub memory_bytes: u64,
    /// Deadline of the whole decision, in milliseconds: the CPU time its
    /// plugins may use (see `engine::lanes`).
    pub deadline_ms: u64,
    /// Instruction budget (wasmtime fuel) for the whole decision.
    pub fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            deadline_ms: 50,
            fuel: 50_000_000,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}

/// Bounds on what a plugin may return and log in one decision. Output past
/// these bounds is `plugin_invalid_output`, never applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes a plugin may hand the host in one call (wasmtime's hostcall
    /// fuel): bounds what the host allocates for a hostile answer before any
    /// other check runs.
    pub call_bytes: usize,
    /// Tags per plugin.
    pub tags: usize,
    /// Scores per plugin.
    pub scores: usize,
    /// Proposals per plugin.
    pub proposals: usize,
    /// Bytes of a group, name, rule id, offer id or channel.
    pub name_bytes: usize,
    /// Bytes of a reason or a plugin error message.
    pub reason_bytes: usize,
    /// Log lines per decision.
    pub log_lines: usize,
    /// Log bytes per decision.
    pub log_bytes: usize,
    /// Bytes kept of one log line (longer lines are cut, not refused).
    pub log_line_bytes: usize,
    /// Bytes kept of a WASI plugin's stdout and of its stderr.
    pub stdio_bytes: usize,
    /// Wake-ups per answer (contract 0.3.0).
    pub wakes: usize,
    /// How soon after the decision a wake-up may be, at least, in
    /// milliseconds: a plugin cannot wake itself in a loop.
    pub wake_min_lead_ms: i64,
    /// How far ahead of the decision a wake-up may be, at most, in days.
    pub wake_max_days: i64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            call_bytes: 1 << 20,
            tags: 256,
            scores: 64,
            proposals: 64,
            name_bytes: rulehost_layout::NAME_BYTES,
            reason_bytes: 1024,
            log_lines: 256,
            log_bytes: 64 << 10,
            log_line_bytes: 4 << 10,
            stdio_bytes: 16 << 10,
            wakes: 8,
            wake_min_lead_ms: 60_000,
            wake_max_days: 400,
        }
    }
}

/// Caps the total linear memory of a decision's instances and remembers a
/// refused growth, so the trap that usually follows (an allocation failure
/// aborts the guest) is reported as out-of-memory rather than a plain trap.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    used: usize,
    /// The total a refused growth asked for.
    pub(crate) refused: Option<usize>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            used: 0,
            refused: None,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The bytes of linear memory the store's instances hold (their peak:
    /// a wasm memory never shrinks).
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.refused = Some(total);
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a plugin needs a few hundred.
        Ok(desired <= 100_000)
    }
}
