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

pub mod cli;
pub mod decision;
mod durable;
pub mod engine;
mod error;
pub mod fixtures;
pub mod input;
pub mod model;
pub mod pipeline;
pub mod registry;

pub use error::{Error, ErrorBody, ErrorDetail};
