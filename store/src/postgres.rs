//! The fleet's store: PostgreSQL, shared by every host.
//!
//! Everything the embedded store keeps lives in the database, plugin bytes
//! and profile sets included (verified against their sha256 on every read,
//! as on disk), so any host can serve any tenant. Every change to a tenant
//! is one transaction that locks the tenant's row first (changes to one
//! tenant are serialised across the fleet), appends its audit entry,
//! counts itself in the tenant's change counter and announces the tenant
//! on the `rulehost_changes` channel (`pg_notify`, delivered at commit):
//! every host rebuilds that tenant from what is committed, and hosts that
//! missed a notice catch up against the counters ([`Changes`]).
//!
//! The store's interface blocks; queries run on a small runtime of the
//! store's own, over a pool of connections.

mod documents;
mod fleet;
mod ledger;
mod plugins;
mod profile_sets;
mod profiles;
mod schema;
mod timers;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Transaction};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rulehost_model::Timestamp;
use sha2::{Digest, Sha256};
use tokio_postgres::{NoTls, Row};

use crate::{
    ApiKey, KeyCheck, KeyStore, Page, PageRequest, RegistryError, Result, Tenant, TenantChange, TenantStore, check_id,
    page,
};

/// The channel every change is announced on (its payload: the tenant's
/// change counter after the change, a space, the tenant).
pub const CHANNEL: &str = "rulehost_changes";

impl From<tokio_postgres::Error> for RegistryError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => RegistryError::Storage(format!("{}: {}", db.code().code(), db.message())),
            None => RegistryError::Storage(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for RegistryError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        RegistryError::Storage(format!("no database connection: {e}"))
    }
}

/// The store on PostgreSQL; cheap to clone (its parts are shared).
#[derive(Clone)]
pub struct PgStore(Arc<Shared>);

/// What every clone of a store shares.
pub struct Shared {
    pool: Pool,
    /// Runs the queries; taken (and shut down without blocking) on drop.
    runtime: Option<tokio::runtime::Runtime>,
    /// Where it connects, without the password (for messages).
    target: String,
    config: tokio_postgres::Config,
}

impl std::ops::Deref for PgStore {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("target", &self.target).finish()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `host:port/db`, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`), with
    /// at most `connections` pooled connections, and migrates the schema.
    pub fn connect(url: &str, connections: usize) -> Result<Self> {
        let config =
            tokio_postgres::Config::from_str(url).map_err(|e| RegistryError::Invalid(format!("database_url: {e}")))?;
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rulehost-db")
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Storage(format!("starting the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // The most recently used connection first: a few warm connections
        // do most of the work, so the buffers a connection grows (a batch
        // of the decision log is a message of megabytes) are grown on few.
        let pool = Pool::builder(manager)
            .max_size(connections.max(2))
            .queue_mode(deadpool_postgres::QueueMode::Lifo)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| RegistryError::Storage(format!("the database pool: {e}")))?;
        let store = Self(Arc::new(Shared {
            pool,
            runtime: Some(runtime),
            target,
            config,
        }));
        store
            .run(async {
                let mut client = store.pool.get().await?;
                schema::migrate(&mut client).await
            })
            .map_err(|e| RegistryError::Storage(format!("{}: {e}", store.target)))?;
        let swept = store.sweep_uploads()?;
        if swept > 0 {
            tracing::info!(
                chunks = swept,
                "removed chunks of profile set uploads that were never stored"
            );
        }
        Ok(store)
    }
}

impl Shared {
    /// Runs a query future to its end on the store's runtime.
    fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(work),
            None => Err(RegistryError::Storage("the store is shutting down".into())),
        }
    }

    /// Where the store connects (no password), for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The connection settings, for a listener of its own.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

pub(crate) fn now() -> i64 {
    Timestamp::now().0
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp(ms)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| RegistryError::Storage(e.to_string()))
}

pub(crate) fn from_json<T: for<'de> serde::Deserialize<'de>>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| RegistryError::Storage(format!("corrupt stored JSON: {e}")))
}

/// Starts a change to `tenant_id`: locks its row (changes to one tenant
/// are serialised across the fleet) or says it does not exist.
pub(crate) async fn lock_tenant(tx: &Transaction<'_>, tenant_id: &str) -> Result<Tenant> {
    let row = tx
        .query_opt(
            &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE"),
            &[&tenant_id],
        )
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("no tenant {tenant_id:?}")))?;
    tenant_row(&row)
}

/// Ends a change to `tenant_id`: appends its audit entry, counts it and
/// announces it to every host (at commit).
pub(crate) async fn changed(
    tx: &Transaction<'_>,
    tenant_id: &str,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (tenant_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&tenant_id, &now(), &actor, &action, &detail.to_string()],
    )
    .await?;
    let counter: i64 = tx
        .query_one(
            "UPDATE tenants SET changes = changes + 1 WHERE id = $1 RETURNING changes",
            &[&tenant_id],
        )
        .await?
        .get(0);
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &format!("{counter} {tenant_id}")],
    )
    .await?;
    Ok(())
}

const TENANT_COLUMNS: &str = "id, name, tz_offset_minutes, disabled, limits, created_at";

fn tenant_row(row: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: row.get(0),
        name: row.get(1),
        tz_offset_minutes: row.get(2),
        disabled: row.get(3),
        limits: from_json(row.get::<_, &str>(4))?,
        created_at: ts(row.get(5)),
    })
}

/// One tenant, read with any client.
pub(crate) async fn read_tenant(client: &impl GenericClient, id: &str) -> Result<Tenant> {
    let row = client
        .query_opt(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"), &[&id])
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("no tenant {id:?}")))?;
    tenant_row(&row)
}

impl TenantStore for PgStore {
    fn create_tenant(&self, actor: &str, tenant: &Tenant) -> Result<Tenant> {
        check_id("tenant id", &tenant.id)?;
        let created = Tenant {
            created_at: Timestamp::now(),
            ..tenant.clone()
        };
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO tenants (id, name, tz_offset_minutes, disabled, limits, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                    &[
                        &created.id,
                        &created.name,
                        &created.tz_offset_minutes,
                        &created.disabled,
                        &to_json(&created.limits)?,
                        &created.created_at.0,
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(RegistryError::Conflict(format!(
                    "tenant {:?} already exists",
                    created.id
                )));
            }
            changed(
                &tx,
                &created.id,
                actor,
                "tenant.create",
                serde_json::to_value(&created).unwrap_or_default(),
            )
            .await?;
            tx.commit().await?;
            Ok(created)
        })
    }

    fn tenant(&self, id: &str) -> Result<Tenant> {
        self.run(async { read_tenant(&self.pool.get().await?, id).await })
    }

    fn tenants(&self, page_request: &PageRequest) -> Result<Page<Tenant>> {
        let limit = page_request.limit();
        self.run(async {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"),
                    &[&page_request.after.as_deref().unwrap_or(""), &(limit as i64 + 1)],
                )
                .await?;
            let tenants = rows.iter().map(tenant_row).collect::<Result<Vec<_>>>()?;
            Ok(page(tenants, limit, |t| t.id.clone()))
        })
    }

    fn update_tenant(&self, actor: &str, id: &str, change: &TenantChange) -> Result<Tenant> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let mut tenant = lock_tenant(&tx, id).await?;
            change.apply(&mut tenant);
            tx.execute(
                "UPDATE tenants SET name = $2, tz_offset_minutes = $3, disabled = $4, limits = $5 WHERE id = $1",
                &[
                    &id,
                    &tenant.name,
                    &tenant.tz_offset_minutes,
                    &tenant.disabled,
                    &to_json(&tenant.limits)?,
                ],
            )
            .await?;
            changed(
                &tx,
                id,
                actor,
                "tenant.update",
                serde_json::to_value(change).unwrap_or_default(),
            )
            .await?;
            tx.commit().await?;
            Ok(tenant)
        })
    }
}

impl KeyStore for PgStore {
    fn insert_key(
        &self,
        actor: &str,
        tenant_id: &str,
        label: &str,
        id: &str,
        secret: &str,
    ) -> Result<(ApiKey, String)> {
        let key = ApiKey {
            id: id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            label: label.to_owned(),
            created_at: Timestamp::now(),
            revoked_at: None,
        };
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let inserted = tx
                .execute(
                    "INSERT INTO api_keys (id, tenant_id, label, secret_sha256, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[&key.id, &key.tenant_id, &key.label, &&hash[..], &key.created_at.0],
                )
                .await?;
            if inserted == 0 {
                return Err(RegistryError::Conflict(format!("key id {id:?} is taken")));
            }
            changed(
                &tx,
                tenant_id,
                actor,
                "key.create",
                serde_json::json!({"key_id": key.id, "label": label}),
            )
            .await?;
            tx.commit().await?;
            Ok((key.clone(), format!("rh_{id}_{secret}")))
        })
    }

    fn keys(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<ApiKey>> {
        let limit = page_request.limit();
        self.run(async {
            let client = self.pool.get().await?;
            read_tenant(&client, tenant_id).await?;
            let rows = client
                .query(
                    "SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys
                     WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    &[
                        &tenant_id,
                        &page_request.after.as_deref().unwrap_or(""),
                        &(limit as i64 + 1),
                    ],
                )
                .await?;
            let keys = rows
                .iter()
                .map(|r| ApiKey {
                    id: r.get(0),
                    tenant_id: r.get(1),
                    label: r.get(2),
                    created_at: ts(r.get(3)),
                    revoked_at: r.get::<_, Option<i64>>(4).map(ts),
                })
                .collect();
            Ok(page(keys, limit, |k| k.id.clone()))
        })
    }

    fn revoke_key(&self, actor: &str, tenant_id: &str, key_id: &str) -> Result<()> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let revoked = tx
                .execute(
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",
                    &[&tenant_id, &key_id, &now()],
                )
                .await?;
            if revoked == 0 {
                return Err(RegistryError::NotFound(format!("no key {key_id:?}")));
            }
            changed(
                &tx,
                tenant_id,
                actor,
                "key.revoke",
                serde_json::json!({"key_id": key_id}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn key_checks(&self) -> Result<Vec<KeyCheck>> {
        self.run(async {
            let client = self.pool.get().await?;
            let rows = client
                .query("SELECT id, tenant_id, secret_sha256, revoked_at FROM api_keys", &[])
                .await?;
            Ok(rows
                .iter()
                .map(|r| KeyCheck {
                    id: r.get(0),
                    tenant_id: r.get(1),
                    secret_sha256: r.get::<_, Vec<u8>>(2).try_into().unwrap_or([0; 32]),
                    revoked: r.get::<_, Option<i64>>(3).is_some(),
                })
                .collect())
        })
    }
}
