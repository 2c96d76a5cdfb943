//! Decisions: the stage order across plugins, determinism, and input
//! checks.

use rulehost::engine::Limits;
use rulehost::model::Stage;
use rulehost_test_artifacts::{APPAREL_RFM, COFFEE_CHAIN, FIXED_OUTPUT};

use crate::{COFFEE_CONFIG, COFFEE_OFFERS, COFFEE_PROFILE, NOW, coffee_decision, config, decide, plugin, request};

const APPAREL_CONFIG: &str = r#"{"rfm.recency_days":"30,60,120,240","rfm.frequency":"2,3,5,8",
    "rfm.monetary_minor":"50000,100000,300000,800000","rfm.window_days":365,"apparel.tier_cutoffs":"13,10,7",
    "apparel.koc_min_actions":3,"apparel.dormant_after_days":120,"apparel.churned_after_days":365,
    "apparel.growth_min_purchases":2,"apparel.maturity_min_purchases":5}"#;

#[test]
fn a_decision_is_explained_and_names_its_plugin() {
    let d = coffee_decision().expect("decision");
    let stage = d.stage.expect("coffee sets a stage");
    assert_eq!(stage.value, Stage::Growth);
    assert_eq!(stage.rule_id, "coffee.stage.growth");
    assert!(d.tags.iter().all(|t| !t.reason.is_empty() && !t.rule_id.is_empty()));
    assert_eq!(d.proposals.len(), 1);
    assert_eq!(d.proposals[0].offer_id, "pastry-pairing");
    assert_eq!(d.plugins.len(), 1);
    assert_eq!(
        (d.plugins[0].name.as_str(), d.plugins[0].version.as_str()),
        ("coffee-chain", "0.1.0")
    );
    assert!(d.usage.fuel > 0 && d.usage.duration_us > 0);
}

#[test]
fn the_same_input_gives_the_same_output() {
    let mut a = coffee_decision().expect("decision");
    let mut b = coffee_decision().expect("decision");
    a.usage.duration_us = 0;
    b.usage.duration_us = 0;
    assert_eq!(a, b);
}

#[test]
fn a_pipeline_runs_each_stage_across_all_plugins() {
    let plugins = [plugin(COFFEE_CHAIN), plugin(APPAREL_RFM)];
    let mut merged: serde_json::Map<String, serde_json::Value> = serde_json::from_str(COFFEE_CONFIG).expect("json");
    merged.extend(serde_json::from_str::<serde_json::Map<_, _>>(APPAREL_CONFIG).expect("json"));
    let d = decide(
        &plugins,
        &request(NOW, COFFEE_PROFILE, COFFEE_OFFERS),
        config(&serde_json::Value::Object(merged).to_string()),
        &Limits::default(),
    )
    .expect("decision");
    let groups: Vec<&str> = d.tags.iter().map(|t| t.group.as_str()).collect();
    // Coffee's tags first, then apparel's.
    assert_eq!(
        groups,
        [
            "member",
            "favourite-category",
            "rfm-segment",
            "value-tier",
            "channel-source"
        ]
    );
    // Both plugins scored; the last plugin that set a stage decides it.
    assert!(d.scores.iter().any(|s| s.name == "coffee.purchases"));
    assert!(d.scores.iter().any(|s| s.name == "rfm.total"));
    assert_eq!(d.stage.expect("stage").rule_id, "apparel.stage.growth");
    assert_eq!(
        d.plugins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["coffee-chain", "apparel-rfm"]
    );
}

/// The benchmarks' no-rules plugin: nothing without config, exactly the
/// configured number of items with it, and a clear error for a bad count.
#[test]
fn the_fixed_output_plugin_returns_what_its_config_asks_for() {
    let run = |json: &str| {
        decide(
            &[plugin(FIXED_OUTPUT)],
            &request(NOW, COFFEE_PROFILE, COFFEE_OFFERS),
            config(json),
            &Limits::default(),
        )
    };
    let empty = run("{}").expect("decision");
    assert!(empty.tags.is_empty() && empty.scores.is_empty() && empty.proposals.is_empty());
    assert_eq!(empty.stage, None);
    assert_eq!(empty.plugins[0].name, "fixed-output");

    let sized = run(r#"{"tags": 3, "scores": 2, "proposals": 2}"#).expect("decision");
    assert_eq!(
        sized.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["tag-0", "tag-1", "tag-2"]
    );
    assert_eq!(
        sized
            .scores
            .iter()
            .map(|s| (s.name.as_str(), s.value))
            .collect::<Vec<_>>(),
        [("fixed.score-0", 0.0), ("fixed.score-1", 1.0)]
    );
    assert_eq!(sized.proposals.len(), 2);
    assert!(
        sized
            .proposals
            .iter()
            .all(|p| p.offer_id == "welcome-latte" && p.channel == "sms")
    );

    let err = run(r#"{"tags": "many"}"#).unwrap_err();
    assert_eq!(err.code(), "plugin_error", "{err}");
    assert!(err.to_string().contains("tags"), "{err}");
}

/// The SDK's allocator starts on an arena inside the plugin's initial
/// memory, so a realistic decision never grows memory (growing costs the
/// host `mprotect` calls and cross-core TLB flushes): with a memory limit of
/// exactly the initial size, generated customers of every kind decide.
#[test]
fn realistic_decisions_fit_in_the_plugins_initial_memory() {
    let run = |request: &rulehost::model::Request, memory_bytes: u64| {
        decide(
            &[plugin(COFFEE_CHAIN)],
            request,
            config(COFFEE_CONFIG),
            &Limits {
                memory_bytes,
                ..Limits::default()
            },
        )
    };
    let mut req = request(NOW, COFFEE_PROFILE, COFFEE_OFFERS);
    let Err(rulehost::Error::PluginOutOfMemory { wanted: initial, .. }) = run(&req, 0) else {
        panic!("a zero memory limit must refuse the instance");
    };
    assert!(initial > 1 << 20, "the initial memory holds the 1 MiB arena: {initial}");
    let mut events = 0;
    for profile in rulehost::generate::profiles(rulehost::generate::Brand::Coffee, 200, 9, req.now) {
        req.profile = serde_json::from_value(profile).expect("a generated profile");
        events = events.max(req.profile.events.len());
        if let Err(e) = run(&req, initial) {
            panic!(
                "{} ({} events) needed more than {initial} bytes: {e}",
                req.profile.customer_id,
                req.profile.events.len()
            );
        }
    }
    assert!(events >= 100, "the largest profile had {events} events");
}

#[test]
fn a_plugin_error_names_the_plugin_and_its_code() {
    let err = decide(
        &[plugin(COFFEE_CHAIN)],
        &request(NOW, COFFEE_PROFILE, COFFEE_OFFERS),
        config("{}"),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "plugin_error");
    assert_eq!(
        err.to_string(),
        "coffee-chain: config_missing: config key `coffee.dormant_after_days` is not set"
    );
}

#[test]
fn malformed_requests_are_invalid_input_with_the_field_named() {
    let run = |profile: &str, offers: &str, tz: i32| {
        let mut req = request(NOW, profile, offers);
        req.tz_offset_minutes = tz;
        decide(&[plugin(COFFEE_CHAIN)], &req, config(COFFEE_CONFIG), &Limits::default()).unwrap_err()
    };
    let cases = [
        (run(r#"{"customer_id":""}"#, "[]", 0), "profile.customer_id is empty"),
        (run(r#"{"customer_id":"c"}"#, "[]", 1500), "tz_offset_minutes is 1500"),
        (
            run(
                r#"{"customer_id":"c"}"#,
                r#"[{"id":"a","kind":"k","channels":[]},{"id":"a","kind":"k","channels":[]}]"#,
                0,
            ),
            r#"offers[1].id "a" is already used by offers[0]"#,
        ),
        (
            run(
                r#"{"customer_id":"c"}"#,
                r#"[{"id":"a","kind":"k","channels":[],"starts_at":"2026-03-02T00:00:00Z","ends_at":"2026-03-01T00:00:00Z"}]"#,
                0,
            ),
            "offers[0] ends_at 2026-03-01T00:00:00Z is not after starts_at 2026-03-02T00:00:00Z",
        ),
        (
            run(
                &format!(
                    r#"{{"customer_id":"c","attributes":{{"note":"{}"}}}}"#,
                    "x".repeat(5000)
                ),
                "[]",
                0,
            ),
            "profile.attributes.note is 5000 characters long; the limit is 4096 characters",
        ),
    ];
    for (err, expected) in cases {
        assert_eq!(err.code(), "invalid_input", "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn too_many_events_are_refused() {
    let events: Vec<String> = (0..10_001)
        .map(|i| format!(r#"{{"kind":"view","at":"2026-03-01T00:00:{:02}Z"}}"#, i % 60))
        .collect();
    let profile = format!(r#"{{"customer_id":"c","events":[{}]}}"#, events.join(","));
    let err = decide(
        &[plugin(COFFEE_CHAIN)],
        &request(NOW, &profile, "[]"),
        config(COFFEE_CONFIG),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "profile.events has 10001 entries; the limit is 10000");
}

#[test]
fn events_reach_plugins_in_time_order_whatever_order_they_were_sent_in() {
    // The same purchases in reverse order give the same decision.
    let reversed = r#"{"customer_id":"c-1","attributes":{"member_level":"gold"},"events":[
        {"kind":"purchase","at":"2026-03-05T09:00:00+08:00","amount_minor":2600,"category":"mocha","channel":"wecom_1v1"},
        {"kind":"purchase","at":"2026-03-03T09:00:00+08:00","amount_minor":3200,"category":"latte"},
        {"kind":"purchase","at":"2026-03-01T09:00:00+08:00","amount_minor":2800,"category":"latte"}]}"#;
    let a = coffee_decision().expect("decision");
    let b = decide(
        &[plugin(COFFEE_CHAIN)],
        &request(NOW, reversed, COFFEE_OFFERS),
        config(COFFEE_CONFIG),
        &Limits::default(),
    )
    .expect("decision");
    assert_eq!(a.tags, b.tags);
    assert_eq!(a.stage, b.stage);
    assert_eq!(a.proposals, b.proposals);
}

#[test]
fn a_full_instance_pool_is_host_busy_not_a_crash() {
    use rulehost::engine::{Engine, EngineConfig};
    use std::sync::Arc;
    // One instance slot, two plugins in the pipeline: the second cannot get
    // a slot.
    let small = Engine::new(EngineConfig {
        pool_instances: 1,
        ..EngineConfig::default()
    })
    .expect("engine");
    let coffee = Arc::new(
        small
            .load(&std::fs::read(COFFEE_CHAIN).expect("artifact"))
            .expect("loads"),
    );
    let req = request(NOW, COFFEE_PROFILE, COFFEE_OFFERS);
    let err = rulehost::pipeline::decide(
        &small,
        None,
        &[coffee.clone(), coffee.clone()],
        &req,
        config(COFFEE_CONFIG),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "host_busy", "{err}");
    // With the slot free again, a one-plugin decision works.
    rulehost::pipeline::decide(&small, None, &[coffee], &req, config(COFFEE_CONFIG), &Limits::default())
        .expect("decision");
}
