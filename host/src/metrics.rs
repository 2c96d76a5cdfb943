//! Prometheus metrics: decisions by tenant and outcome, latency, fuel,
//! traps, timeouts, the plugin versions held in memory, and the load:
//! lanes held and waited for, decisions in flight.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    tenant: String,
    /// `ok` or the error code.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    tenant: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionOutcome {
    tenant: String,
    slot: String,
    version: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimerOutcome {
    tenant: String,
    /// `event`, `wake` or `touch`.
    kind: String,
    /// `decided`, `delivered`, `lost`, `retried` or `dropped`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    decisions: Family<Outcome, Counter>,
    latency: Family<TenantLabel, Histogram>,
    fuel: Family<TenantLabel, Counter>,
    traps: Family<TenantLabel, Counter>,
    timeouts: Family<TenantLabel, Counter>,
    rejected: Family<TenantLabel, Counter>,
    selected: Family<TenantLabel, Counter>,
    suppressed: Family<RuleLabel, Counter>,
    canary: Family<VersionOutcome, Counter>,
    versions: Gauge<i64, std::sync::atomic::AtomicI64>,
    lanes_in_use: Gauge<i64, std::sync::atomic::AtomicI64>,
    lanes_waiting: Gauge<i64, std::sync::atomic::AtomicI64>,
    in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
    events: Family<Outcome, Counter>,
    timers: Family<TimerOutcome, Counter>,
    timer_lateness: Histogram,
    dead_letters: Family<TenantLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rulehost");
        let decisions = Family::<Outcome, Counter>::default();
        let latency = Family::<TenantLabel, Histogram>::new_with_constructor(|| {
            // 50 µs to ~1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        let fuel = Family::<TenantLabel, Counter>::default();
        let traps = Family::<TenantLabel, Counter>::default();
        let timeouts = Family::<TenantLabel, Counter>::default();
        let rejected = Family::<TenantLabel, Counter>::default();
        let selected = Family::<TenantLabel, Counter>::default();
        let suppressed = Family::<RuleLabel, Counter>::default();
        let canary = Family::<VersionOutcome, Counter>::default();
        let versions = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let lanes_in_use = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let lanes_waiting = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let in_flight = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let events = Family::<Outcome, Counter>::default();
        let timers = Family::<TimerOutcome, Counter>::default();
        let dead_letters = Family::<TenantLabel, Counter>::default();
        // 1 ms to ~65 s.
        let timer_lateness = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register("decisions", "Decisions by tenant and outcome", decisions.clone());
        registry.register("decision_duration_seconds", "Decision latency", latency.clone());
        registry.register("decision_fuel", "Fuel burnt by decisions", fuel.clone());
        registry.register("plugin_traps", "Decisions ended by a plugin trap", traps.clone());
        registry.register("plugin_timeouts", "Decisions ended by the deadline", timeouts.clone());
        registry.register(
            "decisions_rejected",
            "Decisions refused at the tenant's concurrency limit",
            rejected.clone(),
        );
        registry.register("touches_selected", "Touches the policy selected", selected.clone());
        registry.register(
            "canary_decisions",
            "Decisions of a slot with a canary, by the version that answered and outcome",
            canary.clone(),
        );
        registry.register(
            "proposals_suppressed",
            "Proposals the policy dropped, by rule",
            suppressed.clone(),
        );
        registry.register(
            "active_plugin_versions",
            "Compiled plugin versions held in memory",
            versions.clone(),
        );
        registry.register("lanes_in_use", "Lanes held by decisions", lanes_in_use.clone());
        registry.register("lanes_waiting", "Decisions waiting for a lane", lanes_waiting.clone());
        registry.register(
            "decisions_in_flight",
            "Decisions admitted and not finished, all tenants",
            in_flight.clone(),
        );
        registry.register(
            "events",
            "Events taken in, by tenant and outcome (taken, duplicate)",
            events.clone(),
        );
        registry.register(
            "timers",
            "Timers run, by tenant, kind (event, wake, touch) and outcome",
            timers.clone(),
        );
        registry.register(
            "timer_lateness_seconds",
            "How long after it was due a timer started to run",
            timer_lateness.clone(),
        );
        registry.register(
            "dead_letters",
            "Messages of the event stream dead-lettered, by the tenant their subject names",
            dead_letters.clone(),
        );
        Self {
            registry,
            decisions,
            latency,
            fuel,
            traps,
            timeouts,
            rejected,
            selected,
            suppressed,
            canary,
            versions,
            lanes_in_use,
            lanes_waiting,
            in_flight,
            events,
            timers,
            timer_lateness,
            dead_letters,
        }
    }

    /// Records one decision: `outcome` is `ok` or the error code.
    pub fn decision(&self, tenant: &str, outcome: &str, seconds: f64, fuel: u64) {
        let label = TenantLabel {
            tenant: tenant.to_owned(),
        };
        self.decisions
            .get_or_create(&Outcome {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.latency.get_or_create(&label).observe(seconds);
        if fuel > 0 {
            self.fuel.get_or_create(&label).inc_by(fuel);
        }
        match outcome {
            "plugin_trap" => {
                self.traps.get_or_create(&label).inc();
            }
            "plugin_timeout" => {
                self.timeouts.get_or_create(&label).inc();
            }
            _ => {}
        }
    }

    /// Records a decision of a slot with a canary: the version that ran
    /// there and the outcome (`ok` or the error code).
    pub fn canary(&self, tenant: &str, slot: &str, version: &str, outcome: &str) {
        self.canary
            .get_or_create(&VersionOutcome {
                tenant: tenant.to_owned(),
                slot: slot.to_owned(),
                version: version.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records a decision refused at the concurrency limit.
    pub fn rejected(&self, tenant: &str) {
        self.rejected
            .get_or_create(&TenantLabel {
                tenant: tenant.to_owned(),
            })
            .inc();
    }

    /// Records what the policy selected and dropped.
    pub fn policy(&self, tenant: &str, outcome: &crate::policy::Outcome) {
        if !outcome.selected.is_empty() {
            self.selected
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_owned(),
                })
                .inc_by(outcome.selected.len() as u64);
        }
        for s in &outcome.suppressed {
            self.suppressed
                .get_or_create(&RuleLabel {
                    tenant: tenant.to_owned(),
                    rule: s.rule.as_str().to_owned(),
                })
                .inc();
        }
    }

    /// Records events taken in: `taken` folded into profiles now,
    /// `duplicates` taken before.
    pub fn events_taken(&self, tenant: &str, taken: usize, duplicates: usize) {
        for (outcome, n) in [("taken", taken), ("duplicate", duplicates)] {
            if n > 0 {
                self.events
                    .get_or_create(&Outcome {
                        tenant: tenant.to_owned(),
                        outcome: outcome.to_owned(),
                    })
                    .inc_by(n as u64);
            }
        }
    }

    /// Records a timer run: its kind, what it came to, and how late after
    /// it was due it started.
    pub fn timer(&self, tenant: &str, kind: &str, outcome: &str, lateness_seconds: f64) {
        self.timers
            .get_or_create(&TimerOutcome {
                tenant: tenant.to_owned(),
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.timer_lateness.observe(lateness_seconds);
    }

    /// Records a message of the event stream dead-lettered.
    pub fn dead_letter(&self, tenant: &str) {
        self.dead_letters
            .get_or_create(&TenantLabel {
                tenant: tenant.to_owned(),
            })
            .inc();
    }

    /// Sets the number of compiled versions in memory.
    pub fn set_versions(&self, n: usize) {
        self.versions.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets the lanes held, the decisions waiting for one and the decisions
    /// in flight.
    pub fn set_load(&self, lanes_in_use: usize, lanes_waiting: usize, in_flight: usize) {
        for (gauge, n) in [
            (&self.lanes_in_use, lanes_in_use),
            (&self.lanes_waiting, lanes_waiting),
            (&self.in_flight, in_flight),
        ] {
            gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
