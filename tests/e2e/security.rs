//! Who may do what, and what the server does when stored bytes are not
//! what it stored: the real binary, over HTTP, with its log read back.

use std::time::Duration;

use rulehost_test_artifacts::COFFEE_CHAIN;
use serde_json::{Value, json};

use crate::serve::{ChildServer, OPERATOR, TestServer, agent};

/// Sends `method path` with `authorization` (if any) and a JSON body of
/// `{}` where the method carries one; returns the status and the body.
fn send(server: &TestServer, method: &str, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = ureq::http::Request::builder().method(method).uri(server.url(path));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let body = if matches!(method, "POST" | "PUT" | "PATCH") {
        "{}"
    } else {
        ""
    };
    let request = request
        .header("Content-Type", "application/json")
        .body(body)
        .expect("request");
    let mut response = agent().run(request).expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Every documented operation, as (method, path template, whether it
/// requires the operator role).
fn operations(server: &TestServer) -> Vec<(String, String, bool)> {
    let (status, doc) = send(server, "GET", "/openapi.json", None);
    assert_eq!(status, 200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let operator_only = operation["security"][0]["bearer"]
                .as_array()
                .is_some_and(|roles| roles.iter().any(|r| r == "operator"));
            out.push((method.to_uppercase(), path.clone(), operator_only));
        }
    }
    out
}

#[test]
fn every_endpoint_answers_each_kind_of_credential_as_documented_and_no_key_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let child = ChildServer::start_with(
        &data,
        Some(&log),
        &[("RUST_LOG", "debug,rulehost=trace,tower_http=trace")],
    );
    let server = TestServer::remote(child.addr);
    let a_key = server.coffee_tenant("alpha");
    let b_key = server.coffee_tenant("beta");
    let (status, revoked) = server.call(
        "POST",
        "/v1/tenants/beta/keys",
        OPERATOR,
        Some(json!({"label": "to revoke"})),
    );
    assert_eq!(status, 201);
    let revoked_key = revoked["key"].as_str().expect("key").to_owned();
    let revoked_id = revoked_key.split('_').nth(1).expect("key id");
    let (status, _) = server.call("DELETE", &format!("/v1/tenants/beta/keys/{revoked_id}"), OPERATOR, None);
    assert_eq!(status, 204);
    let b_secret = b_key.split('_').nth(2).expect("secret part").to_owned();

    let public = ["/healthz", "/readyz", "/metrics", "/openapi.json"];
    let mut checked = 0;
    for (method, template, operator_only) in operations(&server) {
        if public.contains(&template.as_str()) {
            continue;
        }
        // Every tenant resource is beta's; the other placeholders are
        // names that need not exist: authentication comes first.
        let path = template
            .replace("{tenant}", "beta")
            .replace("{key}", "k-none")
            .replace("{name}", "coffee-chain")
            .replace("{version}", "1.0.0")
            .replace("{slot}", "main")
            .replace("{id}", "d-none");
        let what = format!("{method} {template}");
        let unauthorized = |auth: Option<&str>, reason: &str| {
            let (status, body) = send(&server, &method, &path, auth);
            assert_eq!(status, 401, "{what} with {auth:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
            assert_eq!(body["error"]["reason"], reason, "{what} with {auth:?}: {body}");
        };
        unauthorized(None, "missing_credentials");
        unauthorized(Some(&format!("Basic {b_key}")), "missing_credentials");
        unauthorized(Some("Bearer "), "missing_credentials");
        for malformed in ["Bearer rh_", "Bearer rh_nokey", "Bearer not-a-key", "Bearer rh_x_y"] {
            unauthorized(Some(malformed), "invalid_credentials");
        }
        // The right key id with another secret is no key either.
        let forged = format!("Bearer {}_{}", b_key.rsplit_once('_').expect("key").0, "f".repeat(43));
        unauthorized(Some(&forged), "invalid_credentials");
        unauthorized(Some(&format!("Bearer {revoked_key}")), "invalid_credentials");

        let (status, body) = send(&server, &method, &path, Some(&format!("Bearer {a_key}")));
        if operator_only {
            assert_eq!(status, 403, "{what} with another tenant's key: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
            let (status, body) = send(&server, &method, &path, Some(&format!("Bearer {b_key}")));
            assert_eq!(status, 403, "{what} with the tenant's own key: {body}");
        } else if !template.contains("{tenant}") {
            // A route about the caller (`/v1/me`): it describes the key's
            // own tenant, never another.
            assert_eq!(status, 200, "{what} with a tenant's key: {body}");
            assert_eq!(body["tenant"], "alpha", "{what}: {body}");
            assert!(!body.to_string().contains("beta"), "{what}: {body}");
        } else {
            assert_eq!(status, 404, "{what} with another tenant's key: {body}");
            assert_eq!(body["error"]["code"], "not_found");
            assert!(
                !body.to_string().contains("coffee"),
                "{what}: a 404 must not describe beta's resources: {body}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} protected operations were found");

    // Keys are shown once, at creation: never listed, audited or logged.
    let (_, keys) = server.call("GET", "/v1/tenants/beta/keys", OPERATOR, None);
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(2), "{keys}");
    let (_, audit) = server.call("GET", "/v1/tenants/beta/audit", &b_key, None);
    for listing in [&keys, &audit] {
        let text = listing.to_string();
        assert!(!text.contains(&b_secret) && !text.contains(&revoked_key), "{text}");
    }
    // Tenant traffic reaches the log at these levels (request spans).
    assert_eq!(server.decide("beta", &b_key).0, 200);
    drop(server);
    child.kill();
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.len() > 1000, "the log is nearly empty:\n{logged}");
    for secret in [b_secret.as_str(), a_key.as_str(), revoked_key.as_str(), OPERATOR] {
        assert!(!logged.contains(secret), "a credential reached the log");
    }
}

#[test]
fn a_plugin_blob_altered_in_storage_is_refused_and_only_its_tenant_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let (a_key, b_key, sha256) = {
        let child = ChildServer::start(&data);
        let server = TestServer::remote(child.addr);
        let a_key = server.coffee_tenant("alpha");
        let b_key = server.tenant("beta", None);
        // beta runs other bytes, so it has a blob of its own.
        let apparel = std::fs::read(rulehost_test_artifacts::APPAREL_RFM).expect("artifact");
        assert_eq!(server.upload("beta", &b_key, &apparel, "1.0.0").0, 201);
        for (method, path, body) in [
            ("PUT", "/v1/tenants/beta/pipeline", json!({"slots": ["main"]})),
            (
                "POST",
                "/v1/tenants/beta/pipeline/main/activate",
                json!({"name": "apparel-rfm", "version": "1.0.0"}),
            ),
        ] {
            let (status, answer) = server.call(method, path, &b_key, Some(body));
            assert_eq!(status, 200, "{path}: {answer}");
        }
        server.add_apparel_config("beta", &b_key);
        assert_eq!(server.decide("beta", &b_key).0, 200);
        let (_, version) = server.call("GET", "/v1/tenants/alpha/plugins/coffee-chain/1.0.0", &a_key, None);
        let sha256 = version["sha256"].as_str().expect("sha256").to_owned();
        child.kill();
        (a_key, b_key, sha256)
    };

    // One byte of alpha's stored component changes.
    assert!(crate::serve::blob_intact(&data, &sha256));
    crate::serve::alter_blob(&data, &sha256);
    assert!(!crate::serve::blob_intact(&data, &sha256));

    let child = ChildServer::start_with(&data, Some(&log), &[]);
    let server = TestServer::remote(child.addr);
    // The server is ready: one tenant's bad blob does not hold up the rest.
    let (status, body) = server.decide("beta", &b_key);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.decide("alpha", &a_key);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "tenant_unavailable");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&sha256) && message.contains("altered"),
        "the refusal names the blob: {message}"
    );
    // Activating the altered version again is refused before anything is committed.
    let (status, body) = server.call(
        "POST",
        "/v1/tenants/alpha/pipeline/main/activate",
        &a_key,
        Some(json!({"name": "coffee-chain", "version": "1.0.0"})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("storage_corrupt")),
        "{body}"
    );
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(
        logged.contains("does not match its sha256") && logged.contains(&sha256),
        "the log says which blob was refused:\n{logged}"
    );

    // Uploading the same version's bytes again repairs it, at once.
    let original = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let (status, body) = server.upload("alpha", &a_key, &original, "1.0.0");
    assert!(status == 200 || status == 201, "{status} {body}");
    let started = std::time::Instant::now();
    let mut decided = server.decide("alpha", &a_key);
    while decided.0 != 200 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        decided = server.decide("alpha", &a_key);
    }
    assert_eq!(decided.0, 200, "{}", decided.1);
    assert!(
        crate::serve::blob_intact(&data, &sha256),
        "the stored bytes are the original again"
    );
}

/// An upload refused before its body is read (a wrong key) still gets its
/// answer: the server reads the rest of the body first, so a client that
/// writes all of it before it reads (ureq here) never meets a broken pipe,
/// and the same connection serves the next request.
#[test]
fn an_upload_with_a_wrong_key_is_answered_not_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    server.tenant("acme", None);
    // Larger than a socket's buffers: the client is still writing when
    // the server knows its answer.
    let bytes = vec![7u8; 2 << 20];
    let agent = agent();
    for _ in 0..3 {
        let answer = agent
            .post(&server.url("/v1/tenants/acme/plugins"))
            .query("version", "1.0.0")
            .header("Authorization", "Bearer not-a-key")
            .send(&bytes[..]);
        let mut response = answer.expect("the refusal is answered, not a broken pipe");
        assert_eq!(response.status().as_u16(), 401);
        let text = response.body_mut().read_to_string().expect("a body");
        assert!(text.contains("unauthorized") || text.contains("credentials"), "{text}");
    }
}
