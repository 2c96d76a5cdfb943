//! Events in from NATS JetStream and touches out to it, against a real
//! NATS server (the test command starts a throwaway one:
//! `RULEHOST_TEST_NATS_URL`). Every test runs under subjects of its own
//! (`nats_prefix`), so tests in parallel never read each other's messages.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use rulehost_stream::{Nats, Settings};
use serde_json::{Value, json};

use crate::serve::TestServer;

/// The test NATS server's URL; a clear failure if the tests were not
/// started by the test command.
pub fn nats_url() -> String {
    std::env::var("RULEHOST_TEST_NATS_URL").unwrap_or_else(|_| {
        panic!(
            "RULEHOST_TEST_NATS_URL is not set: run the tests with `bash scripts/test`, which starts a throwaway \
             NATS server and sets it"
        )
    })
}

/// A prefix of subjects no other test uses.
pub fn fresh_prefix() -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("randomness");
    format!("t{}", hex::encode(bytes))
}

/// A runtime for the test's own NATS client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

pub async fn connect(prefix: &str) -> Nats {
    let settings = Settings {
        url: nats_url(),
        prefix: prefix.to_owned(),
        ..Settings::default()
    };
    Nats::connect(&settings, "e2e test").await.expect("NATS answers")
}

/// Publishes `payload` on `subject` with `id` as its `Nats-Msg-Id`.
pub async fn publish(nats: &Nats, subject: &str, id: &str, payload: &str) {
    let message = PublishMessage::build()
        .payload(payload.to_owned().into())
        .message_id(id);
    nats.jetstream()
        .send_publish(subject.to_owned(), message)
        .await
        .expect("published")
        .await
        .expect("stored");
}

/// The messages of stream `what` (`touches`, `dead`) as they arrive, for
/// `wait` or until `want` of them: (subject, headers, payload).
pub async fn read(nats: &Nats, what: &str, want: usize, wait: Duration) -> Vec<(String, Vec<(String, String)>, Value)> {
    let stream = nats
        .jetstream()
        .get_stream(nats.names().stream(what))
        .await
        .expect("the stream");
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("a consumer");
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        let mut batch = consumer
            .batch()
            .max_messages(100)
            .expires(Duration::from_millis(200))
            .messages()
            .await
            .expect("a batch");
        while let Some(Ok(message)) = batch.next().await {
            let headers = message
                .headers
                .iter()
                .flat_map(|h| h.iter())
                .map(|(k, v)| (k.to_string(), v.first().map(|v| v.to_string()).unwrap_or_default()))
                .collect();
            let payload = serde_json::from_slice(&message.payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&message.payload).into_owned()));
            seen.push((message.subject.to_string(), headers, payload));
            message.ack().await.expect("acked");
        }
    }
    seen
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn now() -> String {
    rulehost::model::Timestamp::now().to_rfc3339().expect("a time")
}

/// A server taking events from NATS under `prefix`, with a coffee tenant
/// `brand` whose purchases trigger a decision.
pub fn server_on_nats(dir: &std::path::Path, prefix: &str) -> (TestServer, String) {
    let url = nats_url();
    let server = TestServer::start_with_settings(dir, &[("RULEHOST_NATS_URL", &url), ("RULEHOST_NATS_PREFIX", prefix)]);
    let key = server.coffee_tenant("brand");
    let (status, body) = server.call(
        "PUT",
        "/v1/tenants/brand/triggers",
        &key,
        Some(json!({"events": [{"kind": "purchase"}]})),
    );
    assert_eq!(status, 200, "{body}");
    (server, key)
}

/// Waits up to `wait` for `check` to hold.
pub fn eventually(wait: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + wait;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {wait:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn events_from_nats_are_kept_trigger_a_decision_and_its_touch_is_published_once_with_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = fresh_prefix();
    let (server, key) = server_on_nats(dir.path(), &prefix);
    let rt = runtime();
    let nats = rt.block_on(connect(&prefix));
    let purchase = json!({"event_id": "pos-1", "customer_id": "c-1", "kind": "purchase", "at": now(),
                          "amount_minor": 3200, "category": "latte"})
    .to_string();
    let view = json!({"event_id": "v-1", "customer_id": "c-1", "kind": "view", "at": now()}).to_string();
    let subject = nats.names().events("brand");
    rt.block_on(async {
        publish(&nats, &subject, "v-1", &view).await;
        publish(&nats, &subject, "pos-1", &purchase).await;
        // Published again with the same id: JetStream keeps one.
        publish(&nats, &subject, "pos-1", &purchase).await;
    });
    eventually(Duration::from_secs(20), "the events are kept", || {
        let (status, customer) = server.call("GET", "/v1/tenants/brand/customers/c-1", &key, None);
        status == 200 && customer["profile"]["events"].as_array().is_some_and(|e| e.len() == 2)
    });
    let touches = rt.block_on(read(&nats, "touches", 1, Duration::from_secs(20)));
    assert_eq!(touches.len(), 1, "{touches:?}");
    let (subject, headers, delivery) = &touches[0];
    assert_eq!(subject, &nats.names().touches("brand"));
    assert_eq!(delivery["customer_id"], "c-1");
    assert_eq!(delivery["trigger_id"], "pos-1");
    assert_eq!(header(headers, "Nats-Msg-Id"), delivery["touch_id"].as_str());
    // Nothing more comes, and the feed has the same touch.
    assert!(rt.block_on(read(&nats, "touches", 2, Duration::from_secs(2))).len() <= 1);
    let (_, feed) = server.call("GET", "/v1/tenants/brand/touches", &key, None);
    assert_eq!(feed["items"][0]["delivery"], *delivery);
}

#[test]
fn a_message_that_can_never_be_taken_is_dead_lettered_with_its_reason_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = fresh_prefix();
    let (server, key) = server_on_nats(dir.path(), &prefix);
    let rt = runtime();
    let nats = rt.block_on(connect(&prefix));
    let brand = nats.names().events("brand");
    let poison = [
        (brand.clone(), "p1", "this is not JSON".to_owned()),
        (
            brand.clone(),
            "p2",
            json!({"customer_id": "c-9", "kind": "view", "at": now()}).to_string(),
        ),
        (
            brand.clone(),
            "p3",
            json!({"event_id": "p3", "customer_id": "c-9", "kind": "timer", "at": now()}).to_string(),
        ),
        (
            nats.names().events("nobody"),
            "p4",
            json!({"event_id": "p4", "customer_id": "c", "kind": "view", "at": now()}).to_string(),
        ),
        (format!("{brand}.extra"), "p5", "{}".to_owned()),
    ];
    let good = json!({"event_id": "g-1", "customer_id": "c-9", "kind": "view", "at": now()}).to_string();
    rt.block_on(async {
        for (subject, id, payload) in &poison {
            publish(&nats, subject, id, payload).await;
        }
        publish(&nats, &brand, "g-1", &good).await;
    });
    eventually(
        Duration::from_secs(20),
        "the good event behind the poison is kept",
        || server.call("GET", "/v1/tenants/brand/customers/c-9", &key, None).0 == 200,
    );
    let dead = rt.block_on(read(&nats, "dead", 5, Duration::from_secs(20)));
    assert_eq!(dead.len(), 5, "{dead:?}");
    let reason = |id: &str| {
        let (subject, headers, _) = dead
            .iter()
            .find(|(_, h, _)| header(h, "Nats-Msg-Id") == Some(id))
            .unwrap_or_else(|| panic!("{id} dead-lettered: {dead:?}"));
        (
            subject.clone(),
            header(headers, "Rulehost-Reason").unwrap_or_default().to_owned(),
        )
    };
    let (subject, why) = reason("p1");
    assert_eq!(subject, nats.names().dead("brand"));
    assert!(why.starts_with("not an event"), "{why}");
    assert!(
        reason("p2").1.contains("missing field `event_id`"),
        "{:?}",
        reason("p2")
    );
    assert!(
        reason("p3").1.contains("kind \"timer\" is reserved"),
        "{:?}",
        reason("p3")
    );
    assert_eq!(
        reason("p4"),
        (nats.names().dead("nobody"), "no tenant \"nobody\"".to_owned())
    );
    assert_eq!(reason("p5").0, nats.names().dead("_unknown"));
    // The tenant sees its three, newest first, and the metric counts them.
    let (status, letters) = server.call("GET", "/v1/tenants/brand/dead-letters", &key, None);
    assert_eq!(status, 200, "{letters}");
    assert_eq!(letters["count"], 3);
    assert!(letters["items"][0]["reason"].is_string());
    assert_eq!(server.metric("rulehost_dead_letters_total{tenant=\"brand\"}"), 3.0);
    // Each was acked: none comes again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rt.block_on(read(&nats, "dead", 6, Duration::from_secs(1))).len(), 5);
}

#[test]
fn the_cli_sends_events_over_http_and_to_nats_decides_by_id_and_tails_the_touches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = fresh_prefix();
    let (server, key) = server_on_nats(dir.path(), &prefix);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rulehost"))
            .args(args)
            .env("RULEHOST_SERVER", server.url(""))
            .env("RULEHOST_TENANT", "brand")
            .env("RULEHOST_KEY", &key)
            .output()
            .expect("the CLI runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = dir.path().join("events.ndjson");
    let lines = [
        json!({"event_id": "h-1", "customer_id": "c-1", "kind": "view", "at": now()}),
        json!({"event_id": "h-2", "customer_id": "c-1", "kind": "purchase", "at": now(), "amount_minor": 2800}),
    ];
    std::fs::write(&file, lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")).expect("written");
    let path = file.to_str().expect("a path");
    let (code, out, err) = cli(&["events", "send", path]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"events": 2, "taken": 2, "duplicates": 0})
    );
    // The same file to NATS: stored there, then taken in as duplicates.
    let (code, out, err) = cli(&["events", "send", path, "--nats", &nats_url(), "--nats-prefix", &prefix]);
    assert_eq!(code, Some(0), "{out}{err}");
    let sent: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (sent["events"].clone(), sent["published"].clone()),
        (json!(2), json!(2))
    );
    eventually(
        Duration::from_secs(20),
        "NATS's copies are taken in as duplicates",
        || {
            server
                .try_metric("rulehost_events_total{tenant=\"brand\",outcome=\"duplicate\"}")
                .is_ok_and(|n| n >= 2.0)
        },
    );
    // A bad line: named, nothing sent.
    std::fs::write(&file, "{\"event_id\": \"x\"}\n").expect("written");
    let (code, _, err) = cli(&["events", "send", path]);
    assert_eq!(code, Some(2));
    assert!(err.contains("line 1: missing field"), "{err}");
    // By id, and the touch of the purchase's decision.
    let (code, out, err) = cli(&["decide", "--customer", "c-1"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["customer_id"], "c-1");
    eventually(Duration::from_secs(20), "the touch is in the outbox", || {
        let (_, page) = server.call("GET", "/v1/tenants/brand/touches", &key, None);
        !page["items"].as_array().unwrap().is_empty()
    });
    let (code, out, err) = cli(&["touches", "tail", "--no-follow"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let items: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(items.len(), 1, "{out}");
    assert_eq!(items[0]["delivery"]["trigger_id"], "h-2");
}
