//! Server-side simulation of a candidate over a tenant's customers, and the
//! stored profile sets it can read.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::decide::decision_limits;
use super::{Caller, Live, LiveError, Result};
use crate::Error;
use crate::compare::{self, ArmSummary};
use crate::engine::Plugin;
use crate::model::Timestamp;
use crate::registry::{Candidate, ProfileSet, RegistryError, SetReader};

impl Live {
    /// Simulates a candidate version of one slot's plugin against what the
    /// tenant runs (its active pipeline, config, catalog, policy and time
    /// zone; budgets as used so far) over customers read from `input`
    /// (NDJSON of profiles or decide requests). Runs on every core, on
    /// lanes of its own next to the tenant's (`{tenant}/simulate`), so live
    /// decisions keep their share; one simulation at a time per server.
    /// Set `cancel` to stop it.
    #[allow(
        clippy::too_many_arguments,
        reason = "the candidate, the run's settings and its input"
    )]
    pub async fn simulate(
        &self,
        tenant: &str,
        slot: &str,
        name: &str,
        version: &str,
        now: Option<Timestamp>,
        samples: usize,
        input: impl std::io::BufRead + Send + 'static,
        cancel: Arc<AtomicBool>,
    ) -> Result<compare::Report> {
        let snapshot = self.snapshot(tenant)?;
        if snapshot.plugins.is_empty() {
            return Err(LiveError::NoPipeline(tenant.to_owned()));
        }
        let Ok(turn) = self.simulating.clone().try_acquire_owned() else {
            return Err(LiveError::Simulating);
        };
        // One at a time across the fleet, too.
        let Some(fleet_turn) = self.blocking(|r| r.hold("simulation")).await? else {
            return Err(LiveError::Simulating);
        };
        let candidate = Candidate {
            slot: slot.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            percent: 100.0,
            since: Timestamp::now(),
        };
        if !snapshot.slots.iter().any(|s| s.slot == slot && s.active.is_some()) {
            return Err(LiveError::Registry(RegistryError::NotFound(format!(
                "slot {slot:?} runs nothing in tenant {tenant:?}"
            ))));
        }
        let record = self.version(tenant, name, version).await?;
        let compiled = self
            .compiled(&record.sha256, || format!("{name} {version} of tenant {tenant}"))
            .await?;
        let at = snapshot
            .slots
            .iter()
            .filter(|s| s.active.is_some())
            .position(|s| s.slot == slot)
            .unwrap_or_default();
        let mut plugins = snapshot.plugins.clone();
        plugins[at] = Arc::new(Plugin::new(compiled, name, version).owned_by(snapshot.owner.clone()));
        let t = tenant.to_owned();
        let budgets_used = self.blocking(move |r| r.budgets_used(&t)).await?;
        let arm = |label: String, plugins: Vec<Arc<Plugin>>| crate::simulate::Arm {
            summary: ArmSummary::of(label, &plugins),
            plugins,
            config: snapshot.config.clone(),
            offers: snapshot.offers.clone(),
            policy: snapshot.policy.clone(),
        };
        let baseline = arm(format!("{tenant} (active)"), snapshot.plugins.clone());
        let candidate_arm = arm(
            format!("{} {} in slot {slot}", candidate.name, candidate.version),
            plugins,
        );
        let setup = crate::simulate::Setup {
            tenant_id: tenant.to_owned(),
            tz_offset_minutes: snapshot.tenant.tz_offset_minutes,
            now,
            limits: decision_limits(&snapshot.tenant.limits),
            samples,
            budgets_used,
            lane_owner: Some(Arc::from(format!("{tenant}/simulate"))),
            cancel,
            max_customers: Some(self.settings.simulate_max_customers),
            ..crate::simulate::Setup::default()
        };
        let engine = self.engine.clone();
        // The turn goes with the run: a cancelled simulation holds it until
        // its threads have stopped.
        tokio::task::spawn_blocking(move || {
            let _turns = (turn, fleet_turn);
            crate::simulate::run(&engine, &baseline, &candidate_arm, &setup, input, |_| {})
        })
        .await
        .map_err(|e| LiveError::Internal(format!("simulation task: {e}")))?
        .map_err(|e| match e {
            crate::simulate::SimulateError::Cancelled => LiveError::Internal("the simulation was cancelled".into()),
            other => LiveError::Engine(Error::InvalidInput(other.to_string())),
        })
    }

    /// Stores the customers read from `input` (NDJSON: one profile or
    /// decide request per line, as for [`Live::simulate`]) as the tenant's
    /// profile set `name`, replacing any set of that name. Every line is
    /// checked first: a bad line, an empty set, or one past
    /// `simulate_max_customers` customers or `profile_set_max_bytes` bytes is
    /// refused naming what is wrong, and the stored set stays as it was.
    pub async fn put_profile_set(
        &self,
        caller: &Caller,
        tenant: &str,
        name: &str,
        input: impl std::io::BufRead + Send + 'static,
    ) -> Result<ProfileSet> {
        let (actor, t, n, max_sets) = (
            caller.actor(),
            tenant.to_owned(),
            name.to_owned(),
            self.settings.profile_sets_max_per_tenant,
        );
        let mut staged = self
            .blocking(move |r| r.stage_profile_set(&actor, &t, &n, max_sets))
            .await?;
        let (max_customers, max_bytes) = (
            self.settings.simulate_max_customers,
            self.settings.profile_set_max_bytes,
        );
        let invalid = |message: String| LiveError::Engine(Error::InvalidInput(message));
        let staged = tokio::task::spawn_blocking(move || {
            for (line_no, _, line) in crate::simulate::NdjsonLines::new(input) {
                let line = line.map_err(|e| invalid(e.to_string()))?;
                let line = line.trim_end();
                crate::simulate::read_customer(line_no, line).map_err(|e| invalid(e.to_string()))?;
                if staged.customers() >= max_customers {
                    return Err(invalid(format!(
                        "line {line_no}: more than {max_customers} customers (simulate_max_customers)"
                    )));
                }
                if staged.bytes() + line.len() as u64 + 1 > max_bytes {
                    return Err(invalid(format!(
                        "line {line_no}: the set would be larger than {max_bytes} bytes (profile_set_max_bytes)"
                    )));
                }
                staged
                    .push(line)
                    .map_err(|e| LiveError::Registry(RegistryError::from(e)))?;
            }
            if staged.customers() == 0 {
                return Err(invalid(
                    "the profile set is empty: give one profile or decide request per line".into(),
                ));
            }
            Ok(staged)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("profile set task: {e}")))??;
        self.blocking(move |_| staged.commit()).await
    }

    /// The tenant's stored profile sets, by name.
    pub async fn profile_sets(&self, tenant: &str) -> Result<Vec<ProfileSet>> {
        let t = tenant.to_owned();
        self.blocking(move |r| r.profile_sets(&t)).await
    }

    /// A stored profile set's lines, to simulate over.
    pub async fn open_profile_set(&self, tenant: &str, name: &str) -> Result<SetReader> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        Ok(self.blocking(move |r| r.open_profile_set(&t, &n)).await?.1)
    }

    /// Deletes a stored profile set.
    pub async fn delete_profile_set(&self, caller: &Caller, tenant: &str, name: &str) -> Result<()> {
        let (actor, t, n) = (caller.actor(), tenant.to_owned(), name.to_owned());
        self.blocking(move |r| r.delete_profile_set(&actor, &t, &n)).await
    }
}
