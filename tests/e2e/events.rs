//! Profiles kept by the host, over real HTTP: the brand's events folded in
//! once each, ids linked by `identify`, decisions by id on the kept
//! profile, bounded history, and erasure.

use serde_json::{Value, json};

use crate::serve::TestServer;

/// A coffee customer's events as the brand sends them: two purchases, a
/// member tier, and a WeChat unionid linked to the member number.
fn coffee_events(customer: &str) -> String {
    [
        json!({"event_id": format!("{customer}-p1"), "customer_id": customer, "kind": "purchase",
               "at": "2026-03-01T09:00:00+08:00", "amount_minor": 2800, "category": "latte"}),
        json!({"event_id": format!("{customer}-p2"), "customer_id": format!("wx-{customer}"), "kind": "purchase",
               "at": "2026-03-03T09:00:00+08:00", "amount_minor": 3200, "category": "latte"}),
        json!({"event_id": format!("{customer}-tier"), "customer_id": customer, "kind": "attributes",
               "at": "2026-03-02T00:00:00Z", "props": {"member_level": "gold"}}),
        json!({"event_id": format!("{customer}-id"), "customer_id": customer, "kind": "identify",
               "at": "2026-03-04T00:00:00Z", "props": {"wechat_unionid": format!("wx-{customer}")}}),
        json!({"event_id": format!("{customer}-p3"), "customer_id": format!("wx-{customer}"), "kind": "purchase",
               "at": "2026-03-05T09:00:00+08:00", "amount_minor": 2600, "category": "mocha", "channel": "wecom_1v1"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
}

/// The profile those events make, as a client would send it.
fn coffee_profile(customer: &str) -> Value {
    json!({"customer_id": customer, "identities": {"wechat_unionid": format!("wx-{customer}")},
           "attributes": {"member_level": "gold"}, "events": [
        {"kind": "purchase", "at": "2026-03-01T09:00:00+08:00", "amount_minor": 2800, "category": "latte"},
        {"kind": "purchase", "at": "2026-03-03T09:00:00+08:00", "amount_minor": 3200, "category": "latte"},
        {"kind": "purchase", "at": "2026-03-05T09:00:00+08:00", "amount_minor": 2600, "category": "mocha", "channel": "wecom_1v1"}]})
}

fn send(server: &TestServer, tenant: &str, key: &str, ndjson: String) -> (u16, Value) {
    server.call_ndjson("POST", &format!("/v1/tenants/{tenant}/events"), key, ndjson)
}

/// What a decision concluded, without its ids and timing.
fn conclusions(decision: &Value) -> Value {
    json!([
        decision["stage"],
        decision["tags"],
        decision["scores"],
        decision["proposals"]
    ])
}

#[test]
fn events_fold_into_a_profile_that_a_decision_by_id_uses_as_if_it_were_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let (status, taken) = send(&server, "brand", &key, coffee_events("m-1"));
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken, json!({"events": 5, "taken": 5, "duplicates": 0}));

    // The page of the customer, by either id: the profile plugins see.
    let (status, customer) = server.call("GET", "/v1/tenants/brand/customers/wx-m-1", &key, None);
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["customer_id"], "m-1");
    assert_eq!(customer["ids"][0]["id"], "wx-m-1");
    assert_eq!(customer["ids"][0]["event_id"], "m-1-id");
    let expected: rulehost::model::Profile = serde_json::from_value(coffee_profile("m-1")).expect("a profile");
    let kept: rulehost::model::Profile = serde_json::from_value(customer["profile"].clone()).expect("a profile");
    assert_eq!(kept, expected);

    // A decision by id decides as a decision on the same profile sent.
    let now = "2026-03-10T10:00:00+08:00";
    let (status, by_id) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"customer_id": "wx-m-1", "now": now})),
    );
    assert_eq!(status, 200, "{by_id}");
    let (status, sent) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"profile": coffee_profile("m-1"), "now": now})),
    );
    assert_eq!(status, 200, "{sent}");
    assert_eq!(conclusions(&by_id), conclusions(&sent));
    assert_eq!(by_id["customer_id"], "m-1");

    // A committed decision leaves its tags and stage as the prior of the
    // next, and its stage in the history; a dry run leaves nothing.
    let decide = |commit: bool| {
        let (status, d) = server.call(
            "POST",
            "/v1/tenants/brand/decide",
            &key,
            Some(json!({"customer_id": "m-1", "now": now, "commit": commit})),
        );
        assert_eq!(status, 200, "{d}");
        d
    };
    let committed = decide(true);
    decide(true);
    decide(false);
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/m-1", &key, None);
    let prior_tags: Vec<(String, String)> = customer["profile"]["prior"]["tags"]
        .as_array()
        .expect("prior tags")
        .iter()
        .map(|t| {
            (
                t["group"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let decided_tags: Vec<(String, String)> = committed["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["group"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(prior_tags, decided_tags);
    assert_eq!(customer["profile"]["prior"]["stage"], committed["stage"]["value"]);
    let stages = customer["stages"].as_array().expect("stage history");
    assert_eq!(stages.len(), 1, "the same stage twice is one change: {stages:?}");
    assert_eq!(stages[0]["to"], committed["stage"]["value"]);
    assert_eq!(stages[0]["decision_id"], committed["decision_id"]);
    // Every decision of the customer, by id or with a profile sent.
    assert_eq!(customer["decisions"].as_array().expect("decisions").len(), 5);
    assert_eq!(customer["touches"].as_array().expect("touches").len(), 2);

    // The logged decision replays exactly, from the profile it saw.
    let id = committed["decision_id"].as_str().expect("an id");
    let (status, replay) = server.call(
        "POST",
        &format!("/v1/tenants/brand/decisions/{id}/replay"),
        &key,
        Some(json!({})),
    );
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["identical"], true, "{replay}");

    // A customer nobody sent events for.
    let (status, refused) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"customer_id": "nobody"})),
    );
    assert_eq!(status, 404, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/tenants/brand/events")
    );
}

#[test]
fn an_event_sent_twice_is_taken_once_and_a_refused_request_stores_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    send(&server, "brand", &key, coffee_events("c-1"));
    let (status, again) = send(&server, "brand", &key, coffee_events("c-1"));
    assert_eq!(status, 200);
    assert_eq!(again, json!({"events": 5, "taken": 0, "duplicates": 5}));
    assert_eq!(
        server.metric("rulehost_events_total{tenant=\"brand\",outcome=\"duplicate\"}"),
        5.0
    );
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c-1", &key, None);
    assert_eq!(customer["profile"]["events"].as_array().unwrap().len(), 3);

    // One bad line among good ones: each bad one is named, and none of the
    // good ones is kept.
    let lines = [
        json!({"event_id": "n-1", "customer_id": "new", "kind": "view", "at": "2026-03-01T00:00:00Z"}).to_string(),
        String::new(),
        json!({"event_id": "n-2", "customer_id": "new", "kind": "timer", "at": "2026-03-01T00:00:00Z"}).to_string(),
        r#"{"event_id": "n-3", "customer_id": "new", "kind": "view", "at": "yesterday"}"#.to_owned(),
        json!({"event_id": "n-4", "customer_id": "new", "kind": "view", "at": "2026-03-01T00:00:00Z",
               "props": {"x": null}})
        .to_string(),
    ];
    let (status, refused) = send(&server, "brand", &key, lines.join("\n"));
    assert_eq!(status, 400, "{refused}");
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("line 4 at at: \"yesterday\" is not an RFC 3339 timestamp"),
        "{message}"
    );
    let without_the_unreadable = [&lines[0], &lines[2], &lines[4]].map(String::as_str).join("\n");
    let (status, refused) = send(&server, "brand", &key, without_the_unreadable);
    assert_eq!(status, 400, "{refused}");
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(
        message.starts_with("2 of the events are refused, and nothing was stored"),
        "{message}"
    );
    assert!(message.contains("line 2: kind \"timer\" is reserved"), "{message}");
    assert!(message.contains("line 3: props.x is null"), "{message}");
    assert_eq!(server.call("GET", "/v1/tenants/brand/customers/new", &key, None).0, 404);

    // A JSON array is named by index; one event alone, as itself.
    let (status, refused) = server.call(
        "POST",
        "/v1/tenants/brand/events",
        &key,
        Some(json!([{"event_id": "a", "customer_id": "new", "kind": "", "at": "2026-03-01T00:00:00Z"}])),
    );
    assert_eq!(status, 400);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("events[0]: kind is empty"),
        "{refused}"
    );
    let (status, taken) = server.call(
        "POST",
        "/v1/tenants/brand/events",
        &key,
        Some(json!({"event_id": "one", "customer_id": "new", "kind": "view", "at": "2026-03-01T00:00:00Z"})),
    );
    assert_eq!((status, taken["taken"].clone()), (200, json!(1)));
}

#[test]
fn a_kept_profile_holds_the_newest_events_within_the_tenants_bounds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    let (status, body) = server.call(
        "PATCH",
        "/v1/tenants/brand",
        crate::serve::OPERATOR,
        Some(
            json!({"limits": {"max_plugin_bytes": 33554432, "memory_bytes": 67108864, "deadline_ms": 1000,
                               "fuel": 50000000, "max_concurrent_decisions": 8,
                               "profile_events": 3, "profile_days": 30}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let now = rulehost::model::Timestamp::now().0;
    let day = 86_400_000;
    // Six purchases: 40 days ago (past the 30 days) and five in the last week.
    let events: Vec<String> = [40, 6, 5, 4, 3, 2]
        .iter()
        .enumerate()
        .map(|(i, days_ago)| {
            let at = rulehost::model::Timestamp(now - days_ago * day).to_rfc3339().unwrap();
            json!({"event_id": format!("p{i}"), "customer_id": "c", "kind": "purchase", "at": at,
                   "amount_minor": 100 * (i + 1)})
            .to_string()
        })
        .collect();
    assert_eq!(send(&server, "brand", &key, events.join("\n")).0, 200);
    let (_, customer) = server.call("GET", "/v1/tenants/brand/customers/c", &key, None);
    let amounts: Vec<i64> = customer["profile"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [400, 500, 600], "the newest three within 30 days");
    // A limit past the server's ceiling is refused, naming it.
    let (status, refused) = server.call(
        "PATCH",
        "/v1/tenants/brand",
        crate::serve::OPERATOR,
        Some(
            json!({"limits": {"max_plugin_bytes": 33554432, "memory_bytes": 67108864, "deadline_ms": 1000,
                               "fuel": 50000000, "max_concurrent_decisions": 8, "profile_events": 20000}}),
        ),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.profile_events"),
        "{refused}"
    );
}

#[test]
fn erasing_a_customer_leaves_nothing_that_names_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let key = server.coffee_tenant("brand");
    send(&server, "brand", &key, coffee_events("gone"));
    send(&server, "brand", &key, coffee_events("stays"));
    let (_, decision) = server.call(
        "POST",
        "/v1/tenants/brand/decide",
        &key,
        Some(json!({"customer_id": "wx-gone", "commit": true, "now": "2026-03-10T10:00:00+08:00"})),
    );
    let id = decision["decision_id"].as_str().expect("an id").to_owned();
    let (status, erased) = server.call("DELETE", "/v1/tenants/brand/customers/wx-gone", &key, None);
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["ids"], 2);
    assert_eq!(erased["events"], 5);
    assert_eq!(erased["decisions"], 1);
    let pseudonym = erased["pseudonym"].as_str().expect("a pseudonym");
    for id in ["gone", "wx-gone"] {
        assert_eq!(
            server
                .call("GET", &format!("/v1/tenants/brand/customers/{id}"), &key, None)
                .0,
            404
        );
    }
    let (_, logged) = server.call("GET", &format!("/v1/tenants/brand/decisions/{id}"), &key, None);
    assert_eq!(logged, json!({"id": id, "erased": true}));
    let (status, replay) = server.call(
        "POST",
        &format!("/v1/tenants/brand/decisions/{id}/replay"),
        &key,
        Some(json!({})),
    );
    assert_eq!(status, 400, "{replay}");
    let (_, listed) = server.call("GET", "/v1/tenants/brand/decisions?customer_id=gone", &key, None);
    assert_eq!(listed["items"], json!([]));
    let (_, listed) = server.call(
        "GET",
        &format!("/v1/tenants/brand/decisions?customer_id={pseudonym}"),
        &key,
        None,
    );
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "still counted, under the pseudonym"
    );
    let (_, audit) = server.call("GET", "/v1/tenants/brand/audit?limit=500", &key, None);
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "customer.erase")
        .expect("the erasure is audited")
        .clone();
    assert!(!entry.to_string().contains("gone"), "{entry}");
    assert_eq!(
        server.call("GET", "/v1/tenants/brand/customers/stays", &key, None).0,
        200
    );
    assert_eq!(
        server.call("DELETE", "/v1/tenants/brand/customers/gone", &key, None).0,
        404
    );
}
