//! The embedded store: SQLite in WAL mode with `synchronous=FULL` under a
//! data directory, plugin bytes and profile sets in content-addressed files
//! beside it. Every change is one transaction that also appends its audit
//! entry, so a crash at any point leaves the previous state, and anything
//! acknowledged is on disk. One connection, behind a lock: changes are
//! serialised, which is also what keeps a customer's committing decisions
//! one after the other.

mod blobs;
mod candidates;
mod documents;
mod ledger;
mod plugins;
mod profile_sets;
mod profiles;
mod schema;
mod timers;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rulehost_model::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    ApiKey, KeyCheck, KeyStore, Page, PageRequest, RegistryError, Result, Tenant, TenantChange, TenantLimits,
    TenantStore, check_id, page,
};
use blobs::Blobs;

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Storage(e.to_string())
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

/// A store in a temporary directory with one tenant, `t`: for tests.
#[cfg(test)]
pub(crate) fn with_tenant_t() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let registry = SqliteStore::open(dir.path()).unwrap();
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

/// The embedded store; cheap to clone (its parts are shared).
#[derive(Clone)]
pub struct SqliteStore(Arc<Shared>);

/// What every clone of a store shares.
pub struct Shared {
    /// Every write, and reads that must see a write's lock.
    conn: Mutex<Connection>,
    /// Idle read-only connections (see [`Shared::reader`]).
    readers: Mutex<Vec<Connection>>,
    blobs: Blobs,
    dir: PathBuf,
}

/// Read-only connections kept idle at most.
const IDLE_READERS: usize = 8;

/// A read-only connection taken from the store's idle ones; it goes back
/// when dropped.
struct Reader<'a> {
    conn: Option<Connection>,
    idle: &'a Mutex<Vec<Connection>>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a reader holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

impl std::ops::Deref for SqliteStore {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("dir", &self.dir).finish()
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

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join("registry.sqlite3"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        let store = Self(Arc::new(Shared {
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            blobs: Blobs::open(dir.join("blobs"))?,
            dir: dir.to_owned(),
        }));
        store.sweep_profile_sets()?;
        Ok(store)
    }
}

/// One host uses it: the defaults of [`FleetStore`] are what it does.
impl crate::FleetStore for SqliteStore {}

impl Shared {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half
        // applied (it rolls back on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read-only connection of its own: in WAL mode it reads the last
    /// committed state while a write (a batch of the decision log, an
    /// intake) holds the writing connection, so a read on the decision
    /// path never waits behind one.
    fn reader(&self) -> Result<Reader<'_>> {
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    self.dir.join("registry.sqlite3"),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        Ok(Reader {
            conn: Some(conn),
            idle: &self.readers,
        })
    }
}

impl TenantStore for SqliteStore {
    // ---- tenants -------------------------------------------------------

    /// Creates a tenant.
    fn create_tenant(&self, actor: &str, tenant: &Tenant) -> Result<Tenant> {
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
    fn tenant(&self, id: &str) -> Result<Tenant> {
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
    fn tenants(&self, page_request: &PageRequest) -> Result<Page<Tenant>> {
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
    fn update_tenant(&self, actor: &str, id: &str, change: &TenantChange) -> Result<Tenant> {
        let mut tenant = self.tenant(id)?;
        change.apply(&mut tenant);
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
}

impl KeyStore for SqliteStore {
    fn insert_key(
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
    fn keys(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<ApiKey>> {
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
    fn revoke_key(&self, actor: &str, tenant_id: &str, key_id: &str) -> Result<()> {
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
    fn key_checks(&self) -> Result<Vec<KeyCheck>> {
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
