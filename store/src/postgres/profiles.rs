//! Kept profiles in PostgreSQL: the steps of taking events in (each a
//! statement over the whole batch), a customer's page, what a committed
//! decision leaves, and erasure.
//!
//! Events of one customer are taken in under the advisory lock a
//! committing decision for that customer takes (tenant and customer), so
//! hosts taking events and deciding for one customer take turns.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{GenericClient, Transaction};

use super::{PgStore, Shared, now, read_tenant, ts};
use crate::profiles::{IntakeRow, IntakeTx, pseudonym, stage_changed, take};
use crate::{
    Alias, Concluded, CustomerRecord, DeadLetter, Erasure, Fold, ProfileStore, RegistryError, Result, StageChange,
    StoredProfile, Taken, TimerChange, TouchRecord,
};
use rulehost_model::Timestamp;
use rulehost_model::events::EventIn;

/// The advisory lock of a tenant's customer (the ledger's lock).
const LOCK_CUSTOMER: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 0))";

/// The customer `id` stands for: the one it is linked to, or itself.
pub(super) async fn canonical(client: &impl GenericClient, tenant_id: &str, id: &str) -> Result<String> {
    let linked = client
        .query_opt(
            "SELECT customer_id FROM aliases WHERE tenant_id = $1 AND alias = $2",
            &[&tenant_id, &id],
        )
        .await?;
    Ok(linked.map_or_else(|| id.to_owned(), |r| r.get(0)))
}

/// Holds the customer `id` stands for until the transaction ends; returns
/// it (resolved again once held, in case it was linked meanwhile).
pub(super) async fn lock_customer(tx: &Transaction<'_>, tenant_id: &str, id: &str) -> Result<String> {
    let mut customer = canonical(tx, tenant_id, id).await?;
    loop {
        tx.execute(LOCK_CUSTOMER, &[&tenant_id, &customer]).await?;
        let now = canonical(tx, tenant_id, id).await?;
        if now == customer {
            return Ok(customer);
        }
        customer = now;
    }
}

/// Keeps a committed decision's conclusions with the customer's profile,
/// if one is kept, and its stage change in the history.
pub(super) async fn conclude(
    tx: &Transaction<'_>,
    tenant_id: &str,
    customer: &str,
    concluded: &Concluded,
) -> Result<()> {
    let kept = tx
        .execute(
            "UPDATE profiles SET prior = $3 WHERE tenant_id = $1 AND customer_id = $2",
            &[&tenant_id, &customer, &concluded.findings],
        )
        .await?;
    if kept == 0 {
        return Ok(());
    }
    let last: Option<String> = tx
        .query_opt(
            "SELECT to_stage FROM stages WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at DESC, ctid DESC LIMIT 1",
            &[&tenant_id, &customer],
        )
        .await?
        .map(|r| r.get(0));
    if let Some(change) = stage_changed(last.as_deref(), concluded) {
        tx.execute(
            "INSERT INTO stages (tenant_id, customer_id, at, from_stage, to_stage, decision_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &tenant_id,
                &customer,
                &change.at.0,
                &change.from,
                &change.to,
                &change.decision_id,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Taking events in, one statement per step, inside one transaction.
struct Intake<'t, 'c> {
    store: &'t Shared,
    tx: &'t Transaction<'c>,
    tenant_id: &'t str,
    now: i64,
}

impl IntakeTx for Intake<'_, '_> {
    fn canonical(&mut self, ids: &[&str]) -> Result<HashMap<String, String>> {
        self.store.run(async {
            let rows = self
                .tx
                .query(
                    "SELECT alias, customer_id FROM aliases WHERE tenant_id = $1 AND alias = ANY($2)",
                    &[&self.tenant_id, &ids],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn lock(&mut self, customers: &[&str]) -> Result<()> {
        let mut sorted = customers.to_vec();
        sorted.sort_unstable();
        self.store.run(async {
            self.tx
                .query(
                    "SELECT count(pg_advisory_xact_lock(hashtextextended($1 || chr(1) || c, 0)))
                     FROM (SELECT c FROM unnest($2::text[]) AS c ORDER BY c) AS held",
                    &[&self.tenant_id, &sorted],
                )
                .await?;
            Ok(())
        })
    }

    fn record(&mut self, rows: &[IntakeRow<'_>]) -> Result<HashSet<String>> {
        let ids: Vec<&str> = rows.iter().map(|r| r.event_id).collect();
        let customers: Vec<&str> = rows.iter().map(|r| r.customer_id).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        let ats: Vec<i64> = rows.iter().map(|r| r.at).collect();
        let amounts: Vec<Option<i64>> = rows.iter().map(|r| r.amount_minor).collect();
        self.store.run(async {
            let new = self
                .tx
                .query(
                    "INSERT INTO intake (tenant_id, event_id, customer_id, kind, at, amount_minor, taken_at)
                     SELECT $1, e, c, k, a, m, $7
                     FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS u(e, c, k, a, m)
                     ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id",
                    &[&self.tenant_id, &ids, &customers, &kinds, &ats, &amounts, &self.now],
                )
                .await?;
            Ok(new.iter().map(|r| r.get(0)).collect())
        })
    }

    fn kept(&mut self, customers: &[&str]) -> Result<HashMap<String, Vec<u8>>> {
        self.store.run(async {
            let rows = self
                .tx
                .query(
                    "SELECT customer_id, kept FROM profiles WHERE tenant_id = $1 AND customer_id = ANY($2)",
                    &[&self.tenant_id, &customers],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn save(&mut self, profiles: &[(String, Vec<u8>)]) -> Result<()> {
        let customers: Vec<&str> = profiles.iter().map(|(c, _)| c.as_str()).collect();
        let kept: Vec<&[u8]> = profiles.iter().map(|(_, k)| k.as_slice()).collect();
        self.store.run(async {
            self.tx
                .execute(
                    "INSERT INTO profiles (tenant_id, customer_id, kept, created_at, updated_at)
                     SELECT $1, c, k, $4, $4 FROM unnest($2::text[], $3::bytea[]) AS u(c, k)
                     ON CONFLICT (tenant_id, customer_id) DO UPDATE SET kept = EXCLUDED.kept, updated_at = EXCLUDED.updated_at",
                    &[&self.tenant_id, &customers, &kept, &self.now],
                )
                .await?;
            Ok(())
        })
    }

    fn remove(&mut self, customer: &str) -> Result<()> {
        self.store.run(async {
            self.tx
                .execute(
                    "DELETE FROM profiles WHERE tenant_id = $1 AND customer_id = $2",
                    &[&self.tenant_id, &customer],
                )
                .await?;
            Ok(())
        })
    }

    fn link(&mut self, alias: &str, customer: &str, event_id: &str) -> Result<()> {
        self.store.run(async {
            self.tx
                .execute(
                    "UPDATE aliases SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2",
                    &[&self.tenant_id, &alias, &customer],
                )
                .await?;
            self.tx
                .execute(
                    "INSERT INTO aliases (tenant_id, alias, customer_id, event_id, linked_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant_id, alias) DO UPDATE SET customer_id = EXCLUDED.customer_id",
                    &[&self.tenant_id, &alias, &customer, &event_id, &self.now],
                )
                .await?;
            Ok(())
        })
    }

    fn rekey(&mut self, from: &str, to: &str) -> Result<()> {
        self.store.run(async {
            for table in ["touches", "decisions", "intake", "stages"] {
                self.tx
                    .execute(
                        &format!("UPDATE {table} SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2"),
                        &[&self.tenant_id, &from, &to],
                    )
                    .await?;
            }
            super::timers::rekey(self.tx, self.tenant_id, from, to).await
        })
    }

    fn schedule(&mut self, timers: &[(String, TimerChange)]) -> Result<()> {
        self.store.run(async {
            for (customer, change) in timers {
                super::timers::change_timers(self.tx, self.tenant_id, customer, std::slice::from_ref(change)).await?;
            }
            Ok(())
        })
    }
}

async fn stored_profile(client: &impl GenericClient, tenant_id: &str, customer: &str) -> Result<Option<StoredProfile>> {
    let row = client
        .query_opt(
            "SELECT kept, prior, updated_at FROM profiles WHERE tenant_id = $1 AND customer_id = $2",
            &[&tenant_id, &customer],
        )
        .await?;
    Ok(row.map(|r| StoredProfile {
        customer_id: customer.to_owned(),
        kept: r.get(0),
        prior: r.get(1),
        updated_at: ts(r.get(2)),
    }))
}

impl ProfileStore for PgStore {
    fn take_events(&self, tenant_id: &str, events: &[EventIn], fold: &dyn Fold) -> Result<Vec<Taken>> {
        let mut client = self.run(async { Ok(self.pool.get().await?) })?;
        let tx = self.run(async { Ok(client.transaction().await?) })?;
        self.run(read_tenant(&tx, tenant_id))?;
        let taken = take(
            &mut Intake {
                store: self,
                tx: &tx,
                tenant_id,
                now: now(),
            },
            events,
            fold,
        )?;
        self.run(async { Ok(tx.commit().await?) })?;
        Ok(taken)
    }

    fn stored_profile(&self, tenant_id: &str, id: &str) -> Result<Option<StoredProfile>> {
        self.run(async {
            let client = self.pool.get().await?;
            let customer = canonical(&client, tenant_id, id).await?;
            stored_profile(&client, tenant_id, &customer).await
        })
    }

    fn customer(&self, tenant_id: &str, id: &str) -> Result<Option<CustomerRecord>> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.build_transaction().read_only(true).start().await?;
            let customer = canonical(&tx, tenant_id, id).await?;
            let Some(profile) = stored_profile(&tx, tenant_id, &customer).await? else {
                return Ok(None);
            };
            let aliases = tx
                .query(
                    "SELECT alias, event_id, linked_at FROM aliases WHERE tenant_id = $1 AND customer_id = $2
                     ORDER BY linked_at, alias",
                    &[&tenant_id, &customer],
                )
                .await?
                .iter()
                .map(|r| Alias {
                    id: r.get(0),
                    event_id: r.get(1),
                    linked_at: ts(r.get(2)),
                })
                .collect();
            let mut stages: Vec<StageChange> = tx
                .query(
                    "SELECT at, from_stage, to_stage, decision_id FROM stages WHERE tenant_id = $1 AND customer_id = $2
                     ORDER BY at DESC, ctid DESC LIMIT 100",
                    &[&tenant_id, &customer],
                )
                .await?
                .iter()
                .map(|r| StageChange {
                    at: ts(r.get(0)),
                    from: r.get(1),
                    to: r.get(2),
                    decision_id: r.get(3),
                })
                .collect();
            stages.reverse();
            let touches = tx
                .query(
                    "SELECT id, offer_id, channel, class, at, decision_id FROM touches
                     WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at DESC, id DESC LIMIT 100",
                    &[&tenant_id, &customer],
                )
                .await?
                .iter()
                .map(|r| TouchRecord {
                    id: r.get(0),
                    customer_id: customer.clone(),
                    offer_id: r.get(1),
                    channel: r.get(2),
                    class: super::ledger::class_of(r.get::<_, &str>(3)),
                    at: ts(r.get(4)),
                    decision_id: r.get(5),
                })
                .collect();
            tx.commit().await?;
            Ok(Some(CustomerRecord {
                profile,
                aliases,
                stages,
                touches,
            }))
        })
    }

    fn compact_intake(&self, tenant_id: &str, before: Timestamp) -> Result<usize> {
        self.run(async {
            let removed = self
                .pool
                .get()
                .await?
                .execute(
                    "DELETE FROM intake WHERE tenant_id = $1 AND at < $2",
                    &[&tenant_id, &before.0],
                )
                .await?;
            Ok(removed as usize)
        })
    }

    fn record_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        self.run(async {
            self.pool
                .get()
                .await?
                .execute(
                    "INSERT INTO dead_letters (tenant_id, at, subject, reason, excerpt) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &letter.tenant_id,
                        &letter.at.0,
                        &letter.subject,
                        &letter.reason,
                        &letter.excerpt,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn dead_letters(&self, tenant_id: &str, limit: usize) -> Result<(u64, Vec<DeadLetter>)> {
        self.run(async {
            let client = self.pool.get().await?;
            let count: i64 = client
                .query_one("SELECT count(*) FROM dead_letters WHERE tenant_id = $1", &[&tenant_id])
                .await?
                .get(0);
            let newest = client
                .query(
                    "SELECT tenant_id, at, subject, reason, excerpt FROM dead_letters WHERE tenant_id = $1
                     ORDER BY at DESC, ctid DESC LIMIT $2",
                    &[&tenant_id, &(limit as i64)],
                )
                .await?
                .iter()
                .map(|r| DeadLetter {
                    tenant_id: r.get(0),
                    at: ts(r.get(1)),
                    subject: r.get(2),
                    reason: r.get(3),
                    excerpt: r.get(4),
                })
                .collect();
            Ok((count.max(0) as u64, newest))
        })
    }

    fn compact_dead_letters(&self, before: Timestamp) -> Result<usize> {
        self.run(async {
            let removed = self
                .pool
                .get()
                .await?
                .execute("DELETE FROM dead_letters WHERE at < $1", &[&before.0])
                .await?;
            Ok(removed as usize)
        })
    }

    fn erase_customer(&self, actor: &str, tenant_id: &str, id: &str) -> Result<Erasure> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            read_tenant(&tx, tenant_id).await?;
            let customer = lock_customer(&tx, tenant_id, id).await?;
            let mut ids: Vec<String> = tx
                .query(
                    "DELETE FROM aliases WHERE tenant_id = $1 AND customer_id = $2 RETURNING alias",
                    &[&tenant_id, &customer],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            ids.push(customer.clone());
            let profiles = tx
                .execute(
                    "DELETE FROM profiles WHERE tenant_id = $1 AND customer_id = $2",
                    &[&tenant_id, &customer],
                )
                .await?;
            let events = tx
                .execute(
                    "DELETE FROM intake WHERE tenant_id = $1 AND customer_id = $2",
                    &[&tenant_id, &customer],
                )
                .await?;
            if profiles == 0 && events == 0 && ids.len() == 1 {
                return Err(RegistryError::NotFound(format!(
                    "tenant {tenant_id:?} keeps no customer {id:?}"
                )));
            }
            tx.execute(
                "DELETE FROM stages WHERE tenant_id = $1 AND customer_id = $2",
                &[&tenant_id, &customer],
            )
            .await?;
            let pending = super::timers::erase(&tx, tenant_id, &customer).await?;
            let pseudonym = pseudonym();
            let touches = tx
                .execute(
                    "UPDATE touches SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = ANY($2)",
                    &[&tenant_id, &ids, &pseudonym],
                )
                .await?;
            let decisions = tx
                .execute(
                    "UPDATE decisions SET customer_id = $3, body = json_build_object('id', id, 'erased', true)::text
                     WHERE tenant_id = $1 AND customer_id = ANY($2)",
                    &[&tenant_id, &ids, &pseudonym],
                )
                .await?;
            let erasure = Erasure {
                pseudonym,
                ids: ids.len(),
                events: events as usize,
                touches: touches as usize,
                decisions: decisions as usize,
                pending,
            };
            // Audited, but not announced: no host's snapshot changes.
            tx.execute(
                "INSERT INTO audit (tenant_id, at, actor, action, detail) VALUES ($1, $2, $3, 'customer.erase', $4)",
                &[
                    &tenant_id,
                    &now(),
                    &actor,
                    &serde_json::to_value(&erasure).unwrap_or_default().to_string(),
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(erasure)
        })
    }
}
