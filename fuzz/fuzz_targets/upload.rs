//! Any bytes as an upload, and wasm-smith's code inside a component: it
//! loads or is refused as `invalid_plugin`; nothing else may happen. See
//! `rulehost::fuzzing::upload`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rulehost::engine::{Engine, EngineConfig};
use rulehost::fuzzing;

/// A component with nothing in it: just the header.
const BARE_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("the engine starts"))
}

include!("../smith_config.rs");

fuzz_target!(|bytes: &[u8]| {
    let _ = fuzzing::upload(engine(), bytes);
    let mut input = arbitrary::Unstructured::new(bytes);
    if let Ok(module) = wasm_smith::Module::new(smith_config(), &mut input) {
        // Inside a bare component rather than a real plugin: the generated
        // code is validated and compiled all the same (and then refused, as
        // no plugin), many times faster than with a plugin's own code
        // compiled around it each run. `tests/e2e/fuzzing.rs` covers the
        // real-plugin case.
        let _ = fuzzing::upload(engine(), &fuzzing::with_core_module(BARE_COMPONENT, &module.to_bytes()));
    }
});
