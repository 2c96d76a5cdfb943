//! Every example plugin's fixtures pass in the real engine, and the fixture
//! runner really catches a wrong expectation.

use std::path::Path;

use rulehost::engine::Limits;
use rulehost::fixtures::{self, Fixture};
use rulehost_test_artifacts::{APPAREL_RFM, COFFEE_CHAIN, COFFEE_CHAIN_WASIP2, PLUGINS_DIR};

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
