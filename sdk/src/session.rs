//! One decision inside a plugin: the bridge between the contract's raw types
//! and the [`Plugin`] trait.
//!
//! The host creates a session per plugin per decision, so the profile crosses
//! into the guest once; each stage then builds borrowed views over it and
//! converts the plugin's answer back to contract types. The same `Session`
//! runs natively (see [`native`](crate::native)), which is how native tests
//! and the host's native benchmark run exactly the code the guest runs.

use crate::host::Level;
use crate::output::{Proposal, Tag};
use crate::time::{Date, Timestamp};
use crate::view::{Event, Findings, Offers, Profile, Strings};
use crate::{Config, Error, Plugin, wire};

/// Why the decision is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A real decision whose proposals may be sent.
    Live,
    /// Part of a bulk run over many customers.
    Batch,
    /// A what-if run; nothing is sent.
    Simulate,
    /// Runs beside the live version to compare outputs; nothing is sent.
    Shadow,
}

/// Facts about the decision: the time, the tenant's time zone, a seed, and
/// the tenant's settings. A plugin has no other source of these.
pub struct Ctx<'a> {
    raw: &'a wire::Context,
    strings: Strings<'a>,
    props: &'a [wire::Attribute],
    config: Config,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(raw: &'a wire::Context, strings: Strings<'a>, props: &'a [wire::Attribute]) -> Self {
        Self {
            raw,
            strings,
            props,
            config: Config::new(),
        }
    }

    /// The decision's time.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.raw.now)
    }

    /// The tenant's offset from UTC in minutes (480 = UTC+8).
    pub fn tz_offset_minutes(&self) -> i32 {
        self.raw.tz_offset_minutes
    }

    /// Today's date in the tenant's time zone.
    pub fn today(&self) -> Date {
        self.now().local_date(self.raw.tz_offset_minutes)
    }

    /// A seed for pseudo-randomness, fixed for this decision.
    pub fn seed(&self) -> u64 {
        self.raw.seed
    }

    /// Why the decision is being made.
    pub fn mode(&self) -> Mode {
        match self.raw.mode {
            wire::Mode::Live => Mode::Live,
            wire::Mode::Batch => Mode::Batch,
            wire::Mode::Simulate => Mode::Simulate,
            wire::Mode::Shadow => Mode::Shadow,
        }
    }

    /// The event that triggered this decision, if any.
    pub fn trigger(&self) -> Option<Event<'a>> {
        self.raw
            .trigger
            .as_ref()
            .map(|e| Event::new(e, self.props, self.strings))
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

/// A plugin's state for one decision.
pub struct Session<P> {
    plugin: P,
    ctx: wire::Context,
    input: wire::Input,
    /// The string table's bytes, checked as UTF-8 once for all three stages.
    text: Result<String, Error>,
}

impl<P: Plugin> Session<P> {
    /// Starts a decision.
    pub fn new(ctx: wire::Context, mut input: wire::Input) -> Self {
        let bytes = std::mem::take(&mut input.strings.bytes);
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::new("invalid_input", "the host sent a string table that is not UTF-8"));
        Self {
            plugin: P::default(),
            ctx,
            input,
            text,
        }
    }

    fn with_views<R>(
        &self,
        stage: impl FnOnce(&P, &Ctx<'_>, &Profile<'_>, &Offers<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let text = self.text.as_ref().map_err(Clone::clone)?;
        let strings = Strings::new(text, &self.input.strings.ends);
        let ctx = Ctx::new(&self.ctx, strings, &self.input.profile.props);
        let profile = Profile::new(&self.input.profile, strings, ctx.now());
        let offers = Offers::new(&self.input, strings);
        stage(&self.plugin, &ctx, &profile, &offers)
    }

    /// Runs the tag stage.
    pub fn tag(&self) -> Result<Vec<wire::Tag>, wire::PluginError> {
        self.with_views(|plugin, ctx, profile, _| plugin.tag(ctx, profile))
            .map(|tags| tags.into_iter().map(Tag::into_wire).collect())
            .map_err(Error::into_wire)
    }

    /// Runs the score stage.
    pub fn score(&self, findings: wire::Findings) -> Result<wire::Scoring, wire::PluginError> {
        self.with_views(|plugin, ctx, profile, _| {
            let findings = Findings::new(&findings)?;
            plugin.score(ctx, profile, &findings)
        })
        .map(|scoring| scoring.into_wire())
        .map_err(Error::into_wire)
    }

    /// Runs the target stage.
    pub fn target(&self, findings: wire::Findings) -> Result<Vec<wire::Proposal>, wire::PluginError> {
        self.with_views(|plugin, ctx, profile, offers| {
            let findings = Findings::new(&findings)?;
            plugin.target(ctx, profile, &findings, offers)
        })
        .map(|proposals| proposals.into_iter().map(Proposal::into_wire).collect())
        .map_err(Error::into_wire)
    }
}

#[cfg(target_arch = "wasm32")]
impl<P: Plugin> crate::bindings::exports::rulehost::plugin::rules::GuestSession for Session<P> {
    fn new(ctx: wire::Context, input: wire::Input) -> Self {
        report_panics_to_the_host();
        Session::new(ctx, input)
    }

    fn tag(&self) -> Result<Vec<wire::Tag>, wire::PluginError> {
        Session::tag(self)
    }

    fn score(&self, findings: wire::Findings) -> Result<wire::Scoring, wire::PluginError> {
        Session::score(self, findings)
    }

    fn target(&self, findings: wire::Findings) -> Result<Vec<wire::Proposal>, wire::PluginError> {
        Session::target(self, findings)
    }
}

/// A panic inside the sandbox ends as a bare `unreachable` trap; logging the
/// message first lets the host report what the plugin said.
#[cfg(target_arch = "wasm32")]
fn report_panics_to_the_host() {
    std::panic::set_hook(Box::new(|info| {
        crate::host::log(Level::Error, &info.to_string());
    }));
}
