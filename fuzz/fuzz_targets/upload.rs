//! Any bytes as an upload, and wasm-smith's code inside a real plugin: it
//! loads or is refused as `invalid_plugin`; nothing else may happen. See
//! `rulehost::fuzzing::upload`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rulehost::engine::{Engine, EngineConfig};
use rulehost::fuzzing;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("the engine starts"))
}

fn plugin() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(rulehost_test_artifacts::FIXED_OUTPUT).expect("artifact"))
}

include!("../smith_config.rs");

fuzz_target!(|bytes: &[u8]| {
    let _ = fuzzing::upload(engine(), bytes);
    let mut input = arbitrary::Unstructured::new(bytes);
    if let Ok(module) = wasm_smith::Module::new(smith_config(), &mut input) {
        let _ = fuzzing::upload(engine(), &fuzzing::with_core_module(plugin(), &module.to_bytes()));
    }
});
