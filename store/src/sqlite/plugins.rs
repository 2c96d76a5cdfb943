//! Plugin versions and the pipelines that run them.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, audit, now, ts};
use crate::{
    Page, PageRequest, PluginStore, PluginVersion, RegistryError, Result, Slot, TenantStore, VersionRef, check_id,
    check_version, page, rules,
};

impl PluginStore for SqliteStore {
    // ---- plugin versions -------------------------------------------------

    /// Stores an uploaded plugin version: the bytes first (durably), then
    /// the row. Uploading the same bytes under the same name and version
    /// again is accepted and changes nothing (`Ok(false)`); other bytes
    /// under an existing name and version are a conflict.
    fn put_version(&self, actor: &str, tenant_id: &str, version: &PluginVersion, bytes: &[u8]) -> Result<bool> {
        check_id("plugin name", &version.name)?;
        check_version(&version.version)?;
        match self.version(tenant_id, &version.name, &version.version) {
            Ok(existing) if existing.sha256 == version.sha256 => {
                // The same bytes again: repairs the blob if it was altered.
                self.blobs.put(&version.sha256, bytes)?;
                return Ok(false);
            }
            Ok(existing) => return Err(rules::immutable(&version.name, &version.version, &existing.sha256)),
            Err(RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        self.blobs.put(&version.sha256, bytes)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO plugin_versions (tenant_id, name, version, sha256, size, contract, sdk, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                tenant_id,
                version.name,
                version.version,
                version.sha256,
                version.size as i64,
                version.contract,
                version.sdk,
                version.created_at.0
            ],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "plugin.upload",
            serde_json::json!({"name": version.name, "version": version.version, "sha256": version.sha256, "size": version.size}),
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// One plugin version.
    fn version(&self, tenant_id: &str, name: &str, version: &str) -> Result<PluginVersion> {
        let conn = self.conn();
        conn.query_row(
            "SELECT name, version, sha256, size, contract, sdk, created_at, check_fits FROM plugin_versions
             WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            params![tenant_id, name, version],
            version_row,
        )
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("no plugin {name} {version}")))
    }

    /// A page of a tenant's plugin versions by name, then version.
    fn versions(&self, tenant_id: &str, page_request: &PageRequest) -> Result<Page<PluginVersion>> {
        let limit = page_request.limit();
        let (after_name, after_version) = rules::version_cursor(page_request.after.as_deref());
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, version, sha256, size, contract, sdk, created_at, check_fits FROM plugin_versions
             WHERE tenant_id = ?1 AND (name, version) > (?2, ?3) ORDER BY name, version LIMIT ?4",
        )?;
        let versions = stmt
            .query_map(
                params![tenant_id, after_name, after_version, limit as i64 + 1],
                version_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(page(versions, limit, |v| format!("{}@{}", v.name, v.version)))
    }

    fn put_check(&self, tenant_id: &str, name: &str, version: &str, fits: bool, report: &str) -> Result<()> {
        let updated = self.conn().execute(
            "UPDATE plugin_versions SET check_fits = ?4, check_report = ?5
             WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            params![tenant_id, name, version, fits, report],
        )?;
        if updated == 0 {
            return Err(RegistryError::NotFound(format!("no plugin {name} {version}")));
        }
        Ok(())
    }

    fn check_report(&self, tenant_id: &str, name: &str, version: &str) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT check_report FROM plugin_versions WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant_id, name, version],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| RegistryError::NotFound(format!("no plugin {name} {version}")))
    }

    /// Deletes a version no slot runs. It also leaves every slot's rollback
    /// history, so a rollback never lands on it.
    fn delete_version(&self, actor: &str, tenant_id: &str, name: &str, version: &str) -> Result<()> {
        let record = self.version(tenant_id, name, version)?;
        let slots = self.pipeline(tenant_id)?;
        rules::check_delete(&slots, self.attached_as(tenant_id, name, version)?, name, version)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE activations SET rolled_back = 1 WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            params![tenant_id, name, version],
        )?;
        tx.execute(
            "DELETE FROM plugin_versions WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
            params![tenant_id, name, version],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "plugin.delete",
            serde_json::json!({"name": name, "version": version, "sha256": record.sha256}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The bytes of a stored component, refused as [`RegistryError::Corrupt`]
    /// unless they still hash to `sha256`.
    fn blob(&self, sha256: &str) -> Result<Vec<u8>> {
        self.blobs.get(sha256).map_err(|e| match e.kind() {
            // A blob a row names is missing from the disk: as altered.
            std::io::ErrorKind::NotFound => {
                RegistryError::Corrupt(format!("the stored plugin blob {sha256} is missing from the disk"))
            }
            _ => e.into(),
        })
    }

    // ---- pipeline --------------------------------------------------------

    /// Sets the ordered slots of a tenant's pipeline. Slots that stay keep
    /// their active version and history; removed slots lose theirs.
    fn set_pipeline(&self, actor: &str, tenant_id: &str, slots: &[String]) -> Result<Vec<Slot>> {
        self.tenant(tenant_id)?;
        rules::check_slots(slots)?;
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM pipeline_slots WHERE tenant_id = ?1", [tenant_id])?;
            for (position, slot) in slots.iter().enumerate() {
                tx.execute(
                    "INSERT INTO pipeline_slots (tenant_id, position, slot) VALUES (?1, ?2, ?3)",
                    params![tenant_id, position as i64, slot],
                )?;
            }
            tx.execute(
                "DELETE FROM activations WHERE tenant_id = ?1 AND slot NOT IN (SELECT slot FROM pipeline_slots WHERE tenant_id = ?1)",
                [tenant_id],
            )?;
            audit(
                &tx,
                Some(tenant_id),
                actor,
                "pipeline.set",
                serde_json::json!({"slots": slots}),
            )?;
            tx.commit()?;
        }
        self.pipeline(tenant_id)
    }

    /// The tenant's pipeline: slots in order with their active and previous
    /// versions.
    fn pipeline(&self, tenant_id: &str) -> Result<Vec<Slot>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT slot FROM pipeline_slots WHERE tenant_id = ?1 ORDER BY position")?;
        let names = stmt
            .query_map([tenant_id], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut history = conn.prepare(
            "SELECT a.name, a.version, v.sha256 FROM activations a
             JOIN plugin_versions v ON v.tenant_id = a.tenant_id AND v.name = a.name AND v.version = a.version
             WHERE a.tenant_id = ?1 AND a.slot = ?2 AND a.rolled_back = 0 ORDER BY a.id DESC LIMIT 2",
        )?;
        let mut slots = Vec::with_capacity(names.len());
        for slot in names {
            let mut refs = history
                .query_map(params![tenant_id, slot], |r| {
                    Ok(VersionRef {
                        name: r.get(0)?,
                        version: r.get(1)?,
                        sha256: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter();
            slots.push(Slot {
                slot,
                active: refs.next(),
                previous: refs.next(),
            });
        }
        Ok(slots)
    }

    /// Makes `name` `version` the active version of `slot`.
    fn activate(&self, actor: &str, tenant_id: &str, slot: &str, name: &str, version: &str) -> Result<Vec<Slot>> {
        let record = self.version(tenant_id, name, version)?;
        let current = self.pipeline(tenant_id)?;
        let state = rules::find_slot(&current, slot)?;
        if state
            .active
            .as_ref()
            .is_some_and(|a| a.name == name && a.version == version)
        {
            return Ok(current);
        }
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO activations (tenant_id, slot, name, version, activated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![tenant_id, slot, name, version, now()],
            )?;
            audit(
                &tx,
                Some(tenant_id),
                actor,
                "pipeline.activate",
                serde_json::json!({"slot": slot, "name": name, "version": version, "sha256": record.sha256,
                                   "replaced": state.active}),
            )?;
            tx.commit()?;
        }
        self.pipeline(tenant_id)
    }

    /// Returns `slot` to the version it ran before the current one.
    fn rollback(&self, actor: &str, tenant_id: &str, slot: &str) -> Result<Vec<Slot>> {
        let current = self.pipeline(tenant_id)?;
        let (active, previous) = rules::check_rollback(&current, slot)?;
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE activations SET rolled_back = 1 WHERE id =
                 (SELECT id FROM activations WHERE tenant_id = ?1 AND slot = ?2 AND rolled_back = 0 ORDER BY id DESC LIMIT 1)",
                params![tenant_id, slot],
            )?;
            audit(
                &tx,
                Some(tenant_id),
                actor,
                "pipeline.rollback",
                serde_json::json!({"slot": slot, "from": active, "to": previous}),
            )?;
            tx.commit()?;
        }
        self.pipeline(tenant_id)
    }
}

pub(super) fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PluginVersion> {
    Ok(PluginVersion {
        name: r.get(0)?,
        version: r.get(1)?,
        sha256: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        contract: r.get(4)?,
        sdk: r.get(5)?,
        created_at: ts(r.get(6)?),
        fits: r.get(7)?,
    })
}
