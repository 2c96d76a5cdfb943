//! One decision on a snapshot: admission, the tenant's lane, the pipeline,
//! the contact policy against the ledger, the log, and the candidates that
//! watch it (shadows and canaries).

use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use super::{Live, LiveError, Result, Snapshot};
use crate::compare::{self, Failure};
use crate::decision::Decision;
use crate::decision_log::{LogRecord, Pending};
use crate::engine::{Engine, Lane, Plugin};
use crate::input::{Context, InputLimits};
use crate::model::Mode;
use crate::model::outbox::Delivery;
use crate::model::{TenantConfig, Timestamp};
use crate::pipeline;
use crate::policy::{self, Ledger, MS_PER_DAY, Outcome, Policy};
use crate::registry::{
    Concluded, Effects, Outgoing, RegistryError, StoredProfile, TenantLimits, TimerChange, TimerKind, TouchRecord,
};
use crate::request::{Arrived, Framed};
use crate::shadow;

impl Live {
    /// Takes one of the tenant's decision slots, or says the tenant is busy.
    pub fn admit(&self, tenant: &str) -> Result<(Arc<Snapshot>, OwnedSemaphorePermit)> {
        if !self.is_ready() {
            return Err(self.not_ready());
        }
        let snapshot = self.snapshot(tenant)?;
        if snapshot.tenant.disabled {
            return Err(LiveError::Disabled(tenant.to_owned()));
        }
        if let Some(reason) = &snapshot.unavailable {
            return Err(LiveError::Unavailable(tenant.to_owned(), reason.clone()));
        }
        match snapshot.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok((snapshot, permit)),
            Err(_) => {
                self.metrics.rejected(tenant);
                Err(LiveError::Busy(
                    tenant.to_owned(),
                    snapshot.tenant.limits.max_concurrent_decisions,
                ))
            }
        }
    }

    /// A lane for one of `snapshot`'s decisions, the thread waiting in line,
    /// parked (see [`crate::engine::lanes`]).
    pub fn lane(&self, snapshot: &Snapshot) -> Lane {
        self.engine.lane(snapshot.owner.clone())
    }

    /// [`Live::decide_on`] a lane taken first, blocking the thread in line;
    /// for bulk callers (a batch), which also wait for the decision log to
    /// keep up (see [`DecisionLog::pace`](crate::decision_log::DecisionLog::pace)).
    pub fn decide_blocking(&self, snapshot: &Snapshot, request: Arrived) -> Result<Decision> {
        let (input, commit) = self.input(snapshot, request)?;
        let decision = self.decide_on(self.lane(snapshot), snapshot, input, commit, None);
        self.log.pace();
        decision
    }

    /// A request's input on an admitted snapshot: its profile as sent, or
    /// the customer's kept profile (read from the store: take no lane
    /// before), then the trigger, the catalog and the context; and whether
    /// it commits. Blocking.
    pub fn input(&self, snapshot: &Snapshot, request: Arrived) -> Result<(Framed, bool)> {
        let tenant = &snapshot.tenant;
        if snapshot.plugins.is_empty() {
            return Err(LiveError::NoPipeline(tenant.id.clone()));
        }
        let (now, seed, mode, commit) = (request.now, request.seed, request.mode, request.commit);
        let context = |customer: &str| Context {
            now: now.unwrap_or_else(Timestamp::now),
            seed: seed.unwrap_or_else(|| default_seed(&tenant.id, customer)),
            tz_offset_minutes: tenant.tz_offset_minutes,
            mode: mode.unwrap_or_default(),
        };
        let input = request.frame(context, snapshot.offers.clone(), &InputLimits::default(), |id| {
            self.stored_profile(&tenant.id, id)
        })?;
        Ok((input, commit))
    }

    /// The kept profile of the customer `id` stands for, or not found.
    pub(super) fn stored_profile(&self, tenant: &str, id: &str) -> Result<StoredProfile> {
        self.registry.stored_profile(tenant, id)?.ok_or_else(|| {
            LiveError::Registry(RegistryError::NotFound(format!(
                "tenant {tenant:?} keeps no profile of customer {id:?}: send its events to \
                 POST /v1/tenants/{tenant}/events first, or decide with a `profile`"
            )))
        })
    }

    /// Decides for one request's input on an admitted snapshot: the plugins
    /// propose on `lane`, which is then passed on; the tenant's policy
    /// decides against the contact ledger (recording the selected touches,
    /// and keeping the decision's conclusions with the customer's kept
    /// profile, if the request commits), and the decision is logged.
    /// Blocking: run it on the blocking pool.
    pub fn decide_on(
        &self,
        lane: Lane,
        snapshot: &Snapshot,
        request: Framed,
        commit: bool,
        moment: Option<Moment<'_>>,
    ) -> Result<Decision> {
        let tenant = &snapshot.tenant;
        if snapshot.plugins.is_empty() {
            return Err(LiveError::NoPipeline(tenant.id.clone()));
        }
        // Canaries: the customer's slots that run a candidate instead.
        let on: Vec<bool> = snapshot
            .canaries
            .iter()
            .map(|c| c.applies(&request.customer_id))
            .collect();
        let canary_plugins = on.iter().any(|on| *on).then(|| {
            let mut plugins = snapshot.plugins.clone();
            for (canary, _) in snapshot.canaries.iter().zip(&on).filter(|(_, on)| **on) {
                plugins[canary.at] = canary.plugin.clone();
            }
            plugins
        });
        let count = |outcome: &str| {
            for (canary, on) in snapshot.canaries.iter().zip(&on) {
                canary.count(*on, outcome == "ok");
                self.metrics
                    .canary(&tenant.id, &canary.candidate.slot, canary.version(*on), outcome);
            }
        };
        let started = Instant::now();
        let result = pipeline::decide_frame(
            &self.engine,
            Some(&lane),
            canary_plugins.as_deref().unwrap_or(&snapshot.plugins),
            &request.frame(),
            snapshot.config.clone(),
            &decision_limits(&tenant.limits),
        );
        // The rest is the host's: the ledger may keep it waiting on a
        // database, which must not keep a core's lane idle.
        drop(lane);
        let mut decision = match result {
            Ok(decision) => decision,
            Err(e) => {
                self.metrics
                    .decision(&tenant.id, e.code(), started.elapsed().as_secs_f64(), 0);
                count(e.code());
                return Err(e.into());
            }
        };
        count("ok");
        let tags: Vec<String> = snapshot
            .canaries
            .iter()
            .zip(&on)
            .filter(|(_, on)| **on)
            .map(|(c, _)| c.tag.clone())
            .collect();
        let decision_id = new_decision_id();
        let (outcome, ledger) = self.apply_policy(snapshot, &request, &decision, &decision_id, commit, moment)?;
        self.metrics
            .decision(&tenant.id, "ok", started.elapsed().as_secs_f64(), decision.usage.fuel);
        self.metrics.policy(&tenant.id, &outcome);
        settle(&mut decision, outcome, &decision_id, commit);
        // The request goes on to the log and any shadow shared, not copied.
        let request = Arc::new(request);
        // A shadow compares its candidate with the active pipeline, so it
        // skips the canary's customers.
        for run in snapshot.shadows.iter().filter(|_| tags.is_empty()) {
            self.shadows.offer(run, &request.customer_id, || shadow::Job {
                run: run.clone(),
                request: request.clone(),
                config: snapshot.config.clone(),
                policy: snapshot.policy.clone(),
                limits: decision_limits(&tenant.limits),
                ledger: ledger.clone(),
                live: decision.clone(),
                owner: snapshot.owner.clone(),
            });
        }
        self.log.push(Pending {
            tenant_id: tenant.id.clone(),
            record: LogRecord {
                id: decision_id,
                logged_at: Timestamp::now(),
                now: request.context.now,
                mode: request.context.mode,
                seed: request.context.seed,
                customer_id: decision.customer_id.clone(),
                tz_offset_minutes: request.context.tz_offset_minutes,
                request_sha256: String::new(),
                config_version: snapshot.config_version,
                offers_version: snapshot.offers_version,
                policy_version: snapshot.policy_version,
                plugins: decision.plugins.clone(),
                decision: decision.clone(),
                request: None,
                ledger,
                tags,
            },
            request,
            keep_request: self.settings.decision_log_requests,
        });
        Ok(decision)
    }

    /// Runs the policy over the plugins' proposals against the customer's
    /// ledger, recording what a committing decision leaves: the selected
    /// touches (in the ledger and, for a live decision, the outbox), its
    /// conclusions, and the timer it ran for consumed; returns the outcome
    /// and what the policy read from the ledger (if anything).
    pub(super) fn apply_policy(
        &self,
        snapshot: &Snapshot,
        request: &Framed,
        decision: &Decision,
        decision_id: &str,
        commit: bool,
        moment: Option<Moment<'_>>,
    ) -> Result<(Outcome, Option<Ledger>)> {
        let policy = snapshot.policy.clone();
        let customer = &request.customer_id;
        let decide = |ledger: &Ledger| policy::apply(&policy, &policy_input(request, decision, ledger));
        // Without caps there is nothing to read from the ledger, and a dry
        // run writes nothing to it: no database at all.
        if !commit && !policy.needs_ledger() {
            return Ok((decide(&Ledger::default()), None));
        }
        let since = Timestamp(request.context.now.0 - policy.ledger_days() * MS_PER_DAY);
        let budgets: Vec<String> = policy
            .offers
            .iter()
            .filter(|(_, o)| o.budget.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        let outcome =
            self.registry
                .with_ledger_answer(&snapshot.tenant.id, customer, since, &budgets, commit, |ledger| {
                    let outcome = (decide(ledger), Some(ledger.clone()));
                    // Held-out customers are sent nothing, so nothing is recorded.
                    let touches = outcome
                        .0
                        .selected
                        .iter()
                        .enumerate()
                        .map(|(i, s)| TouchRecord {
                            id: format!("{decision_id}-{i}"),
                            customer_id: customer.clone(),
                            offer_id: s.offer_id.clone(),
                            channel: s.channel.clone(),
                            class: s.class,
                            at: s.send_at,
                            decision_id: Some(decision_id.to_owned()),
                        })
                        .collect();
                    let deliveries = if request.context.mode == Mode::Live {
                        deliveries(snapshot, request, &outcome.0, decision_id, moment)
                    } else {
                        Vec::new()
                    };
                    let effects = Effects {
                        touches,
                        deliveries,
                        timers: decision.wakes.iter().map(|w| timer_change(w, decision_id)).collect(),
                        done: moment.map(|m| m.claim.to_owned()),
                        concluded: Some(concluded(decision, decision_id, request.context.now)),
                    };
                    (outcome, effects)
                })?;
        if commit && request.context.mode == Mode::Live && !outcome.0.selected.is_empty() {
            self.signals.outbox.notify_one();
        }
        Ok(outcome)
    }
}

/// The timer a plugin's wake-up sets (or clears) for the customer.
fn timer_change(wake: &crate::decision::WakeUp, decision_id: &str) -> TimerChange {
    match wake.at {
        Some(due_at) => TimerChange::Set {
            kind: TimerKind::Wake,
            key: wake.key.clone(),
            due_at,
            body: wake.reason.clone().unwrap_or_default(),
            set_by: decision_id.to_owned(),
        },
        None => TimerChange::Clear {
            kind: TimerKind::Wake,
            key: wake.key.clone(),
        },
    }
}

/// The timer a decision runs for: consumed with what it commits.
#[derive(Debug, Clone, Copy)]
pub struct Moment<'a> {
    /// The claim on the timer.
    pub claim: &'a str,
    /// What the timer is: the triggering event's id, or the wake-up's key.
    pub trigger_id: &'a str,
}

/// The outbox's entries of a live decision's selected touches.
fn deliveries(
    snapshot: &Snapshot,
    request: &Framed,
    outcome: &Outcome,
    decision_id: &str,
    moment: Option<Moment<'_>>,
) -> Vec<Outgoing> {
    let (identities, trigger_kind) = request.reach();
    outcome
        .selected
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let touch_id = format!("{decision_id}-{i}");
            let offer = snapshot.offers.iter().find(|o| o.id == s.offer_id);
            let delivery = Delivery {
                touch_id: touch_id.clone(),
                tenant_id: snapshot.tenant.id.clone(),
                customer_id: request.customer_id.clone(),
                identities: identities.clone(),
                offer_id: s.offer_id.clone(),
                offer_kind: offer.map(|o| o.kind.clone()).unwrap_or_default(),
                value_minor: offer.map_or(0, |o| o.value_minor),
                channel: s.channel.clone(),
                class: s.class,
                send_at: s.send_at,
                decision_id: decision_id.to_owned(),
                plugin: s.plugin.clone(),
                rule_id: s.rule_id.clone(),
                reason: s.reason.clone(),
                trigger_kind: trigger_kind.clone(),
                trigger_id: moment.map(|m| m.trigger_id.to_owned()),
            };
            Outgoing {
                touch_id,
                send_at: s.send_at,
                body: serde_json::to_string(&delivery).unwrap_or_default(),
            }
        })
        .collect()
}

/// What a committed decision leaves with the customer's kept profile:
/// its tags, scores and stage as a findings frame (the next decision's
/// prior), and its stage.
fn concluded(decision: &Decision, decision_id: &str, at: Timestamp) -> Concluded {
    let mut findings = rulehost_layout::findings::FindingsWriter::default();
    for tag in &decision.tags {
        findings.tag(&tag.group, &tag.name);
    }
    for score in &decision.scores {
        findings.score(&score.name, score.value);
    }
    let stage = decision.stage.as_ref().map(|s| crate::input::stage_index(s.value));
    let mut frame = Vec::new();
    findings.finish(stage, &mut frame);
    Concluded {
        findings: frame,
        stage: stage.map(|i| rulehost_layout::STAGES[usize::from(i)].to_owned()),
        decision_id: decision_id.to_owned(),
        at,
    }
}

/// What the contact policy looks at for a decision of `request`.
fn policy_input<'a>(request: &'a Framed, decision: &'a Decision, ledger: &'a Ledger) -> policy::Input<'a> {
    policy::Input {
        now: request.context.now,
        tz_offset_minutes: request.context.tz_offset_minutes,
        customer_id: &request.customer_id,
        attributes: request,
        offers: &request.offers,
        proposals: &decision.proposals,
        ledger,
    }
}

/// Runs `plugins` on a request already decided (`decided`), and the policy
/// against what that decision's policy read from the ledger; the result
/// carries the same id and commit flag. Replays and shadow runs.
#[allow(clippy::too_many_arguments, reason = "everything a decision depends on, each named")]
pub(super) fn rerun(
    engine: &Engine,
    lane: &Lane,
    plugins: &[Arc<Plugin>],
    request: &Framed,
    config: Arc<TenantConfig>,
    limits: &crate::engine::Limits,
    policy: &Policy,
    ledger: Option<&Ledger>,
    decided: &Decision,
) -> compare::Outcome {
    pipeline::decide_frame(engine, Some(lane), plugins, &request.frame(), config, limits)
        .map(|mut decision| {
            let outcome = policy::apply(
                policy,
                &policy_input(request, &decision, ledger.unwrap_or(&Ledger::default())),
            );
            let id = decided.decision_id.as_deref().unwrap_or_default();
            settle(&mut decision, outcome, id, decided.committed.unwrap_or(false));
            decision
        })
        .map_err(|e| Failure::from(&e))
}

/// A shadow job: the candidate on the live request, on the tenant's lane.
pub(super) fn run_shadow(engine: &Engine, job: &shadow::Job) -> compare::Outcome {
    rerun(
        engine,
        &engine.lane(job.owner.clone()),
        &job.run.plugins,
        &job.request,
        job.config.clone(),
        &job.limits,
        &job.policy,
        job.ledger.as_ref(),
        &job.live,
    )
}

/// Puts the policy's outcome and the log's id into a decision, as it is
/// answered (and logged).
pub(super) fn settle(decision: &mut Decision, outcome: Outcome, decision_id: &str, commit: bool) {
    decision.decision_id = Some(decision_id.to_owned());
    decision.holdout = Some(outcome.holdout);
    decision.selected = Some(outcome.selected);
    decision.suppressed = Some(outcome.suppressed);
    decision.committed = Some(commit);
}

/// The seed a decision gets when its request names none: a hash of the
/// tenant and the customer, so it is stable per customer.
pub fn default_seed(tenant: &str, customer_id: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(customer_id.as_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// A decision id: the server's time in hex, then random bits, so ids sort by
/// when decisions were made.
pub(super) fn new_decision_id() -> String {
    let mut random = [0u8; 5];
    let _ = getrandom::fill(&mut random);
    format!("d{:012x}{}", Timestamp::now().0.max(0), hex::encode(random))
}

/// What a tenant's limits allow one decision.
pub fn decision_limits(limits: &TenantLimits) -> crate::engine::Limits {
    crate::engine::Limits {
        memory_bytes: limits.memory_bytes,
        deadline_ms: limits.deadline_ms,
        fuel: limits.fuel,
    }
}
