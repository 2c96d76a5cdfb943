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

mod fleet;
mod loading;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::canary::{CanaryCounts, CanaryRun, CanaryStatus, Kept};
use crate::compare::{self, ArmSummary, Failure, Replay};
use crate::compiler::{Budget, Compiler, Priority};
use crate::decision::Decision;
use crate::decision_log::{DecisionLog, LogRecord, Pending};
use crate::engine::{Compiled, Engine, Lane, Plugin};
use crate::metrics::Metrics;
use crate::model::{Event, Mode, Offer, OfferClass, Profile, Request, TenantConfig, Timestamp};
use crate::policy::{self, Ledger, Outcome, Policy};
use crate::registry::prelude::*;
use crate::registry::{
    ApiKey, AuditEntry, Candidate, DecisionSummary, KeyCheck, Page, PageRequest, PluginVersion, ProfileSet,
    RegistryError, Role, SetReader, Slot, Tenant, TenantChange, TenantLimits, TouchRecord,
};
use crate::shadow::{self, ShadowRun, ShadowStatus, Shadows};
use crate::{Error, pipeline};

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

/// Settings of the live layer.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Limits of new tenants.
    pub default_limits: TenantLimits,
    /// The most any tenant may be given.
    pub max_limits: TenantLimits,
    /// How long an upload may take to compile.
    pub compile_timeout: Duration,
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
            engine,
            registry,
            settings,
            metrics,
            tenants: RwLock::default(),
            compiler,
            keys: RwLock::default(),
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

    // ---- callers -----------------------------------------------------------

    /// Who a bearer token belongs to, if anyone. Secrets are compared as
    /// sha256 digests in constant time.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(operator) = &self.operator_sha256
            && bool::from(operator.ct_eq(&digest))
        {
            return Some(Caller::Operator);
        }
        let (id, secret) = token.strip_prefix("rh_")?.split_once('_')?;
        let keys = read(&self.keys);
        let key = keys.get(id)?;
        let secret_sha256: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if key.revoked || !bool::from(key.secret_sha256.ct_eq(&secret_sha256)) {
            return None;
        }
        Some(Caller::Tenant {
            tenant: key.tenant_id.clone(),
            key: key.id.clone(),
        })
    }

    // ---- tenants -------------------------------------------------------------

    /// Creates a tenant.
    pub async fn create_tenant(
        &self,
        caller: &Caller,
        mut tenant: Tenant,
        limits: Option<TenantLimits>,
    ) -> Result<Tenant> {
        let limits = limits.unwrap_or(self.settings.default_limits);
        limits.check(&self.settings.max_limits)?;
        check_tz(tenant.tz_offset_minutes)?;
        tenant.limits = limits;
        let actor = caller.actor();
        let created = self.blocking(move |r| r.create_tenant(&actor, &tenant)).await?;
        self.rebuild(&created.id).await?;
        Ok(created)
    }

    /// A page of tenants.
    pub async fn tenants(&self, page: PageRequest) -> Result<Page<Tenant>> {
        self.blocking(move |r| r.tenants(&page)).await
    }

    /// One tenant.
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        let id = id.to_owned();
        self.blocking(move |r| r.tenant(&id)).await
    }

    /// Changes a tenant.
    pub async fn update_tenant(&self, caller: &Caller, id: &str, change: TenantChange) -> Result<Tenant> {
        if let Some(limits) = &change.limits {
            limits.check(&self.settings.max_limits)?;
        }
        if let Some(tz) = change.tz_offset_minutes {
            check_tz(tz)?;
        }
        let _guard = self.write_lock(id).await?;
        let (actor, id_owned) = (caller.actor(), id.to_owned());
        let tenant = self
            .blocking(move |r| r.update_tenant(&actor, &id_owned, &change))
            .await?;
        self.rebuild(id).await?;
        Ok(tenant)
    }

    /// Issues a key; the returned string is the only time the secret is seen.
    pub async fn create_key(&self, caller: &Caller, tenant: &str, label: String) -> Result<(ApiKey, String)> {
        let (actor, tenant) = (caller.actor(), tenant.to_owned());
        let (key, secret) = self.blocking(move |r| r.create_key(&actor, &tenant, &label)).await?;
        self.refresh_keys().await?;
        Ok((key, secret))
    }

    /// Inserts a key with a fixed id and secret (the demo's documented keys).
    pub async fn insert_key(&self, tenant: &str, label: &str, id: &str, secret: &str) -> Result<()> {
        let (tenant, label, id, secret) = (tenant.to_owned(), label.to_owned(), id.to_owned(), secret.to_owned());
        self.blocking(move |r| r.insert_key("operator", &tenant, &label, &id, &secret))
            .await?;
        self.refresh_keys().await
    }

    /// A page of a tenant's keys.
    pub async fn keys(&self, tenant: &str, page: PageRequest) -> Result<Page<ApiKey>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.keys(&tenant, &page)).await
    }

    /// Revokes a key; it stops working at once.
    pub async fn revoke_key(&self, caller: &Caller, tenant: &str, key: &str) -> Result<()> {
        let (actor, tenant, key) = (caller.actor(), tenant.to_owned(), key.to_owned());
        self.blocking(move |r| r.revoke_key(&actor, &tenant, &key)).await?;
        self.refresh_keys().await
    }

    async fn refresh_keys(&self) -> Result<()> {
        let keys = self.blocking(|r| r.key_checks()).await?;
        *write(&self.keys) = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        Ok(())
    }

    // ---- plugins -------------------------------------------------------------

    /// Validates, compiles and stores an uploaded plugin version. Nothing is
    /// stored unless it compiles and links. Name and version default to
    /// what the component records about itself.
    pub async fn upload(
        &self,
        caller: &Caller,
        tenant: &str,
        name: Option<String>,
        version: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<(PluginVersion, bool)> {
        let budget = Budget::Cpu(self.settings.compile_timeout);
        self.upload_within(caller, tenant, name, version, bytes, budget, Priority::Background)
            .await
    }

    /// Stores a plugin this server ships (the demo's): compiled at start-up
    /// priority and never refused for its compile time.
    pub(crate) async fn upload_shipped(&self, tenant: &str, bytes: Vec<u8>) -> Result<(PluginVersion, bool)> {
        self.upload_within(
            &Caller::Operator,
            tenant,
            None,
            None,
            bytes,
            Budget::Unlimited,
            Priority::Startup,
        )
        .await
    }

    #[allow(clippy::too_many_arguments, reason = "the upload's request plus how to compile it")]
    async fn upload_within(
        &self,
        caller: &Caller,
        tenant: &str,
        name: Option<String>,
        version: Option<String>,
        bytes: Vec<u8>,
        budget: Budget,
        priority: Priority,
    ) -> Result<(PluginVersion, bool)> {
        let snapshot = self.snapshot(tenant)?;
        let limit = snapshot.tenant.limits.max_plugin_bytes;
        if bytes.len() as u64 > limit {
            return Err(LiveError::Engine(Error::InvalidPlugin {
                defect: crate::error::Defect::TooLarge,
                message: format!(
                    "the plugin is {} bytes; the tenant's limit is {limit} bytes",
                    bytes.len()
                ),
            }));
        }
        let bytes = Arc::new(bytes);
        let what = format!("an upload of tenant {tenant}");
        let compiled = self
            .compiler
            .compile(bytes.clone(), &what, budget, priority)
            .await?
            .compiled;
        let info = compiled.info();
        let record = PluginVersion {
            name: name.unwrap_or_else(|| info.name.clone()),
            version: version.unwrap_or_else(|| info.version.clone()),
            sha256: compiled.sha256().to_owned(),
            size: compiled.size() as u64,
            contract: info.contract.clone(),
            sdk: info.sdk.clone(),
            created_at: Timestamp::now(),
        };
        let (actor, tenant, stored) = (caller.actor(), tenant.to_owned(), record.clone());
        let tenant_id = tenant.to_owned();
        let created = self
            .blocking(move |r| r.put_version(&actor, &tenant, &stored, &bytes))
            .await?;
        if snapshot.unavailable.is_some() {
            // The upload may have repaired the blob that made it unavailable.
            let _guard = self.write_lock(&tenant_id).await?;
            self.rebuild(&tenant_id).await?;
        }
        Ok((record, created))
    }

    /// The compiled component for a stored sha256: shared if in memory,
    /// else read from the registry and compiled (never refused for its
    /// compile time: the version was accepted at its upload). `what` names
    /// it in the log.
    async fn compiled(&self, sha256: &str, what: impl FnOnce() -> String) -> Result<Arc<Compiled>> {
        if let Some(compiled) = self.compiler.in_memory(sha256) {
            return Ok(compiled);
        }
        let sha = sha256.to_owned();
        let bytes = self.blocking(move |r| r.blob(&sha)).await?;
        let loaded = self
            .compiler
            .compile(Arc::new(bytes), &what(), Budget::Unlimited, Priority::Background)
            .await?;
        Ok(loaded.compiled)
    }

    /// A page of a tenant's plugin versions.
    pub async fn versions(&self, tenant: &str, page: PageRequest) -> Result<Page<PluginVersion>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.versions(&tenant, &page)).await
    }

    /// One plugin version.
    pub async fn version(&self, tenant: &str, name: &str, version: &str) -> Result<PluginVersion> {
        let (tenant, name, version) = (tenant.to_owned(), name.to_owned(), version.to_owned());
        self.blocking(move |r| r.version(&tenant, &name, &version)).await
    }

    /// The stored bytes of a version (checked against their sha256).
    pub async fn component(&self, tenant: &str, name: &str, version: &str) -> Result<Vec<u8>> {
        let record = self.version(tenant, name, version).await?;
        self.blocking(move |r| r.blob(&record.sha256)).await
    }

    /// Deletes a version no slot runs.
    pub async fn delete_version(&self, caller: &Caller, tenant: &str, name: &str, version: &str) -> Result<()> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, name, version) = (caller.actor(), tenant.to_owned(), name.to_owned(), version.to_owned());
        self.blocking(move |r| r.delete_version(&actor, &t, &name, &version))
            .await?;
        self.rebuild(tenant).await
    }

    // ---- pipeline ------------------------------------------------------------

    /// The tenant's pipeline.
    pub async fn pipeline(&self, tenant: &str) -> Result<Vec<Slot>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.pipeline(&tenant)).await
    }

    /// Sets the pipeline's slots.
    pub async fn set_pipeline(&self, caller: &Caller, tenant: &str, slots: Vec<String>) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let result = self.blocking(move |r| r.set_pipeline(&actor, &t, &slots)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Activates a version in a slot; the next decision uses it. The
    /// version is compiled before the activation is committed, so a
    /// committed activation always has code to run.
    pub async fn activate(
        &self,
        caller: &Caller,
        tenant: &str,
        slot: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let record = self.version(tenant, name, version).await?;
        let _compiled = self
            .compiled(&record.sha256, || format!("{name} {version} of tenant {tenant}"))
            .await?;
        let (actor, t, s, n, v) = (
            caller.actor(),
            tenant.to_owned(),
            slot.to_owned(),
            name.to_owned(),
            version.to_owned(),
        );
        let result = self.blocking(move |r| r.activate(&actor, &t, &s, &n, &v)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Returns a slot to its previous version.
    pub async fn rollback(&self, caller: &Caller, tenant: &str, slot: &str) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let result = self.blocking(move |r| r.rollback(&actor, &t, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Attaches a candidate version to a slot, in shadow (live decisions of
    /// `percent` of customers also run it, off the response path) or as a
    /// canary (it answers for `percent` of customers). The candidate is
    /// compiled before the attachment is committed; attaching the same
    /// version again changes only its share.
    #[allow(
        clippy::too_many_arguments,
        reason = "who, where, which role, which version, how much"
    )]
    pub async fn attach(
        &self,
        caller: &Caller,
        tenant: &str,
        role: Role,
        slot: &str,
        name: &str,
        version: &str,
        percent: f64,
    ) -> Result<Candidate> {
        let _guard = self.write_lock(tenant).await?;
        let record = self.version(tenant, name, version).await?;
        let _compiled = self
            .compiled(&record.sha256, || format!("{name} {version} of tenant {tenant}"))
            .await?;
        let (actor, t, s, n, v) = (
            caller.actor(),
            tenant.to_owned(),
            slot.to_owned(),
            name.to_owned(),
            version.to_owned(),
        );
        let candidate = self
            .blocking(move |r| r.attach(&actor, &t, role, &s, &n, &v, percent))
            .await?;
        self.rebuild(tenant).await?;
        Ok(candidate)
    }

    /// Detaches a slot's candidate in `role` (a canary's customers go back
    /// to the active version at once).
    pub async fn detach(&self, caller: &Caller, tenant: &str, role: Role, slot: &str) -> Result<Candidate> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let candidate = self.blocking(move |r| r.detach(&actor, &t, role, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(candidate)
    }

    /// Activates a slot's candidate in `role` in its place (the replaced
    /// version becomes the rollback) and detaches it, in one change.
    pub async fn promote(&self, caller: &Caller, tenant: &str, role: Role, slot: &str) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let slots = self.blocking(move |r| r.promote(&actor, &t, role, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(slots)
    }

    /// Simulates a candidate version of one slot's plugin against what the
    /// tenant runs (its active pipeline, config, catalog, policy and time
    /// zone; budgets as used so far) over customers read from `input`
    /// (NDJSON of profiles or decide requests). Runs on every core, on
    /// lanes of its own next to the tenant's (`{tenant}/simulate`), so live
    /// decisions keep their share; one simulation at a time per server.
    /// Set `cancel` to stop it.
    #[allow(
        clippy::too_many_arguments,
        reason = "the candidate, the run's settings and its input"
    )]
    pub async fn simulate(
        &self,
        tenant: &str,
        slot: &str,
        name: &str,
        version: &str,
        now: Option<Timestamp>,
        samples: usize,
        input: impl std::io::BufRead + Send + 'static,
        cancel: Arc<AtomicBool>,
    ) -> Result<compare::Report> {
        let snapshot = self.snapshot(tenant)?;
        if snapshot.plugins.is_empty() {
            return Err(LiveError::NoPipeline(tenant.to_owned()));
        }
        let Ok(turn) = self.simulating.clone().try_acquire_owned() else {
            return Err(LiveError::Simulating);
        };
        // One at a time across the fleet, too.
        let Some(fleet_turn) = self.blocking(|r| r.hold("simulation")).await? else {
            return Err(LiveError::Simulating);
        };
        let candidate = Candidate {
            slot: slot.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            percent: 100.0,
            since: Timestamp::now(),
        };
        if !snapshot.slots.iter().any(|s| s.slot == slot && s.active.is_some()) {
            return Err(LiveError::Registry(RegistryError::NotFound(format!(
                "slot {slot:?} runs nothing in tenant {tenant:?}"
            ))));
        }
        let record = self.version(tenant, name, version).await?;
        let compiled = self
            .compiled(&record.sha256, || format!("{name} {version} of tenant {tenant}"))
            .await?;
        let at = snapshot
            .slots
            .iter()
            .filter(|s| s.active.is_some())
            .position(|s| s.slot == slot)
            .unwrap_or_default();
        let mut plugins = snapshot.plugins.clone();
        plugins[at] = Arc::new(Plugin::new(compiled, name, version).owned_by(snapshot.owner.clone()));
        let t = tenant.to_owned();
        let budgets_used = self.blocking(move |r| r.budgets_used(&t)).await?;
        let arm = |label: String, plugins: Vec<Arc<Plugin>>| crate::simulate::Arm {
            summary: ArmSummary::of(label, &plugins),
            plugins,
            config: snapshot.config.clone(),
            offers: snapshot.offers.clone(),
            policy: snapshot.policy.clone(),
        };
        let baseline = arm(format!("{tenant} (active)"), snapshot.plugins.clone());
        let candidate_arm = arm(
            format!("{} {} in slot {slot}", candidate.name, candidate.version),
            plugins,
        );
        let setup = crate::simulate::Setup {
            tenant_id: tenant.to_owned(),
            tz_offset_minutes: snapshot.tenant.tz_offset_minutes,
            now,
            limits: decision_limits(&snapshot.tenant.limits),
            samples,
            budgets_used,
            lane_owner: Some(Arc::from(format!("{tenant}/simulate"))),
            cancel,
            max_customers: Some(self.settings.simulate_max_customers),
            ..crate::simulate::Setup::default()
        };
        let engine = self.engine.clone();
        // The turn goes with the run: a cancelled simulation holds it until
        // its threads have stopped.
        tokio::task::spawn_blocking(move || {
            let _turns = (turn, fleet_turn);
            crate::simulate::run(&engine, &baseline, &candidate_arm, &setup, input, |_| {})
        })
        .await
        .map_err(|e| LiveError::Internal(format!("simulation task: {e}")))?
        .map_err(|e| match e {
            crate::simulate::SimulateError::Cancelled => LiveError::Internal("the simulation was cancelled".into()),
            other => LiveError::Engine(Error::InvalidInput(other.to_string())),
        })
    }

    /// Stores the customers read from `input` (NDJSON: one profile or
    /// decide request per line, as for [`Live::simulate`]) as the tenant's
    /// profile set `name`, replacing any set of that name. Every line is
    /// checked first: a bad line, an empty set, or one past
    /// `simulate_max_customers` customers or `profile_set_max_bytes` bytes is
    /// refused naming what is wrong, and the stored set stays as it was.
    pub async fn put_profile_set(
        &self,
        caller: &Caller,
        tenant: &str,
        name: &str,
        input: impl std::io::BufRead + Send + 'static,
    ) -> Result<ProfileSet> {
        let (actor, t, n, max_sets) = (
            caller.actor(),
            tenant.to_owned(),
            name.to_owned(),
            self.settings.profile_sets_max_per_tenant,
        );
        let mut staged = self
            .blocking(move |r| r.stage_profile_set(&actor, &t, &n, max_sets))
            .await?;
        let (max_customers, max_bytes) = (
            self.settings.simulate_max_customers,
            self.settings.profile_set_max_bytes,
        );
        let invalid = |message: String| LiveError::Engine(Error::InvalidInput(message));
        let staged = tokio::task::spawn_blocking(move || {
            for (line_no, _, line) in crate::simulate::NdjsonLines::new(input) {
                let line = line.map_err(|e| invalid(e.to_string()))?;
                let line = line.trim_end();
                crate::simulate::read_customer(line_no, line).map_err(|e| invalid(e.to_string()))?;
                if staged.customers() >= max_customers {
                    return Err(invalid(format!(
                        "line {line_no}: more than {max_customers} customers (simulate_max_customers)"
                    )));
                }
                if staged.bytes() + line.len() as u64 + 1 > max_bytes {
                    return Err(invalid(format!(
                        "line {line_no}: the set would be larger than {max_bytes} bytes (profile_set_max_bytes)"
                    )));
                }
                staged
                    .push(line)
                    .map_err(|e| LiveError::Registry(RegistryError::from(e)))?;
            }
            if staged.customers() == 0 {
                return Err(invalid(
                    "the profile set is empty: give one profile or decide request per line".into(),
                ));
            }
            Ok(staged)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("profile set task: {e}")))??;
        self.blocking(move |_| staged.commit()).await
    }

    /// The tenant's stored profile sets, by name.
    pub async fn profile_sets(&self, tenant: &str) -> Result<Vec<ProfileSet>> {
        let t = tenant.to_owned();
        self.blocking(move |r| r.profile_sets(&t)).await
    }

    /// A stored profile set's lines, to simulate over.
    pub async fn open_profile_set(&self, tenant: &str, name: &str) -> Result<SetReader> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        Ok(self.blocking(move |r| r.open_profile_set(&t, &n)).await?.1)
    }

    /// Deletes a stored profile set.
    pub async fn delete_profile_set(&self, caller: &Caller, tenant: &str, name: &str) -> Result<()> {
        let (actor, t, n) = (caller.actor(), tenant.to_owned(), name.to_owned());
        self.blocking(move |r| r.delete_profile_set(&actor, &t, &n)).await
    }

    /// A slot's canary: its share and decisions and errors per version.
    pub async fn canary_status(&self, tenant: &str, slot: &str) -> Result<CanaryStatus> {
        let snapshot = self.snapshot(tenant)?;
        if let Some(canary) = snapshot.canaries.iter().find(|c| c.candidate.slot == slot) {
            let mut status = canary.status();
            for other in self
                .fleet_counts::<CanaryStatus>(tenant, Role::Canary, &canary.candidate)
                .await?
            {
                status.add(&other);
            }
            return Ok(status);
        }
        Err(self.not_running(tenant, Role::Canary, slot).await)
    }

    /// Why a slot's candidate is not running: none attached, or attached
    /// but not loadable.
    async fn not_running(&self, tenant: &str, role: Role, slot: &str) -> LiveError {
        let (t, s) = (tenant.to_owned(), slot.to_owned());
        match self.blocking(move |r| r.candidate(&t, role, &s)).await {
            Ok(Some(c)) => LiveError::Internal(format!(
                "the {} {} {} of slot {slot:?} is attached but cannot run (see the server's log)",
                role.as_str(),
                c.name,
                c.version
            )),
            Ok(None) => LiveError::Registry(RegistryError::NotFound(format!(
                "slot {slot:?} has no {}",
                role.as_str()
            ))),
            Err(e) => e,
        }
    }

    /// A slot's shadow: its counts and its report so far.
    pub async fn shadow_status(&self, tenant: &str, slot: &str) -> Result<ShadowStatus> {
        let snapshot = self.snapshot(tenant)?;
        if let Some(run) = snapshot.shadows.iter().find(|r| r.shadow.slot == slot) {
            let t = tenant.to_owned();
            let used_before = self.blocking(move |r| r.budgets_used(&t)).await?;
            let mut status = run.status(&snapshot.policy, &used_before);
            for other in self
                .fleet_counts::<ShadowStatus>(tenant, Role::Shadow, &run.shadow)
                .await?
            {
                status.add(&other);
            }
            return Ok(status);
        }
        Err(self.not_running(tenant, Role::Shadow, slot).await)
    }

    // ---- config, offers, audit ---------------------------------------------------

    /// Replaces the tenant's config.
    pub async fn put_config(&self, caller: &Caller, tenant: &str, config: TenantConfig) -> Result<i64> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_config(&actor, &t, &config)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Replaces the tenant's offer catalog, after checking it as decisions
    /// would (unique ids, sane windows).
    pub async fn put_offers(&self, caller: &Caller, tenant: &str, offers: Vec<Offer>) -> Result<i64> {
        check_offers(&offers)?;
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_offers(&actor, &t, &offers)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Replaces the tenant's contact policy.
    pub async fn put_policy(&self, caller: &Caller, tenant: &str, policy: Policy) -> Result<i64> {
        policy
            .check()
            .map_err(|e| LiveError::Registry(RegistryError::Invalid(format!("policy.{e}"))))?;
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let version = self.blocking(move |r| r.put_policy(&actor, &t, &policy)).await?;
        self.rebuild(tenant).await?;
        Ok(version)
    }

    /// Records deliveries in the contact ledger; a touch id seen before
    /// changes nothing. A touch without a class takes its offer's class from
    /// the catalog (marketing if the offer is unknown).
    pub async fn record_touches(&self, tenant: &str, touches: Vec<NewTouch>) -> Result<(usize, usize)> {
        let snapshot = self.snapshot(tenant)?;
        let now = Timestamp::now();
        let mut records = Vec::with_capacity(touches.len());
        for (i, t) in touches.into_iter().enumerate() {
            for (field, value) in [
                ("id", &t.id),
                ("customer_id", &t.customer_id),
                ("offer_id", &t.offer_id),
                ("channel", &t.channel),
            ] {
                if value.is_empty() || value.chars().count() > 256 {
                    return Err(LiveError::Registry(RegistryError::Invalid(format!(
                        "touches[{i}].{field} must be 1-256 characters"
                    ))));
                }
            }
            let class = t.class.unwrap_or_else(|| {
                snapshot
                    .offers
                    .iter()
                    .find(|o| o.id == t.offer_id)
                    .map_or(OfferClass::Marketing, |o| o.class)
            });
            records.push(TouchRecord {
                id: t.id,
                customer_id: t.customer_id,
                offer_id: t.offer_id,
                channel: t.channel,
                class,
                at: t.at.unwrap_or(now),
                decision_id: None,
            });
        }
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.record_touches(&tenant, &records)).await
    }

    /// A logged decision with its full explanation.
    pub async fn logged_decision(&self, tenant: &str, id: &str) -> Result<serde_json::Value> {
        let (tenant, id, log) = (tenant.to_owned(), id.to_owned(), self.log.clone());
        // A decision just made may still be queued for the writer: if it is
        // not found, flush and look again. Flushing waits for the writer
        // thread: not on the async runtime.
        self.blocking(move |r| match r.logged_decision(&tenant, &id) {
            Err(RegistryError::NotFound(_)) => {
                log.flush();
                r.logged_decision(&tenant, &id)
            }
            found => found,
        })
        .await
    }

    /// Runs a logged decision again: the same plugin versions (or, with
    /// `against`, another version of one of them), the config, catalog and
    /// policy versions it used, its request and what its policy read from
    /// the ledger; nothing is logged or recorded. Decisions are
    /// deterministic, so a replay against its own versions is identical.
    pub async fn replay(&self, tenant: &str, id: &str, against: Option<(String, String)>) -> Result<Replay> {
        let body = self.logged_decision(tenant, id).await?;
        let record: LogRecord = serde_json::from_value(body).map_err(|e| {
            LiveError::Registry(RegistryError::Invalid(format!(
                "decision {id:?} cannot be replayed: it was logged without what a replay needs ({e})"
            )))
        })?;
        let Some(logged_request) = record.request else {
            return Err(LiveError::Registry(RegistryError::Invalid(format!(
                "decision {id:?} cannot be replayed: it was logged without its request \
                 (the server keeps none while decision_log_requests is false)"
            ))));
        };
        let (snapshot, permit) = self.admit(tenant)?;
        let mut refs = record.plugins.clone();
        if let Some((name, version)) = &against {
            // Like a version that does not exist: a resource the request
            // names is not there.
            let Some(slot) = refs.iter_mut().find(|p| &p.name == name) else {
                return Err(LiveError::Registry(RegistryError::NotFound(format!(
                    "plugin {name:?} did not run in decision {id:?} (it ran {})",
                    record
                        .plugins
                        .iter()
                        .map(|p| format!("{} {}", p.name, p.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))));
            };
            slot.version = version.clone();
        }
        let mut plugins = Vec::with_capacity(refs.len());
        for r in &mut refs {
            let stored = self.version(tenant, &r.name, &r.version).await?;
            r.sha256 = stored.sha256.clone();
            let compiled = self
                .compiled(&stored.sha256, || {
                    format!("{} {} of tenant {tenant}", r.name, r.version)
                })
                .await?;
            plugins.push(Arc::new(
                Plugin::new(compiled, &r.name, &r.version).owned_by(snapshot.owner.clone()),
            ));
        }
        let (t, versions) = (
            tenant.to_owned(),
            (record.config_version, record.offers_version, record.policy_version),
        );
        let (config, offers, policy) = self
            .blocking(move |r| {
                Ok((
                    r.config_at(&t, versions.0)?,
                    r.offers_at(&t, versions.1)?,
                    r.policy_at(&t, versions.2)?,
                ))
            })
            .await?;
        let engine = self.engine.clone();
        let lane_owner = snapshot.owner.clone();
        let limits = decision_limits(&snapshot.tenant.limits);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let request = Request {
                now: record.now,
                tz_offset_minutes: record.tz_offset_minutes,
                seed: record.seed,
                mode: record.mode,
                trigger: logged_request.trigger,
                profile: logged_request.profile,
                offers: offers.into(),
            };
            let replayed = rerun(
                &engine,
                &engine.lane(lane_owner),
                &plugins,
                &request,
                Arc::new(config),
                &limits,
                &policy,
                record.ledger.as_ref(),
                &record.decision,
            );
            Replay::of(&record.decision, &replayed, refs)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("replay task: {e}")))
    }

    /// A page of logged decisions, newest first.
    pub async fn logged_decisions(
        &self,
        tenant: &str,
        customer: Option<String>,
        page: PageRequest,
    ) -> Result<Page<DecisionSummary>> {
        let (tenant, log) = (tenant.to_owned(), self.log.clone());
        self.blocking(move |r| {
            log.flush();
            r.logged_decisions(&tenant, customer.as_deref(), &page)
        })
        .await
    }

    /// Compacts every tenant's ledger past its longest cap window and its
    /// decision log past retention.
    pub async fn compact(&self) -> Result<(usize, usize)> {
        let tenants: Vec<Arc<Snapshot>> = read(&self.tenants).values().map(|s| read(&s.current).clone()).collect();
        let now = Timestamp::now();
        let (mut touches, mut decisions) = (0, 0);
        for snapshot in tenants {
            let id = snapshot.tenant.id.clone();
            // One day more than the window, for touches deferred into it.
            let touches_before = Timestamp(now.0 - (snapshot.policy.ledger_days() + 1) * MS_PER_DAY);
            let decisions_before = Timestamp(now.0 - i64::from(self.settings.decision_log_retention_days) * MS_PER_DAY);
            let max = self.settings.decision_log_max_per_tenant;
            let (t, d) = self
                .blocking(move |r| r.compact(&id, touches_before, decisions_before, max))
                .await?;
            touches += t;
            decisions += d;
        }
        Ok((touches, decisions))
    }

    /// Waits until every decision queued for the log so far is written
    /// (blocking: not for the async runtime).
    pub fn flush_log_blocking(&self) {
        self.log.flush();
    }

    /// Decision log entries dropped because the writer fell behind.
    pub fn log_dropped(&self) -> u64 {
        self.log.dropped()
    }

    /// A page of the tenant's audit log.
    pub async fn audit(&self, tenant: &str, page: PageRequest) -> Result<Page<AuditEntry>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.audit(&tenant, &page)).await
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

    /// Rebuilds a tenant's snapshot from the registry and swaps it in. If
    /// an active plugin cannot be loaded the snapshot is swapped in marked
    /// unavailable (and the reason logged): the registry has the last word,
    /// and an old snapshot must not go on running what it no longer says.
    async fn rebuild(&self, tenant_id: &str) -> Result<()> {
        let id = tenant_id.to_owned();
        let (tenant, (config_version, config), (offers_version, offers), (policy_version, policy), slots, shadows) =
            self.blocking(move |r| {
                Ok((
                    r.tenant(&id)?,
                    r.config(&id)?,
                    r.offers(&id)?,
                    r.policy(&id)?,
                    r.pipeline(&id)?,
                    (r.candidates(&id, Role::Shadow)?, r.candidates(&id, Role::Canary)?),
                ))
            })
            .await?;
        let owner: Arc<str> = Arc::from(tenant_id);
        let mut plugins = Vec::new();
        let mut unavailable = None;
        for slot in &slots {
            if let Some(active) = &slot.active {
                match self
                    .compiled(&active.sha256, || {
                        format!("{} {} of tenant {tenant_id}", active.name, active.version)
                    })
                    .await
                {
                    Ok(compiled) => plugins.push(Arc::new(
                        Plugin::new(compiled, &active.name, &active.version).owned_by(owner.clone()),
                    )),
                    Err(e) => {
                        tracing::error!(
                            tenant = tenant_id,
                            slot = slot.slot,
                            plugin = active.name,
                            version = active.version,
                            error = %e,
                            "cannot load an active plugin; the tenant is unavailable until it is repaired"
                        );
                        unavailable = Some(format!(
                            "slot {:?} runs {} {}, which cannot be loaded: {e}",
                            slot.slot, active.name, active.version
                        ));
                        plugins.clear();
                        break;
                    }
                }
            }
        }
        let (shadows, canaries) = if unavailable.is_none() {
            let (shadows, canaries) = shadows;
            (
                self.shadow_runs(tenant_id, &owner, &slots, &plugins, shadows).await,
                self.canary_runs(tenant_id, &owner, &slots, canaries).await,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let previous = read(&self.tenants).get(tenant_id).cloned();
        let max = tenant.limits.max_concurrent_decisions;
        let permits = match &previous {
            Some(state) => {
                let old = read(&state.current).clone();
                if old.tenant.limits.max_concurrent_decisions == max {
                    old.permits.clone()
                } else {
                    Arc::new(Semaphore::new(max as usize))
                }
            }
            None => Arc::new(Semaphore::new(max as usize)),
        };
        let snapshot = Arc::new(Snapshot {
            tenant,
            config: Arc::new(config),
            config_version,
            offers: offers.into(),
            offers_version,
            policy: Arc::new(policy),
            policy_version,
            slots,
            owner,
            plugins,
            shadows,
            canaries,
            unavailable,
            permits,
        });
        match previous {
            Some(state) => *write(&state.current) = snapshot,
            None => {
                write(&self.tenants).insert(
                    tenant_id.to_owned(),
                    Arc::new(TenantState {
                        current: RwLock::new(snapshot),
                        writes: Arc::new(tokio::sync::Mutex::new(())),
                    }),
                );
            }
        }
        self.prune_compiled();
        Ok(())
    }

    /// The runs of a tenant's shadows: each the active pipeline with its
    /// candidate in its slot. A candidate that cannot be loaded is left out
    /// (and logged); live decisions go on.
    async fn shadow_runs(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        plugins: &[Arc<Plugin>],
        shadows: Vec<Candidate>,
    ) -> Vec<Arc<ShadowRun>> {
        self.shadows.retain(tenant_id, &shadows);
        let baseline = ArmSummary::of("active".into(), plugins);
        let mut runs = Vec::new();
        for shadow in shadows {
            if let Some((at, plugin)) = self
                .load_candidate(tenant_id, owner, slots, Role::Shadow, &shadow)
                .await
            {
                let mut candidate = plugins.to_vec();
                candidate[at] = plugin;
                runs.push(self.shadows.run(tenant_id, shadow, candidate, baseline.clone()));
            }
        }
        runs
    }

    /// The runs of a tenant's canaries.
    async fn canary_runs(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        canaries: Vec<Candidate>,
    ) -> Vec<CanaryRun> {
        self.canary_counts.retain(tenant_id, &canaries);
        let mut runs = Vec::new();
        for canary in canaries {
            let active = slots
                .iter()
                .find(|s| s.slot == canary.slot)
                .and_then(|s| s.active.as_ref())
                .map(|a| a.version.clone())
                .unwrap_or_default();
            if let Some((at, plugin)) = self
                .load_candidate(tenant_id, owner, slots, Role::Canary, &canary)
                .await
            {
                let counts = self.canary_counts.get(tenant_id, &canary, CanaryCounts::default);
                runs.push(CanaryRun::new(canary, at, plugin, active, counts));
            }
        }
        runs
    }

    /// A candidate's place among the plugins that run and its plugin; a
    /// candidate that cannot be loaded is left out (and logged), and live
    /// decisions go on without it.
    async fn load_candidate(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        role: Role,
        candidate: &Candidate,
    ) -> Option<(usize, Arc<Plugin>)> {
        let at = slots
            .iter()
            .filter(|s| s.active.is_some())
            .position(|s| s.slot == candidate.slot)?;
        let loaded = match self.version(tenant_id, &candidate.name, &candidate.version).await {
            Ok(record) => {
                self.compiled(&record.sha256, || {
                    format!("{} {} of tenant {tenant_id}", candidate.name, candidate.version)
                })
                .await
            }
            Err(e) => Err(e),
        };
        match loaded {
            Ok(compiled) => Some((
                at,
                Arc::new(Plugin::new(compiled, &candidate.name, &candidate.version).owned_by(owner.clone())),
            )),
            Err(e) => {
                tracing::error!(
                    tenant = tenant_id,
                    slot = candidate.slot,
                    plugin = candidate.name,
                    version = candidate.version,
                    error = %e,
                    "cannot load a {} candidate; it does not run",
                    role.as_str()
                );
                None
            }
        }
    }

    /// Forgets compiled versions nobody holds any more.
    fn prune_compiled(&self) -> usize {
        let held = self.compiler.prune();
        self.metrics.set_versions(held);
        held
    }

    /// Brings the load gauges up to date: lanes held and waited for, and
    /// decisions admitted but not finished (all tenants). Returns the last.
    pub fn refresh_load(&self) -> usize {
        let in_flight = read(&self.tenants)
            .values()
            .map(|state| {
                let snapshot = read(&state.current);
                (snapshot.tenant.limits.max_concurrent_decisions as usize)
                    .saturating_sub(snapshot.permits.available_permits())
            })
            .sum();
        let (lanes, waiting) = self.engine.lane_load();
        self.metrics.set_load(lanes, waiting, in_flight);
        in_flight
    }

    /// The number of compiled versions held in memory.
    pub fn compiled_in_memory(&self) -> usize {
        self.prune_compiled()
    }

    // ---- decisions ---------------------------------------------------------------

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

    /// [`Live::decide_on`] a lane taken first, blocking the thread in line.
    pub fn decide_blocking(&self, snapshot: &Snapshot, request: DecideRequest) -> Result<Decision> {
        let lane = self.lane(snapshot);
        self.decide_on(&lane, snapshot, request)
    }

    /// Decides for one request on an admitted snapshot, on a lane held for
    /// the whole decision: the plugins propose, the tenant's policy decides
    /// against the contact ledger (recording the selected touches if the
    /// request commits), and the decision is logged. Blocking: run it on
    /// the blocking pool.
    pub fn decide_on(&self, lane: &Lane, snapshot: &Snapshot, request: DecideRequest) -> Result<Decision> {
        let tenant = &snapshot.tenant;
        if snapshot.plugins.is_empty() {
            return Err(LiveError::NoPipeline(tenant.id.clone()));
        }
        let seed = request
            .seed
            .unwrap_or_else(|| default_seed(&tenant.id, &request.profile.customer_id));
        let commit = request.commit;
        let request = Request {
            now: request.now.unwrap_or_else(Timestamp::now),
            tz_offset_minutes: tenant.tz_offset_minutes,
            seed,
            mode: request.mode.unwrap_or_default(),
            trigger: request.trigger,
            profile: request.profile,
            offers: snapshot.offers.clone(),
        };
        // Canaries: the customer's slots that run a candidate instead.
        let on: Vec<bool> = snapshot
            .canaries
            .iter()
            .map(|c| c.applies(&request.profile.customer_id))
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
        let result = pipeline::decide(
            &self.engine,
            Some(lane),
            canary_plugins.as_deref().unwrap_or(&snapshot.plugins),
            &request,
            snapshot.config.clone(),
            &decision_limits(&tenant.limits),
        );
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
        let (outcome, ledger) = self.apply_policy(snapshot, &request, &decision, &decision_id, commit)?;
        self.metrics
            .decision(&tenant.id, "ok", started.elapsed().as_secs_f64(), decision.usage.fuel);
        self.metrics.policy(&tenant.id, &outcome);
        settle(&mut decision, outcome, &decision_id, commit);
        // The request goes on to the log and any shadow shared, not copied:
        // a profile is many small allocations.
        let request = Arc::new(request);
        // A shadow compares its candidate with the active pipeline, so it
        // skips the canary's customers.
        for run in snapshot.shadows.iter().filter(|_| tags.is_empty()) {
            self.shadows.offer(run, &request.profile.customer_id, || shadow::Job {
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
                now: request.now,
                mode: request.mode,
                seed: request.seed,
                customer_id: decision.customer_id.clone(),
                tz_offset_minutes: request.tz_offset_minutes,
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
    /// ledger, recording the selected touches when `commit` is set; returns
    /// the outcome and what the policy read from the ledger (if anything).
    fn apply_policy(
        &self,
        snapshot: &Snapshot,
        request: &Request,
        decision: &Decision,
        decision_id: &str,
        commit: bool,
    ) -> Result<(Outcome, Option<Ledger>)> {
        let policy = snapshot.policy.clone();
        let customer = &request.profile.customer_id;
        let decide = |ledger: &Ledger| {
            policy::apply(
                &policy,
                &policy::Input {
                    now: request.now,
                    tz_offset_minutes: request.tz_offset_minutes,
                    customer_id: customer,
                    attributes: &request.profile.attributes,
                    offers: &request.offers,
                    proposals: &decision.proposals,
                    ledger,
                },
            )
        };
        // Without caps there is nothing to read from the ledger, and a dry
        // run writes nothing to it: no database at all.
        if !commit && !policy.needs_ledger() {
            return Ok((decide(&Ledger::default()), None));
        }
        let since = Timestamp(request.now.0 - policy.ledger_days() * MS_PER_DAY);
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
                    (outcome, touches)
                })?;
        Ok(outcome)
    }
}

/// Runs `plugins` on a request already decided (`decided`), and the policy
/// against what that decision's policy read from the ledger; the result
/// carries the same id and commit flag. Replays and shadow runs.
#[allow(clippy::too_many_arguments, reason = "everything a decision depends on, each named")]
fn rerun(
    engine: &Engine,
    lane: &Lane,
    plugins: &[Arc<Plugin>],
    request: &Request,
    config: Arc<TenantConfig>,
    limits: &crate::engine::Limits,
    policy: &Policy,
    ledger: Option<&Ledger>,
    decided: &Decision,
) -> compare::Outcome {
    pipeline::decide(engine, Some(lane), plugins, request, config, limits)
        .map(|mut decision| {
            let outcome = policy::apply(
                policy,
                &policy::Input {
                    now: request.now,
                    tz_offset_minutes: request.tz_offset_minutes,
                    customer_id: &request.profile.customer_id,
                    attributes: &request.profile.attributes,
                    offers: &request.offers,
                    proposals: &decision.proposals,
                    ledger: ledger.unwrap_or(&Ledger::default()),
                },
            );
            let id = decided.decision_id.as_deref().unwrap_or_default();
            settle(&mut decision, outcome, id, decided.committed.unwrap_or(false));
            decision
        })
        .map_err(|e| Failure::from(&e))
}

/// A shadow job: the candidate on the live request, on the tenant's lane.
fn run_shadow(engine: &Engine, job: &shadow::Job) -> compare::Outcome {
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
fn settle(decision: &mut Decision, outcome: Outcome, decision_id: &str, commit: bool) {
    decision.decision_id = Some(decision_id.to_owned());
    decision.holdout = Some(outcome.holdout);
    decision.selected = Some(outcome.selected);
    decision.suppressed = Some(outcome.suppressed);
    decision.committed = Some(commit);
}

const MS_PER_DAY: i64 = 86_400_000;

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
fn new_decision_id() -> String {
    let mut random = [0u8; 5];
    let _ = getrandom::fill(&mut random);
    format!("d{:012x}{}", Timestamp::now().0.max(0), hex::encode(random))
}

/// A delivery to record through the touches API.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTouch {
    /// Unique per tenant: recording the same id again changes nothing.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub id: String,
    /// The customer.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub customer_id: String,
    /// The offer.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub offer_id: String,
    /// The channel it went out on.
    #[schema(schema_with = crate::model::schema::touch_text)]
    pub channel: String,
    /// When it was delivered (default: now).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The offer's class (default: the catalog's class for the offer).
    #[serde(default)]
    pub class: Option<OfferClass>,
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

/// What a tenant's limits allow one decision.
pub fn decision_limits(limits: &TenantLimits) -> crate::engine::Limits {
    crate::engine::Limits {
        memory_bytes: limits.memory_bytes,
        deadline_ms: limits.deadline_ms,
        fuel: limits.fuel,
    }
}

fn check_tz(tz: i32) -> Result<()> {
    if (-18 * 60..=18 * 60).contains(&tz) {
        Ok(())
    } else {
        Err(LiveError::Registry(RegistryError::Invalid(format!(
            "tz_offset_minutes is {tz}; it must be within ±1080 (±18 hours)"
        ))))
    }
}

fn check_offers(offers: &[Offer]) -> Result<()> {
    // The same checks a decision makes, applied when the catalog is stored.
    let request = Request {
        now: Timestamp(0),
        tz_offset_minutes: 0,
        seed: 0,
        mode: Mode::Live,
        trigger: None,
        profile: Profile::with_id("catalog-check"),
        offers: offers.into(),
    };
    crate::input::build(&request, &crate::input::InputLimits::default())?;
    Ok(())
}
