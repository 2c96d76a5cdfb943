//! Timers and the outbox: what the store promises of work that runs on its
//! own, across hosts.
//!
//! A [`Timer`] is a decision (or a delivery) due at an instant for one
//! customer: a triggering event's decision, due at once; a plugin's
//! wake-up; a touch deferred past quiet hours. A host claims due timers
//! for a short lease under a fresh token, renews the lease while it works,
//! and consumes a timer in the same transaction as everything the work
//! commits ([`Effects::done`](crate::Effects)): a timer whose claim was
//! lost (its host died, the lease ran out and another host claimed it)
//! cannot be consumed twice.
//!
//! The outbox holds the touches live decisions committed, written in the
//! transaction that recorded them in the ledger. One sequencer gives them
//! increasing numbers in the order they become visible: the pull feed's
//! cursor never skips one committed late. A relay publishes them and marks
//! them published.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use rulehost_model::Timestamp;

use crate::Result;

/// What a timer starts when it falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// A decision triggered by an event taken in (key: the event id, body:
    /// the event).
    Event,
    /// A decision a plugin asked for (key: the plugin's key, body: the
    /// wake-up's reason).
    Wake,
    /// The delivery of a touch deferred past quiet hours (key: the touch
    /// id, body: the delivery).
    Touch,
}

impl TimerKind {
    /// Its name in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Event => "event",
            TimerKind::Wake => "wake",
            TimerKind::Touch => "touch",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "event" => TimerKind::Event,
            "wake" => TimerKind::Wake,
            "touch" => TimerKind::Touch,
            _ => return None,
        })
    }
}

/// A timer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Timer {
    /// The tenant.
    pub tenant_id: String,
    /// The customer.
    pub customer_id: String,
    /// What it starts.
    pub kind: TimerKind,
    /// Unique per customer and kind: setting it again replaces it.
    pub key: String,
    /// When it falls due.
    pub due_at: Timestamp,
    /// What it carries (see [`TimerKind`]).
    pub body: String,
    /// When it was set.
    pub set_at: Timestamp,
    /// Who set it: the event or decision.
    pub set_by: String,
    /// The token of the host that holds it, while one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Times it was run and let go to be tried again.
    pub attempts: u32,
}

/// A timer for a decision's customer to set (replacing one of the same
/// kind and key) or clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerChange {
    /// Sets it.
    Set {
        /// What it starts.
        kind: TimerKind,
        /// Its key.
        key: String,
        /// When it falls due.
        due_at: Timestamp,
        /// What it carries.
        body: String,
        /// Who sets it.
        set_by: String,
    },
    /// Clears it (nothing if it is not set).
    Clear {
        /// What it starts.
        kind: TimerKind,
        /// Its key.
        key: String,
    },
}

/// A touch for the outbox, as a decision commits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Unique per tenant.
    pub touch_id: String,
    /// When it is to be sent: past that, it goes to the outbox at once;
    /// before, it waits as a [`TimerKind::Touch`] timer.
    pub send_at: Timestamp,
    /// What receivers get (JSON).
    pub body: String,
}

/// A touch in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The tenant.
    pub tenant_id: String,
    /// Unique per tenant.
    pub touch_id: String,
    /// Its number in the feed.
    pub seq: i64,
    /// What receivers get (JSON).
    pub body: String,
}

/// Timers: set by intake and decisions (in their transactions), claimed
/// and consumed by whichever host runs them.
pub trait TimerStore {
    /// Claims up to `max` timers due at `now` that no host holds (or whose
    /// holder's lease ran out), each under a fresh token, until
    /// `lease_until`; the earliest due first.
    fn claim_timers(&self, now: Timestamp, lease_until: Timestamp, max: usize) -> Result<Vec<Timer>>;
    /// Extends the leases of the claims still held; returns how many are.
    fn renew_claims(&self, claims: &[String], lease_until: Timestamp) -> Result<usize>;
    /// Lets a claimed timer go: due again at `retry_at` with one attempt
    /// more, or dropped (`None`). A claim no longer held changes nothing.
    fn release_timer(&self, claim: &str, retry_at: Option<Timestamp>) -> Result<()>;
    /// Delivers a claimed [`TimerKind::Touch`] timer: its outbox entry
    /// written and the timer consumed, in one transaction; `false` if the
    /// claim is no longer held (another host has it).
    fn deliver_deferred(&self, claim: &str) -> Result<bool>;
    /// When the earliest timer falls due, if any is set.
    fn next_due(&self) -> Result<Option<Timestamp>>;
    /// The customer's timers (by any of its ids), earliest first.
    fn timers_of(&self, tenant_id: &str, id: &str) -> Result<Vec<Timer>>;
}

/// The outbox.
pub trait OutboxStore {
    /// Numbers up to `max` entries not numbered yet, after every number
    /// given before (one sequencer at a time across the fleet); returns how
    /// many.
    fn sequence_outbox(&self, max: usize) -> Result<usize>;
    /// A tenant's numbered entries after `after`, in order, at most
    /// `limit`.
    fn outbox(&self, tenant_id: &str, after: i64, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// Numbered entries not yet published, in order, at most `max`.
    fn unpublished(&self, max: usize) -> Result<Vec<OutboxEntry>>;
    /// Marks entries published.
    fn mark_published(&self, entries: &[(String, String)]) -> Result<()>;
    /// Drops entries created before `before` that are published (or, when
    /// nothing publishes, numbered); returns how many.
    fn compact_outbox(&self, before: Timestamp, published_only: bool) -> Result<usize>;
}
