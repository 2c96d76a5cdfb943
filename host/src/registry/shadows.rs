//! Candidates run in shadow: one per pipeline slot, beside the version the
//! slot runs, on a share of live decisions.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Registry, RegistryError, Result, Slot, audit, now, ts};
use crate::model::Timestamp;

/// A candidate version attached to a slot in shadow mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shadow {
    /// The slot whose active version it runs beside.
    pub slot: String,
    /// The plugin.
    pub name: String,
    /// The candidate version.
    pub version: String,
    /// The share of customers (by a stable hash of the id) whose live
    /// decisions also run the candidate, 0 < share ≤ 100.
    pub sample_percent: f64,
    /// When it was attached: its report counts from here.
    pub since: Timestamp,
}

impl Registry {
    /// Attaches `name` `version` to `slot` in shadow mode, replacing the
    /// slot's previous shadow (its report starts over).
    pub fn set_shadow(
        &self,
        actor: &str,
        tenant_id: &str,
        slot: &str,
        name: &str,
        version: &str,
        sample_percent: f64,
    ) -> Result<Shadow> {
        if !(sample_percent > 0.0 && sample_percent <= 100.0) {
            return Err(RegistryError::Invalid(format!(
                "sample_percent is {sample_percent}, expected more than 0 and at most 100"
            )));
        }
        let record = self.version(tenant_id, name, version)?;
        let slots = self.pipeline(tenant_id)?;
        let state = find_slot(&slots, slot)?;
        let Some(active) = &state.active else {
            return Err(RegistryError::Conflict(format!(
                "slot {slot:?} runs nothing yet: activate a version before shadowing it"
            )));
        };
        if active.name == name && active.version == version {
            return Err(RegistryError::Conflict(format!(
                "{name} {version} is what slot {slot:?} runs: a shadow is another version"
            )));
        }
        let since = now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO shadows (tenant_id, slot, name, version, sample_percent, since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tenant_id, slot, name, version, sample_percent, since],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "shadow.attach",
            serde_json::json!({"slot": slot, "name": name, "version": version, "sha256": record.sha256,
                               "sample_percent": sample_percent}),
        )?;
        tx.commit()?;
        Ok(Shadow {
            slot: slot.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            sample_percent,
            since: ts(since),
        })
    }

    /// The shadow of `slot`, if any.
    pub fn shadow(&self, tenant_id: &str, slot: &str) -> Result<Option<Shadow>> {
        Ok(self.shadows(tenant_id)?.into_iter().find(|s| s.slot == slot))
    }

    /// Every shadow of the tenant, by slot.
    pub fn shadows(&self, tenant_id: &str) -> Result<Vec<Shadow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT slot, name, version, sample_percent, since FROM shadows WHERE tenant_id = ?1 ORDER BY slot",
        )?;
        let rows = stmt.query_map([tenant_id], |r| {
            Ok(Shadow {
                slot: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                sample_percent: r.get(3)?,
                since: ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Detaches the shadow of `slot`.
    pub fn clear_shadow(&self, actor: &str, tenant_id: &str, slot: &str) -> Result<Shadow> {
        let shadow = self.existing_shadow(tenant_id, slot)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM shadows WHERE tenant_id = ?1 AND slot = ?2",
            params![tenant_id, slot],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "shadow.detach",
            serde_json::json!({"slot": slot, "name": shadow.name, "version": shadow.version}),
        )?;
        tx.commit()?;
        Ok(shadow)
    }

    /// Activates the shadow of `slot` in its place and detaches it, in one
    /// transaction: the slot's previous version becomes its rollback.
    pub fn promote_shadow(&self, actor: &str, tenant_id: &str, slot: &str) -> Result<Vec<Slot>> {
        let shadow = self.existing_shadow(tenant_id, slot)?;
        let record = self.version(tenant_id, &shadow.name, &shadow.version)?;
        let slots = self.pipeline(tenant_id)?;
        let replaced = find_slot(&slots, slot)?.active.clone();
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM shadows WHERE tenant_id = ?1 AND slot = ?2",
                params![tenant_id, slot],
            )?;
            tx.execute(
                "INSERT INTO activations (tenant_id, slot, name, version, activated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![tenant_id, slot, shadow.name, shadow.version, now()],
            )?;
            audit(
                &tx,
                Some(tenant_id),
                actor,
                "shadow.promote",
                serde_json::json!({"slot": slot, "name": shadow.name, "version": shadow.version,
                                   "sha256": record.sha256, "replaced": replaced}),
            )?;
            tx.commit()?;
        }
        self.pipeline(tenant_id)
    }

    fn existing_shadow(&self, tenant_id: &str, slot: &str) -> Result<Shadow> {
        self.tenant(tenant_id)?;
        self.shadow(tenant_id, slot)?
            .ok_or_else(|| RegistryError::NotFound(format!("slot {slot:?} has no shadow")))
    }

    /// Whether `name` `version` runs in shadow somewhere (it cannot be
    /// deleted then).
    pub(super) fn shadowed_in(&self, tenant_id: &str, name: &str, version: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT slot FROM shadows WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant_id, name, version],
                |r| r.get(0),
            )
            .optional()?)
    }
}

fn find_slot<'a>(slots: &'a [Slot], slot: &str) -> Result<&'a Slot> {
    slots.iter().find(|s| s.slot == slot).ok_or_else(|| {
        RegistryError::NotFound(format!(
            "no slot {slot:?} in the pipeline (slots: {:?})",
            slots.iter().map(|s| s.slot.as_str()).collect::<Vec<_>>()
        ))
    })
}
