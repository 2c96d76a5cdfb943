//! Customers kept from the brand's events: taking events in (checked
//! whole, then folded into profiles), a customer's page, and erasure.

use rulehost_layout::findings::Findings;
use rulehost_profiles::{Bounds, Kept};

use super::{Caller, Live, LiveError, Result};
use crate::model::events::EventIn;
use crate::model::triggers::Triggers;
use crate::model::{InputLimits, Prior, PriorTag, Profile, Timestamp};
use crate::registry::{
    Alias, DeadLetter, DecisionSummary, Erasure, Fold, PageRequest, RegistryError, StageChange, StoredProfile, Taken,
    Timer, TouchRecord,
};

/// Events taken in one transaction at most: a request of more is taken in
/// several (each event still once).
pub const EVENTS_PER_TRANSACTION: usize = 1_000;

/// What taking a request's events in did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Intake {
    /// Events in the request.
    pub events: usize,
    /// Of them, those folded into a profile now.
    pub taken: usize,
    /// Of them, those taken before (by `event_id`): they changed nothing.
    pub duplicates: usize,
}

/// A customer as the host keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Customer {
    /// The customer (the id its linked ids stand for).
    pub customer_id: String,
    /// The ids linked to it by `identify` events.
    pub ids: Vec<Alias>,
    /// The profile plugins see: identities, attributes, events, and the
    /// tags and stage of its last committed decision.
    pub profile: Profile,
    /// When an event last changed it.
    pub updated_at: Timestamp,
    /// Its stage changes, oldest first (the newest 100).
    pub stages: Vec<StageChange>,
    /// Its newest logged decisions (20 at most), newest first.
    pub decisions: Vec<DecisionSummary>,
    /// Its newest touches in the contact ledger (100 at most).
    pub touches: Vec<TouchRecord>,
    /// Its timers: decisions and deliveries due later, earliest first.
    pub timers: Vec<Timer>,
}

impl Live {
    /// Takes events in for `tenant`: every event checked first (a refusal
    /// names the event, as `place` calls the `i`th, and the field; nothing
    /// is stored), then folded into the customers' kept profiles, up to
    /// [`EVENTS_PER_TRANSACTION`] per transaction.
    pub async fn take_events(
        &self,
        tenant: &str,
        events: Vec<EventIn>,
        place: &(dyn Fn(usize) -> String + Sync),
    ) -> Result<Intake> {
        let snapshot = self.snapshot(tenant)?;
        if snapshot.tenant.disabled {
            return Err(LiveError::Disabled(tenant.to_owned()));
        }
        let limits = InputLimits::default();
        let now = Timestamp::now();
        let refusals: Vec<String> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.check(&limits, now).err().map(|why| format!("{}: {why}", place(i))))
            .collect();
        if !refusals.is_empty() {
            return Err(refused(&refusals));
        }
        let fold = ProfileFold {
            bounds: Bounds {
                events: snapshot.tenant.limits.profile_events as usize,
                days: snapshot.tenant.limits.profile_days,
            },
            now,
            triggers: snapshot.triggers.clone(),
        };
        let triggered = events.iter().any(|e| snapshot.triggers.starts(e, now));
        let mut intake = Intake {
            events: events.len(),
            ..Intake::default()
        };
        let tenant = tenant.to_owned();
        let taken: Vec<Taken> = self
            .blocking(move |r| {
                let mut taken = Vec::with_capacity(events.len());
                for chunk in events.chunks(EVENTS_PER_TRANSACTION) {
                    taken.extend(r.take_events(&tenant, chunk, &fold)?);
                }
                Ok(taken)
            })
            .await?;
        intake.duplicates = taken.iter().filter(|t| t.duplicate).count();
        intake.taken = intake.events - intake.duplicates;
        if triggered {
            // The decisions they start are due now: this host takes them up
            // at once rather than at its next look.
            self.signals.timers.notify_one();
        }
        self.metrics
            .events_taken(&snapshot.tenant.id, intake.taken, intake.duplicates);
        Ok(intake)
    }

    /// The customer `id` stands for, as the host keeps it.
    pub async fn customer(&self, tenant: &str, id: &str) -> Result<Customer> {
        self.snapshot(tenant)?;
        let (t, i) = (tenant.to_owned(), id.to_owned());
        let record = self.blocking(move |r| r.customer(&t, &i)).await?.ok_or_else(|| {
            LiveError::Registry(RegistryError::NotFound(format!(
                "tenant {tenant:?} keeps no profile of customer {id:?}"
            )))
        })?;
        let mut profile = kept_profile(&record.profile)?;
        if let Some(prior) = &record.profile.prior {
            profile.prior = prior_of(prior).map_err(|e| corrupt(&record.profile.customer_id, &e))?;
        }
        let (t, c, log) = (tenant.to_owned(), record.profile.customer_id.clone(), self.log.clone());
        let (decisions, timers) = self
            .blocking(move |r| {
                // Decisions just made may still be queued for the writer.
                log.flush();
                let page = PageRequest {
                    after: None,
                    limit: Some(20),
                };
                Ok((r.logged_decisions(&t, Some(&c), &page)?, r.timers_of(&t, &c)?))
            })
            .await?;
        Ok(Customer {
            customer_id: record.profile.customer_id.clone(),
            ids: record.aliases,
            profile,
            updated_at: record.profile.updated_at,
            stages: record.stages,
            decisions: decisions.items,
            touches: record.touches,
            timers,
        })
    }

    /// The tenant's dead letters: how many are kept, and the newest 20.
    pub async fn dead_letters(&self, tenant: &str) -> Result<(u64, Vec<DeadLetter>)> {
        self.snapshot(tenant)?;
        let t = tenant.to_owned();
        self.blocking(move |r| r.dead_letters(&t, 20)).await
    }

    /// Erases the customer `id` stands for (see
    /// [`ProfileStore::erase_customer`](crate::registry::ProfileStore::erase_customer)).
    pub async fn erase_customer(&self, caller: &Caller, tenant: &str, id: &str) -> Result<Erasure> {
        self.snapshot(tenant)?;
        // What the log writer still holds is written first, so none of it
        // lands after the erasure with the customer's profile in it.
        let log = self.log.clone();
        let (actor, t, i) = (caller.actor(), tenant.to_owned(), id.to_owned());
        self.blocking(move |r| {
            log.flush();
            r.erase_customer(&actor, &t, &i)
        })
        .await
    }
}

/// A refusal of a request's events, naming the first few that are wrong.
fn refused(refusals: &[String]) -> LiveError {
    const SHOWN: usize = 10;
    let mut message = format!(
        "{} of the events {} refused, and nothing was stored: {}",
        refusals.len(),
        if refusals.len() == 1 { "is" } else { "are" },
        refusals[..refusals.len().min(SHOWN)].join("; ")
    );
    if refusals.len() > SHOWN {
        message.push_str(&format!("; and {} more", refusals.len() - SHOWN));
    }
    LiveError::Registry(RegistryError::Invalid(message))
}

/// Folds events into profiles in the kept form of `rulehost-profiles`,
/// within a tenant's bounds.
struct ProfileFold {
    bounds: Bounds,
    now: Timestamp,
    triggers: std::sync::Arc<Triggers>,
}

impl Fold for ProfileFold {
    fn fold(&self, customer: &str, parts: &[&[u8]], events: &[&EventIn]) -> crate::registry::Result<Vec<u8>> {
        let mut kept = Kept::new(customer);
        for part in parts {
            let part = Kept::decode(part).map_err(|e| corrupt_of(customer, &e))?;
            kept.absorb(part);
        }
        for event in events {
            kept.take(event);
        }
        kept.bound(self.now, self.bounds);
        kept.encode(&InputLimits::default())
            .map_err(|e| RegistryError::Invalid(format!("customer {customer:?}: {e}")))
    }

    fn starts(&self, event: &EventIn) -> bool {
        self.triggers.starts(event, self.now)
    }
}

fn corrupt_of(customer: &str, e: &dyn std::fmt::Display) -> RegistryError {
    RegistryError::Corrupt(format!("the kept profile of customer {customer:?}: {e}"))
}

fn corrupt(customer: &str, e: &dyn std::fmt::Display) -> LiveError {
    LiveError::Registry(corrupt_of(customer, e))
}

/// A kept profile as plugins see it (without its prior).
fn kept_profile(stored: &StoredProfile) -> Result<Profile> {
    Kept::decode(&stored.kept)
        .map(|kept| kept.profile)
        .map_err(|e| corrupt(&stored.customer_id, &e))
}

/// A kept prior (a findings frame) as the profile's `prior`.
fn prior_of(findings: &[u8]) -> std::result::Result<Prior, rulehost_layout::LayoutError> {
    let findings = Findings::read(findings)?;
    Ok(Prior {
        tags: findings
            .tags
            .iter()
            .map(|t| PriorTag {
                group: findings.text(t.group).to_owned(),
                name: findings.text(t.name).to_owned(),
                reason: None,
                rule_id: None,
                expires_at: None,
            })
            .collect(),
        stage: findings.stage.map(crate::input::stage_at),
    })
}

/// The stream's events go through the same intake as the API's.
impl rulehost_stream::Sink for Live {
    async fn check(&self, tenant: &str, event: &EventIn) -> std::result::Result<(), rulehost_stream::Rejected> {
        use rulehost_stream::Rejected;
        let disabled = match self.snapshot(tenant) {
            Ok(snapshot) => snapshot.tenant.disabled,
            // Not loaded here: a tenant another host of the fleet has just
            // created is loaded within a reconcile interval.
            Err(_) => {
                let id = tenant.to_owned();
                match self.blocking(move |r| r.tenant(&id)).await {
                    Ok(stored) if !stored.disabled => {
                        return Err(Rejected::Retry(format!(
                            "tenant {tenant:?} is not loaded on this host yet"
                        )));
                    }
                    Ok(_) => true,
                    Err(LiveError::Registry(RegistryError::NotFound(_))) => {
                        return Err(Rejected::Refused(format!("no tenant {tenant:?}")));
                    }
                    Err(e) => return Err(Rejected::Retry(e.to_string())),
                }
            }
        };
        if disabled {
            return Err(Rejected::Refused(format!("tenant {tenant:?} is disabled")));
        }
        event
            .check(&InputLimits::default(), Timestamp::now())
            .map_err(Rejected::Refused)
    }

    async fn take(&self, tenant: &str, events: Vec<EventIn>) -> std::result::Result<(), rulehost_stream::Rejected> {
        use rulehost_stream::Rejected;
        match self.take_events(tenant, events, &|i| format!("message {i}")).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() || matches!(e, LiveError::NotReady(_)) => Err(Rejected::Retry(e.to_string())),
            Err(e) => Err(Rejected::Refused(e.to_string())),
        }
    }

    async fn dead(&self, dead: rulehost_stream::Dead) {
        self.metrics.dead_letter(&dead.tenant);
        let letter = DeadLetter {
            tenant_id: dead.tenant,
            at: Timestamp::now(),
            subject: dead.subject,
            reason: dead.reason,
            excerpt: dead.excerpt,
        };
        if let Err(e) = self.blocking(move |r| r.record_dead_letter(&letter)).await {
            tracing::error!(error = %e, "a dead letter could not be recorded (it is on its NATS subject)");
        }
    }
}
