//! A tenant's contact policy as a document (caps, quiet hours, holdout,
//! fallback, consent), and what the contact ledger tells the policy about
//! one customer, and the verdict's parts a decision carries (what is sent,
//! what was dropped by which rule). The rules that apply a policy live in
//! the host.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{OfferClass, Timestamp};

/// A tenant's contact policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Per-channel caps and quiet hours, by channel name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelPolicy>,
    /// Caps across all channels together.
    #[serde(default)]
    pub global: Caps,
    /// Per-offer caps and budgets, by offer id.
    #[serde(default)]
    pub offers: BTreeMap<String, OfferPolicy>,
    /// A share of customers that gets nothing, to measure uplift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Holdout>,
    /// What to send when every proposal was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Where consent lives in the profile.
    #[serde(default)]
    pub consent: Consent,
}

/// Caps on touches per customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// At most this many per local calendar day.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::cap)]
    pub per_day: Option<u32>,
    /// At most this many per local ISO week (Monday to Sunday).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::cap)]
    pub per_week: Option<u32>,
}

/// One channel's policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPolicy {
    /// At most this many per local calendar day.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::cap)]
    pub per_day: Option<u32>,
    /// At most this many per local ISO week.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::cap)]
    pub per_week: Option<u32>,
    /// When not to send on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

/// A daily window, in the tenant's time zone, when a channel stays quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Start, `HH:MM`, inclusive.
    #[schema(schema_with = crate::schema::time_of_day, example = "22:00")]
    pub start: LocalTime,
    /// End, `HH:MM`, exclusive; before `start` for a window across midnight;
    /// not equal to `start`.
    #[schema(schema_with = crate::schema::time_of_day, example = "08:00")]
    pub end: LocalTime,
    /// `defer`: send at the window's end; `skip`: do not send.
    pub action: QuietAction,
}

/// What a quiet channel does with a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuietAction {
    /// Send when the quiet hours end.
    Defer,
    /// Do not send.
    Skip,
}

/// A time of day, minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(pub u32);

impl LocalTime {
    fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(LocalTime(h * 60 + m))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LocalTime::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time of day HH:MM (00:00 to 23:59)")))
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Caps and budget of one offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferPolicy {
    /// At most this many touches of the offer per customer in
    /// `per_customer_days`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::cap)]
    pub per_customer: Option<u32>,
    /// The window of `per_customer`, in days (1–366; default 30).
    #[serde(default = "default_offer_window", deserialize_with = "crate::whole::number")]
    #[schema(schema_with = crate::schema::window_days)]
    pub per_customer_days: u32,
    /// At most this many touches of the offer over all customers, ever.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    #[schema(schema_with = crate::schema::budget)]
    pub budget: Option<u64>,
}

fn default_offer_window() -> u32 {
    30
}

/// The holdout group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// The share of customers held out, 0–100.
    #[schema(schema_with = crate::schema::percent)]
    pub percent: f64,
    /// Membership is a stable hash of this salt and the customer id: keep it
    /// to keep the group, change it to draw a new one. Not empty.
    #[schema(schema_with = crate::schema::nonempty)]
    pub salt: String,
}

impl Holdout {
    /// Whether the customer is in the holdout group.
    pub fn contains(&self, customer_id: &str) -> bool {
        in_share(&self.salt, customer_id, self.percent)
    }
}

/// Whether a customer falls in a `percent` share of customers drawn by a
/// stable hash of `salt` and the customer id: the same answer every time,
/// and a larger share always contains a smaller one of the same salt.
pub fn in_share(salt: &str, customer_id: &str, percent: f64) -> bool {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0])
        .chain_update(customer_id.as_bytes())
        .finalize();
    let draw = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    // Uniform in [0, 100) with 1e-6 resolution.
    let point = (draw % 100_000_000) as f64 / 1_000_000.0;
    point < percent
}

/// The offer sent when nothing else can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// An offer of the catalog.
    #[schema(schema_with = crate::schema::nonempty)]
    pub offer_id: String,
    /// One of its channels.
    #[schema(schema_with = crate::schema::nonempty)]
    pub channel: String,
}

/// Where consent lives: attribute `<prefix><channel>`; `false` (or
/// `"false"`, `"no"`) forbids the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The attribute prefix (default `consent.`).
    pub attribute_prefix: String,
}

impl Default for Consent {
    fn default() -> Self {
        Self {
            attribute_prefix: "consent.".into(),
        }
    }
}

impl Policy {
    /// Checks what serde cannot: ranges and consistency. Errors name the
    /// field.
    pub fn check(&self) -> Result<(), String> {
        for (name, channel) in &self.channels {
            if let Some(q) = &channel.quiet_hours
                && q.start == q.end
            {
                return Err(format!(
                    "channels.{name}.quiet_hours: start and end are both {}; a window needs two different times",
                    q.start
                ));
            }
        }
        for (id, offer) in &self.offers {
            if !(1..=366).contains(&offer.per_customer_days) {
                return Err(format!(
                    "offers.{id}.per_customer_days is {}; it must be from 1 to 366",
                    offer.per_customer_days
                ));
            }
        }
        if let Some(h) = &self.holdout {
            if !(0.0..=100.0).contains(&h.percent) || h.percent.is_nan() {
                return Err(format!("holdout.percent is {}; it must be from 0 to 100", h.percent));
            }
            if h.salt.is_empty() {
                return Err("holdout.salt is empty".into());
            }
        }
        if let Some(f) = &self.fallback
            && (f.offer_id.is_empty() || f.channel.is_empty())
        {
            return Err("fallback needs an offer_id and a channel".into());
        }
        Ok(())
    }

    /// Whether any cap needs the contact ledger (quiet hours, holdout,
    /// consent and the fallback do not).
    pub fn needs_ledger(&self) -> bool {
        self.global.per_day.is_some()
            || self.global.per_week.is_some()
            || self
                .channels
                .values()
                .any(|c| c.per_day.is_some() || c.per_week.is_some())
            || self
                .offers
                .values()
                .any(|o| o.per_customer.is_some() || o.budget.is_some())
    }

    /// How far back the ledger must reach for these caps.
    pub fn ledger_days(&self) -> i64 {
        let offers = self
            .offers
            .values()
            .map(|o| i64::from(o.per_customer_days))
            .max()
            .unwrap_or(0);
        // A week cap needs at most the last 7 days; one more for deferrals.
        offers.max(8)
    }
}

/// A past or scheduled touch of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerTouch {
    /// The offer.
    pub offer_id: String,
    /// The channel.
    pub channel: String,
    /// When it was (or will be) sent.
    pub at: Timestamp,
    /// The offer's class.
    pub class: OfferClass,
}

/// What the ledger knows that the policy needs (the decision log keeps it,
/// so a replay sees what the decision saw).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ledger {
    /// The customer's touches since `now - ledger_days`.
    pub touches: Vec<LedgerTouch>,
    /// Touches per offer over all customers, for budgets.
    pub budget_used: HashMap<String, u64>,
}

/// Why a proposal was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The offer was already proposed in this decision.
    Plugin,
    /// Not valid at the send time.
    Validity,
    /// The customer said no to the channel.
    Consent,
    /// Quiet hours on a skipping channel.
    QuietHours,
    /// The channel's cap is reached.
    ChannelCap,
    /// The cap across channels is reached.
    GlobalCap,
    /// The offer's per-customer cap is reached.
    OfferCap,
    /// The offer's budget is spent.
    Budget,
    /// The customer is held out.
    Holdout,
}

impl Rule {
    /// The rule's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Plugin => "plugin",
            Rule::Validity => "validity",
            Rule::Consent => "consent",
            Rule::QuietHours => "quiet_hours",
            Rule::ChannelCap => "channel_cap",
            Rule::GlobalCap => "global_cap",
            Rule::OfferCap => "offer_cap",
            Rule::Budget => "budget",
            Rule::Holdout => "holdout",
        }
    }
}

/// A touch to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selected {
    /// The offer.
    pub offer_id: String,
    /// The channel.
    pub channel: String,
    /// When to send it: now, or the end of the channel's quiet hours.
    pub send_at: Timestamp,
    /// The offer's class.
    pub class: OfferClass,
    /// The plugin's score.
    pub score: f64,
    /// The plugin that proposed it (`policy` for the fallback).
    pub plugin: String,
    /// The proposal's reason.
    pub reason: String,
    /// The proposal's rule.
    pub rule_id: String,
}

/// A proposal that was dropped, with the rule that dropped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suppressed {
    /// The offer.
    pub offer_id: String,
    /// The channel.
    pub channel: String,
    /// The plugin that proposed it (`policy` for the fallback).
    pub plugin: String,
    /// The rule that dropped it.
    pub rule: Rule,
    /// Why, for people.
    pub detail: String,
}
