//! Every example plugin's fixtures pass in the real engine, and the fixture
//! runner really catches a wrong expectation.

use std::path::Path;

use rulehost::engine::Limits;
use rulehost::fixtures::{self, Fixture};
use rulehost_test_artifacts::{
    APPAREL_RFM, COFFEE_CHAIN, COFFEE_CHAIN_WASIP2, FROZEN_COFFEE_CHAIN_V0_1, FROZEN_COFFEE_CHAIN_V0_2, PLUGINS_DIR,
};

use crate::{engine, plugin};

fn assert_all_pass(artifact: &str, dir: &str, at_least: usize) {
    let dir = Path::new(PLUGINS_DIR).join(dir);
    let outcomes = fixtures::run_dir(engine(), &[plugin(artifact)], &dir, &Limits::default()).expect("fixtures run");
    let report = fixtures::report(&outcomes);
    assert!(outcomes.iter().all(|o| o.passed()), "{report}");
    assert!(
        outcomes.len() >= at_least,
        "only {} fixtures in {}",
        outcomes.len(),
        dir.display()
    );
}

#[test]
fn coffee_chain_passes_all_its_fixtures() {
    assert_all_pass(COFFEE_CHAIN, "coffee-chain/fixtures", 12);
}

#[test]
fn apparel_rfm_passes_all_its_fixtures() {
    assert_all_pass(APPAREL_RFM, "apparel-rfm/fixtures", 12);
}

#[test]
fn the_same_plugin_built_for_wasip2_gives_the_same_decisions() {
    assert_all_pass(COFFEE_CHAIN_WASIP2, "coffee-chain/fixtures", 12);
}

#[test]
fn a_wrong_expectation_fails_with_a_diff_naming_the_field() {
    let path = Path::new(PLUGINS_DIR).join("coffee-chain/fixtures/03-growth-cross-sell.json");
    let mut fixture = Fixture::load(&path).expect("fixture loads");
    fixture.expect["stage"]["value"] = "maturity".into();
    let mismatches = fixtures::check(engine(), &[plugin(COFFEE_CHAIN)], &fixture, &Limits::default());
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(mismatches[0].field, "stage");
    let diff = mismatches[0].diff();
    assert!(diff.contains("-  \"value\": \"maturity\""), "{diff}");
    assert!(diff.contains("+  \"value\": \"growth\""), "{diff}");
}

#[test]
fn an_unexpected_error_is_a_mismatch_even_when_error_is_not_expected() {
    let path = Path::new(PLUGINS_DIR).join("coffee-chain/fixtures/01-no-events.json");
    let mut fixture = Fixture::load(&path).expect("fixture loads");
    fixture.config.0.remove("coffee.dormant_after_days");
    fixture.expect.retain(|k, _| k == "customer_id");
    let mismatches = fixtures::check(engine(), &[plugin(COFFEE_CHAIN)], &fixture, &Limits::default());
    let fields: Vec<_> = mismatches.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, ["customer_id", "error"]);
    assert_eq!(mismatches[1].actual["code"], "plugin_error");
}

/// Runs the coffee fixtures an earlier contract can show (those without a
/// trigger: the moments and their wake-ups came with 0.3.0).
/// The fixtures from this one on show fixes made after the frozen builds:
/// 22, a category too long to be a tag name (issue 26), which the frozen
/// builds answer with `plugin_invalid_output` as they always did.
const AFTER_THE_FROZEN_BUILDS: &str = "22-";

fn assert_frozen_passes(artifact: &str) {
    let dir = Path::new(PLUGINS_DIR).join("coffee-chain/fixtures");
    let mut checked = 0;
    for path in fixtures::files(&dir).expect("fixture files") {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.as_str() >= AFTER_THE_FROZEN_BUILDS {
            continue;
        }
        let fixture = Fixture::load(&path).expect("fixture loads");
        if fixture.trigger.is_some() {
            continue;
        }
        let mismatches = fixtures::check(engine(), &[plugin(artifact)], &fixture, &Limits::default());
        assert!(mismatches.is_empty(), "{}: {mismatches:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} fixtures without a trigger");
}

#[test]
fn the_frozen_v0_1_build_of_the_coffee_plugin_still_passes_its_fixtures() {
    assert_frozen_passes(FROZEN_COFFEE_CHAIN_V0_1);
}

#[test]
fn the_frozen_v0_2_build_of_the_coffee_plugin_still_passes_its_fixtures() {
    assert_frozen_passes(FROZEN_COFFEE_CHAIN_V0_2);
}

/// A decision without what names the build that made it (the plugins'
/// digests) or depends on the machine (time, fuel).
fn what_was_decided(decision: rulehost::decision::Decision) -> serde_json::Value {
    let mut value = serde_json::to_value(decision).expect("a decision serialises");
    let object = value.as_object_mut().expect("a decision is an object");
    object.remove("usage");
    for plugin in object["plugins"].as_array_mut().expect("plugins") {
        plugin.as_object_mut().expect("a plugin ref").remove("sha256");
    }
    value
}

#[test]
fn the_frozen_builds_decide_exactly_as_the_current_build() {
    let (v0_1, v0_2, current) = (
        plugin(FROZEN_COFFEE_CHAIN_V0_1),
        plugin(FROZEN_COFFEE_CHAIN_V0_2),
        plugin(COFFEE_CHAIN),
    );
    // The same rules built by the SDK of each contract: records lowered
    // one by one (0.1.0), frames copied in bulk (0.2.0), frames whose
    // answers may ask for wake-ups (0.3.0).
    assert_eq!(v0_1.info().contract, "0.1.0");
    assert_eq!(v0_2.info().contract, "0.2.0");
    assert_eq!(current.info().contract, "0.3.0");
    assert_eq!((v0_1.name(), v0_1.version()), (current.name(), current.version()));
    // Alone, and side by side in one pipeline (one store, each contract's
    // sessions, the findings crossing to each in its own form).
    let pipelines = [
        (vec![v0_1.clone()], vec![current.clone()]),
        (vec![v0_2.clone()], vec![current.clone()]),
        (
            vec![v0_1.clone(), v0_2.clone(), current.clone()],
            vec![current.clone(), current.clone(), current.clone()],
        ),
    ];
    let mut request = crate::request(crate::NOW, crate::COFFEE_PROFILE, crate::COFFEE_OFFERS);
    let mut decided = 0;
    for profile in rulehost::generate::profiles(rulehost::generate::Brand::Coffee, 300, 21, request.now) {
        request.profile = serde_json::from_value(profile).expect("a generated profile");
        let run = |p: &[std::sync::Arc<rulehost::engine::Plugin>]| {
            crate::decide(p, &request, crate::config(crate::COFFEE_CONFIG), &Limits::default())
                .map(what_was_decided)
                .map_err(|e| e.to_string())
        };
        for (old, new) in &pipelines {
            let (old, new) = (run(old), run(new));
            assert_eq!(old, new, "{} is decided differently", request.profile.customer_id);
            decided += usize::from(old.is_ok());
        }
    }
    assert_eq!(
        decided, 900,
        "every generated customer is decided, alone and side by side"
    );
}
