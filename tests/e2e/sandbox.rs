//! A plugin built with WASI (wasm32-wasip2) sees a locked-down world: a
//! frozen clock, no environment, no files, no network, seeded randomness,
//! and captured output.

use rulehost::decision::Decision;
use rulehost::engine::Limits;
use rulehost_test_artifacts::WASI_PROBE;

use crate::{config, decide, plugin, request};

fn probe(now: &str, seed: u64) -> Decision {
    let mut req = request(now, r#"{"customer_id":"probe"}"#, "[]");
    req.seed = seed;
    decide(&[plugin(WASI_PROBE)], &req, config("{}"), &Limits::default()).expect("the probe runs")
}

fn seen<'d>(d: &'d Decision, group: &str) -> &'d str {
    d.tags
        .iter()
        .find(|t| t.group == group)
        .map(|t| t.name.as_str())
        .unwrap_or_else(|| panic!("no {group} tag in {:?}", d.tags))
}

#[test]
fn the_clock_is_the_decisions_now() {
    let d = probe("2026-03-07T10:00:00Z", 1);
    assert_eq!(seen(&d, "clock"), "1772877600000");
}

#[test]
fn there_is_no_environment_filesystem_or_network() {
    let d = probe("2026-03-07T10:00:00Z", 1);
    assert_eq!(seen(&d, "env"), "0");
    assert_eq!(seen(&d, "args"), "0");
    assert_eq!(seen(&d, "fs-root"), "denied");
    assert_eq!(seen(&d, "fs-file"), "denied");
    assert_eq!(seen(&d, "net"), "denied");
}

#[test]
fn randomness_follows_the_seed() {
    let a = probe("2026-03-07T10:00:00Z", 1);
    let b = probe("2026-03-07T10:00:00Z", 1);
    let c = probe("2026-03-07T10:00:00Z", 2);
    assert_eq!(seen(&a, "random"), seen(&b, "random"));
    assert_ne!(seen(&a, "random"), seen(&c, "random"));
}

#[test]
fn stdout_and_stderr_are_captured_into_the_decision_log() {
    let d = probe("2026-03-07T10:00:00Z", 1);
    let messages: Vec<(&str, &str)> = d.logs.iter().map(|l| (l.plugin.as_str(), l.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            ("hostile-wasi-probe", "stdout: hello from the probe's stdout\n"),
            ("hostile-wasi-probe", "stderr: and from its stderr\n"),
        ]
    );
}
