//! Versioned documents (config, offer catalog, contact policy, triggers)
//! and the audit log, in PostgreSQL.

use rulehost_model::policy::Policy;
use rulehost_model::triggers::Triggers;
use rulehost_model::{Offer, TenantConfig};
use sha2::{Digest, Sha256};

use super::{PgStore, changed, from_json, lock_tenant, now, to_json, ts};
use crate::{AuditEntry, DocumentStore, Page, PageRequest, RegistryError, Result, page, rules};

/// A kind of document: its name in storage and audit entries.
#[derive(Clone, Copy)]
enum Kind {
    Config,
    Offers,
    Policy,
    Triggers,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Offers => "offers",
            Kind::Policy => "policy",
            Kind::Triggers => "triggers",
        }
    }
}

impl PgStore {
    fn put_document(&self, actor: &str, tenant_id: &str, kind: Kind, body: &str) -> Result<i64> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let version: i64 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) + 1 FROM documents WHERE tenant_id = $1 AND kind = $2",
                    &[&tenant_id, &kind.name()],
                )
                .await?
                .get(0);
            tx.execute(
                "INSERT INTO documents (tenant_id, kind, version, body, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&tenant_id, &kind.name(), &version, &body, &now()],
            )
            .await?;
            let sha256 = hex::encode(Sha256::digest(body.as_bytes()));
            changed(
                &tx,
                tenant_id,
                actor,
                &format!("{}.replace", kind.name()),
                serde_json::json!({"version": version, "sha256": sha256}),
            )
            .await?;
            tx.commit().await?;
            Ok(version)
        })
    }

    fn document<T: serde::de::DeserializeOwned + Default>(&self, tenant_id: &str, kind: Kind) -> Result<(i64, T)> {
        let row = self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query_opt(
                    "SELECT version, body FROM documents WHERE tenant_id = $1 AND kind = $2
                     ORDER BY version DESC LIMIT 1",
                    &[&tenant_id, &kind.name()],
                )
                .await?)
        })?;
        match row {
            Some(row) => Ok((row.get(0), from_json(row.get::<_, &str>(1))?)),
            None => Ok((0, T::default())),
        }
    }

    fn document_at<T: serde::de::DeserializeOwned + Default>(
        &self,
        tenant_id: &str,
        kind: Kind,
        version: i64,
    ) -> Result<T> {
        if version == 0 {
            return Ok(T::default());
        }
        let row = self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query_opt(
                    "SELECT body FROM documents WHERE tenant_id = $1 AND kind = $2 AND version = $3",
                    &[&tenant_id, &kind.name(), &version],
                )
                .await?)
        })?;
        match row {
            Some(row) => from_json(row.get::<_, &str>(0)),
            None => Err(RegistryError::NotFound(format!(
                "tenant {tenant_id:?} has no {} version {version}",
                kind.name()
            ))),
        }
    }
}

impl DocumentStore for PgStore {
    fn put_config(&self, actor: &str, tenant_id: &str, config: &TenantConfig) -> Result<i64> {
        self.put_document(actor, tenant_id, Kind::Config, &to_json(config)?)
    }

    fn config(&self, tenant_id: &str) -> Result<(i64, TenantConfig)> {
        self.document(tenant_id, Kind::Config)
    }

    fn put_policy(&self, actor: &str, tenant_id: &str, policy: &Policy) -> Result<i64> {
        self.put_document(actor, tenant_id, Kind::Policy, &to_json(policy)?)
    }

    fn policy(&self, tenant_id: &str) -> Result<(i64, Policy)> {
        self.document(tenant_id, Kind::Policy)
    }

    fn put_triggers(&self, actor: &str, tenant_id: &str, triggers: &Triggers) -> Result<i64> {
        self.put_document(actor, tenant_id, Kind::Triggers, &to_json(triggers)?)
    }

    fn triggers(&self, tenant_id: &str) -> Result<(i64, Triggers)> {
        self.document(tenant_id, Kind::Triggers)
    }

    fn put_offers(&self, actor: &str, tenant_id: &str, offers: &[Offer]) -> Result<i64> {
        self.put_document(actor, tenant_id, Kind::Offers, &to_json(&offers)?)
    }

    fn offers(&self, tenant_id: &str) -> Result<(i64, Vec<Offer>)> {
        self.document(tenant_id, Kind::Offers)
    }

    fn config_at(&self, tenant_id: &str, version: i64) -> Result<TenantConfig> {
        self.document_at(tenant_id, Kind::Config, version)
    }

    fn offers_at(&self, tenant_id: &str, version: i64) -> Result<Vec<Offer>> {
        self.document_at(tenant_id, Kind::Offers, version)
    }

    fn policy_at(&self, tenant_id: &str, version: i64) -> Result<Policy> {
        self.document_at(tenant_id, Kind::Policy, version)
    }

    fn audit(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<AuditEntry>> {
        let limit = page_request.limit();
        let after = rules::audit_cursor(page_request.after.as_deref())?;
        let rows = self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query(
                    "SELECT id, at, actor, action, tenant_id, detail FROM audit
                     WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    &[&tenant_id, &after, &(limit as i64 + 1)],
                )
                .await?)
        })?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.get(0),
                    at: ts(r.get(1)),
                    actor: r.get(2),
                    action: r.get(3),
                    tenant_id: r.get(4),
                    detail: from_json(r.get::<_, &str>(5))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page(entries, limit, |e| e.id.to_string()))
    }
}
