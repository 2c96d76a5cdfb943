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

/// The proposals this host compiles (as in `tests/e2e/fuzzing.rs`).
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        reference_types_enabled: false,
        ..wasm_smith::Config::default()
    }
}

fuzz_target!(|bytes: &[u8]| {
    let _ = fuzzing::upload(engine(), bytes);
    let mut input = arbitrary::Unstructured::new(bytes);
    if let Ok(module) = wasm_smith::Module::new(smith_config(), &mut input) {
        let _ = fuzzing::upload(engine(), &fuzzing::with_core_module(plugin(), &module.to_bytes()));
    }
});
