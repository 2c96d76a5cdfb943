//! Paths of the example and hostile plugins, compiled into components by
//! this crate's build script. Every test that needs a plugin uses these:
//! no test runs a mock in place of a real compiled plugin.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// Where the fixtures of the example plugins live.
pub const PLUGINS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins");
