//! The rulehost benchmark suite.
//!
//! Every figure is measured on this machine in one run, side by side with
//! what it is compared to (these machines are noisy: ratios and medians,
//! interleaved runs). `cargo bench -p rulehost-bench` prints one table with
//! each figure, its target and whether it is met; BENCHMARKS.md records the
//! latest table and what stands behind each number.

mod always_on;
mod fleet;
mod languages;
mod native;
mod report;
mod scenarios;
mod stats;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use rulehost::engine::{Engine, EngineConfig, Plugin};
use rulehost::generate::{self, Brand};
use rulehost::model::{self, Offer, Request, TenantConfig, Timestamp};
use rulehost_test_artifacts::PLUGINS_DIR;

pub use report::Table;
pub use scenarios::variant;
pub use stats::Samples;

/// Profiles per brand for the per-decision comparisons.
pub const PROFILES: usize = 10_000;

/// One brand's generated customers, parsed, with the brand's sample config
/// and catalog.
pub struct Workload {
    /// Which brand.
    pub brand: Brand,
    /// The brand's plugin crate name.
    pub plugin: &'static str,
    /// Decide requests as JSON (what a client sends), cheap to share with
    /// the HTTP load generator.
    pub bodies: Arc<[Bytes]>,
    /// The same requests, parsed.
    pub requests: Vec<Request>,
    /// The brand's config.
    pub config: Arc<TenantConfig>,
    /// The brand's catalog.
    pub offers: Vec<Offer>,
}

impl Workload {
    /// Generates `n` customers of `brand` (seed 42).
    pub fn new(brand: Brand, n: usize) -> Self {
        let plugin = match brand {
            Brand::Coffee => "coffee-chain",
            Brand::Apparel => "apparel-rfm",
        };
        let sample = |file: &str| {
            std::fs::read_to_string(format!("{PLUGINS_DIR}/{plugin}/sample/{file}")).expect("the plugin's sample")
        };
        let config: TenantConfig = model::from_json("config", &sample("config.json")).expect("config");
        let offers: Vec<Offer> = model::from_json("offers", &sample("offers.json")).expect("offers");
        let now = Timestamp::parse(generate::DEFAULT_NOW).expect("now");
        let catalog: Arc<[Offer]> = offers.clone().into();
        let mut bodies = Vec::with_capacity(n);
        let mut requests = Vec::with_capacity(n);
        for profile in generate::profiles(brand, n, 42, now) {
            bodies.push(Bytes::from(
                serde_json::to_vec(&serde_json::json!({"profile": profile, "now": generate::DEFAULT_NOW}))
                    .expect("json"),
            ));
            requests.push(Request {
                now,
                tz_offset_minutes: 480,
                seed: 0,
                mode: model::Mode::Live,
                trigger: None,
                profile: serde_json::from_value(profile).expect("a generated profile parses"),
                offers: catalog.clone(),
            });
        }
        Self {
            brand,
            plugin,
            bodies: bodies.into(),
            requests,
            config: Arc::new(config),
            offers,
        }
    }

    /// Mean bytes of a request body.
    pub fn mean_body_bytes(&self) -> usize {
        self.bodies.iter().map(Bytes::len).sum::<usize>() / self.bodies.len().max(1)
    }
}

/// A release-build engine like the server's.
pub fn engine() -> Engine {
    Engine::new(EngineConfig::default()).expect("engine")
}

/// Loads a compiled test artifact.
pub fn load(engine: &Engine, path: &str) -> Arc<Plugin> {
    Arc::new(engine.load(&std::fs::read(path).expect("artifact")).expect("loads"))
}

/// Runs the suite and prints the table; the exit code is 0, or 2 for an
/// argument that is not a section number. Arguments that are section
/// numbers (`cargo bench -p rulehost-bench -- 2 3`) run only those.
pub fn main() -> i32 {
    if let Some(dir) = std::env::var_os(scenarios::CHILD) {
        scenarios::child_restart(std::path::Path::new(&dir));
        return 0;
    }
    // The servers' log, when asked for (`RUST_LOG=warn`): what went wrong
    // behind a figure.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run `cargo bench -p rulehost-bench` for release figures");
    }
    let mut only = Vec::new();
    for arg in std::env::args().skip(1).filter(|a| a != "--bench") {
        match arg.parse::<u32>() {
            Ok(section) if (1..=10).contains(&section) => only.push(section),
            _ => {
                eprintln!("error: `{arg}` is not a section number (1 to 10)");
                return 2;
            }
        }
    }
    let started = Instant::now();
    let mut table = Table::default();
    scenarios::run_all(&mut table, &only);
    println!("{}", table.render());
    println!("suite took {:.0} s", started.elapsed().as_secs_f64());
    0
}
