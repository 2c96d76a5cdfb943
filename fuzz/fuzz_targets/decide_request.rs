//! Any bytes as a decide request's body: decoded or refused with a
//! message, and a decoded request built into a plugin input or refused as
//! invalid input. See `rulehost::fuzzing::decide_request`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| rulehost::fuzzing::decide_request(bytes));
