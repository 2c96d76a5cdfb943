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
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::decision::{Decision, PluginRef};
use crate::model::{Event, Mode, Profile, Timestamp};
use crate::policy::Ledger;
use crate::registry::{LoggedDecision, Registry};

/// What the log keeps of a decision, as `GET …/decisions/{id}` shows it:
/// everything needed to replay it exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRecord {
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
    /// sha256 of the request's content (its profile, trigger, time, seed and
    /// mode as JSON), filled in by the writer.
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
    /// The request's content.
    pub request: RequestContent,
    /// What the contact policy read from the ledger (the customer's recent
    /// touches, budgets used); `None` when it read nothing.
    pub ledger: Option<Ledger>,
    /// Tags: `canary:{slot}:{plugin}@{version}` when a canary answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The parts of a request that make it this request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestContent {
    /// The customer.
    pub profile: Profile,
    /// The triggering event.
    pub trigger: Option<Event>,
}

/// What `request_sha256` is the hash of: this, as compact JSON, fields in
/// this order (and each nested struct's fields in declaration order).
#[derive(Serialize)]
struct HashedContent<'a> {
    mode: Mode,
    now: Timestamp,
    profile: &'a Profile,
    seed: u64,
    trigger: Option<&'a Event>,
}

/// A decision waiting for the writer.
#[derive(Debug)]
pub struct Pending {
    /// The tenant.
    pub tenant_id: String,
    /// What to log.
    pub record: LogRecord,
}

impl Pending {
    /// Hashes the request and serialises the record: the writer's work, off
    /// the request path.
    fn into_logged(mut self) -> LoggedDecision {
        let content = HashedContent {
            mode: self.record.mode,
            now: self.record.now,
            profile: &self.record.request.profile,
            seed: self.record.seed,
            trigger: self.record.request.trigger.as_ref(),
        };
        // Serialised straight into the hash: no intermediate JSON tree.
        let mut hasher = Sha256::new();
        if serde_json::to_writer(&mut hasher, &content).is_ok() {
            self.record.request_sha256 = hex::encode(hasher.finalize());
        }
        LoggedDecision {
            tenant_id: self.tenant_id,
            id: self.record.id.clone(),
            at: self.record.logged_at,
            customer_id: self.record.customer_id.clone(),
            body: serde_json::to_string(&self.record).unwrap_or_default(),
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
}

/// Entries queued before new ones are dropped.
const QUEUE: usize = 16_384;
/// Entries written per transaction at most.
const BATCH: usize = 512;

impl DecisionLog {
    /// Starts the writer thread.
    pub fn start(registry: Arc<Registry>) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("rulehost-decision-log".into())
            .spawn(move || write_loop(&registry, &receiver))?;
        Ok(Self {
            queue,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues an entry; if the queue is full it is dropped and counted.
    pub fn push(&self, entry: Pending) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(Message::Entry(Box::new(entry)))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
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

fn write_loop(registry: &Registry, receiver: &Receiver<Message>) {
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
                Message::Entry(entry) => batch.push(entry.into_logged()),
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
