//! Plugin versions, the pipeline's slots, and the candidates (shadows and
//! canaries) attached to them: every change stored first, then the
//! tenant's snapshot rebuilt from what was committed.

use std::sync::Arc;

use super::{Caller, Live, LiveError, Result};
use crate::Error;
use crate::canary::CanaryStatus;
use crate::compiler::{Budget, Priority};
use crate::engine::{Compiled, Plugin};
use crate::generate::{self, Brand};
use crate::live::Snapshot;
use crate::live::decide::decision_limits;
use crate::model::Timestamp;
use crate::registry::{Candidate, Page, PageRequest, PluginVersion, RegistryError, Role, Slot};
use crate::shadow::ShadowStatus;

impl Live {
    /// Validates, compiles and stores an uploaded plugin version. Nothing is
    /// stored unless it compiles and links. Name and version default to
    /// what the component records about itself.
    pub async fn upload(
        &self,
        caller: &Caller,
        tenant: &str,
        name: Option<String>,
        version: Option<String>,
        bytes: Vec<u8>,
    ) -> Result<(PluginVersion, bool)> {
        let budget = Budget::Cpu(self.settings.compile_timeout);
        self.upload_within(caller, tenant, name, version, bytes, budget, Priority::Background)
            .await
    }

    /// Stores a plugin this server ships (the demo's): compiled at start-up
    /// priority and never refused for its compile time.
    pub(crate) async fn upload_shipped(&self, tenant: &str, bytes: Vec<u8>) -> Result<(PluginVersion, bool)> {
        self.upload_within(
            &Caller::Operator,
            tenant,
            None,
            None,
            bytes,
            Budget::Unlimited,
            Priority::Startup,
        )
        .await
    }

    #[allow(clippy::too_many_arguments, reason = "the upload's request plus how to compile it")]
    pub(super) async fn upload_within(
        &self,
        caller: &Caller,
        tenant: &str,
        name: Option<String>,
        version: Option<String>,
        bytes: Vec<u8>,
        budget: Budget,
        priority: Priority,
    ) -> Result<(PluginVersion, bool)> {
        let snapshot = self.snapshot(tenant)?;
        let limit = snapshot.tenant.limits.max_plugin_bytes;
        if bytes.len() as u64 > limit {
            return Err(LiveError::Engine(Error::InvalidPlugin {
                defect: crate::Defect::TooLarge,
                message: format!(
                    "the plugin is {} bytes; the tenant's limit is {limit} bytes",
                    bytes.len()
                ),
            }));
        }
        let bytes = Arc::new(bytes);
        let what = format!("an upload of tenant {tenant}");
        let compiled = self
            .compiler
            .compile(bytes.clone(), &what, budget, priority)
            .await?
            .compiled;
        let info = compiled.info();
        let record = PluginVersion {
            name: name.unwrap_or_else(|| info.name.clone()),
            version: version.unwrap_or_else(|| info.version.clone()),
            sha256: compiled.sha256().to_owned(),
            size: compiled.size() as u64,
            contract: info.contract.clone(),
            sdk: info.sdk.clone(),
            created_at: Timestamp::now(),
            fits: None,
        };
        let (actor, tenant, stored) = (caller.actor(), tenant.to_owned(), record.clone());
        let tenant_id = tenant.to_owned();
        let created = self
            .blocking(move |r| r.put_version(&actor, &tenant, &stored, &bytes))
            .await?;
        let mut record = record;
        record.fits = self.check_upload(&snapshot, &record, created, compiled).await?;
        if snapshot.unavailable.is_some() {
            // The upload may have repaired the blob that made it unavailable.
            let _guard = self.write_lock(&tenant_id).await?;
            self.rebuild(&tenant_id).await?;
        }
        Ok((record, created))
    }

    /// The check at upload: `rulehost check` over the edge shapes and
    /// `check_customers` generated customers, under the tenant's config,
    /// offers and limits, on its lanes (shared fairly with live decisions),
    /// stopping at the first customer that fails. The report is kept with
    /// the version; a version checked before (the same upload again, not
    /// `created`) is not checked again. Whether it fits, if it was checked.
    async fn check_upload(
        &self,
        snapshot: &Snapshot,
        record: &PluginVersion,
        created: bool,
        compiled: Arc<Compiled>,
    ) -> Result<Option<bool>> {
        let customers = self.settings.check_customers;
        if customers == 0 {
            return Ok(None);
        }
        if !created {
            let stored = self.version(&snapshot.tenant.id, &record.name, &record.version).await?;
            if stored.fits.is_some() {
                return Ok(stored.fits);
            }
        }
        let plugin = Arc::new(Plugin::new(compiled, &record.name, &record.version).owned_by(snapshot.owner.clone()));
        let engine = self.engine.clone();
        let (config, offers, owner) = (snapshot.config.clone(), snapshot.offers.clone(), snapshot.owner.clone());
        let (limits, tz_offset_minutes) = (
            decision_limits(&snapshot.tenant.limits),
            snapshot.tenant.tz_offset_minutes,
        );
        let started = std::time::Instant::now();
        let report = tokio::task::spawn_blocking(move || {
            let now = Timestamp::now();
            let setting = rulehost_check::Setting {
                engine: &engine,
                plugins: &[plugin],
                config,
                offers,
                limits,
                now,
                tz_offset_minutes,
                owner: Some(owner),
                stop_after_failures: 2,
            };
            rulehost_check::run(&setting, &generate::check_customers(Brand::Coffee, customers, 1, now))
        })
        .await
        .map_err(|e| LiveError::Internal(format!("the check of an upload: {e}")))?;
        let text = serde_json::to_string(&report).map_err(|e| LiveError::Internal(e.to_string()))?;
        tracing::info!(
            tenant = %snapshot.tenant.id, plugin = %record.name, version = %record.version, fits = report.fits,
            decisions = report.runs, failures = report.failures.len(), ms = started.elapsed().as_millis() as u64,
            "checked an uploaded plugin"
        );
        let (t, n, v, fits) = (
            snapshot.tenant.id.clone(),
            record.name.clone(),
            record.version.clone(),
            report.fits,
        );
        self.blocking(move |r| r.put_check(&t, &n, &v, fits, &text)).await?;
        Ok(Some(fits))
    }

    /// The report of a version's check at upload.
    pub async fn check_report(&self, tenant: &str, name: &str, version: &str) -> Result<rulehost_check::Report> {
        let (t, n, v) = (tenant.to_owned(), name.to_owned(), version.to_owned());
        let text = self.blocking(move |r| r.check_report(&t, &n, &v)).await?;
        let Some(text) = text else {
            return Err(LiveError::Registry(RegistryError::NotFound(format!(
                "plugin {name} {version} was not checked at its upload (uploaded before checks were kept, \
                 or with check_customers = 0)"
            ))));
        };
        serde_json::from_str(&text)
            .map_err(|e| LiveError::Internal(format!("the stored check of {name} {version} cannot be read: {e}")))
    }

    /// Refuses to run `record` if its check at upload failed and the
    /// server says so (`check_refuses_activation`).
    fn refuse_unfit(&self, tenant: &str, record: &PluginVersion) -> Result<()> {
        if self.settings.check_refuses_activation && record.fits == Some(false) {
            let (name, version) = (&record.name, &record.version);
            return Err(LiveError::Registry(RegistryError::Conflict(format!(
                "plugin {name} {version} did not fit its limits when it was checked at its upload \
                 (GET /v1/tenants/{tenant}/plugins/{name}/{version}/check says why); this server refuses \
                 to run it (check_refuses_activation)"
            ))));
        }
        Ok(())
    }

    /// Compiles a stored version (or finds it compiled) before a change
    /// that runs it is committed: a version that cannot run, or that
    /// `answers` to customers (active, a canary) while the server refuses
    /// it for its check, is refused before anything changes.
    async fn compile_stored(&self, tenant: &str, name: &str, version: &str, answers: bool) -> Result<()> {
        let record = self.version(tenant, name, version).await?;
        if answers {
            self.refuse_unfit(tenant, &record)?;
        }
        self.compiled(&record.sha256, || format!("{name} {version} of tenant {tenant}"))
            .await
            .map(drop)
    }

    /// The compiled component for a stored sha256: shared if in memory,
    /// else read from the registry and compiled (never refused for its
    /// compile time: the version was accepted at its upload). `what` names
    /// it in the log.
    pub(super) async fn compiled(&self, sha256: &str, what: impl FnOnce() -> String) -> Result<Arc<Compiled>> {
        if let Some(compiled) = self.compiler.in_memory(sha256) {
            return Ok(compiled);
        }
        let sha = sha256.to_owned();
        let bytes = self.blocking(move |r| r.blob(&sha)).await?;
        let loaded = self
            .compiler
            .compile(Arc::new(bytes), &what(), Budget::Unlimited, Priority::Background)
            .await?;
        Ok(loaded.compiled)
    }

    /// A page of a tenant's plugin versions.
    pub async fn versions(&self, tenant: &str, page: PageRequest) -> Result<Page<PluginVersion>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.versions(&tenant, &page)).await
    }

    /// One plugin version.
    pub async fn version(&self, tenant: &str, name: &str, version: &str) -> Result<PluginVersion> {
        let (tenant, name, version) = (tenant.to_owned(), name.to_owned(), version.to_owned());
        self.blocking(move |r| r.version(&tenant, &name, &version)).await
    }

    /// The stored bytes of a version (checked against their sha256).
    pub async fn component(&self, tenant: &str, name: &str, version: &str) -> Result<Vec<u8>> {
        let record = self.version(tenant, name, version).await?;
        self.blocking(move |r| r.blob(&record.sha256)).await
    }

    /// Deletes a version no slot runs.
    pub async fn delete_version(&self, caller: &Caller, tenant: &str, name: &str, version: &str) -> Result<()> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, name, version) = (caller.actor(), tenant.to_owned(), name.to_owned(), version.to_owned());
        self.blocking(move |r| r.delete_version(&actor, &t, &name, &version))
            .await?;
        self.rebuild(tenant).await
    }

    // ---- pipeline ------------------------------------------------------------

    /// The tenant's pipeline.
    pub async fn pipeline(&self, tenant: &str) -> Result<Vec<Slot>> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| r.pipeline(&tenant)).await
    }

    /// The tenant's attached candidates: canaries, then shadows.
    pub async fn candidates(&self, tenant: &str) -> Result<(Vec<Candidate>, Vec<Candidate>)> {
        let tenant = tenant.to_owned();
        self.blocking(move |r| {
            Ok((
                r.candidates(&tenant, Role::Canary)?,
                r.candidates(&tenant, Role::Shadow)?,
            ))
        })
        .await
    }

    /// Sets the pipeline's slots.
    pub async fn set_pipeline(&self, caller: &Caller, tenant: &str, slots: Vec<String>) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t) = (caller.actor(), tenant.to_owned());
        let result = self.blocking(move |r| r.set_pipeline(&actor, &t, &slots)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Activates a version in a slot; the next decision uses it. The
    /// version is compiled before the activation is committed, so a
    /// committed activation always has code to run.
    pub async fn activate(
        &self,
        caller: &Caller,
        tenant: &str,
        slot: &str,
        name: &str,
        version: &str,
    ) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        self.compile_stored(tenant, name, version, true).await?;
        let (actor, t, s, n, v) = (
            caller.actor(),
            tenant.to_owned(),
            slot.to_owned(),
            name.to_owned(),
            version.to_owned(),
        );
        let result = self.blocking(move |r| r.activate(&actor, &t, &s, &n, &v)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Returns a slot to its previous version.
    pub async fn rollback(&self, caller: &Caller, tenant: &str, slot: &str) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let result = self.blocking(move |r| r.rollback(&actor, &t, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(result)
    }

    /// Attaches a candidate version to a slot, in shadow (live decisions of
    /// `percent` of customers also run it, off the response path) or as a
    /// canary (it answers for `percent` of customers). The candidate is
    /// compiled before the attachment is committed; attaching the same
    /// version again changes only its share.
    #[allow(
        clippy::too_many_arguments,
        reason = "who, where, which role, which version, how much"
    )]
    pub async fn attach(
        &self,
        caller: &Caller,
        tenant: &str,
        role: Role,
        slot: &str,
        name: &str,
        version: &str,
        percent: f64,
    ) -> Result<Candidate> {
        let _guard = self.write_lock(tenant).await?;
        self.compile_stored(tenant, name, version, role == Role::Canary).await?;
        let (actor, t, s, n, v) = (
            caller.actor(),
            tenant.to_owned(),
            slot.to_owned(),
            name.to_owned(),
            version.to_owned(),
        );
        let candidate = self
            .blocking(move |r| r.attach(&actor, &t, role, &s, &n, &v, percent))
            .await?;
        self.rebuild(tenant).await?;
        Ok(candidate)
    }

    /// Detaches a slot's candidate in `role` (a canary's customers go back
    /// to the active version at once).
    pub async fn detach(&self, caller: &Caller, tenant: &str, role: Role, slot: &str) -> Result<Candidate> {
        let _guard = self.write_lock(tenant).await?;
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let candidate = self.blocking(move |r| r.detach(&actor, &t, role, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(candidate)
    }

    /// Activates a slot's candidate in `role` in its place (the replaced
    /// version becomes the rollback) and detaches it, in one change.
    pub async fn promote(&self, caller: &Caller, tenant: &str, role: Role, slot: &str) -> Result<Vec<Slot>> {
        let _guard = self.write_lock(tenant).await?;
        let (t, s) = (tenant.to_owned(), slot.to_owned());
        if self.settings.check_refuses_activation
            && let Some(candidate) = self.blocking(move |r| r.candidate(&t, role, &s)).await?
        {
            let record = self.version(tenant, &candidate.name, &candidate.version).await?;
            self.refuse_unfit(tenant, &record)?;
        }
        let (actor, t, s) = (caller.actor(), tenant.to_owned(), slot.to_owned());
        let slots = self.blocking(move |r| r.promote(&actor, &t, role, &s)).await?;
        self.rebuild(tenant).await?;
        Ok(slots)
    }

    /// A slot's canary: its share and decisions and errors per version.
    pub async fn canary_status(&self, tenant: &str, slot: &str) -> Result<CanaryStatus> {
        let snapshot = self.snapshot(tenant)?;
        if let Some(canary) = snapshot.canaries.iter().find(|c| c.candidate.slot == slot) {
            let mut status = canary.status();
            for other in self
                .fleet_counts::<CanaryStatus>(tenant, Role::Canary, &canary.candidate)
                .await?
            {
                status.add(&other);
            }
            return Ok(status);
        }
        Err(self.not_running(tenant, Role::Canary, slot).await)
    }

    /// Why a slot's candidate is not running: none attached, or attached
    /// but not loadable.
    pub(super) async fn not_running(&self, tenant: &str, role: Role, slot: &str) -> LiveError {
        let (t, s) = (tenant.to_owned(), slot.to_owned());
        match self.blocking(move |r| r.candidate(&t, role, &s)).await {
            Ok(Some(c)) => LiveError::Internal(format!(
                "the {} {} {} of slot {slot:?} is attached but cannot run (see the server's log)",
                role.as_str(),
                c.name,
                c.version
            )),
            Ok(None) => LiveError::Registry(RegistryError::NotFound(format!(
                "slot {slot:?} has no {}",
                role.as_str()
            ))),
            Err(e) => e,
        }
    }

    /// A slot's shadow: its counts and its report so far.
    pub async fn shadow_status(&self, tenant: &str, slot: &str) -> Result<ShadowStatus> {
        let snapshot = self.snapshot(tenant)?;
        if let Some(run) = snapshot.shadows.iter().find(|r| r.shadow.slot == slot) {
            let t = tenant.to_owned();
            let used_before = self.blocking(move |r| r.budgets_used(&t)).await?;
            let mut status = run.status(&snapshot.policy, &used_before);
            for other in self
                .fleet_counts::<ShadowStatus>(tenant, Role::Shadow, &run.shadow)
                .await?
            {
                status.add(&other);
            }
            return Ok(status);
        }
        Err(self.not_running(tenant, Role::Shadow, slot).await)
    }
}
