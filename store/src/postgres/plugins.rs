//! Plugin versions, their bytes, pipelines and candidates, in PostgreSQL.

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};
use tokio_postgres::Row;

use super::{PgStore, changed, lock_tenant, now, read_tenant, ts};
use crate::{
    Candidate, CandidateStore, Page, PageRequest, PluginStore, PluginVersion, RegistryError, Result, Role, Slot,
    VersionRef, check_id, check_version, page, rules,
};

const VERSION_COLUMNS: &str = "name, version, sha256, size, contract, sdk, created_at, check_fits";

fn version_row(r: &Row) -> PluginVersion {
    PluginVersion {
        name: r.get(0),
        version: r.get(1),
        sha256: r.get(2),
        size: r.get::<_, i64>(3) as u64,
        contract: r.get(4),
        sdk: r.get(5),
        created_at: ts(r.get(6)),
        fits: r.get(7),
    }
}

async fn read_version(
    client: &impl GenericClient,
    tenant_id: &str,
    name: &str,
    version: &str,
) -> Result<PluginVersion> {
    client
        .query_opt(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE tenant_id = $1 AND name = $2 AND version = $3"
            ),
            &[&tenant_id, &name, &version],
        )
        .await?
        .map(|r| version_row(&r))
        .ok_or_else(|| RegistryError::NotFound(format!("no plugin {name} {version}")))
}

/// The tenant's pipeline: slots in order, each with its active and previous
/// version.
pub(super) async fn read_pipeline(client: &impl GenericClient, tenant_id: &str) -> Result<Vec<Slot>> {
    let names: Vec<String> = client
        .query(
            "SELECT slot FROM pipeline_slots WHERE tenant_id = $1 ORDER BY position",
            &[&tenant_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut slots = Vec::with_capacity(names.len());
    for slot in names {
        let mut refs = client
            .query(
                "SELECT a.name, a.version, v.sha256 FROM activations a
                 JOIN plugin_versions v ON v.tenant_id = a.tenant_id AND v.name = a.name AND v.version = a.version
                 WHERE a.tenant_id = $1 AND a.slot = $2 AND NOT a.rolled_back ORDER BY a.id DESC LIMIT 2",
                &[&tenant_id, &slot],
            )
            .await?
            .iter()
            .map(|r| VersionRef {
                name: r.get(0),
                version: r.get(1),
                sha256: r.get(2),
            })
            .collect::<Vec<_>>()
            .into_iter();
        slots.push(Slot {
            slot,
            active: refs.next(),
            previous: refs.next(),
        });
    }
    Ok(slots)
}

async fn read_candidates(client: &impl GenericClient, tenant_id: &str, role: Role) -> Result<Vec<Candidate>> {
    Ok(client
        .query(
            "SELECT slot, name, version, percent, since FROM candidates
             WHERE tenant_id = $1 AND role = $2 ORDER BY slot",
            &[&tenant_id, &role.as_str()],
        )
        .await?
        .iter()
        .map(|r| Candidate {
            slot: r.get(0),
            name: r.get(1),
            version: r.get(2),
            percent: r.get(3),
            since: ts(r.get(4)),
        })
        .collect())
}

impl PluginStore for PgStore {
    fn put_version(&self, actor: &str, tenant_id: &str, version: &PluginVersion, bytes: &[u8]) -> Result<bool> {
        check_id("plugin name", &version.name)?;
        check_version(&version.version)?;
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            // The bytes first; stored bytes that no longer hash to their
            // name are replaced (the same upload repairs them).
            tx.execute(
                "INSERT INTO blobs (sha256, bytes) VALUES ($1, $2)
                 ON CONFLICT (sha256) DO UPDATE SET bytes = EXCLUDED.bytes
                 WHERE encode(sha256(blobs.bytes), 'hex') <> blobs.sha256",
                &[&version.sha256, &bytes],
            )
            .await?;
            match read_version(&tx, tenant_id, &version.name, &version.version).await {
                Ok(existing) if existing.sha256 == version.sha256 => {
                    tx.commit().await?;
                    return Ok(false);
                }
                Ok(existing) => return Err(rules::immutable(&version.name, &version.version, &existing.sha256)),
                Err(RegistryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            tx.execute(
                "INSERT INTO plugin_versions (tenant_id, name, version, sha256, size, contract, sdk, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &tenant_id,
                    &version.name,
                    &version.version,
                    &version.sha256,
                    &(version.size as i64),
                    &version.contract,
                    &version.sdk,
                    &version.created_at.0,
                ],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "plugin.upload",
                serde_json::json!({"name": version.name, "version": version.version, "sha256": version.sha256,
                                   "size": version.size}),
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn version(&self, tenant_id: &str, name: &str, version: &str) -> Result<PluginVersion> {
        self.run(async { read_version(&self.pool.get().await?, tenant_id, name, version).await })
    }

    fn versions(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<PluginVersion>> {
        let limit = page_request.limit();
        let (after_name, after_version) = rules::version_cursor(page_request.after.as_deref());
        self.run(async {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {VERSION_COLUMNS} FROM plugin_versions
                         WHERE tenant_id = $1 AND (name, version) > ($2, $3) ORDER BY name, version LIMIT $4"
                    ),
                    &[&tenant_id, &after_name, &after_version, &(limit as i64 + 1)],
                )
                .await?;
            let versions = rows.iter().map(version_row).collect();
            Ok(page(versions, limit, |v| format!("{}@{}", v.name, v.version)))
        })
    }

    fn put_check(&self, tenant_id: &str, name: &str, version: &str, fits: bool, report: &str) -> Result<()> {
        self.run(async {
            let updated = self
                .pool
                .get()
                .await?
                .execute(
                    "UPDATE plugin_versions SET check_fits = $4, check_report = $5
                     WHERE tenant_id = $1 AND name = $2 AND version = $3",
                    &[&tenant_id, &name, &version, &fits, &report],
                )
                .await?;
            if updated == 0 {
                return Err(RegistryError::NotFound(format!("no plugin {name} {version}")));
            }
            Ok(())
        })
    }

    fn check_report(&self, tenant_id: &str, name: &str, version: &str) -> Result<Option<String>> {
        self.run(async {
            self.pool
                .get()
                .await?
                .query_opt(
                    "SELECT check_report FROM plugin_versions WHERE tenant_id = $1 AND name = $2 AND version = $3",
                    &[&tenant_id, &name, &version],
                )
                .await?
                .map(|r| r.get(0))
                .ok_or_else(|| RegistryError::NotFound(format!("no plugin {name} {version}")))
        })
    }

    fn delete_version(&self, actor: &str, tenant_id: &str, name: &str, version: &str) -> Result<()> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let record = read_version(&tx, tenant_id, name, version).await?;
            let slots = read_pipeline(&tx, tenant_id).await?;
            let attached = tx
                .query_opt(
                    "SELECT role, slot FROM candidates WHERE tenant_id = $1 AND name = $2 AND version = $3",
                    &[&tenant_id, &name, &version],
                )
                .await?
                .map(|r| (r.get(0), r.get(1)));
            rules::check_delete(&slots, attached, name, version)?;
            tx.execute(
                "UPDATE activations SET rolled_back = true WHERE tenant_id = $1 AND name = $2 AND version = $3",
                &[&tenant_id, &name, &version],
            )
            .await?;
            tx.execute(
                "DELETE FROM plugin_versions WHERE tenant_id = $1 AND name = $2 AND version = $3",
                &[&tenant_id, &name, &version],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "plugin.delete",
                serde_json::json!({"name": name, "version": version, "sha256": record.sha256}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn blob(&self, sha256: &str) -> Result<Vec<u8>> {
        let bytes: Vec<u8> = self
            .run(async {
                Ok(self
                    .pool
                    .get()
                    .await?
                    .query_opt("SELECT bytes FROM blobs WHERE sha256 = $1", &[&sha256])
                    .await?)
            })?
            .ok_or_else(|| RegistryError::NotFound(format!("no stored component {sha256}")))?
            .get(0);
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            tracing::error!(sha256, actual, "a stored plugin blob does not match its sha256");
            return Err(RegistryError::Corrupt(format!(
                "the stored component {sha256} was altered (it hashes to {actual}): upload the same version again \
                 to repair it"
            )));
        }
        Ok(bytes)
    }

    fn set_pipeline(&self, actor: &str, tenant_id: &str, slots: &[String]) -> Result<Vec<Slot>> {
        rules::check_slots(slots)?;
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            tx.execute("DELETE FROM pipeline_slots WHERE tenant_id = $1", &[&tenant_id])
                .await?;
            for (position, slot) in slots.iter().enumerate() {
                tx.execute(
                    "INSERT INTO pipeline_slots (tenant_id, position, slot) VALUES ($1, $2, $3)",
                    &[&tenant_id, &(position as i32), slot],
                )
                .await?;
            }
            tx.execute(
                "DELETE FROM activations WHERE tenant_id = $1 AND slot <> ALL($2)",
                &[&tenant_id, &slots],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "pipeline.set",
                serde_json::json!({"slots": slots}),
            )
            .await?;
            let pipeline = read_pipeline(&tx, tenant_id).await?;
            tx.commit().await?;
            Ok(pipeline)
        })
    }

    fn pipeline(&self, tenant_id: &str) -> Result<Vec<Slot>> {
        self.run(async { read_pipeline(&self.pool.get().await?, tenant_id).await })
    }

    fn activate(&self, actor: &str, tenant_id: &str, slot: &str, name: &str, version: &str) -> Result<Vec<Slot>> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let record = read_version(&tx, tenant_id, name, version).await?;
            let current = read_pipeline(&tx, tenant_id).await?;
            let state = rules::find_slot(&current, slot)?;
            if state
                .active
                .as_ref()
                .is_some_and(|a| a.name == name && a.version == version)
            {
                return Ok(current);
            }
            tx.execute(
                "INSERT INTO activations (tenant_id, slot, name, version, activated_at) VALUES ($1, $2, $3, $4, $5)",
                &[&tenant_id, &slot, &name, &version, &now()],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "pipeline.activate",
                serde_json::json!({"slot": slot, "name": name, "version": version, "sha256": record.sha256,
                                   "replaced": state.active}),
            )
            .await?;
            let pipeline = read_pipeline(&tx, tenant_id).await?;
            tx.commit().await?;
            Ok(pipeline)
        })
    }

    fn rollback(&self, actor: &str, tenant_id: &str, slot: &str) -> Result<Vec<Slot>> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let current = read_pipeline(&tx, tenant_id).await?;
            let (active, previous) = rules::check_rollback(&current, slot)?;
            tx.execute(
                "UPDATE activations SET rolled_back = true WHERE id =
                 (SELECT id FROM activations WHERE tenant_id = $1 AND slot = $2 AND NOT rolled_back
                  ORDER BY id DESC LIMIT 1)",
                &[&tenant_id, &slot],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "pipeline.rollback",
                serde_json::json!({"slot": slot, "from": active, "to": previous}),
            )
            .await?;
            let pipeline = read_pipeline(&tx, tenant_id).await?;
            tx.commit().await?;
            Ok(pipeline)
        })
    }
}

impl CandidateStore for PgStore {
    fn attach(
        &self,
        actor: &str,
        tenant_id: &str,
        role: Role,
        slot: &str,
        name: &str,
        version: &str,
        percent: f64,
    ) -> Result<Candidate> {
        if !(percent > 0.0 && percent <= 100.0) {
            rules::check_attach(&[], slot, role, name, version, percent)?;
        }
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let record = read_version(&tx, tenant_id, name, version).await?;
            let slots = read_pipeline(&tx, tenant_id).await?;
            rules::check_attach(&slots, slot, role, name, version, percent)?;
            let since = match read_candidates(&tx, tenant_id, role)
                .await?
                .into_iter()
                .find(|c| c.slot == slot)
            {
                Some(c) if c.name == name && c.version == version => c.since.0,
                _ => now(),
            };
            tx.execute(
                "INSERT INTO candidates (tenant_id, role, slot, name, version, percent, since)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, role, slot) DO UPDATE SET name = EXCLUDED.name,
                     version = EXCLUDED.version, percent = EXCLUDED.percent, since = EXCLUDED.since",
                &[&tenant_id, &role.as_str(), &slot, &name, &version, &percent, &since],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                &format!("{}.attach", role.as_str()),
                serde_json::json!({"slot": slot, "name": name, "version": version, "sha256": record.sha256,
                                   "percent": percent}),
            )
            .await?;
            tx.commit().await?;
            Ok(Candidate {
                slot: slot.to_owned(),
                name: name.to_owned(),
                version: version.to_owned(),
                percent,
                since: ts(since),
            })
        })
    }

    fn candidates(&self, tenant_id: &str, role: Role) -> Result<Vec<Candidate>> {
        self.run(async { read_candidates(&self.pool.get().await?, tenant_id, role).await })
    }

    fn detach(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Candidate> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let candidate = existing(&tx, tenant_id, role, slot).await?;
            tx.execute(
                "DELETE FROM candidates WHERE tenant_id = $1 AND role = $2 AND slot = $3",
                &[&tenant_id, &role.as_str(), &slot],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                &format!("{}.detach", role.as_str()),
                serde_json::json!({"slot": slot, "name": candidate.name, "version": candidate.version}),
            )
            .await?;
            tx.commit().await?;
            Ok(candidate)
        })
    }

    fn promote(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Vec<Slot>> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let candidate = existing(&tx, tenant_id, role, slot).await?;
            let record = read_version(&tx, tenant_id, &candidate.name, &candidate.version).await?;
            let slots = read_pipeline(&tx, tenant_id).await?;
            let replaced = rules::find_slot(&slots, slot)?.active.clone();
            tx.execute(
                "DELETE FROM candidates WHERE tenant_id = $1 AND slot = $2
                 AND (role = $3 OR (name = $4 AND version = $5))",
                &[&tenant_id, &slot, &role.as_str(), &candidate.name, &candidate.version],
            )
            .await?;
            tx.execute(
                "INSERT INTO activations (tenant_id, slot, name, version, activated_at) VALUES ($1, $2, $3, $4, $5)",
                &[&tenant_id, &slot, &candidate.name, &candidate.version, &now()],
            )
            .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                &format!("{}.promote", role.as_str()),
                serde_json::json!({"slot": slot, "name": candidate.name, "version": candidate.version,
                                   "sha256": record.sha256, "replaced": replaced}),
            )
            .await?;
            let pipeline = read_pipeline(&tx, tenant_id).await?;
            tx.commit().await?;
            Ok(pipeline)
        })
    }
}

/// The slot's candidate in `role`, or not found.
async fn existing(client: &impl GenericClient, tenant_id: &str, role: Role, slot: &str) -> Result<Candidate> {
    read_tenant(client, tenant_id).await?;
    read_candidates(client, tenant_id, role)
        .await?
        .into_iter()
        .find(|c| c.slot == slot)
        .ok_or_else(|| RegistryError::NotFound(format!("slot {slot:?} has no {}", role.as_str())))
}
