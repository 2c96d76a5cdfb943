//! What a plugin returns: tags, scores, a stage and proposals, each with the
//! rule that produced it and a reason a person can read.
//!
//! The host rejects any of these without a rule id or a reason, so the
//! builders start from the required parts and make the rest one call each:
//!
//! ```
//! use rulehost_sdk::{Proposal, Score, Stage, StageVerdict, Tag};
//! let tag = Tag::new("lifecycle", "new-customer")
//!     .rule("coffee.new-customer")
//!     .reason("first purchase 2 days ago");
//! let score = Score::new("rfm.r", 5.0).rule("rfm.r").reason("bought 3 days ago");
//! let stage = StageVerdict::new(Stage::Growth)
//!     .rule("lifecycle.growth")
//!     .reason("4 purchases in 90 days");
//! let proposal = Proposal::new("latte-coupon", "wecom_1v1")
//!     .score(10.0)
//!     .rule("coffee.offer.intro")
//!     .reason("new customer");
//! assert_eq!(tag.name, "new-customer");
//! assert_eq!(stage.stage.as_str(), "growth");
//! # let _ = (score, proposal);
//! ```

use std::fmt;

use rulehost_layout::{self as layout, answer::AnswerWriter};

use crate::time::Timestamp;

/// The lifecycle stages every customer moves through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// New: first contact, maybe a first purchase.
    Introduction,
    /// Repeat purchases are forming a habit.
    Growth,
    /// Loyal, frequent, often a member.
    Maturity,
    /// Purchases or interaction are fading; still recoverable.
    Dormancy,
    /// Gone.
    Churned,
    /// Came back after dormancy or churn.
    Reactivated,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 6] = [
        Stage::Introduction,
        Stage::Growth,
        Stage::Maturity,
        Stage::Dormancy,
        Stage::Churned,
        Stage::Reactivated,
    ];

    /// The stage's name as it appears in decisions, e.g. "dormancy".
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Introduction => "introduction",
            Stage::Growth => "growth",
            Stage::Maturity => "maturity",
            Stage::Dormancy => "dormancy",
            Stage::Churned => "churned",
            Stage::Reactivated => "reactivated",
        }
    }

    /// The stage at `index` of a frame (the order of [`Stage::ALL`], which
    /// is the layout's order).
    pub(crate) fn from_index(index: u8) -> Option<Self> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// This stage's index in a frame.
    pub(crate) fn index(self) -> u8 {
        Self::ALL.iter().position(|&s| s == self).unwrap_or_default() as u8
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label on the customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The group, e.g. "rfm-segment".
    pub group: String,
    /// The name within the group, e.g. "champions".
    pub name: String,
    /// Why the tag applies, for a person.
    pub reason: String,
    /// The rule that set it, e.g. "apparel.rfm.segment".
    pub rule_id: String,
    /// When the tag stops being true unless renewed.
    pub expires_at: Option<Timestamp>,
}

impl Tag {
    /// A tag `group`/`name`; add [`rule`](Self::rule) and [`reason`](Self::reason).
    pub fn new(group: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            name: name.into(),
            reason: String::new(),
            rule_id: String::new(),
            expires_at: None,
        }
    }

    /// Sets the rule id.
    pub fn rule(mut self, rule_id: impl Into<String>) -> Self {
        self.rule_id = rule_id.into();
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Sets when the tag expires.
    pub fn expires_at(mut self, at: Timestamp) -> Self {
        self.expires_at = Some(at);
        self
    }

    pub(crate) fn write(&self, w: &mut AnswerWriter) {
        let tag = layout::Tag {
            group: w.text(&self.group),
            name: w.text(&self.name),
            reason: w.text(&self.reason),
            rule_id: w.text(&self.rule_id),
            expires_at: self.expires_at.map(Timestamp::millis),
        };
        w.tag(&tag);
    }
}

/// A numeric score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The score's name, e.g. "rfm.r".
    pub name: String,
    /// The value; must be finite.
    pub value: f64,
    /// Why it has this value.
    pub reason: String,
    /// The rule that computed it.
    pub rule_id: String,
}

impl Score {
    /// A score `name` = `value`; add [`rule`](Self::rule) and [`reason`](Self::reason).
    pub fn new(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value,
            reason: String::new(),
            rule_id: String::new(),
        }
    }

    /// Sets the rule id.
    pub fn rule(mut self, rule_id: impl Into<String>) -> Self {
        self.rule_id = rule_id.into();
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub(crate) fn write(&self, w: &mut AnswerWriter) {
        let score = layout::Score {
            name: w.text(&self.name),
            reason: w.text(&self.reason),
            rule_id: w.text(&self.rule_id),
            value: self.value,
        };
        w.score(&score);
    }
}

/// The stage a plugin places the customer in.
#[derive(Debug, Clone, PartialEq)]
pub struct StageVerdict {
    /// The stage.
    pub stage: Stage,
    /// Why.
    pub reason: String,
    /// The rule that decided it.
    pub rule_id: String,
}

impl StageVerdict {
    /// A verdict for `stage`; add [`rule`](Self::rule) and [`reason`](Self::reason).
    pub fn new(stage: Stage) -> Self {
        Self {
            stage,
            reason: String::new(),
            rule_id: String::new(),
        }
    }

    /// Sets the rule id.
    pub fn rule(mut self, rule_id: impl Into<String>) -> Self {
        self.rule_id = rule_id.into();
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub(crate) fn write(&self, w: &mut AnswerWriter) {
        let verdict = layout::answer::StageVerdict {
            stage: self.stage.index(),
            reason: w.text(&self.reason),
            rule_id: w.text(&self.rule_id),
        };
        w.stage(verdict);
    }
}

/// The result of the score stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scoring {
    /// Scores, in the order they were computed.
    pub scores: Vec<Score>,
    /// The stage, if this plugin decides stages.
    pub stage: Option<StageVerdict>,
}

impl Scoring {
    pub(crate) fn write(&self, w: &mut AnswerWriter) {
        self.scores.iter().for_each(|s| s.write(w));
        if let Some(stage) = &self.stage {
            stage.write(w);
        }
    }
}

/// An offer the plugin proposes to send on a channel. The host's policy
/// decides whether it is really sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The offer's id from the catalog.
    pub offer_id: String,
    /// The channel to send it on; one of the offer's channels.
    pub channel: String,
    /// How strongly the plugin recommends it; higher first.
    pub score: f64,
    /// Why this offer for this customer now.
    pub reason: String,
    /// The rule that proposed it.
    pub rule_id: String,
}

impl Proposal {
    /// A proposal of `offer_id` on `channel`, score 0; add
    /// [`rule`](Self::rule) and [`reason`](Self::reason).
    pub fn new(offer_id: impl Into<String>, channel: impl Into<String>) -> Self {
        Self {
            offer_id: offer_id.into(),
            channel: channel.into(),
            score: 0.0,
            reason: String::new(),
            rule_id: String::new(),
        }
    }

    /// Sets the score.
    pub fn score(mut self, score: f64) -> Self {
        self.score = score;
        self
    }

    /// Sets the rule id.
    pub fn rule(mut self, rule_id: impl Into<String>) -> Self {
        self.rule_id = rule_id.into();
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub(crate) fn write(&self, w: &mut AnswerWriter) {
        let proposal = layout::Proposal {
            offer_id: w.text(&self.offer_id),
            channel: w.text(&self.channel),
            reason: w.text(&self.reason),
            rule_id: w.text(&self.rule_id),
            score: self.score,
        };
        w.proposal(&proposal);
    }
}

/// A failure the plugin reports: the host answers `plugin_error` with this
/// code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// A stable code, e.g. "config_missing".
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn into_wire(self) -> crate::bindings::exports::rulehost::plugin::rules::PluginError {
        crate::bindings::exports::rulehost::plugin::rules::PluginError {
            code: self.code,
            message: self.message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}
