//! What every tenant runs right now, kept in memory and in step with the
//! registry.
//!
//! Each tenant has an immutable [`Snapshot`] — its settings, config,
//! offers and compiled pipeline — behind a lock that is held only to clone
//! or swap the `Arc`. A decision clones the snapshot when it starts and
//! finishes on it, so an activation takes effect for the next decision
//! while the ones in flight complete on the version they started with.
//! Every change is written to the registry first and the snapshot rebuilt
//! from what was committed, under a per-tenant write lock.
//!
//! Compiled components are shared by sha256 through weak references: once
//! no snapshot (and no decision in flight) uses a version, its compiled code
//! is dropped from memory; the precompiled cache on disk makes bringing it
//! back cheap.
//!
//! By concern: `tenants` and their keys, `plugins` (versions, the
//! pipeline, shadows and canaries), `documents` (config, offers, policy,
//! recorded touches), `decide` (one decision), `snapshots` (building one),
//! `log` (logged decisions, replay, retention, audit), `simulation`,
//! `loading` (the cold start) and `fleet` (following other hosts).

mod customers;
mod decide;
mod documents;
mod fleet;
mod loading;
mod log;
mod plugins;
mod simulation;
mod snapshots;
mod tenants;
mod timers;

pub use customers::{Customer, EVENTS_PER_TRANSACTION, Intake};
pub use decide::{Moment, decision_limits, default_seed};
pub use documents::NewTouch;
pub use timers::Ran;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::Error;
use crate::canary::{CanaryCounts, CanaryRun, Kept};
use crate::compiler::Compiler;
use crate::decision_log::DecisionLog;
use crate::engine::{Engine, Plugin};
use crate::metrics::Metrics;
use crate::model::triggers::Triggers;
use crate::model::{Event, Mode, Offer, Profile, TenantConfig, Timestamp};
use crate::policy::Policy;
use crate::registry::prelude::*;
use crate::registry::{KeyCheck, RegistryError, Slot, Tenant, TenantLimits};
use crate::shadow::{ShadowRun, Shadows};
use decide::run_shadow;

/// Why a live operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// From the registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// From the engine: an invalid plugin or a failed decision.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The tenant is running as many decisions as its limit allows.
    #[error("tenant {0:?} is running its limit of {1} decisions at once")]
    Busy(String, u32),
    /// The tenant is disabled.
    #[error("tenant {0:?} is disabled")]
    Disabled(String),
    /// The tenant's pipeline runs no plugin.
    #[error("tenant {0:?} has no active plugin: set a pipeline and activate a version")]
    NoPipeline(String),
    /// The tenant's active plugins could not be loaded (a stored blob
    /// failed its integrity check, say); its decisions are refused until a
    /// change to the tenant loads cleanly.
    #[error("tenant {0:?} is unavailable: {1}")]
    Unavailable(String, String),
    /// The server is not ready yet: still starting (and how far it is), or
    /// retrying a start-up that failed.
    #[error("the server is not ready: {0}")]
    NotReady(String),
    /// Another simulation is running.
    #[error("another simulation is running on this server; try again when it ends")]
    Simulating,
    /// Something failed in the server itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LiveError {
    /// Whether trying again later may succeed: storage that failed (a
    /// database out of reach, a full disk) or the server itself, not
    /// something the request or the stored data says.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LiveError::Registry(RegistryError::Storage(_)) | LiveError::Internal(_)
        )
    }
}

type Result<T> = std::result::Result<T, LiveError>;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform operator.
    Operator,
    /// A tenant's API key.
    Tenant {
        /// The tenant.
        tenant: String,
        /// The key's id.
        key: String,
    },
}

impl Caller {
    /// How the caller appears in the audit log.
    pub fn actor(&self) -> String {
        match self {
            Caller::Operator => "operator".into(),
            Caller::Tenant { key, .. } => format!("key:{key}"),
        }
    }
}

/// One tenant's state for decisions, swapped whole on every change.
pub struct Snapshot {
    /// The tenant's settings.
    pub tenant: Tenant,
    /// Its config.
    pub config: Arc<TenantConfig>,
    /// Its config's version.
    pub config_version: i64,
    /// Its offer catalog.
    pub offers: Arc<[Offer]>,
    /// Its catalog's version.
    pub offers_version: i64,
    /// Its contact policy.
    pub policy: Arc<Policy>,
    /// Its policy's version.
    pub policy_version: i64,
    /// The events that start a decision.
    pub triggers: Arc<Triggers>,
    /// Its triggers' version.
    pub triggers_version: i64,
    /// Its pipeline as stored.
    pub slots: Vec<Slot>,
    /// The tenant's id, shared by its plugins and lanes (no allocation per
    /// decision).
    owner: Arc<str>,
    /// The plugins the pipeline runs, in order.
    pub plugins: Vec<Arc<Plugin>>,
    /// Candidates running in shadow beside the active plugins.
    pub shadows: Vec<Arc<ShadowRun>>,
    /// Candidates answering for a share of customers.
    pub canaries: Vec<CanaryRun>,
    /// Why the active plugins could not be loaded, if they could not: the
    /// tenant then serves no decisions (fail closed) while others go on.
    pub unavailable: Option<String>,
    /// Bounds its concurrent decisions.
    permits: Arc<Semaphore>,
}

struct TenantState {
    current: RwLock<Arc<Snapshot>>,
    /// Serialises changes, so snapshots are swapped in commit order.
    writes: Arc<tokio::sync::Mutex<()>>,
}

/// What a decision request carries besides the tenant's stored state.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// The customer.
    pub profile: Profile,
    /// The decision's time (default: the server's clock).
    #[serde(default)]
    pub now: Option<Timestamp>,
    /// The seed plugins get (default: derived from the tenant and customer,
    /// so it is stable per customer).
    #[serde(default, deserialize_with = "crate::model::whole::option")]
    #[schema(schema_with = crate::model::schema::seed)]
    pub seed: Option<u64>,
    /// Why the decision is made (default `live`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The event that triggered it.
    #[serde(default)]
    pub trigger: Option<Event>,
    /// Record the selected touches in the contact ledger, in the same
    /// transaction that checked the caps (default false: a dry run).
    #[serde(default)]
    pub commit: bool,
}

/// A decision on the profile the host keeps for a customer (see the
/// events API): [`DecideRequest`] with a `customer_id` instead of a
/// `profile`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideById {
    /// The customer, by any of its ids.
    #[schema(schema_with = crate::model::schema::event_id)]
    pub customer_id: String,
    /// The decision's time (default: the server's clock).
    #[serde(default)]
    pub now: Option<Timestamp>,
    /// The seed plugins get (default: derived from the tenant and customer).
    #[serde(default, deserialize_with = "crate::model::whole::option")]
    #[schema(schema_with = crate::model::schema::seed)]
    pub seed: Option<u64>,
    /// Why the decision is made (default `live`).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The event that triggered it.
    #[serde(default)]
    pub trigger: Option<Event>,
    /// Record the selected touches, and keep the decision's tags and stage
    /// as the customer's prior (default false: a dry run).
    #[serde(default)]
    pub commit: bool,
}

/// Settings of the live layer.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Limits of new tenants.
    pub default_limits: TenantLimits,
    /// The most any tenant may be given.
    pub max_limits: TenantLimits,
    /// How long an upload may take to compile.
    pub compile_timeout: Duration,
    /// Generated customers the check at upload decides for (0: none, and
    /// no check).
    pub check_customers: usize,
    /// Whether a version that failed its check is refused activation.
    pub check_refuses_activation: bool,
    /// The operator's token, if operator calls are allowed.
    pub operator_token: Option<String>,
    /// Days a logged decision is kept.
    pub decision_log_retention_days: u32,
    /// Logged decisions kept per tenant at most (the oldest go first).
    pub decision_log_max_per_tenant: u64,
    /// Whether logged decisions keep their request (profile and trigger),
    /// which replay needs.
    pub decision_log_requests: bool,
    /// Customers one server-side simulation (or stored profile set) reads
    /// at most.
    pub simulate_max_customers: u64,
    /// Bytes one stored profile set may hold at most.
    pub profile_set_max_bytes: u64,
    /// Profile sets one tenant may keep at most.
    pub profile_sets_max_per_tenant: u64,
    /// Days the outbox keeps a touch for the feed.
    pub outbox_retention_days: u32,
    /// Whether the outbox keeps a touch until it is published (to NATS),
    /// however old.
    pub outbox_published_only: bool,
}

/// The live state of every tenant.
pub struct Live {
    engine: Arc<Engine>,
    registry: Arc<dyn Store>,
    settings: LiveSettings,
    metrics: Arc<Metrics>,
    tenants: RwLock<HashMap<String, Arc<TenantState>>>,
    compiler: Compiler,
    keys: RwLock<HashMap<String, KeyCheck>>,
    /// Held while the keys are read and replaced, so a slower reload that
    /// read them earlier cannot overwrite a newer one.
    keys_reload: tokio::sync::Mutex<()>,
    operator_sha256: Option<[u8; 32]>,
    ready: AtomicBool,
    /// Why the server is not ready yet, for `/readyz` and refused calls.
    not_ready: Mutex<String>,
    log: Arc<DecisionLog>,
    shadows: Shadows,
    canary_counts: Kept<CanaryCounts>,
    /// One simulation at a time.
    simulating: Arc<Semaphore>,
    /// This process among the hosts sharing a store: in leases and the
    /// counts it publishes.
    host: String,
    /// Wakes the work that runs on its own (see [`crate::moments`]).
    signals: Arc<Signals>,
}

/// What wakes the work that runs on its own before its next poll.
#[derive(Default)]
pub struct Signals {
    /// A timer was set that may be due (a triggering event was taken in).
    pub timers: tokio::sync::Notify,
    /// A touch reached the outbox, to be numbered.
    pub outbox: tokio::sync::Notify,
    /// The outbox was numbered: the feed's long polls and the publisher
    /// look again.
    pub feed: Arc<tokio::sync::Notify>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Live {
    /// Creates the live layer (and the decision log's writer thread); call
    /// [`Live::load`] before serving decisions.
    pub fn new(
        engine: Arc<Engine>,
        registry: Arc<dyn Store>,
        settings: LiveSettings,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let operator_sha256 = settings
            .operator_token
            .as_ref()
            .map(|t| Sha256::digest(t.as_bytes()).into());
        let log = Arc::new(DecisionLog::start(registry.clone())?);
        let shadows = Shadows::start(engine.clone(), run_shadow)?;
        let compiler = Compiler::new(engine.clone());
        Ok(Self {
            shadows,
            canary_counts: Kept::default(),
            simulating: Arc::new(Semaphore::new(1)),
            host: host_name(),
            signals: Arc::default(),
            engine,
            registry,
            settings,
            metrics,
            tenants: RwLock::default(),
            compiler,
            keys: RwLock::default(),
            keys_reload: tokio::sync::Mutex::default(),
            operator_sha256,
            ready: AtomicBool::new(false),
            not_ready: Mutex::new("the server is starting".into()),
            log,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// What wakes the work that runs on its own.
    pub fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }

    /// This process among the hosts sharing a store.
    pub fn host_name(&self) -> &str {
        &self.host
    }

    /// The store.
    pub fn registry(&self) -> &Arc<dyn Store> {
        &self.registry
    }

    /// The settings.
    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Whether every active plugin has been loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> std::result::Result<T, RegistryError> + Send + 'static,
    ) -> Result<T> {
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || f(registry.as_ref()))
            .await
            .map_err(|e| LiveError::Internal(format!("registry task: {e}")))?
            .map_err(LiveError::Registry)
    }

    /// Why the server is not ready, as a refusal.
    pub fn not_ready(&self) -> LiveError {
        LiveError::NotReady(self.not_ready.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Says why the server is not ready yet (`/readyz` answers it).
    pub fn set_not_ready(&self, why: impl Into<String>) {
        *self.not_ready.lock().unwrap_or_else(|p| p.into_inner()) = why.into();
    }

    // ---- snapshots ---------------------------------------------------------------

    /// The tenant's current snapshot.
    pub fn snapshot(&self, tenant: &str) -> Result<Arc<Snapshot>> {
        let tenants = read(&self.tenants);
        let state = tenants
            .get(tenant)
            .ok_or_else(|| LiveError::Registry(RegistryError::NotFound(format!("no tenant {tenant:?}"))))?;
        Ok(read(&state.current).clone())
    }

    async fn write_lock(&self, tenant: &str) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        let writes = read(&self.tenants).get(tenant).map(|state| state.writes.clone());
        match writes {
            Some(writes) => Ok(writes.lock_owned().await),
            None => Err(LiveError::Registry(RegistryError::NotFound(format!(
                "no tenant {tenant:?}"
            )))),
        }
    }
}

/// A name for this process that no other host shares: the machine's name,
/// the process id and a random suffix (a restarted host is a new one).
fn host_name() -> String {
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let mut suffix = [0u8; 3];
    let _ = getrandom::fill(&mut suffix);
    format!("{machine}-{}-{}", std::process::id(), hex::encode(suffix))
}
