//! Running a plugin natively, outside the sandbox.
//!
//! The same [`Session`] the guest runs, with the host's `config` and `log`
//! imports replaced by a per-thread map and buffer. Plugin authors use it in
//! unit tests; the host's benchmark uses it to compare native and wasm runs
//! of the same crate.
//!
//! ```
//! use rulehost_sdk::native::{self, Session};
//! use rulehost_sdk::testing::TestInput;
//! use rulehost_sdk::{Ctx, Error, Level, Plugin, Profile, Tag};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
//!         let greeting: String = ctx.config().required("greeting")?;
//!         ctx.log(Level::Info, format!("{greeting}, {}", profile.customer_id()));
//!         Ok(vec![Tag::new("demo", "greeted").rule("hello").reason(greeting)])
//!     }
//! }
//!
//! native::set_config([("greeting", "hi")]);
//! let (ctx, input) = TestInput::at("2026-03-07T10:00:00Z").customer("c-1").into_wire();
//! let tags = Session::<Hello>::new(ctx, input).tag().unwrap();
//! assert_eq!(tags[0].reason, "hi");
//! assert_eq!(native::take_logs(), vec![(Level::Info, "hi, c-1".to_owned())]);
//! ```

use crate::host::Level;
#[cfg(not(target_arch = "wasm32"))]
use crate::host::{CONFIG, LOG};

/// The contract's raw types (`rulehost:plugin/types@0.1.0`).
pub use crate::bindings::rulehost::plugin::types as wire;
pub use crate::session::Session;

/// Replaces this thread's stand-in for the tenant config.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_config<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) {
    let map = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    CONFIG.with(|c| *c.borrow_mut() = map);
}

/// Takes the lines logged on this thread so far.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_logs() -> Vec<(Level, String)> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Inside the sandbox the host owns config; this does nothing there.
#[cfg(target_arch = "wasm32")]
pub fn set_config<K: Into<String>, V: Into<String>>(_pairs: impl IntoIterator<Item = (K, V)>) {}

/// Inside the sandbox the host owns the log; this is always empty there.
#[cfg(target_arch = "wasm32")]
pub fn take_logs() -> Vec<(Level, String)> {
    Vec::new()
}
