//! The contact ledger and the decision log, in PostgreSQL.
//!
//! A committing decision reads a customer's touches, decides and records
//! what it selected in one transaction that first takes an advisory lock
//! keyed by tenant and customer: two hosts deciding for one customer take
//! turns, so a cap holds however many hosts decide. Offer budgets are
//! counted over all customers, so a committing decision also locks the
//! budget rows of the offers its policy budgets (in one order, after the
//! customer's lock: no two decisions wait for each other in a circle).
//!
//! The decision log is partitioned by UTC day; entries are written in
//! batches (one statement per batch), and retention drops whole partitions.

use std::collections::{BTreeSet, HashMap};

use deadpool_postgres::Transaction;
use rulehost_model::policy::{Ledger, LedgerTouch};
use rulehost_model::{OfferClass, Timestamp};
use tokio_postgres::types::ToSql;

use super::{PgStore, lock_tenant, now, read_tenant, ts};
use crate::{
    DecisionLogStore, DecisionSummary, Effects, LedgerStore, LoggedDecision, Page, PageRequest, RegistryError, Result,
    TouchRecord, page,
};

const MS_PER_DAY: i64 = 86_400_000;

/// The key of the advisory lock held while partitions are created or
/// dropped (two hosts may log the first entry of a day at once).
const PARTITION_LOCK: i64 = 0x7275_6c65_7061_7274; // "rulepart"

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

/// Inserts touches that are new and counts them against their offers'
/// budgets; returns (recorded, duplicates).
async fn insert_touches(tx: &Transaction<'_>, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)> {
    let (mut spent, mut duplicates) = (Vec::new(), 0);
    let recorded_at = now();
    let insert = tx
        .prepare_cached(
            "INSERT INTO touches (tenant_id, id, customer_id, offer_id, channel, class, at, decision_id, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, id) DO NOTHING",
        )
        .await?;
    for t in touches {
        let inserted = tx
            .execute(
                &insert,
                &[
                    &tenant_id,
                    &t.id,
                    &t.customer_id,
                    &t.offer_id,
                    &t.channel,
                    &class_str(t.class),
                    &t.at.0,
                    &t.decision_id,
                    &recorded_at,
                ],
            )
            .await?;
        if inserted == 0 {
            duplicates += 1;
        } else {
            spent.push((t.offer_id.as_str(), t.customer_id.as_str()));
        }
    }
    spend(tx, tenant_id, &mut spent).await?;
    Ok((spent.len(), duplicates))
}

/// Counts one touch per (offer, customer) against the offer's budget, in
/// the customer's shard of the offer's count (PostgreSQL's `hashtext`,
/// 16 shards): decisions for different customers seldom wait for each
/// other's row, where one row per offer made every committing decision
/// touching the offer take turns (268 triggered decisions/s, BENCHMARKS.md
/// section 10). Rows are updated in one order, so two decisions never wait
/// for each other in a circle.
async fn spend(tx: &Transaction<'_>, tenant_id: &str, spent: &mut [(&str, &str)]) -> Result<()> {
    if spent.is_empty() {
        return Ok(());
    }
    spent.sort_unstable();
    let (offers, customers): (Vec<&str>, Vec<&str>) = spent.iter().copied().unzip();
    tx.execute(
        "INSERT INTO offer_budgets (tenant_id, offer_id, shard, used)
         SELECT $1, o, (hashtext(c) & 15)::smallint, count(*) FROM unnest($2::text[], $3::text[]) AS s(o, c)
         GROUP BY 1, 2, 3 ORDER BY 2, 3
         ON CONFLICT (tenant_id, offer_id, shard) DO UPDATE SET used = offer_budgets.used + EXCLUDED.used",
        &[&tenant_id, &offers, &customers],
    )
    .await?;
    Ok(())
}

/// The partition of the day `at` falls in, created if missing.
async fn ensure_partition(tx: &Transaction<'_>, day: i64) -> Result<()> {
    let name = partition_name(day);
    let exists = tx
        .query_opt("SELECT 1 FROM pg_class WHERE relname = $1", &[&name])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
        .await?;
    let (from, to) = (day * MS_PER_DAY, (day + 1) * MS_PER_DAY);
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF decisions FOR VALUES FROM ({from}) TO ({to})"
    ))
    .await?;
    Ok(())
}

/// `decisions_YYYYMMDD` of a day number (days since the Unix epoch, UTC).
fn partition_name(day: i64) -> String {
    let date = Timestamp(day * MS_PER_DAY)
        .to_rfc3339()
        .and_then(|t| t.get(0..10).map(|d| d.replace('-', "")))
        .unwrap_or_else(|| format!("day{day}"));
    format!("decisions_{date}")
}

impl LedgerStore for PgStore {
    fn budgets_used(&self, tenant_id: &str) -> Result<HashMap<String, u64>> {
        self.run(async {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT offer_id, sum(used)::bigint FROM offer_budgets WHERE tenant_id = $1 GROUP BY offer_id",
                    &[&tenant_id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
                .collect())
        })
    }

    fn record_touches(&self, tenant_id: &str, touches: &[TouchRecord]) -> Result<(usize, usize)> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            read_tenant(&tx, tenant_id).await?;
            let counts = insert_touches(&tx, tenant_id, touches).await?;
            tx.commit().await?;
            Ok(counts)
        })
    }

    fn with_ledger(
        &self,
        tenant_id: &str,
        customer_id: &str,
        since: Timestamp,
        budgets: &[String],
        commit: bool,
        decide: &mut dyn FnMut(&Ledger) -> Effects,
    ) -> Result<()> {
        self.run(async {
            let mut client = self.pool.get().await?;
            // The id stands for the customer it is linked to, if any.
            let read_touches = client
                .prepare_cached(&format!(
                    "SELECT offer_id, channel, at, class FROM touches
                     WHERE tenant_id = $1 AND customer_id = {RESOLVE} AND at >= $3"
                ))
                .await?;
            let touches_of = |rows: Vec<tokio_postgres::Row>| -> Vec<LedgerTouch> {
                rows.iter()
                    .map(|r| LedgerTouch {
                        offer_id: r.get(0),
                        channel: r.get(1),
                        at: ts(r.get(2)),
                        class: class_of(r.get::<_, &str>(3)),
                    })
                    .collect()
            };
            let offers: BTreeSet<&String> = budgets.iter().collect();
            if !commit {
                // A dry run reads and decides; nothing to lock or record.
                let read_budget = client.prepare_cached(SPENT).await?;
                let mut ledger = Ledger {
                    touches: touches_of(
                        client
                            .query(&read_touches, &[&tenant_id, &customer_id, &since.0])
                            .await?,
                    ),
                    ..Ledger::default()
                };
                for offer in offers {
                    let used = client.query_opt(&read_budget, &[&tenant_id, offer]).await?;
                    ledger.budget_used.insert(offer.clone(), used_of(used));
                }
                decide(&ledger);
                return Ok(());
            }
            let lock = client
                .prepare_cached(&format!(
                    "SELECT held.c FROM (SELECT {RESOLVE} AS c) AS held
                     CROSS JOIN LATERAL pg_advisory_xact_lock(hashtextextended($1 || chr(1) || held.c, 0))"
                ))
                .await?;
            let resolve = client.prepare_cached(&format!("SELECT {RESOLVE}")).await?;
            let tx = client.transaction().await?;
            // Sent together, run in order: the customer's lock, its
            // touches, and whom the id stands for once the lock is held
            // (one round trip).
            let (lock_params, touch_params): (&[&(dyn ToSql + Sync)], &[&(dyn ToSql + Sync)]) =
                (&[&tenant_id, &customer_id], &[&tenant_id, &customer_id, &since.0]);
            let (held, mut touches, resolved) = futures_util::try_join!(
                tx.query_one(&lock, lock_params),
                tx.query(&read_touches, touch_params),
                tx.query_one(&resolve, lock_params),
            )?;
            let mut customer: String = resolved.get(0);
            if held.get::<_, String>(0) != customer {
                // Linked to another customer while this waited: hold that
                // one, and read its touches.
                customer = super::profiles::lock_customer(&tx, tenant_id, customer_id).await?;
                touches = tx.query(&read_touches, touch_params).await?;
            }
            let mut ledger = Ledger {
                touches: touches_of(touches),
                ..Ledger::default()
            };
            if !offers.is_empty() {
                let ensure = tx
                    .prepare_cached(
                        "INSERT INTO offer_budgets (tenant_id, offer_id, shard, used) VALUES ($1, $2, -1, 0)
                         ON CONFLICT (tenant_id, offer_id, shard) DO NOTHING",
                    )
                    .await?;
                let lock_budget = tx
                    .prepare_cached(
                        "SELECT 1 FROM offer_budgets WHERE tenant_id = $1 AND offer_id = $2 AND shard = -1 FOR UPDATE",
                    )
                    .await?;
                let read_budget = tx.prepare_cached(SPENT).await?;
                for offer in offers {
                    // The budget's lock row (shard -1, never spent into)
                    // exists and is held: no other decision budgeting the
                    // offer reads or spends it until this one commits.
                    tx.execute(&ensure, &[&tenant_id, offer]).await?;
                    tx.query_one(&lock_budget, &[&tenant_id, offer]).await?;
                    let used = tx.query_opt(&read_budget, &[&tenant_id, offer]).await?;
                    ledger.budget_used.insert(offer.clone(), used_of(used));
                }
            }
            let mut effects = decide(&ledger);
            if !effects.is_empty() {
                if let Some(claim) = &effects.done {
                    super::timers::consume(&tx, claim).await?;
                }
                for touch in &mut effects.touches {
                    touch.customer_id.clone_from(&customer);
                }
                insert_touches(&tx, tenant_id, &effects.touches).await?;
                let set_by = effects.concluded.as_ref().map_or("", |c| c.decision_id.as_str());
                super::timers::hand_over(&tx, tenant_id, &customer, &effects.deliveries, set_by).await?;
                super::timers::change_timers(&tx, tenant_id, &customer, &effects.timers).await?;
                if let Some(concluded) = &effects.concluded {
                    super::profiles::conclude(&tx, tenant_id, &customer, concluded).await?;
                }
                tx.commit().await?;
            }
            Ok(())
        })
    }
}

/// The customer `$2` stands for in tenant `$1`: the one it is linked to, or
/// itself.
const RESOLVE: &str = "coalesce((SELECT customer_id FROM aliases WHERE tenant_id = $1 AND alias = $2), $2)";

/// How many touches of offer `$2` tenant `$1` has made, over the shards.
const SPENT: &str = "SELECT sum(used)::bigint FROM offer_budgets WHERE tenant_id = $1 AND offer_id = $2";

/// A budget's spend as stored (none: nothing spent).
fn used_of(row: Option<tokio_postgres::Row>) -> u64 {
    row.and_then(|r| r.get::<_, Option<i64>>(0))
        .map_or(0, |n| n.max(0) as u64)
}

impl DecisionLogStore for PgStore {
    fn log_decisions(&self, entries: &[LoggedDecision]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let days: BTreeSet<i64> = entries.iter().map(|e| e.at.0.div_euclid(MS_PER_DAY)).collect();
        let (mut tenants, mut ids, mut ats, mut customers, mut bodies) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for e in entries {
            tenants.push(e.tenant_id.as_str());
            ids.push(e.id.as_str());
            ats.push(e.at.0);
            customers.push(e.customer_id.as_str());
            bodies.push(e.body.as_str());
        }
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            for day in days {
                ensure_partition(&tx, day).await?;
            }
            tx.execute(
                "INSERT INTO decisions (tenant_id, id, at, customer_id, body)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
                 ON CONFLICT (tenant_id, id, at) DO UPDATE SET body = EXCLUDED.body",
                &[&tenants, &ids, &ats, &customers, &bodies],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn logged_decision(&self, tenant_id: &str, id: &str) -> Result<String> {
        let row = self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query_opt(
                    "SELECT body FROM decisions WHERE tenant_id = $1 AND id = $2 LIMIT 1",
                    &[&tenant_id, &id],
                )
                .await?)
        })?;
        let row = row.ok_or_else(|| RegistryError::NotFound(format!("no decision {id:?} (it may have expired)")))?;
        Ok(row.get::<_, String>(0))
    }

    fn logged_decisions(
        &self,
        tenant_id: &str,
        customer_id: Option<&str>,
        page_request: &PageRequest,
    ) -> Result<Page<DecisionSummary>> {
        let limit = page_request.limit();
        let before = page_request.after.clone().unwrap_or_else(|| "~".into());
        let rows = self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query(
                    "SELECT id, at, customer_id FROM decisions
                     WHERE tenant_id = $1 AND id < $2 AND ($3::text IS NULL OR customer_id = $3)
                     ORDER BY id DESC LIMIT $4",
                    &[&tenant_id, &before, &customer_id, &(limit as i64 + 1)],
                )
                .await?)
        })?;
        let items = rows
            .iter()
            .map(|r| DecisionSummary {
                id: r.get(0),
                at: ts(r.get(1)),
                customer_id: r.get(2),
            })
            .collect();
        Ok(page(items, limit, |d| d.id.clone()))
    }

    /// Touches and the tenant's decisions past `max_decisions` are deleted;
    /// decisions before `decisions_before` go with the whole days'
    /// partitions that end by then (shared by every tenant: the first
    /// tenant compacted after a day expires counts its rows).
    fn compact(
        &self,
        tenant_id: &str,
        touches_before: Timestamp,
        decisions_before: Timestamp,
        max_decisions: u64,
    ) -> Result<(usize, usize)> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let touches = tx
                .execute(
                    "DELETE FROM touches WHERE tenant_id = $1 AND at < $2",
                    &[&tenant_id, &touches_before.0],
                )
                .await?;
            let mut decisions = tx
                .execute(
                    "DELETE FROM decisions WHERE tenant_id = $1 AND id IN
                     (SELECT id FROM decisions WHERE tenant_id = $1 ORDER BY id DESC OFFSET $2)",
                    &[&tenant_id, &(max_decisions as i64)],
                )
                .await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
                .await?;
            let expired: Vec<String> = tx
                .query(
                    "SELECT c.relname FROM pg_inherits i
                     JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                     WHERE p.relname = 'decisions' AND c.relname ~ '^decisions_[0-9]{8}$'",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|name| partition_end(name).is_some_and(|end| end <= decisions_before.0))
                .collect();
            for name in expired {
                let rows: i64 = tx.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await?.get(0);
                tx.batch_execute(&format!("DROP TABLE {name}")).await?;
                decisions += rows.max(0) as u64;
            }
            tx.commit().await?;
            Ok((touches as usize, decisions as usize))
        })
    }
}

/// When the partition `decisions_YYYYMMDD` ends (ms since the epoch).
fn partition_end(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("decisions_")?;
    let (y, m, d) = (
        digits.get(0..4)?.parse::<i32>().ok()?,
        digits.get(4..6)?.parse::<u8>().ok()?,
        digits.get(6..8)?.parse::<u8>().ok()?,
    );
    let start = Timestamp::parse(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z")).ok()?;
    Some(start.0 + MS_PER_DAY)
}
