//! Canary rollout: a candidate version answers for a share of customers.
//!
//! Which customers is a stable hash of the customer id (and the slot and
//! version), so a customer stays on one version from decision to decision,
//! and widening the share keeps every customer already on the canary there.
//! Decisions on either version are counted per version (here and in the
//! metrics) and the canary's decisions carry a tag in the decision log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::Plugin;
use crate::policy::in_share;
use crate::registry::Candidate;

/// Per-attachment state kept across snapshot rebuilds while the same
/// version stays attached to a slot (a new share keeps it), by (tenant,
/// slot).
pub struct Kept<T> {
    map: Mutex<HashMap<SlotKey, (Candidate, Arc<T>)>>,
}

/// (tenant, slot).
type SlotKey = (String, String);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Kept<T> {
    /// The state of `candidate`: kept if the same version has been attached
    /// since the same time, else new.
    pub fn get(&self, tenant: &str, candidate: &Candidate, new: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant.to_owned(), candidate.slot.clone());
        let kept = map
            .get(&key)
            .filter(|(c, _)| same(c, candidate))
            .map(|(_, state)| state.clone());
        let state = kept.unwrap_or_else(|| Arc::new(new()));
        map.insert(key, (candidate.clone(), state.clone()));
        state
    }

    /// Forgets the tenant's attachments not in `attached`.
    pub fn retain(&self, tenant: &str, attached: &[Candidate]) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|(t, _), (c, _)| t != tenant || attached.iter().any(|a| same(a, c)));
    }
}

/// The same attachment: the same version since the same time.
fn same(a: &Candidate, b: &Candidate) -> bool {
    a.slot == b.slot && a.name == b.name && a.version == b.version && a.since == b.since
}

/// Decisions and errors on one side of a canary.
#[derive(Default)]
struct Counts {
    decisions: AtomicU64,
    errors: AtomicU64,
}

/// Both sides' counts.
#[derive(Default)]
pub struct CanaryCounts {
    active: Counts,
    canary: Counts,
}

/// A canary as decisions run it.
pub struct CanaryRun {
    /// What is attached.
    pub candidate: Candidate,
    /// The slot's place among the plugins that run.
    pub at: usize,
    /// The candidate, loaded.
    pub plugin: Arc<Plugin>,
    /// The version the slot runs for everyone else.
    pub active_version: String,
    /// The decision log's tag for the canary's decisions.
    pub tag: String,
    salt: String,
    counts: Arc<CanaryCounts>,
}

/// One version's decisions under a canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionCount {
    /// The version.
    pub version: String,
    /// Decisions it answered since the canary was attached.
    pub decisions: u64,
    /// Decisions that ended in an error.
    pub errors: u64,
}

/// A canary's share and its decisions per version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CanaryStatus {
    /// What is attached.
    pub canary: Candidate,
    /// The slot's active version, for the other customers.
    pub active: VersionCount,
    /// The canary version.
    pub candidate: VersionCount,
}

impl CanaryStatus {
    /// Adds another host's counts of the same canary.
    pub fn add(&mut self, other: &CanaryStatus) {
        for (mine, theirs) in [
            (&mut self.active, &other.active),
            (&mut self.candidate, &other.candidate),
        ] {
            mine.decisions += theirs.decisions;
            mine.errors += theirs.errors;
        }
    }
}

impl CanaryRun {
    /// A canary run, counting into `counts`.
    pub fn new(
        candidate: Candidate,
        at: usize,
        plugin: Arc<Plugin>,
        active_version: String,
        counts: Arc<CanaryCounts>,
    ) -> Self {
        let salt = format!("canary:{}:{}:{}", candidate.slot, candidate.name, candidate.version);
        let tag = format!("canary:{}:{}@{}", candidate.slot, candidate.name, candidate.version);
        Self {
            candidate,
            at,
            plugin,
            active_version,
            tag,
            salt,
            counts,
        }
    }

    /// Whether the customer is on the canary.
    pub fn applies(&self, customer_id: &str) -> bool {
        in_share(&self.salt, customer_id, self.candidate.percent)
    }

    /// Counts a decision on the canary (`on`) or the active version.
    pub fn count(&self, on: bool, ok: bool) {
        let side = if on { &self.counts.canary } else { &self.counts.active };
        side.decisions.fetch_add(1, Ordering::Relaxed);
        if !ok {
            side.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The version a decision ran in the slot.
    pub fn version(&self, on: bool) -> &str {
        if on {
            &self.candidate.version
        } else {
            &self.active_version
        }
    }

    /// Its share and counts.
    pub fn status(&self) -> CanaryStatus {
        let count = |side: &Counts, version: &str| VersionCount {
            version: version.to_owned(),
            decisions: side.decisions.load(Ordering::Relaxed),
            errors: side.errors.load(Ordering::Relaxed),
        };
        CanaryStatus {
            canary: self.candidate.clone(),
            active: count(&self.counts.active, &self.active_version),
            candidate: count(&self.counts.canary, &self.candidate.version),
        }
    }
}
