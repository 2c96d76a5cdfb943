//! The fuzz targets' checks (`rulehost::fuzzing`, run for longer by
//! `scripts/fuzz` under cargo-fuzz) on generated input, briefly, in CI.

use std::sync::OnceLock;

use proptest::prelude::*;
use rulehost::fuzzing;
use rulehost_test_artifacts::FIXED_OUTPUT;
use serde_json::{Value, json};

use crate::properties::{any_json, mutate};
use crate::{COFFEE_PROFILE, NOW, engine};

fn decide_request() -> Value {
    json!({"profile": serde_json::from_str::<Value>(COFFEE_PROFILE).expect("json"), "now": NOW,
           "trigger": {"kind": "visit", "at": NOW}, "seed": 7, "mode": "simulate"})
}

include!("../../fuzz/smith_config.rs");

fn plugin() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(FIXED_OUTPUT).expect("artifact"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_decode_as_a_decide_request_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::decide_request(&bytes);
    }

    #[test]
    fn a_decide_request_with_any_value_anywhere_builds_or_is_refused(
        at in prop::collection::vec(any::<usize>(), 0..5),
        value in any_json(),
    ) {
        let mut request = decide_request();
        mutate(&mut request, &at, value);
        fuzzing::decide_request(request.to_string().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_uploaded_load_or_are_refused_as_invalid_plugins(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = fuzzing::upload(engine(), &bytes);
        // The same bytes behind a component header reach the parser.
        let mut framed = b"\0asm\x0d\0\x01\0".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = fuzzing::upload(engine(), &framed);
    }
}

#[test]
fn generated_code_inside_a_real_plugin_compiles_or_is_refused() {
    // Deterministic seeds, so a failure names its input.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..40 {
        let seed: Vec<u8> = (0..1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut input = arbitrary::Unstructured::new(&seed);
        let module = wasm_smith::Module::new(smith_config(), &mut input).expect("a module");
        let bytes = fuzzing::with_core_module(plugin(), &module.to_bytes());
        match fuzzing::upload(engine(), &bytes) {
            Ok(()) => loaded += 1,
            Err(reason) => {
                if refused == 0 {
                    eprintln!("first refusal: {reason}");
                }
                refused += 1
            }
        }
    }
    eprintln!("generated modules inside a plugin: {loaded} compiled, {refused} refused");
    assert!(loaded > 0, "no generated module reached the compiler and passed");
}
