//! Bindings for `rulehost:plugin@0.2.0`: the input, the findings and each
//! stage's answer cross as frames of the binary layout (`rulehost-layout`).

mod generated {
    #![allow(missing_docs, reason = "bindgen-generated code")]

    wasmtime::component::bindgen!({
        path: "../wit/plugin@0.2.0",
        world: "plugin",
        imports: {
            // A plugin that floods the log is stopped with a trap.
            "rulehost:plugin/host.log": trappable,
        },
    });
}

pub use generated::exports::rulehost::plugin::rules;
pub use generated::rulehost::plugin::host;
pub use generated::{Plugin as Bindings, PluginPre as BindingsPre};
