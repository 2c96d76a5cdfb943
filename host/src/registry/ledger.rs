//! The contact ledger (touches and offer budgets) and the decision log.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, PageRequest, Registry, RegistryError, Result, now, page, ts};
use crate::model::{OfferClass, Timestamp};
use crate::policy::{Ledger, LedgerTouch};

/// A delivery in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TouchRecord {
    /// Unique per tenant: recording the same id twice records it once.
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// The offer.
    pub offer_id: String,
    /// The channel.
    pub channel: String,
    /// The offer's class.
    pub class: OfferClass,
    /// When it was (or will be) delivered.
    pub at: Timestamp,
    /// The decision that selected it, if one did.
    pub decision_id: Option<String>,
}

/// A decision in the log, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DecisionSummary {
    /// The decision's id.
    pub id: String,
    /// When it was made.
    pub at: Timestamp,
    /// The customer.
    pub customer_id: String,
}

/// A decision to keep in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDecision {
    /// The tenant.
    pub tenant_id: String,
    /// The decision's id.
    pub id: String,
    /// When it was made.
    pub at: Timestamp,
    /// The customer.
    pub customer_id: String,
    /// The whole logged record, JSON.
    pub body: String,
}

fn class_str(class: OfferClass) -> &'static str {
    match class {
        OfferClass::Marketing => "marketing",
        OfferClass::Transactional => "transactional",
        OfferClass::Mandatory => "mandatory",
    }
}

fn class_of(text: &str) -> OfferClass {
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

impl Registry {
    /// Every offer budget's use so far.
    pub fn budgets_used(&self, tenant_id: &str) -> Result<std::collections::HashMap<String, u64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT offer_id, used FROM offer_budgets WHERE tenant_id = ?1")?;
        let rows = stmt.query_map([tenant_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records deliveries; a touch id seen before is a duplicate and changes
    /// nothing. Returns (recorded, duplicates).
    pub fn record_touches(&self, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)> {
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
    pub fn with_ledger<T>(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: Timestamp,
        budgets: &[String],
        commit: bool,
        decide: impl FnOnce(&Ledger) -> (T, Vec<TouchRecord>),
    ) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ledger = load_ledger(&tx, tenant_id, customer_id, since, budgets)?;
        let (result, touches) = decide(&ledger);
        if commit && !touches.is_empty() {
            insert_touches(&tx, tenant_id, &touches)?;
            tx.commit()?;
        }
        Ok(result)
    }

    /// Appends decisions to the log, in one transaction.
    pub fn log_decisions(&self, entries: &[LoggedDecision]) -> Result<()> {
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
    pub fn logged_decision(&self, tenant_id: &str, id: &str) -> Result<serde_json::Value> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM decisions WHERE tenant_id = ?1 AND id = ?2",
                params![tenant_id, id],
                |r| r.get(0),
            )
            .optional()?;
        let body = body.ok_or_else(|| RegistryError::NotFound(format!("no decision {id:?} (it may have expired)")))?;
        serde_json::from_str(&body).map_err(|e| RegistryError::Storage(format!("corrupt logged decision: {e}")))
    }

    /// A page of logged decisions, newest first, optionally for one customer.
    pub fn logged_decisions(
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
    pub fn compact(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(id: &str, offer: &str, at: i64) -> TouchRecord {
        TouchRecord {
            id: id.into(),
            customer_id: "c".into(),
            offer_id: offer.into(),
            channel: "sms".into(),
            class: OfferClass::Marketing,
            at: Timestamp(at),
            decision_id: None,
        }
    }

    fn registry() -> (tempfile::TempDir, Registry) {
        crate::registry::with_tenant_t()
    }

    #[test]
    fn touches_are_idempotent_by_id_and_count_towards_budgets_once() {
        let (_dir, r) = registry();
        assert_eq!(
            r.record_touches("t", &[touch("1", "a", 10), touch("2", "a", 20)])
                .unwrap(),
            (2, 0)
        );
        assert_eq!(
            r.record_touches("t", &[touch("1", "a", 10), touch("3", "b", 30)])
                .unwrap(),
            (1, 1)
        );
        let ledger = r
            .with_ledger("t", "c", Timestamp(15), &["a".into(), "b".into()], false, |l| {
                (l.clone(), Vec::new())
            })
            .unwrap();
        assert_eq!(ledger.touches.len(), 2, "touches before `since` are left out");
        assert_eq!(ledger.budget_used["a"], 2);
        assert_eq!(ledger.budget_used["b"], 1);
    }

    #[test]
    fn a_committing_decision_records_what_it_returns() {
        let (_dir, r) = registry();
        r.with_ledger("t", "c", Timestamp(0), &[], true, |_| ((), vec![touch("d1-0", "a", 5)]))
            .unwrap();
        let seen = r
            .with_ledger("t", "c", Timestamp(0), &[], false, |l| {
                (l.touches.len(), vec![touch("x", "a", 6)])
            })
            .unwrap();
        assert_eq!(seen, 1, "a non-committing decision records nothing");
        let again = r
            .with_ledger("t", "c", Timestamp(0), &[], false, |l| (l.touches.len(), Vec::new()))
            .unwrap();
        assert_eq!(again, 1);
    }

    #[test]
    fn compaction_keeps_the_window_and_the_newest_decisions() {
        let (_dir, r) = registry();
        r.record_touches("t", &[touch("old", "a", 10), touch("new", "a", 100)])
            .unwrap();
        let entries: Vec<LoggedDecision> = (0..5)
            .map(|i| LoggedDecision {
                tenant_id: "t".into(),
                id: format!("d{i}"),
                at: Timestamp(i * 10),
                customer_id: "c".into(),
                body: "{}".into(),
            })
            .collect();
        r.log_decisions(&entries).unwrap();
        assert_eq!(r.compact("t", Timestamp(50), Timestamp(5), 3).unwrap(), (1, 2));
        let left = r.logged_decisions("t", None, &PageRequest::default()).unwrap();
        assert_eq!(
            left.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["d4", "d3", "d2"]
        );
        assert!(r.logged_decision("t", "d0").is_err());
    }
}
