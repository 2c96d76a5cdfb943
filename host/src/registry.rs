//! The only module that talks to storage: tenants, API keys, plugin
//! versions, pipelines, config, offer catalogs and the audit log.
//!
//! The embedded default is SQLite in WAL mode with `synchronous=FULL` under
//! the data directory, plugin bytes in a content-addressed blob directory
//! beside it. Every change is one transaction that also appends its audit
//! entry, so a crash at any point leaves the previous state, and anything
//! acknowledged is on disk. Methods are blocking; the server calls them
//! from its blocking pool.

mod blobs;
mod candidates;
mod documents;
mod ledger;
mod plugins;
mod profile_sets;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::engine::Limits;
use crate::model::Timestamp;
use blobs::Blobs;
pub use candidates::{Candidate, Role};
pub use ledger::{DecisionSummary, LoggedDecision, TouchRecord};
pub use profile_sets::{ProfileSet, SetReader, StagedSet};

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

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for RegistryError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::InvalidData => RegistryError::Corrupt(e.to_string()),
            _ => RegistryError::Storage(e.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// A tenant's resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// The largest plugin the tenant may upload, in bytes.
    #[serde(deserialize_with = "crate::model::whole::number")]
    pub max_plugin_bytes: u64,
    /// Memory of one decision's plugin instances together, in bytes.
    #[serde(deserialize_with = "crate::model::whole::number")]
    pub memory_bytes: u64,
    /// Deadline of one decision, in milliseconds of CPU time.
    #[serde(deserialize_with = "crate::model::whole::number")]
    pub deadline_ms: u64,
    /// Fuel (instruction budget) of one decision.
    #[serde(deserialize_with = "crate::model::whole::number")]
    pub fuel: u64,
    /// Decisions running at once; past this, requests get 429.
    #[serde(deserialize_with = "crate::model::whole::number")]
    pub max_concurrent_decisions: u32,
}

impl Default for TenantLimits {
    fn default() -> Self {
        let decision = Limits::default();
        Self {
            max_plugin_bytes: 4 << 20,
            memory_bytes: decision.memory_bytes,
            deadline_ms: decision.deadline_ms,
            fuel: decision.fuel,
            max_concurrent_decisions: 8,
        }
    }
}

impl TenantLimits {
    /// The per-decision part.
    pub fn decision(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes,
            deadline_ms: self.deadline_ms,
            fuel: self.fuel,
        }
    }

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
    fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

fn page<T>(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> String) -> Page<T> {
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

fn now() -> i64 {
    Timestamp::now().0
}

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| RegistryError::Storage(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| RegistryError::Storage(format!("corrupt stored JSON: {e}")))
}

/// Appends an audit entry inside the change's transaction.
fn audit(
    tx: &Transaction<'_>,
    tenant: Option<&str>,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (tenant_id, at, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, now(), actor, action, detail.to_string()],
    )?;
    Ok(())
}

/// A registry in a temporary directory with one tenant, `t`: for tests.
#[cfg(test)]
pub(crate) fn with_tenant_t() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    let tenant = Tenant {
        id: "t".into(),
        name: "t".into(),
        tz_offset_minutes: 0,
        disabled: false,
        limits: TenantLimits::default(),
        created_at: Timestamp(0),
    };
    registry.create_tenant("operator", &tenant).unwrap();
    (dir, registry)
}

/// The registry.
pub struct Registry {
    conn: Mutex<Connection>,
    blobs: Blobs,
    dir: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("dir", &self.dir).finish()
    }
}

fn tenant_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Tenant, String)> {
    Ok((
        Tenant {
            id: row.get(0)?,
            name: row.get(1)?,
            tz_offset_minutes: row.get(2)?,
            disabled: row.get::<_, i64>(3)? != 0,
            limits: TenantLimits::default(),
            created_at: ts(row.get(5)?),
        },
        row.get(4)?,
    ))
}

const TENANT_COLUMNS: &str = "id, name, tz_offset_minutes, disabled, limits, created_at";

impl Registry {
    /// Opens (creating if needed) the registry in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join("registry.sqlite3"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        let registry = Self {
            conn: Mutex::new(conn),
            blobs: Blobs::open(dir.join("blobs"))?,
            dir: dir.to_owned(),
        };
        registry.sweep_profile_sets()?;
        Ok(registry)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half
        // applied (it rolls back on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- tenants -------------------------------------------------------

    /// Creates a tenant.
    pub fn create_tenant(&self, actor: &str, tenant: &Tenant) -> Result<Tenant> {
        check_id("tenant id", &tenant.id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: Option<String> = tx
            .query_row("SELECT id FROM tenants WHERE id = ?1", [&tenant.id], |r| r.get(0))
            .optional()?;
        if exists.is_some() {
            return Err(RegistryError::Conflict(format!(
                "tenant {:?} already exists",
                tenant.id
            )));
        }
        let created = Tenant {
            created_at: Timestamp::now(),
            ..tenant.clone()
        };
        tx.execute(
            "INSERT INTO tenants (id, name, tz_offset_minutes, disabled, limits, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                created.id,
                created.name,
                created.tz_offset_minutes,
                created.disabled as i64,
                to_json(&created.limits)?,
                created.created_at.0
            ],
        )?;
        audit(
            &tx,
            Some(&created.id),
            actor,
            "tenant.create",
            serde_json::to_value(&created).unwrap_or_default(),
        )?;
        tx.commit()?;
        Ok(created)
    }

    /// One tenant.
    pub fn tenant(&self, id: &str) -> Result<Tenant> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
                [id],
                tenant_row,
            )
            .optional()?;
        let (mut tenant, limits) = row.ok_or_else(|| RegistryError::NotFound(format!("no tenant {id:?}")))?;
        tenant.limits = from_json(&limits)?;
        Ok(tenant)
    }

    /// A page of tenants by id.
    pub fn tenants(&self, page_request: &PageRequest) -> Result<Page<Tenant>> {
        let limit = page_request.limit();
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![page_request.after.as_deref().unwrap_or(""), limit as i64 + 1],
            tenant_row,
        )?;
        let mut tenants = Vec::new();
        for row in rows {
            let (mut tenant, limits) = row?;
            tenant.limits = from_json(&limits)?;
            tenants.push(tenant);
        }
        Ok(page(tenants, limit, |t| t.id.clone()))
    }

    /// Changes a tenant's name, time zone, disabled flag or limits.
    pub fn update_tenant(&self, actor: &str, id: &str, change: &TenantChange) -> Result<Tenant> {
        let mut tenant = self.tenant(id)?;
        if let Some(name) = &change.name {
            tenant.name = name.clone();
        }
        if let Some(tz) = change.tz_offset_minutes {
            tenant.tz_offset_minutes = tz;
        }
        if let Some(disabled) = change.disabled {
            tenant.disabled = disabled;
        }
        if let Some(limits) = change.limits {
            tenant.limits = limits;
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE tenants SET name = ?2, tz_offset_minutes = ?3, disabled = ?4, limits = ?5 WHERE id = ?1",
            params![
                id,
                tenant.name,
                tenant.tz_offset_minutes,
                tenant.disabled as i64,
                to_json(&tenant.limits)?
            ],
        )?;
        audit(
            &tx,
            Some(id),
            actor,
            "tenant.update",
            serde_json::to_value(change).unwrap_or_default(),
        )?;
        tx.commit()?;
        Ok(tenant)
    }

    // ---- keys ----------------------------------------------------------

    /// Issues a key for a tenant; returns the record and the full key,
    /// `rh_<id>_<secret>`, which is not stored and cannot be shown again.
    pub fn create_key(&self, actor: &str, tenant_id: &str, label: &str) -> Result<(ApiKey, String)> {
        let mut id = [0u8; 6];
        let mut secret = [0u8; 24];
        getrandom::fill(&mut id).map_err(|e| RegistryError::Storage(e.to_string()))?;
        getrandom::fill(&mut secret).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.insert_key(actor, tenant_id, label, &hex::encode(id), &hex::encode(secret))
    }

    /// Inserts a key with a chosen id and secret (the demo's documented
    /// keys); ordinary keys come from [`Registry::create_key`].
    pub fn insert_key(
        &self,
        actor: &str,
        tenant_id: &str,
        label: &str,
        id: &str,
        secret: &str,
    ) -> Result<(ApiKey, String)> {
        self.tenant(tenant_id)?;
        let key = ApiKey {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            label: label.to_owned(),
            created_at: Timestamp::now(),
            revoked_at: None,
        };
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (id, tenant_id, label, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.id, key.tenant_id, key.label, &hash[..], key.created_at.0],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                RegistryError::Conflict(format!("key id {id:?} is taken"))
            }
            other => other.into(),
        })?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "key.create",
            serde_json::json!({"key_id": key.id, "label": label}),
        )?;
        tx.commit()?;
        Ok((key, format!("rh_{id}_{secret}")))
    }

    /// A page of a tenant's keys by id.
    pub fn keys(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<ApiKey>> {
        self.tenant(tenant_id)?;
        let limit = page_request.limit();
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys
             WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let keys = stmt
            .query_map(
                params![tenant_id, page_request.after.as_deref().unwrap_or(""), limit as i64 + 1],
                |r| {
                    Ok(ApiKey {
                        id: r.get(0)?,
                        tenant_id: r.get(1)?,
                        label: r.get(2)?,
                        created_at: ts(r.get(3)?),
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(ts),
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(page(keys, limit, |k| k.id.clone()))
    }

    /// Revokes a key; revoking twice is harmless.
    pub fn revoke_key(&self, actor: &str, tenant_id: &str, key_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
            params![tenant_id, key_id, now()],
        )?;
        if changed == 0 {
            return Err(RegistryError::NotFound(format!("no key {key_id:?}")));
        }
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "key.revoke",
            serde_json::json!({"key_id": key_id}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every key, for the in-memory check.
    pub fn key_checks(&self) -> Result<Vec<KeyCheck>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, tenant_id, secret_sha256, revoked_at FROM api_keys")?;
        let rows = stmt.query_map([], |r| {
            let hash: Vec<u8> = r.get(2)?;
            Ok(KeyCheck {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                secret_sha256: hash.try_into().unwrap_or([0; 32]),
                revoked: r.get::<_, Option<i64>>(3)?.is_some(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
        deserialize_with = "crate::model::whole::option"
    )]
    #[schema(schema_with = crate::model::schema::optional_tz_offset)]
    pub tz_offset_minutes: Option<i32>,
    /// Disable (true) or enable (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// New limits (all fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TenantConfig;

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path()).unwrap();
        (dir, registry)
    }

    fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.into(),
            name: id.into(),
            tz_offset_minutes: 480,
            disabled: false,
            limits: TenantLimits::default(),
            created_at: Timestamp(0),
        }
    }

    fn version(name: &str, version: &str, sha: &str) -> PluginVersion {
        PluginVersion {
            name: name.into(),
            version: version.into(),
            sha256: sha.into(),
            size: 3,
            contract: "0.1.0".into(),
            sdk: None,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("tenant id", "coffee-chain-2").is_ok());
        for bad in ["", "Coffee", "-x", "a b", &"x".repeat(65)] {
            assert!(check_id("tenant id", bad).is_err(), "{bad:?}");
        }
        assert!(check_version("1.2.0-rc.1+build5").is_ok());
        assert!(check_version("1 2").is_err());
    }

    #[test]
    fn activation_and_rollback_keep_a_history() {
        let (_dir, r) = registry();
        r.create_tenant("operator", &tenant("t")).unwrap();
        for (v, sha) in [("1", "aa"), ("2", "bb"), ("3", "cc")] {
            assert!(r.put_version("operator", "t", &version("p", v, sha), b"abc").unwrap());
        }
        r.set_pipeline("operator", "t", &["main".into()]).unwrap();
        r.activate("operator", "t", "main", "p", "1").unwrap();
        r.activate("operator", "t", "main", "p", "2").unwrap();
        let slots = r.activate("operator", "t", "main", "p", "3").unwrap();
        assert_eq!(slots[0].active.as_ref().unwrap().version, "3");
        assert_eq!(slots[0].previous.as_ref().unwrap().version, "2");
        let slots = r.rollback("operator", "t", "main").unwrap();
        assert_eq!(slots[0].active.as_ref().unwrap().version, "2");
        let slots = r.rollback("operator", "t", "main").unwrap();
        assert_eq!(slots[0].active.as_ref().unwrap().version, "1");
        assert!(matches!(
            r.rollback("operator", "t", "main"),
            Err(RegistryError::Conflict(_))
        ));
    }

    #[test]
    fn versions_are_immutable_and_active_ones_cannot_be_deleted() {
        let (_dir, r) = registry();
        r.create_tenant("operator", &tenant("t")).unwrap();
        assert!(
            r.put_version("operator", "t", &version("p", "1", "aa"), b"abc")
                .unwrap()
        );
        assert!(
            !r.put_version("operator", "t", &version("p", "1", "aa"), b"abc")
                .unwrap()
        );
        assert!(matches!(
            r.put_version("operator", "t", &version("p", "1", "bb"), b"xyz"),
            Err(RegistryError::Conflict(_))
        ));
        r.set_pipeline("operator", "t", &["main".into()]).unwrap();
        r.activate("operator", "t", "main", "p", "1").unwrap();
        assert!(matches!(
            r.delete_version("operator", "t", "p", "1"),
            Err(RegistryError::Conflict(_))
        ));
    }

    #[test]
    fn deleted_versions_leave_the_rollback_history() {
        let (_dir, r) = registry();
        r.create_tenant("operator", &tenant("t")).unwrap();
        r.put_version("operator", "t", &version("p", "1", "aa"), b"a").unwrap();
        r.put_version("operator", "t", &version("p", "2", "bb"), b"b").unwrap();
        r.set_pipeline("operator", "t", &["main".into()]).unwrap();
        r.activate("operator", "t", "main", "p", "1").unwrap();
        r.activate("operator", "t", "main", "p", "2").unwrap();
        r.delete_version("operator", "t", "p", "1").unwrap();
        let slots = r.pipeline("t").unwrap();
        assert_eq!(slots[0].previous, None);
    }

    #[test]
    fn lists_are_paginated() {
        let (_dir, r) = registry();
        for id in ["a", "b", "c", "d", "e"] {
            r.create_tenant("operator", &tenant(id)).unwrap();
        }
        let first = r
            .tenants(&PageRequest {
                after: None,
                limit: Some(2),
            })
            .unwrap();
        assert_eq!(
            first.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let second = r
            .tenants(&PageRequest {
                after: first.next,
                limit: Some(2),
            })
            .unwrap();
        assert_eq!(
            second.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        let third = r
            .tenants(&PageRequest {
                after: second.next,
                limit: Some(2),
            })
            .unwrap();
        assert_eq!(third.items.len(), 1);
        assert_eq!(third.next, None);
    }

    #[test]
    fn every_change_is_audited_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let r = Registry::open(dir.path()).unwrap();
            r.create_tenant("operator", &tenant("t")).unwrap();
            r.put_config("key:k1", "t", &TenantConfig([("a".to_owned(), "1".to_owned())].into()))
                .unwrap();
            r.put_offers("key:k1", "t", &[]).unwrap();
        }
        let r = Registry::open(dir.path()).unwrap();
        assert_eq!(r.config("t").unwrap().0, 1);
        let actions: Vec<_> = r
            .audit("t", &PageRequest::default())
            .unwrap()
            .items
            .into_iter()
            .map(|e| (e.actor, e.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("operator".to_owned(), "tenant.create".to_owned()),
                ("key:k1".to_owned(), "config.replace".to_owned()),
                ("key:k1".to_owned(), "offers.replace".to_owned()),
            ]
        );
    }
}
