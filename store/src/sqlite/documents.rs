//! Versioned tenant documents (config, offer catalog, contact policy,
//! triggers) and the audit log.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use rulehost_model::policy::Policy;
use rulehost_model::triggers::Triggers;
use rulehost_model::{Offer, TenantConfig};

use super::{SqliteStore, audit, from_json, now, to_json, ts};
use crate::{AuditEntry, DocumentStore, Page, PageRequest, RegistryError, Result, TenantStore, page};

impl DocumentStore for SqliteStore {
    // ---- config and offers -------------------------------------------------

    /// Replaces the tenant's config; returns its new version.
    fn put_config(&self, actor: &str, tenant_id: &str, config: &TenantConfig) -> Result<i64> {
        self.put_document(actor, tenant_id, "tenant_config", "config.replace", &to_json(config)?)
    }

    /// The tenant's config and its version (0 and empty if never set).
    fn config(&self, tenant_id: &str) -> Result<(i64, TenantConfig)> {
        match self.document(tenant_id, "tenant_config")? {
            Some((version, body)) => Ok((version, from_json(&body)?)),
            None => Ok((0, TenantConfig::default())),
        }
    }

    /// Replaces the tenant's contact policy; returns its new version.
    fn put_policy(&self, actor: &str, tenant_id: &str, policy: &Policy) -> Result<i64> {
        self.put_document(actor, tenant_id, "policies", "policy.replace", &to_json(policy)?)
    }

    /// The tenant's policy and its version (0 and the empty policy if never
    /// set).
    fn policy(&self, tenant_id: &str) -> Result<(i64, Policy)> {
        match self.document(tenant_id, "policies")? {
            Some((version, body)) => Ok((version, from_json(&body)?)),
            None => Ok((0, Policy::default())),
        }
    }

    /// Replaces the tenant's triggers; returns their new version.
    fn put_triggers(&self, actor: &str, tenant_id: &str, triggers: &Triggers) -> Result<i64> {
        self.put_document(actor, tenant_id, "triggers", "triggers.replace", &to_json(triggers)?)
    }

    /// The tenant's triggers and their version (0 and none if never set).
    fn triggers(&self, tenant_id: &str) -> Result<(i64, Triggers)> {
        match self.document(tenant_id, "triggers")? {
            Some((version, body)) => Ok((version, from_json(&body)?)),
            None => Ok((0, Triggers::default())),
        }
    }

    /// Replaces the tenant's offer catalog; returns its new version.
    fn put_offers(&self, actor: &str, tenant_id: &str, offers: &[Offer]) -> Result<i64> {
        self.put_document(actor, tenant_id, "offer_catalogs", "offers.replace", &to_json(&offers)?)
    }

    /// The tenant's offer catalog and its version (0 and empty if never set).
    fn offers(&self, tenant_id: &str) -> Result<(i64, Vec<Offer>)> {
        match self.document(tenant_id, "offer_catalogs")? {
            Some((version, body)) => Ok((version, from_json(&body)?)),
            None => Ok((0, Vec::new())),
        }
    }

    /// The config as it was at `version` (0: the empty config every tenant
    /// starts with).
    fn config_at(&self, tenant_id: &str, version: i64) -> Result<TenantConfig> {
        self.document_at(tenant_id, "tenant_config", "config", version)
    }

    /// The offer catalog as it was at `version` (0: empty).
    fn offers_at(&self, tenant_id: &str, version: i64) -> Result<Vec<Offer>> {
        self.document_at(tenant_id, "offer_catalogs", "offer catalog", version)
    }

    /// The policy as it was at `version` (0: no policy).
    fn policy_at(&self, tenant_id: &str, version: i64) -> Result<Policy> {
        self.document_at(tenant_id, "policies", "policy", version)
    }

    // ---- audit -------------------------------------------------------------

    /// A page of a tenant's audit log, oldest first.
    fn audit(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<AuditEntry>> {
        let limit = page_request.limit();
        let after = crate::rules::audit_cursor(page_request.after.as_deref())?;
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, actor, action, tenant_id, detail FROM audit
             WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant_id, after, limit as i64 + 1], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (id, at, actor, action, tenant_id, detail) = row?;
            entries.push(AuditEntry {
                id,
                at: ts(at),
                actor,
                action,
                tenant_id,
                detail: from_json(&detail)?,
            });
        }
        Ok(page(entries, limit, |e| e.id.to_string()))
    }
}

impl SqliteStore {
    fn document_at<T: serde::de::DeserializeOwned + Default>(
        &self,
        tenant_id: &str,
        table: &str,
        what: &str,
        version: i64,
    ) -> Result<T> {
        if version == 0 {
            return Ok(T::default());
        }
        let body: Option<String> = self
            .conn()
            .query_row(
                &format!("SELECT body FROM {table} WHERE tenant_id = ?1 AND version = ?2"),
                params![tenant_id, version],
                |r| r.get(0),
            )
            .optional()?;
        match body {
            Some(body) => from_json(&body),
            None => Err(RegistryError::NotFound(format!(
                "tenant {tenant_id:?} has no {what} version {version}"
            ))),
        }
    }

    fn put_document(&self, actor: &str, tenant_id: &str, table: &str, action: &str, body: &str) -> Result<i64> {
        self.tenant(tenant_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let version: i64 = tx.query_row(
            &format!("SELECT coalesce(max(version), 0) + 1 FROM {table} WHERE tenant_id = ?1"),
            [tenant_id],
            |r| r.get(0),
        )?;
        tx.execute(
            &format!("INSERT INTO {table} (tenant_id, version, body, created_at) VALUES (?1, ?2, ?3, ?4)"),
            params![tenant_id, version, body, now()],
        )?;
        let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
        audit(
            &tx,
            Some(tenant_id),
            actor,
            action,
            serde_json::json!({"version": version, "sha256": sha256}),
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn document(&self, tenant_id: &str, table: &str) -> Result<Option<(i64, String)>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT version, body FROM {table} WHERE tenant_id = ?1 ORDER BY version DESC LIMIT 1"),
                [tenant_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
