//! # rulehost-engine
//!
//! The sandbox and the decision pipeline, with no storage and no HTTP. Data
//! flows one way: request → [`input`] (the contract's compact form) →
//! [`pipeline`] (plugin stages tag → score → target) → [`decision`].
//!
//! This crate root is the only place that talks to wasmtime. One [`Engine`]
//! per process: Cranelift, the pooling allocator, fuel, and epoch
//! interruption driven by a ticker thread. A plugin is validated and
//! compiled once per content hash ([`Engine::load`]) into a [`Plugin`] that
//! keeps its pre-linked instance; every decision then gets a fresh store
//! with its own memory limit, deadline and fuel ([`Engine::start`]).
//! [`compiler`] schedules compilations so that they never starve and never
//! slow decisions down.

pub mod compiler;
pub mod decision;
mod error;
pub use rulehost_input as input;
pub mod pipeline;

mod cache;
pub mod contract;
mod inspect;
pub mod lanes;
mod limits;
mod run;
pub(crate) mod sched;
mod state;
mod wasi;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use inspect::PluginInfo;
pub use limits::{Limits, OutputLimits};
pub use run::{Reply, Run, RunReport, ScoreReply, TagReply, TargetReply};
pub use state::{LogLevel, LogLine};

use cache::ArtifactCache;
use contract::{v0_1_0, v0_2_0, v0_3_0};
pub use error::{Defect, Error, ErrorBody, ErrorDetail};
pub use lanes::Lane;
use lanes::Lanes;
pub use sched::thread_cpu_time;
use state::StoreState;

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where precompiled components are kept; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances: deadlines are enforced to within one
    /// tick.
    pub epoch_tick: Duration,
    /// The largest memory limit any tenant may be given (the pool's slot
    /// size).
    pub max_memory_bytes: u64,
    /// Instance slots in the pool: bounds concurrent plugin instances.
    pub pool_instances: u32,
    /// The largest plugin accepted, in bytes (default 64 MiB: a plugin in
    /// Python carries its interpreter, ~18 MB).
    pub max_plugin_bytes: usize,
    /// Bounds on plugin output and logs.
    pub output: OutputLimits,
    /// Up to this many bytes of the pages an instance dirtied are reset in
    /// place when it ends (zeroed, or restored to the plugin's initial
    /// image) instead of being given back to the kernel, so a typical
    /// decision's memory stays mapped for the next one in that pool slot:
    /// no `madvise`, no TLB flush, no page faults. Used only where the
    /// kernel reports dirtied pages (PAGEMAP_SCAN); costs up to this much
    /// resident memory per warm slot (what its plugins actually wrote: a
    /// Python decision ~3 MiB, a Rust one a few pages). 16 MiB: a CPython
    /// or QuickJS decision's writes, scattered over its heap, fit (with
    /// the vendored wasmtime's 1024 regions: vendor/wasmtime/RULEHOST-PATCH.md).
    pub keep_resident_bytes: usize,
    /// Decisions whose plugins run at once, shared fairly between tenants
    /// (see [`lanes`]); default one per core.
    pub lanes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            max_memory_bytes: 256 << 20,
            pool_instances: 256,
            max_plugin_bytes: 64 << 20,
            output: OutputLimits::default(),
            keep_resident_bytes: 16 << 20,
            lanes: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// The compiled-code runtime shared by all tenants.
pub struct Engine {
    inner: wasmtime::Engine,
    /// Links only the contract's imports: for plugins without WASI.
    linker: Linker<StoreState>,
    /// Also links a locked-down WASI p2: for plugins whose toolchain needs it.
    wasi_linker: Linker<StoreState>,
    cache: Option<ArtifactCache>,
    config: EngineConfig,
    ticker_stop: Arc<AtomicBool>,
    lanes: Arc<Lanes>,
}

/// A compiled component: validated once per sha256, shared by every
/// tenant and pipeline that runs the same bytes.
pub struct Compiled {
    info: PluginInfo,
    sha256: String,
    size: usize,
    pre: PluginPre,
    /// Whether it came from the precompiled cache rather than Cranelift.
    precompiled: bool,
}

/// The pre-linked instance, by contract version.
enum PluginPre {
    V0_1_0(v0_1_0::BindingsPre<StoreState>),
    V0_2_0(v0_2_0::BindingsPre<StoreState>),
    V0_3_0(v0_3_0::BindingsPre<StoreState>),
}

impl Compiled {
    /// The identity the component records about itself (from the SDK), or
    /// `unnamed` 0.0.0 if it records none.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The sha256 of the component's bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether it was loaded precompiled from the cache (milliseconds)
    /// rather than compiled (up to seconds).
    pub fn precompiled(&self) -> bool {
        self.precompiled
    }
}

/// A compiled component under the name and version it runs as. A tenant may
/// register the same bytes under its own name; decisions and logs use it.
#[derive(Clone)]
pub struct Plugin {
    /// Shared with every store that runs it, which names the plugin in logs.
    name: Arc<str>,
    version: String,
    compiled: Arc<Compiled>,
    /// The tenant it runs for, which the engine's lanes share cores by.
    owner: Arc<str>,
}

impl Plugin {
    /// Runs `compiled` as `name` `version`.
    pub fn new(compiled: Arc<Compiled>, name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            version: version.into(),
            compiled,
            owner: Arc::from(""),
        }
    }

    /// Runs it for `tenant`: cores are shared fairly between tenants.
    pub fn owned_by(mut self, tenant: Arc<str>) -> Self {
        self.owner = tenant;
        self
    }

    /// The name it runs as.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version it runs as.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What the component records about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.compiled.info
    }

    /// The sha256 of the component's bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.compiled.sha256
    }

    /// The component's size in bytes.
    pub fn size(&self) -> usize {
        self.compiled.size
    }

    /// The shared compiled component.
    pub fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    /// Whether its contract lets it ask for wake-ups (0.3.0 and later).
    pub fn wakes(&self) -> bool {
        matches!(self.compiled.pre, PluginPre::V0_3_0(_))
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("sha256", &self.compiled.sha256)
            .finish()
    }
}

impl Engine {
    /// Creates the engine and starts its epoch ticker.
    pub fn new(config: EngineConfig) -> Result<Self, Error> {
        // Where the kernel can report which pages an instance dirtied
        // (PAGEMAP_SCAN, Linux 6.7+), only those are reset in place when the
        // instance ends, and its slot stays mapped for the next decision.
        // Elsewhere memory is given back with madvise as usual: resetting a
        // fixed prefix in place would cost more than it saves.
        let scan = PoolingAllocationConfig::is_pagemap_scan_available();
        let keep_resident = if scan { config.keep_resident_bytes } else { 0 };
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.pool_instances)
            .total_core_instances(config.pool_instances.saturating_mul(4))
            .total_memories(config.pool_instances)
            .total_tables(config.pool_instances.saturating_mul(2))
            .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(keep_resident)
            .pagemap_scan(if scan { Enabled::Yes } else { Enabled::No });
        tracing::debug!(pagemap_scan = scan, keep_resident, "instance pool");
        let mut wasm = Config::new();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_component_model(true)
            // One thread per compilation: a slow upload takes at most one
            // core's spare time (see `Live`), never every core.
            .parallel_compilation(false);
        // `perf` names plugins' JIT code by wasm function when this is set
        // (it writes /tmp/perf-PID.map): how the benchmark's profile of the
        // guest's side was taken. Off by default: the map grows with every
        // compiled plugin.
        if std::env::var_os("RULEHOST_PERF_MAP").is_some() {
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let inner = wasmtime::Engine::new(&wasm).map_err(|e| Error::Internal(format!("creating the engine: {e}")))?;

        let internal = |what: &str, e: wasmtime::Error| Error::Internal(format!("{what}: {e}"));
        let mut linker = Linker::new(&inner);
        v0_1_0::Bindings::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| internal("linking contract 0.1.0", e))?;
        v0_2_0::Bindings::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| internal("linking contract 0.2.0", e))?;
        v0_3_0::Bindings::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| internal("linking contract 0.3.0", e))?;
        let mut wasi_linker = linker.clone();
        wasmtime_wasi::p2::add_to_linker_sync(&mut wasi_linker).map_err(|e| internal("linking WASI", e))?;

        let cache = match &config.cache_dir {
            Some(dir) => Some(
                ArtifactCache::open(dir, &inner)
                    .map_err(|e| Error::Internal(format!("opening the cache {}: {e}", dir.display())))?,
            ),
            None => None,
        };

        let weak = inner.weak();
        let nudge = move || {
            if let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
            }
        };
        let lanes = Lanes::new(config.lanes, Box::new(nudge));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak, stop, tick, ticked) = (inner.weak(), ticker_stop.clone(), config.epoch_tick, lanes.clone());
        std::thread::Builder::new()
            .name("rulehost-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => {
                            ticked.tick();
                            engine.increment_epoch();
                        }
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::Internal(format!("starting the epoch ticker: {e}")))?;

        Ok(Self {
            inner,
            linker,
            wasi_linker,
            cache,
            lanes,
            config,
            ticker_stop,
        })
    }

    /// A lane for a decision of `tenant`, the thread waiting in line,
    /// parked, until one is free; hold it for the whole decision (see
    /// [`lanes`]).
    pub fn lane(&self, tenant: Arc<str>) -> Lane {
        self.lanes.acquire(tenant)
    }

    /// Lanes held right now and decisions waiting for one: `(0, 0)` when
    /// the engine is idle, whatever happened before (no lane is ever lost).
    pub fn lane_load(&self) -> (usize, usize) {
        self.lanes.load()
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Validates and compiles a plugin (or loads it precompiled from the
    /// cache), named as the component says. Nothing about the plugin is
    /// trusted: every failure is an [`Error::InvalidPlugin`] saying what is
    /// wrong.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, Error> {
        let compiled = Arc::new(self.compile(bytes)?);
        let (name, version) = (compiled.info.name.clone(), compiled.info.version.clone());
        Ok(Plugin::new(compiled, name, version))
    }

    /// Validates and compiles a component (see [`Engine::load`]).
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, Error> {
        if bytes.len() > self.config.max_plugin_bytes {
            return Err(Error::invalid_plugin(
                Defect::TooLarge,
                format!(
                    "the plugin is {} bytes; the limit is {} bytes",
                    bytes.len(),
                    self.config.max_plugin_bytes
                ),
            ));
        }
        if let Some(err) = inspect::reject_non_component(bytes) {
            return Err(err);
        }
        let embedded = inspect::embedded_info(bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));

        let (component, precompiled) = match self.cache.as_ref().and_then(|c| c.load(&self.inner, &sha256)) {
            Some(component) => (component, true),
            None => {
                let component = Component::new(&self.inner, bytes).map_err(|e| {
                    Error::invalid_plugin(Defect::Malformed, format!("the component does not compile: {e:#}"))
                })?;
                if let Some(cache) = &self.cache {
                    cache.store(&sha256, &component);
                }
                (component, false)
            }
        };

        let uses_wasi = self.check_imports(&component)?;
        let contract = self.check_exports(&component)?;
        let linker = if uses_wasi { &self.wasi_linker } else { &self.linker };
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            Error::invalid_plugin(
                Defect::LinkFailed,
                format!("the component does not link against the host: {e:#}"),
            )
        })?;
        let wrong_world = |e: wasmtime::Error| {
            Error::invalid_plugin(
                Defect::WrongWorld,
                format!("the component does not implement the contract's world: {e:#}"),
            )
        };
        let pre = match contract.as_str() {
            "0.1.0" => PluginPre::V0_1_0(v0_1_0::BindingsPre::new(instance_pre).map_err(wrong_world)?),
            "0.2.0" => PluginPre::V0_2_0(v0_2_0::BindingsPre::new(instance_pre).map_err(wrong_world)?),
            "0.3.0" => PluginPre::V0_3_0(v0_3_0::BindingsPre::new(instance_pre).map_err(wrong_world)?),
            other => {
                return Err(Error::invalid_plugin(
                    Defect::UnsupportedContract,
                    format!("unsupported contract version {other}"),
                ));
            }
        };
        let info = match embedded {
            Some(info) if info.contract != contract => {
                return Err(Error::invalid_plugin(
                    Defect::UnsupportedContract,
                    format!(
                        "the plugin says it targets contract {} but exports contract {contract}",
                        info.contract
                    ),
                ));
            }
            Some(info) => info,
            None => PluginInfo {
                name: "unnamed".into(),
                version: "0.0.0".into(),
                contract,
                sdk: None,
                engine: None,
            },
        };
        Ok(Compiled {
            info,
            sha256,
            size: bytes.len(),
            pre,
            precompiled,
        })
    }

    /// The contract version of the component's `rules` export.
    fn check_exports(&self, component: &Component) -> Result<String, Error> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&self.inner).map(|(name, _)| name.to_owned()).collect();
        let version = exports
            .iter()
            .find_map(|name| name.strip_prefix("rulehost:plugin/rules@"))
            .map(str::to_owned);
        match version {
            Some(v) if contract::SUPPORTED.contains(&v.as_str()) => Ok(v),
            Some(v) => Err(Error::invalid_plugin(
                Defect::UnsupportedContract,
                format!(
                    "the plugin targets contract {v}; this host supports {}",
                    contract::SUPPORTED.join(", ")
                ),
            )),
            None => Err(Error::invalid_plugin(
                Defect::WrongWorld,
                format!(
                    "the component does not export `{}` (it exports: {})",
                    contract::rules_export(contract::SUPPORTED[contract::SUPPORTED.len() - 1]),
                    if exports.is_empty() {
                        "nothing".to_owned()
                    } else {
                        exports.join(", ")
                    }
                ),
            )),
        }
    }

    /// Whether the component needs WASI; refuses imports the host does not
    /// offer.
    fn check_imports(&self, component: &Component) -> Result<bool, Error> {
        let ty = component.component_type();
        let mut uses_wasi = false;
        for (name, _) in ty.imports(&self.inner) {
            if name.starts_with("wasi:") {
                uses_wasi = true;
            } else if !name.starts_with("rulehost:plugin/") {
                return Err(Error::invalid_plugin(
                    Defect::UnknownImport,
                    format!(
                        "the component imports `{name}`, which rulehost does not provide (plugins may import only \
                         rulehost:plugin/host and WASI p2)"
                    ),
                ));
            }
        }
        Ok(uses_wasi)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
