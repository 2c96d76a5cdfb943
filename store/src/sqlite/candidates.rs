//! Candidate versions attached to a pipeline slot beside its active
//! version: in shadow (run on a share of live decisions, off the response
//! path, for a report) or as a canary (answering a share of customers).
//! One of each per slot.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, audit, now, ts};
use crate::{Candidate, CandidateStore, PluginStore, RegistryError, Result, Role, Slot, TenantStore, rules};

impl CandidateStore for SqliteStore {
    /// Attaches `name` `version` to `slot` as `role` for `percent` of
    /// customers, replacing the slot's candidate of that role. Attaching
    /// the same version again changes only its share (a canary widens,
    /// keeping its customers and its counts).
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
    ) -> Result<Candidate> {
        if !(percent > 0.0 && percent <= 100.0) {
            // Before anything is read: a bad share is a bad request.
            rules::check_attach(&[], slot, role, name, version, percent)?;
        }
        let record = self.version(tenant_id, name, version)?;
        let slots = self.pipeline(tenant_id)?;
        rules::check_attach(&slots, slot, role, name, version, percent)?;
        let since = match self.candidate(tenant_id, role, slot)? {
            Some(c) if c.name == name && c.version == version => c.since.0,
            _ => now(),
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO candidates (tenant_id, role, slot, name, version, percent, since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![tenant_id, role.as_str(), slot, name, version, percent, since],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            &format!("{}.attach", role.as_str()),
            serde_json::json!({"slot": slot, "name": name, "version": version, "sha256": record.sha256,
                               "percent": percent}),
        )?;
        tx.commit()?;
        Ok(Candidate {
            slot: slot.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            percent,
            since: ts(since),
        })
    }

    /// Every candidate of the tenant in `role`, by slot.
    fn candidates(&self, tenant_id: &str, role: Role) -> Result<Vec<Candidate>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT slot, name, version, percent, since FROM candidates
             WHERE tenant_id = ?1 AND role = ?2 ORDER BY slot",
        )?;
        let rows = stmt.query_map(params![tenant_id, role.as_str()], |r| {
            Ok(Candidate {
                slot: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                percent: r.get(3)?,
                since: ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Detaches the slot's candidate in `role` (a canary's customers go
    /// back to the active version).
    fn detach(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Candidate> {
        let candidate = self.existing(tenant_id, role, slot)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM candidates WHERE tenant_id = ?1 AND role = ?2 AND slot = ?3",
            params![tenant_id, role.as_str(), slot],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            &format!("{}.detach", role.as_str()),
            serde_json::json!({"slot": slot, "name": candidate.name, "version": candidate.version}),
        )?;
        tx.commit()?;
        Ok(candidate)
    }

    /// Activates the slot's candidate in `role` in place of the active
    /// version and detaches it (and any other candidate of the slot that
    /// is now simply the active version), in one transaction: the replaced
    /// version becomes the rollback.
    fn promote(&self, actor: &str, tenant_id: &str, role: Role, slot: &str) -> Result<Vec<Slot>> {
        let candidate = self.existing(tenant_id, role, slot)?;
        let record = self.version(tenant_id, &candidate.name, &candidate.version)?;
        let slots = self.pipeline(tenant_id)?;
        let replaced = rules::find_slot(&slots, slot)?.active.clone();
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM candidates WHERE tenant_id = ?1 AND slot = ?2
                 AND (role = ?3 OR (name = ?4 AND version = ?5))",
                params![tenant_id, slot, role.as_str(), candidate.name, candidate.version],
            )?;
            tx.execute(
                "INSERT INTO activations (tenant_id, slot, name, version, activated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![tenant_id, slot, candidate.name, candidate.version, now()],
            )?;
            audit(
                &tx,
                Some(tenant_id),
                actor,
                &format!("{}.promote", role.as_str()),
                serde_json::json!({"slot": slot, "name": candidate.name, "version": candidate.version,
                                   "sha256": record.sha256, "replaced": replaced}),
            )?;
            tx.commit()?;
        }
        self.pipeline(tenant_id)
    }
}

impl SqliteStore {
    fn existing(&self, tenant_id: &str, role: Role, slot: &str) -> Result<Candidate> {
        self.tenant(tenant_id)?;
        self.candidate(tenant_id, role, slot)?
            .ok_or_else(|| RegistryError::NotFound(format!("slot {slot:?} has no {}", role.as_str())))
    }

    /// Where `name` `version` is attached, if anywhere (it cannot be
    /// deleted then): its role and slot.
    pub(super) fn attached_as(&self, tenant_id: &str, name: &str, version: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT role, slot FROM candidates WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
                params![tenant_id, name, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
