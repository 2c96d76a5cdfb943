//! The JSON a decision answers with.

use serde::{Deserialize, Serialize};

use crate::LogLine;
use rulehost_model::policy::{Selected, Suppressed};
use rulehost_model::{Stage, Timestamp};

/// A decision for one customer: what the plugins concluded, with reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The customer decided for.
    pub customer_id: String,
    /// The lifecycle stage, if a plugin set one (the last plugin that did).
    pub stage: Option<StageVerdict>,
    /// Every plugin's tags, in pipeline order.
    pub tags: Vec<Tag>,
    /// Every plugin's scores, in pipeline order.
    pub scores: Vec<Score>,
    /// Every plugin's proposals, in pipeline order.
    pub proposals: Vec<Proposal>,
    /// The plugins that ran.
    pub plugins: Vec<PluginRef>,
    /// What the decision used.
    pub usage: Usage,
    /// What the plugins logged.
    pub logs: Vec<LogLine>,
    /// The wake-ups the plugins asked for (contract 0.3.0): a committed
    /// decision sets (or clears) them as the customer's timers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wakes: Vec<WakeUp>,
    /// The decision's id in the decision log (server decisions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// Whether the customer is in the holdout group (server decisions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<bool>,
    /// What the host's policy decided to send (server decisions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<Vec<Selected>>,
    /// The proposals the policy dropped, each with its rule (server
    /// decisions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Vec<Suppressed>>,
    /// Whether the selected touches were recorded in the contact ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<bool>,
}

/// A wake-up a plugin asked for: a decision for this customer at `at`
/// (under `key`, replacing the key's), or the key's cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WakeUp {
    /// Its key.
    pub key: String,
    /// Whether the key's wake-up is cleared (rather than set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
    /// When (absent when cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The plugin that asked.
    pub plugin: String,
}

/// A stage with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageVerdict {
    /// The stage.
    pub value: Stage,
    /// Why.
    pub reason: String,
    /// The rule that decided it.
    pub rule_id: String,
    /// The plugin that produced it.
    pub plugin: String,
}

/// A tag with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// The group.
    pub group: String,
    /// The name.
    pub name: String,
    /// Why.
    pub reason: String,
    /// The rule that set it.
    pub rule_id: String,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// The plugin that produced it.
    pub plugin: String,
}

/// A score with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Score {
    /// The name.
    pub name: String,
    /// The value (always finite).
    pub value: f64,
    /// Why.
    pub reason: String,
    /// The rule that computed it.
    pub rule_id: String,
    /// The plugin that produced it.
    pub plugin: String,
}

/// A proposed offer with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The offer, from the catalog.
    pub offer_id: String,
    /// One of the offer's channels.
    pub channel: String,
    /// The plugin's ranking score (always finite).
    pub score: f64,
    /// Why.
    pub reason: String,
    /// The rule that proposed it.
    pub rule_id: String,
    /// The plugin that produced it.
    pub plugin: String,
}

/// A plugin version that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The sha256 of its component, hex.
    pub sha256: String,
}

impl From<&crate::Plugin> for PluginRef {
    fn from(p: &crate::Plugin) -> Self {
        Self {
            name: p.name().to_owned(),
            version: p.version().to_owned(),
            sha256: p.sha256().to_owned(),
        }
    }
}

/// Resources a decision used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Fuel burnt by all plugins together.
    pub fuel: u64,
    /// Wall-clock time of the decision in microseconds.
    pub duration_us: u64,
    /// The linear memory the plugins' instances held at their peak, in
    /// bytes (0 in decisions logged before it was reported).
    #[serde(default)]
    pub memory_bytes: u64,
}
