//! `rulehost serve`: settings, start-up, and a graceful shutdown.
//!
//! Settings come, later ones winning, from the defaults below, a TOML file
//! (`--config`), `RULEHOST_*` environment variables (nested keys joined
//! with `__`, e.g. `RULEHOST_DEFAULT_LIMITS__FUEL`) and the command line
//! (`--listen`, `--data-dir`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::api::{self, ApiLimits, AppState};
use crate::demo;
use crate::engine::{Engine, EngineConfig};
use crate::live::{Live, LiveError, LiveSettings};
use crate::metrics::Metrics;
use crate::moments::{MomentSettings, Moments};
use crate::registry::TenantLimits;

/// Every server setting, with its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Where the registry, plugin blobs and precompiled cache live (with a
    /// `database_url`: only the precompiled cache).
    pub data_dir: PathBuf,
    /// The PostgreSQL database a fleet of hosts shares
    /// (`postgres://user:password@host:port/db`); none: the embedded SQLite
    /// store under `data_dir`.
    pub database_url: Option<String>,
    /// Pooled connections to the database, at most.
    pub database_connections: u32,
    /// How often a host checks every tenant's change counter against what
    /// it runs, in case it missed an announcement (a host never runs a
    /// stale version for longer than this).
    pub reconcile_interval_ms: u64,
    /// The operator's bearer token; without one, operator endpoints refuse
    /// every call (with `--demo`: `demo-operator-token`).
    pub operator_token: Option<String>,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_grace_ms: u64,
    /// How long compiling an uploaded plugin may take.
    pub compile_timeout_ms: u64,
    /// Generated customers the check at upload decides for, beside the
    /// edge shapes (each twice); 0: no check at upload.
    pub check_customers: usize,
    /// Whether a version whose check at upload failed is refused
    /// activation (as a slot's version or a canary).
    pub check_refuses_activation: bool,
    /// Largest JSON request body.
    pub max_body_bytes: u64,
    /// Largest line of a batch.
    pub batch_line_bytes: u64,
    /// Plugin instance slots in the engine's pool (bounds concurrent plugin
    /// instances across all tenants).
    pub pool_instances: u32,
    /// Epoch tick: deadlines are enforced to within one tick, and tenants
    /// waiting for a lane get one within about a tick.
    pub epoch_tick_ms: u64,
    /// Decisions whose plugins run at once, shared fairly between tenants;
    /// 0 means one per core.
    pub lanes: u32,
    /// `text` or `json` log lines (on stderr).
    pub log_format: String,
    /// Days a logged decision is kept.
    pub decision_log_retention_days: u32,
    /// Logged decisions kept per tenant at most.
    pub decision_log_max_per_tenant: u64,
    /// Whether logged decisions keep their request (profile and trigger),
    /// which replay needs; without, an entry is a few KB instead of the
    /// profile's size.
    pub decision_log_requests: bool,
    /// Customers one server-side simulation reads at most.
    pub simulate_max_customers: u64,
    /// Bytes one stored profile set may hold at most.
    pub profile_set_max_bytes: u64,
    /// Profile sets one tenant may keep at most.
    pub profile_sets_max_per_tenant: u64,
    /// With `--demo`: how many generated customers the coffee tenant's
    /// stored profile set `coffee-customers` holds (made once, after the
    /// server is ready; 0: none).
    pub demo_customers: u64,
    /// How often the contact ledger and decision log are compacted, in
    /// seconds.
    pub compaction_interval_s: u64,
    /// How long a host's claim on a due timer holds without being renewed
    /// (renewed every third of it while the timer runs): a timer whose host
    /// dies runs elsewhere this long after at the latest.
    pub timer_lease_ms: u64,
    /// How often due timers and the outbox are looked at, at least (new
    /// work on this host is taken up at once).
    pub timer_poll_ms: u64,
    /// Timers this host runs at once.
    pub timers_at_once: u32,
    /// Days the outbox keeps a touch for the pull feed.
    pub outbox_retention_days: u32,
    /// The longest a read of the touches feed may wait for a delivery, in
    /// seconds.
    pub feed_max_wait_s: u32,
    /// NATS (`nats://host:4222`, or `tls://…`): take the brand's events
    /// from `<nats_prefix>.events.<tenant>` and publish the outbox to
    /// `<nats_prefix>.touches.<tenant>`; none: neither.
    pub nats_url: Option<String>,
    /// A NATS `.creds` file.
    pub nats_creds: Option<PathBuf>,
    /// A NATS user (with `nats_password`).
    pub nats_user: Option<String>,
    /// The NATS user's password.
    pub nats_password: Option<String>,
    /// A CA certificate (PEM) to trust for NATS over TLS.
    pub nats_tls_ca: Option<PathBuf>,
    /// Refuse a NATS connection that is not TLS.
    pub nats_require_tls: bool,
    /// The first token of every NATS subject (and of the streams' names).
    pub nats_prefix: String,
    /// Seconds an event message delivered to a host waits for its ack
    /// before NATS delivers it again, to any host: how soon what a dead
    /// host was taking in is taken elsewhere (a redelivery of an event
    /// already taken is dropped by its id).
    pub nats_ack_wait_s: u32,
    /// Limits of new tenants.
    pub default_limits: TenantLimits,
    /// The most any tenant may be given.
    pub max_limits: TenantLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_connections: 16,
            reconcile_interval_ms: 5_000,
            operator_token: None,
            shutdown_grace_ms: 10_000,
            compile_timeout_ms: 60_000,
            check_customers: 16,
            check_refuses_activation: false,
            max_body_bytes: 1 << 20,
            batch_line_bytes: 1 << 20,
            pool_instances: 1_000,
            epoch_tick_ms: 1,
            lanes: 0,
            log_format: "text".into(),
            decision_log_retention_days: 30,
            decision_log_max_per_tenant: 1_000_000,
            decision_log_requests: true,
            simulate_max_customers: 1_000_000,
            profile_set_max_bytes: 4 << 30,
            profile_sets_max_per_tenant: 20,
            demo_customers: 10_000,
            compaction_interval_s: 3_600,
            timer_lease_ms: 10_000,
            timer_poll_ms: 250,
            timers_at_once: 8,
            outbox_retention_days: 7,
            feed_max_wait_s: 30,
            nats_url: None,
            nats_creds: None,
            nats_user: None,
            nats_password: None,
            nats_tls_ca: None,
            nats_require_tls: false,
            nats_prefix: rulehost_stream::PREFIX.into(),
            nats_ack_wait_s: rulehost_stream::ACK_WAIT.as_secs() as u32,
            default_limits: TenantLimits::default(),
            max_limits: TenantLimits {
                max_plugin_bytes: 64 << 20,
                memory_bytes: 256 << 20,
                deadline_ms: 10_000,
                fuel: 10_000_000_000,
                max_concurrent_decisions: 256,
                profile_events: 10_000,
                profile_days: 3_650,
            },
        }
    }
}

/// The command line's say in the settings.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<String>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
}

impl ServerConfig {
    /// Defaults, then the file, then `RULEHOST_*` variables from `env`, then
    /// the command line.
    pub fn load(overrides: &Overrides, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut table = toml::Table::try_from(ServerConfig::default()).map_err(|e| e.to_string())?;
        let known = table.clone();
        if let Some(path) = &overrides.config_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let file: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
            merge(&mut table, file);
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("RULEHOST_") else {
                continue;
            };
            let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
            // Settings without a default are absent from `known`.
            let optional = path.len() == 1
                && [
                    "operator_token",
                    "database_url",
                    "nats_url",
                    "nats_creds",
                    "nats_user",
                    "nats_password",
                    "nats_tls_ca",
                ]
                .contains(&path[0].as_str());
            if optional || lookup(&known, &path).is_some() {
                // A TOML value if it reads as one (numbers, booleans), else text.
                let value = format!("v = {value}")
                    .parse::<toml::Table>()
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .unwrap_or(toml::Value::String(value));
                set(&mut table, &path, value);
            }
        }
        if let Some(listen) = &overrides.listen {
            table.insert("listen".into(), toml::Value::String(listen.clone()));
        }
        if let Some(dir) = &overrides.data_dir {
            table.insert("data_dir".into(), toml::Value::String(dir.display().to_string()));
        }
        let config: ServerConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| format!("settings: {e}"))?;
        config
            .default_limits
            .check(&config.max_limits)
            .map_err(|e| format!("default_limits: {e}"))?;
        Ok(config)
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn lookup<'t>(table: &'t toml::Table, path: &[String]) -> Option<&'t toml::Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    lookup(value.as_table()?, rest)
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return;
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(inner) = entry {
        set(inner, rest, value);
    }
}

/// A server ready to run: state built, socket bound.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    grace: Duration,
    demo: bool,
    demo_customers: u64,
    compaction: Duration,
    reconcile: Duration,
    moments: MomentSettings,
}

impl Server {
    /// Opens the data directory, builds the engine and binds the socket.
    /// Plugins are loaded by [`Server::run`] while `/readyz` says not ready.
    pub async fn bind(config: &ServerConfig, demo: bool) -> Result<Self, String> {
        let engine = Engine::new(EngineConfig {
            cache_dir: Some(config.data_dir.join("cache")),
            epoch_tick: Duration::from_millis(config.epoch_tick_ms.max(1)),
            max_memory_bytes: config.max_limits.memory_bytes,
            pool_instances: config.pool_instances,
            max_plugin_bytes: usize::try_from(config.max_limits.max_plugin_bytes).unwrap_or(usize::MAX),
            lanes: match config.lanes {
                0 => EngineConfig::default().lanes,
                n => n as usize,
            },
            ..EngineConfig::default()
        })
        .map_err(|e| e.to_string())?;
        // Opening connects and migrates, blocking: off the async runtime.
        let (url, dir, connections) = (
            config.database_url.clone(),
            config.data_dir.clone(),
            config.database_connections as usize,
        );
        let registry = tokio::task::spawn_blocking(move || crate::registry::open(url.as_deref(), &dir, connections))
            .await
            .map_err(|e| format!("opening the store: {e}"))?
            .map_err(|e| match &config.database_url {
                Some(_) => format!("opening the database: {e}"),
                None => format!("opening {}: {e}", config.data_dir.display()),
            })?;
        let operator_token = match (&config.operator_token, demo) {
            (Some(token), _) => Some(token.clone()),
            (None, true) => Some(demo::OPERATOR_TOKEN.to_owned()),
            (None, false) => None,
        };
        let live = Live::new(
            Arc::new(engine),
            registry,
            LiveSettings {
                default_limits: config.default_limits,
                max_limits: config.max_limits,
                compile_timeout: Duration::from_millis(config.compile_timeout_ms),
                check_customers: config.check_customers,
                check_refuses_activation: config.check_refuses_activation,
                operator_token,
                decision_log_retention_days: config.decision_log_retention_days,
                decision_log_max_per_tenant: config.decision_log_max_per_tenant,
                decision_log_requests: config.decision_log_requests,
                simulate_max_customers: config.simulate_max_customers,
                profile_set_max_bytes: config.profile_set_max_bytes,
                profile_sets_max_per_tenant: config.profile_sets_max_per_tenant,
                outbox_retention_days: config.outbox_retention_days,
                // Kept until NATS has it, however long that takes.
                outbox_published_only: config.nats_url.is_some(),
            },
            Arc::new(Metrics::new()),
        )
        .map_err(|e| format!("starting the decision log: {e}"))?;
        let addr: SocketAddr = config
            .listen
            .parse()
            .map_err(|e| format!("listen address {:?}: {e}", config.listen))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("binding {addr}: {e}"))?;
        Ok(Self {
            listener,
            state: AppState {
                live: Arc::new(live),
                limits: ApiLimits {
                    max_body_bytes: usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
                    batch_line_bytes: usize::try_from(config.batch_line_bytes).unwrap_or(usize::MAX),
                    feed_max_wait_s: config.feed_max_wait_s,
                },
            },
            grace: Duration::from_millis(config.shutdown_grace_ms),
            demo,
            demo_customers: config.demo_customers,
            compaction: Duration::from_secs(config.compaction_interval_s.max(1)),
            reconcile: Duration::from_millis(config.reconcile_interval_ms.max(100)),
            moments: MomentSettings {
                lease: Duration::from_millis(config.timer_lease_ms.max(300)),
                poll: Duration::from_millis(config.timer_poll_ms.max(10)),
                parallel: config.timers_at_once.max(1) as usize,
                nats: config.nats_url.as_ref().map(|url| rulehost_stream::Settings {
                    url: url.clone(),
                    creds_file: config.nats_creds.clone(),
                    user: config.nats_user.clone(),
                    password: config.nats_password.clone(),
                    tls_ca: config.nats_tls_ca.clone(),
                    require_tls: config.nats_require_tls,
                    prefix: config.nats_prefix.clone(),
                    ack_wait: Duration::from_secs(u64::from(config.nats_ack_wait_s.max(1))),
                }),
            },
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The live state (for tests that look inside).
    pub fn live(&self) -> &Arc<Live> {
        &self.state.live
    }

    /// Loads plugins (setting up the demo tenants first with `--demo`),
    /// serves until `shutdown` resolves, then lets requests in flight finish
    /// within the grace period.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), String> {
        let live = self.state.live.clone();
        let demo = self.demo.then_some(self.demo_customers);
        let reconcile = self.reconcile;
        let mut loading = tokio::spawn(async move { start_up(&live, demo, reconcile).await });
        let live = self.state.live.clone();
        let every = self.compaction;
        let compacting = tokio::spawn(async move {
            // The first compaction one interval after start, not at once:
            // whether the server were ready at that moment would be a race.
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                if !live.is_ready() {
                    continue;
                }
                // One host of a fleet compacts each interval.
                match live.take_lease("compaction", every).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot tell whether this host compacts now");
                        continue;
                    }
                }
                match live.compact().await {
                    Ok((touches, decisions)) => tracing::info!(touches, decisions, "compacted"),
                    Err(e) => tracing::warn!(error = %e, "compaction failed"),
                }
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let mut graceful = stop_rx.clone();
        let mut deadline = stop_rx;
        let live = self.state.live.clone();
        let server = axum::serve(self.listener, api::app(self.state)).with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
            tracing::info!("shutting down: no new connections; finishing requests in flight");
        });
        let grace = self.grace;
        let serving = server.into_future();
        tokio::pin!(serving);
        let mut loaded = false;
        let mut moments = None;
        let served = loop {
            tokio::select! {
                served = &mut serving => break served.map_err(|e| format!("serving: {e}")),
                started = &mut loading, if !loaded => {
                    loaded = true;
                    if let Err(e) = started.unwrap_or_else(|e| Err(format!("the start-up task failed: {e}"))) {
                        // Already logged; stop serving at once, with the cause.
                        compacting.abort();
                        return Err(e);
                    }
                    // Ready: timers and the outbox run from now on.
                    moments = Some(Moments::start(live.clone(), self.moments.clone()));
                }
                () = async {
                    let _ = deadline.wait_for(|stop| *stop).await;
                    tokio::time::sleep(grace).await;
                } => {
                    tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; exiting with requests in flight");
                    break Ok(());
                }
            }
        };
        compacting.abort();
        if !loaded {
            loading.abort();
        }
        if let Some(moments) = moments
            && tokio::time::timeout(grace, moments.stop()).await.is_err()
        {
            tracing::warn!(
                "timers still running at the end of the grace period; their claims run out for another host"
            );
        }
        served
    }
}

/// Sets up the demo tenants (with `--demo`) and loads every tenant.
///
/// A failure is logged at once, at error level, with its cause. One that
/// trying again may heal (storage out of reach, see
/// [`LiveError::is_transient`]) is retried with a backoff from 1 s
/// doubling to 30 s, each failure logged and `/readyz` saying why; any
/// other (a demo plugin or setting the server refuses, corrupt stored
/// keys) ends the start-up, and the server stops with a non-zero exit.
///
/// With `demo` (`Some(customers)`), the demo tenants are set up first, and
/// once the server is ready the demo customers are stored beside.
async fn start_up(live: &Arc<Live>, demo: Option<u64>, reconcile: Duration) -> Result<(), String> {
    let follower = retrying(
        || async {
            // Other hosts' changes are listened for before anything is
            // loaded, so nothing committed meanwhile is missed.
            let follower = live.listen().await.map_err(|e| ("listening for changes", e))?;
            if demo.is_some() {
                live.set_not_ready("setting up the demo tenants");
                demo::ensure(live)
                    .await
                    .map_err(|e| ("setting up the demo tenants", e))?;
            }
            live.load().await.map_err(|e| ("loading plugins", e))?;
            Ok(follower)
        },
        |why| live.set_not_ready(why),
    )
    .await?;
    if let Some(follower) = follower {
        tokio::spawn(live.clone().follow(follower, reconcile));
        tokio::spawn(live.clone().publish_counts(Duration::from_secs(1)));
    }
    if let Some(customers) = demo.filter(|&n| n > 0) {
        tokio::spawn(demo::store_customers(live.clone(), customers));
    }
    Ok(())
}

/// Runs `attempt` until it succeeds or fails for good (see [`start_up`]);
/// `report` hears why the server is not ready while it waits to retry.
async fn retrying<T, F, Fut>(mut attempt: F, report: impl Fn(String)) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, (&'static str, LiveError)>>,
{
    let mut wait = Duration::from_secs(1);
    let mut number = 0u32;
    loop {
        number += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err((what, e)) if e.is_transient() => {
                tracing::error!(attempt = number, retry_in_s = wait.as_secs(), error = %e, "start-up failed: {what}; retrying");
                report(format!(
                    "start-up failed ({what}, attempt {number}): {e}; retrying in {} s",
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err((what, e)) => {
                tracing::error!(error = %e, "start-up failed: {what}; stopping the server");
                return Err(format!("{what}: {e}"));
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// What `serve --demo` prints so a user can try it at once.
pub fn demo_banner(addr: SocketAddr, operator_token: &str) -> String {
    let mut out = format!(
        "rulehost demo on http://{addr}\n  console:        http://{addr}{}\n  operator token: {operator_token}\n",
        crate::console::PATH
    );
    for tenant in &demo::TENANTS {
        out.push_str(&format!(
            "  tenant {:<8} key: {}   (plugin {})\n",
            tenant.id,
            tenant.key(),
            tenant.plugin
        ));
    }
    out.push_str(&format!(
        "try:\n  curl -s -H 'Authorization: Bearer {}' --data @plugins/coffee-chain/sample/decide.json http://{addr}/v1/tenants/coffee/decide\n",
        demo::TENANTS[0].key()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryError;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rulehost.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nshutdown_grace_ms = 500\n[default_limits]\nfuel = 1000000\n",
        )
        .unwrap();
        let overrides = Overrides {
            config_file: Some(file),
            listen: None,
            data_dir: Some("/tmp/x".into()),
        };
        let config = ServerConfig::load(
            &overrides,
            env(&[
                ("RULEHOST_SHUTDOWN_GRACE_MS", "700"),
                ("RULEHOST_DEFAULT_LIMITS__DEADLINE_MS", "80"),
                ("RULEHOST_OPERATOR_TOKEN", "s3cret"),
                ("RULEHOST_SERVER", "not a setting: ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.shutdown_grace_ms, 700);
        assert_eq!(config.default_limits.fuel, 1_000_000);
        assert_eq!(config.default_limits.deadline_ms, 80);
        assert_eq!(config.operator_token.as_deref(), Some("s3cret"));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.compile_timeout_ms, ServerConfig::default().compile_timeout_ms);
    }

    #[test]
    fn unknown_settings_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rulehost.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:9000\"\n").unwrap();
        let err = ServerConfig::load(
            &Overrides {
                config_file: Some(file),
                ..Overrides::default()
            },
            Vec::new(),
        )
        .unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_up_that_storage_fails_is_retried_with_backoff_and_says_why() {
        let attempts = std::cell::Cell::new(0);
        let reports = std::sync::Mutex::new(Vec::new());
        let started = tokio::time::Instant::now();
        let result = retrying(
            || {
                attempts.set(attempts.get() + 1);
                let n = attempts.get();
                async move {
                    if n < 4 {
                        Err((
                            "loading plugins",
                            LiveError::Registry(RegistryError::Storage("database is locked".into())),
                        ))
                    } else {
                        Ok(())
                    }
                }
            },
            |why| reports.lock().unwrap().push(why),
        )
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(attempts.get(), 4);
        // 1 + 2 + 4 seconds of backoff.
        assert_eq!(started.elapsed(), Duration::from_secs(7));
        let reports = reports.into_inner().unwrap();
        assert_eq!(reports.len(), 3);
        assert_eq!(
            reports[2],
            "start-up failed (loading plugins, attempt 3): storage: database is locked; retrying in 4 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_up_refused_for_good_ends_at_once_with_its_cause() {
        let attempts = std::cell::Cell::new(0);
        let result: Result<(), String> = retrying(
            || {
                attempts.set(attempts.get() + 1);
                async {
                    Err((
                        "setting up the demo tenants",
                        LiveError::Engine(crate::Error::invalid_plugin(
                            crate::Defect::TooLarge,
                            "the plugin is 90000 bytes; the tenant's limit is 1000 bytes",
                        )),
                    ))
                }
            },
            |_| panic!("nothing to wait for"),
        )
        .await;
        assert_eq!(attempts.get(), 1);
        let err = result.unwrap_err();
        assert!(err.starts_with("setting up the demo tenants: "), "{err}");
        assert!(err.contains("limit is 1000 bytes"), "{err}");
    }

    #[test]
    fn bad_env_values_are_refused_with_the_setting_named() {
        let err = ServerConfig::load(&Overrides::default(), env(&[("RULEHOST_POOL_INSTANCES", "many")])).unwrap_err();
        assert!(err.contains("pool_instances"), "{err}");
    }
}
