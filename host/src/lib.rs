//! # rulehost
//!
//! Runs each brand's customer tagging, scoring and targeting rules as
//! sandboxed WebAssembly components. Data flows one way:
//! request → [`input`] (the contract's compact form) → [`pipeline`] (plugin
//! stages tag → score → target, on the [`engine`]) → [`decision`].
//!
//! - [`engine`] is the only module that talks to wasmtime;
//! - [`model`] and [`decision`] are the JSON formats clients use;
//! - [`fixtures`] runs plugins against expected outputs (`rulehost test`);
//! - [`cli`] is the `rulehost` command.

pub mod api;
pub mod canary;
pub mod cli;
pub mod client;
pub mod compare;
pub mod compiler;
pub mod decision;
pub mod decision_log;
pub mod demo;
pub mod engine;
mod error;
pub mod fixtures;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod input;
pub mod live;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod registry;
pub mod server;
pub mod shadow;
pub mod simulate;

pub use error::{Defect, Error, ErrorBody, ErrorDetail};
