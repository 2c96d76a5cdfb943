//! Replay: every logged decision re-runs exactly against its own versions,
//! and against another version shows what would have changed.

use serde_json::{Value, json};

use rulehost::generate::{self, Brand};
use rulehost::model::Timestamp;
use rulehost_test_artifacts::{COFFEE_CHAIN_DORMANT_10, PLUGINS_DIR};

use crate::NOW;
use crate::serve::{TestServer, agent};

/// Decides every line of `lines` (decide requests) in one batch; the
/// decision ids, in order.
pub(crate) fn batch(server: &TestServer, tenant: &str, key: &str, lines: &[Value]) -> Vec<String> {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut response = agent()
        .post(&server.url(&format!("/v1/tenants/{tenant}/decide/batch")))
        .header("Authorization", &format!("Bearer {key}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body)
        .expect("batch request");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.body_mut().read_to_string().expect("the batch's answer");
    text.lines()
        .map(|line| {
            let decision: Value = serde_json::from_str(line).expect("a JSON line");
            decision["decision_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a decision, not {decision}"))
                .to_owned()
        })
        .collect()
}

/// Decide requests at `NOW` for `n` generated coffee customers.
pub(crate) fn coffee_requests(n: usize, seed: u64) -> Vec<Value> {
    let now = Timestamp::parse(NOW).expect("now");
    generate::profiles(Brand::Coffee, n, seed, now)
        .map(|p| json!({"profile": p, "now": NOW}))
        .collect()
}

/// A file of the coffee plugin's samples.
pub(crate) fn sample(name: &str) -> Value {
    let path = format!("{PLUGINS_DIR}/coffee-chain/sample/{name}");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("a sample file")).expect("sample JSON")
}

/// A coffee tenant running version 1.0.0 with the sample config and the
/// full sample catalog; its key.
pub(crate) fn sample_tenant(server: &TestServer, tenant: &str) -> String {
    let key = server.coffee_tenant(tenant);
    for (path, body) in [("config", sample("config.json")), ("offers", sample("offers.json"))] {
        let (status, answer) = server.call("PUT", &format!("/v1/tenants/{tenant}/{path}"), &key, Some(body));
        assert_eq!(status, 200, "{answer}");
    }
    key
}

fn replay(server: &TestServer, tenant: &str, key: &str, id: &str, against: Value) -> Value {
    let (status, body) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decisions/{id}/replay"),
        key,
        Some(against),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn thousands_of_logged_decisions_replay_exactly_and_another_version_shows_its_changes() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let tenant = "replay";
    let key = sample_tenant(&server, tenant);
    // Caps, a budget and a holdout, so the policy reads the ledger and
    // every one of its rules has a say.
    let mut policy = sample("policy.json");
    policy["offers"] = json!({"come-back-5": {"budget": 150, "per_customer": 1}});
    policy["holdout"] = json!({"percent": 5, "salt": "replay"});
    policy["global"] = json!({"per_day": 1});
    let (status, answer) = server.call("PUT", &format!("/v1/tenants/{tenant}/policy"), &key, Some(policy));
    assert_eq!(status, 200, "{answer}");

    // Each customer decided twice, committing, a day apart: the second
    // decision reads the first one's touches from the ledger.
    let now = Timestamp::parse(NOW).expect("now");
    let profiles: Vec<Value> = generate::profiles(Brand::Coffee, 1000, 5, now).collect();
    let mut ids = Vec::new();
    for (day, at) in [(0, NOW), (1, "2026-03-11T10:00:00+08:00")] {
        let lines: Vec<Value> = profiles
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"profile": p, "now": at, "commit": i % 4 != 3, "mode": if day == 0 { "live" } else { "batch" }}))
            .collect();
        ids.extend(batch(&server, tenant, &key, &lines));
    }
    assert_eq!(ids.len(), 2000);

    let started = std::time::Instant::now();
    let mut read_ledger = 0;
    for id in &ids {
        let replayed = replay(&server, tenant, &key, id, json!({}));
        assert_eq!(replayed["identical"], true, "{id}: {}", replayed["differences"]);
        assert_eq!(replayed["differences"], json!([]), "{id}");
        assert_eq!(replayed["changes"], json!([]), "{id}");
        assert_eq!(replayed["logged"], replayed["replayed"]);
        if replayed["replay"]["suppressed"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["rule"] != "consent"))
        {
            read_ledger += 1;
        }
    }
    assert!(
        read_ledger > 100,
        "caps and budgets had a say in {read_ledger} decisions"
    );
    eprintln!("{} exact replays in {:?}", ids.len(), started.elapsed());

    // Another version of the plugin: the book's candidate (docs/src/decisions/before-live.md), uploaded but
    // not active. Customers 11 to 13 days past their last purchase change
    // stage; everyone else replays the same.
    let candidate = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("the candidate");
    let (status, uploaded) = server.upload(tenant, &key, &candidate, "2.0.0");
    assert_eq!(status, 201, "{uploaded}");
    let against = json!({"plugin": "coffee-chain", "version": "2.0.0"});
    let (mut moved, mut same) = (0, 0);
    for id in &ids[..500] {
        let replayed = replay(&server, tenant, &key, id, against.clone());
        assert_eq!(replayed["replayed"][0]["version"], "2.0.0");
        // Another version's decision names that version and burns other
        // fuel, so it is never identical; what matters is what changed.
        assert_eq!(replayed["identical"], false);
        if replayed["changes"] == json!([]) {
            same += 1;
            continue;
        }
        let paths: Vec<&str> = replayed["differences"]
            .as_array()
            .expect("differences")
            .iter()
            .map(|d| d["path"].as_str().expect("a pointer"))
            .collect();
        assert!(
            paths.iter().all(|p| *p != "/usage/duration_us"),
            "wall time is not a difference"
        );
        if paths.contains(&"/stage/value") {
            let stage = replayed["changes"]
                .as_array()
                .expect("changes")
                .iter()
                .find(|c| c["what"] == "stage")
                .unwrap_or_else(|| panic!("a stage change among {}", replayed["changes"]));
            // A shorter threshold sends the recently quiet to dormancy, and
            // calls those back after an 11-to-14-day gap reactivated.
            assert!(
                stage["why"].as_str().expect("why").contains("dormant after 10"),
                "{stage}"
            );
            if stage["candidate"] == "dormancy" {
                moved += 1;
            } else {
                assert_eq!(stage["candidate"], "reactivated", "{stage}");
            }
        }
    }
    assert!(
        moved > 10 && same > 250,
        "moved to dormancy: {moved}, unchanged: {same}"
    );

    // What cannot be replayed says why.
    let (status, body) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decisions/{}/replay", ids[0]),
        &key,
        Some(json!({"plugin": "apparel-rfm", "version": "1.0.0"})),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("did not run"),
        "{body}"
    );
    let (status, body) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decisions/{}/replay", ids[0]),
        &key,
        Some(json!({"plugin": "coffee-chain"})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decisions/{}/replay", ids[0]),
        &key,
        Some(json!({"plugin": "coffee-chain", "version": "9.9.9"})),
    );
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.call(
        "POST",
        &format!("/v1/tenants/{tenant}/decisions/nope/replay"),
        &key,
        Some(json!({})),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_server_keeping_no_requests_logs_their_hash_only_and_refuses_to_replay_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with_settings(dir.path(), &[("RULEHOST_DECISION_LOG_REQUESTS", "false")]);
    let tenant = "private";
    let key = sample_tenant(&server, tenant);
    let lines = coffee_requests(3, 9);
    let ids = batch(&server, tenant, &key, &lines);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        let (status, logged) = server.call("GET", &format!("/v1/tenants/{tenant}/decisions/{id}"), &key, None);
        assert_eq!(status, 200, "{logged}");
        assert_eq!(logged["request_sha256"].as_str().map(str::len), Some(64), "{logged}");
        assert!(logged.get("request").is_none(), "no request kept: {logged}");
        assert!(
            logged["decision"]["stage"].is_object(),
            "the explanation is kept: {logged}"
        );
        let (status, answer) = server.call(
            "POST",
            &format!("/v1/tenants/{tenant}/decisions/{id}/replay"),
            &key,
            Some(json!({})),
        );
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().expect("a message");
        assert!(message.contains("decision_log_requests"), "{message}");
    }
}
