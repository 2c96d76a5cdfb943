//! The one error type of a decision, with the stable codes clients match on.

use serde::Serialize;

/// Why a plugin load or a decision failed. Every variant has a stable
/// [`code`](Error::code); the message is for people and may change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The plugin ran past its wall-clock deadline.
    #[error("{plugin}: ran past its deadline of {deadline_ms} ms")]
    PluginTimeout {
        /// The plugin's name.
        plugin: String,
        /// The deadline that was exceeded.
        deadline_ms: u64,
    },
    /// The plugin used up the decision's instruction budget.
    #[error("{plugin}: used up its budget of {fuel} fuel")]
    PluginOutOfFuel {
        /// The plugin's name.
        plugin: String,
        /// The budget that was exceeded.
        fuel: u64,
    },
    /// The plugin needed more memory than its limit.
    #[error("{plugin}: tried to grow its memory to {wanted} bytes; the limit is {limit} bytes")]
    PluginOutOfMemory {
        /// The plugin's name.
        plugin: String,
        /// The size it asked for.
        wanted: u64,
        /// The limit.
        limit: u64,
    },
    /// The plugin trapped: a panic, `unreachable`, a stack overflow…
    #[error("{plugin}: trapped: {message}")]
    PluginTrap {
        /// The plugin's name.
        plugin: String,
        /// What happened, with the plugin's last words if it logged any.
        message: String,
    },
    /// The plugin returned output the host refuses to apply.
    #[error("{plugin}: invalid output: {message}")]
    PluginInvalidOutput {
        /// The plugin's name.
        plugin: String,
        /// What is wrong with it.
        message: String,
    },
    /// The plugin reported an error of its own.
    #[error("{plugin}: {code}: {message}")]
    PluginError {
        /// The plugin's name.
        plugin: String,
        /// The plugin's code, e.g. `config_missing`.
        code: String,
        /// The plugin's message.
        message: String,
    },
    /// The bytes are not a plugin this host can run.
    #[error("{0}")]
    InvalidPlugin(String),
    /// The request (profile, offers, config, context) is malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// The host is running as many plugin instances as it can; retry later.
    #[error("the host is at capacity: {0}")]
    HostBusy(String),
    /// Something failed in the host itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::PluginTimeout { .. } => "plugin_timeout",
            Error::PluginOutOfFuel { .. } => "plugin_out_of_fuel",
            Error::PluginOutOfMemory { .. } => "plugin_out_of_memory",
            Error::PluginTrap { .. } => "plugin_trap",
            Error::PluginInvalidOutput { .. } => "plugin_invalid_output",
            Error::PluginError { .. } => "plugin_error",
            Error::InvalidPlugin(_) => "invalid_plugin",
            Error::InvalidInput(_) => "invalid_input",
            Error::HostBusy(_) => "host_busy",
            Error::Internal(_) => "internal",
        }
    }

    /// The error as `{"error": {"code": …, "message": …}}`.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        }
    }

    pub(crate) fn invalid_output(plugin: &str, message: impl Into<String>) -> Self {
        Error::PluginInvalidOutput {
            plugin: plugin.to_owned(),
            message: message.into(),
        }
    }
}

/// The JSON shape of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// The stable code.
    pub code: String,
    /// The message for people.
    pub message: String,
}
