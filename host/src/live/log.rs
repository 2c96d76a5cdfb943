//! The decision log as callers see it: one decision, a page of them,
//! replays against the same or another version, retention, and the audit
//! log.

use std::sync::Arc;

use super::decide::{decision_limits, rerun};
use super::{Live, LiveError, Result, Snapshot, read};
use crate::compare::{Failure, Replay};
use serde_json::value::RawValue;

use crate::decision_log::LogRecord;
use crate::engine::Plugin;
use crate::input::{Context, InputLimits};
use crate::model::Timestamp;
use crate::policy::MS_PER_DAY;
use crate::registry::{AuditEntry, DecisionSummary, Page, PageRequest, RegistryError};
use crate::request::Framed;

/// What is left of a logged decision whose customer was erased.
#[derive(serde::Deserialize)]
struct Erased {
    #[serde(default)]
    erased: bool,
}

impl Live {
    /// A logged decision with its full explanation.
    pub async fn logged_decision(&self, tenant: &str, id: &str) -> Result<serde_json::Value> {
        let text = self.logged_text(tenant, id).await?;
        serde_json::from_str(&text)
            .map_err(|e| LiveError::Registry(RegistryError::Storage(format!("corrupt logged decision: {e}"))))
    }

    /// A logged decision's text as stored.
    async fn logged_text(&self, tenant: &str, id: &str) -> Result<String> {
        let (tenant, id, log) = (tenant.to_owned(), id.to_owned(), self.log.clone());
        // A decision just made may still be queued for the writer: if it is
        // not found, flush and look again. Flushing waits for the writer
        // thread: not on the async runtime.
        self.blocking(move |r| match r.logged_decision(&tenant, &id) {
            Err(RegistryError::NotFound(_)) => {
                log.flush();
                r.logged_decision(&tenant, &id)
            }
            found => found,
        })
        .await
    }

    /// Runs a logged decision again: the same plugin versions (or, with
    /// `against`, another version of one of them), the config, catalog and
    /// policy versions it used, its request and what its policy read from
    /// the ledger; nothing is logged or recorded. Decisions are
    /// deterministic, so a replay against its own versions is identical.
    pub async fn replay(&self, tenant: &str, id: &str, against: Option<(String, String)>) -> Result<Replay> {
        // Read from the stored text, so the request's profile and trigger
        // are the bytes that arrived and the replay's input frame is the
        // decision's, byte for byte.
        let text = self.logged_text(tenant, id).await?;
        if serde_json::from_str::<Erased>(&text).is_ok_and(|e| e.erased) {
            return Err(LiveError::Registry(RegistryError::Invalid(format!(
                "decision {id:?} cannot be replayed: its customer was erased, and with it what the decision saw"
            ))));
        }
        let record: LogRecord<Box<RawValue>, Box<RawValue>> = serde_json::from_str(&text).map_err(|e| {
            LiveError::Registry(RegistryError::Invalid(format!(
                "decision {id:?} cannot be replayed: it was logged without what a replay needs ({e})"
            )))
        })?;
        let Some(logged_request) = record.request else {
            return Err(LiveError::Registry(RegistryError::Invalid(format!(
                "decision {id:?} cannot be replayed: it was logged without its request \
                 (the server keeps none while decision_log_requests is false)"
            ))));
        };
        let (snapshot, permit) = self.admit(tenant)?;
        let mut refs = record.plugins.clone();
        if let Some((name, version)) = &against {
            // Like a version that does not exist: a resource the request
            // names is not there.
            let Some(slot) = refs.iter_mut().find(|p| &p.name == name) else {
                return Err(LiveError::Registry(RegistryError::NotFound(format!(
                    "plugin {name:?} did not run in decision {id:?} (it ran {})",
                    record
                        .plugins
                        .iter()
                        .map(|p| format!("{} {}", p.name, p.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))));
            };
            slot.version = version.clone();
        }
        let mut plugins = Vec::with_capacity(refs.len());
        for r in &mut refs {
            let stored = self.version(tenant, &r.name, &r.version).await?;
            r.sha256 = stored.sha256.clone();
            let compiled = self
                .compiled(&stored.sha256, || {
                    format!("{} {} of tenant {tenant}", r.name, r.version)
                })
                .await?;
            plugins.push(Arc::new(
                Plugin::new(compiled, &r.name, &r.version).owned_by(snapshot.owner.clone()),
            ));
        }
        let (t, versions) = (
            tenant.to_owned(),
            (record.config_version, record.offers_version, record.policy_version),
        );
        let (config, offers, policy) = self
            .blocking(move |r| {
                Ok((
                    r.config_at(&t, versions.0)?,
                    r.offers_at(&t, versions.1)?,
                    r.policy_at(&t, versions.2)?,
                ))
            })
            .await?;
        let engine = self.engine.clone();
        let lane_owner = snapshot.owner.clone();
        let limits = decision_limits(&snapshot.tenant.limits);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let context = Context {
                now: record.now,
                seed: record.seed,
                tz_offset_minutes: record.tz_offset_minutes,
                mode: record.mode,
            };
            let replayed = Framed::logged(
                logged_request.profile.get(),
                logged_request.trigger.as_deref().map(RawValue::get),
                context,
                offers.into(),
                &InputLimits::default(),
            )
            .map_err(|e| Failure::from(&e))
            .and_then(|request| {
                rerun(
                    &engine,
                    &engine.lane(lane_owner),
                    &plugins,
                    &request,
                    Arc::new(config),
                    &limits,
                    &policy,
                    record.ledger.as_ref(),
                    &record.decision,
                )
            });
            Replay::of(&record.decision, &replayed, refs)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("replay task: {e}")))
    }

    /// A page of logged decisions, newest first.
    pub async fn logged_decisions(
        &self,
        tenant: &str,
        customer: Option<String>,
        page: PageRequest,
    ) -> Result<Page<DecisionSummary>> {
        let (tenant, log) = (tenant.to_owned(), self.log.clone());
        self.blocking(move |r| {
            log.flush();
            r.logged_decisions(&tenant, customer.as_deref(), &page)
        })
        .await
    }

    /// Compacts every tenant's ledger past its longest cap window and its
    /// decision log past retention.
    pub async fn compact(&self) -> Result<(usize, usize)> {
        let tenants: Vec<Arc<Snapshot>> = read(&self.tenants).values().map(|s| read(&s.current).clone()).collect();
        let now = Timestamp::now();
        let (mut touches, mut decisions) = (0, 0);
        for snapshot in tenants {
            let id = snapshot.tenant.id.clone();
            // One day more than the window, for touches deferred into it.
            let touches_before = Timestamp(now.0 - (snapshot.policy.ledger_days() + 1) * MS_PER_DAY);
            let decisions_before = Timestamp(now.0 - i64::from(self.settings.decision_log_retention_days) * MS_PER_DAY);
            let max = self.settings.decision_log_max_per_tenant;
            // Taken events past the history profiles keep.
            let events_before = Timestamp(now.0 - i64::from(snapshot.tenant.limits.profile_days) * MS_PER_DAY);
            let (t, d) = self
                .blocking(move |r| {
                    r.compact_intake(&id, events_before)?;
                    r.compact(&id, touches_before, decisions_before, max)
                })
                .await?;
            touches += t;
            decisions += d;
        }
        let outbox_before = Timestamp(now.0 - i64::from(self.settings.outbox_retention_days) * MS_PER_DAY);
        let published_only = self.settings.outbox_published_only;
        let dead_before = Timestamp(now.0 - 7 * MS_PER_DAY);
        self.blocking(move |r| {
            r.compact_dead_letters(dead_before)?;
            r.compact_outbox(outbox_before, published_only)
        })
        .await?;
        Ok((touches, decisions))
    }

    /// Waits until every decision queued for the log so far is written
    /// (blocking: not for the async runtime).
    pub fn flush_log_blocking(&self) {
        self.log.flush();
    }

    /// Decision log entries dropped because the writer fell behind.
    pub fn log_dropped(&self) -> u64 {
        self.log.dropped()
    }

    /// A page of the tenant's audit log.
    pub async fn audit(&self, tenant: &str, page: PageRequest) -> Result<Page<AuditEntry>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.audit(&tenant, &page)).await
    }
}
