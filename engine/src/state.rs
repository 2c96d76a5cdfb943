//! The per-decision store data and the host side of the contract's imports.

use std::sync::Arc;

use serde::Serialize;

use super::contract::{v0_1_0, v0_2_0, v0_3_0};
use super::lanes::{Lane, Turn};
use super::limits::{MemoryLimiter, OutputLimits};
use super::wasi::WasiState;
use rulehost_model::TenantConfig;

/// Severity of a captured log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal.
    Info,
    /// Suspicious.
    Warn,
    /// A failure.
    Error,
}

/// One line a plugin logged during a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// The plugin that wrote it.
    pub plugin: String,
    /// Its severity.
    pub level: LogLevel,
    /// The text, cut at the line limit.
    pub message: String,
}

/// Raised from the `log` import when a plugin writes past the decision's log
/// bound; the call traps and the decision fails as invalid output.
#[derive(Debug, thiserror::Error)]
#[error("logged more than {lines} lines or {bytes} bytes in one decision")]
pub(crate) struct LogFlood {
    pub(crate) lines: usize,
    pub(crate) bytes: usize,
}

/// Everything a decision's store holds.
pub(crate) struct StoreState {
    pub(crate) limiter: MemoryLimiter,
    config: Arc<TenantConfig>,
    pub(crate) output: OutputLimits,
    /// The name of the plugin being called, for log attribution.
    pub(crate) current: Arc<str>,
    pub(crate) logs: Vec<LogLine>,
    log_bytes: usize,
    /// Set up only for plugins that import WASI, and only when first used.
    pub(crate) wasi: Option<WasiState>,
    /// The plugins that used WASI, to attribute captured stdout and stderr.
    pub(crate) wasi_users: Vec<Arc<str>>,
    pub(crate) seed: u64,
    pub(crate) now_ms: i64,
    /// Shares the lane the decision runs on.
    pub(crate) turn: Option<Turn>,
    /// The lane, if the store took it itself; given up when the store is
    /// dropped.
    pub(crate) own_lane: Option<Lane>,
    /// Ticks of the epoch ticker the plugins may still run on their lane
    /// (the deadline, or where the deadline is CPU time, its backstop).
    pub(crate) ticks_left: u64,
    /// The ticker's count when the plugins started, and when last charged.
    pub(crate) started_tick: u64,
    pub(crate) charged_to: u64,
    /// The thread's CPU time when the plugins started, and how much more
    /// they may use (the deadline).
    pub(crate) cpu_started: Option<std::time::Duration>,
    pub(crate) cpu_budget: std::time::Duration,
}

impl Drop for StoreState {
    fn drop(&mut self) {
        // The plugins are done (or failed): the thread leaves the batch class
        // before the rest of the decision, which still holds the lane.
        if let Some(turn) = &self.turn {
            turn.unsettle();
        }
    }
}

impl StoreState {
    pub(crate) fn new(
        memory_bytes: u64,
        config: Arc<TenantConfig>,
        output: OutputLimits,
        seed: u64,
        now_ms: i64,
    ) -> Self {
        Self {
            limiter: MemoryLimiter::new(memory_bytes),
            config,
            output,
            current: Arc::from(""),
            logs: Vec::new(),
            log_bytes: 0,
            wasi: None,
            wasi_users: Vec::new(),
            seed,
            now_ms,
            turn: None,
            own_lane: None,
            ticks_left: u64::MAX,
            started_tick: 0,
            charged_to: 0,
            cpu_started: None,
            cpu_budget: std::time::Duration::ZERO,
        }
    }

    /// Appends a line; fails once the decision's log bound is passed.
    pub(crate) fn push_log(&mut self, level: LogLevel, mut message: String) -> Result<(), LogFlood> {
        let limits = self.output;
        if message.len() > limits.log_line_bytes {
            let mut cut = limits.log_line_bytes;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.logs.len() >= limits.log_lines || self.log_bytes > limits.log_bytes {
            return Err(LogFlood {
                lines: limits.log_lines,
                bytes: limits.log_bytes,
            });
        }
        self.logs.push(LogLine {
            plugin: self.current.to_string(),
            level,
            message,
        });
        Ok(())
    }

    /// The last error-level line the current plugin logged: a Rust plugin's
    /// panic message, logged by the SDK just before it traps.
    pub(crate) fn last_words(&self) -> Option<&str> {
        self.logs
            .iter()
            .rev()
            .find(|l| l.level == LogLevel::Error && *l.plugin == *self.current)
            .map(|l| l.message.as_str())
    }
}

impl StoreState {
    fn config_value(&self, key: &str) -> Option<String> {
        self.config.0.get(key).cloned()
    }
}

/// The host imports of a contract version: the same `log` and `config`
/// for each (their types are the version's own).
macro_rules! host_imports {
    ($contract:ident) => {
        impl $contract::host::Host for StoreState {
            fn log(&mut self, level: $contract::host::Level, message: String) -> wasmtime::Result<()> {
                use $contract::host::Level;
                let level = match level {
                    Level::Trace => LogLevel::Trace,
                    Level::Debug => LogLevel::Debug,
                    Level::Info => LogLevel::Info,
                    Level::Warn => LogLevel::Warn,
                    Level::Error => LogLevel::Error,
                };
                self.push_log(level, message).map_err(wasmtime::Error::new)
            }

            fn config(&mut self, key: String) -> Option<String> {
                self.config_value(&key)
            }
        }
    };
}

host_imports!(v0_1_0);
host_imports!(v0_2_0);
host_imports!(v0_3_0);

impl v0_1_0::types::Host for StoreState {}
