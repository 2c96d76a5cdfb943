//! Moments, over real HTTP: events a tenant's triggers name start a
//! decision once they are taken in, and every touch a live decision
//! commits reaches the outbox, read from the pull feed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::TestServer;

fn now_minus(minutes: i64) -> String {
    rulehost::model::Timestamp(rulehost::model::Timestamp::now().0 - minutes * 60_000)
        .to_rfc3339()
        .expect("a time")
}

fn event(id: &str, customer: &str, kind: &str, minutes_ago: i64, channel: Option<&str>) -> Value {
    let mut e = json!({"event_id": id, "customer_id": customer, "kind": kind, "at": now_minus(minutes_ago),
                       "amount_minor": 2800, "category": "latte"});
    if let Some(channel) = channel {
        e["channel"] = json!(channel);
    }
    e
}

/// Reads the feed after `after`, waiting up to `wait` seconds.
fn feed(server: &TestServer, key: &str, after: &str, wait: u32) -> (Vec<Value>, String) {
    let (status, page) = server.call(
        "GET",
        &format!("/v1/tenants/brand/touches?after={after}&wait={wait}"),
        key,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().expect("items").clone();
    (items, page["next"].as_str().expect("a cursor").to_owned())
}

#[test]
fn an_event_a_trigger_names_starts_a_decision_whose_touch_reaches_the_feed_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let (status, set) = server.call(
        "PUT",
        "/v1/tenants/brand/triggers",
        &key,
        Some(json!({"max_age_minutes": 30,
                    "events": [{"kind": "purchase", "channels": ["store"]}, {"kind": "order_unpaid"}]})),
    );
    assert_eq!(status, 200, "{set}");

    let started = Instant::now();
    let (status, _) = server.call(
        "POST",
        "/v1/tenants/brand/events",
        &key,
        Some(json!([event("p-1", "c-1", "purchase", 1, Some("store"))])),
    );
    assert_eq!(status, 200);
    let (items, cursor) = feed(&server, &key, "", 10);
    let waited = started.elapsed();
    assert_eq!(items.len(), 1, "{items:?}");
    let delivery = &items[0]["delivery"];
    assert_eq!(delivery["customer_id"], "c-1");
    assert_eq!(delivery["trigger_kind"], "purchase");
    assert_eq!(delivery["trigger_id"], "p-1");
    assert_eq!(delivery["offer_id"], "welcome-latte");
    assert_eq!(delivery["offer_kind"], "new_customer_coupon");
    assert_eq!(items[0]["cursor"], cursor.as_str());
    println!("event taken in → touch on the feed: {waited:?}");

    // The decision is logged, explained, and the customer's.
    let id = delivery["decision_id"].as_str().expect("a decision");
    let (status, logged) = server.call("GET", &format!("/v1/tenants/brand/decisions/{id}"), &key, None);
    assert_eq!(status, 200, "{logged}");
    assert_eq!(logged["decision"]["committed"], true);
    assert_eq!(logged["request"]["trigger"]["kind"], "purchase");

    // The same event again, an old one, one on another channel, one of a
    // kind no trigger names: nothing more reaches the feed.
    server.call(
        "POST",
        "/v1/tenants/brand/events",
        &key,
        Some(json!([
            event("p-1", "c-1", "purchase", 1, Some("store")),
            event("p-2", "c-2", "purchase", 45, Some("store")),
            event("p-3", "c-3", "purchase", 1, Some("tmall")),
            event("v-1", "c-4", "view", 1, None),
        ])),
    );
    let (items, _) = feed(&server, &key, &cursor, 2);
    assert!(items.is_empty(), "{items:?}");
    // Nothing is left waiting but the dormancy check the plugin asked for.
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c-1", &key, None);
    let timers = customer["timers"].as_array().expect("timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(
        (&timers[0]["kind"], &timers[0]["key"]),
        (&json!("wake"), &json!("dormancy-check"))
    );
    assert_eq!(
        server.metric("rulehost_timers_total{tenant=\"brand\",kind=\"event\",outcome=\"decided\"}"),
        1.0
    );

    // Another trigger, another customer: numbered after the first.
    server.call(
        "POST",
        "/v1/tenants/brand/events",
        &key,
        Some(json!(event("u-1", "c-5", "order_unpaid", 0, None))),
    );
    let (items, next) = feed(&server, &key, &cursor, 10);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["delivery"]["customer_id"], "c-5");
    assert!(next.parse::<i64>().unwrap() > cursor.parse::<i64>().unwrap());
    // From the start, both.
    assert_eq!(feed(&server, &key, "", 0).0.len(), 2);
}

#[test]
fn every_touch_a_live_decision_commits_reaches_the_outbox_and_no_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let decide = |mode: &str, commit: bool, customer: &str| {
        let (status, d) = server.call(
            "POST",
            "/v1/tenants/brand/decide",
            &key,
            Some(json!({"profile": {"customer_id": customer}, "mode": mode, "commit": commit})),
        );
        assert_eq!(status, 200, "{d}");
        assert!(!d["selected"].as_array().unwrap().is_empty(), "{d}");
        d
    };
    decide("live", false, "dry");
    decide("batch", true, "batch");
    let live = decide("live", true, "live");
    let (items, _) = feed(&server, &key, "", 5);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["delivery"]["customer_id"], "live");
    assert_eq!(
        items[0]["delivery"]["touch_id"],
        format!("{}-0", live["decision_id"].as_str().unwrap())
    );
    assert!(items[0]["delivery"].get("trigger_kind").is_none());
}

#[test]
fn a_bad_triggers_document_or_feed_cursor_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let good = json!({"events": [{"kind": "purchase"}]});
    assert_eq!(
        server
            .call("PUT", "/v1/tenants/brand/triggers", &key, Some(good.clone()))
            .0,
        200
    );
    for (bad, says) in [
        (
            json!({"events": [{"kind": "timer"}]}),
            "triggers.events[0].kind \"timer\" is reserved",
        ),
        (
            json!({"events": [{"kind": "a"}, {"kind": "a"}]}),
            "triggers.events[1] repeats events[0]",
        ),
        (json!({"max_age_minutes": 0}), "triggers.max_age_minutes is 0"),
        (
            json!({"events": [{"kind": "a", "channel": ["x"]}]}),
            "unknown field `channel`",
        ),
    ] {
        let (status, refused) = server.call("PUT", "/v1/tenants/brand/triggers", &key, Some(bad));
        assert_eq!(status, 400, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let (_, kept) = server.call("GET", "/v1/tenants/brand/triggers", &key, None);
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["body"]["events"], good["events"]);
    for query in ["after=abc", "limit=0", "limit=501", "wait=31", "after=-1"] {
        let (status, refused) = server.call("GET", &format!("/v1/tenants/brand/touches?{query}"), &key, None);
        assert_eq!(status, 400, "{query}: {refused}");
    }
    // A long poll with nothing to read answers when its wait is over.
    let started = Instant::now();
    let (items, next) = feed(&server, &key, "", 1);
    assert!(items.is_empty());
    assert_eq!(next, "0");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn a_wake_up_a_plugin_asks_for_decides_again_when_due_and_a_later_decision_can_clear_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let mut offers: Value = serde_json::from_str(crate::COFFEE_OFFERS).expect("json");
    offers
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "pay-reminder", "kind": "payment_reminder",
        "channels": ["mini_program", "sms"], "priority": 90, "class": "transactional"}));
    assert_eq!(
        server.call("PUT", "/v1/tenants/brand/offers", &key, Some(offers)).0,
        200
    );

    // Two orders left unpaid 29 min 50 s ago (coffee-chain reminds after
    // 30 minutes), each decided on then: each decision asks to be woken
    // 10 s from now.
    let left = rulehost::model::Timestamp(rulehost::model::Timestamp::now().0 - (29 * 60 + 50) * 1000)
        .to_rfc3339()
        .unwrap();
    for (customer, order) in [("c-1", "o-1"), ("c-2", "o-2")] {
        let unpaid = json!({"event_id": format!("u-{order}"), "customer_id": customer, "kind": "order_unpaid",
                            "at": left, "channel": "mini_program", "props": {"order_id": order}});
        let (status, taken) = server.call("POST", "/v1/tenants/brand/events", &key, Some(unpaid.clone()));
        assert_eq!(status, 200, "{taken}");
        let (status, decided) = server.call(
            "POST",
            "/v1/tenants/brand/decide",
            &key,
            Some(json!({"customer_id": customer, "now": left, "commit": true,
                        "trigger": {"kind": "order_unpaid", "at": left, "channel": "mini_program",
                                    "props": {"order_id": order}}})),
        );
        assert_eq!(status, 200, "{decided}");
        assert_eq!(decided["wakes"][0]["key"], format!("unpaid:{order}"), "{decided}");
    }
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c-1", &key, None);
    let timers = customer["timers"].as_array().expect("timers");
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0]["kind"], "wake");
    assert_eq!(timers[0]["key"], "unpaid:o-1");

    // c-2 pays before its wake-up is due: the purchase's decision clears it
    // (and sets the dormancy check instead).
    let paid = json!({"event_id": "p-o-2", "customer_id": "c-2", "kind": "purchase", "at": now_minus(0),
                      "channel": "mini_program", "amount_minor": 2800, "props": {"order_id": "o-2"}});
    assert_eq!(server.call("POST", "/v1/tenants/brand/events", &key, Some(paid)).0, 200);
    let (status, decided) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"customer_id": "c-2", "commit": true,
                    "trigger": {"kind": "purchase", "at": now_minus(0), "channel": "mini_program",
                                "amount_minor": 2800, "props": {"order_id": "o-2"}}})),
    );
    assert_eq!(status, 200, "{decided}");
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c-2", &key, None);
    let keys: Vec<&str> = customer["timers"]
        .as_array()
        .expect("timers")
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["dormancy-check"], "{customer}");

    // The wake-up's reminder reaches the feed (after what the decisions
    // above touched), for c-1 only.
    let (mut items, mut cursor) = (Vec::new(), String::new());
    let started = Instant::now();
    while !items.iter().any(|i: &Value| i["delivery"]["trigger_kind"] == "timer") {
        assert!(started.elapsed() < Duration::from_secs(30), "no reminder: {items:?}");
        let (more, next) = feed(&server, &key, &cursor, 5);
        items.extend(more);
        cursor = next;
    }
    // A second one due at the same time would be there by now.
    std::thread::sleep(Duration::from_secs(1));
    items.extend(feed(&server, &key, &cursor, 0).0);
    let reminders: Vec<&Value> = items
        .iter()
        .map(|i| &i["delivery"])
        .filter(|d| d["trigger_kind"] == "timer")
        .collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    let delivery = reminders[0];
    assert_eq!(delivery["customer_id"], "c-1");
    assert_eq!(delivery["trigger_kind"], "timer");
    assert_eq!(delivery["trigger_id"], "unpaid:o-1");
    assert_eq!(delivery["offer_id"], "pay-reminder");
    assert_eq!(delivery["channel"], "mini_program");
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c-1", &key, None);
    assert_eq!(customer["timers"], json!([]), "{customer}");
    assert_eq!(
        server.metric("rulehost_timers_total{tenant=\"brand\",kind=\"wake\",outcome=\"decided\"}"),
        1.0
    );
    // The decision it started is logged with the timer as its trigger.
    let id = delivery["decision_id"].as_str().expect("a decision");
    let (_, logged) = server.call("GET", &format!("/v1/tenants/brand/decisions/{id}"), &key, None);
    assert_eq!(logged["request"]["trigger"]["kind"], "timer");
    assert_eq!(logged["request"]["trigger"]["props"]["key"], "unpaid:o-1");
}
