//! Tenants, their keys and who a bearer token belongs to.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::documents::check_tz;
use super::{Caller, Live, Result, read, write};
use crate::registry::{ApiKey, Page, PageRequest, Tenant, TenantChange, TenantLimits};

impl Live {
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

    /// Reloads every key check. One reload at a time: the periodic
    /// catch-up's reload, reading before a new key was stored, would
    /// otherwise replace the set a key's own reload had just put in, and the
    /// new key would be refused until the next catch-up.
    pub(super) async fn refresh_keys(&self) -> Result<()> {
        let _one_at_a_time = self.keys_reload.lock().await;
        let keys = self.blocking(|r| r.key_checks()).await?;
        *write(&self.keys) = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        Ok(())
    }
}
