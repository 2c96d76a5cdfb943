//! Loading every tenant at start-up: the versions their pipelines run or
//! try out are compiled (or loaded precompiled) on every core at normal
//! priority — nothing is served yet — with progress in the log and in the
//! not-ready answer, then each tenant's snapshot is built.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::StreamExt;

use super::{Live, LiveError, Result, write};
use crate::compiler::{Budget, Priority};
use crate::engine::Compiled;
use crate::registry::prelude::*;
use crate::registry::{PageRequest, RegistryError, Role};

/// A version some tenant runs or tries out.
struct ToLoad {
    tenant: String,
    name: String,
    version: String,
    sha256: String,
}

impl Live {
    /// Loads keys and every tenant, compiling (or loading precompiled) each
    /// active plugin; the server is ready afterwards. A tenant whose
    /// plugins cannot be loaded is marked unavailable (and the log says
    /// why); only a failure to read the registry fails the load.
    pub async fn load(&self) -> Result<()> {
        let started = Instant::now();
        let keys = self.blocking(|r| r.key_checks()).await?;
        *write(&self.keys) = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        let (tenants, versions) = self.blocking(to_load).await?;
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let total = versions.len();
        tracing::info!(
            tenants = tenants.len(),
            versions = total,
            threads,
            "loading {} tenants: {total} plugin versions to compile or load precompiled",
            tenants.len(),
        );
        self.set_not_ready(format!("loading plugins: 0 of {total} versions ready"));
        let done = AtomicUsize::new(0);
        let held: Vec<Option<Arc<Compiled>>> = futures_util::stream::iter(versions)
            .map(|version| self.load_one(version, &done, total))
            .buffer_unordered(threads)
            .collect()
            .await;
        self.set_not_ready(format!("building the snapshots of {} tenants", tenants.len()));
        for tenant in &tenants {
            self.rebuild(tenant).await?;
        }
        let loaded = held.iter().flatten();
        let precompiled = loaded.clone().filter(|c| c.precompiled()).count();
        let compiled = loaded.count() - precompiled;
        let unavailable = tenants
            .iter()
            .filter(|t| self.snapshot(t).is_ok_and(|s| s.unavailable.is_some()))
            .count();
        drop(held);
        self.ready.store(true, Ordering::Release);
        tracing::info!(
            tenants = tenants.len(),
            compiled,
            precompiled,
            unavailable,
            took_ms = started.elapsed().as_millis() as u64,
            "ready"
        );
        Ok(())
    }

    /// Compiles one version for [`Live::load`], logging how it went.
    async fn load_one(&self, version: ToLoad, done: &AtomicUsize, total: usize) -> Option<Arc<Compiled>> {
        let what = format!("{} {} of tenant {}", version.name, version.version, version.tenant);
        let sha = version.sha256;
        let loaded = match self.blocking(move |r| r.blob(&sha)).await {
            Ok(bytes) => self
                .compiler
                .compile(Arc::new(bytes), &what, Budget::Unlimited, Priority::Startup)
                .await
                .map_err(LiveError::Engine),
            Err(e) => Err(e),
        };
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        self.set_not_ready(format!("loading plugins: {n} of {total} versions ready"));
        match loaded {
            Ok(loaded) => {
                let how = if loaded.compiled.precompiled() {
                    "loaded precompiled"
                } else {
                    "compiled"
                };
                tracing::info!(
                    wall_ms = loaded.wall.as_millis() as u64,
                    cpu_ms = loaded.cpu.map(|c| c.as_millis() as u64),
                    "{what}: {how} ({n} of {total})"
                );
                Some(loaded.compiled)
            }
            Err(e) => {
                // Its tenant is marked unavailable, saying why, when its
                // snapshot is built.
                tracing::error!(error = %e, "{what}: cannot be loaded ({n} of {total})");
                None
            }
        }
    }
}

/// Every tenant's id, and every distinct version their pipelines run or
/// try out (shadows, canaries).
fn to_load(r: &dyn Store) -> std::result::Result<(Vec<String>, Vec<ToLoad>), RegistryError> {
    let mut tenants = Vec::new();
    let mut after = None;
    loop {
        let page = r.tenants(&PageRequest {
            after,
            limit: Some(500),
        })?;
        tenants.extend(page.items.into_iter().map(|t| t.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut versions = Vec::new();
    for tenant in &tenants {
        let mut refs: Vec<(String, String)> = r
            .pipeline(tenant)?
            .into_iter()
            .filter_map(|slot| slot.active.map(|a| (a.name, a.version)))
            .collect();
        for role in [Role::Shadow, Role::Canary] {
            refs.extend(r.candidates(tenant, role)?.into_iter().map(|c| (c.name, c.version)));
        }
        for (name, version) in refs {
            // A version that cannot be read is reported by the tenant's
            // snapshot; here it is only not compiled ahead.
            let Ok(record) = r.version(tenant, &name, &version) else {
                continue;
            };
            if seen.insert(record.sha256.clone()) {
                versions.push(ToLoad {
                    tenant: tenant.clone(),
                    name,
                    version,
                    sha256: record.sha256,
                });
            }
        }
    }
    Ok((tenants, versions))
}
