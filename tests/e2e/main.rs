//! End-to-end tests of the host with real compiled plugins.
//!
//! Every plugin here is a real crate from `plugins/`, compiled to a
//! component by the `rulehost-test-artifacts` build script; nothing stands
//! in for the engine, the plugins or the CLI.

mod book;
mod canary;
mod cli;
mod console;
mod contract;
mod crash;
mod events;
mod fixtures;
mod fleet;
mod fleet_always_on;
mod fuzzing;
mod hostile;
mod languages;
mod loading;
mod moments;
mod pipeline;
mod policy;
mod properties;
mod reliability;
mod replay;
mod sandbox;
mod security;
mod serve;
mod shadow;
mod simulate;
mod startup;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rulehost::engine::{Engine, EngineConfig, Limits, Plugin};
use rulehost::model::{self, Offer, Profile, Request, TenantConfig, Timestamp};
use rulehost::{Error, decision::Decision, pipeline as pipe};

/// One engine for the whole test binary, like one per server process.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("the engine starts"))
}

/// A compiled test plugin by its artifact path, compiled once per binary.
pub fn plugin(path: &str) -> Arc<Plugin> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Plugin>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().expect("no test panics while holding the cache").get(path) {
        return p.clone();
    }
    let bytes = std::fs::read(path).expect("the artifact was built");
    let loaded = Arc::new(engine().load(&bytes).expect("the test plugin loads"));
    cache
        .lock()
        .expect("cache lock")
        .insert(path.to_owned(), loaded.clone());
    loaded
}

/// Debian's Chromium, which the report and console tests drive; the
/// flags it needs on this kind of machine (DESIGN.md §6: without the
/// networking ones it hammers a closed network).
pub fn chromium() -> &'static str {
    let path = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(path).exists(),
        "the browser tests drive Debian's chromium: `apt-get install chromium` (scripts/test does)"
    );
    path
}

/// See [`chromium`]; headless and the profile directory are each
/// caller's own.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Tests that use a lot of memory or CPU take this lock, so they neither
/// disturb each other's measurements nor run the machine out of memory.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request for `profile` (JSON) at `now` with the given offers (JSON).
pub fn request(now: &str, profile: &str, offers: &str) -> Request {
    Request {
        now: Timestamp::parse(now).expect("valid now"),
        tz_offset_minutes: 480,
        seed: 0,
        mode: model::Mode::Live,
        trigger: None,
        profile: model::from_json::<Profile>("profile", profile).expect("valid profile"),
        offers: model::from_json::<Vec<Offer>>("offers", offers)
            .expect("valid offers")
            .into(),
    }
}

/// A tenant config from JSON.
pub fn config(json: &str) -> Arc<TenantConfig> {
    Arc::new(model::from_json("config", json).expect("valid config"))
}

/// Runs one decision.
pub fn decide(
    plugins: &[Arc<Plugin>],
    request: &Request,
    config: Arc<TenantConfig>,
    limits: &Limits,
) -> Result<Decision, Error> {
    pipe::decide(engine(), None, plugins, request, config, limits)
}

/// The coffee brand's config used across tests.
pub const COFFEE_CONFIG: &str = r#"{"coffee.dormant_after_days":14,"coffee.churned_after_days":45,
    "coffee.growth_min_purchases":3,"coffee.maturity_min_purchases":8,"coffee.window_days":90,
    "coffee.about_to_sleep_days":10,"coffee.high_value_min_minor":50000}"#;

/// A small coffee catalog.
pub const COFFEE_OFFERS: &str = r#"[
    {"id":"welcome-latte","kind":"new_customer_coupon","channels":["sms"],"value_minor":1000,"priority":40},
    {"id":"pastry-pairing","kind":"cross_sell","channels":["wecom_1v1"],"priority":20}]"#;

/// A growth-stage coffee customer.
pub const COFFEE_PROFILE: &str = r#"{"customer_id":"c-1","attributes":{"member_level":"gold"},"events":[
    {"kind":"purchase","at":"2026-03-01T09:00:00+08:00","amount_minor":2800,"category":"latte"},
    {"kind":"purchase","at":"2026-03-03T09:00:00+08:00","amount_minor":3200,"category":"latte"},
    {"kind":"purchase","at":"2026-03-05T09:00:00+08:00","amount_minor":2600,"category":"mocha","channel":"wecom_1v1"}]}"#;

/// The decision time used with [`COFFEE_PROFILE`].
pub const NOW: &str = "2026-03-10T10:00:00+08:00";

/// A decision of the coffee plugin on [`COFFEE_PROFILE`] with default limits.
pub fn coffee_decision() -> Result<Decision, Error> {
    decide(
        &[plugin(rulehost_test_artifacts::COFFEE_CHAIN)],
        &request(NOW, COFFEE_PROFILE, COFFEE_OFFERS),
        config(COFFEE_CONFIG),
        &Limits::default(),
    )
}

/// Processes that keep every core of the machine busy while they live.
pub struct BusyMachine(Vec<std::process::Child>);

impl BusyMachine {
    /// One busy loop (`sh`, normal priority) per core.
    pub fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self(
            (0..cores)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .expect("a busy loop starts")
                })
                .collect(),
        )
    }
}

impl Drop for BusyMachine {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
