//! Paths of the example and hostile plugins, compiled into components by
//! this crate's build script. Every test that needs a plugin uses these:
//! no test runs a mock in place of a real compiled plugin.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// Where the fixtures of the example plugins live.
pub const PLUGINS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins");

/// `plugins/coffee-chain` 0.1.0 as the contract v0.1.0 SDK built it, kept
/// as it was: hosts must go on running plugins nobody rebuilds (see
/// `frozen/README.md`).
pub const FROZEN_COFFEE_CHAIN_V0_1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/frozen/coffee-chain-0.1.0-contract-0.1.0.wasm"
);

/// `plugins/coffee-chain` 0.1.0 as the contract v0.2.0 SDK built it (the
/// input, findings and answers as frames, no wake-ups), kept as it was.
pub const FROZEN_COFFEE_CHAIN_V0_2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/frozen/coffee-chain-0.1.0-contract-0.2.0.wasm"
);
