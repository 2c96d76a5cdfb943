//! 9: the coffee rules in Rust, TypeScript and Python side by side — what
//! each costs to compile, to load from the precompiled cache, to keep
//! loaded, and per decision with a fresh sandbox, on a quiet machine and
//! with another core busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rulehost::engine::{Engine, EngineConfig, Limits, Plugin};
use rulehost::pipeline;
use rulehost_test_artifacts::{COFFEE_CHAIN, COFFEE_CHAIN_PY, COFFEE_CHAIN_TS, COFFEE_CHAIN_TS_SPIDERMONKEY};

use crate::stats::Samples;
use crate::{Table, Workload};

/// Decisions per language per condition.
const DECISIONS: usize = 2_000;

struct Language {
    name: &'static str,
    artifact: &'static str,
    /// Issue 26's targets: fuel per decision (p50), and time per decision
    /// with a fresh sandbox, p50 and p99, in µs; none for Rust (unchanged).
    target: Option<Target>,
}

#[derive(Clone, Copy)]
struct Target {
    fuel: f64,
    p50_us: f64,
    p99_us: Option<f64>,
}

const TYPESCRIPT: Option<Target> = Some(Target {
    fuel: 6e6,
    p50_us: 2_000.0,
    p99_us: Some(5_000.0),
});

const LANGUAGES: [Language; 4] = [
    Language {
        name: "Rust",
        artifact: COFFEE_CHAIN,
        target: None,
    },
    Language {
        name: "TypeScript (QuickJS)",
        artifact: COFFEE_CHAIN_TS,
        target: TYPESCRIPT,
    },
    Language {
        name: "TypeScript (SpiderMonkey)",
        artifact: COFFEE_CHAIN_TS_SPIDERMONKEY,
        target: TYPESCRIPT,
    },
    Language {
        name: "Python",
        artifact: COFFEE_CHAIN_PY,
        target: Some(Target {
            fuel: 12e6,
            p50_us: 4_000.0,
            p99_us: None,
        }),
    },
];

/// 9: the three coffee plugins.
pub fn languages(table: &mut Table, w: &Workload) {
    let cache = tempfile::tempdir().expect("a cache dir");
    let cached = || {
        Engine::new(EngineConfig {
            cache_dir: Some(cache.path().to_owned()),
            ..EngineConfig::default()
        })
        .expect("an engine")
    };
    // Compilation, with the cache filled on the way; then a new engine (a
    // restarted host) loads each from the cache.
    let compiling = cached();
    let mut compile = Vec::new();
    for lang in &LANGUAGES {
        let bytes = std::fs::read(lang.artifact).expect("the artifact");
        let started = Instant::now();
        let compiled = compiling.compile(&bytes).expect("compiles");
        compile.push((started.elapsed(), bytes));
        assert!(!compiled.precompiled(), "{}: the cache was not empty", lang.name);
    }
    drop(compiling);
    let engine = cached();
    let mut plugins = Vec::new();
    let mut figures = Vec::new();
    for (lang, (compile_time, bytes)) in LANGUAGES.iter().zip(&compile) {
        let before = crate::scenarios::resident_bytes();
        let started = Instant::now();
        let plugin = Arc::new(engine.load(bytes).expect("loads"));
        let load_time = started.elapsed();
        assert!(plugin.compiled().precompiled(), "{}: not from the cache", lang.name);
        // What one loaded version holds once it has decided: its code
        // mapped in and its first instance's pages.
        decide(&engine, &plugin, w, 0);
        let resident = crate::scenarios::resident_bytes().saturating_sub(before);
        figures.push(format!(
            "{} {:.1} MB: compile {:.1} s, cache load {:.1} ms, resident +{:.1} MB",
            lang.name,
            bytes.len() as f64 / 1e6,
            compile_time.as_secs_f64(),
            load_time.as_secs_f64() * 1e3,
            resident as f64 / 1e6
        ));
        plugins.push(plugin);
    }
    table.info(
        "9",
        "coffee plugins by language: size, compile, cache load, resident memory per loaded version",
        figures.join("; "),
    );

    for busy in [false, true] {
        let spinner = busy.then(Spinner::start);
        // Interleaved, one decision of each language per customer, so
        // the machine's moods fall on all three alike.
        let mut samples: Vec<Samples> = LANGUAGES.iter().map(|_| Samples::default()).collect();
        let mut fuel: Vec<Vec<u64>> = LANGUAGES.iter().map(|_| Vec::new()).collect();
        for i in 0..DECISIONS + 100 {
            for ((plugin, samples), fuel) in plugins.iter().zip(&mut samples).zip(&mut fuel) {
                let (took, burnt) = decide(&engine, plugin, w, i);
                if i >= 100 {
                    samples.push(took);
                    fuel.push(burnt);
                }
            }
        }
        if !busy {
            for (lang, fuel) in LANGUAGES.iter().zip(&mut fuel) {
                fuel.sort_unstable();
                let at = |p: usize| fuel[(fuel.len() - 1) * p / 100] as f64;
                let figure = format!(
                    "p50 **{:.2}M**, p99 {:.2}M, max {:.2}M",
                    at(50) / 1e6,
                    at(99) / 1e6,
                    at(100) / 1e6
                );
                let what = format!("fuel (wasm instructions) per coffee decision, {}", lang.name);
                match lang.target {
                    Some(target) => table.check(
                        "9",
                        &what,
                        figure,
                        &format!("p50 ≤ {:.0}M", target.fuel / 1e6),
                        at(50) <= target.fuel,
                    ),
                    None => table.info("9", &what, figure),
                }
            }
        }
        drop(spinner);
        let condition = if busy { "the other core busy" } else { "quiet" };
        let rust = samples[0].percentile_us(50.0);
        for (lang, s) in LANGUAGES.iter().zip(&samples) {
            let (p50, p99) = (s.percentile_us(50.0), s.percentile_us(99.0));
            let what = format!("coffee decision with a fresh sandbox, {}, {condition}", lang.name);
            let figure = format!(
                "p50 **{p50:.0} µs** ({:.1}× Rust), p99 **{p99:.0} µs** ({DECISIONS} decisions)",
                p50 / rust
            );
            match lang.target {
                Some(target) => {
                    let (wanted, met) = match target.p99_us {
                        Some(p99_target) => (
                            format!("p50 ≤ {:.0} ms, p99 ≤ {:.0} ms", target.p50_us / 1e3, p99_target / 1e3),
                            p50 <= target.p50_us && p99 <= p99_target,
                        ),
                        None => (format!("p50 ≤ {:.0} ms", target.p50_us / 1e3), p50 <= target.p50_us),
                    };
                    table.check("9", &what, figure, &wanted, met);
                }
                None => table.info("9", &what, figure),
            }
        }
    }
}

/// Limits that never end a coffee decision early, so every language's
/// whole cost is measured whatever a change does to it (the defaults hold
/// every coffee decision today: README "Limits by language").
fn roomy() -> Limits {
    Limits {
        fuel: 10_000_000_000,
        deadline_ms: 10_000,
        ..Limits::default()
    }
}

/// One coffee decision of customer `i` with a fresh sandbox: its time and
/// the fuel it burnt.
fn decide(engine: &Engine, plugin: &Arc<Plugin>, w: &Workload, i: usize) -> (Duration, u64) {
    let request = &w.requests[i % w.requests.len()];
    let started = Instant::now();
    let decision = pipeline::decide(
        engine,
        None,
        std::slice::from_ref(plugin),
        request,
        w.config.clone(),
        &roomy(),
    );
    let took = started.elapsed();
    match decision {
        Ok(decision) => (took, decision.usage.fuel),
        Err(e) => panic!("{}: a decision failed: {e}", plugin.info().name),
    }
}

/// A thread that keeps one core busy until dropped.
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut x = 0u64;
            while !flag.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
