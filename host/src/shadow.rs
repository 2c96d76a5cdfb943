//! Shadow runs: a candidate version beside a slot's active version.
//!
//! For a sampled share of customers (a stable hash of the customer id), a
//! live decision hands a copy of its request — with the config, catalog and
//! policy it used and what its policy read from the ledger — to a bounded
//! queue after it is decided, and one background thread runs the candidate
//! pipeline on it and counts the difference into the shadow's report. The
//! live answer never waits: when the queue is full the run is dropped and
//! counted. The candidate sees exactly the live request, so what differs is
//! the candidate's doing; it never writes to the ledger or the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::canary::Kept;
use crate::compare::{ArmSummary, Outcome, Report, Tally};
use crate::decision::Decision;
use crate::engine::{Engine, Limits, Plugin};
use crate::model::{Request, TenantConfig};
use crate::policy::{Ledger, Policy, in_share};
use crate::registry::Candidate;

/// Shadow runs queued at most; more are dropped and counted.
pub const QUEUE: usize = 1024;

/// Customers whose diffs a shadow report keeps.
const SAMPLES: usize = 50;

/// A shadow as the live layer runs it.
pub struct ShadowRun {
    /// What is attached.
    pub shadow: Candidate,
    /// The candidate pipeline: the active one with the candidate in the
    /// shadow's slot.
    pub plugins: Vec<Arc<Plugin>>,
    /// The active pipeline, for the report.
    pub baseline: ArmSummary,
    /// The candidate pipeline, for the report.
    pub candidate: ArmSummary,
    stats: Arc<Stats>,
}

struct Stats {
    tally: Mutex<Tally>,
    sampled: AtomicU64,
    dropped: AtomicU64,
    compared: AtomicU64,
}

impl Stats {
    fn new() -> Self {
        Self {
            tally: Mutex::new(Tally::new(SAMPLES)),
            sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            compared: AtomicU64::new(0),
        }
    }
}

/// A shadow's counts and report so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShadowStatus {
    /// What is attached.
    pub shadow: Candidate,
    /// Live decisions sampled for the candidate.
    pub sampled: u64,
    /// Sampled decisions the candidate has run on and that are counted.
    pub compared: u64,
    /// Sampled decisions dropped because the shadow queue was full.
    pub dropped: u64,
    /// Sampled decisions still queued.
    pub pending: u64,
    /// Active (baseline) against candidate over the compared decisions.
    pub report: Report,
}

/// One live decision for the candidate to run again.
pub struct Job {
    /// The shadow.
    pub run: Arc<ShadowRun>,
    /// The live request.
    pub request: Request,
    /// The config it used.
    pub config: Arc<TenantConfig>,
    /// The policy it used.
    pub policy: Arc<Policy>,
    /// Its limits.
    pub limits: Limits,
    /// What its policy read from the ledger.
    pub ledger: Option<Ledger>,
    /// The live decision.
    pub live: Decision,
    /// Whose lane the candidate runs on.
    pub owner: Arc<str>,
}

/// The shadow queue and every shadow's counts.
pub struct Shadows {
    queue: SyncSender<Job>,
    /// Counts, kept across snapshot rebuilds while the same version stays
    /// attached.
    stats: Kept<Stats>,
}

impl Shadows {
    /// Starts the shadow thread; `rerun` runs a job's candidate.
    pub fn start(engine: Arc<Engine>, rerun: fn(&Engine, &Job) -> Outcome) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("rulehost-shadow".into())
            .spawn(move || work(&engine, &jobs, rerun))?;
        Ok(Self {
            queue,
            stats: Kept::default(),
        })
    }

    /// The run of `shadow` for a new snapshot: the same counts while the
    /// same shadow stays attached, fresh ones for a new one.
    pub fn run(
        &self,
        tenant: &str,
        shadow: Candidate,
        plugins: Vec<Arc<Plugin>>,
        baseline: ArmSummary,
    ) -> Arc<ShadowRun> {
        let counts = self.stats.get(tenant, &shadow, Stats::new);
        let candidate = ArmSummary::of(format!("{} {} (shadow)", shadow.name, shadow.version), &plugins);
        Arc::new(ShadowRun {
            shadow,
            plugins,
            baseline,
            candidate,
            stats: counts,
        })
    }

    /// Forgets the counts of shadows no longer attached.
    pub fn retain(&self, tenant: &str, attached: &[Candidate]) {
        self.stats.retain(tenant, attached);
    }

    /// Queues the candidate's run of a live decision if the customer is in
    /// the sample; never waits.
    pub fn offer(&self, run: &Arc<ShadowRun>, customer_id: &str, job: impl FnOnce() -> Job) {
        let shadow = &run.shadow;
        let salt = format!("shadow:{}:{}:{}", shadow.slot, shadow.name, shadow.version);
        if !in_share(&salt, customer_id, shadow.percent) {
            return;
        }
        run.stats.sampled.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.queue.try_send(job()) {
            run.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ShadowRun {
    /// Counts and report so far.
    pub fn status(&self) -> ShadowStatus {
        let tally = self.stats.tally.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (sampled, compared, dropped) = (
            self.stats.sampled.load(Ordering::Relaxed),
            self.stats.compared.load(Ordering::Relaxed),
            self.stats.dropped.load(Ordering::Relaxed),
        );
        ShadowStatus {
            shadow: self.shadow.clone(),
            sampled,
            compared,
            dropped,
            pending: sampled.saturating_sub(compared + dropped),
            report: tally.report(self.baseline.clone(), self.candidate.clone(), Vec::new()),
        }
    }
}

fn work(engine: &Engine, jobs: &Receiver<Job>, rerun: fn(&Engine, &Job) -> Outcome) {
    for job in jobs {
        let outcome = rerun(engine, &job);
        let stats = &job.run.stats;
        stats.tally.lock().unwrap_or_else(|p| p.into_inner()).add(
            &job.request.profile.customer_id,
            &Ok(job.live.clone()),
            &outcome,
        );
        stats.compared.fetch_add(1, Ordering::Relaxed);
    }
}
