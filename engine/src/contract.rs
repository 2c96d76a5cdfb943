//! The contract versions this host runs, one bindings module each.
//!
//! Released versions are frozen: when the contract grows, a new module is
//! added beside the old ones, `latest` moves to it, and plugins built against
//! older versions keep running through conversions into `latest` types.

pub mod v0_1_0;

pub use v0_1_0 as latest;

/// Every contract version a plugin may target, oldest first.
pub const SUPPORTED: &[&str] = &["0.1.0"];

/// The name of the exported interface for a contract version.
pub fn rules_export(version: &str) -> String {
    format!("rulehost:plugin/rules@{version}")
}
