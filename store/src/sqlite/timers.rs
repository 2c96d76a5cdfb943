//! Timers and the outbox in SQLite (one host: its one connection
//! serialises every claim, commit and number).

use rusqlite::{OptionalExtension, Transaction, params};

use super::profiles::canonical;
use super::{SqliteStore, now, ts};
use crate::timers::{OutboxEntry, OutboxStore, Outgoing, Timer, TimerChange, TimerKind, TimerStore};
use crate::{Result, claim_lost};
use rulehost_model::Timestamp;

const TIMER_COLUMNS: &str = "tenant_id, customer_id, kind, key, due_at, body, set_at, set_by, claim, attempts";

fn timer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Timer> {
    let kind: String = r.get(2)?;
    Ok(Timer {
        tenant_id: r.get(0)?,
        customer_id: r.get(1)?,
        kind: TimerKind::parse(&kind).unwrap_or(TimerKind::Wake),
        key: r.get(3)?,
        due_at: ts(r.get(4)?),
        body: r.get(5)?,
        set_at: ts(r.get(6)?),
        set_by: r.get(7)?,
        claim: r.get(8)?,
        attempts: r.get(9)?,
    })
}

/// A fresh claim token.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// Sets or clears a customer's timers, inside a change's transaction.
pub(super) fn change_timers(
    tx: &Transaction<'_>,
    tenant_id: &str,
    customer: &str,
    changes: &[TimerChange],
) -> Result<()> {
    for change in changes {
        match change {
            TimerChange::Set {
                kind,
                key,
                due_at,
                body,
                set_by,
            } => {
                tx.prepare_cached(
                    "INSERT INTO timers (tenant_id, customer_id, kind, key, due_at, body, set_at, set_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (tenant_id, customer_id, kind, key) DO UPDATE SET due_at = excluded.due_at,
                       body = excluded.body, set_at = excluded.set_at, set_by = excluded.set_by,
                       claim = NULL, lease_until = NULL, attempts = 0",
                )?
                .execute(params![
                    tenant_id,
                    customer,
                    kind.as_str(),
                    key,
                    due_at.0,
                    body,
                    now(),
                    set_by
                ])?;
            }
            TimerChange::Clear { kind, key } => {
                tx.prepare_cached(
                    "DELETE FROM timers WHERE tenant_id = ?1 AND customer_id = ?2 AND kind = ?3 AND key = ?4",
                )?
                .execute(params![tenant_id, customer, kind.as_str(), key])?;
            }
        }
    }
    Ok(())
}

/// Consumes a claimed timer, or refuses if its claim was lost.
pub(super) fn consume(tx: &Transaction<'_>, claim: &str) -> Result<()> {
    let gone = tx
        .prepare_cached("DELETE FROM timers WHERE claim = ?1")?
        .execute([claim])?;
    if gone == 0 {
        return Err(claim_lost(claim));
    }
    Ok(())
}

/// Hands touches to the outbox: due ones at once, later ones as timers.
pub(super) fn hand_over(
    tx: &Transaction<'_>,
    tenant_id: &str,
    customer: &str,
    deliveries: &[Outgoing],
    set_by: &str,
) -> Result<()> {
    let at = now();
    for d in deliveries {
        if d.send_at.0 <= at {
            tx.prepare_cached(
                "INSERT INTO outbox (tenant_id, touch_id, customer_id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, touch_id) DO NOTHING",
            )?
            .execute(params![tenant_id, d.touch_id, customer, d.body, at])?;
        } else {
            change_timers(
                tx,
                tenant_id,
                customer,
                &[TimerChange::Set {
                    kind: TimerKind::Touch,
                    key: d.touch_id.clone(),
                    due_at: d.send_at,
                    body: d.body.clone(),
                    set_by: set_by.to_owned(),
                }],
            )?;
        }
    }
    Ok(())
}

impl TimerStore for SqliteStore {
    fn claim_timers(&self, now: Timestamp, lease_until: Timestamp, max: usize) -> Result<Vec<Timer>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let due: Vec<(String, String, String, String)> = tx
            .prepare_cached(
                "SELECT tenant_id, customer_id, kind, key FROM timers
                 WHERE due_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1) ORDER BY due_at LIMIT ?2",
            )?
            .query_map(params![now.0, max as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut claimed = Vec::with_capacity(due.len());
        for (tenant, customer, kind, key) in due {
            let row = tx
                .prepare_cached(&format!(
                    "UPDATE timers SET claim = ?5, lease_until = ?6
                     WHERE tenant_id = ?1 AND customer_id = ?2 AND kind = ?3 AND key = ?4 RETURNING {TIMER_COLUMNS}"
                ))?
                .query_row(params![tenant, customer, kind, key, token(), lease_until.0], timer_row)?;
            claimed.push(row);
        }
        tx.commit()?;
        Ok(claimed)
    }

    fn renew_claims(&self, claims: &[String], lease_until: Timestamp) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut held = 0;
        for claim in claims {
            held += tx
                .prepare_cached("UPDATE timers SET lease_until = ?2 WHERE claim = ?1")?
                .execute(params![claim, lease_until.0])?;
        }
        tx.commit()?;
        Ok(held)
    }

    fn release_timer(&self, claim: &str, retry_at: Option<Timestamp>) -> Result<()> {
        let conn = self.conn();
        match retry_at {
            Some(at) => conn.execute(
                "UPDATE timers SET claim = NULL, lease_until = NULL, due_at = ?2, attempts = attempts + 1 WHERE claim = ?1",
                params![claim, at.0],
            )?,
            None => conn.execute("DELETE FROM timers WHERE claim = ?1", [claim])?,
        };
        Ok(())
    }

    fn deliver_deferred(&self, claim: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let timer: Option<(String, String, String, String)> = tx
            .query_row(
                "DELETE FROM timers WHERE claim = ?1 AND kind = 'touch' RETURNING tenant_id, customer_id, key, body",
                [claim],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((tenant, customer, touch_id, body)) = timer else {
            return Ok(false);
        };
        tx.execute(
            "INSERT INTO outbox (tenant_id, touch_id, customer_id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant_id, touch_id) DO NOTHING",
            params![tenant, touch_id, customer, body, now()],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn next_due(&self) -> Result<Option<Timestamp>> {
        let conn = self.conn();
        let due: Option<i64> = conn.query_row(
            "SELECT min(due_at) FROM timers WHERE lease_until IS NULL OR lease_until < ?1",
            [now()],
            |r| r.get(0),
        )?;
        Ok(due.map(ts))
    }

    fn timers_of(&self, tenant_id: &str, id: &str) -> Result<Vec<Timer>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let customer = canonical(&tx, tenant_id, id)?;
        let timers = tx
            .prepare_cached(&format!(
                "SELECT {TIMER_COLUMNS} FROM timers WHERE tenant_id = ?1 AND customer_id = ?2 ORDER BY due_at, kind, key"
            ))?
            .query_map(params![tenant_id, customer], timer_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(timers)
    }
}

impl OutboxStore for SqliteStore {
    fn sequence_outbox(&self, max: usize) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let waiting: Vec<(String, String)> = tx
            .prepare_cached(
                "SELECT tenant_id, touch_id FROM outbox WHERE seq IS NULL ORDER BY created_at, rowid LIMIT ?1",
            )?
            .query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let last: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?;
        for (i, (tenant, touch)) in waiting.iter().enumerate() {
            tx.prepare_cached("UPDATE outbox SET seq = ?3 WHERE tenant_id = ?1 AND touch_id = ?2")?
                .execute(params![tenant, touch, last + 1 + i as i64])?;
        }
        tx.commit()?;
        Ok(waiting.len())
    }

    fn outbox(&self, tenant_id: &str, after: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
        let conn = self.conn();
        let entries = conn
            .prepare_cached(
                "SELECT tenant_id, touch_id, seq, body FROM outbox
                 WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?
            .query_map(params![tenant_id, after, limit as i64], entry_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(entries)
    }

    fn unpublished(&self, max: usize) -> Result<Vec<OutboxEntry>> {
        let conn = self.conn();
        let entries = conn
            .prepare_cached(
                "SELECT tenant_id, touch_id, seq, body FROM outbox
                 WHERE seq IS NOT NULL AND published_at IS NULL ORDER BY seq LIMIT ?1",
            )?
            .query_map([max as i64], entry_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(entries)
    }

    fn mark_published(&self, entries: &[(String, String)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let at = now();
        for (tenant, touch) in entries {
            tx.prepare_cached("UPDATE outbox SET published_at = ?3 WHERE tenant_id = ?1 AND touch_id = ?2")?
                .execute(params![tenant, touch, at])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn compact_outbox(&self, before: Timestamp, published_only: bool) -> Result<usize> {
        let conn = self.conn();
        Ok(conn.execute(
            "DELETE FROM outbox WHERE created_at < ?1 AND seq IS NOT NULL AND (?2 = 0 OR published_at IS NOT NULL)",
            params![before.0, published_only as i64],
        )?)
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        tenant_id: r.get(0)?,
        touch_id: r.get(1)?,
        seq: r.get(2)?,
        body: r.get(3)?,
    })
}

/// Moves a customer's timers and outbox entries to the customer that
/// absorbed it (a timer of the same kind and key there stays).
pub(super) fn rekey(tx: &Transaction<'_>, tenant_id: &str, from: &str, to: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM timers WHERE tenant_id = ?1 AND customer_id = ?2 AND EXISTS
         (SELECT 1 FROM timers u WHERE u.tenant_id = ?1 AND u.customer_id = ?3 AND u.kind = timers.kind AND u.key = timers.key)",
        params![tenant_id, from, to],
    )?;
    for table in ["timers", "outbox"] {
        tx.execute(
            &format!("UPDATE {table} SET customer_id = ?3 WHERE tenant_id = ?1 AND customer_id = ?2"),
            params![tenant_id, from, to],
        )?;
    }
    Ok(())
}

/// Removes an erased customer's timers and outbox entries; returns how
/// many.
pub(super) fn erase(tx: &Transaction<'_>, tenant_id: &str, customer: &str) -> Result<usize> {
    let mut removed = 0;
    for table in ["timers", "outbox"] {
        removed += tx.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = ?1 AND customer_id = ?2"),
            params![tenant_id, customer],
        )?;
    }
    Ok(removed)
}
