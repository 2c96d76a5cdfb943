//! What a due timer does, and the outbox's pull feed.
//!
//! A timer of an event or a wake-up runs a decision on the customer's kept
//! profile (live, committing, under the contact policy) with what started
//! it as the trigger; the timer is consumed in the transaction that
//! commits the decision. A deferred touch's timer puts the touch in the
//! outbox. What fails is let go to be tried again when trying again can
//! help (the host or the tenant busy, storage out of reach, a deadline
//! missed on a loaded machine), and dropped, loudly, when it cannot.

use std::collections::BTreeMap;
use std::time::Duration;

use super::decide::Moment;
use super::{Live, LiveError, Result};
use crate::Error;
use crate::decision::Decision;
use crate::input::{Context, InputLimits};
use crate::model::events::{EventIn, TIMER};
use crate::model::outbox::{Delivery, FeedItem};
use crate::model::{Event, Mode, Timestamp, Value};
use crate::registry::{Page, RegistryError, Timer, TimerKind};
use crate::request::{Framed, Trigger};

/// What running a timer came to.
#[derive(Debug)]
pub enum Ran {
    /// Its decision was made and committed.
    Decided(Box<Decision>),
    /// Its deferred touch reached the outbox.
    Delivered,
    /// Its claim was lost to another host, which runs it.
    Lost,
    /// It failed and waits to be tried again at `retry_at`.
    Retried {
        /// When.
        retry_at: Timestamp,
        /// Why it failed.
        error: String,
    },
    /// It failed for good and was dropped.
    Dropped {
        /// Why.
        error: String,
    },
}

/// Attempts of a failing timer, at most (1 s, 2 s, 4 s … apart).
const ATTEMPTS: u32 = 8;

impl Live {
    /// Runs a claimed timer (see the module's documentation). Blocking.
    pub fn run_timer(&self, timer: &Timer) -> Result<Ran> {
        let Some(claim) = timer.claim.as_deref() else {
            return Err(LiveError::Internal(format!(
                "timer {} of customer {:?} ran without a claim",
                timer.key, timer.customer_id
            )));
        };
        let done = match timer.kind {
            TimerKind::Touch => {
                return Ok(if self.registry.deliver_deferred(claim)? {
                    self.signals.outbox.notify_one();
                    Ran::Delivered
                } else {
                    Ran::Lost
                });
            }
            TimerKind::Event | TimerKind::Wake => self.decide_for(timer, claim),
        };
        let error = match done {
            Ok(decision) => return Ok(Ran::Decided(Box::new(decision))),
            Err(LiveError::Registry(RegistryError::Conflict(_))) => return Ok(Ran::Lost),
            Err(e) => e,
        };
        let retry = retriable(&error) && timer.attempts + 1 < ATTEMPTS;
        let retry_at = retry.then(|| Timestamp(Timestamp::now().0 + (1_000_i64 << timer.attempts.min(20))));
        self.registry.release_timer(claim, retry_at)?;
        Ok(match retry_at {
            Some(retry_at) => Ran::Retried {
                retry_at,
                error: error.to_string(),
            },
            None => Ran::Dropped {
                error: error.to_string(),
            },
        })
    }

    /// The decision a timer starts, committed with the timer consumed.
    fn decide_for(&self, timer: &Timer, claim: &str) -> Result<Decision> {
        let (snapshot, permit) = self.admit(&timer.tenant_id)?;
        let _permit = permit;
        let trigger = trigger_of(timer)?;
        let stored = self.stored_profile(&timer.tenant_id, &timer.customer_id)?;
        let context = Context {
            now: Timestamp::now(),
            seed: super::default_seed(&timer.tenant_id, &stored.customer_id),
            tz_offset_minutes: snapshot.tenant.tz_offset_minutes,
            mode: Mode::Live,
        };
        let input = Framed::kept(
            &stored,
            Some(Trigger::Event(&trigger)),
            context,
            snapshot.offers.clone(),
            &InputLimits::default(),
        )?;
        let lane = self.lane(&snapshot);
        let moment = Moment {
            claim,
            trigger_id: &timer.key,
        };
        self.decide_on(lane, &snapshot, input, true, Some(moment))
    }

    /// The tenant's deliveries after `after` in the outbox, at most `limit`;
    /// with none there yet, waits up to `wait` for one.
    pub async fn feed(&self, tenant: &str, after: i64, limit: usize, wait: Duration) -> Result<Page<FeedItem>> {
        self.snapshot(tenant)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a numbering in between wakes it.
            let numbered = self.signals.feed.notified();
            let t = tenant.to_owned();
            let entries = self.blocking(move |r| r.outbox(&t, after, limit)).await?;
            if !entries.is_empty() || tokio::time::Instant::now() >= deadline {
                let items = entries
                    .into_iter()
                    .map(|e| {
                        let delivery: Delivery = serde_json::from_str(&e.body).map_err(|err| {
                            LiveError::Registry(RegistryError::Corrupt(format!(
                                "outbox entry {:?} does not read: {err}",
                                e.touch_id
                            )))
                        })?;
                        Ok(FeedItem {
                            cursor: e.seq.to_string(),
                            delivery,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let next = items.last().map_or_else(|| after.to_string(), |i| i.cursor.clone());
                return Ok(Page {
                    items,
                    next: Some(next),
                });
            }
            // Another host may number the outbox: look again at least every
            // quarter second.
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(250)),
                numbered,
            )
            .await;
        }
    }
}

/// What a timer's decision is triggered by: the event taken in, or a
/// `timer` event naming the wake-up (its key and reason in its props).
fn trigger_of(timer: &Timer) -> Result<Event> {
    match timer.kind {
        TimerKind::Event => serde_json::from_str::<EventIn>(&timer.body)
            .map(|e| e.event())
            .map_err(|e| {
                LiveError::Registry(RegistryError::Corrupt(format!(
                    "the event of timer {:?} does not read: {e}",
                    timer.key
                )))
            }),
        _ => Ok(Event {
            kind: TIMER.into(),
            at: timer.due_at,
            channel: None,
            amount_minor: None,
            sku: None,
            category: None,
            props: BTreeMap::from([
                ("key".to_owned(), Value::Text(timer.key.clone())),
                ("reason".to_owned(), Value::Text(timer.body.clone())),
            ]),
        }),
    }
}

/// Whether a timer that failed so may succeed later: the host, the tenant
/// or storage was busy or away, or a deadline was missed (a loaded
/// machine); not what the plugin or the data says.
fn retriable(error: &LiveError) -> bool {
    match error {
        LiveError::Busy(..)
        | LiveError::NotReady(_)
        | LiveError::Disabled(_)
        | LiveError::NoPipeline(_)
        | LiveError::Unavailable(..)
        | LiveError::Simulating
        | LiveError::Internal(_) => true,
        LiveError::Registry(e) => matches!(e, RegistryError::Storage(_)),
        LiveError::Engine(e) => matches!(e, Error::HostBusy(_) | Error::PluginTimeout { .. }),
    }
}
