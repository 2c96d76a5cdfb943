//! The contact ledger (touches and offer budgets) and the decision log.

use rulehost_model::policy::{Ledger, LedgerTouch};
use rulehost_model::{OfferClass, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use super::profiles::{canonical, conclude};
use super::timers::{change_timers, consume, hand_over};
use super::{SqliteStore, now, ts};
use crate::{
    DecisionLogStore, DecisionSummary, Effects, LedgerStore, LoggedDecision, Page, PageRequest, RegistryError, Result,
    TenantStore, TouchRecord, page,
};

fn class_str(class: OfferClass) -> &'static str {
    match class {
        OfferClass::Marketing => "marketing",
        OfferClass::Transactional => "transactional",
        OfferClass::Mandatory => "mandatory",
    }
}

pub(super) fn class_of(text: &str) -> OfferClass {
    match text {
        "transactional" => OfferClass::Transactional,
        "mandatory" => OfferClass::Mandatory,
        _ => OfferClass::Marketing,
    }
}

/// Inserts touches that are new; returns (recorded, duplicates).
fn insert_touches(tx: &Transaction<'_>, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)> {
    let (mut recorded, mut duplicates) = (0, 0);
    let recorded_at = now();
    for t in touches {
        let changed = tx.execute(
            "INSERT INTO touches (tenant_id, id, customer_id, offer_id, channel, class, at, decision_id, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (tenant_id, id) DO NOTHING",
            params![
                tenant_id,
                t.id,
                t.customer_id,
                t.offer_id,
                t.channel,
                class_str(t.class),
                t.at.0,
                t.decision_id,
                recorded_at
            ],
        )?;
        if changed == 0 {
            duplicates += 1;
            continue;
        }
        recorded += 1;
        tx.execute(
            "INSERT INTO offer_budgets (tenant_id, offer_id, used) VALUES (?1, ?2, 1)
             ON CONFLICT (tenant_id, offer_id) DO UPDATE SET used = used + 1",
            params![tenant_id, t.offer_id],
        )?;
    }
    Ok((recorded, duplicates))
}

fn load_ledger(
    tx: &Transaction<'_>,
    tenant_id: &str,
    customer_id: &str,
    since: Timestamp,
    budgets: &[String],
) -> Result<Ledger> {
    let mut stmt = tx.prepare_cached(
        "SELECT offer_id, channel, at, class FROM touches WHERE tenant_id = ?1 AND customer_id = ?2 AND at >= ?3",
    )?;
    let touches = stmt
        .query_map(params![tenant_id, customer_id, since.0], |r| {
            Ok(LedgerTouch {
                offer_id: r.get(0)?,
                channel: r.get(1)?,
                at: ts(r.get(2)?),
                class: class_of(&r.get::<_, String>(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut ledger = Ledger {
        touches,
        ..Ledger::default()
    };
    let mut budget = tx.prepare_cached("SELECT used FROM offer_budgets WHERE tenant_id = ?1 AND offer_id = ?2")?;
    for offer in budgets {
        let used: Option<i64> = budget.query_row(params![tenant_id, offer], |r| r.get(0)).optional()?;
        ledger.budget_used.insert(offer.clone(), used.unwrap_or(0) as u64);
    }
    Ok(ledger)
}

impl LedgerStore for SqliteStore {
    /// Every offer budget's use so far.
    fn budgets_used(&self, tenant_id: &str) -> Result<std::collections::HashMap<String, u64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT offer_id, used FROM offer_budgets WHERE tenant_id = ?1")?;
        let rows = stmt.query_map([tenant_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records deliveries; a touch id seen before is a duplicate and changes
    /// nothing. Returns (recorded, duplicates).
    fn record_touches(&self, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)> {
        self.tenant(tenant_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let counts = insert_touches(&tx, tenant_id, touches)?;
        tx.commit()?;
        Ok(counts)
    }

    /// Reads the customer's ledger since `since` and the budgets used of
    /// `budgets`, runs `decide` on it and, if `commit`, records the touches
    /// it returns — all in one transaction, so two committing decisions for
    /// one customer never both see room under a cap.
    fn with_ledger(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: Timestamp,
        budgets: &[String],
        commit: bool,
        decide: &mut dyn FnMut(&Ledger) -> Effects,
    ) -> Result<()> {
        if !commit {
            // A dry run reads what is committed, beside any write.
            let mut conn = self.reader()?;
            let tx = conn.transaction()?;
            let customer = canonical(&tx, tenant_id, customer_id)?;
            decide(&load_ledger(&tx, tenant_id, &customer, since, budgets)?);
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let customer = canonical(&tx, tenant_id, customer_id)?;
        let ledger = load_ledger(&tx, tenant_id, &customer, since, budgets)?;
        let mut effects = decide(&ledger);
        if !effects.is_empty() {
            if let Some(claim) = &effects.done {
                consume(&tx, claim)?;
            }
            for touch in &mut effects.touches {
                touch.customer_id.clone_from(&customer);
            }
            insert_touches(&tx, tenant_id, &effects.touches)?;
            let set_by = effects.concluded.as_ref().map_or("", |c| c.decision_id.as_str());
            hand_over(&tx, tenant_id, &customer, &effects.deliveries, set_by)?;
            change_timers(&tx, tenant_id, &customer, &effects.timers)?;
            if let Some(concluded) = &effects.concluded {
                conclude(&tx, tenant_id, &customer, concluded)?;
            }
            tx.commit()?;
        }
        Ok(())
    }
}

impl DecisionLogStore for SqliteStore {
    /// Appends decisions to the log, in one transaction.
    fn log_decisions(&self, entries: &[LoggedDecision]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO decisions (tenant_id, id, at, customer_id, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in entries {
                stmt.execute(params![e.tenant_id, e.id, e.at.0, e.customer_id, e.body])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// One logged decision, as logged.
    fn logged_decision(&self, tenant_id: &str, id: &str) -> Result<String> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM decisions WHERE tenant_id = ?1 AND id = ?2",
                params![tenant_id, id],
                |r| r.get(0),
            )
            .optional()?;
        body.ok_or_else(|| RegistryError::NotFound(format!("no decision {id:?} (it may have expired)")))
    }

    /// A page of logged decisions, newest first, optionally for one customer.
    fn logged_decisions(
        &self,
        tenant_id: &str,
        customer_id: Option<&str>,
        page_request: &PageRequest,
    ) -> Result<Page<DecisionSummary>> {
        let limit = page_request.limit();
        let before = page_request.after.clone().unwrap_or_else(|| "~".into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, at, customer_id FROM decisions
             WHERE tenant_id = ?1 AND id < ?2 AND (?3 IS NULL OR customer_id = ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let items = stmt
            .query_map(params![tenant_id, before, customer_id, limit as i64 + 1], |r| {
                Ok(DecisionSummary {
                    id: r.get(0)?,
                    at: ts(r.get(1)?),
                    customer_id: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(page(items, limit, |d| d.id.clone()))
    }

    /// Drops touches before `touches_before`, decisions before
    /// `decisions_before`, and the oldest decisions past `max_decisions`.
    /// Returns (touches, decisions) removed.
    fn compact(
        &self,
        tenant_id: &str,
        touches_before: Timestamp,
        decisions_before: Timestamp,
        max_decisions: u64,
    ) -> Result<(usize, usize)> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let touches = tx.execute(
            "DELETE FROM touches WHERE tenant_id = ?1 AND at < ?2",
            params![tenant_id, touches_before.0],
        )?;
        let mut decisions = tx.execute(
            "DELETE FROM decisions WHERE tenant_id = ?1 AND at < ?2",
            params![tenant_id, decisions_before.0],
        )?;
        decisions += tx.execute(
            "DELETE FROM decisions WHERE tenant_id = ?1 AND id IN
             (SELECT id FROM decisions WHERE tenant_id = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
            params![tenant_id, max_decisions as i64],
        )?;
        tx.commit()?;
        Ok((touches, decisions))
    }
}
