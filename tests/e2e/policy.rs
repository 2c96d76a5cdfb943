//! The host decides: the tenant's contact policy over real HTTP, with the
//! contact ledger and the decision log.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::serve::TestServer;

/// A coffee catalog whose win-back coupon can go out on 1:1 chat.
fn offers() -> Value {
    json!([
        {"id": "come-back-5", "kind": "win_back_coupon", "channels": ["wecom_1v1", "sms"], "value_minor": 500,
         "priority": 35, "ends_at": "2026-12-31T16:00:00Z"},
        {"id": "receipt", "kind": "receipt", "channels": ["sms"], "class": "transactional"}
    ])
}

/// A dormant customer last active on 1:1 chat: the coffee plugin proposes
/// the win-back coupon there.
pub(crate) fn dormant(customer: &str) -> Value {
    json!({"customer_id": customer, "events": [
        {"kind": "purchase", "at": "2026-02-01T09:00:00+08:00", "amount_minor": 2800, "channel": "wecom_1v1"},
        {"kind": "purchase", "at": "2026-02-10T09:00:00+08:00", "amount_minor": 2800, "channel": "wecom_1v1"}
    ]})
}

pub(crate) const WEEKLY_COUPON: &str = r#"{
    "channels": {"wecom_1v1": {"per_week": 1, "quiet_hours": {"start": "22:00", "end": "08:00", "action": "defer"}}}
}"#;

pub(crate) fn setup(server: &TestServer, tenant: &str, policy: &str) -> String {
    let key = server.coffee_tenant(tenant);
    assert_eq!(
        server
            .call("PUT", &format!("/v1/tenants/{tenant}/offers"), &key, Some(offers()))
            .0,
        200
    );
    let policy: Value = serde_json::from_str(policy).expect("policy json");
    let (status, body) = server.call("PUT", &format!("/v1/tenants/{tenant}/policy"), &key, Some(policy));
    assert_eq!(status, 200, "{body}");
    key
}

fn decide(server: &TestServer, tenant: &str, key: &str, customer: &str, now: &str, commit: bool) -> Value {
    let (status, body) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decide"),
        key,
        Some(json!({"profile": dormant(customer), "now": now, "commit": commit})),
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn selected(decision: &Value) -> Vec<String> {
    decision["selected"]
        .as_array()
        .expect("selected")
        .iter()
        .map(|s| s["offer_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub(crate) fn rules(decision: &Value) -> Vec<String> {
    decision["suppressed"]
        .as_array()
        .expect("suppressed")
        .iter()
        .map(|s| s["rule"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn one_coupon_a_week_on_wecom_across_a_simulated_week_and_every_decision_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = setup(&server, "brand", WEEKLY_COUPON);
    // Monday March 2nd to Sunday March 8th 2026, 10:00 in UTC+8.
    let mut ids = Vec::new();
    for day in 2..=8 {
        let now = format!("2026-03-{day:02}T10:00:00+08:00");
        let decision = decide(&server, "brand", &key, "c-week", &now, true);
        assert_eq!(decision["committed"], true);
        if day == 2 {
            assert_eq!(selected(&decision), ["come-back-5"], "{decision}");
            assert_eq!(decision["selected"][0]["send_at"], "2026-03-02T02:00:00Z");
        } else {
            assert_eq!(selected(&decision), Vec::<String>::new(), "day {day}: {decision}");
            assert_eq!(rules(&decision), ["channel_cap"], "day {day}");
            assert_eq!(
                decision["suppressed"][0]["detail"],
                "wecom_1v1 per-week cap of 1 reached"
            );
        }
        ids.push(decision["decision_id"].as_str().expect("an id").to_owned());
    }
    // The next Monday is a new week.
    let monday = decide(&server, "brand", &key, "c-week", "2026-03-09T10:00:00+08:00", false);
    assert_eq!(selected(&monday), ["come-back-5"]);

    // Any decision's explanation names its rules and its plugins.
    let (status, logged) = server.call("GET", &format!("/v1/tenants/brand/decisions/{}", ids[3]), &key, None);
    assert_eq!(status, 200, "{logged}");
    assert_eq!(logged["id"], ids[3].as_str());
    assert_eq!(logged["policy_version"], 1);
    let hash = |logged: &Value| logged["request_sha256"].as_str().map(str::to_owned);
    assert_eq!(hash(&logged).map(|h| h.len()), Some(64));
    let decision = &logged["decision"];
    assert_eq!(decision["stage"]["value"], "dormancy");
    assert_eq!(decision["stage"]["plugin"], "coffee-chain");
    assert_eq!(decision["stage"]["rule_id"], "coffee.stage.dormancy");
    assert_eq!(decision["proposals"][0]["rule_id"], "coffee.offer.dormancy");
    assert_eq!(decision["suppressed"][0]["rule"], "channel_cap");
    assert_eq!(decision["suppressed"][0]["plugin"], "coffee-chain");
    let (_, listed) = server.call(
        "GET",
        "/v1/tenants/brand/decisions?customer_id=c-week&limit=3",
        &key,
        None,
    );
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(listed["items"][0]["id"], monday["decision_id"], "newest first");
    // The hash is of the request: another decision of the same request has
    // the same one, a different time a different one.
    let again = decide(&server, "brand", &key, "c-week", "2026-03-05T10:00:00+08:00", false);
    let (_, again) = server.call(
        "GET",
        &format!(
            "/v1/tenants/brand/decisions/{}",
            again["decision_id"].as_str().expect("an id")
        ),
        &key,
        None,
    );
    assert_eq!(hash(&again), hash(&logged));
    let (_, other) = server.call("GET", &format!("/v1/tenants/brand/decisions/{}", ids[4]), &key, None);
    assert_ne!(hash(&other), hash(&logged));
}

#[test]
fn quiet_hours_defer_a_late_evening_decision_to_the_morning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = setup(&server, "brand", WEEKLY_COUPON);
    let late = decide(&server, "brand", &key, "c-late", "2026-03-02T23:30:00+08:00", true);
    assert_eq!(selected(&late), ["come-back-5"]);
    assert_eq!(
        late["selected"][0]["send_at"], "2026-03-03T00:00:00Z",
        "08:00 the next morning, UTC+8"
    );
}

#[test]
fn concurrent_committing_decisions_never_exceed_a_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Arc::new(TestServer::start(dir.path()));
    let key = setup(&server, "brand", r#"{"channels": {"wecom_1v1": {"per_day": 1}}}"#);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (server, key) = (server.clone(), key.clone());
            std::thread::spawn(move || {
                let decision = decide(&server, "brand", &key, "c-race", "2026-03-05T10:00:00+08:00", true);
                selected(&decision).len()
            })
        })
        .collect();
    let sent: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(sent, 1, "exactly one of eight racing decisions got under the cap");
    let after = decide(&server, "brand", &key, "c-race", "2026-03-05T12:00:00+08:00", false);
    assert_eq!(rules(&after), ["channel_cap"]);
}

#[test]
fn touches_are_idempotent_and_count_towards_caps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = setup(&server, "brand", r#"{"channels": {"wecom_1v1": {"per_day": 1}}}"#);
    let touch = json!({"touches": [{"id": "crm-42", "customer_id": "c-crm", "offer_id": "come-back-5",
                                     "channel": "wecom_1v1", "at": "2026-03-05T01:00:00Z"}]});
    let (status, first) = server.call("POST", "/v1/tenants/brand/touches", &key, Some(touch.clone()));
    assert_eq!((status, first), (200, json!({"recorded": 1, "duplicates": 0})));
    let (_, again) = server.call("POST", "/v1/tenants/brand/touches", &key, Some(touch));
    assert_eq!(again, json!({"recorded": 0, "duplicates": 1}));
    let decision = decide(&server, "brand", &key, "c-crm", "2026-03-05T10:00:00+08:00", false);
    assert_eq!(rules(&decision), ["channel_cap"]);
    // A non-committing decision recorded nothing: another customer is free.
    let other = decide(&server, "brand", &key, "c-free", "2026-03-05T10:00:00+08:00", false);
    assert_eq!(selected(&other), ["come-back-5"]);
}

#[test]
fn holdout_is_stable_across_policy_edits_and_restarts_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = |server: &TestServer, key: &str| -> Vec<bool> {
        (0..24)
            .map(|i| {
                let d = decide(
                    server,
                    "brand",
                    key,
                    &format!("c-{i}"),
                    "2026-03-05T10:00:00+08:00",
                    false,
                );
                let held = d["holdout"].as_bool().expect("holdout flag");
                if held {
                    assert!(selected(&d).is_empty());
                    assert_eq!(rules(&d), ["holdout"]);
                }
                held
            })
            .collect()
    };
    let (key, before) = {
        let server = TestServer::start(dir.path());
        let key = setup(&server, "brand", r#"{"holdout": {"percent": 50, "salt": "spring"}}"#);
        let before = flags(&server, &key);
        assert!(before.contains(&true) && before.contains(&false), "{before:?}");
        // An edit that keeps the salt keeps the group.
        let edited = json!({"holdout": {"percent": 50, "salt": "spring"}, "global": {"per_day": 5}});
        assert_eq!(
            server.call("PUT", "/v1/tenants/brand/policy", &key, Some(edited)).0,
            200
        );
        assert_eq!(flags(&server, &key), before);
        server.stop();
        (key, before)
    };
    let server = TestServer::start(dir.path());
    assert_eq!(flags(&server, &key), before, "the same group after a restart");
}

#[test]
fn consent_is_honoured_even_for_transactional_offers_through_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = setup(
        &server,
        "brand",
        r#"{"fallback": {"offer_id": "receipt", "channel": "sms"}}"#,
    );
    let mut profile = dormant("c-no-sms");
    profile["attributes"] = json!({"consent.wecom_1v1": false, "consent.sms": false});
    let (status, d) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"profile": profile, "now": "2026-03-05T10:00:00+08:00"})),
    );
    assert_eq!(status, 200, "{d}");
    assert!(selected(&d).is_empty(), "{d}");
    // The coupon and then the transactional fallback both hit consent.
    assert_eq!(rules(&d), ["consent", "consent"]);
    assert_eq!(d["suppressed"][1]["plugin"], "policy");
}

#[test]
fn an_invalid_policy_is_refused_with_the_field_named_and_nothing_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = setup(&server, "brand", WEEKLY_COUPON);
    for (policy, expected) in [
        (
            json!({"channels": {"wecom_1v1": {"quiet_hours": {"start": "24:30", "end": "08:00", "action": "defer"}}}}),
            "channels.wecom_1v1.quiet_hours.start",
        ),
        (
            json!({"holdout": {"percent": -1, "salt": "x"}}),
            "policy.holdout.percent is -1",
        ),
        (json!({"channels": {"sms": {"per_dya": 1}}}), "unknown field `per_dya`"),
    ] {
        let (status, body) = server.call("PUT", "/v1/tenants/brand/policy", &key, Some(policy));
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap_or_default().contains(expected),
            "{body}"
        );
    }
    let (_, current) = server.call("GET", "/v1/tenants/brand/policy", &key, None);
    assert_eq!(current["version"], 1);
    assert_eq!(current["body"]["channels"]["wecom_1v1"]["per_week"], 1);
    let (_, audit) = server.call("GET", "/v1/tenants/brand/audit?limit=500", &key, None);
    let replaced = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "policy.replace")
        .count();
    assert_eq!(replaced, 1, "only the valid policy is in the audit log");
}

#[test]
fn every_interval_touches_past_the_longest_cap_window_are_compacted_and_recent_ones_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with_settings(dir.path(), &[("RULEHOST_COMPACTION_INTERVAL_S", "1")]);
    let key = setup(&server, "brand", WEEKLY_COUPON);
    let now = rulehost::model::Timestamp::now().to_rfc3339();
    let touches = json!({"touches": [
        {"id": "old", "customer_id": "c-old", "offer_id": "come-back-5", "channel": "wecom_1v1",
         "at": "2026-01-05T01:00:00Z"},
        {"id": "recent", "customer_id": "c-recent", "offer_id": "come-back-5", "channel": "wecom_1v1", "at": now}
    ]});
    let (status, first) = server.call("POST", "/v1/tenants/brand/touches", &key, Some(touches.clone()));
    assert_eq!((status, first), (200, json!({"recorded": 2, "duplicates": 0})));
    // After a compaction the old touch is gone (it is recorded anew) and
    // the recent one is still there (a duplicate).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_, again) = server.call("POST", "/v1/tenants/brand/touches", &key, Some(touches));
    assert_eq!(again, json!({"recorded": 1, "duplicates": 1}));
}
