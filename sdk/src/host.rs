//! The two things the host offers a plugin: a log and the tenant's config.
//!
//! Inside the sandbox these are the contract's imports. Compiled natively
//! (unit tests, the host's native benchmark) they read a per-thread stand-in
//! that [`native`](crate::native) fills, so the same plugin code runs in both.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong but the decision goes on.
    Warn,
    /// Something failed.
    Error,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::rulehost::plugin::host as imports;

    pub(crate) fn config(key: &str) -> Option<String> {
        imports::config(key)
    }

    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => imports::Level::Trace,
            Level::Debug => imports::Level::Debug,
            Level::Info => imports::Level::Info,
            Level::Warn => imports::Level::Warn,
            Level::Error => imports::Level::Error,
        };
        imports::log(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        pub(crate) static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
        pub(crate) static LOG: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn config(key: &str) -> Option<String> {
        CONFIG.with(|c| c.borrow().get(key).cloned())
    }

    pub(crate) fn log(level: Level, message: &str) {
        LOG.with(|l| l.borrow_mut().push((level, message.to_owned())));
    }
}

pub(crate) use imp::*;
