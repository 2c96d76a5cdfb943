//! # rulehost-sdk
//!
//! Write a brand's customer tagging, scoring and targeting rules as a
//! rulehost plugin: implement [`Plugin`], call [`export!`], and build the
//! crate with `rulehost build`. The result is a sandboxed WebAssembly
//! component the host runs per decision, with no clock, randomness,
//! filesystem or network: everything a rule may depend on arrives in the
//! [`Ctx`], the [`Profile`] and the [`Offers`].
//!
//! ```
//! use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};
//!
//! #[derive(Default)]
//! struct MyBrand;
//!
//! impl Plugin for MyBrand {
//!     fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
//!         let min: u32 = ctx.config().or("mybrand.regular_min_purchases", 3)?;
//!         let purchases = profile.events_of(rulehost_sdk::kinds::PURCHASE).count();
//!         if purchases < min as usize {
//!             return Ok(Vec::new());
//!         }
//!         Ok(vec![Tag::new("behaviour", "regular")
//!             .rule("mybrand.regular")
//!             .reason(format!("{purchases} purchases (regular from {min})"))])
//!     }
//! }
//!
//! rulehost_sdk::export!(MyBrand);
//! ```
//!
//! # A guide
//!
//! **The three stages.** A tenant's pipeline runs every plugin's
//! [`Plugin::tag`], then every [`Plugin::score`] (which sees all the tags,
//! in its [`Findings`]), then every [`Plugin::target`] (which sees the tags,
//! the scores and the lifecycle [`Stage`], and proposes offers from the
//! catalog). Implement the ones you need; the others answer nothing. One
//! value of your type is made per decision with `Default`.
//!
//! **Reading the customer.** [`Profile`] reads the decision's input in
//! place, copying nothing: [`Profile::events`] (past events, oldest first),
//! [`Profile::events_of`] a kind ([`kinds`] names the common ones),
//! [`Profile::attr`] as a typed [`Value`], [`Profile::identity`],
//! [`Profile::prior_tags`] and [`Profile::prior_stage`] (what the last
//! committed decision concluded). [`Offers`] is the tenant's catalog:
//! [`Offers::best_of_kind`], [`Offer::channel_for`] the customer.
//!
//! **Config.** [`Ctx::config`] reads the tenant's config document:
//! [`Config::required`], [`Config::optional`], [`Config::or`] (a default),
//! [`Config::list`]; a missing or mistyped key is an [`Error`] naming it
//! (`config_missing`, `config_invalid`), so a brand sees which key to fix.
//!
//! **Time and chance.** There is no clock and no randomness but the
//! decision's: [`Ctx::now`] and [`Ctx::seed`], the same on every replay,
//! so the same input always gives the same answer. [`Timestamp`] and
//! [`Date`] count days and read the local date in the tenant's time zone.
//!
//! **Helpers.** [`rfm::Rfm::compute`] (recency, frequency and monetary
//! value over a window, refunds netted), [`rfm::Segment`] (the ten RFM
//! segments), [`lifecycle::Lifecycle`] (introduction → growth → maturity →
//! dormancy → churn, and reactivation, from configured thresholds),
//! [`counted`] for reasons.
//!
//! **Answers.** [`Tag`], [`Score`], [`StageVerdict`] and [`Proposal`] are
//! built with a rule id ([`Tag::rule`]) and a reason ([`Tag::reason`]): the
//! host refuses an answer without them, because every decision is
//! explained to the people who act on it. A rule can ask to decide again
//! later ([`Ctx::wake_at`], [`Ctx::clear_wake`]; [`Ctx::woken`] says which
//! wake-up this is).
//!
//! **Testing natively.** The crate also compiles natively, so `cargo test`
//! runs your rules as the guest runs them: [`testing::TestInput`] builds a
//! customer and writes the input frame exactly as the host does, and
//! [`native::Session`] runs the stages on it ([`native::set_config`] sets
//! the config):
//!
//! ```
//! # use rulehost_sdk::{Ctx, Error, Plugin, Profile, Tag};
//! # #[derive(Default)]
//! # struct MyBrand;
//! # impl Plugin for MyBrand {
//! #     fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
//! #         let min: u32 = ctx.config().or("mybrand.regular_min_purchases", 3)?;
//! #         let purchases = profile.events_of(rulehost_sdk::kinds::PURCHASE).count();
//! #         if purchases < min as usize {
//! #             return Ok(Vec::new());
//! #         }
//! #         Ok(vec![Tag::new("behaviour", "regular")
//! #             .rule("mybrand.regular")
//! #             .reason(format!("{purchases} purchases (regular from {min})"))])
//! #     }
//! # }
//! use rulehost_sdk::native::{self, Session};
//! use rulehost_sdk::testing::TestInput;
//!
//! native::set_config([("mybrand.regular_min_purchases", "2")]);
//! let input = TestInput::at("2026-03-10T10:00:00+08:00")
//!     .customer("c-1")
//!     .purchase("2026-03-01T09:00:00+08:00", 3200)
//!     .purchase("2026-03-08T09:00:00+08:00", 2800)
//!     .to_frame();
//! let tags = Session::<MyBrand>::new(input).tag().unwrap();
//! assert_eq!(tags[0].name, "regular");
//! assert_eq!(tags[0].reason, "2 purchases (regular from 2)");
//! ```
//!
//! **Building and publishing.** `rulehost build` makes the crate a
//! component (`wasm32-unknown-unknown`, no WASI); `rulehost test` runs its
//! fixtures in the real engine; `rulehost check` runs it over customers of
//! every shape against the limits it would run under; `rulehost plugin
//! push` uploads it. The book's chapter "Writing plugins" (`docs/src` in
//! the rulehost repository, or `/book/` on a running server) walks through
//! each, beside the same rules in TypeScript and Python.

#![warn(missing_docs)]

extern crate self as rulehost_sdk;

#[cfg(all(target_arch = "wasm32", feature = "allocator"))]
mod alloc;
#[doc(hidden)]
pub mod bindings;
mod config;
mod host;
pub mod kinds;
pub mod lifecycle;
pub mod native;
mod output;
pub mod rfm;
mod session;
pub mod testing;
mod time;
mod view;

pub use config::{Config, ConfigValue};
pub use host::Level;
pub use output::{Error, Proposal, Score, Scoring, Stage, StageVerdict, Tag};
pub use session::{Ctx, Mode, TIMER, Woken};
pub use time::{Date, Timestamp};
pub use view::{Attribute, ChannelChoice, Event, Findings, Offer, Offers, Profile, TagKey, Value};

/// The most bytes a name in an answer may hold (a tag's group and name, a
/// score's name, a rule id): a name made of input text must be checked
/// against it, or the host refuses the answer (`plugin_invalid_output`).
pub const NAME_BYTES: usize = rulehost_layout::NAME_BYTES;

/// "1 purchase", "3 purchases": a count with its noun, for reasons.
///
/// ```
/// assert_eq!(rulehost_sdk::counted(1u32, "purchase", "purchases"), "1 purchase");
/// assert_eq!(rulehost_sdk::counted(0u32, "purchase", "purchases"), "0 purchases");
/// ```
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The version of the contract (`rulehost:plugin`) this SDK builds against.
pub const CONTRACT_VERSION: &str = bindings::CONTRACT_VERSION;

/// A brand's rules. Implement the stages you need; the others return
/// nothing.
///
/// The host runs the stages in order across every plugin of a tenant's
/// pipeline: all `tag`s, then all `score`s (which see every tag), then all
/// `target`s (which see every tag, score and the stage). One value of the
/// type is created per decision with `Default`.
pub trait Plugin: Default + 'static {
    /// Labels the customer.
    fn tag(&self, ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
        let _ = (ctx, profile);
        Ok(Vec::new())
    }

    /// Scores the customer and, optionally, places them in a lifecycle stage.
    fn score(&self, ctx: &Ctx<'_>, profile: &Profile<'_>, findings: &Findings<'_>) -> Result<Scoring, Error> {
        let _ = (ctx, profile, findings);
        Ok(Scoring::default())
    }

    /// Proposes offers from the catalog.
    fn target(
        &self,
        ctx: &Ctx<'_>,
        profile: &Profile<'_>,
        findings: &Findings<'_>,
        offers: &Offers<'_>,
    ) -> Result<Vec<Proposal>, Error> {
        let _ = (ctx, profile, findings, offers);
        Ok(Vec::new())
    }
}

/// Exports a [`Plugin`] as the component's implementation of the contract,
/// and records the crate's name and version, the contract version and the
/// SDK version in the component (the host shows them in every decision).
///
/// Natively this expands to nothing, so plugin crates also build and test as
/// ordinary Rust libraries.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct RulehostExport;

            impl $crate::__private::Guest for RulehostExport {
                type Session = $crate::__private::Session<$plugin>;
            }

    $crate::__private::bindings::__export_rules!(RulehostExport with_types_in $crate::__private::bindings);

            const INFO_LEN: usize = $crate::__private::info_len(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));

            #[unsafe(link_section = "rulehost:plugin")]
            #[used]
            static RULEHOST_PLUGIN_INFO: [u8; INFO_LEN] =
                $crate::__private::info::<INFO_LEN>(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
        };
    };
}

/// Support for [`export!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::exports::rulehost::plugin::rules::Guest;
    pub use crate::session::Session;
    pub use wit_bindgen;

    const PARTS: [&str; 4] = [
        "{\"name\":\"",
        "\",\"version\":\"",
        "\",\"contract\":\"",
        "\",\"sdk\":\"",
    ];
    const END: &str = "\"}";

    /// The length of the plugin info record (see [`info`]).
    pub const fn info_len(name: &str, version: &str) -> usize {
        let mut n = END.len() + name.len() + version.len();
        n += crate::CONTRACT_VERSION.len() + env!("CARGO_PKG_VERSION").len();
        let mut i = 0;
        while i < PARTS.len() {
            n += PARTS[i].len();
            i += 1;
        }
        n
    }

    /// The plugin info record as JSON bytes:
    /// `{"name":…,"version":…,"contract":…,"sdk":…}`. Package names and
    /// versions never contain quotes or backslashes, so no escaping is needed.
    pub const fn info<const N: usize>(name: &str, version: &str) -> [u8; N] {
        let values = [name, version, crate::CONTRACT_VERSION, env!("CARGO_PKG_VERSION")];
        let mut out = [0u8; N];
        let mut at = 0;
        let mut i = 0;
        while i < PARTS.len() {
            at = copy(&mut out, at, PARTS[i]);
            at = copy(&mut out, at, values[i]);
            i += 1;
        }
        copy(&mut out, at, END);
        out
    }

    const fn copy<const N: usize>(out: &mut [u8; N], mut at: usize, s: &str) -> usize {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            out[at] = bytes[i];
            at += 1;
            i += 1;
        }
        at
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn info_is_json_with_every_field() {
            const N: usize = super::info_len("coffee-chain", "1.2.3");
            let info = super::info::<N>("coffee-chain", "1.2.3");
            let text = std::str::from_utf8(&info).unwrap();
            assert_eq!(
                text,
                format!(
                    "{{\"name\":\"coffee-chain\",\"version\":\"1.2.3\",\"contract\":\"0.3.0\",\"sdk\":\"{}\"}}",
                    env!("CARGO_PKG_VERSION")
                )
            );
        }
    }
}
