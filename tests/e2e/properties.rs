//! Property tests over every endpoint: whatever the body, the headers and
//! the query, the server answers with a documented status and a JSON error
//! naming what is wrong, and it never panics or answers a bare 500.

use std::sync::OnceLock;

use proptest::prelude::*;
use rulehost_test_artifacts::COFFEE_CHAIN;
use serde_json::{Value, json};

use crate::serve::{OPERATOR, TestServer, agent};
use crate::{COFFEE_CONFIG, COFFEE_OFFERS, COFFEE_PROFILE, NOW};

/// One server for every case, with a tenant `brand` running coffee and a
/// tenant `spare`.
struct Target {
    server: TestServer,
    key: String,
    /// Every documented operation: method, path with placeholders filled,
    /// and a valid body to mutate (`None`: the operation takes none).
    operations: Vec<(String, String, Option<Body>)>,
}

#[derive(Clone, Debug)]
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
        let server = TestServer::start(dir.path());
        let key = server.coffee_tenant("brand");
        // Tenant changes (which may disable it) go to a spare tenant, so
        // the rest of the run keeps reaching brand's resources.
        server.tenant("spare", None);
        let doc = server.call("GET", "/openapi.json", OPERATOR, None).1;
        let profile: Value = serde_json::from_str(COFFEE_PROFILE).expect("json");
        let decide = json!({"profile": profile, "now": NOW});
        let policy = server.call("GET", "/v1/tenants/brand/policy", &key, None).1;
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("item").keys() {
                let method = method.to_uppercase();
                let tenant = if method == "PATCH" { "spare" } else { "brand" };
                let path = template
                    .replace("{tenant}", tenant)
                    .replace("{name}", "coffee-chain")
                    .replace("{version}", "1.0.0")
                    .replace("{slot}", "main")
                    .replace("{key}", "k-none")
                    .replace("{id}", "d-none");
                let body = match (method.as_str(), template.as_str()) {
                    ("POST", "/v1/tenants") => Some(Body::Json(json!({"id": "fuzzed", "tz_offset_minutes": 480}))),
                    ("PATCH", _) => Some(Body::Json(json!({"name": "Brand", "disabled": false}))),
                    ("POST", "/v1/tenants/{tenant}/keys") => Some(Body::Json(json!({"label": "fuzz"}))),
                    ("POST", "/v1/tenants/{tenant}/plugins") => {
                        Some(Body::Bytes(std::fs::read(COFFEE_CHAIN).expect("artifact")))
                    }
                    ("PUT", "/v1/tenants/{tenant}/pipeline") => Some(Body::Json(json!({"slots": ["main"]}))),
                    ("POST", "/v1/tenants/{tenant}/pipeline/{slot}/activate") => {
                        Some(Body::Json(json!({"name": "coffee-chain", "version": "1.0.0"})))
                    }
                    ("PUT", "/v1/tenants/{tenant}/config") => {
                        Some(Body::Json(serde_json::from_str(COFFEE_CONFIG).expect("json")))
                    }
                    ("PUT", "/v1/tenants/{tenant}/offers") => {
                        Some(Body::Json(serde_json::from_str(COFFEE_OFFERS).expect("json")))
                    }
                    ("PUT", "/v1/tenants/{tenant}/policy") => Some(Body::Json(policy["policy"].clone())),
                    ("POST", "/v1/tenants/{tenant}/touches") => Some(Body::Json(json!({"touches": [
                        {"id": "t-1", "customer_id": "c-1", "offer_id": "pastry-pairing", "channel": "wecom_1v1"}
                    ]}))),
                    ("POST", "/v1/tenants/{tenant}/decide") => Some(Body::Json(decide.clone())),
                    ("POST", "/v1/tenants/{tenant}/decide/batch") => {
                        let line = decide.to_string();
                        Some(Body::Bytes(format!("{line}\n{line}\n").into_bytes()))
                    }
                    ("POST" | "PUT", _) => Some(Body::Json(json!({}))),
                    _ => None,
                };
                operations.push((method, path, body));
            }
        }
        Target {
            server,
            key,
            operations,
        }
    })
}

/// Any JSON value, nested a few levels.
pub(crate) fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a path chosen by `choice` with `new`.
pub(crate) fn mutate(value: &mut Value, choice: &[usize], new: Value) {
    let Some((&first, rest)) = choice.split_first() else {
        *value = new;
        return;
    };
    let child = match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(first % map.len()).cloned().expect("key");
            map.get_mut(&key)
        }
        Value::Array(items) if !items.is_empty() => {
            let len = items.len();
            items.get_mut(first % len)
        }
        _ => None,
    };
    match child {
        Some(child) if !rest.is_empty() => mutate(child, rest, new),
        Some(child) => *child = new,
        None => *value = new,
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    /// A valid body with one value replaced.
    Replace(Vec<usize>, Value),
    /// Any JSON instead of the body.
    Whole(Value),
    /// Any bytes.
    Bytes(Vec<u8>),
    /// The valid body cut short.
    Truncate(usize),
    /// The valid body unchanged.
    Keep,
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (prop::collection::vec(any::<usize>(), 0..4), any_json()).prop_map(|(p, v)| Mutation::Replace(p, v)),
        1 => any_json().prop_map(Mutation::Whole),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Bytes),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => Just(Mutation::Keep),
    ]
}

fn any_authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(Some("tenant".to_owned())),
        1 => Just(Some("operator".to_owned())),
        1 => Just(None),
        1 => "[ -~]{0,60}".prop_map(Some),
    ]
}

/// The statuses the API documents; a 500 only with a documented code.
const DOCUMENTED: [u16; 13] = [200, 201, 204, 400, 401, 403, 404, 409, 413, 415, 422, 429, 504];

fn check(operation: usize, mutation: Mutation, auth: Option<String>, content_type: String, query: String) {
    let target = target();
    let (method, path, valid) = &target.operations[operation % target.operations.len()];
    let body: Vec<u8> = match (valid, mutation) {
        (_, Mutation::Bytes(bytes)) => bytes,
        (_, Mutation::Whole(value)) => value.to_string().into_bytes(),
        (Some(Body::Json(valid)), Mutation::Replace(at, new)) => {
            let mut body = valid.clone();
            mutate(&mut body, &at, new);
            body.to_string().into_bytes()
        }
        (Some(Body::Json(valid)), Mutation::Truncate(n)) => {
            let text = valid.to_string().into_bytes();
            text[..n % text.len().max(1)].to_vec()
        }
        (Some(Body::Bytes(valid)), Mutation::Truncate(n)) => valid[..n % valid.len().max(1)].to_vec(),
        (Some(Body::Json(valid)), _) => valid.to_string().into_bytes(),
        (Some(Body::Bytes(valid)), _) => valid.clone(),
        (None, _) => Vec::new(),
    };
    let body = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        body
    } else {
        Vec::new()
    };
    let mut request = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(target.server.url(&format!("{path}?{query}")))
        .header("Content-Type", content_type);
    match auth.as_deref() {
        Some("tenant") => request = request.header("Authorization", format!("Bearer {}", target.key)),
        Some("operator") => request = request.header("Authorization", format!("Bearer {OPERATOR}")),
        Some(other) => request = request.header("Authorization", other),
        None => {}
    }
    let request = request.body(body).expect("request");
    let mut response = agent().run(request).expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    assert!(
        DOCUMENTED.contains(&status) || status == 503,
        "{method} {path}: undocumented status {status}: {text}"
    );
    if status >= 400 {
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: {status} {text}"));
        let code = error["error"]["code"].as_str().unwrap_or_default();
        assert!(!code.is_empty(), "{method} {path}: an error without a code: {text}");
        assert!(
            !error["error"]["message"].as_str().unwrap_or_default().is_empty(),
            "{method} {path}: an error without a message: {text}"
        );
        if status == 503 {
            assert!(
                ["not_ready", "host_busy", "tenant_unavailable"].contains(&code),
                "{method} {path}: {text}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_endpoint_answers_any_request_with_a_documented_status_and_error(
        operation in any::<usize>(),
        mutation in any_mutation(),
        auth in any_authorization(),
        content_type in prop_oneof![Just("application/json".to_owned()), "[ -~]{0,30}"],
        query in prop_oneof![Just(String::new()), "limit=[0-9]{1,4}", "[a-z0-9=&_.~-]{0,40}"],
    ) {
        check(operation, mutation, auth, content_type, query);
    }
}

#[test]
fn every_endpoint_answers_its_valid_example_with_a_documented_status() {
    let target = target();
    for operation in 0..target.operations.len() {
        check(
            operation,
            Mutation::Keep,
            Some("tenant".into()),
            "application/json".into(),
            String::new(),
        );
        check(
            operation,
            Mutation::Keep,
            Some("operator".into()),
            "application/json".into(),
            String::new(),
        );
    }
}
