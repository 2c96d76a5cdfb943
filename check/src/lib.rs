//! `rulehost check PLUGIN`: what a brand runs before it publishes a plugin
//! (after Shopify's `function-runner`, which runs one input; this runs
//! many). The plugin decides for customers of every shape — the brand's
//! own set, or generated ones and the edge shapes of [`shapes`] — twice
//! each, in a fresh sandbox under the limits it would run under, and the
//! [`Report`] says:
//!
//! - instructions (fuel), time and linear memory per decision, p50, p99
//!   and max, against the limits;
//! - every failure by kind (a trap, an invalid output, past a limit), with
//!   the first failing input of each kind ready to save as a fixture;
//! - nondeterminism: an input whose two runs decided differently;
//! - whether the plugin fits: no failure of those kinds, the same answer
//!   twice for every input.
//!
//! A plugin's own typed error (`plugin_error`, e.g. a config key it
//! requires) is counted and shown, but does not make it unfit: it is an
//! answer the plugin chose.

use std::sync::Arc;

use rulehost_engine::decision::Decision;
use rulehost_engine::{Engine, Error, Limits, Plugin, pipeline};
use rulehost_model::{Mode, Offer, Profile, Request, TenantConfig, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

mod shapes;

pub use shapes::shapes;

/// One customer to decide for, with what it stands for in the report.
#[derive(Debug, Clone)]
pub struct Customer {
    /// What the customer is (a shape, or where it came from).
    pub label: String,
    /// The profile.
    pub profile: Profile,
}

/// What the plugin runs with: the tenant's config and offers, the limits
/// it would run under, and the decisions' time and offset.
pub struct Setting<'a> {
    /// The engine the plugin was loaded into.
    pub engine: &'a Engine,
    /// The pipeline (one plugin, or several in order).
    pub plugins: &'a [Arc<Plugin>],
    /// The tenant config.
    pub config: Arc<TenantConfig>,
    /// The offer catalog.
    pub offers: Arc<[Offer]>,
    /// The limits of one decision.
    pub limits: Limits,
    /// The decisions' time.
    pub now: Timestamp,
    /// The tenant's offset from UTC, in minutes.
    pub tz_offset_minutes: i32,
    /// The tenant whose lanes the decisions take, in a server (shared fairly
    /// with its live decisions and other tenants'); none: run on the
    /// calling thread.
    pub owner: Option<Arc<str>>,
    /// Stop after this many failed runs (a server's check of a plugin that
    /// times out need not wait for every deadline); `usize::MAX`: never.
    pub stop_after_failures: usize,
}

/// p50, p99 and the largest of a measure over every run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = CheckSpread)]
pub struct Spread {
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The largest.
    pub max: u64,
}

impl Spread {
    fn of(mut values: Vec<u64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let at = |p: usize| values[(values.len() * p).div_ceil(100).max(1) - 1];
        Self {
            p50: at(50),
            p99: at(99),
            max: values[values.len() - 1],
        }
    }
}

/// The failures of one kind.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CheckFailures)]
pub struct Failures {
    /// The error code (`plugin_trap`, `plugin_out_of_fuel`, …).
    pub code: String,
    /// Runs that ended so.
    pub count: usize,
    /// The first customer it happened to.
    pub first: String,
    /// What the host said, the first time.
    pub message: String,
    /// The first failing input as a fixture file (`rulehost test` runs it).
    #[serde(skip)]
    pub fixture: Value,
}

/// An input whose two runs decided differently.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CheckNondeterministic)]
pub struct Nondeterministic {
    /// The customer.
    pub customer: String,
    /// The first field that differed.
    pub field: String,
    /// The input as a fixture file expecting the first run's answer.
    #[serde(skip)]
    pub fixture: Value,
}

/// What a check found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = CheckReport)]
pub struct Report {
    /// Customers decided for (fewer than given when it stopped at its
    /// failures).
    pub customers: usize,
    /// Decisions run (two per customer).
    pub runs: usize,
    /// The limits the plugin ran under.
    pub limits: Limits,
    /// Fuel (wasm instructions) per decision that answered.
    pub fuel: Spread,
    /// Wall-clock time per decision that answered, in microseconds.
    pub time_us: Spread,
    /// Linear memory at its peak per decision that answered, in bytes.
    pub memory_bytes: Spread,
    /// Failures that make the plugin unfit, by kind.
    pub failures: Vec<Failures>,
    /// The plugin's own errors (answers it chose), by code and reason.
    pub plugin_errors: Vec<Failures>,
    /// Inputs decided differently the second time.
    pub nondeterministic: Vec<Nondeterministic>,
    /// Whether the plugin fits the limits and decides every input the same
    /// way twice without failing.
    pub fits: bool,
}

/// The decision's parts that must come out the same from the same input
/// (and that a fixture may expect, beside the plugins that ran).
pub const COMPARED: [&str; 8] = [
    "customer_id",
    "stage",
    "tags",
    "scores",
    "proposals",
    "wakes",
    "logs",
    "error",
];

/// Decides for every customer twice, in a fresh sandbox each time, and
/// reports.
pub fn run(setting: &Setting<'_>, customers: &[Customer]) -> Report {
    run_with(setting, customers, |request| {
        let lane = setting.owner.clone().map(|owner| setting.engine.lane(owner));
        pipeline::decide(
            setting.engine,
            lane.as_ref(),
            setting.plugins,
            request,
            setting.config.clone(),
            &setting.limits,
        )
    })
}

/// [`run`] with `decide` making each decision.
fn run_with(
    setting: &Setting<'_>,
    customers: &[Customer],
    mut decide: impl FnMut(&Request) -> Result<Decision, Error>,
) -> Report {
    let (mut fuel, mut time, mut memory) = (Vec::new(), Vec::new(), Vec::new());
    let (mut failures, mut plugin_errors, mut nondeterministic) = (Vec::<Failures>::new(), Vec::new(), Vec::new());
    let mut checked = 0;
    for (i, customer) in customers.iter().enumerate() {
        if failures.iter().map(|f: &Failures| f.count).sum::<usize>() >= setting.stop_after_failures {
            break;
        }
        checked += 1;
        let request = Request {
            now: setting.now,
            tz_offset_minutes: setting.tz_offset_minutes,
            seed: i as u64,
            mode: Mode::Live,
            trigger: None,
            profile: customer.profile.clone(),
            offers: setting.offers.clone(),
        };
        let answers: [Value; 2] = std::array::from_fn(|_| match decide(&request) {
            Ok(decision) => {
                fuel.push(decision.usage.fuel);
                time.push(decision.usage.duration_us);
                memory.push(decision.usage.memory_bytes);
                answered(&decision)
            }
            Err(error) => {
                let into = if matches!(error, Error::PluginError { .. }) {
                    &mut plugin_errors
                } else {
                    &mut failures
                };
                count(into, &error, customer, setting, &request);
                json!({"error": error.to_body().error})
            }
        });
        if let Some(field) = COMPARED.iter().find(|f| answers[0].get(**f) != answers[1].get(**f)) {
            nondeterministic.push(Nondeterministic {
                customer: customer.label.clone(),
                field: (*field).to_owned(),
                fixture: fixture(
                    setting,
                    &request,
                    &format!("nondeterministic: {}", customer.label),
                    answers[0].clone(),
                ),
            });
        }
    }
    let fits = failures.is_empty() && nondeterministic.is_empty();
    Report {
        customers: checked,
        runs: checked * 2,
        limits: setting.limits,
        fuel: Spread::of(fuel),
        time_us: Spread::of(time),
        memory_bytes: Spread::of(memory),
        failures,
        plugin_errors,
        nondeterministic,
        fits,
    }
}

/// The compared parts of a decision.
fn answered(decision: &Decision) -> Value {
    let mut value = serde_json::to_value(decision).unwrap_or(Value::Null);
    if let Some(fields) = value.as_object_mut() {
        fields.retain(|k, _| COMPARED.contains(&k.as_str()));
    }
    value
}

/// Counts a failure under its code (a plugin's own error under its code and
/// reason), keeping the first input of each.
fn count(into: &mut Vec<Failures>, error: &Error, customer: &Customer, setting: &Setting<'_>, request: &Request) {
    let body = error.to_body().error;
    let code = match &body.reason {
        Some(reason) => format!("{}: {reason}", body.code),
        None => body.code.clone(),
    };
    if let Some(seen) = into.iter_mut().find(|f| f.code == code) {
        seen.count += 1;
        return;
    }
    let expect = json!({"error": body});
    into.push(Failures {
        code: code.clone(),
        count: 1,
        first: customer.label.clone(),
        message: clipped(&body.message),
        fixture: fixture(setting, request, &format!("{code}: {}", customer.label), expect),
    });
}

/// At most 300 characters of `text` on one line (an error may quote a
/// plugin's whole output back, or its panic message over lines).
fn clipped(text: &str) -> String {
    let line = text.replace('\n', " ");
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// A fixture file of `request` under `setting` expecting `expect` (the
/// parts of an answer or an error), named `name`.
fn fixture(setting: &Setting<'_>, request: &Request, name: &str, expect: Value) -> Value {
    let expect: serde_json::Map<String, Value> = expect
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(k, _)| *k != "customer_id")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": name,
        "description": "saved by `rulehost check`: what the plugin answered for this input. Decide what it should answer, and write that under expect.",
        "now": request.now,
        "tz_offset_minutes": request.tz_offset_minutes,
        "seed": request.seed,
        "config": &*setting.config,
        "offers": &*request.offers,
        "profile": request.profile,
        "expect": expect,
    })
}

impl Report {
    /// The report for people: the figures against the limits, each
    /// failure, and a last line that says plainly whether the plugin fits.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let l = &self.limits;
        let share = |value: u64, limit: u64| format!("{:.1}% at the max", value as f64 * 100.0 / limit.max(1) as f64);
        let _ = writeln!(
            out,
            "{} customers, {} decisions (each input twice)",
            self.customers, self.runs
        );
        let mut row = |label: &str, s: Spread, unit: f64, limit: f64, decimals: usize, note: String| {
            let v = |x: u64| x as f64 / unit;
            let _ = writeln!(
                out,
                "{label:<13}p50 {:>12.decimals$}  p99 {:>12.decimals$}  max {:>12.decimals$}  limit {limit:>12.decimals$} ({note})",
                v(s.p50),
                v(s.p99),
                v(s.max),
            );
        };
        row("fuel", self.fuel, 1.0, l.fuel as f64, 0, share(self.fuel.max, l.fuel));
        let note = "CPU time; wall time shown".to_owned();
        row("time (ms)", self.time_us, 1e3, l.deadline_ms as f64, 2, note);
        let (mib, memory) = (f64::from(1 << 20), share(self.memory_bytes.max, l.memory_bytes));
        row(
            "memory (MiB)",
            self.memory_bytes,
            mib,
            l.memory_bytes as f64 / mib,
            1,
            memory,
        );
        for (kind, failures) in [("FAILED", &self.failures), ("its own error", &self.plugin_errors)] {
            for f in failures {
                let _ = writeln!(
                    out,
                    "{kind} {} × {}: first for {}: {}",
                    f.count, f.code, f.first, f.message
                );
            }
        }
        for n in &self.nondeterministic {
            let _ = writeln!(
                out,
                "NONDETERMINISTIC for {}: `{}` differed between two runs",
                n.customer, n.field
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if self.fits {
                "fits: every decision answered within the limits, the same way twice"
            } else {
                "does not fit the limits it would run under (see above)"
            }
        );
        out
    }

    /// The fixture files to save: (file name, contents), the first
    /// failing input of each kind and each nondeterministic input.
    pub fn fixtures(&self) -> Vec<(String, Value)> {
        let slug = |text: &str| -> String {
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .split('-')
                .filter(|s| !s.is_empty())
                .take(6)
                .collect::<Vec<_>>()
                .join("-")
        };
        let failed = self
            .failures
            .iter()
            .map(|f| (format!("{}-{}.json", slug(&f.code), slug(&f.first)), f.fixture.clone()));
        let unsteady = self.nondeterministic.iter().map(|n| {
            (
                format!("nondeterministic-{}.json", slug(&n.customer)),
                n.fixture.clone(),
            )
        });
        failed.chain(unsteady).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use rulehost_engine::EngineConfig;
    use rulehost_model::{InputLimits, Stage};

    use super::*;

    #[test]
    fn a_spread_is_nearest_rank() {
        let spread = Spread::of((1..=200).rev().collect());
        assert_eq!(
            spread,
            Spread {
                p50: 100,
                p99: 198,
                max: 200
            }
        );
        assert_eq!(Spread::of(vec![7]), Spread { p50: 7, p99: 7, max: 7 });
        assert_eq!(Spread::of(Vec::new()), Spread::default());
    }

    fn decision(customer_id: &str, stage: &str, fuel: u64) -> Decision {
        serde_json::from_value(json!({
            "customer_id": customer_id,
            "stage": {"value": stage, "reason": "because", "rule_id": "r", "plugin": "p"},
            "tags": [], "scores": [], "proposals": [], "plugins": [], "logs": [],
            "usage": {"fuel": fuel, "duration_us": 10, "memory_bytes": 1 << 20},
        }))
        .expect("a decision")
    }

    fn setting(engine: &Engine) -> Setting<'_> {
        Setting {
            engine,
            plugins: &[],
            config: Arc::default(),
            offers: Arc::from(Vec::new()),
            limits: Limits::default(),
            now: Timestamp(1_773_108_000_000),
            tz_offset_minutes: 480,
            owner: None,
            stop_after_failures: usize::MAX,
        }
    }

    #[test]
    fn an_input_decided_two_ways_is_reported_with_the_field_and_a_fixture() {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let setting = setting(&engine);
        let customers = shapes(setting.now, &InputLimits::default());
        let calls = Cell::new(0_u32);
        // Steady for every customer but the unicode one, whose stage
        // alternates between runs (as a plugin reading a clock would).
        let report = run_with(&setting, &customers, |request| {
            calls.set(calls.get() + 1);
            let id = &request.profile.customer_id;
            let stage = if id.starts_with("顾客") && calls.get().is_multiple_of(2) {
                "growth"
            } else {
                "introduction"
            };
            Ok(decision(id, stage, 1_000 + u64::from(calls.get())))
        });
        assert_eq!(calls.get() as usize, customers.len() * 2);
        assert_eq!(report.runs, customers.len() * 2);
        assert!(!report.fits);
        assert!(report.failures.is_empty());
        assert_eq!(report.nondeterministic.len(), 1, "{:?}", report.nondeterministic);
        let unsteady = &report.nondeterministic[0];
        assert!(unsteady.customer.starts_with("unicode"), "{}", unsteady.customer);
        assert_eq!(unsteady.field, "stage");
        // The fixture expects what the first run answered.
        assert_eq!(unsteady.fixture["expect"]["stage"]["value"], "introduction");
        assert_eq!(unsteady.fixture["profile"]["customer_id"], "顾客-☕-مرحبا");
        assert!(
            report.text().contains("NONDETERMINISTIC for unicode"),
            "{}",
            report.text()
        );
        let files = report.fixtures();
        assert_eq!(files.len(), 1);
        assert!(files[0].0.starts_with("nondeterministic-unicode"), "{}", files[0].0);
        // Fuel differed between the runs too, but usage is not compared.
        assert_eq!(report.fuel.max, 1_000 + calls.get() as u64);
    }

    #[test]
    fn failures_count_by_kind_and_a_plugins_own_errors_do_not_make_it_unfit() {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let setting = setting(&engine);
        let customers = shapes(setting.now, &InputLimits::default());
        let report = run_with(&setting, &customers, |request| {
            let id = request.profile.customer_id.as_str();
            if id == "check-empty" {
                Err(Error::PluginError {
                    plugin: "p".into(),
                    code: "config_missing".into(),
                    message: "coffee.dormant_after_days".into(),
                })
            } else {
                Ok(decision(id, "maturity", 5))
            }
        });
        assert!(report.fits, "{}", report.text());
        assert_eq!(report.plugin_errors.len(), 1);
        assert_eq!(report.plugin_errors[0].count, 2);
        assert!(
            report.plugin_errors[0].code.starts_with("plugin_error"),
            "{}",
            report.plugin_errors[0].code
        );

        let report = run_with(&setting, &customers, |request| {
            if request.profile.events.len() > 1_000 {
                Err(Error::PluginOutOfFuel {
                    plugin: "p".into(),
                    fuel: 1,
                })
            } else {
                Ok(decision(&request.profile.customer_id, "maturity", 5))
            }
        });
        assert!(!report.fits);
        assert_eq!(report.failures.len(), 1);
        let failed = &report.failures[0];
        assert_eq!((failed.code.as_str(), failed.count), ("plugin_out_of_fuel", 2));
        assert!(failed.first.starts_with("huge"), "{}", failed.first);
        assert_eq!(failed.fixture["expect"]["error"]["code"], "plugin_out_of_fuel");
        assert!(
            report.text().contains("FAILED 2 × plugin_out_of_fuel: first for huge"),
            "{}",
            report.text()
        );
        assert!(
            report
                .text()
                .ends_with("does not fit the limits it would run under (see above)\n")
        );
    }

    #[test]
    fn the_shapes_cover_every_stage_and_stay_within_the_input_limits() {
        let limits = InputLimits::default();
        let customers = shapes(Timestamp(1_773_108_000_000), &limits);
        for customer in &customers {
            let text = serde_json::to_string(&customer.profile).expect("serializes");
            let profile: Profile =
                rulehost_model::from_json("profile", &text).unwrap_or_else(|e| panic!("{}: {e}", customer.label));
            rulehost_input::profile::profile_frame(&profile, &limits, &mut Vec::new())
                .unwrap_or_else(|e| panic!("{} is past the limits: {e}", customer.label));
        }
        let stages: Vec<Stage> = customers.iter().filter_map(|c| c.profile.prior.stage).collect();
        assert_eq!(stages.len(), 6);
        // The same shapes every time: a saved fixture can be made again.
        let again = shapes(Timestamp(1_773_108_000_000), &limits);
        let json = |c: &[Customer]| {
            c.iter()
                .map(|c| serde_json::to_string(&c.profile).expect("serializes"))
                .collect::<Vec<_>>()
        };
        assert_eq!(json(&again), json(&customers));
    }
}
