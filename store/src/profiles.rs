//! Profiles kept from the brand's events: what the store promises, and
//! the one way events are taken in, written once over a few steps each
//! backend implements ([`IntakeTx`]).
//!
//! The store keeps a customer's profile as bytes whose form is the host's
//! (`rulehost-profiles`): it folds events in through the [`Fold`] the
//! caller hands it, inside the transaction that records the events as
//! taken, so an event is applied once however often it arrives, and two
//! hosts taking events for one customer take turns.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rulehost_model::Timestamp;
use rulehost_model::events::EventIn;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Result, TimerChange, TimerKind, TouchRecord};

/// What became of one event taken in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Taken {
    /// The event.
    pub event_id: String,
    /// The customer it was folded into (the id every linked id stands for).
    pub customer_id: String,
    /// Whether it had been taken before (and so changed nothing now).
    pub duplicate: bool,
}

/// Folds events into kept profiles (the form of the bytes is the
/// caller's), and says which events start a decision.
pub trait Fold {
    /// The kept bytes of `customer` after taking in `parts` — its own kept
    /// bytes if it had any, then those of the customers an `identify`
    /// linked into it — and then `events`, in order.
    fn fold(&self, customer: &str, parts: &[&[u8]], events: &[&EventIn]) -> Result<Vec<u8>>;

    /// Whether `event`, taken in now for the first time, starts a decision
    /// (a [`TimerKind::Event`] timer due at once, set in the same
    /// transaction).
    fn starts(&self, event: &EventIn) -> bool {
        let _ = event;
        false
    }
}

/// A customer's kept profile and what its last decision concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProfile {
    /// The customer (the id its linked ids stand for).
    pub customer_id: String,
    /// The kept profile (see [`Fold`]).
    pub kept: Vec<u8>,
    /// The last committed decision's tags, scores and stage (a findings
    /// frame), if one was made.
    pub prior: Option<Vec<u8>>,
    /// When an event last changed it.
    pub updated_at: Timestamp,
}

/// A change of a customer's stage, by a committed decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StageChange {
    /// When.
    pub at: Timestamp,
    /// The stage before (none: the first decision that set one).
    pub from: Option<String>,
    /// The stage after.
    pub to: String,
    /// The decision that changed it.
    pub decision_id: String,
}

/// An id linked to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alias {
    /// The id.
    pub id: String,
    /// The `identify` event that linked it.
    pub event_id: String,
    /// When it was linked.
    pub linked_at: Timestamp,
}

/// Everything kept of a customer, for its page.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// The profile.
    pub profile: StoredProfile,
    /// The ids linked to it.
    pub aliases: Vec<Alias>,
    /// Its stage changes, oldest first (the newest 100).
    pub stages: Vec<StageChange>,
    /// Its recent touches in the contact ledger, newest first (at most 100).
    pub touches: Vec<TouchRecord>,
}

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Erasure {
    /// The pseudonym the ledger and the decision log now keep instead of
    /// the customer's ids (random: it cannot be traced back).
    pub pseudonym: String,
    /// Ids removed with it (the customer's and those linked to it).
    pub ids: usize,
    /// Events it had taken in.
    pub events: usize,
    /// Touches in the ledger now under the pseudonym.
    pub touches: usize,
    /// Logged decisions emptied of everything but their counts.
    pub decisions: usize,
    /// Timers and touches not yet delivered, removed.
    pub pending: usize,
}

/// What a committed decision leaves in the customer's kept profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concluded {
    /// The decision's tags, scores and stage (a findings frame): the prior
    /// of the customer's next decision.
    pub findings: Vec<u8>,
    /// The stage it placed the customer in, if any.
    pub stage: Option<String>,
    /// The decision.
    pub decision_id: String,
    /// When it was made.
    pub at: Timestamp,
}

/// Kept profiles.
pub trait ProfileStore {
    /// Takes in events in order, in one transaction: each not taken before
    /// (by `event_id`) is folded into its customer's kept profile with
    /// `fold`; an `identify` links ids to its customer, whose profile
    /// absorbs theirs, and whose ledger, decision log and stage history
    /// take in theirs.
    fn take_events(&self, tenant_id: &str, events: &[EventIn], fold: &dyn Fold) -> Result<Vec<Taken>>;
    /// The kept profile of the customer `id` stands for, if one is kept.
    fn stored_profile(&self, tenant_id: &str, id: &str) -> Result<Option<StoredProfile>>;
    /// Everything kept of the customer `id` stands for, if a profile is.
    fn customer(&self, tenant_id: &str, id: &str) -> Result<Option<CustomerRecord>>;
    /// Erases the customer `id` stands for: its profile, taken events and
    /// linked ids go; its touches and logged decisions keep only a random
    /// pseudonym and what counts (no profile, no explanation). Audited
    /// under the pseudonym.
    fn erase_customer(&self, actor: &str, tenant_id: &str, id: &str) -> Result<Erasure>;
    /// Forgets events taken before `before` (by when they happened: no
    /// profile keeps them any longer, so one sent again is kept no more than
    /// it was); returns how many.
    fn compact_intake(&self, tenant_id: &str, before: Timestamp) -> Result<usize>;
    /// Records a message of the event stream that could never be taken in.
    fn record_dead_letter(&self, letter: &DeadLetter) -> Result<()>;
    /// How many dead letters a tenant has (kept), and the newest `limit`.
    fn dead_letters(&self, tenant_id: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>)>;
    /// Forgets dead letters from before `before`; returns how many.
    fn compact_dead_letters(&self, before: Timestamp) -> Result<usize>;
}

/// A message of the event stream that could never be taken in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    /// The tenant its subject names (`_unknown` if none).
    pub tenant_id: String,
    /// When it was dead-lettered.
    pub at: Timestamp,
    /// Its subject.
    pub subject: String,
    /// Why it could not be taken in.
    pub reason: String,
    /// Its first 200 characters.
    pub excerpt: String,
}

/// An event as recorded taken.
pub(crate) struct IntakeRow<'a> {
    pub event_id: &'a str,
    pub customer_id: &'a str,
    pub kind: &'a str,
    pub at: i64,
    pub amount_minor: Option<i64>,
}

/// The steps of taking events in, inside one transaction of a backend.
pub(crate) trait IntakeTx {
    /// Of `ids`, those linked to another, with the id they stand for.
    fn canonical(&mut self, ids: &[&str]) -> Result<HashMap<String, String>>;
    /// Holds `customers` (in this order) until the transaction ends, against
    /// other hosts.
    fn lock(&mut self, customers: &[&str]) -> Result<()>;
    /// Records events as taken; returns the ids of those not taken before.
    fn record(&mut self, rows: &[IntakeRow<'_>]) -> Result<HashSet<String>>;
    /// The kept bytes of those `customers` that have a profile.
    fn kept(&mut self, customers: &[&str]) -> Result<HashMap<String, Vec<u8>>>;
    /// Stores customers' kept bytes.
    fn save(&mut self, profiles: &[(String, Vec<u8>)]) -> Result<()>;
    /// Removes the profile of a customer another absorbed.
    fn remove(&mut self, customer: &str) -> Result<()>;
    /// Links `alias` (and every id linked to it) to `customer`.
    fn link(&mut self, alias: &str, customer: &str, event_id: &str) -> Result<()>;
    /// Moves what is kept under `from` (touches, logged decisions, taken
    /// events, stage history, timers, outbox entries) to `to`.
    fn rekey(&mut self, from: &str, to: &str) -> Result<()>;
    /// Sets timers of customers.
    fn schedule(&mut self, timers: &[(String, TimerChange)]) -> Result<()>;
}

/// Takes events in (see [`ProfileStore::take_events`]) over a backend's
/// transaction.
pub(crate) fn take(tx: &mut dyn IntakeTx, events: &[EventIn], fold: &dyn Fold) -> Result<Vec<Taken>> {
    // Every id the events name, resolved and held; a link another host
    // committed while this one waited for a hold is found when the ids
    // are resolved again, and the new customers are held too.
    let ids: Vec<&str> = events
        .iter()
        .flat_map(|e| std::iter::once(e.customer_id.as_str()).chain(e.linked_ids().map(|(_, id)| id)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut held: BTreeSet<String> = BTreeSet::new();
    let resolved = loop {
        let resolved = tx.canonical(&ids)?;
        let new: BTreeSet<&str> = ids
            .iter()
            .map(|id| resolved.get(*id).map_or(*id, String::as_str))
            .filter(|root| !held.contains(*root))
            .collect();
        if new.is_empty() {
            break resolved;
        }
        tx.lock(&new.iter().copied().collect::<Vec<_>>())?;
        held.extend(new.into_iter().map(str::to_owned));
    };
    let root = |id: &str| resolved.get(id).cloned().unwrap_or_else(|| id.to_owned());

    let rows: Vec<IntakeRow<'_>> = events
        .iter()
        .map(|e| IntakeRow {
            event_id: &e.event_id,
            customer_id: resolved.get(&e.customer_id).map_or(&e.customer_id, |c| c),
            kind: &e.kind,
            at: e.at.0,
            amount_minor: e.amount_minor,
        })
        .collect();
    let new = tx.record(&rows)?;

    // The batch's links, in order, over what was stored: `parent` points
    // a customer absorbed here (any id not linked before is a customer of
    // its own) to the one that absorbed it.
    let mut parent: HashMap<String, String> = HashMap::new();
    let find = |parent: &HashMap<String, String>, id: &str| {
        let mut at = root(id);
        while let Some(next) = parent.get(&at) {
            at = next.clone();
        }
        at
    };
    let mut merges: Vec<(String, &str)> = Vec::new();
    let mut seen = HashSet::new();
    for e in events
        .iter()
        .filter(|e| new.contains(&e.event_id) && seen.insert(&e.event_id))
    {
        let into = find(&parent, &e.customer_id);
        for (_, id) in e.linked_ids() {
            let from = find(&parent, id);
            if from != into {
                parent.insert(from.clone(), into.clone());
                merges.push((from, &e.event_id));
            }
        }
    }

    // Each new event folded into its customer as the batch leaves it, and
    // each absorbed customer's profile into the one that absorbed it.
    let mut folds: BTreeMap<String, Vec<&EventIn>> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut taken = Vec::with_capacity(events.len());
    for e in events {
        let customer = find(&parent, &e.customer_id);
        let fresh = new.contains(&e.event_id) && seen.insert(&e.event_id);
        if fresh {
            folds.entry(customer.clone()).or_default().push(e);
        }
        taken.push(Taken {
            event_id: e.event_id.clone(),
            customer_id: customer,
            duplicate: !fresh,
        });
    }
    let mut absorbed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for from in parent.keys() {
        absorbed.entry(find(&parent, from)).or_default().push(from.clone());
    }
    for into in absorbed.keys() {
        folds.entry(into.clone()).or_default();
    }
    let wanted: Vec<&str> = folds
        .keys()
        .map(String::as_str)
        .chain(parent.keys().map(String::as_str))
        .collect();
    let kept = tx.kept(&wanted)?;
    let mut folded = Vec::with_capacity(folds.len());
    for (customer, events) in folds {
        let mut parts: Vec<&[u8]> = kept.get(&customer).map(Vec::as_slice).into_iter().collect();
        let others = absorbed.get(&customer).map(Vec::as_slice).unwrap_or_default();
        parts.extend(others.iter().filter_map(|o| kept.get(o).map(Vec::as_slice)));
        let bytes = fold.fold(&customer, &parts, &events)?;
        folded.push((customer, bytes));
    }
    tx.save(&folded)?;
    for (from, event_id) in &merges {
        let into = find(&parent, from);
        tx.remove(from)?;
        tx.rekey(from, &into)?;
        tx.link(from, &into, event_id)?;
    }
    let starts: Vec<(String, TimerChange)> = events
        .iter()
        .zip(&taken)
        .filter(|(e, t)| !t.duplicate && fold.starts(e))
        .map(|(e, t)| {
            (
                t.customer_id.clone(),
                TimerChange::Set {
                    kind: TimerKind::Event,
                    key: e.event_id.clone(),
                    due_at: Timestamp::now(),
                    body: serde_json::to_string(e).unwrap_or_default(),
                    set_by: e.event_id.clone(),
                },
            )
        })
        .collect();
    if !starts.is_empty() {
        tx.schedule(&starts)?;
    }
    Ok(taken)
}

/// A random pseudonym for an erased customer.
pub(crate) fn pseudonym() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    format!("erased-{}", hex::encode(bytes))
}

/// What a committing decision also writes: its conclusions, for the
/// customer's kept profile (see [`Concluded`]).
pub(crate) fn stage_changed(last: Option<&str>, concluded: &Concluded) -> Option<StageChange> {
    let to = concluded.stage.as_deref()?;
    (last != Some(to)).then(|| StageChange {
        at: concluded.at,
        from: last.map(str::to_owned),
        to: to.to_owned(),
        decision_id: concluded.decision_id.clone(),
    })
}
