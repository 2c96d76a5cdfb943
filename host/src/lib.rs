//! # rulehost
//!
//! Runs each brand's customer tagging, scoring and targeting rules as
//! sandboxed WebAssembly components. Data flows one way:
//! request → [`input`] (the contract's compact form) → [`pipeline`] (plugin
//! stages tag → score → target, on the [`engine`]) → [`decision`] →
//! [`policy`] (what is really sent).
//!
//! - [`engine`] (the `rulehost-engine` crate, re-exported with its
//!   [`input`], [`pipeline`], [`decision`] and [`compiler`]) is the only
//!   place that talks to wasmtime;
//! - [`registry`] (the `rulehost-store` crate) is where everything is kept;
//! - [`model`] and [`decision`] are the JSON formats clients use;
//! - [`fixtures`] runs plugins against expected outputs (`rulehost test`);
//! - [`cli`] is the `rulehost` command.

pub mod api;
pub mod canary;
pub mod cli;
pub mod client;
pub mod compare;
pub mod console;
pub mod decision_log;
pub mod demo;
pub mod fixtures;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod live;
pub mod metrics;
pub mod model;
pub mod moments;
pub mod policy;
pub mod registry;
pub mod request;
pub mod server;
pub mod shadow;
pub mod simulate;

pub use rulehost_engine as engine;
pub use rulehost_engine::{Defect, Error, ErrorBody, ErrorDetail, compiler, decision, input, pipeline};
