//! The work that runs on its own, on every host of a fleet: due timers
//! claimed and run (the decisions events and wake-ups start, the touches
//! deferred past quiet hours), the outbox numbered for its feed, and, with
//! NATS, events taken from the stream and the outbox published to it (see
//! `rulehost-stream`).
//!
//! Every task is spawned by [`Moments::start`] on one tracker and stops on
//! one token; [`Moments::stop`] waits for them (tokio's graceful-shutdown
//! pattern). Timers are claimed for a short lease, renewed every third of
//! it while they run: a timer fires once, soon after it is due while its
//! host lives, and one lease after its host dies at the latest. The
//! wake-ups in [`Signals`](crate::live::Signals) bring the next look
//! forward; the polls below are the floor.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::live::{Live, Ran};
use crate::model::Timestamp;
use crate::registry::{RegistryError, Timer};

/// How the work that runs on its own runs.
#[derive(Debug, Clone)]
pub struct MomentSettings {
    /// How long a claim on a timer holds without being renewed.
    pub lease: Duration,
    /// How often the timers and the outbox are looked at, at least.
    pub poll: Duration,
    /// Timers run at once on this host.
    pub parallel: usize,
    /// NATS, to take events from and publish touches to, if any.
    pub nats: Option<rulehost_stream::Settings>,
}

impl Default for MomentSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            parallel: 8,
            nats: None,
        }
    }
}

/// The running work; stop it with [`Moments::stop`].
pub struct Moments {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Moments {
    /// Starts the timers and the outbox's numbering.
    pub fn start(live: Arc<Live>, settings: MomentSettings) -> Self {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let held = Arc::new(Mutex::new(HashSet::new()));
        tasks.spawn(run_timers(
            live.clone(),
            settings.clone(),
            held.clone(),
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(keep_leases(live.clone(), settings.lease, held, stop.clone()));
        tasks.spawn(number_outbox(live.clone(), settings.poll, stop.clone()));
        if let Some(nats) = settings.nats {
            tasks.spawn(run_stream(live, nats, settings.poll, tasks.clone(), stop.clone()));
        }
        Self { stop, tasks }
    }

    /// Stops every task and waits for them: timers in flight finish (or let
    /// their claims run out, for another host to take).
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

type Held = Arc<Mutex<HashSet<String>>>;

fn held(set: &Held) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Claims due timers as lanes for them are free and runs each on the
/// blocking pool.
async fn run_timers(
    live: Arc<Live>,
    settings: MomentSettings,
    claims: Held,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let free = Arc::new(Semaphore::new(settings.parallel.max(1)));
    loop {
        let woken = live.signals().timers.notified();
        let room = free.available_permits();
        let claimed = if room == 0 || !live.is_ready() {
            Vec::new()
        } else {
            let now = Timestamp::now();
            let until = Timestamp(now.0 + settings.lease.as_millis() as i64);
            let registry = live.registry().clone();
            match tokio::task::spawn_blocking(move || registry.claim_timers(now, until, room)).await {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "claiming due timers failed; trying again");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, "the task claiming timers failed");
                    Vec::new()
                }
            }
        };
        let full = claimed.len() == room && room > 0;
        for timer in claimed {
            let Ok(permit) = free.clone().try_acquire_owned() else {
                break;
            };
            let claim = timer.claim.clone().unwrap_or_default();
            held(&claims).insert(claim.clone());
            let (live, claims) = (live.clone(), claims.clone());
            tasks.spawn(async move {
                let _permit = permit;
                let ran = {
                    let live = live.clone();
                    tokio::task::spawn_blocking(move || {
                        let lateness = Timestamp::now().0 - timer.due_at.0;
                        let ran = live.run_timer(&timer);
                        (timer, lateness, ran)
                    })
                    .await
                };
                held(&claims).remove(&claim);
                // A lane is free: with more due, claim the next at once.
                live.signals().timers.notify_one();
                match ran {
                    Ok((timer, lateness, ran)) => report(&live, &timer, lateness, ran),
                    Err(e) => tracing::error!(error = %e, "a timer's task failed; its claim runs out for another try"),
                }
            });
        }
        if full {
            // More may be due: look again at once.
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = woken => {}
            () = tokio::time::sleep(settings.poll) => {}
        }
    }
}

/// Says what a timer came to: in the metrics, and in the log when it
/// failed.
fn report(live: &Live, timer: &Timer, lateness_ms: i64, ran: Result<Ran, crate::live::LiveError>) {
    let kind = timer.kind.as_str();
    let outcome = match &ran {
        Ok(Ran::Decided(_)) => "decided",
        Ok(Ran::Delivered) => "delivered",
        Ok(Ran::Lost) => "lost",
        Ok(Ran::Retried { .. }) => "retried",
        Ok(Ran::Dropped { .. }) | Err(_) => "dropped",
    };
    live.metrics()
        .timer(&timer.tenant_id, kind, outcome, lateness_ms.max(0) as f64 / 1000.0);
    match ran {
        Ok(Ran::Retried { retry_at, error }) => tracing::warn!(
            tenant = timer.tenant_id, customer = timer.customer_id, kind, key = timer.key,
            attempt = timer.attempts + 1, %retry_at, %error, "a timer failed; it is tried again later"
        ),
        Ok(Ran::Dropped { error }) => tracing::error!(
            tenant = timer.tenant_id, customer = timer.customer_id, kind, key = timer.key,
            attempts = timer.attempts + 1, %error, "a timer failed for good and was dropped"
        ),
        Err(error) => tracing::error!(
            tenant = timer.tenant_id, customer = timer.customer_id, kind, key = timer.key,
            %error, "a timer could not be run or let go; its claim runs out for another try"
        ),
        Ok(_) => {}
    }
}

/// Renews the leases of the timers this host runs, every third of a lease.
async fn keep_leases(live: Arc<Live>, lease: Duration, claims: Held, stop: CancellationToken) {
    let every = lease / 3;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let held: Vec<String> = held(&claims).iter().cloned().collect();
        if held.is_empty() {
            continue;
        }
        let until = Timestamp(Timestamp::now().0 + lease.as_millis() as i64);
        let registry = live.registry().clone();
        match tokio::task::spawn_blocking(move || registry.renew_claims(&held, until)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "renewing the leases of running timers failed"),
            Err(e) => tracing::error!(error = %e, "the task renewing leases failed"),
        }
    }
}

/// Connects to NATS (trying again until it can, each failure in the log),
/// then takes events from it and publishes the outbox to it.
async fn run_stream(
    live: Arc<Live>,
    settings: rulehost_stream::Settings,
    poll: Duration,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut wait = Duration::from_secs(1);
    let nats = loop {
        let connecting = rulehost_stream::Nats::connect(&settings, live.host_name());
        let result = tokio::select! {
            () = stop.cancelled() => return,
            result = connecting => result,
        };
        match result {
            Ok(nats) => break nats,
            Err(e) => {
                tracing::error!(error = %e, retry_in_s = wait.as_secs(), "cannot reach NATS: events are not taken from it nor touches published to it until it can be reached");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    };
    tracing::info!(
        url = settings.url,
        "connected to NATS: taking events, publishing touches"
    );
    tasks.spawn(rulehost_stream::consume(nats.clone(), live.clone(), stop.clone()));
    tasks.spawn(rulehost_stream::publish_outbox(
        nats,
        live.registry().clone(),
        live.signals().feed.clone(),
        poll,
        live.host_name().to_owned(),
        stop,
    ));
}

/// Numbers the outbox's new entries, so the feed serves them.
async fn number_outbox(live: Arc<Live>, poll: Duration, stop: CancellationToken) {
    loop {
        let woken = live.signals().outbox.notified();
        let registry = live.registry().clone();
        match tokio::task::spawn_blocking(move || registry.sequence_outbox(1_000)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) => {
                live.signals().feed.notify_waiters();
                continue;
            }
            Ok(Err(RegistryError::Storage(e))) => tracing::error!(error = %e, "numbering the outbox failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "numbering the outbox failed"),
            Err(e) => tracing::error!(error = %e, "the task numbering the outbox failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = woken => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
