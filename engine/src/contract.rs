//! The contract versions this host runs, one bindings module each.
//!
//! Released versions are frozen: when the contract grows, a new module is
//! added beside the old ones and plugins built against older versions keep
//! running. The pipeline speaks the newest version's frames
//! (`rulehost-layout`); [`v0_1_0`] converts them into and out of the
//! records of 0.1.0 for plugins built against it.

pub mod v0_1_0;
pub mod v0_2_0;
pub mod v0_3_0;

/// Every contract version a plugin may target, oldest first.
pub const SUPPORTED: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// The name of the exported interface for a contract version.
pub fn rules_export(version: &str) -> String {
    format!("rulehost:plugin/rules@{version}")
}
