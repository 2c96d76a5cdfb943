//! Building a tenant's snapshot from what the store has committed: its
//! pipeline's plugins, its shadows and canaries, and the compiled code they
//! share.

use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

use super::{Live, Result, Snapshot, TenantState, read, write};
use crate::canary::{CanaryCounts, CanaryRun};
use crate::compare::ArmSummary;
use crate::engine::Plugin;
use crate::registry::{Candidate, Role, Slot};
use crate::shadow::ShadowRun;

impl Live {
    /// Rebuilds a tenant's snapshot from the registry and swaps it in. If
    /// an active plugin cannot be loaded the snapshot is swapped in marked
    /// unavailable (and the reason logged): the registry has the last word,
    /// and an old snapshot must not go on running what it no longer says.
    pub(super) async fn rebuild(&self, tenant_id: &str) -> Result<()> {
        let id = tenant_id.to_owned();
        let (
            tenant,
            (config_version, config),
            (offers_version, offers),
            ((policy_version, policy), (triggers_version, triggers)),
            slots,
            shadows,
        ) = self
            .blocking(move |r| {
                Ok((
                    r.tenant(&id)?,
                    r.config(&id)?,
                    r.offers(&id)?,
                    (r.policy(&id)?, r.triggers(&id)?),
                    r.pipeline(&id)?,
                    (r.candidates(&id, Role::Shadow)?, r.candidates(&id, Role::Canary)?),
                ))
            })
            .await?;
        let owner: Arc<str> = Arc::from(tenant_id);
        let mut plugins = Vec::new();
        let mut unavailable = None;
        for slot in &slots {
            if let Some(active) = &slot.active {
                match self
                    .compiled(&active.sha256, || {
                        format!("{} {} of tenant {tenant_id}", active.name, active.version)
                    })
                    .await
                {
                    Ok(compiled) => plugins.push(Arc::new(
                        Plugin::new(compiled, &active.name, &active.version).owned_by(owner.clone()),
                    )),
                    Err(e) => {
                        tracing::error!(
                            tenant = tenant_id,
                            slot = slot.slot,
                            plugin = active.name,
                            version = active.version,
                            error = %e,
                            "cannot load an active plugin; the tenant is unavailable until it is repaired"
                        );
                        unavailable = Some(format!(
                            "slot {:?} runs {} {}, which cannot be loaded: {e}",
                            slot.slot, active.name, active.version
                        ));
                        plugins.clear();
                        break;
                    }
                }
            }
        }
        let (shadows, canaries) = if unavailable.is_none() {
            let (shadows, canaries) = shadows;
            (
                self.shadow_runs(tenant_id, &owner, &slots, &plugins, shadows).await,
                self.canary_runs(tenant_id, &owner, &slots, canaries).await,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let previous = read(&self.tenants).get(tenant_id).cloned();
        let max = tenant.limits.max_concurrent_decisions;
        let permits = match &previous {
            Some(state) => {
                let old = read(&state.current).clone();
                if old.tenant.limits.max_concurrent_decisions == max {
                    old.permits.clone()
                } else {
                    Arc::new(Semaphore::new(max as usize))
                }
            }
            None => Arc::new(Semaphore::new(max as usize)),
        };
        let snapshot = Arc::new(Snapshot {
            tenant,
            config: Arc::new(config),
            config_version,
            offers: offers.into(),
            offers_version,
            policy: Arc::new(policy),
            policy_version,
            triggers: Arc::new(triggers),
            triggers_version,
            slots,
            owner,
            plugins,
            shadows,
            canaries,
            unavailable,
            permits,
        });
        match previous {
            Some(state) => *write(&state.current) = snapshot,
            None => {
                write(&self.tenants).insert(
                    tenant_id.to_owned(),
                    Arc::new(TenantState {
                        current: RwLock::new(snapshot),
                        writes: Arc::new(tokio::sync::Mutex::new(())),
                    }),
                );
            }
        }
        self.prune_compiled();
        Ok(())
    }

    /// The runs of a tenant's shadows: each the active pipeline with its
    /// candidate in its slot. A candidate that cannot be loaded is left out
    /// (and logged); live decisions go on.
    pub(super) async fn shadow_runs(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        plugins: &[Arc<Plugin>],
        shadows: Vec<Candidate>,
    ) -> Vec<Arc<ShadowRun>> {
        self.shadows.retain(tenant_id, &shadows);
        let baseline = ArmSummary::of("active".into(), plugins);
        let mut runs = Vec::new();
        for shadow in shadows {
            if let Some((at, plugin)) = self
                .load_candidate(tenant_id, owner, slots, Role::Shadow, &shadow)
                .await
            {
                let mut candidate = plugins.to_vec();
                candidate[at] = plugin;
                runs.push(self.shadows.run(tenant_id, shadow, candidate, baseline.clone()));
            }
        }
        runs
    }

    /// The runs of a tenant's canaries.
    pub(super) async fn canary_runs(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        canaries: Vec<Candidate>,
    ) -> Vec<CanaryRun> {
        self.canary_counts.retain(tenant_id, &canaries);
        let mut runs = Vec::new();
        for canary in canaries {
            let active = slots
                .iter()
                .find(|s| s.slot == canary.slot)
                .and_then(|s| s.active.as_ref())
                .map(|a| a.version.clone())
                .unwrap_or_default();
            if let Some((at, plugin)) = self
                .load_candidate(tenant_id, owner, slots, Role::Canary, &canary)
                .await
            {
                let counts = self.canary_counts.get(tenant_id, &canary, CanaryCounts::default);
                runs.push(CanaryRun::new(canary, at, plugin, active, counts));
            }
        }
        runs
    }

    /// A candidate's place among the plugins that run and its plugin; a
    /// candidate that cannot be loaded is left out (and logged), and live
    /// decisions go on without it.
    pub(super) async fn load_candidate(
        &self,
        tenant_id: &str,
        owner: &Arc<str>,
        slots: &[Slot],
        role: Role,
        candidate: &Candidate,
    ) -> Option<(usize, Arc<Plugin>)> {
        let at = slots
            .iter()
            .filter(|s| s.active.is_some())
            .position(|s| s.slot == candidate.slot)?;
        let loaded = match self.version(tenant_id, &candidate.name, &candidate.version).await {
            Ok(record) => {
                self.compiled(&record.sha256, || {
                    format!("{} {} of tenant {tenant_id}", candidate.name, candidate.version)
                })
                .await
            }
            Err(e) => Err(e),
        };
        match loaded {
            Ok(compiled) => Some((
                at,
                Arc::new(Plugin::new(compiled, &candidate.name, &candidate.version).owned_by(owner.clone())),
            )),
            Err(e) => {
                tracing::error!(
                    tenant = tenant_id,
                    slot = candidate.slot,
                    plugin = candidate.name,
                    version = candidate.version,
                    error = %e,
                    "cannot load a {} candidate; it does not run",
                    role.as_str()
                );
                None
            }
        }
    }

    /// Forgets compiled versions nobody holds any more.
    pub(super) fn prune_compiled(&self) -> usize {
        let held = self.compiler.prune();
        self.metrics.set_versions(held);
        held
    }

    /// Brings the load gauges up to date: lanes held and waited for, and
    /// decisions admitted but not finished (all tenants). Returns the last.
    pub fn refresh_load(&self) -> usize {
        let in_flight = read(&self.tenants)
            .values()
            .map(|state| {
                let snapshot = read(&state.current);
                (snapshot.tenant.limits.max_concurrent_decisions as usize)
                    .saturating_sub(snapshot.permits.available_permits())
            })
            .sum();
        let (lanes, waiting) = self.engine.lane_load();
        self.metrics.set_load(lanes, waiting, in_flight);
        in_flight
    }

    /// The number of compiled versions held in memory.
    pub fn compiled_in_memory(&self) -> usize {
        self.prune_compiled()
    }
}
