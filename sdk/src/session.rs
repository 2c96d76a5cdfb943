//! One decision inside a plugin: the bridge between the contract's raw types
//! and the [`Plugin`] trait.
//!
//! The host creates a session per plugin per decision, so the profile crosses
//! into the guest once; each stage then builds borrowed views over it and
//! converts the plugin's answer back to contract types. The same `Session`
//! runs natively (see [`native`](crate::native)), which is how native tests
//! and the host's native benchmark run exactly the code the guest runs.

use std::cell::RefCell;

use rulehost_layout::answer::AnswerWriter;
use rulehost_layout::input::{Checked, Header, Input};

use crate::host::Level;
use crate::time::{Date, Timestamp};
use crate::view::{Event, Findings, Offers, Profile, Strings};
use crate::{Config, Error, Plugin};

pub use rulehost_layout::input::Mode;

/// Facts about the decision: the time, the tenant's time zone, a seed, and
/// the tenant's settings. A plugin has no other source of these. Through
/// it a plugin also asks to be woken later ([`Ctx::wake_at`]).
pub struct Ctx<'a> {
    header: Header,
    trigger: Option<Event<'a>>,
    config: Config,
    wakes: RefCell<Vec<WakeRequest>>,
}

/// A wake-up asked for in a stage, written into that stage's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WakeRequest {
    pub(crate) key: String,
    /// `None` clears the key's wake-up.
    pub(crate) at: Option<(Timestamp, String)>,
}

/// What woke this decision: a wake-up asked for earlier (see
/// [`Ctx::woken`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Woken<'a> {
    /// The wake-up's key.
    pub key: &'a str,
    /// The reason it was asked with.
    pub reason: &'a str,
    /// When it was due.
    pub due_at: Timestamp,
}

/// The kind of the trigger of a decision a wake-up starts.
pub const TIMER: &str = "timer";

impl<'a> Ctx<'a> {
    pub(crate) fn new(input: &Input<'a>) -> Self {
        let strings = Strings::new(input.strings);
        Self {
            header: input.header,
            trigger: input.trigger_ref().map(|e| Event::new(e, input.props, strings)),
            config: Config::new(),
            wakes: RefCell::default(),
        }
    }

    /// Asks the host to run a decision for this customer again at `at`, under
    /// `key` (a later wake-up of the same key replaces this one; keys are
    /// the tenant's, per customer), with `reason` shown in the explanation:
    /// "check again 30 minutes after an unpaid order", "dormancy check 45
    /// days after the last purchase". The decision it starts has a trigger
    /// of kind [`TIMER`] (see [`Ctx::woken`]). Only a committed decision
    /// sets it. `at` must be at least a minute and at most 400 days after
    /// [`Ctx::now`], and a stage asks for at most 8: otherwise the decision
    /// fails as `plugin_invalid_output`.
    pub fn wake_at(&self, key: impl Into<String>, at: Timestamp, reason: impl Into<String>) {
        self.wakes.borrow_mut().push(WakeRequest {
            key: key.into(),
            at: Some((at, reason.into())),
        });
    }

    /// Clears this customer's wake-up of `key`, if one is set.
    pub fn clear_wake(&self, key: impl Into<String>) {
        self.wakes.borrow_mut().push(WakeRequest {
            key: key.into(),
            at: None,
        });
    }

    /// The wake-up that started this decision, if one did.
    pub fn woken(&self) -> Option<Woken<'a>> {
        let trigger = self.trigger.filter(|t| t.is(TIMER))?;
        Some(Woken {
            key: trigger.prop("key").and_then(|v| v.as_str()).unwrap_or_default(),
            reason: trigger.prop("reason").and_then(|v| v.as_str()).unwrap_or_default(),
            due_at: trigger.at(),
        })
    }

    /// The wake-ups asked for so far, taken.
    pub(crate) fn take_wakes(&self) -> Vec<WakeRequest> {
        std::mem::take(&mut self.wakes.borrow_mut())
    }

    /// The decision's time.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.header.now)
    }

    /// The tenant's offset from UTC in minutes (480 = UTC+8).
    pub fn tz_offset_minutes(&self) -> i32 {
        self.header.tz_offset_minutes
    }

    /// Today's date in the tenant's time zone.
    pub fn today(&self) -> Date {
        self.now().local_date(self.header.tz_offset_minutes)
    }

    /// A seed for pseudo-randomness, fixed for this decision.
    pub fn seed(&self) -> u64 {
        self.header.seed
    }

    /// Why the decision is being made.
    pub fn mode(&self) -> Mode {
        self.header.mode
    }

    /// The event that triggered this decision, if any.
    pub fn trigger(&self) -> Option<Event<'a>> {
        self.trigger
    }

    /// The tenant's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Appends a line to the decision's log.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        crate::host::log(level, message.as_ref());
    }
}

/// A plugin's state for one decision: the input frame the host sent,
/// checked once, and the plugin. Each stage reads the frame in place and
/// writes its answer as an answer frame.
pub struct Session<P> {
    plugin: P,
    input: Result<Checked, Error>,
    /// Reused by every stage: its buffers keep their capacity.
    answer: RefCell<AnswerWriter>,
}

impl<P: Plugin> Session<P> {
    /// Starts a decision with the host's input frame. A frame that does not
    /// read fails every stage with `invalid_input`, naming what is wrong.
    pub fn new(input: Vec<u8>) -> Self {
        let input = Checked::new(input).map_err(|e| {
            Error::new(
                "invalid_input",
                format!("the host sent an input that does not read: {e}"),
            )
        });
        Self {
            plugin: P::default(),
            input,
            answer: RefCell::default(),
        }
    }

    fn run(
        &self,
        stage: impl FnOnce(&P, &Ctx<'_>, &Profile<'_>, &Offers<'_>, &mut AnswerWriter) -> Result<(), Error>,
    ) -> Result<Vec<u8>, Error> {
        let input = self.input.as_ref().map_err(Clone::clone)?.input();
        let ctx = Ctx::new(&input);
        let profile = Profile::new(input);
        let offers = Offers::new(&input);
        let mut answer = self.answer.borrow_mut();
        answer.clear();
        stage(&self.plugin, &ctx, &profile, &offers, &mut answer)?;
        for wake in ctx.take_wakes() {
            let key = answer.text(&wake.key);
            let (reason, at) = match &wake.at {
                Some((at, reason)) => (Some(answer.text(reason)), Some(at.0)),
                None => (None, None),
            };
            answer.wake(&rulehost_layout::Wake { key, reason, at });
        }
        let mut out = Vec::new();
        answer.finish(&mut out);
        Ok(out)
    }

    /// Runs the tag stage; answers an answer frame.
    pub fn tag(&self) -> Result<Vec<u8>, Error> {
        self.run(|plugin, ctx, profile, _, out| {
            plugin.tag(ctx, profile)?.iter().for_each(|t| t.write(out));
            Ok(())
        })
    }

    /// Runs the score stage with a findings frame; answers an answer frame.
    pub fn score(&self, findings: &[u8]) -> Result<Vec<u8>, Error> {
        self.run(|plugin, ctx, profile, _, out| {
            let findings = Findings::read(findings)?;
            plugin.score(ctx, profile, &findings)?.write(out);
            Ok(())
        })
    }

    /// Runs the target stage with a findings frame; answers an answer frame.
    pub fn target(&self, findings: &[u8]) -> Result<Vec<u8>, Error> {
        self.run(|plugin, ctx, profile, offers, out| {
            let findings = Findings::read(findings)?;
            plugin
                .target(ctx, profile, &findings, offers)?
                .iter()
                .for_each(|p| p.write(out));
            Ok(())
        })
    }
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use super::{Level, Plugin, Session};
    use crate::bindings::exports::rulehost::plugin::rules::{GuestSession, PluginError};

    impl<P: Plugin> GuestSession for Session<P> {
        fn new(input: Vec<u8>) -> Self {
            report_panics_to_the_host();
            Session::new(input)
        }

        fn tag(&self) -> Result<Vec<u8>, PluginError> {
            Session::tag(self).map_err(crate::Error::into_wire)
        }

        fn score(&self, findings: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            Session::score(self, &findings).map_err(crate::Error::into_wire)
        }

        fn target(&self, findings: Vec<u8>) -> Result<Vec<u8>, PluginError> {
            Session::target(self, &findings).map_err(crate::Error::into_wire)
        }
    }

    /// A panic inside the sandbox ends as a bare `unreachable` trap; logging
    /// the message first lets the host report what the plugin said.
    fn report_panics_to_the_host() {
        std::panic::set_hook(Box::new(|info| {
            crate::host::log(Level::Error, &info.to_string());
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::Session;
    use crate::testing::{TestFindings, TestInput};
    use crate::{Ctx, Error, Plugin, Profile, Tag};

    #[derive(Default)]
    struct Hello;

    impl Plugin for Hello {
        fn tag(&self, _ctx: &Ctx<'_>, profile: &Profile<'_>) -> Result<Vec<Tag>, Error> {
            Ok(vec![Tag::new("hello", profile.customer_id()).rule("r").reason("hi")])
        }
    }

    #[test]
    fn an_input_that_does_not_read_fails_every_stage_with_invalid_input() {
        let mut frame = TestInput::at("2026-03-07T10:00:00Z").to_frame();
        frame.truncate(frame.len() - 3);
        let session = Session::<Hello>::new(frame);
        let findings = TestFindings::new().to_frame();
        for err in [
            session.tag().unwrap_err(),
            session.score(&findings).unwrap_err(),
            session.target(&findings).unwrap_err(),
        ] {
            assert_eq!(err.code, "invalid_input");
            assert!(
                err.message
                    .starts_with("the host sent an input that does not read: RHI2 section"),
                "{err}"
            );
        }
    }

    #[test]
    fn findings_that_do_not_read_fail_their_stage_only() {
        let session = Session::<Hello>::new(TestInput::at("2026-03-07T10:00:00Z").customer("c-9").to_frame());
        let err = session.score(b"RHF2 and then nothing").unwrap_err();
        assert_eq!(err.code, "invalid_input");
        assert!(err.message.contains("findings that do not read"), "{err}");
        let answer = session.tag().expect("the tag stage reads its input");
        let read = rulehost_layout::answer::Answer::read(&answer).expect("an answer frame");
        let tag = read.tags.get(0).expect("one tag");
        assert_eq!(read.text(tag.name), "c-9");
    }
}
