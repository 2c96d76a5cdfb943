//! A tenant's triggers: which events, taken in, start a decision at once
//! ("moments of truth": an order left unpaid, a first follow, a purchase).
//!
//! A decision a trigger starts runs on the customer's kept profile (the
//! event already folded in), with the event as its trigger, in live mode,
//! committing under the contact policy: what it selects goes to the
//! ledger and the outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;
use crate::events::{EventIn, TIMER};

/// The most triggers a tenant may have.
pub const MAX_TRIGGERS: usize = 100;

/// A tenant's triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Events older than this when they are taken in start nothing (a
    /// history loaded after the fact is not a moment); 1–10080 minutes,
    /// default 60.
    #[serde(default = "default_max_age", deserialize_with = "crate::whole::number")]
    #[schema(schema_with = max_age)]
    pub max_age_minutes: u32,
    /// The events that start a decision (at most 100, none twice).
    #[serde(default)]
    #[schema(schema_with = event_triggers)]
    pub events: Vec<EventTrigger>,
}

impl Default for Triggers {
    fn default() -> Self {
        Self {
            max_age_minutes: default_max_age(),
            events: Vec::new(),
        }
    }
}

fn default_max_age() -> u32 {
    60
}

fn event_triggers() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name("EventTrigger"))
        .max_items(Some(MAX_TRIGGERS))
        .unique_items(true)
        .build()
}

fn max_age() -> utoipa::openapi::schema::Object {
    crate::schema::whole(1, 10_080)
}

/// Events of one kind, optionally only on some channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTrigger {
    /// The event kind, e.g. `order_unpaid`.
    #[schema(schema_with = crate::schema::event_kind)]
    pub kind: String,
    /// Only events on these channels (none: any channel, or none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::channels)]
    pub channels: Vec<String>,
}

impl Triggers {
    /// Checks what serde cannot; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=10_080).contains(&self.max_age_minutes) {
            return Err(format!(
                "max_age_minutes is {}; it must be from 1 to 10080 (a week)",
                self.max_age_minutes
            ));
        }
        if self.events.len() > MAX_TRIGGERS {
            return Err(format!(
                "events has {} triggers; the limit is {MAX_TRIGGERS}",
                self.events.len()
            ));
        }
        let limits = crate::InputLimits::default();
        let long = |s: &str| s.len() > limits.string_chars && s.chars().count() > limits.string_chars;
        for (i, t) in self.events.iter().enumerate() {
            if t.kind.is_empty() {
                return Err(format!("events[{i}].kind is empty"));
            }
            if long(&t.kind) {
                return Err(format!(
                    "events[{i}].kind is longer than {} characters",
                    limits.string_chars
                ));
            }
            if t.channels.len() > limits.channels {
                return Err(format!(
                    "events[{i}].channels has {} entries; the limit is {}",
                    t.channels.len(),
                    limits.channels
                ));
            }
            if let Some(j) = t.channels.iter().position(|c| long(c)) {
                return Err(format!(
                    "events[{i}].channels[{j}] is longer than {} characters",
                    limits.string_chars
                ));
            }
            if t.kind == TIMER {
                return Err(format!(
                    "events[{i}].kind {TIMER:?} is reserved: wake-ups start their own decisions"
                ));
            }
            if let Some(first) = self.events[..i].iter().position(|o| o == t) {
                return Err(format!("events[{i}] repeats events[{first}]"));
            }
        }
        Ok(())
    }

    /// Whether `event`, taken in at `now`, starts a decision.
    pub fn starts(&self, event: &EventIn, now: Timestamp) -> bool {
        let fresh = now.0.saturating_sub(event.at.0) <= i64::from(self.max_age_minutes) * 60_000;
        fresh
            && self.events.iter().any(|t| {
                t.kind == event.kind
                    && (t.channels.is_empty() || event.channel.as_ref().is_some_and(|c| t.channels.contains(c)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_json;

    fn triggers(json: &str) -> Triggers {
        from_json("triggers", json).expect("triggers")
    }

    fn event(kind: &str, channel: Option<&str>, minutes_ago: i64) -> EventIn {
        EventIn {
            event_id: "e".into(),
            customer_id: "c".into(),
            kind: kind.into(),
            at: Timestamp(NOW.0 - minutes_ago * 60_000),
            channel: channel.map(str::to_owned),
            amount_minor: None,
            sku: None,
            category: None,
            props: Default::default(),
        }
    }

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn fresh_events_of_a_kind_on_its_channels_start_a_decision() {
        let t = triggers(r#"{"events":[{"kind":"order_unpaid"},{"kind":"purchase","channels":["store"]}]}"#);
        assert_eq!(t.max_age_minutes, 60);
        assert!(t.starts(&event("order_unpaid", None, 5), NOW));
        assert!(t.starts(&event("order_unpaid", Some("tmall"), 60), NOW));
        assert!(!t.starts(&event("order_unpaid", None, 61), NOW), "too old");
        assert!(t.starts(&event("purchase", Some("store"), 0), NOW));
        assert!(!t.starts(&event("purchase", Some("tmall"), 0), NOW));
        assert!(!t.starts(&event("purchase", None, 0), NOW));
        assert!(!t.starts(&event("view", None, 0), NOW));
    }

    #[test]
    fn a_bad_document_is_refused_naming_the_field() {
        let check = |json: &str| triggers(json).check().unwrap_err();
        assert_eq!(check(r#"{"events":[{"kind":""}]}"#), "events[0].kind is empty");
        assert!(check(r#"{"events":[{"kind":"timer"}]}"#).starts_with("events[0].kind \"timer\" is reserved"));
        assert_eq!(
            check(r#"{"events":[{"kind":"a"},{"kind":"a"}]}"#),
            "events[1] repeats events[0]"
        );
        let many = format!(r#"{{"events":[{{"kind":"a","channels":{:?}}}]}}"#, vec!["c"; 33]);
        assert_eq!(check(&many), "events[0].channels has 33 entries; the limit is 32");
        assert!(check(r#"{"max_age_minutes":0}"#).starts_with("max_age_minutes is 0"));
        let err = from_json::<Triggers>("triggers", r#"{"event":[]}"#).unwrap_err();
        assert!(err.0.contains("unknown field `event`"), "{err}");
    }
}
