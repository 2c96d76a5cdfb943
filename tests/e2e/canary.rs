//! Canary rollout over real HTTP: a share of customers on the candidate,
//! each customer on one version, widening keeps them, tags and per-version
//! counts, rollback and promotion in one call each.

use std::collections::HashMap;

use serde_json::{Value, json};

use rulehost_test_artifacts::COFFEE_CHAIN_DORMANT_10;

use crate::replay::{batch, coffee_requests, sample_tenant};
use crate::serve::{TestServer, agent};

/// Decides every line; the version of the coffee plugin that answered
/// each customer, and the logged tags of one decision per version.
fn versions(server: &TestServer, tenant: &str, key: &str, lines: &[Value]) -> (HashMap<String, String>, Vec<Value>) {
    let ids = batch(server, tenant, key, lines);
    let mut by_customer = HashMap::new();
    let mut tagged = Vec::new();
    let mut seen = Vec::new();
    for (id, line) in ids.iter().zip(lines) {
        let (status, logged) = server.call("GET", &format!("/v1/tenants/{tenant}/decisions/{id}"), key, None);
        assert_eq!(status, 200, "{logged}");
        let version = logged["decision"]["plugins"][0]["version"]
            .as_str()
            .expect("version")
            .to_owned();
        if !seen.contains(&version) {
            seen.push(version.clone());
            tagged.push(json!({"version": version, "tags": logged.get("tags").cloned().unwrap_or(json!([]))}));
        }
        by_customer.insert(line["profile"]["customer_id"].as_str().expect("id").to_owned(), version);
    }
    (by_customer, tagged)
}

fn on_canary(versions: &HashMap<String, String>) -> Vec<&String> {
    let mut on: Vec<&String> = versions.iter().filter(|(_, v)| *v == "2.0.0").map(|(c, _)| c).collect();
    on.sort();
    on
}

#[test]
fn a_canary_answers_a_stable_share_widens_keeping_its_customers_and_rolls_back_or_promotes_in_one_call() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let tenant = "canaried";
    let key = sample_tenant(&server, tenant);
    let candidate = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("the candidate");
    let (status, uploaded) = server.upload(tenant, &key, &candidate, "2.0.0");
    assert_eq!(status, 201, "{uploaded}");
    let path = format!("/v1/tenants/{tenant}/pipeline/main/canary");
    for (body, code) in [
        (json!({"name": "coffee-chain", "version": "2.0.0", "percent": 0}), 400),
        (json!({"name": "coffee-chain", "version": "2.0.0"}), 400),
        (json!({"name": "coffee-chain", "version": "1.0.0", "percent": 10}), 409),
        (json!({"name": "coffee-chain", "version": "9.0.0", "percent": 10}), 404),
    ] {
        let (status, answer) = server.call("PUT", &path, &key, Some(body.clone()));
        assert_eq!(status, code, "{body}: {answer}");
    }
    assert_eq!(server.call("GET", &path, &key, None).0, 404);

    let lines = coffee_requests(400, 8);
    let (status, canary) = server.call(
        "PUT",
        &path,
        &key,
        Some(json!({"name": "coffee-chain", "version": "2.0.0", "percent": 20})),
    );
    assert_eq!(status, 200, "{canary}");
    let (first, tagged) = versions(&server, tenant, &key, &lines);
    let twenty = on_canary(&first);
    assert!(
        (40..=120).contains(&twenty.len()),
        "about a fifth on the canary: {}",
        twenty.len()
    );
    for t in &tagged {
        let expected = if t["version"] == "2.0.0" {
            json!(["canary:main:coffee-chain@2.0.0"])
        } else {
            json!([])
        };
        assert_eq!(t["tags"], expected, "{t}");
    }
    // Stable: the same customers again get the same versions.
    let (again, _) = versions(&server, tenant, &key, &lines);
    assert_eq!(again, first);

    // Widen: one call; everyone on the canary stays there.
    let (status, widened) = server.call(
        "PUT",
        &path,
        &key,
        Some(json!({"name": "coffee-chain", "version": "2.0.0", "percent": 60})),
    );
    assert_eq!(status, 200, "{widened}");
    assert_eq!(widened["since"], canary["since"], "widening keeps the canary");
    let (wide, _) = versions(&server, tenant, &key, &lines);
    let sixty = on_canary(&wide);
    assert!(
        twenty.iter().all(|c| sixty.contains(c)),
        "widening moved a customer back"
    );
    assert!((180..=300).contains(&sixty.len()), "about 60 %: {}", sixty.len());

    // Per-version counts: three rounds of 400, each on its version.
    let (status, counts) = server.call("GET", &path, &key, None);
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["candidate"]["version"], "2.0.0");
    assert_eq!(counts["active"]["version"], "1.0.0");
    let on = (2 * twenty.len() + sixty.len()) as u64;
    assert_eq!(counts["candidate"]["decisions"].as_u64(), Some(on), "{counts}");
    assert_eq!(counts["active"]["decisions"].as_u64(), Some(1200 - on), "{counts}");
    assert_eq!(counts["candidate"]["errors"], 0);
    let metrics = agent()
        .get(&server.url("/metrics"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    let line = format!(
        "rulehost_canary_decisions_total{{tenant=\"{tenant}\",slot=\"main\",version=\"2.0.0\",outcome=\"ok\"}} {on}"
    );
    assert!(metrics.contains(&line), "{line} in\n{metrics}");

    // Roll back: one call, everyone on the active version.
    let (status, _) = server.call("DELETE", &path, &key, None);
    assert_eq!(status, 200);
    let (back, _) = versions(&server, tenant, &key, &lines);
    assert!(on_canary(&back).is_empty());
    assert_eq!(server.call("GET", &path, &key, None).0, 404);

    // Promote: one call, the candidate answers everyone.
    let (status, _) = server.call(
        "PUT",
        &path,
        &key,
        Some(json!({"name": "coffee-chain", "version": "2.0.0", "percent": 5})),
    );
    assert_eq!(status, 200);
    let (status, pipeline) = server.call("POST", &format!("{path}/promote"), &key, None);
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["slots"][0]["active"]["version"], "2.0.0");
    assert_eq!(pipeline["slots"][0]["previous"]["version"], "1.0.0");
    let (promoted, _) = versions(&server, tenant, &key, &lines[..50]);
    assert_eq!(on_canary(&promoted).len(), 50);
}
