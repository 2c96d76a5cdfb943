//! Bindings for `rulehost:plugin@0.3.0`: 0.2.0's frames, whose answers
//! may also ask for wake-ups (`rulehost-layout`'s sixth answer section).

mod generated {
    #![allow(missing_docs, reason = "bindgen-generated code")]

    wasmtime::component::bindgen!({
        path: "../wit/plugin@0.3.0",
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
