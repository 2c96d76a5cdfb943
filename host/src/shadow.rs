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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::canary::Kept;
use crate::compare::{ArmSummary, Outcome, Report, Tally};
use crate::decision::Decision;
use crate::engine::{Engine, Limits, Plugin};
use crate::model::TenantConfig;
use crate::policy::{Ledger, Policy, in_share};
use crate::registry::Candidate;
use crate::request::Framed;

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
    /// What the sampling hash is salted with (slot and version).
    salt: String,
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

impl ShadowStatus {
    /// Adds another host's counts and report of the same shadow.
    pub fn add(&mut self, other: &ShadowStatus) {
        self.sampled += other.sampled;
        self.compared += other.compared;
        self.dropped += other.dropped;
        self.pending += other.pending;
        self.report.merge(&other.report, SAMPLES);
    }
}

/// One live decision for the candidate to run again.
pub struct Job {
    /// The shadow.
    pub run: Arc<ShadowRun>,
    /// The live request (shared with the decision log).
    pub request: Arc<Framed>,
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
            salt: format!("shadow:{}:{}:{}", shadow.slot, shadow.name, shadow.version),
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
        if !in_share(&run.salt, customer_id, run.shadow.percent) {
            return;
        }
        run.stats.sampled.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.queue.try_send(job()) {
            run.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ShadowRun {
    /// Counts and report so far; the report's budgets are those of
    /// `policy` (the tenant's), on top of `used_before`.
    pub fn status(&self, policy: &Policy, used_before: &HashMap<String, u64>) -> ShadowStatus {
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
            report: tally.report(
                self.baseline.clone(),
                self.candidate.clone(),
                [policy, policy],
                used_before,
            ),
        }
    }
}

fn work(engine: &Engine, jobs: &Receiver<Job>, rerun: fn(&Engine, &Job) -> Outcome) {
    for job in jobs {
        let outcome = rerun(engine, &job);
        let stats = &job.run.stats;
        stats.tally.lock().unwrap_or_else(|p| p.into_inner()).add(
            &job.request.customer_id,
            &Ok(job.live.clone()),
            &outcome,
        );
        stats.compared.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::decision::Usage;
    use crate::engine::EngineConfig;
    use crate::input::InputLimits;
    use crate::model::{Mode, Profile, Request, Timestamp};

    /// Holds the shadow thread inside its first job until opened.
    static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    /// A candidate that fails every run, once the gate is open.
    fn gated_failure(_: &Engine, _: &Job) -> Outcome {
        let (open, opened) = &GATE;
        let mut open = open.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
        Err(crate::compare::Failure {
            code: "plugin_error".into(),
            message: "the candidate trapped".into(),
        })
    }

    fn decision(customer_id: &str) -> Decision {
        Decision {
            customer_id: customer_id.into(),
            stage: None,
            tags: Vec::new(),
            scores: Vec::new(),
            proposals: Vec::new(),
            plugins: Vec::new(),
            usage: Usage {
                fuel: 0,
                duration_us: 0,
                memory_bytes: 0,
            },
            logs: Vec::new(),
            wakes: Vec::new(),
            decision_id: None,
            holdout: None,
            selected: None,
            suppressed: None,
            committed: None,
        }
    }

    fn job(run: &Arc<ShadowRun>, customer_id: &str) -> Job {
        Job {
            run: run.clone(),
            request: Arc::new(
                Framed::of(
                    &Request {
                        now: Timestamp(0),
                        tz_offset_minutes: 0,
                        seed: 0,
                        mode: Mode::Live,
                        trigger: None,
                        profile: Profile::with_id(customer_id),
                        offers: Vec::new().into(),
                    },
                    &InputLimits::default(),
                )
                .expect("an input"),
            ),
            config: Arc::default(),
            policy: Arc::default(),
            limits: Limits::default(),
            ledger: None,
            live: decision(customer_id),
            owner: "t".into(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_waits() {
        let engine = Arc::new(Engine::new(EngineConfig::default()).expect("an engine"));
        let shadows = Shadows::start(engine, gated_failure).expect("the shadow thread");
        let shadow = Candidate {
            slot: "main".into(),
            name: "p".into(),
            version: "2.0.0".into(),
            percent: 100.0,
            since: Timestamp(0),
        };
        let summary = ArmSummary {
            label: "active".into(),
            plugins: Vec::new(),
        };
        let run = shadows.run("t", shadow, Vec::new(), summary);

        // The thread holds one job at the gate and the queue holds QUEUE:
        // of QUEUE + 100 offers, the last 99 or 100 are dropped, and no
        // offer waits for the blocked thread.
        let offers = QUEUE + 100;
        let started = Instant::now();
        for i in 0..offers {
            shadows.offer(&run, &format!("c{i}"), || job(&run, &format!("c{i}")));
            if i == 0 {
                // Let the thread take the first job before the queue fills.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "offering waited for the shadow thread"
        );
        let status = run.status(&Policy::default(), &HashMap::new());
        assert_eq!(status.sampled, offers as u64);
        assert!((99..=100).contains(&status.dropped), "dropped {}", status.dropped);
        assert_eq!(status.compared, 0);
        assert_eq!(status.pending, status.sampled - status.dropped);

        // Once the candidate runs, everything queued is compared and its
        // errors are counted by code.
        let (open, opened) = &GATE;
        *open.lock().unwrap() = true;
        opened.notify_all();
        let deadline = Instant::now() + Duration::from_secs(30);
        while run.status(&Policy::default(), &HashMap::new()).pending > 0 {
            assert!(Instant::now() < deadline, "the queue did not drain");
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = run.status(&Policy::default(), &HashMap::new());
        assert_eq!(status.compared + status.dropped, status.sampled);
        let errors = &status.report.errors;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].code, "plugin_error");
        assert_eq!(errors[0].count.candidate, status.compared);
        assert_eq!(errors[0].count.baseline, 0);
    }
}
