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
    #[error("{message}")]
    InvalidPlugin {
        /// Which check it failed.
        defect: Defect,
        /// What is wrong, for people.
        message: String,
    },
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

impl From<rulehost_model::InvalidInput> for Error {
    fn from(e: rulehost_model::InvalidInput) -> Self {
        Error::InvalidInput(e.0)
    }
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
            Error::InvalidPlugin { .. } => "invalid_plugin",
            Error::InvalidInput(_) => "invalid_input",
            Error::HostBusy(_) => "host_busy",
            Error::Internal(_) => "internal",
        }
    }

    /// The specific check an invalid plugin failed, e.g. `core_module`.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Error::InvalidPlugin { defect, .. } => Some(defect.as_str()),
            _ => None,
        }
    }

    /// The error as `{"error": {"code": …, "reason"?: …, "message": …}}`.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                reason: self.reason().map(str::to_owned),
                message: self.to_string(),
            },
        }
    }

    /// An `invalid_plugin` error for `defect`.
    pub fn invalid_plugin(defect: Defect, message: impl Into<String>) -> Self {
        Error::InvalidPlugin {
            defect,
            message: message.into(),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// The stable code.
    pub code: String,
    /// For `invalid_plugin`: the specific check that failed (a stable code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message for people.
    pub message: String,
}

/// Why a plugin was refused. Each has a stable code (the `reason` of an
/// `invalid_plugin` error) and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Larger than the size limit.
    TooLarge,
    /// Not WebAssembly at all.
    NotWasm,
    /// A core module, not a component.
    CoreModule,
    /// A precompiled host artifact (an ELF file).
    Precompiled,
    /// Truncated, malformed or failing validation.
    Malformed,
    /// Targets a contract version this host does not support.
    UnsupportedContract,
    /// Does not export the contract's `rules` interface, or not all of it.
    WrongWorld,
    /// Imports an interface the host does not provide.
    UnknownImport,
    /// Its imports do not match what the host provides.
    LinkFailed,
    /// Compiling it took longer than the limit.
    CompileTimeout,
}

impl Defect {
    /// The stable code, e.g. `core_module`.
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::TooLarge => "too_large",
            Defect::NotWasm => "not_wasm",
            Defect::CoreModule => "core_module",
            Defect::Precompiled => "precompiled_artifact",
            Defect::Malformed => "malformed",
            Defect::UnsupportedContract => "unsupported_contract",
            Defect::WrongWorld => "wrong_world",
            Defect::UnknownImport => "unknown_import",
            Defect::LinkFailed => "link_failed",
            Defect::CompileTimeout => "compile_timeout",
        }
    }

    /// The HTTP status an upload refused for this reason gets: 413 when too
    /// large, 400 when the bytes are not a component at all, 422 when they
    /// are a component this host cannot run.
    pub fn status(self) -> u16 {
        match self {
            Defect::TooLarge => 413,
            Defect::NotWasm | Defect::CoreModule | Defect::Precompiled | Defect::Malformed => 400,
            Defect::UnsupportedContract
            | Defect::WrongWorld
            | Defect::UnknownImport
            | Defect::LinkFailed
            | Defect::CompileTimeout => 422,
        }
    }
}
