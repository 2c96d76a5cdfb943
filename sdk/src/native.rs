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
//! let input = TestInput::at("2026-03-07T10:00:00Z").customer("c-1").to_frame();
//! let tags = Session::<Hello>::new(input).tag().unwrap();
//! assert_eq!(tags[0].reason, "hi");
//! assert_eq!(native::take_logs(), vec![(Level::Info, "hi, c-1".to_owned())]);
//! ```

use crate::host::Level;
#[cfg(not(target_arch = "wasm32"))]
use crate::host::{CONFIG, LOG};

use rulehost_layout::answer::Answer;

use crate::output::{Proposal, Score, Scoring, Stage, StageVerdict, Tag};
use crate::time::Timestamp;
use crate::{Error, Plugin};

/// The session the guest runs: frames in, answer frames out (the host's
/// benchmark times its rules this way).
pub use crate::session::Session as FrameSession;

/// A plugin's session with its answers read back into the SDK's types,
/// for tests: the frames cross exactly as they do in the sandbox.
pub struct Session<P>(FrameSession<P>);

impl<P: Plugin> Session<P> {
    /// Starts a decision with an input frame (see
    /// [`TestInput::to_frame`](crate::testing::TestInput::to_frame)).
    pub fn new(input: Vec<u8>) -> Self {
        Self(FrameSession::new(input))
    }

    /// Runs the tag stage.
    pub fn tag(&self) -> Result<Vec<Tag>, Error> {
        read(&self.0.tag()?, |a| {
            a.tags
                .iter()
                .map(|t| Tag {
                    group: a.text(t.group).to_owned(),
                    name: a.text(t.name).to_owned(),
                    reason: a.text(t.reason).to_owned(),
                    rule_id: a.text(t.rule_id).to_owned(),
                    expires_at: t.expires_at.map(Timestamp),
                })
                .collect()
        })
    }

    /// Runs the score stage with a findings frame (see
    /// [`TestFindings`](crate::testing::TestFindings)).
    pub fn score(&self, findings: &[u8]) -> Result<Scoring, Error> {
        read(&self.0.score(findings)?, |a| Scoring {
            scores: a
                .scores
                .iter()
                .map(|s| Score {
                    name: a.text(s.name).to_owned(),
                    value: s.value,
                    reason: a.text(s.reason).to_owned(),
                    rule_id: a.text(s.rule_id).to_owned(),
                })
                .collect(),
            stage: a.stage.and_then(|v| {
                Some(StageVerdict {
                    stage: Stage::from_index(v.stage)?,
                    reason: a.text(v.reason).to_owned(),
                    rule_id: a.text(v.rule_id).to_owned(),
                })
            }),
        })
    }

    /// Runs the target stage with a findings frame.
    pub fn target(&self, findings: &[u8]) -> Result<Vec<Proposal>, Error> {
        read(&self.0.target(findings)?, |a| {
            a.proposals
                .iter()
                .map(|p| Proposal {
                    offer_id: a.text(p.offer_id).to_owned(),
                    channel: a.text(p.channel).to_owned(),
                    score: p.score,
                    reason: a.text(p.reason).to_owned(),
                    rule_id: a.text(p.rule_id).to_owned(),
                })
                .collect()
        })
    }
}

/// Reads an answer frame the SDK wrote, as the host would.
fn read<T>(frame: &[u8], what: impl FnOnce(&Answer<'_>) -> T) -> Result<T, Error> {
    let answer = Answer::read(frame).map_err(|e| Error::new("invalid_output", e.to_string()))?;
    Ok(what(&answer))
}

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
