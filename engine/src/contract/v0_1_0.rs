//! Bindings for `rulehost:plugin@0.1.0`.

mod generated {
    #![allow(missing_docs, reason = "bindgen-generated code")]

    wasmtime::component::bindgen!({
        path: "../wit/plugin@0.1.0",
        world: "plugin",
        imports: {
            // A plugin that floods the log is stopped with a trap.
            "rulehost:plugin/host.log": trappable,
        },
    });
}

pub use generated::exports::rulehost::plugin::rules;
pub use generated::rulehost::plugin::host;
pub use generated::rulehost::plugin::types;
pub use generated::{Plugin as Bindings, PluginPre as BindingsPre};
