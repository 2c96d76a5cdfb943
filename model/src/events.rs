//! Events as a brand sends them to be kept: `POST …/events` and the
//! `rulehost.events.<tenant>` stream. Each is folded into the customer's
//! stored profile once, however often it arrives (by its `event_id`).
//!
//! Three kinds are the host's own:
//! - `identify` links ids that belong to one person: every prop is one of
//!   the customer's other ids by kind (`{"wechat_unionid": "o-1"}`); from
//!   then on events, decisions, touches and wake-ups of any of them are the
//!   customer's. The ids also become the profile's `identities`.
//! - `attributes` sets the profile's attributes from its props (a later
//!   `at` wins over an earlier one, whichever arrives first; `null`
//!   removes an attribute).
//! - `timer` is what a decision a wake-up starts is triggered by: no event
//!   sent may have that kind.
//!
//! Every other kind is behaviour, kept in the profile's events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Event, InputLimits, Timestamp, Value};

/// The kind of an event that links a customer's ids.
pub const IDENTIFY: &str = "identify";
/// The kind of an event that sets attributes.
pub const ATTRIBUTES: &str = "attributes";
/// The kind of the trigger of a decision a wake-up starts (reserved).
pub const TIMER: &str = "timer";

/// Characters of an event id, a customer id or a linked id, at most.
pub const ID_CHARS: usize = 256;

/// An event sent to be kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Unique per tenant: an event sent again with the same id changes
    /// nothing.
    #[schema(schema_with = crate::schema::event_id)]
    pub event_id: String,
    /// The customer: any id of theirs once `identify` has linked it.
    #[schema(schema_with = crate::schema::event_id)]
    pub customer_id: String,
    /// What happened, e.g. `purchase`; `identify` and `attributes` are
    /// the host's own (see the events chapter), `timer` is reserved.
    #[schema(schema_with = crate::schema::event_kind)]
    pub kind: String,
    /// When it happened (at most a day ahead of the server's clock).
    pub at: Timestamp,
    /// Where it happened, e.g. "wecom_1v1", "store", "tmall".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::optional_text)]
    pub channel: Option<String>,
    /// Money involved, in minor units.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::option"
    )]
    pub amount_minor: Option<i64>,
    /// The product's SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::optional_text)]
    pub sku: Option<String>,
    /// The product category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::optional_text)]
    pub category: Option<String>,
    /// Anything else. For `attributes`, the attributes to set (`null`
    /// removes one); for `identify`, the customer's other ids by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(schema_with = crate::schema::event_props)]
    pub props: BTreeMap<String, Option<Value>>,
}

/// How far ahead of the server's clock an event may be (clocks drift).
pub const MAX_AHEAD_MS: i64 = 86_400_000;

impl EventIn {
    /// Checks what serde cannot, against `limits` and the server's clock
    /// `now`; the error names the field (`kind`, `props.tier`, …).
    pub fn check(&self, limits: &InputLimits, now: Timestamp) -> Result<(), String> {
        id_text("event_id", &self.event_id)?;
        id_text("customer_id", &self.customer_id)?;
        if self.kind.is_empty() {
            return Err("kind is empty".into());
        }
        if self.kind == TIMER {
            return Err(format!(
                "kind {TIMER:?} is reserved for the decisions wake-ups start; send another kind"
            ));
        }
        if self.at.0 > now.0.saturating_add(MAX_AHEAD_MS) {
            return Err(format!(
                "at {} is more than a day ahead of the server's clock ({now})",
                self.at
            ));
        }
        for (field, value) in [
            ("kind", Some(&self.kind)),
            ("channel", self.channel.as_ref()),
            ("sku", self.sku.as_ref()),
            ("category", self.category.as_ref()),
        ] {
            if let Some(value) = value {
                chars(field, value, limits.string_chars)?;
            }
        }
        if self.props.len() > limits.props {
            return Err(format!(
                "props has {} entries; the limit is {}",
                self.props.len(),
                limits.props
            ));
        }
        for (key, value) in &self.props {
            chars(&format!("props key {key:?}"), key, limits.string_chars)?;
            match (self.kind.as_str(), value) {
                (IDENTIFY, Some(Value::Text(id))) => id_text(&format!("props.{key}"), id)?,
                (IDENTIFY, _) => return Err(format!("props.{key}: an identify event's props are ids (strings)")),
                (ATTRIBUTES, None) => {}
                (_, None) => {
                    return Err(format!(
                        "props.{key} is null; null removes an attribute, only in an {ATTRIBUTES:?} event"
                    ));
                }
                (_, Some(Value::Text(text))) => chars(&format!("props.{key}"), text, limits.string_chars)?,
                (_, Some(_)) => {}
            }
        }
        if matches!(self.kind.as_str(), IDENTIFY | ATTRIBUTES) && self.props.is_empty() {
            return Err(format!(
                "props is empty: an {:?} event carries its {}",
                self.kind,
                match self.kind.as_str() {
                    IDENTIFY => "ids",
                    _ => "attributes",
                }
            ));
        }
        Ok(())
    }

    /// Whether it is behaviour kept in the profile's events (not an
    /// `identify` or `attributes` event).
    pub fn is_behaviour(&self) -> bool {
        !matches!(self.kind.as_str(), IDENTIFY | ATTRIBUTES)
    }

    /// The ids an `identify` event links to its customer (none for other
    /// kinds).
    pub fn linked_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props
            .iter()
            .filter(|_| self.kind == IDENTIFY)
            .filter_map(|(kind, id)| match id {
                Some(Value::Text(id)) => Some((kind.as_str(), id.as_str())),
                _ => None,
            })
    }

    /// The event as a profile keeps it (and a decision it triggers sees it).
    pub fn event(&self) -> Event {
        Event {
            kind: self.kind.clone(),
            at: self.at,
            channel: self.channel.clone(),
            amount_minor: self.amount_minor,
            sku: self.sku.clone(),
            category: self.category.clone(),
            props: self
                .props
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect(),
        }
    }
}

fn id_text(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    chars(field, value, ID_CHARS)
}

fn chars(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        let n = value.chars().count();
        if n > max {
            return Err(format!("{field} is {n} characters long; the limit is {max}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_json;

    fn event(json: &str) -> EventIn {
        from_json("event", json).expect("an event")
    }

    fn check(json: &str) -> Result<(), String> {
        event(json).check(
            &InputLimits::default(),
            Timestamp::parse("2026-03-10T00:00:00Z").unwrap(),
        )
    }

    #[test]
    fn an_event_needs_an_id_a_customer_a_kind_and_a_time() {
        let err = from_json::<EventIn>(
            "event",
            r#"{"customer_id":"c","kind":"view","at":"2026-03-01T00:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(err.0.contains("missing field `event_id`"), "{err}");
        assert_eq!(
            check(r#"{"event_id":"","customer_id":"c","kind":"view","at":"2026-03-01T00:00:00Z"}"#),
            Err("event_id is empty".into())
        );
        assert!(check(r#"{"event_id":"e","customer_id":"c","kind":"view","at":"2026-03-01T00:00:00Z"}"#).is_ok());
    }

    #[test]
    fn reserved_kinds_future_times_and_nulls_outside_attributes_are_refused() {
        let err = check(r#"{"event_id":"e","customer_id":"c","kind":"timer","at":"2026-03-01T00:00:00Z"}"#);
        assert!(err.unwrap_err().contains("reserved"));
        let err = check(r#"{"event_id":"e","customer_id":"c","kind":"view","at":"2026-03-12T00:00:00Z"}"#);
        assert!(
            err.unwrap_err()
                .starts_with("at 2026-03-12T00:00:00Z is more than a day ahead")
        );
        let err =
            check(r#"{"event_id":"e","customer_id":"c","kind":"view","at":"2026-03-01T00:00:00Z","props":{"x":null}}"#);
        assert!(err.unwrap_err().starts_with("props.x is null"));
        assert!(
            check(r#"{"event_id":"e","customer_id":"c","kind":"attributes","at":"2026-03-01T00:00:00Z","props":{"x":null}}"#)
                .is_ok()
        );
    }

    #[test]
    fn identify_events_carry_ids() {
        let ok = event(
            r#"{"event_id":"e","customer_id":"m-1","kind":"identify","at":"2026-03-01T00:00:00Z","props":{"phone":"138","wechat_unionid":"o-1"}}"#,
        );
        assert_eq!(
            ok.linked_ids().collect::<Vec<_>>(),
            [("phone", "138"), ("wechat_unionid", "o-1")]
        );
        assert!(!ok.is_behaviour());
        let err = check(
            r#"{"event_id":"e","customer_id":"m-1","kind":"identify","at":"2026-03-01T00:00:00Z","props":{"n":3}}"#,
        );
        assert!(
            err.unwrap_err()
                .starts_with("props.n: an identify event's props are ids")
        );
        let err = check(r#"{"event_id":"e","customer_id":"m-1","kind":"identify","at":"2026-03-01T00:00:00Z"}"#);
        assert!(err.unwrap_err().starts_with("props is empty"));
    }
}
