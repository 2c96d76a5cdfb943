//! Shadow runs over real HTTP: the book's candidate (docs/src/decisions/before-live.md) beside the active
//! coffee plugin on live decisions, its report, and promotion.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use rulehost_test_artifacts::COFFEE_CHAIN_DORMANT_10;

use crate::replay::{batch, coffee_requests, sample, sample_tenant};
use crate::serve::TestServer;

/// The shadow's status once every sampled decision is compared or dropped.
fn settled(server: &TestServer, tenant: &str, key: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server.call("GET", &format!("/v1/tenants/{tenant}/pipeline/main/shadow"), key, None);
        assert_eq!(status, 200, "{body}");
        if body["pending"] == 0 {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the shadow never caught up: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_candidate_in_shadow_reports_its_changes_without_touching_live_answers_and_is_promoted_in_one_call() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let tenant = "shadowed";
    let key = sample_tenant(&server, tenant);
    let mut policy = sample("policy.json");
    policy["offers"] = json!({"come-back-5": {"budget": 100_000}});
    let (status, answer) = server.call("PUT", &format!("/v1/tenants/{tenant}/policy"), &key, Some(policy));
    assert_eq!(status, 200, "{answer}");
    let candidate = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("the candidate");
    let (status, uploaded) = server.upload(tenant, &key, &candidate, "2.0.0");
    assert_eq!(status, 201, "{uploaded}");
    let path = format!("/v1/tenants/{tenant}/pipeline/main/shadow");

    // Bad attachments are refused and change nothing.
    for (body, code) in [
        (
            json!({"name": "coffee-chain", "version": "2.0.0", "sample_percent": 0}),
            400,
        ),
        (
            json!({"name": "coffee-chain", "version": "2.0.0", "sample_percent": 101}),
            400,
        ),
        (json!({"name": "coffee-chain", "version": "1.0.0"}), 409),
        (json!({"name": "coffee-chain", "version": "3.0.0"}), 404),
        (json!({"name": "coffee-chain", "version": "2.0.0", "share": 5}), 400),
    ] {
        let (status, answer) = server.call("PUT", &path, &key, Some(body.clone()));
        assert_eq!(status, code, "{body}: {answer}");
        assert_eq!(
            server.call("GET", &path, &key, None).0,
            404,
            "nothing attached after {body}"
        );
    }

    let (status, shadow) = server.call(
        "PUT",
        &path,
        &key,
        Some(json!({"name": "coffee-chain", "version": "2.0.0", "sample_percent": 50})),
    );
    assert_eq!(status, 200, "{shadow}");
    assert_eq!(shadow["percent"], 50.0);
    // A version running in shadow cannot be deleted.
    let (status, _) = server.call(
        "DELETE",
        &format!("/v1/tenants/{tenant}/plugins/coffee-chain/2.0.0"),
        &key,
        None,
    );
    assert_eq!(status, 409);

    let lines = coffee_requests(1000, 3);
    let ids = batch(&server, tenant, &key, &lines);
    assert_eq!(ids.len(), 1000);
    // Live answers come from the active version only.
    let (_, logged) = server.call("GET", &format!("/v1/tenants/{tenant}/decisions/{}", ids[0]), &key, None);
    assert_eq!(logged["decision"]["plugins"][0]["version"], "1.0.0", "{logged}");

    let status = settled(&server, tenant, &key);
    let (sampled, compared, dropped) = (
        status["sampled"].as_u64().expect("sampled"),
        status["compared"].as_u64().expect("compared"),
        status["dropped"].as_u64().expect("dropped"),
    );
    assert!(
        (350..=650).contains(&sampled),
        "about half the customers are sampled: {sampled}"
    );
    assert_eq!(compared + dropped, sampled);
    let report = &status["report"];
    assert_eq!(report["customers"], compared);
    let moved = report["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .find(|t| t["from"] == "growth" && t["to"] == "dormancy")
        .map_or(0, |t| t["customers"].as_u64().expect("a count"));
    assert_eq!(
        dropped,
        0,
        "a queue of {} holds a batch of 1000",
        rulehost::shadow::QUEUE
    );
    assert!(moved > 0, "growth → dormancy in shadow: {moved}");
    // The win-back coupon's budget: what each side's selected touches
    // would spend of it; the earlier dormancy sends more.
    let budget = &report["budgets"][0];
    assert_eq!(budget["offer_id"], "come-back-5", "{report}");
    assert_eq!(budget["budget"], 100_000);
    let selected = report["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .find(|o| o["offer_id"] == "come-back-5")
        .expect("come-back-5 in the offer mix");
    assert_eq!(budget["spent"], selected["selected"], "{report}");
    assert!(
        budget["spent"]["candidate"].as_u64() > budget["spent"]["baseline"].as_u64(),
        "{budget}"
    );
    assert_eq!(report["candidate"]["plugins"][0]["version"], "2.0.0");
    assert_eq!(report["baseline"]["plugins"][0]["version"], "1.0.0");

    // The same customers sampled again: a stable hash, not a coin per call.
    let again = batch(&server, tenant, &key, &lines);
    assert_eq!(again.len(), 1000);
    let status = settled(&server, tenant, &key);
    assert_eq!(status["sampled"].as_u64(), Some(sampled * 2));

    // Promote: one call, the candidate runs live, the old one is the
    // rollback, the shadow is gone.
    let (status, pipeline) = server.call("POST", &format!("{path}/promote"), &key, None);
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["slots"][0]["active"]["version"], "2.0.0");
    assert_eq!(pipeline["slots"][0]["previous"]["version"], "1.0.0");
    assert_eq!(server.call("GET", &path, &key, None).0, 404);
    let ids = batch(&server, tenant, &key, &lines[..1]);
    let (_, logged) = server.call("GET", &format!("/v1/tenants/{tenant}/decisions/{}", ids[0]), &key, None);
    assert_eq!(logged["decision"]["plugins"][0]["version"], "2.0.0");
    let (status, _) = server.call("POST", &format!("{path}/promote"), &key, None);
    assert_eq!(status, 404, "nothing left to promote");
}
