//! Following the other hosts of a fleet that share one store: every
//! change a host commits is announced, and each host rebuilds the changed
//! tenant's snapshot (and its keys) from what is committed. Announcements
//! can be lost (a dropped connection): a host also checks every tenant's
//! change counter against what it has followed, when the announcements
//! resume and every `reconcile_interval_ms`, so it never runs a stale
//! version for longer than that. An embedded store has no other hosts:
//! nothing to follow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Live, Result, read};
use crate::registry::{Candidate, Notice, Role};

/// What a host has followed so far, and the announcements still to come.
pub struct Follower {
    notices: UnboundedReceiver<Notice>,
    /// Each tenant's change counter as last followed.
    seen: HashMap<String, i64>,
}

impl Live {
    /// Starts listening for other hosts' changes, before the tenants are
    /// loaded (so nothing committed meanwhile is missed); `None` if the
    /// store is this host's alone.
    pub async fn listen(&self) -> Result<Option<Follower>> {
        if !self.registry.shared() {
            return Ok(None);
        }
        let Some(notices) = self.registry.watch() else {
            return Ok(None);
        };
        let seen = self.blocking(|r| r.change_counters()).await?;
        Ok(Some(Follower { notices, seen }))
    }

    /// Follows the fleet until the store stops announcing: rebuilds a
    /// tenant when another host changes it, and reconciles against the
    /// change counters every `every` and whenever announcements resume.
    pub async fn follow(self: Arc<Self>, mut follower: Follower, every: Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                notice = follower.notices.recv() => match notice {
                    Some(Notice::Changed { tenant, counter }) => {
                        if follower.seen.get(&tenant).is_some_and(|&seen| seen >= counter) {
                            continue;
                        }
                        if self.catch_up(&tenant).await {
                            follower.seen.insert(tenant, counter);
                        }
                    }
                    Some(Notice::Resumed) => {
                        tracing::info!("listening for changes again: checking every tenant");
                        self.reconcile(&mut follower.seen).await;
                    }
                    None => {
                        tracing::error!("the store stopped announcing changes; following by the counters only");
                        break;
                    }
                },
                _ = tick.tick() => self.reconcile(&mut follower.seen).await,
            }
        }
        loop {
            tick.tick().await;
            self.reconcile(&mut follower.seen).await;
        }
    }

    /// Rebuilds every tenant whose change counter moved since it was last
    /// followed.
    async fn reconcile(&self, seen: &mut HashMap<String, i64>) {
        let counters = match self.blocking(|r| r.change_counters()).await {
            Ok(counters) => counters,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change counters; trying again at the next interval");
                return;
            }
        };
        for (tenant, counter) in counters {
            if seen.get(&tenant) != Some(&counter) && self.catch_up(&tenant).await {
                tracing::info!(tenant, counter, "caught up with a change another host made");
                seen.insert(tenant, counter);
            }
        }
    }

    /// Rebuilds one tenant (known or new to this host) and reloads the
    /// keys; whether it worked (if not, the next reconcile tries again).
    async fn catch_up(&self, tenant: &str) -> bool {
        let rebuilt = async {
            self.refresh_keys().await?;
            let known = read(&self.tenants).contains_key(tenant);
            if known {
                let _guard = self.write_lock(tenant).await?;
                self.rebuild(tenant).await
            } else {
                self.rebuild(tenant).await
            }
        };
        match rebuilt.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "cannot catch up with another host's change yet");
                false
            }
        }
    }

    /// Takes the fleet's lease on work that must run once per `every`
    /// (compaction): whether this host does it this time.
    pub async fn take_lease(&self, name: &'static str, every: Duration) -> Result<bool> {
        let host = self.host.clone();
        self.blocking(move |r| r.take_lease(name, &host, every)).await
    }
}

/// Where an attachment's counts are kept in a shared store: its role,
/// tenant, slot, version and when it was attached (a new attachment
/// counts afresh).
fn counts_key(tenant: &str, role: Role, candidate: &Candidate) -> String {
    format!(
        "{}:{tenant}:{}:{}@{}:{}",
        role.as_str(),
        candidate.slot,
        candidate.name,
        candidate.version,
        candidate.since.0
    )
}

impl Live {
    /// Publishes this host's shadow and canary counts, every `every`,
    /// those that changed: any host's report adds up every host's.
    pub async fn publish_counts(self: Arc<Self>, every: Duration) {
        let mut published: HashMap<String, String> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let snapshots: Vec<_> = read(&self.tenants).values().map(|s| read(&s.current).clone()).collect();
            let mut due = Vec::new();
            for snapshot in snapshots {
                let tenant = &snapshot.tenant.id;
                for canary in &snapshot.canaries {
                    due.push((
                        counts_key(tenant, Role::Canary, &canary.candidate),
                        serde_json::to_string(&canary.status()),
                    ));
                }
                for shadow in &snapshot.shadows {
                    due.push((
                        counts_key(tenant, Role::Shadow, &shadow.shadow),
                        serde_json::to_string(&shadow.status(&snapshot.policy, &HashMap::new())),
                    ));
                }
            }
            for (key, body) in due {
                let Ok(body) = body else { continue };
                if published.get(&key) == Some(&body) {
                    continue;
                }
                let (k, b, host) = (key.clone(), body.clone(), self.host.clone());
                match self.blocking(move |r| r.put_counts(&k, &host, &b)).await {
                    Ok(()) => {
                        published.insert(key, body);
                    }
                    Err(e) => tracing::warn!(key, error = %e, "cannot publish this host's counts"),
                }
            }
        }
    }

    /// Other hosts' counts of an attachment (none with an unshared store);
    /// a body that does not read is skipped, and logged.
    pub(super) async fn fleet_counts<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &str,
        role: Role,
        candidate: &Candidate,
    ) -> Result<Vec<T>> {
        if !self.registry.shared() {
            return Ok(Vec::new());
        }
        let (key, host) = (counts_key(tenant, role, candidate), self.host.clone());
        let bodies = self.blocking(move |r| r.counts(&key, &host)).await?;
        Ok(bodies
            .into_iter()
            .filter_map(|(host, body)| match serde_json::from_str(&body) {
                Ok(counts) => Some(counts),
                Err(e) => {
                    tracing::warn!(host, error = %e, "skipping another host's counts that do not read");
                    None
                }
            })
            .collect())
    }
}
