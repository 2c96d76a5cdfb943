//! Hostile plugins are stopped with their typed error, and the next decision
//! works.

use std::time::Duration;

use rulehost::Error;
use rulehost::engine::{Limits, thread_cpu_time};
use rulehost_test_artifacts as artifacts;

use crate::{NOW, coffee_decision, config, decide, heavy, plugin, request};

const PROFILE: &str = r#"{"customer_id":"c-hostile"}"#;

fn run(artifact: &str, config_json: &str, limits: Limits) -> Result<rulehost::decision::Decision, Error> {
    decide(
        &[plugin(artifact)],
        &request(NOW, PROFILE, "[]"),
        config(config_json),
        &limits,
    )
}

fn assert_next_decision_works() {
    let decision = coffee_decision().expect("an ordinary decision after a hostile one");
    assert_eq!(decision.customer_id, "c-1");
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline_as_plugin_timeout() {
    let _guard = heavy();
    let limits = Limits {
        deadline_ms: 100,
        fuel: u64::MAX / 4,
        ..Limits::default()
    };
    let looping = plugin(artifacts::LOOP_FOREVER);
    let req = request(NOW, PROFILE, "[]");
    // The deadline is CPU time of the decision's thread (this one: no
    // lane), so that is what is checked, not the wall clock a busy
    // machine stretches.
    let cpu = || thread_cpu_time().expect("this platform reports a thread's CPU time");
    let started = cpu();
    let err = decide(&[looping], &req, config("{}"), &limits).unwrap_err();
    let used = cpu() - started;
    assert_eq!(err.code(), "plugin_timeout", "{err}");
    assert_eq!(err.to_string(), "hostile-loop-forever: ran past its deadline of 100 ms");
    assert!(used >= Duration::from_millis(100), "stopped early: {used:?} of CPU");
    assert!(used < Duration::from_millis(200), "stopped late: {used:?} of CPU");
    assert_next_decision_works();
}

#[test]
fn an_endless_loop_with_a_small_budget_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 1_000_000,
        deadline_ms: 10_000,
        ..Limits::default()
    };
    let err = run(artifacts::LOOP_FOREVER, "{}", limits).unwrap_err();
    assert_eq!(err.code(), "plugin_out_of_fuel", "{err}");
    assert_eq!(
        err.to_string(),
        "hostile-loop-forever: used up its budget of 1000000 fuel"
    );
    assert_next_decision_works();
}

#[test]
fn the_same_input_burns_the_same_fuel() {
    let fuel: Vec<u64> = (0..3)
        .map(|_| coffee_decision().expect("decision").usage.fuel)
        .collect();
    assert!(fuel[0] > 0);
    assert!(fuel.iter().all(|&f| f == fuel[0]), "{fuel:?}");
}

#[test]
fn a_memory_bomb_is_refused_at_the_limit_and_its_memory_is_returned() {
    let _guard = heavy();
    // Time and fuel to spare: what must stop the bomb is the memory limit.
    let limits = Limits {
        deadline_ms: 5_000,
        fuel: u64::MAX / 4,
        ..Limits::default()
    };
    let before = resident_bytes();
    for _ in 0..10 {
        let err = run(artifacts::MEMORY_BOMB, "{}", limits).unwrap_err();
        let Error::PluginOutOfMemory { wanted, limit, .. } = &err else {
            panic!("expected plugin_out_of_memory, got {err}");
        };
        assert_eq!(*limit, 64 << 20);
        assert!(*wanted > *limit, "{err}");
    }
    let after = resident_bytes();
    // Ten bombs each touched ~64 MiB; if the host kept that memory the
    // process would have grown by ~640 MiB.
    assert!(
        after < before + (96 << 20),
        "resident memory grew from {} MiB to {} MiB",
        before >> 20,
        after >> 20
    );
    assert_next_decision_works();
}

#[test]
fn a_smaller_memory_limit_is_enforced_too() {
    let limits = Limits {
        memory_bytes: 8 << 20,
        deadline_ms: 5_000,
        fuel: u64::MAX / 4,
    };
    let err = run(artifacts::MEMORY_BOMB, "{}", limits).unwrap_err();
    assert_eq!(err.code(), "plugin_out_of_memory", "{err}");
    assert!(err.to_string().contains("the limit is 8388608 bytes"), "{err}");
}

#[test]
fn unbounded_recursion_traps_cleanly() {
    let err = run(artifacts::DEEP_RECURSION, "{}", Limits::default()).unwrap_err();
    assert_eq!(err.code(), "plugin_trap", "{err}");
    assert!(err.to_string().contains("call stack exhausted"), "{err}");
    assert_next_decision_works();
}

#[test]
fn a_panic_is_a_trap_with_the_plugins_message() {
    let err = run(artifacts::TRAP, "{}", Limits::default()).unwrap_err();
    assert_eq!(err.code(), "plugin_trap", "{err}");
    let message = err.to_string();
    assert!(message.contains("unreachable"), "{message}");
    assert!(message.contains("deliberate panic for customer c-hostile"), "{message}");
    // A fresh store per decision: the same plugin traps the same way again.
    assert_eq!(run(artifacts::TRAP, "{}", Limits::default()).unwrap_err(), err);
    assert_next_decision_works();
}

#[test]
fn a_plugin_that_traps_as_its_session_is_dropped_fails_the_decision() {
    // Every stage answers; the panic comes after, in the session's
    // destructor. It is not a success with the trap unseen.
    let err = run(artifacts::TRAP_ON_DROP, "{}", Limits::default()).unwrap_err();
    assert_eq!(err.code(), "plugin_trap", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("deliberate panic while the session is dropped"),
        "{message}"
    );
    assert!(message.contains("as its session was dropped"), "{message}");
    // The same input fails the same way, and others are served.
    assert_eq!(run(artifacts::TRAP_ON_DROP, "{}", Limits::default()).unwrap_err(), err);
    assert_next_decision_works();
}

#[test]
fn a_million_tags_are_refused_without_the_host_building_them() {
    let _guard = heavy();
    // Enough memory and time for the guest to build its answer, so that the
    // host's own bound is what stops it.
    let limits = Limits {
        memory_bytes: 256 << 20,
        deadline_ms: 10_000,
        fuel: u64::MAX / 4,
    };
    let err = run(artifacts::OVERSIZED_OUTPUT, "{}", limits).unwrap_err();
    assert_eq!(err.code(), "plugin_invalid_output", "{err}");
    assert!(err.to_string().contains("more than 1048576 bytes in one call"), "{err}");
    assert_next_decision_works();
}

#[test]
fn more_tags_than_allowed_are_refused_by_count() {
    let err = run(artifacts::OVERSIZED_OUTPUT, r#"{"count": 300}"#, Limits::default()).unwrap_err();
    assert_eq!(err.code(), "plugin_invalid_output", "{err}");
    assert_eq!(
        err.to_string(),
        "hostile-oversized-output: invalid output: returned 300 tags; the limit is 256"
    );
}

#[test]
fn a_log_flood_is_cut_off() {
    let err = run(artifacts::LOG_FLOOD, "{}", Limits::default()).unwrap_err();
    assert_eq!(err.code(), "plugin_invalid_output", "{err}");
    assert_eq!(
        err.to_string(),
        "hostile-log-flood: invalid output: log flood: logged more than 256 lines or 65536 bytes in one decision"
    );
    assert_next_decision_works();
}

#[test]
fn every_kind_of_bad_output_is_refused_with_what_is_wrong() {
    let offers = r#"[{"id":"o1","kind":"k","channels":["sms"]}]"#;
    let cases = [
        ("no-reason", r#"tag "test"/"a" has no reason"#),
        ("no-rule", r#"tag "test"/"a" has an empty rule_id"#),
        ("duplicate-tag", r#"tag "test"/"a" was returned twice"#),
        ("long-name", "has a name of 1000 bytes; the limit is 128"),
        ("too-many-tags", "returned 300 tags; the limit is 256"),
        ("nan-score", r#"score "test.score" is NaN, not a finite number"#),
        (
            "infinite-proposal-score",
            r#"proposal "o1" on "sms" has score inf, not a finite number"#,
        ),
        (
            "unknown-offer",
            r#"proposal "no-such-offer" on "sms" names an offer that is not in the catalog"#,
        ),
        (
            "wrong-channel",
            r#"proposal "o1" on "carrier-pigeon": the offer may only be sent on ["sms"]"#,
        ),
        ("bad-error", "its error has an empty or oversized code or message"),
        (
            "wake-too-soon",
            r#"wake-up "soon" is at 2026-03-10T02:00:30Z, 30 s from the decision's now: a wake-up is at least 60 s ahead"#,
        ),
        (
            "wake-too-far",
            r#"wake-up "far" is at 2027-04-15T02:00:00Z, more than 400 days ahead"#,
        ),
        ("wake-no-reason", r#"wake-up "silent" has no reason"#),
        ("wake-empty-key", r#"wake-up "" has an empty key"#),
        ("too-many-wakes", "returned 9 wake-ups; the limit is 8"),
    ];
    for (mode, expected) in cases {
        let err = decide(
            &[plugin(artifacts::BAD_OUTPUT)],
            &request(NOW, PROFILE, offers),
            config(&format!(r#"{{"mode":"{mode}"}}"#)),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "plugin_invalid_output", "{mode}: {err}");
        assert!(err.to_string().contains(expected), "{mode}: {err}");
    }
    // The same plugin with valid output is accepted: the checks are not
    // refusing everything.
    let ok = decide(
        &[plugin(artifacts::BAD_OUTPUT)],
        &request(NOW, PROFILE, offers),
        config(r#"{"mode":"ok"}"#),
        &Limits::default(),
    )
    .expect("valid output is accepted");
    assert_eq!(ok.proposals.len(), 1);
    assert_eq!(ok.wakes.len(), 1, "{:?}", ok.wakes);
    assert_eq!(ok.wakes[0].key, "check");
}

/// The process's resident set size, from /proc.
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc is mounted");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS is in /proc/self/status");
    kib * 1024
}

/// What one memory-snoop decision reported: secrets found before it wrote,
/// and (with `snoop.rescan`) after.
fn snoop(config_json: &str) -> (Vec<String>, Vec<String>) {
    let limits = Limits {
        deadline_ms: 10_000,
        fuel: u64::MAX / 4,
        ..Limits::default()
    };
    let d = run(artifacts::MEMORY_SNOOP, config_json, limits).expect("the snoop runs");
    let of = |group: &str| {
        d.tags
            .iter()
            .filter(|t| t.group == group)
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
    };
    (of("found"), of("rescan"))
}

/// The pool reuses a slot for the next instance of the same plugin and
/// resets only the pages the last one dirtied: whatever tenant A wrote into
/// its static data, its heap and memory it grew must be gone for the next
/// instance, tenant B's.
#[test]
fn nothing_an_instance_wrote_is_readable_by_the_next_one_in_its_slot() {
    let _guard = heavy();
    for round in 0..3 {
        let secret = format!("tenant-a-{round}");
        let (found, rescan) = snoop(&format!(r#"{{"snoop.write":"{secret}","snoop.rescan":true}}"#));
        assert_eq!(found, ["nothing"], "round {round}: tenant A found {found:?}");
        // The scanner sees what is in memory: right after writing, it finds it.
        assert_eq!(rescan, [secret], "round {round}");

        let (found, _) = snoop("{}");
        assert_eq!(found, ["nothing"], "round {round}: tenant B read {found:?}");
    }
    assert_next_decision_works();
}

#[test]
fn every_kind_of_broken_answer_frame_is_refused_with_what_is_wrong() {
    // A plugin written below the SDK (contract 0.2.0 by hand) answers its
    // tag stage with bytes the host reads as untrusted.
    let cases = [
        ("garbage", "not a RHO2 frame (magic)"),
        ("truncated", "is outside the frame's"),
        ("atom-out-of-range", "tags[0] refers to string 99; there are 1"),
        ("not-utf8", "the strings are not UTF-8"),
        ("section-outside", "RHO2 section 2 (1000000000 records of 32 bytes"),
        ("old-revision", "RHO2 frame of layout revision 0; this reads 1"),
        (
            "stray-proposals",
            "its tag answer carries proposals, which a tag stage does not answer",
        ),
    ];
    for (mode, expected) in cases {
        let err = decide(
            &[plugin(artifacts::BAD_FRAMES)],
            &request(NOW, PROFILE, "[]"),
            config(&format!(r#"{{"mode":"{mode}"}}"#)),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "plugin_invalid_output", "{mode}: {err}");
        assert!(err.to_string().contains(expected), "{mode}: {err}");
        assert!(
            err.to_string().contains("its tag answer is not a valid answer frame") || mode == "stray-proposals",
            "{mode}: {err}"
        );
    }
    let ok = decide(
        &[plugin(artifacts::BAD_FRAMES)],
        &request(NOW, PROFILE, "[]"),
        config(r#"{"mode":"ok"}"#),
        &Limits::default(),
    )
    .expect("a valid frame is accepted");
    assert_eq!(
        ok.tags
            .iter()
            .map(|t| (t.group.as_str(), t.name.as_str()))
            .collect::<Vec<_>>(),
        [("test", "ab")]
    );
    assert_next_decision_works();
}
