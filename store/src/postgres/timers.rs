//! Timers and the outbox in PostgreSQL, shared by a fleet.
//!
//! Due timers are claimed with `FOR UPDATE SKIP LOCKED` (hosts claiming at
//! once take different rows) under a fresh token and a short lease, which
//! the holder renews while it works; a timer whose holder died is claimed
//! again once its lease runs out. The outbox is numbered by one sequencer
//! at a time (an advisory lock), after every number given before, so the
//! pull feed's cursor never passes an entry committed late.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::profiles::canonical;
use super::{PgStore, now, ts};
use crate::timers::{OutboxEntry, OutboxStore, Outgoing, Timer, TimerChange, TimerKind, TimerStore};
use crate::{Result, claim_lost};
use rulehost_model::Timestamp;

/// The key of the advisory lock the outbox's sequencer holds.
const SEQUENCER_LOCK: i64 = 0x7275_6c65_6f75_7462; // "ruleoutb"

const TIMER_COLUMNS: &str = "tenant_id, customer_id, kind, key, due_at, body, set_at, set_by, claim, attempts";

fn timer_row(r: &Row) -> Timer {
    Timer {
        tenant_id: r.get(0),
        customer_id: r.get(1),
        kind: TimerKind::parse(r.get::<_, &str>(2)).unwrap_or(TimerKind::Wake),
        key: r.get(3),
        due_at: ts(r.get(4)),
        body: r.get(5),
        set_at: ts(r.get(6)),
        set_by: r.get(7),
        claim: r.get(8),
        attempts: r.get::<_, i32>(9).max(0) as u32,
    }
}

/// Sets or clears a customer's timers, inside a change's transaction.
pub(super) async fn change_timers(
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
                tx.execute(
                    "INSERT INTO timers (tenant_id, customer_id, kind, key, due_at, body, set_at, set_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (tenant_id, customer_id, kind, key) DO UPDATE SET due_at = EXCLUDED.due_at,
                       body = EXCLUDED.body, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by,
                       claim = NULL, lease_until = NULL, attempts = 0",
                    &[
                        &tenant_id,
                        &customer,
                        &kind.as_str(),
                        key,
                        &due_at.0,
                        body,
                        &now(),
                        set_by,
                    ],
                )
                .await?;
            }
            TimerChange::Clear { kind, key } => {
                tx.execute(
                    "DELETE FROM timers WHERE tenant_id = $1 AND customer_id = $2 AND kind = $3 AND key = $4",
                    &[&tenant_id, &customer, &kind.as_str(), key],
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Consumes a claimed timer, or refuses if its claim was lost.
pub(super) async fn consume(tx: &Transaction<'_>, claim: &str) -> Result<()> {
    if tx.execute("DELETE FROM timers WHERE claim = $1", &[&claim]).await? == 0 {
        return Err(claim_lost(claim));
    }
    Ok(())
}

/// Hands touches to the outbox: due ones at once, later ones as timers.
pub(super) async fn hand_over(
    tx: &Transaction<'_>,
    tenant_id: &str,
    customer: &str,
    deliveries: &[Outgoing],
    set_by: &str,
) -> Result<()> {
    let at = now();
    for d in deliveries {
        if d.send_at.0 <= at {
            tx.execute(
                "INSERT INTO outbox (tenant_id, touch_id, customer_id, body, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, touch_id) DO NOTHING",
                &[&tenant_id, &d.touch_id, &customer, &d.body, &at],
            )
            .await?;
        } else {
            let later = TimerChange::Set {
                kind: TimerKind::Touch,
                key: d.touch_id.clone(),
                due_at: d.send_at,
                body: d.body.clone(),
                set_by: set_by.to_owned(),
            };
            change_timers(tx, tenant_id, customer, std::slice::from_ref(&later)).await?;
        }
    }
    Ok(())
}

/// Moves a customer's timers and outbox entries to the customer that
/// absorbed it (a timer of the same kind and key there stays).
pub(super) async fn rekey(tx: &Transaction<'_>, tenant_id: &str, from: &str, to: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM timers t WHERE t.tenant_id = $1 AND t.customer_id = $2 AND EXISTS
         (SELECT 1 FROM timers u WHERE u.tenant_id = $1 AND u.customer_id = $3 AND u.kind = t.kind AND u.key = t.key)",
        &[&tenant_id, &from, &to],
    )
    .await?;
    for table in ["timers", "outbox"] {
        tx.execute(
            &format!("UPDATE {table} SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2"),
            &[&tenant_id, &from, &to],
        )
        .await?;
    }
    Ok(())
}

/// Removes an erased customer's timers and outbox entries; returns how
/// many.
pub(super) async fn erase(tx: &Transaction<'_>, tenant_id: &str, customer: &str) -> Result<usize> {
    let mut removed = 0;
    for table in ["timers", "outbox"] {
        removed += tx
            .execute(
                &format!("DELETE FROM {table} WHERE tenant_id = $1 AND customer_id = $2"),
                &[&tenant_id, &customer],
            )
            .await?;
    }
    Ok(removed as usize)
}

impl TimerStore for PgStore {
    fn claim_timers(&self, now: Timestamp, lease_until: Timestamp, max: usize) -> Result<Vec<Timer>> {
        self.run(async {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    &format!(
                        "WITH due AS (
                           SELECT tenant_id, customer_id, kind, key FROM timers
                           WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                           ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                         UPDATE timers t SET claim = gen_random_uuid()::text, lease_until = $2 FROM due
                         WHERE t.tenant_id = due.tenant_id AND t.customer_id = due.customer_id
                           AND t.kind = due.kind AND t.key = due.key
                         RETURNING {}",
                        TIMER_COLUMNS
                            .split(", ")
                            .map(|c| format!("t.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    &[&now.0, &lease_until.0, &(max as i64)],
                )
                .await?;
            let mut timers: Vec<Timer> = rows.iter().map(timer_row).collect();
            timers.sort_by_key(|t| t.due_at);
            Ok(timers)
        })
    }

    fn renew_claims(&self, claims: &[String], lease_until: Timestamp) -> Result<usize> {
        if claims.is_empty() {
            return Ok(0);
        }
        self.run(async {
            let held = self
                .pool
                .get()
                .await?
                .execute(
                    "UPDATE timers SET lease_until = $2 WHERE claim = ANY($1)",
                    &[&claims, &lease_until.0],
                )
                .await?;
            Ok(held as usize)
        })
    }

    fn release_timer(&self, claim: &str, retry_at: Option<Timestamp>) -> Result<()> {
        self.run(async {
            let client = self.pool.get().await?;
            match retry_at {
                Some(at) => {
                    client
                        .execute(
                            "UPDATE timers SET claim = NULL, lease_until = NULL, due_at = $2, attempts = attempts + 1
                             WHERE claim = $1",
                            &[&claim, &at.0],
                        )
                        .await?
                }
                None => client.execute("DELETE FROM timers WHERE claim = $1", &[&claim]).await?,
            };
            Ok(())
        })
    }

    fn deliver_deferred(&self, claim: &str) -> Result<bool> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let Some(timer) = tx
                .query_opt(
                    "DELETE FROM timers WHERE claim = $1 AND kind = 'touch' RETURNING tenant_id, customer_id, key, body",
                    &[&claim],
                )
                .await?
            else {
                return Ok(false);
            };
            tx.execute(
                "INSERT INTO outbox (tenant_id, touch_id, customer_id, body, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, touch_id) DO NOTHING",
                &[
                    &timer.get::<_, &str>(0),
                    &timer.get::<_, &str>(2),
                    &timer.get::<_, &str>(1),
                    &timer.get::<_, &str>(3),
                    &now(),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn next_due(&self) -> Result<Option<Timestamp>> {
        self.run(async {
            let row = self
                .pool
                .get()
                .await?
                .query_one(
                    "SELECT min(due_at) FROM timers WHERE lease_until IS NULL OR lease_until < $1",
                    &[&now()],
                )
                .await?;
            Ok(row.get::<_, Option<i64>>(0).map(ts))
        })
    }

    fn timers_of(&self, tenant_id: &str, id: &str) -> Result<Vec<Timer>> {
        self.run(async {
            let client = self.pool.get().await?;
            let customer = canonical(&client, tenant_id, id).await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {TIMER_COLUMNS} FROM timers WHERE tenant_id = $1 AND customer_id = $2
                         ORDER BY due_at, kind, key"
                    ),
                    &[&tenant_id, &customer],
                )
                .await?;
            Ok(rows.iter().map(timer_row).collect())
        })
    }
}

fn entry_row(r: &Row) -> OutboxEntry {
    OutboxEntry {
        tenant_id: r.get(0),
        touch_id: r.get(1),
        seq: r.get(2),
        body: r.get(3),
    }
}

async fn entries(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<OutboxEntry>> {
    Ok(client.query(sql, params).await?.iter().map(entry_row).collect())
}

impl OutboxStore for PgStore {
    fn sequence_outbox(&self, max: usize) -> Result<usize> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEQUENCER_LOCK])
                .await?;
            let numbered = tx
                .execute(
                    "UPDATE outbox o SET seq = last.seq + waiting.n
                     FROM (SELECT tenant_id, touch_id, row_number() OVER (ORDER BY created_at, touch_id) AS n
                           FROM outbox WHERE seq IS NULL ORDER BY created_at, touch_id LIMIT $1) AS waiting,
                          (SELECT coalesce(max(seq), 0) AS seq FROM outbox) AS last
                     WHERE o.tenant_id = waiting.tenant_id AND o.touch_id = waiting.touch_id",
                    &[&(max as i64)],
                )
                .await?;
            tx.commit().await?;
            Ok(numbered as usize)
        })
    }

    fn outbox(&self, tenant_id: &str, after: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.run(async {
            let client = self.pool.get().await?;
            entries(
                &client,
                "SELECT tenant_id, touch_id, seq, body FROM outbox WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&tenant_id, &after, &(limit as i64)],
            )
            .await
        })
    }

    fn unpublished(&self, max: usize) -> Result<Vec<OutboxEntry>> {
        self.run(async {
            let client = self.pool.get().await?;
            entries(
                &client,
                "SELECT tenant_id, touch_id, seq, body FROM outbox
                 WHERE seq IS NOT NULL AND published_at IS NULL ORDER BY seq LIMIT $1",
                &[&(max as i64)],
            )
            .await
        })
    }

    fn mark_published(&self, entries: &[(String, String)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let (tenants, touches): (Vec<&str>, Vec<&str>) =
            entries.iter().map(|(t, id)| (t.as_str(), id.as_str())).unzip();
        self.run(async {
            self.pool
                .get()
                .await?
                .execute(
                    "UPDATE outbox o SET published_at = $3 FROM unnest($1::text[], $2::text[]) AS p(tenant_id, touch_id)
                     WHERE o.tenant_id = p.tenant_id AND o.touch_id = p.touch_id",
                    &[&tenants, &touches, &now()],
                )
                .await?;
            Ok(())
        })
    }

    fn compact_outbox(&self, before: Timestamp, published_only: bool) -> Result<usize> {
        self.run(async {
            let removed = self
                .pool
                .get()
                .await?
                .execute(
                    "DELETE FROM outbox WHERE created_at < $1 AND seq IS NOT NULL AND (NOT $2 OR published_at IS NOT NULL)",
                    &[&before.0, &published_only],
                )
                .await?;
            Ok(removed as usize)
        })
    }
}
