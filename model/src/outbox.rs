//! What the host hands to the brand's message sender: every touch a live
//! decision commits, through the outbox (the NATS subject
//! `rulehost.touches.<tenant>` and the pull feed `GET …/touches`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{OfferClass, Timestamp};

/// A touch to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Stable and unique per tenant: a receiver that sees it twice (a
    /// redelivery) drops the second (it is also the NATS `Nats-Msg-Id`).
    pub touch_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The customer.
    pub customer_id: String,
    /// The customer's identities (a WeChat openid, a phone…), to reach them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identities: BTreeMap<String, String>,
    /// The offer.
    pub offer_id: String,
    /// The offer's kind.
    pub offer_kind: String,
    /// The offer's value in minor units.
    pub value_minor: i64,
    /// The channel to send it on.
    pub channel: String,
    /// The offer's class.
    pub class: OfferClass,
    /// When to send it (after quiet hours, a deferred touch arrives then).
    pub send_at: Timestamp,
    /// The decision that selected it (its explanation: `GET …/decisions/{id}`).
    pub decision_id: String,
    /// The plugin that proposed it (`policy` for the fallback).
    pub plugin: String,
    /// The proposal's rule.
    pub rule_id: String,
    /// The proposal's reason.
    pub reason: String,
    /// What started the decision: an event's kind (`purchase`), `timer`
    /// for a wake-up, none for a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_kind: Option<String>,
    /// The triggering event's id, or the wake-up's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// A delivery in the pull feed, with the cursor that follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedItem {
    /// Pass as `after` to read what comes after this one.
    pub cursor: String,
    /// The touch.
    pub delivery: Delivery,
}
