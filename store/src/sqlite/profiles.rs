//! Kept profiles in SQLite: the steps of taking events in, a customer's
//! page, what a committed decision leaves, and erasure.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, audit, now, ts};
use crate::profiles::{IntakeRow, IntakeTx, pseudonym, stage_changed, take};
use crate::{
    Alias, Concluded, CustomerRecord, DeadLetter, Erasure, Fold, ProfileStore, RegistryError, Result, StageChange,
    StoredProfile, Taken, TenantStore, TimerChange, TouchRecord,
};
use rulehost_model::Timestamp;
use rulehost_model::events::EventIn;

/// The customer `id` stands for: the one it is linked to, or itself.
pub(super) fn canonical(tx: &Transaction<'_>, tenant_id: &str, id: &str) -> Result<String> {
    let linked: Option<String> = tx
        .prepare_cached("SELECT customer_id FROM aliases WHERE tenant_id = ?1 AND alias = ?2")?
        .query_row(params![tenant_id, id], |r| r.get(0))
        .optional()?;
    Ok(linked.unwrap_or_else(|| id.to_owned()))
}

/// Keeps a committed decision's conclusions with the customer's profile,
/// if one is kept, and its stage change in the history.
pub(super) fn conclude(tx: &Transaction<'_>, tenant_id: &str, customer: &str, concluded: &Concluded) -> Result<()> {
    let kept = tx.execute(
        "UPDATE profiles SET prior = ?3 WHERE tenant_id = ?1 AND customer_id = ?2",
        params![tenant_id, customer, concluded.findings],
    )?;
    if kept == 0 {
        return Ok(());
    }
    let last: Option<String> = tx
        .prepare_cached(
            "SELECT to_stage FROM stages WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY at DESC, rowid DESC LIMIT 1",
        )?
        .query_row(params![tenant_id, customer], |r| r.get(0))
        .optional()?;
    if let Some(change) = stage_changed(last.as_deref(), concluded) {
        tx.execute(
            "INSERT INTO stages (tenant_id, customer_id, at, from_stage, to_stage, decision_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tenant_id,
                customer,
                change.at.0,
                change.from,
                change.to,
                change.decision_id
            ],
        )?;
    }
    Ok(())
}

/// Taking events in, inside one SQLite transaction (the store's one
/// connection already serialises every change).
struct Intake<'t, 'c> {
    tx: &'t Transaction<'c>,
    tenant_id: &'t str,
    now: i64,
}

impl IntakeTx for Intake<'_, '_> {
    fn canonical(&mut self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT customer_id FROM aliases WHERE tenant_id = ?1 AND alias = ?2")?;
        let mut linked = HashMap::new();
        for id in ids {
            if let Some(customer) = stmt
                .query_row(params![self.tenant_id, id], |r| r.get::<_, String>(0))
                .optional()?
            {
                linked.insert((*id).to_owned(), customer);
            }
        }
        Ok(linked)
    }

    fn lock(&mut self, _customers: &[&str]) -> Result<()> {
        Ok(())
    }

    fn record(&mut self, rows: &[IntakeRow<'_>]) -> Result<HashSet<String>> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO intake (tenant_id, event_id, customer_id, kind, at, amount_minor, taken_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant_id, event_id) DO NOTHING",
        )?;
        let mut new = HashSet::new();
        for r in rows {
            if stmt.execute(params![
                self.tenant_id,
                r.event_id,
                r.customer_id,
                r.kind,
                r.at,
                r.amount_minor,
                self.now
            ])? == 1
            {
                new.insert(r.event_id.to_owned());
            }
        }
        Ok(new)
    }

    fn kept(&mut self, customers: &[&str]) -> Result<HashMap<String, Vec<u8>>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT kept FROM profiles WHERE tenant_id = ?1 AND customer_id = ?2")?;
        let mut kept = HashMap::new();
        for customer in customers {
            if let Some(bytes) = stmt
                .query_row(params![self.tenant_id, customer], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            {
                kept.insert((*customer).to_owned(), bytes);
            }
        }
        Ok(kept)
    }

    fn save(&mut self, profiles: &[(String, Vec<u8>)]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO profiles (tenant_id, customer_id, kept, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (tenant_id, customer_id) DO UPDATE SET kept = excluded.kept, updated_at = excluded.updated_at",
        )?;
        for (customer, kept) in profiles {
            stmt.execute(params![self.tenant_id, customer, kept, self.now])?;
        }
        Ok(())
    }

    fn remove(&mut self, customer: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM profiles WHERE tenant_id = ?1 AND customer_id = ?2",
            params![self.tenant_id, customer],
        )?;
        Ok(())
    }

    fn link(&mut self, alias: &str, customer: &str, event_id: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE aliases SET customer_id = ?3 WHERE tenant_id = ?1 AND customer_id = ?2",
            params![self.tenant_id, alias, customer],
        )?;
        self.tx.execute(
            "INSERT INTO aliases (tenant_id, alias, customer_id, event_id, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant_id, alias) DO UPDATE SET customer_id = excluded.customer_id",
            params![self.tenant_id, alias, customer, event_id, self.now],
        )?;
        Ok(())
    }

    fn rekey(&mut self, from: &str, to: &str) -> Result<()> {
        for table in ["touches", "decisions", "intake", "stages"] {
            self.tx.execute(
                &format!("UPDATE {table} SET customer_id = ?3 WHERE tenant_id = ?1 AND customer_id = ?2"),
                params![self.tenant_id, from, to],
            )?;
        }
        super::timers::rekey(self.tx, self.tenant_id, from, to)
    }

    fn schedule(&mut self, timers: &[(String, TimerChange)]) -> Result<()> {
        for (customer, change) in timers {
            super::timers::change_timers(self.tx, self.tenant_id, customer, std::slice::from_ref(change))?;
        }
        Ok(())
    }
}

fn stored_profile(tx: &Transaction<'_>, tenant_id: &str, customer: &str) -> Result<Option<StoredProfile>> {
    Ok(tx
        .prepare_cached("SELECT kept, prior, updated_at FROM profiles WHERE tenant_id = ?1 AND customer_id = ?2")?
        .query_row(params![tenant_id, customer], |r| {
            Ok(StoredProfile {
                customer_id: customer.to_owned(),
                kept: r.get(0)?,
                prior: r.get(1)?,
                updated_at: ts(r.get(2)?),
            })
        })
        .optional()?)
}

impl ProfileStore for SqliteStore {
    fn take_events(&self, tenant_id: &str, events: &[EventIn], fold: &dyn Fold) -> Result<Vec<Taken>> {
        self.tenant(tenant_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let taken = take(
            &mut Intake {
                tx: &tx,
                tenant_id,
                now: now(),
            },
            events,
            fold,
        )?;
        tx.commit()?;
        Ok(taken)
    }

    fn stored_profile(&self, tenant_id: &str, id: &str) -> Result<Option<StoredProfile>> {
        let mut conn = self.reader()?;
        let tx = conn.transaction()?;
        let customer = canonical(&tx, tenant_id, id)?;
        stored_profile(&tx, tenant_id, &customer)
    }

    fn customer(&self, tenant_id: &str, id: &str) -> Result<Option<CustomerRecord>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let customer = canonical(&tx, tenant_id, id)?;
        let Some(profile) = stored_profile(&tx, tenant_id, &customer)? else {
            return Ok(None);
        };
        let aliases = tx
            .prepare_cached(
                "SELECT alias, event_id, linked_at FROM aliases WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY linked_at, alias",
            )?
            .query_map(params![tenant_id, customer], |r| {
                Ok(Alias {
                    id: r.get(0)?,
                    event_id: r.get(1)?,
                    linked_at: ts(r.get(2)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stages = tx
            .prepare_cached(
                "SELECT at, from_stage, to_stage, decision_id FROM stages WHERE tenant_id = ?1 AND customer_id = ?2
                 ORDER BY at DESC, rowid DESC LIMIT 100",
            )?
            .query_map(params![tenant_id, customer], |r| {
                Ok(StageChange {
                    at: ts(r.get(0)?),
                    from: r.get(1)?,
                    to: r.get(2)?,
                    decision_id: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        stages.reverse();
        let touches = tx
            .prepare_cached(
                "SELECT id, offer_id, channel, class, at, decision_id FROM touches
                 WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY at DESC, id DESC LIMIT 100",
            )?
            .query_map(params![tenant_id, customer], |r| {
                Ok(TouchRecord {
                    id: r.get(0)?,
                    customer_id: customer.clone(),
                    offer_id: r.get(1)?,
                    channel: r.get(2)?,
                    class: super::ledger::class_of(&r.get::<_, String>(3)?),
                    at: ts(r.get(4)?),
                    decision_id: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(CustomerRecord {
            profile,
            aliases,
            stages,
            touches,
        }))
    }

    fn compact_intake(&self, tenant_id: &str, before: Timestamp) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM intake WHERE tenant_id = ?1 AND at < ?2",
            params![tenant_id, before.0],
        )?)
    }

    fn record_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        self.conn().execute(
            "INSERT INTO dead_letters (tenant_id, at, subject, reason, excerpt) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                letter.tenant_id,
                letter.at.0,
                letter.subject,
                letter.reason,
                letter.excerpt
            ],
        )?;
        Ok(())
    }

    fn dead_letters(&self, tenant_id: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>)> {
        let conn = self.conn();
        let count: i64 = conn.query_row(
            "SELECT count(*) FROM dead_letters WHERE tenant_id = ?1",
            [tenant_id],
            |r| r.get(0),
        )?;
        let newest = conn
            .prepare_cached(
                "SELECT tenant_id, at, subject, reason, excerpt FROM dead_letters WHERE tenant_id = ?1
                 ORDER BY at DESC, rowid DESC LIMIT ?2",
            )?
            .query_map(params![tenant_id, limit as i64], |r| {
                Ok(DeadLetter {
                    tenant_id: r.get(0)?,
                    at: ts(r.get(1)?),
                    subject: r.get(2)?,
                    reason: r.get(3)?,
                    excerpt: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((count.max(0) as u64, newest))
    }

    fn compact_dead_letters(&self, before: Timestamp) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM dead_letters WHERE at < ?1", [before.0])?)
    }

    fn erase_customer(&self, actor: &str, tenant_id: &str, id: &str) -> Result<Erasure> {
        self.tenant(tenant_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let customer = canonical(&tx, tenant_id, id)?;
        let mut ids: Vec<String> = tx
            .prepare_cached("SELECT alias FROM aliases WHERE tenant_id = ?1 AND customer_id = ?2")?
            .query_map(params![tenant_id, customer], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.push(customer.clone());
        let profiles = tx.execute(
            "DELETE FROM profiles WHERE tenant_id = ?1 AND customer_id = ?2",
            params![tenant_id, customer],
        )?;
        let events = tx.execute(
            "DELETE FROM intake WHERE tenant_id = ?1 AND customer_id = ?2",
            params![tenant_id, customer],
        )?;
        if profiles == 0 && events == 0 && ids.len() == 1 {
            return Err(RegistryError::NotFound(format!(
                "tenant {tenant_id:?} keeps no customer {id:?}"
            )));
        }
        tx.execute(
            "DELETE FROM aliases WHERE tenant_id = ?1 AND customer_id = ?2",
            params![tenant_id, customer],
        )?;
        tx.execute(
            "DELETE FROM stages WHERE tenant_id = ?1 AND customer_id = ?2",
            params![tenant_id, customer],
        )?;
        let pending = super::timers::erase(&tx, tenant_id, &customer)?;
        let pseudonym = pseudonym();
        let (mut touches, mut decisions) = (0, 0);
        for id in &ids {
            touches += tx.execute(
                "UPDATE touches SET customer_id = ?3 WHERE tenant_id = ?1 AND customer_id = ?2",
                params![tenant_id, id, pseudonym],
            )?;
            decisions += tx.execute(
                "UPDATE decisions SET customer_id = ?3, body = json_object('id', id, 'erased', json('true'))
                 WHERE tenant_id = ?1 AND customer_id = ?2",
                params![tenant_id, id, pseudonym],
            )?;
        }
        let erasure = Erasure {
            pseudonym,
            ids: ids.len(),
            events,
            touches,
            decisions,
            pending,
        };
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "customer.erase",
            serde_json::to_value(&erasure).unwrap_or_default(),
        )?;
        tx.commit()?;
        Ok(erasure)
    }
}
