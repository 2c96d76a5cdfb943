//! The fixture format and the runner behind `rulehost test`.
//!
//! A fixture is a JSON file: the decision's context, the tenant's config and
//! offers, a profile, and under `expect` the parts of the decision that must
//! come out exactly (`customer_id`, `stage`, `tags`, `scores`, `proposals`,
//! `wakes`, `plugins`, `logs`) or the `error` that must be returned. Fields left out
//! of `expect` are not checked; numbers compare by value (`5` equals `5.0`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::engine::{Engine, Limits, Plugin};
use crate::model::{self, Event, Mode, Offer, Profile, Request, TenantConfig, Timestamp};
use crate::pipeline;

/// The fields `expect` may hold: the parts of a decision `rulehost check`
/// compares between two runs, and the plugins that ran.
pub fn expectable() -> impl Iterator<Item = &'static str> {
    rulehost_check::COMPARED.into_iter().chain(["plugins"])
}

/// One fixture file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// A short name, shown in reports.
    pub name: String,
    /// What the fixture shows, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The decision's time.
    pub now: Timestamp,
    /// The tenant's UTC offset in minutes.
    #[serde(default)]
    pub tz_offset_minutes: i32,
    /// The decision's seed.
    #[serde(default)]
    pub seed: u64,
    /// The decision's mode.
    #[serde(default)]
    pub mode: Mode,
    /// The triggering event.
    #[serde(default)]
    pub trigger: Option<Event>,
    /// The tenant config.
    #[serde(default)]
    pub config: TenantConfig,
    /// The offer catalog.
    #[serde(default)]
    pub offers: Vec<Offer>,
    /// The customer.
    pub profile: Profile,
    /// What must come out.
    pub expect: Map<String, Value>,
}

impl Fixture {
    /// Reads and checks a fixture file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        let fixture: Fixture = model::from_json("fixture", &text).map_err(|e| e.to_string())?;
        if let Some(bad) = fixture.expect.keys().find(|k| !expectable().any(|e| e == k.as_str())) {
            return Err(format!(
                "expect.{bad} is not checkable; expect may hold {}",
                expectable().collect::<Vec<_>>().join(", ")
            ));
        }
        if fixture.expect.is_empty() {
            return Err("expect is empty: a fixture must check something".into());
        }
        Ok(fixture)
    }

    /// The decision request the fixture describes.
    pub fn request(&self) -> Request {
        Request {
            now: self.now,
            tz_offset_minutes: self.tz_offset_minutes,
            seed: self.seed,
            mode: self.mode,
            trigger: self.trigger.clone(),
            profile: self.profile.clone(),
            offers: self.offers.clone().into(),
        }
    }
}

/// A field that came out differently.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The field under `expect`.
    pub field: String,
    /// What the fixture expects (`null` if it expects the field absent).
    pub expected: Value,
    /// What the decision had.
    pub actual: Value,
}

impl Mismatch {
    /// A unified diff of the expected and actual JSON.
    pub fn diff(&self) -> String {
        let expected = serde_json::to_string_pretty(&self.expected).unwrap_or_default() + "\n";
        let actual = serde_json::to_string_pretty(&self.actual).unwrap_or_default() + "\n";
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        let mut out = format!("  {}:\n", self.field);
        for line in diff
            .unified_diff()
            .context_radius(3)
            .header("expected", "actual")
            .to_string()
            .lines()
        {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// The result of one fixture file.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The file.
    pub path: PathBuf,
    /// The fixture's name (the file name if it could not be read).
    pub name: String,
    /// Why the fixture itself is broken, if it is.
    pub broken: Option<String>,
    /// The fields that did not match.
    pub mismatches: Vec<Mismatch>,
}

impl Outcome {
    /// Whether the fixture passed.
    pub fn passed(&self) -> bool {
        self.broken.is_none() && self.mismatches.is_empty()
    }
}

/// Numbers equal by value; everything else structurally.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    crate::compare::json_differences(a, b).is_empty()
}

/// Runs one fixture through the real engine and compares.
pub fn check(engine: &Engine, plugins: &[Arc<Plugin>], fixture: &Fixture, limits: &Limits) -> Vec<Mismatch> {
    let config = Arc::new(fixture.config.clone());
    let actual = match pipeline::decide(engine, None, plugins, &fixture.request(), config, limits) {
        Ok(decision) => serde_json::to_value(&decision).unwrap_or(Value::Null),
        Err(e) => serde_json::to_value(e.to_body()).unwrap_or(Value::Null),
    };
    let empty = Map::new();
    let actual = actual.as_object().unwrap_or(&empty);
    let mut mismatches = Vec::new();
    for (field, expected) in &fixture.expect {
        // A decision without wake-ups leaves the field out.
        let absent = if field == "wakes" {
            Value::Array(Vec::new())
        } else {
            Value::Null
        };
        let got = actual.get(field).cloned().unwrap_or(absent);
        if !json_eq(expected, &got) {
            mismatches.push(Mismatch {
                field: field.clone(),
                expected: expected.clone(),
                actual: got,
            });
        }
    }
    if let Some(error) = actual.get("error")
        && !fixture.expect.contains_key("error")
    {
        mismatches.push(Mismatch {
            field: "error".into(),
            expected: Value::Null,
            actual: error.clone(),
        });
    }
    mismatches
}

/// The fixture files of a folder (`*.json`), sorted by name.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no fixtures (*.json) in {}", dir.display()));
    }
    Ok(files)
}

/// Runs every fixture of a folder.
pub fn run_dir(engine: &Engine, plugins: &[Arc<Plugin>], dir: &Path, limits: &Limits) -> Result<Vec<Outcome>, String> {
    Ok(files(dir)?
        .into_iter()
        .map(|path| {
            let fallback = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match Fixture::load(&path) {
                Ok(fixture) => Outcome {
                    mismatches: check(engine, plugins, &fixture, limits),
                    name: fixture.name,
                    broken: None,
                    path,
                },
                Err(why) => Outcome {
                    path,
                    name: fallback,
                    broken: Some(why),
                    mismatches: Vec::new(),
                },
            }
        })
        .collect())
}

/// The report `rulehost test` prints: a line per fixture, a diff per
/// mismatch, and `N passed, M failed`.
pub fn report(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let file = o.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if o.passed() {
            out.push_str(&format!("ok     {} ({file})\n", o.name));
            continue;
        }
        out.push_str(&format!("FAIL   {} ({file})\n", o.name));
        if let Some(why) = &o.broken {
            out.push_str(&format!("  broken fixture: {why}\n"));
        }
        for m in &o.mismatches {
            out.push_str(&m.diff());
        }
    }
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    out.push_str(&format!("{passed} passed, {} failed\n", outcomes.len() - passed));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!({"a": [5, 1.5]}), &json!({"a": [5.0, 1.5]})));
        assert!(!json_eq(&json!({"a": 5}), &json!({"a": 6})));
        assert!(!json_eq(&json!({"a": 5}), &json!({"a": 5, "b": 1})));
    }

    #[test]
    fn diffs_show_both_sides() {
        let m = Mismatch {
            field: "stage".into(),
            expected: json!({"value": "growth"}),
            actual: json!({"value": "maturity"}),
        };
        let diff = m.diff();
        assert!(diff.contains("-  \"value\": \"growth\""), "{diff}");
        assert!(diff.contains("+  \"value\": \"maturity\""), "{diff}");
    }
}
