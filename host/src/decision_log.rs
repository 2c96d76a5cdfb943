//! The decision log's writer: decisions are appended in batches off the
//! request path.
//!
//! Writing each decision in its own fsynced transaction would cost a disk
//! flush per decision; instead a writer thread takes what has queued up
//! (up to 512 at a time) and appends it in one transaction. The queue is
//! bounded: if the disk falls behind, decisions are still answered and the
//! log entries that do not fit are counted as dropped, never waited for.
//! A crash can lose the entries still queued (a fraction of a second's
//! worth); touches recorded by committing decisions are not in this queue —
//! they are committed before the decision is answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::decision::{Decision, PluginRef};
use crate::model::{Event, Mode, Profile, Timestamp};
use crate::policy::Ledger;
use crate::registry::LoggedDecision;
use crate::registry::prelude::*;
use crate::request::{Framed, Sent};

/// What the log keeps of a decision, as `GET …/decisions/{id}` shows it:
/// everything needed to replay it exactly. (`P` and `E` are the profile's
/// and the trigger's form: the model, or the JSON that arrived.)
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogRecord<P = Profile, E = Event> {
    /// The decision's id.
    pub id: String,
    /// When it was made (the server's clock).
    pub logged_at: Timestamp,
    /// The decision's `now`.
    pub now: Timestamp,
    /// Why it was made.
    pub mode: Mode,
    /// The seed plugins got.
    pub seed: u64,
    /// The customer.
    pub customer_id: String,
    /// The tenant's UTC offset at the time.
    pub tz_offset_minutes: i32,
    /// sha256 of the request's content (its profile and trigger as they
    /// arrived, its time, seed and mode; see [`HashedContent`]), filled in
    /// by the writer.
    pub request_sha256: String,
    /// The tenant config's version.
    pub config_version: i64,
    /// The offer catalog's version.
    pub offers_version: i64,
    /// The policy's version.
    pub policy_version: i64,
    /// The plugin versions that ran.
    pub plugins: Vec<PluginRef>,
    /// The decision with its explanation.
    pub decision: Decision,
    /// The request's content; `None` when the server keeps no requests
    /// (`decision_log_requests = false`): such a decision cannot be
    /// replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestContent<P, E>>,
    /// What the contact policy read from the ledger (the customer's recent
    /// touches, budgets used); `None` when it read nothing.
    pub ledger: Option<Ledger>,
    /// Tags: `canary:{slot}:{plugin}@{version}` when a canary answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The parts of a request that make it this request: the profile and
/// the trigger are logged as the JSON that arrived.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestContent<P = Profile, E = Event> {
    /// The customer.
    pub profile: P,
    /// The triggering event.
    #[schema(value_type = Option<Event>)]
    pub trigger: Option<E>,
}

/// What `request_sha256` is the hash of: this as JSON, fields in this
/// order, the profile and trigger as the bytes that arrived (so the same
/// request body gives the same hash, and a replay can check what it reads
/// against it) — `{"mode":…,"now":…,"profile":…,"seed":…,"trigger":…}`.
/// (Logs written before 0.2.0's one-pass reading hashed the profile as the
/// model serialises it; a replay reads both.)
pub struct HashedContent<'a> {
    /// Why the decision was made.
    pub mode: Mode,
    /// The decision's time.
    pub now: Timestamp,
    /// The profile's JSON as it arrived (already read, so known to be JSON).
    pub profile: &'a str,
    /// The seed.
    pub seed: u64,
    /// The trigger's JSON as it arrived, or `None` for `null`.
    pub trigger: Option<&'a str>,
}

impl HashedContent<'_> {
    /// The hex sha256 of this content, written straight into the hash piece
    /// by piece: the profile and trigger are not read again.
    pub fn sha256(&self) -> Option<String> {
        let mut hasher = Sha256::new();
        hasher.update(b"{\"mode\":");
        serde_json::to_writer(&mut hasher, &self.mode).ok()?;
        hasher.update(b",\"now\":");
        serde_json::to_writer(&mut hasher, &self.now).ok()?;
        hasher.update(b",\"profile\":");
        hasher.update(self.profile.as_bytes());
        hasher.update(b",\"seed\":");
        serde_json::to_writer(&mut hasher, &self.seed).ok()?;
        hasher.update(b",\"trigger\":");
        hasher.update(self.trigger.unwrap_or("null").as_bytes());
        hasher.update(b"}");
        Some(hex::encode(hasher.finalize()))
    }
}

/// A decision waiting for the writer.
#[derive(Debug)]
pub struct Pending {
    /// The tenant.
    pub tenant_id: String,
    /// What to log, but its request and its hash: the writer fills them in
    /// from `request`.
    pub record: LogRecord<Box<RawValue>, Box<RawValue>>,
    /// The request, shared with whatever else still reads it (a shadow).
    pub request: Arc<Framed>,
    /// Whether the log keeps the request (else it is only hashed).
    pub keep_request: bool,
}

impl Pending {
    /// Hashes the request and serialises the record: the writer's work, off
    /// the request path. The profile and trigger are the bytes that
    /// arrived: nothing is serialised again.
    fn into_logged(self) -> LoggedDecision {
        let Pending {
            tenant_id,
            mut record,
            request,
            keep_request,
        } = self;
        let sent = request.sent.as_ref();
        // A decision on a kept profile logs the profile its input held.
        let kept = sent.is_none().then(|| request.as_json());
        let profile = sent.and_then(Sent::profile).or(kept.as_ref().map(|(p, _)| p.as_str()));
        let trigger = match &kept {
            Some((_, trigger)) => trigger.as_deref(),
            None => sent.and_then(Sent::trigger),
        };
        if let Some(profile) = profile {
            let content = HashedContent {
                mode: record.mode,
                now: record.now,
                profile,
                seed: record.seed,
                trigger,
            };
            record.request_sha256 = content.sha256().unwrap_or_default();
        }
        // The record without its request, then the request's JSON as it
        // arrived put in as its last field: neither is read again.
        record.request = None;
        let mut body = serde_json::to_string(&record).unwrap_or_default();
        if let Some(profile) = profile.filter(|_| keep_request && body.ends_with('}')) {
            body.pop();
            body.push_str(",\"request\":{\"profile\":");
            body.push_str(profile);
            body.push_str(",\"trigger\":");
            body.push_str(trigger.unwrap_or("null"));
            body.push_str("}}");
        }
        LoggedDecision {
            tenant_id,
            id: record.id.clone(),
            at: record.logged_at,
            customer_id: record.customer_id.clone(),
            body,
        }
    }
}

enum Message {
    Entry(Box<Pending>),
    Flush(mpsc::Sender<()>),
}

/// The queue in front of the decision log.
pub struct DecisionLog {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
    /// Entries queued and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
}

/// Entries queued before new ones are dropped.
const QUEUE: usize = 16_384;
/// Entries written per transaction at most.
const BATCH: usize = 512;
/// Entries a bulk caller may be ahead of the writer (see [`DecisionLog::pace`]).
const PACE: usize = 2 * BATCH;
/// The longest a bulk caller waits for the writer per decision; a writer
/// that is stuck (its database out of reach) does not stop a batch, whose
/// entries are then dropped and counted when the queue is full.
const PACE_WAIT: Duration = Duration::from_secs(1);

impl DecisionLog {
    /// Starts the writer thread.
    pub fn start(registry: Arc<dyn Store>) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::sync_channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        std::thread::Builder::new()
            .name("rulehost-decision-log".into())
            .spawn(move || write_loop(registry.as_ref(), &receiver, &taken))?;
        Ok(Self {
            queue,
            dropped: AtomicU64::new(0),
            queued,
        })
    }

    /// Queues an entry; if the queue is full it is dropped and counted.
    pub fn push(&self, entry: Pending) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(Message::Entry(Box::new(entry)))
        {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits while more than [`PACE`] entries wait for the writer (at most
    /// [`PACE_WAIT`]). A batch calls it after each line: thousands of
    /// decisions answered faster than their database takes them would
    /// otherwise pile up in memory (each holds its request). An
    /// interactive decision never waits for the log.
    pub fn pace(&self) {
        let started = std::time::Instant::now();
        while self.queued.load(Ordering::Relaxed) > PACE && started.elapsed() < PACE_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_loop(registry: &dyn Store, receiver: &Receiver<Message>, queued: &AtomicUsize) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    loop {
        // Block for the first message, then take whatever else is queued.
        let first = match receiver.recv() {
            Ok(message) => message,
            Err(_) => return,
        };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Entry(entry) => {
                    queued.fetch_sub(1, Ordering::Relaxed);
                    batch.push(entry.into_logged());
                }
                // Everything queued before the flush has been taken: write
                // now rather than wait for more.
                Message::Flush(done) => {
                    waiting.push(done);
                    break;
                }
            }
            if batch.len() >= BATCH {
                break;
            }
            next = match receiver.recv_timeout(Duration::from_millis(20)) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => None,
            };
        }
        if !batch.is_empty() {
            if let Err(e) = registry.log_decisions(&batch) {
                tracing::error!(error = %e, entries = batch.len(), "writing the decision log failed");
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::generate::{self, Brand};
    use crate::input::{Context, InputLimits};
    use crate::request::Arrived;

    #[test]
    fn the_profile_and_trigger_are_logged_and_hashed_as_the_bytes_that_arrived() {
        let now = Timestamp(1_773_108_000_000);
        let decision: Decision = serde_json::from_value(json!({
            "customer_id": "c", "stage": null, "tags": [], "scores": [], "proposals": [], "plugins": [],
            "usage": {"fuel": 0, "duration_us": 0}, "logs": []
        }))
        .unwrap();
        // Spaces, keys out of order, a whole number written with a
        // fraction: kept as they came.
        let trigger = r#"{ "at": "2026-03-10T10:00:00+08:00", "kind": "visit", "amount_minor": 5.0 }"#;
        for profile in generate::profiles(Brand::Coffee, 20, 5, now) {
            let profile = serde_json::to_string_pretty(&profile).unwrap();
            let body = format!(r#"{{"seed": 42, "trigger": {trigger}, "profile": {profile}}}"#);
            let arrived = Arrived::parse(body.into(), &InputLimits::default()).expect("a request");
            let context = Context {
                now,
                seed: 42,
                tz_offset_minutes: 480,
                mode: Mode::Live,
            };
            let request = Arc::new(
                arrived
                    .frame_sent(context, Vec::new().into(), &InputLimits::default())
                    .expect("a frame"),
            );
            let record: LogRecord<Box<RawValue>, Box<RawValue>> = LogRecord {
                id: "d".into(),
                logged_at: now,
                now,
                mode: Mode::Live,
                seed: 42,
                customer_id: request.customer_id.clone(),
                tz_offset_minutes: 480,
                request_sha256: String::new(),
                config_version: 1,
                offers_version: 1,
                policy_version: 1,
                plugins: Vec::new(),
                decision: decision.clone(),
                request: None,
                ledger: None,
                tags: Vec::new(),
            };
            // The documented content, written out by hand.
            let hashed = format!(
                r#"{{"mode":"live","now":"{}","profile":{profile},"seed":42,"trigger":{trigger}}}"#,
                now.to_rfc3339().unwrap()
            );
            let expected_hash = hex::encode(Sha256::digest(hashed.as_bytes()));
            let logged = Pending {
                tenant_id: "t".into(),
                record: record.clone(),
                request: request.clone(),
                keep_request: true,
            }
            .into_logged();
            assert!(
                logged
                    .body
                    .contains(&format!(r#""request":{{"profile":{profile},"trigger":{trigger}}}"#)),
                "{}",
                logged.body
            );
            let read: LogRecord = serde_json::from_str(&logged.body).unwrap();
            assert_eq!(read.request_sha256, expected_hash);
            let content = read.request.expect("the request");
            assert_eq!(Some(content.profile), serde_json::from_str::<Profile>(&profile).ok());
            assert_eq!(content.trigger.map(|t| t.amount_minor), Some(Some(5)));

            // Without keeping requests: the same hash, no request.
            let logged = Pending {
                tenant_id: "t".into(),
                record,
                request,
                keep_request: false,
            }
            .into_logged();
            let read: LogRecord = serde_json::from_str(&logged.body).unwrap();
            assert_eq!(read.request_sha256, expected_hash);
            assert!(read.request.is_none());
            assert!(!logged.body.contains("\"events\""), "no profile in {}", logged.body);
        }
    }
}
