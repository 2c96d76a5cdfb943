//! What changes between two runs of the same customers: the per-customer
//! diff, and the report that sums diffs up (simulations, shadow runs,
//! replays all speak it).
//!
//! A run of one customer is an [`Outcome`]: the decision with its policy
//! outcome (`holdout`, `selected`, `suppressed`), or the error it ended in.
//! [`changes`] says, with the plugins' reasons and rule ids, what differs
//! between two outcomes for one customer; [`Tally`] counts outcomes pair by
//! pair into a [`Report`]: stage distributions and the transitions between
//! them, tags gained and lost, the offer mix before and after policy,
//! touches per channel, what each policy rule held back, budgets, holdout
//! share, errors, and a sample of customers with their changes.

pub mod html;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::decision::{Decision, PluginRef};
use crate::model::Stage;

/// How one customer's run ended.
pub type Outcome = Result<Decision, Failure>;

/// A run that ended in an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    /// The error's code (`plugin_timeout`, `invalid_input`, …).
    pub code: String,
    /// What happened.
    pub message: String,
}

impl From<&crate::Error> for Failure {
    fn from(e: &crate::Error) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// The stages in the order reports list them, then the two pseudo-stages:
/// `none` (no plugin set a stage) and `error` (the run failed).
pub const STAGES: [&str; 8] = [
    "introduction",
    "growth",
    "maturity",
    "dormancy",
    "churned",
    "reactivated",
    "none",
    "error",
];

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Introduction => "introduction",
        Stage::Growth => "growth",
        Stage::Maturity => "maturity",
        Stage::Dormancy => "dormancy",
        Stage::Churned => "churned",
        Stage::Reactivated => "reactivated",
    }
}

/// The stage an outcome lands in, as [`STAGES`] names it.
pub fn stage_of(outcome: &Outcome) -> &'static str {
    match outcome {
        Ok(d) => d.stage.as_ref().map_or("none", |s| stage_name(s.value)),
        Err(_) => "error",
    }
}

/// One thing that differs for a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// What changed: `stage`, `tag`, `score`, `proposal`, `selected`,
    /// `suppressed`, `holdout` or `error`.
    pub what: String,
    /// Which one: the tag (`group/name`), score name, offer and channel
    /// (`offer@channel`), or empty for the stage, holdout and error.
    pub key: String,
    /// The baseline's value (absent: not there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The candidate's value (absent: not there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// Why, from the side that has it: the rule id and reason the plugin
    /// gave, the policy's rule and detail, or the error's message.
    pub why: String,
}

/// A customer whose outcome differs, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerDiff {
    /// The customer.
    pub customer_id: String,
    /// Their stage in the baseline.
    pub baseline_stage: String,
    /// Their stage in the candidate.
    pub candidate_stage: String,
    /// Every difference, stage first.
    pub changes: Vec<Change>,
}

fn explained(rule_id: &str, reason: &str) -> String {
    format!("{rule_id}: {reason}")
}

/// Adds a change for every key present on one side only, or with different
/// values on the two sides. `items` are `(key, value, why)`.
fn keyed(
    what: &str,
    baseline: Vec<(String, String, String)>,
    candidate: Vec<(String, String, String)>,
    into: &mut Vec<Change>,
) {
    let mut base: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (key, value, why) in baseline {
        base.entry(key).or_insert((value, why));
    }
    let mut seen = Vec::new();
    for (key, value, why) in candidate {
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        match base.remove(&key) {
            Some((old, _)) if old == value => {}
            Some((old, _)) => into.push(Change {
                what: what.into(),
                key,
                baseline: Some(old),
                candidate: Some(value),
                why,
            }),
            None => into.push(Change {
                what: what.into(),
                key,
                baseline: None,
                candidate: Some(value),
                why,
            }),
        }
    }
    for (key, (old, why)) in base {
        into.push(Change {
            what: what.into(),
            key,
            baseline: Some(old),
            candidate: None,
            why,
        });
    }
}

/// What differs between the baseline's and the candidate's outcome for one
/// customer, with reasons; empty when they agree on stage, tags, scores,
/// proposals, the policy's outcome and errors. (Fuel, timings and logs are
/// not compared here; [`json_differences`] compares everything.)
pub fn changes(baseline: &Outcome, candidate: &Outcome) -> Vec<Change> {
    let mut out = Vec::new();
    let (b, c) = match (baseline, candidate) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(b), Err(c)) if b.code == c.code => return out,
        _ => {
            let text = |o: &Outcome| match o {
                Ok(_) => "ok".to_owned(),
                Err(f) => f.code.clone(),
            };
            let why = match (baseline, candidate) {
                (_, Err(f)) | (Err(f), _) => f.message.clone(),
                _ => String::new(),
            };
            out.push(Change {
                what: "error".into(),
                key: String::new(),
                baseline: Some(text(baseline)),
                candidate: Some(text(candidate)),
                why,
            });
            return out;
        }
    };
    let (bs, cs) = (stage_of(baseline), stage_of(candidate));
    if bs != cs {
        let why = match (&c.stage, &b.stage) {
            (Some(s), _) | (None, Some(s)) => explained(&s.rule_id, &s.reason),
            (None, None) => String::new(),
        };
        out.push(Change {
            what: "stage".into(),
            key: String::new(),
            baseline: Some(bs.into()),
            candidate: Some(cs.into()),
            why,
        });
    }
    let tags = |d: &Decision| {
        d.tags
            .iter()
            .map(|t| {
                (
                    format!("{}/{}", t.group, t.name),
                    "set".to_owned(),
                    explained(&t.rule_id, &t.reason),
                )
            })
            .collect()
    };
    keyed("tag", tags(b), tags(c), &mut out);
    let scores = |d: &Decision| {
        d.scores
            .iter()
            .map(|s| (s.name.clone(), format!("{}", s.value), explained(&s.rule_id, &s.reason)))
            .collect()
    };
    keyed("score", scores(b), scores(c), &mut out);
    let proposals = |d: &Decision| {
        d.proposals
            .iter()
            .map(|p| {
                (
                    format!("{}@{}", p.offer_id, p.channel),
                    format!("score {}", p.score),
                    explained(&p.rule_id, &p.reason),
                )
            })
            .collect()
    };
    keyed("proposal", proposals(b), proposals(c), &mut out);
    let selected = |d: &Decision| {
        d.selected
            .iter()
            .flatten()
            .map(|s| {
                (
                    format!("{}@{}", s.offer_id, s.channel),
                    format!("send at {}", s.send_at),
                    explained(&s.rule_id, &s.reason),
                )
            })
            .collect()
    };
    keyed("selected", selected(b), selected(c), &mut out);
    let suppressed = |d: &Decision| {
        d.suppressed
            .iter()
            .flatten()
            .map(|s| {
                (
                    format!("{}@{}", s.offer_id, s.channel),
                    s.rule.as_str().to_owned(),
                    format!("{}: {}", s.rule.as_str(), s.detail),
                )
            })
            .collect()
    };
    keyed("suppressed", suppressed(b), suppressed(c), &mut out);
    if b.holdout != c.holdout {
        out.push(Change {
            what: "holdout".into(),
            key: String::new(),
            baseline: Some(b.holdout.unwrap_or(false).to_string()),
            candidate: Some(c.holdout.unwrap_or(false).to_string()),
            why: "the policy's holdout group changed".into(),
        });
    }
    out
}

/// One place where two JSON documents differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Difference {
    /// Where, as a JSON pointer (`/tags/2/reason`).
    pub path: String,
    /// The first document's value there (absent: missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::model::schema::any_json)]
    pub expected: Option<serde_json::Value>,
    /// The second document's value there (absent: missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::model::schema::any_json)]
    pub actual: Option<serde_json::Value>,
}

/// Every place where `actual` differs from `expected`, exactly (numbers by
/// value: `5` equals `5.0`).
pub fn json_differences(expected: &serde_json::Value, actual: &serde_json::Value) -> Vec<Difference> {
    fn walk(path: &mut String, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<Difference>) {
        use serde_json::Value;
        let at = |path: &mut String, key: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>| {
            let len = path.len();
            path.push('/');
            path.push_str(&key.replace('~', "~0").replace('/', "~1"));
            match (a, b) {
                (Some(a), Some(b)) => walk(path, a, b, out),
                _ => out.push(Difference {
                    path: path.clone(),
                    expected: a.cloned(),
                    actual: b.cloned(),
                }),
            }
            path.truncate(len);
        };
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    at(path, k, Some(v), y.get(k), out);
                }
                for (k, v) in y {
                    if !x.contains_key(k) {
                        at(path, k, None, Some(v), out);
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    at(path, &i.to_string(), x.get(i), y.get(i), out);
                }
            }
            // Integers exactly; a float equals a number of the same value.
            (Value::Number(x), Value::Number(y))
                if x == y || ((x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64()) => {}
            _ if a == b => {}
            _ => out.push(Difference {
                path: if path.is_empty() { "/".into() } else { path.clone() },
                expected: Some(a.clone()),
                actual: Some(b.clone()),
            }),
        }
    }
    let mut out = Vec::new();
    walk(&mut String::new(), expected, actual, &mut out);
    out
}

/// A logged decision run again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Replay {
    /// The logged decision.
    pub decision_id: String,
    /// The plugins that made it.
    pub logged: Vec<PluginRef>,
    /// The plugins that ran now.
    pub replayed: Vec<PluginRef>,
    /// Whether the replay decided exactly as logged: every field of the
    /// decision but its wall-clock time (`usage.duration_us`) and its
    /// memory peak (`usage.memory_bytes`, 0 in decisions logged before it
    /// was reported).
    pub identical: bool,
    /// Every field that differs, as JSON pointers into the decision (an
    /// error of the replay shows as the whole decision differing from the
    /// error body).
    pub differences: Vec<Difference>,
    /// The same differences as the simulation report shows them: stage,
    /// tags, scores, proposals, selected and suppressed touches, with reasons.
    pub changes: Vec<Change>,
    /// The replay's decision, or its error.
    #[schema(value_type = Object)]
    pub replay: serde_json::Value,
}

impl Replay {
    /// Compares a logged decision with its replay.
    pub fn of(logged: &Decision, replayed: &Outcome, plugins: Vec<PluginRef>) -> Self {
        let expected = serde_json::to_value(logged).unwrap_or_default();
        let replay = match replayed {
            Ok(decision) => serde_json::to_value(decision).unwrap_or_default(),
            Err(failure) => serde_json::to_value(failure).unwrap_or_default(),
        };
        let differences: Vec<Difference> = json_differences(&expected, &replay)
            .into_iter()
            .filter(|d| !matches!(d.path.as_str(), "/usage/duration_us" | "/usage/memory_bytes"))
            .collect();
        Self {
            decision_id: logged.decision_id.clone().unwrap_or_default(),
            logged: logged.plugins.clone(),
            replayed: plugins,
            identical: differences.is_empty(),
            differences,
            changes: changes(&Ok(logged.clone()), replayed),
            replay,
        }
    }
}

/// A count on each side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pair {
    /// In the baseline.
    pub baseline: u64,
    /// In the candidate.
    pub candidate: u64,
}

impl Pair {
    /// Candidate minus baseline.
    pub fn delta(&self) -> i64 {
        self.candidate as i64 - self.baseline as i64
    }
}

/// Customers in one stage on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StageCount {
    /// The stage (or `none`, `error`).
    pub stage: String,
    /// Customers in it.
    #[serde(flatten)]
    pub customers: Pair,
}

/// Customers who were in one stage in the baseline and another (or the
/// same) in the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    /// The baseline's stage.
    pub from: String,
    /// The candidate's stage.
    pub to: String,
    /// How many customers.
    pub customers: u64,
}

/// One tag's reach on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TagCount {
    /// `group/name`.
    pub tag: String,
    /// Customers carrying it.
    #[serde(flatten)]
    pub customers: Pair,
    /// Customers who have it only in the candidate.
    pub gained: u64,
    /// Customers who have it only in the baseline.
    pub lost: u64,
}

/// One offer's mix: proposed by the plugins, and selected after policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfferCount {
    /// The offer.
    pub offer_id: String,
    /// Proposals of it.
    pub proposed: Pair,
    /// Touches selected after policy (caps, budgets, holdout…).
    pub selected: Pair,
}

/// A count per name (channel, rule, error code) on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NamedCount {
    /// The channel, rule or code.
    pub name: String,
    /// How many.
    #[serde(flatten)]
    pub count: Pair,
}

/// Failed decisions with one error code on each side, and a message that
/// shows what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorCount {
    /// The error code (`plugin_error`, `plugin_timeout`, …).
    pub code: String,
    /// How many decisions failed with it.
    #[serde(flatten)]
    pub count: Pair,
    /// The first message seen with this code.
    pub example: String,
}

/// An offer's budget and what each side spent of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BudgetUse {
    /// The offer.
    pub offer_id: String,
    /// Its budget in the policy (the candidate's if they differ).
    pub budget: u64,
    /// Spent before the run.
    pub used_before: u64,
    /// Touches selected in the run.
    pub spent: Pair,
    /// Proposals dropped because the budget ran out.
    pub refused: Pair,
}

/// What ran on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArmSummary {
    /// A label for people (`baseline`, `candidate`, a file name, a version).
    pub label: String,
    /// The plugins in pipeline order.
    pub plugins: Vec<PluginRef>,
}

impl ArmSummary {
    /// `label` for `plugins`, in pipeline order.
    pub fn of(label: String, plugins: &[std::sync::Arc<crate::engine::Plugin>]) -> Self {
        Self {
            label,
            plugins: plugins.iter().map(|p| PluginRef::from(&**p)).collect(),
        }
    }
}

/// Everything a comparison found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// What ran as the baseline.
    pub baseline: ArmSummary,
    /// What ran as the candidate.
    pub candidate: ArmSummary,
    /// Customers compared.
    pub customers: u64,
    /// Customers whose outcome differs.
    pub changed: u64,
    /// Customers per stage (every stage, then `none` and `error`).
    pub stages: Vec<StageCount>,
    /// Customers per (baseline stage, candidate stage), non-zero cells only.
    pub transitions: Vec<Transition>,
    /// Tags with their reach, most changed first.
    pub tags: Vec<TagCount>,
    /// Offers proposed and selected, most changed first.
    pub offers: Vec<OfferCount>,
    /// Touches selected per channel after policy.
    pub channels: Vec<NamedCount>,
    /// Proposals dropped per policy rule (caps, budget, quiet hours…).
    pub suppressed: Vec<NamedCount>,
    /// Budgets: what each side spent and was refused.
    pub budgets: Vec<BudgetUse>,
    /// Customers in the holdout group.
    pub holdout: Pair,
    /// Customers whose decision failed, on each side.
    pub failed: Pair,
    /// Failed decisions per error code, with an example message.
    pub errors: Vec<ErrorCount>,
    /// Some customers whose outcome differs, with every change and its
    /// reason.
    pub samples: Vec<CustomerDiff>,
}

/// Counts pairs of outcomes into a [`Report`].
#[derive(Debug, Default, Clone)]
pub struct Tally {
    customers: u64,
    changed: u64,
    stages: BTreeMap<&'static str, Pair>,
    transitions: BTreeMap<(&'static str, &'static str), u64>,
    tags: BTreeMap<String, (Pair, u64, u64)>,
    offers: BTreeMap<String, (Pair, Pair)>,
    channels: BTreeMap<String, Pair>,
    suppressed: BTreeMap<String, Pair>,
    /// Proposals dropped because the offer's budget was spent, by offer.
    budget_refused: BTreeMap<String, Pair>,
    holdout: Pair,
    failed: Pair,
    errors: BTreeMap<String, (Pair, String)>,
    samples: Vec<CustomerDiff>,
    sample_limit: usize,
    sampled_per_transition: BTreeMap<(&'static str, &'static str), usize>,
}

fn side(pair: &mut Pair, candidate: bool) -> &mut u64 {
    if candidate {
        &mut pair.candidate
    } else {
        &mut pair.baseline
    }
}

impl Tally {
    /// A tally that keeps up to `samples` customers' diffs.
    pub fn new(samples: usize) -> Self {
        Self {
            sample_limit: samples,
            ..Self::default()
        }
    }

    /// Counts one customer's two outcomes.
    pub fn add(&mut self, customer_id: &str, baseline: &Outcome, candidate: &Outcome) {
        self.customers += 1;
        let (from, to) = (stage_of(baseline), stage_of(candidate));
        *self.transitions.entry((from, to)).or_default() += 1;
        for (outcome, is_candidate) in [(baseline, false), (candidate, true)] {
            *side(self.stages.entry(stage_of(outcome)).or_default(), is_candidate) += 1;
            self.count(outcome, is_candidate);
        }
        let mut tags_b: Vec<String> = Vec::new();
        let mut tags_c: Vec<String> = Vec::new();
        for (outcome, tags) in [(baseline, &mut tags_b), (candidate, &mut tags_c)] {
            if let Ok(d) = outcome {
                tags.extend(d.tags.iter().map(|t| format!("{}/{}", t.group, t.name)));
                tags.sort();
                tags.dedup();
            }
        }
        for tag in &tags_b {
            let entry = self.tags.entry(tag.clone()).or_default();
            entry.0.baseline += 1;
            if tags_c.binary_search(tag).is_err() {
                entry.2 += 1;
            }
        }
        for tag in &tags_c {
            let entry = self.tags.entry(tag.clone()).or_default();
            entry.0.candidate += 1;
            if tags_b.binary_search(tag).is_err() {
                entry.1 += 1;
            }
        }
        let changes = changes(baseline, candidate);
        if !changes.is_empty() {
            self.changed += 1;
            // A spread of kinds: no transition takes more than a quarter of
            // the sample.
            let taken = self.sampled_per_transition.entry((from, to)).or_default();
            if self.samples.len() < self.sample_limit && *taken < self.sample_limit.div_ceil(4) {
                *taken += 1;
                self.samples.push(CustomerDiff {
                    customer_id: customer_id.to_owned(),
                    baseline_stage: from.into(),
                    candidate_stage: to.into(),
                    changes,
                });
            }
        }
    }

    fn count(&mut self, outcome: &Outcome, candidate: bool) {
        let d = match outcome {
            Ok(d) => d,
            Err(f) => {
                *side(&mut self.failed, candidate) += 1;
                let (count, _example) = self
                    .errors
                    .entry(f.code.clone())
                    .or_insert_with(|| (Pair::default(), f.message.clone()));
                *side(count, candidate) += 1;
                return;
            }
        };
        for p in &d.proposals {
            *side(&mut self.offers.entry(p.offer_id.clone()).or_default().0, candidate) += 1;
        }
        for s in d.selected.iter().flatten() {
            *side(&mut self.offers.entry(s.offer_id.clone()).or_default().1, candidate) += 1;
            *side(self.channels.entry(s.channel.clone()).or_default(), candidate) += 1;
        }
        for s in d.suppressed.iter().flatten() {
            *side(
                self.suppressed.entry(s.rule.as_str().to_owned()).or_default(),
                candidate,
            ) += 1;
            if s.rule == crate::policy::Rule::Budget {
                *side(self.budget_refused.entry(s.offer_id.clone()).or_default(), candidate) += 1;
            }
        }
        if d.holdout == Some(true) {
            *side(&mut self.holdout, candidate) += 1;
        }
    }

    /// Customers counted so far.
    pub fn customers(&self) -> u64 {
        self.customers
    }

    /// Customers whose outcome differs so far.
    pub fn changed(&self) -> u64 {
        self.changed
    }

    /// The use of every offer with a budget in either side's policy: touches
    /// selected and proposals refused for want of budget, on each side, on
    /// top of `used_before`.
    fn budgets(
        &self,
        policies: [&crate::policy::Policy; 2],
        used_before: &std::collections::HashMap<String, u64>,
    ) -> Vec<BudgetUse> {
        let mut budgeted: BTreeMap<&str, u64> = BTreeMap::new();
        for policy in policies {
            for (offer, rules) in &policy.offers {
                if let Some(budget) = rules.budget {
                    budgeted.insert(offer, budget);
                }
            }
        }
        budgeted
            .into_iter()
            .map(|(offer, budget)| BudgetUse {
                offer_id: offer.to_owned(),
                budget,
                used_before: used_before.get(offer).copied().unwrap_or(0),
                spent: self.offers.get(offer).map(|o| o.1).unwrap_or_default(),
                refused: self.budget_refused.get(offer).copied().unwrap_or_default(),
            })
            .collect()
    }

    /// The report. Its budgets are those of the two sides' `policies`
    /// (baseline, candidate), with `used_before` spent before the run.
    pub fn report(
        self,
        baseline: ArmSummary,
        candidate: ArmSummary,
        policies: [&crate::policy::Policy; 2],
        used_before: &std::collections::HashMap<String, u64>,
    ) -> Report {
        let budgets = self.budgets(policies, used_before);
        let stages = STAGES
            .iter()
            .map(|s| StageCount {
                stage: (*s).into(),
                customers: self.stages.get(s).copied().unwrap_or_default(),
            })
            .collect();
        let transitions = STAGES
            .iter()
            .flat_map(|from| STAGES.iter().map(move |to| (*from, *to)))
            .filter_map(|key| {
                self.transitions.get(&key).map(|&customers| Transition {
                    from: key.0.into(),
                    to: key.1.into(),
                    customers,
                })
            })
            .collect();
        let mut tags: Vec<TagCount> = self
            .tags
            .into_iter()
            .map(|(tag, (customers, gained, lost))| TagCount {
                tag,
                customers,
                gained,
                lost,
            })
            .collect();
        sort_tags(&mut tags);
        let mut offers: Vec<OfferCount> = self
            .offers
            .into_iter()
            .map(|(offer_id, (proposed, selected))| OfferCount {
                offer_id,
                proposed,
                selected,
            })
            .collect();
        sort_offers(&mut offers);
        let named = |map: BTreeMap<String, Pair>| {
            map.into_iter()
                .map(|(name, count)| NamedCount { name, count })
                .collect::<Vec<_>>()
        };
        Report {
            baseline,
            candidate,
            customers: self.customers,
            changed: self.changed,
            stages,
            transitions,
            tags,
            offers,
            channels: named(self.channels),
            suppressed: named(self.suppressed),
            budgets,
            holdout: self.holdout,
            failed: self.failed,
            errors: self
                .errors
                .into_iter()
                .map(|(code, (count, example))| ErrorCount { code, count, example })
                .collect(),
            samples: self.samples,
        }
    }
}

/// Tags in a report's order: most changed first.
fn sort_tags(tags: &mut [TagCount]) {
    tags.sort_by(|a, b| (b.gained + b.lost).cmp(&(a.gained + a.lost)).then(a.tag.cmp(&b.tag)));
}

/// Offers in a report's order: most changed first.
fn sort_offers(offers: &mut [OfferCount]) {
    offers.sort_by(|a, b| {
        let weight = |o: &OfferCount| o.selected.delta().unsigned_abs() + o.proposed.delta().unsigned_abs();
        weight(b).cmp(&weight(a)).then(a.offer_id.cmp(&b.offer_id))
    });
}

impl std::ops::AddAssign for Pair {
    fn add_assign(&mut self, other: Pair) {
        self.baseline += other.baseline;
        self.candidate += other.candidate;
    }
}

/// Adds `from`'s entries into `into`'s by key: `add` merges an entry of
/// both, an entry of `from` alone is appended.
fn merge_by<T: Clone, K: PartialEq>(into: &mut Vec<T>, from: &[T], key: impl Fn(&T) -> K, add: impl Fn(&mut T, &T)) {
    for item in from {
        match into.iter_mut().find(|i| key(i) == key(item)) {
            Some(existing) => add(existing, item),
            None => into.push(item.clone()),
        }
    }
}

impl Report {
    /// Adds another report of the same comparison over other customers (a
    /// shadow's counts on another host): every count is summed, the samples
    /// are pooled up to `samples`, and what is not counted (what ran, the
    /// budgets' limits and use before) stays this report's.
    pub fn merge(&mut self, other: &Report, samples: usize) {
        self.customers += other.customers;
        self.changed += other.changed;
        merge_by(
            &mut self.stages,
            &other.stages,
            |s| s.stage.clone(),
            |a, b| a.customers += b.customers,
        );
        merge_by(
            &mut self.transitions,
            &other.transitions,
            |t| (t.from.clone(), t.to.clone()),
            |a, b| a.customers += b.customers,
        );
        let order = |stage: &str| STAGES.iter().position(|s| *s == stage);
        self.transitions.sort_by_key(|t| (order(&t.from), order(&t.to)));
        merge_by(
            &mut self.tags,
            &other.tags,
            |t| t.tag.clone(),
            |a, b| {
                a.customers += b.customers;
                a.gained += b.gained;
                a.lost += b.lost;
            },
        );
        sort_tags(&mut self.tags);
        merge_by(
            &mut self.offers,
            &other.offers,
            |o| o.offer_id.clone(),
            |a, b| {
                a.proposed += b.proposed;
                a.selected += b.selected;
            },
        );
        sort_offers(&mut self.offers);
        for (mine, theirs) in [
            (&mut self.channels, &other.channels),
            (&mut self.suppressed, &other.suppressed),
        ] {
            merge_by(mine, theirs, |n| n.name.clone(), |a, b| a.count += b.count);
        }
        merge_by(
            &mut self.budgets,
            &other.budgets,
            |b| b.offer_id.clone(),
            |a, b| {
                a.spent += b.spent;
                a.refused += b.refused;
            },
        );
        self.holdout += other.holdout;
        self.failed += other.failed;
        merge_by(
            &mut self.errors,
            &other.errors,
            |e| e.code.clone(),
            |a, b| a.count += b.count,
        );
        let room = samples.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.iter().take(room).cloned());
    }

    /// What failed, in a line or two, if any decision failed: how many on
    /// each side, each code with an example message. Leads the CLI's
    /// summary and the HTML report.
    pub fn failures(&self) -> Option<String> {
        if self.failed == Pair::default() {
            return None;
        }
        let of = |n: u64| format!("{n} of {}", self.customers);
        let mut text = if self.every_decision_failed() {
            format!(
                "every decision failed on {}: {} baseline, {} candidate",
                match (
                    self.failed.baseline == self.customers,
                    self.failed.candidate == self.customers
                ) {
                    (true, true) => "both sides",
                    (true, false) => "the baseline",
                    _ => "the candidate",
                },
                of(self.failed.baseline),
                of(self.failed.candidate)
            )
        } else {
            format!(
                "{}decisions failed: {} baseline, {} candidate",
                if self.mostly_failed() { "most " } else { "some " },
                of(self.failed.baseline),
                of(self.failed.candidate)
            )
        };
        for e in &self.errors {
            text.push_str(&format!(
                "\n  {}: {} baseline, {} candidate; e.g. {}",
                e.code, e.count.baseline, e.count.candidate, e.example
            ));
        }
        Some(text)
    }

    /// Whether every decision of one side (or both) failed: the run
    /// compared nothing.
    pub fn every_decision_failed(&self) -> bool {
        self.customers > 0 && (self.failed.baseline == self.customers || self.failed.candidate == self.customers)
    }

    /// Whether more than half the decisions of one side failed.
    pub fn mostly_failed(&self) -> bool {
        2 * self.failed.baseline.max(self.failed.candidate) > self.customers
    }

    /// Customers who moved from one stage to another.
    pub fn moved(&self, from: &str, to: &str) -> u64 {
        self.transitions
            .iter()
            .find(|t| t.from == from && t.to == to)
            .map_or(0, |t| t.customers)
    }

    /// An offer's counts, if any side proposed or selected it.
    pub fn offer(&self, offer_id: &str) -> Option<&OfferCount> {
        self.offers.iter().find(|o| o.offer_id == offer_id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A decision for `customer` in `stage` (none for `None`) with `tags`
    /// and one proposal of `offer`.
    fn decided(customer: &str, stage: Option<Stage>, tags: &[&str], offer: &str) -> Outcome {
        let decision: Decision = serde_json::from_value(json!({
            "customer_id": customer,
            "stage": stage.map(|s| json!({"value": s, "reason": "r", "rule_id": "x.stage", "plugin": "p"})),
            "tags": tags.iter().map(|t| json!({"group": "g", "name": t, "reason": "r", "rule_id": "x.tag", "plugin": "p"})).collect::<Vec<_>>(),
            "scores": [],
            "proposals": [{"offer_id": offer, "channel": "sms", "score": 1.0, "reason": "r", "rule_id": "x.offer", "plugin": "p"}],
            "plugins": [],
            "usage": {"fuel": 0, "duration_us": 0},
            "logs": []
        }))
        .expect("a decision");
        Ok(decision)
    }

    #[test]
    fn reports_merged_count_what_one_report_over_every_customer_counts() {
        use crate::model::Stage::{Dormancy, Growth, Maturity};
        let failed = || {
            Err(Failure {
                code: "plugin_error".into(),
                message: "p: config_missing: x".into(),
            })
        };
        let pairs: Vec<(Outcome, Outcome)> = vec![
            (
                decided("a", Some(Growth), &["x"], "o1"),
                decided("a", Some(Dormancy), &["y"], "o2"),
            ),
            (
                decided("b", Some(Growth), &["x"], "o1"),
                decided("b", Some(Growth), &["x"], "o1"),
            ),
            (decided("c", None, &[], "o3"), failed()),
            (
                decided("d", Some(Maturity), &["x", "z"], "o1"),
                decided("d", Some(Dormancy), &["y"], "o2"),
            ),
            (failed(), failed()),
        ];
        let arm = |label: &str| ArmSummary {
            label: label.into(),
            plugins: Vec::new(),
        };
        let report_of = |pairs: &[(Outcome, Outcome)]| {
            let mut tally = Tally::new(0);
            for (i, (b, c)) in pairs.iter().enumerate() {
                tally.add(&format!("c{i}"), b, c);
            }
            let policy = crate::policy::Policy::default();
            tally.report(arm("b"), arm("c"), [&policy, &policy], &Default::default())
        };
        let whole = report_of(&pairs);
        let mut merged = report_of(&pairs[..2]);
        merged.merge(&report_of(&pairs[2..]), 0);
        let canonical = |mut r: Report| {
            r.stages.sort_by(|a, b| a.stage.cmp(&b.stage));
            r.channels.sort_by(|a, b| a.name.cmp(&b.name));
            r.errors.sort_by(|a, b| a.code.cmp(&b.code));
            r
        };
        assert_eq!(canonical(merged), canonical(whole.clone()));
        assert_eq!(
            (whole.customers, whole.changed, whole.failed),
            (
                5,
                3,
                Pair {
                    baseline: 1,
                    candidate: 2
                }
            )
        );
    }

    #[test]
    fn equal_documents_have_no_differences() {
        let doc = json!({"a": [1, {"b": "x"}], "n": 5, "f": 0.5, "z": null});
        assert!(json_differences(&doc, &doc).is_empty());
        assert!(json_differences(&json!({"n": 5}), &json!({"n": 5.0})).is_empty());
    }

    #[test]
    fn every_difference_is_found_at_its_pointer() {
        let expected =
            json!({"a": [1, 2, 3], "b": {"c": "x", "d/e~": 1}, "gone": true, "n": 9_007_199_254_740_993_u64});
        let actual = json!({"a": [1, 5], "b": {"c": "y", "d/e~": 1}, "new": 1, "n": 9_007_199_254_740_992_u64});
        let found: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> =
            json_differences(&expected, &actual)
                .into_iter()
                .map(|d| (d.path, d.expected, d.actual))
                .collect();
        assert_eq!(
            found,
            vec![
                ("/a/1".into(), Some(json!(2)), Some(json!(5))),
                ("/a/2".into(), Some(json!(3)), None),
                ("/b/c".into(), Some(json!("x")), Some(json!("y"))),
                ("/gone".into(), Some(json!(true)), None),
                (
                    "/n".into(),
                    Some(json!(9_007_199_254_740_993_u64)),
                    Some(json!(9_007_199_254_740_992_u64))
                ),
                ("/new".into(), None, Some(json!(1))),
            ]
        );
        let root = json_differences(&json!(1), &json!("1"));
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].path, "/");
    }

    #[test]
    fn a_key_with_a_slash_or_tilde_is_escaped_in_the_pointer() {
        let found = json_differences(&json!({"d/e~": 1}), &json!({"d/e~": 2}));
        assert_eq!(found[0].path, "/d~1e~0");
    }
}
