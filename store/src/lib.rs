//! Where rulehost keeps everything: tenants, API keys, plugin versions and
//! their bytes, pipelines, config, offers, contact policies, candidates,
//! profile sets, customers' kept profiles, the contact ledger, the
//! decision log and the audit log.
//!
//! One interface ([`Store`], by concern: [`TenantStore`], [`KeyStore`],
//! [`PluginStore`], [`CandidateStore`], [`DocumentStore`],
//! [`LedgerStore`], [`DecisionLogStore`], [`ProfileSetStore`],
//! [`ProfileStore`], [`TimerStore`], [`OutboxStore`]) and its backends: [`sqlite::SqliteStore`], the
//! embedded default under a data directory, and [`postgres::PgStore`],
//! shared by a fleet. Both keep the same promises, held by one conformance suite
//! (`tests/`): every change is one transaction with its audit entry, an
//! acknowledged change survives `kill -9`, stored bytes are checked
//! against their sha256 on every read. Methods block; a server calls them
//! from its blocking pool.

pub use rulehost_durable as durable;
pub mod postgres;
pub mod profiles;
pub mod rules;
pub mod sqlite;
pub mod testing;
pub mod timers;

/// The store's traits, to call their methods on a `dyn Store`.
pub mod prelude {
    pub use crate::{
        CandidateStore, DecisionLogStore, DocumentStore, FleetStore, KeyStore, LedgerStore, OutboxStore, PluginStore,
        ProfileSetStore, ProfileStore, StagedSet, Store, TenantStore, TimerStore,
    };
}

pub use profiles::{
    Alias, Concluded, CustomerRecord, DeadLetter, Erasure, Fold, ProfileStore, StageChange, StoredProfile, Taken,
};
pub use timers::{OutboxEntry, OutboxStore, Outgoing, Timer, TimerChange, TimerKind, TimerStore};

use std::collections::HashMap;
use std::io::BufRead;

use rulehost_model::policy::{Ledger, Policy};
use rulehost_model::triggers::Triggers;
use rulehost_model::{Offer, OfferClass, TenantConfig, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What can go wrong with a registry operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The named thing does not exist (or belongs to another tenant).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The change is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// Something stored was found altered; it is refused, never used.
    #[error("{0}")]
    Corrupt(String),
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::InvalidData => RegistryError::Corrupt(e.to_string()),
            _ => RegistryError::Storage(e.to_string()),
        }
    }
}

/// A store operation's result.
pub type Result<T> = std::result::Result<T, RegistryError>;

/// A tenant's resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// The largest plugin the tenant may upload, in bytes.
    #[serde(deserialize_with = "rulehost_model::whole::number")]
    pub max_plugin_bytes: u64,
    /// Memory of one decision's plugin instances together, in bytes.
    #[serde(deserialize_with = "rulehost_model::whole::number")]
    pub memory_bytes: u64,
    /// Deadline of one decision, in milliseconds of CPU time.
    #[serde(deserialize_with = "rulehost_model::whole::number")]
    pub deadline_ms: u64,
    /// Fuel (instruction budget) of one decision.
    #[serde(deserialize_with = "rulehost_model::whole::number")]
    pub fuel: u64,
    /// Decisions running at once; past this, requests get 429.
    #[serde(deserialize_with = "rulehost_model::whole::number")]
    pub max_concurrent_decisions: u32,
    /// Events a kept profile holds at most (the newest; default 500).
    #[serde(
        default = "default_profile_events",
        deserialize_with = "rulehost_model::whole::number"
    )]
    pub profile_events: u32,
    /// Days of events a kept profile holds at most (default 365).
    #[serde(default = "default_profile_days", deserialize_with = "rulehost_model::whole::number")]
    pub profile_days: u32,
}

fn default_profile_events() -> u32 {
    TenantLimits::default().profile_events
}

fn default_profile_days() -> u32 {
    TenantLimits::default().profile_days
}

impl Default for TenantLimits {
    /// 32 MiB plugins (room for a TypeScript or Python one, 12 and 18 MB
    /// with their runtimes), 64 MiB of memory, 50 ms and 50M fuel per decision,
    /// 8 decisions at once, kept profiles of the last 500 events within a
    /// year.
    fn default() -> Self {
        Self {
            max_plugin_bytes: 32 << 20,
            memory_bytes: 64 << 20,
            deadline_ms: 50,
            fuel: 50_000_000,
            max_concurrent_decisions: 8,
            profile_events: 500,
            profile_days: 365,
        }
    }
}

impl TenantLimits {
    /// Checks the limits against the host's ceilings.
    pub fn check(&self, ceiling: &TenantLimits) -> Result<()> {
        let bad = |field: &str, value: u64, max: u64| {
            Err(RegistryError::Invalid(format!(
                "limits.{field} is {value}; it must be between 1 and {max}"
            )))
        };
        let fields = [
            ("max_plugin_bytes", self.max_plugin_bytes, ceiling.max_plugin_bytes),
            ("memory_bytes", self.memory_bytes, ceiling.memory_bytes),
            ("deadline_ms", self.deadline_ms, ceiling.deadline_ms),
            ("fuel", self.fuel, ceiling.fuel),
            (
                "max_concurrent_decisions",
                u64::from(self.max_concurrent_decisions),
                u64::from(ceiling.max_concurrent_decisions),
            ),
            (
                "profile_events",
                u64::from(self.profile_events),
                u64::from(ceiling.profile_events),
            ),
            (
                "profile_days",
                u64::from(self.profile_days),
                u64::from(ceiling.profile_days),
            ),
        ];
        for (field, value, max) in fields {
            if value == 0 || value > max {
                return bad(field, value, max);
            }
        }
        Ok(())
    }
}

/// A tenant: one brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// The tenant's id, used in paths.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The brand's offset from UTC in minutes (480 = UTC+8).
    pub tz_offset_minutes: i32,
    /// A disabled tenant's keys and decisions are refused.
    pub disabled: bool,
    /// Its limits.
    pub limits: TenantLimits,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An API key's public part (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// The key's id (the part of the key before the secret).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// What it is for.
    pub label: String,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// What the host needs to check a key: kept in memory, compared in constant
/// time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    /// The key's id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// sha256 of its secret.
    pub secret_sha256: [u8; 32],
    /// Whether it was revoked.
    pub revoked: bool,
}

/// An uploaded plugin version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginVersion {
    /// The plugin's name in this tenant.
    pub name: String,
    /// The version.
    pub version: String,
    /// sha256 of the component's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The contract version it targets.
    pub contract: String,
    /// The SDK version it was built with, if known.
    pub sdk: Option<String>,
    /// When it was uploaded.
    pub created_at: Timestamp,
    /// Whether the check run at its upload (`rulehost check` on a small
    /// sample) found it fits the tenant's limits; absent when it was not
    /// checked (uploaded before checks were kept, or the check was cut
    /// short). The report: `GET …/plugins/{name}/{version}/check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fits: Option<bool>,
}

/// A plugin version by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionRef {
    /// The plugin's name.
    pub name: String,
    /// The version.
    pub version: String,
    /// sha256 of its component.
    pub sha256: String,
}

/// One slot of a tenant's pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Slot {
    /// The slot's name.
    pub slot: String,
    /// The version it runs, if any.
    pub active: Option<VersionRef>,
    /// The version a rollback would return to, if any.
    pub previous: Option<VersionRef>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// Who: `operator` or `key:<id>`.
    pub actor: String,
    /// What, e.g. `pipeline.activate`.
    pub action: String,
    /// The tenant concerned, if any.
    pub tenant_id: Option<String>,
    /// Which hash, version, slot…
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<String>,
}

/// Which page to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Read items after this cursor.
    pub after: Option<String>,
    /// At most this many items (1–500; default 50).
    pub limit: Option<u32>,
}

impl PageRequest {
    /// The page size asked for, within 1–500 (default 50).
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

/// The first `limit` of `items` (read one more than a page), with the
/// cursor of the last if there are more.
pub fn page<T>(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next }
}

/// Checks an identifier used in paths: 1–64 characters of `a-z 0-9 -`,
/// starting with a letter or digit.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "{what} {id:?} must be 1-64 characters of a-z, 0-9 and '-', not starting with '-'"
        )))
    }
}

/// Checks a version string: 1–64 characters of `A-Z a-z 0-9 . _ + -`.
pub fn check_version(version: &str) -> Result<()> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "version {version:?} must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '+' and '-'"
        )))
    }
}

/// A change to a tenant: fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new UTC offset in minutes, within ±1080.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "rulehost_model::whole::option"
    )]
    #[schema(schema_with = rulehost_model::schema::optional_tz_offset)]
    pub tz_offset_minutes: Option<i32>,
    /// Disable (true) or enable (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// New limits (all fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
}

impl TenantChange {
    /// `tenant` with this change applied.
    pub fn apply(&self, tenant: &mut Tenant) {
        if let Some(name) = &self.name {
            tenant.name = name.clone();
        }
        if let Some(tz) = self.tz_offset_minutes {
            tenant.tz_offset_minutes = tz;
        }
        if let Some(disabled) = self.disabled {
            tenant.disabled = disabled;
        }
        if let Some(limits) = self.limits {
            tenant.limits = limits;
        }
    }
}

/// How a candidate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Beside the live decision, off the response path, for a report.
    Shadow,
    /// Instead of the active version, for a share of customers.
    Canary,
}

impl Role {
    /// Its name in storage, audit entries and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Shadow => "shadow",
            Role::Canary => "canary",
        }
    }
}

/// A candidate version attached to a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// The slot whose active version it runs beside.
    pub slot: String,
    /// The plugin.
    pub name: String,
    /// The candidate version.
    pub version: String,
    /// The share of customers (by a stable hash of the customer id) it
    /// runs for, more than 0 and at most 100.
    pub percent: f64,
    /// When this version was attached; changing only the share keeps it.
    pub since: Timestamp,
}

/// A delivery in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TouchRecord {
    /// Unique per tenant: recording the same id twice records it once.
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// The offer.
    pub offer_id: String,
    /// The channel.
    pub channel: String,
    /// The offer's class.
    pub class: OfferClass,
    /// When it was (or will be) delivered.
    pub at: Timestamp,
    /// The decision that selected it, if one did.
    pub decision_id: Option<String>,
}

/// What a committing decision records, in the transaction that read the
/// customer's ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Deliveries, recorded in the ledger.
    pub touches: Vec<TouchRecord>,
    /// Touches to hand to the outbox: at once, or when they are due.
    pub deliveries: Vec<Outgoing>,
    /// The customer's timers to set or clear.
    pub timers: Vec<TimerChange>,
    /// The claim of the timer the decision ran for: consumed with the rest,
    /// or nothing is recorded if the claim was lost.
    pub done: Option<String>,
    /// Its conclusions, kept with the customer's profile (if one is kept).
    pub concluded: Option<Concluded>,
}

impl Effects {
    /// Whether it records nothing.
    pub fn is_empty(&self) -> bool {
        self.touches.is_empty()
            && self.deliveries.is_empty()
            && self.timers.is_empty()
            && self.done.is_none()
            && self.concluded.is_none()
    }
}

/// The refusal of a timer consumed after its claim was lost.
pub fn claim_lost(claim: &str) -> RegistryError {
    RegistryError::Conflict(format!(
        "timer claim {claim:?} is no longer held (its lease ran out and another host took it): nothing was recorded"
    ))
}

/// A decision in the log, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DecisionSummary {
    /// The decision's id.
    pub id: String,
    /// When it was made.
    pub at: Timestamp,
    /// The customer.
    pub customer_id: String,
}

/// A decision to keep in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDecision {
    /// The tenant.
    pub tenant_id: String,
    /// The decision's id.
    pub id: String,
    /// When it was made.
    pub at: Timestamp,
    /// The customer.
    pub customer_id: String,
    /// The whole logged record, JSON.
    pub body: String,
}

/// A stored profile set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileSet {
    /// Its name within the tenant.
    pub name: String,
    /// Customers (non-blank lines) in it.
    pub customers: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// sha256 of its bytes.
    pub sha256: String,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// A profile set being written: lines go into it as they arrive, and
/// [`StagedSet::commit`] stores it under its name (replacing the set of
/// that name) in one change, or refuses it leaving the old set as it was.
pub trait StagedSet: Send {
    /// Appends one customer's line (without its newline).
    fn push(&mut self, line: &str) -> std::io::Result<()>;
    /// Bytes written so far.
    fn bytes(&self) -> u64;
    /// Customers written so far.
    fn customers(&self) -> u64;
    /// Stores the set.
    fn commit(self: Box<Self>) -> Result<ProfileSet>;
}

/// A stored set's lines; the read that reaches the end fails
/// (`InvalidData`) if the bytes are not the ones stored.
pub type SetReader = Box<dyn BufRead + Send>;

/// Tenants.
pub trait TenantStore {
    /// Creates a tenant.
    fn create_tenant(&self, actor: &str, tenant: &Tenant) -> Result<Tenant>;
    /// One tenant.
    fn tenant(&self, id: &str) -> Result<Tenant>;
    /// A page of tenants, by id.
    fn tenants(&self, page: &PageRequest) -> Result<Page<Tenant>>;
    /// Changes a tenant.
    fn update_tenant(&self, actor: &str, id: &str, change: &TenantChange) -> Result<Tenant>;
}

/// API keys (stored as the sha256 of their secret).
pub trait KeyStore {
    /// Inserts a key with a chosen id and secret; returns its record and
    /// the whole key (`rh_<id>_<secret>`).
    fn insert_key(&self, actor: &str, tenant_id: &str, label: &str, id: &str, secret: &str)
    -> Result<(ApiKey, String)>;
    /// Issues a key with a random id and secret.
    fn create_key(&self, actor: &str, tenant_id: &str, label: &str) -> Result<(ApiKey, String)> {
        let mut id = [0u8; 6];
        let mut secret = [0u8; 24];
        getrandom::fill(&mut id).map_err(|e| RegistryError::Storage(e.to_string()))?;
        getrandom::fill(&mut secret).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.insert_key(actor, tenant_id, label, &hex::encode(id), &hex::encode(secret))
    }
    /// A page of a tenant's keys by id.
    fn keys(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<ApiKey>>;
    /// Revokes a key.
    fn revoke_key(&self, actor: &str, tenant_id: &str, key_id: &str) -> Result<()>;
    /// Every key, to check callers against.
    fn key_checks(&self) -> Result<Vec<KeyCheck>>;
}

/// Plugin versions, their bytes, and pipelines.
pub trait PluginStore {
    /// Stores a version and its bytes (content-addressed); the same name,
    /// version and bytes again is a no-op (`false`), other bytes a
    /// conflict.
    fn put_version(&self, actor: &str, tenant_id: &str, version: &PluginVersion, bytes: &[u8]) -> Result<bool>;
    /// One version.
    fn version(&self, tenant_id: &str, name: &str, version: &str) -> Result<PluginVersion>;
    /// A page of versions, by name and version.
    fn versions(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<PluginVersion>>;
    /// Keeps the report of a version's check (JSON) and whether it fits,
    /// replacing an earlier one.
    fn put_check(&self, tenant_id: &str, name: &str, version: &str, fits: bool, report: &str) -> Result<()>;
    /// The report of a version's check, if it was checked.
    fn check_report(&self, tenant_id: &str, name: &str, version: &str) -> Result<Option<String>>;
    /// Deletes a version no slot runs or tries out.
    fn delete_version(&self, actor: &str, tenant_id: &str, name: &str, version: &str) -> Result<()>;
    /// A component's bytes, checked against their sha256.
    fn blob(&self, sha256: &str) -> Result<Vec<u8>>;
    /// Sets a pipeline's ordered slots; slots that stay keep their history.
    fn set_pipeline(&self, actor: &str, tenant_id: &str, slots: &[String]) -> Result<Vec<Slot>>;
    /// The pipeline.
    fn pipeline(&self, tenant_id: &str) -> Result<Vec<Slot>>;
    /// Runs a version in a slot.
    fn activate(&self, actor: &str, tenant_id: &str, slot: &str, name: &str, version: &str) -> Result<Vec<Slot>>;
    /// Returns a slot to its previous version.
    fn rollback(&self, actor: &str, tenant_id: &str, slot: &str) -> Result<Vec<Slot>>;
}

/// Candidate versions beside a slot's active version.
pub trait CandidateStore {
    /// Attaches a version to a slot as `role` for `percent` of customers,
    /// replacing that role's candidate; the same version again changes only
    /// its share.
    #[allow(
        clippy::too_many_arguments,
        reason = "who, where, which role, which version, how much"
    )]
    fn attach(
        &self,
        actor: &str,
        tenant_id: &str,
        role: Role,
        slot: &str,
        name: &str,
        version: &str,
        percent: f64,
    ) -> Result<Candidate>;
    /// A slot's candidate of a role.
    fn candidate(&self, tenant_id: &str, role: Role, slot: &str) -> Result<Option<Candidate>> {
        Ok(self.candidates(tenant_id, role)?.into_iter().find(|c| c.slot == slot))
    }
    /// Every candidate of a role.
    fn candidates(&self, tenant_id: &str, role: Role) -> Result<Vec<Candidate>>;
    /// Detaches a slot's candidate of a role.
    fn detach(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Candidate>;
    /// Makes a slot's candidate its active version (the old one the
    /// rollback) and detaches it, in one change.
    fn promote(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Vec<Slot>>;
}

/// Versioned documents (config, offer catalog, contact policy, triggers)
/// and the audit log.
pub trait DocumentStore {
    /// Replaces the config; returns its new version.
    fn put_config(&self, actor: &str, tenant_id: &str, config: &TenantConfig) -> Result<i64>;
    /// The config and its version (0 and empty if never set).
    fn config(&self, tenant_id: &str) -> Result<(i64, TenantConfig)>;
    /// Replaces the policy; returns its new version.
    fn put_policy(&self, actor: &str, tenant_id: &str, policy: &Policy) -> Result<i64>;
    /// The policy and its version (0 and the empty policy if never set).
    fn policy(&self, tenant_id: &str) -> Result<(i64, Policy)>;
    /// Replaces the offer catalog; returns its new version.
    fn put_offers(&self, actor: &str, tenant_id: &str, offers: &[Offer]) -> Result<i64>;
    /// The catalog and its version (0 and empty if never set).
    fn offers(&self, tenant_id: &str) -> Result<(i64, Vec<Offer>)>;
    /// Replaces the triggers; returns their new version.
    fn put_triggers(&self, actor: &str, tenant_id: &str, triggers: &Triggers) -> Result<i64>;
    /// The triggers and their version (0 and none if never set).
    fn triggers(&self, tenant_id: &str) -> Result<(i64, Triggers)>;
    /// The config as it was at `version` (0: empty).
    fn config_at(&self, tenant_id: &str, version: i64) -> Result<TenantConfig>;
    /// The catalog as it was at `version` (0: empty).
    fn offers_at(&self, tenant_id: &str, version: i64) -> Result<Vec<Offer>>;
    /// The policy as it was at `version` (0: the empty policy).
    fn policy_at(&self, tenant_id: &str, version: i64) -> Result<Policy>;
    /// A page of the tenant's audit log, oldest first.
    fn audit(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<AuditEntry>>;
}

/// The contact ledger: touches and offer budgets.
pub trait LedgerStore {
    /// Every offer budget's use so far.
    fn budgets_used(&self, tenant_id: &str) -> Result<HashMap<String, u64>>;
    /// Records deliveries; a touch id seen before is a duplicate and
    /// changes nothing. Returns (recorded, duplicates).
    fn record_touches(&self, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)>;
    /// Reads the ledger of the customer `customer_id` stands for (an id
    /// linked to another stands for that one) since `since` and the budgets
    /// used of `budgets`, runs `decide` on it and, if `commit`, records what
    /// it returns — one transaction, serialised per customer, so two
    /// committing decisions for one customer never both see room under a
    /// cap.
    #[allow(
        clippy::too_many_arguments,
        reason = "whose ledger, how far back, which budgets, and what to do"
    )]
    fn with_ledger(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: Timestamp,
        budgets: &[String],
        commit: bool,
        decide: &mut dyn FnMut(&Ledger) -> Effects,
    ) -> Result<()>;
}

/// The decision log.
pub trait DecisionLogStore {
    /// Appends decisions, in one transaction.
    fn log_decisions(&self, entries: &[LoggedDecision]) -> Result<()>;
    /// One logged decision, as logged: the JSON text stored, byte for byte
    /// (a replay reads the request's bytes exactly as they arrived).
    fn logged_decision(&self, tenant_id: &str, id: &str) -> Result<String>;
    /// A page of logged decisions, newest first, optionally of one customer.
    fn logged_decisions(
        &self,
        tenant_id: &str,
        customer_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<DecisionSummary>>;
    /// Drops touches before `touches_before`, decisions before
    /// `decisions_before` and the oldest past `max_decisions`; returns
    /// (touches, decisions) removed.
    fn compact(
        &self,
        tenant_id: &str,
        touches_before: Timestamp,
        decisions_before: Timestamp,
        max_decisions: u64,
    ) -> Result<(usize, usize)>;
}

/// Stored profile sets.
pub trait ProfileSetStore {
    /// Starts writing a set `name` for the tenant (checking both first); at
    /// most `max_sets` per tenant when it is committed.
    fn stage_profile_set(&self, actor: &str, tenant_id: &str, name: &str, max_sets: u64) -> Result<Box<dyn StagedSet>>;
    /// The tenant's sets, by name.
    fn profile_sets(&self, tenant_id: &str) -> Result<Vec<ProfileSet>>;
    /// A set and a reader of its lines.
    fn open_profile_set(&self, tenant_id: &str, name: &str) -> Result<(ProfileSet, SetReader)>;
    /// Deletes a set.
    fn delete_profile_set(&self, actor: &str, tenant_id: &str, name: &str) -> Result<()>;
}

/// A change another host committed, as a shared store announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The tenant changed; its change counter is now `counter`.
    Changed {
        /// The tenant.
        tenant: String,
        /// Its change counter after the change.
        counter: i64,
    },
    /// The announcements were interrupted (a lost connection) and have
    /// resumed: some may have been missed, so everything should be checked
    /// against the counters.
    Resumed,
}

/// Something held exclusively across the fleet while it lives.
pub trait Held: Send {}

/// What a store shared by several hosts adds: announcements of changes,
/// change counters to catch up against, leases and exclusive holds for
/// work that must run once, and counts every host contributes to. A store
/// only one host uses (the embedded one) has nothing to announce, grants
/// every lease and hold, and keeps no shared counts.
pub trait FleetStore {
    /// Whether several hosts may share the store.
    fn shared(&self) -> bool {
        false
    }
    /// Every tenant's change counter (empty for an unshared store).
    fn change_counters(&self) -> Result<HashMap<String, i64>> {
        Ok(HashMap::new())
    }
    /// Announcements of what other hosts change (`None` for an unshared
    /// store). Each call starts a listener of its own.
    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Notice>> {
        None
    }
    /// Takes the lease `name` for `ttl` for `holder` unless another holder
    /// has it and it has not run out; whether it was taken.
    fn take_lease(&self, _name: &str, _holder: &str, _ttl: std::time::Duration) -> Result<bool> {
        Ok(true)
    }
    /// Holds `name` exclusively while the returned guard lives, if no other
    /// host holds it (a host that dies lets go).
    fn hold(&self, _name: &str) -> Result<Option<Box<dyn Held>>> {
        struct Local;
        impl Held for Local {}
        Ok(Some(Box::new(Local)))
    }
    /// Publishes `host`'s counts (`body`, JSON) of the counted thing `key`.
    fn put_counts(&self, _key: &str, _host: &str, _body: &str) -> Result<()> {
        Ok(())
    }
    /// Every host's counts of `key` but `host`'s own: (host, body).
    fn counts(&self, _key: &str, _host: &str) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

/// Everything a store keeps.
pub trait Store:
    TenantStore
    + KeyStore
    + PluginStore
    + CandidateStore
    + DocumentStore
    + LedgerStore
    + DecisionLogStore
    + ProfileSetStore
    + ProfileStore
    + TimerStore
    + OutboxStore
    + FleetStore
    + Send
    + Sync
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: TenantStore
        + KeyStore
        + PluginStore
        + CandidateStore
        + DocumentStore
        + LedgerStore
        + DecisionLogStore
        + ProfileSetStore
        + ProfileStore
        + TimerStore
        + OutboxStore
        + FleetStore
        + Send
        + Sync
        + std::fmt::Debug
{
}

/// Opens the store a server's settings name: PostgreSQL at `database_url`
/// if one is given (with at most `connections` pooled connections), else
/// the embedded store under `data_dir`.
pub fn open(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
    connections: usize,
) -> Result<std::sync::Arc<dyn Store>> {
    Ok(match database_url {
        Some(url) => std::sync::Arc::new(postgres::PgStore::connect(url, connections)?),
        None => std::sync::Arc::new(sqlite::SqliteStore::open(data_dir)?),
    })
}

impl dyn Store {
    /// [`LedgerStore::with_ledger`] for a `decide` that also answers
    /// something.
    pub fn with_ledger_answer<T>(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: Timestamp,
        budgets: &[String],
        commit: bool,
        decide: impl FnOnce(&Ledger) -> (T, Effects),
    ) -> Result<T> {
        let mut decide = Some(decide);
        let mut answer = None;
        self.with_ledger(tenant_id, customer_id, since, budgets, commit, &mut |ledger| {
            let Some(decide) = decide.take() else {
                return Effects::default();
            };
            let (value, effects) = decide(ledger);
            answer = Some(value);
            effects
        })?;
        answer.ok_or_else(|| RegistryError::Storage("the ledger was never read".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_versions_are_checked() {
        assert!(check_id("tenant id", "coffee-chain-2").is_ok());
        for bad in ["", "Coffee", "-x", "a b", &"x".repeat(65)] {
            assert!(check_id("tenant id", bad).is_err(), "{bad:?}");
        }
        assert!(check_version("1.2.0-rc.1+build5").is_ok());
        assert!(check_version("1 2").is_err());
    }
}
