//! 10: always on (issue 25) — deciding on the profile the host keeps
//! against the profile in the body, events taken in (HTTP NDJSON on the
//! embedded store; NATS into PostgreSQL with the decisions they trigger),
//! how long an event takes to become a touch on the outbox subject, and
//! how late wake-ups fire, on one host and in a fleet of three. The NATS
//! and PostgreSQL rows need what `scripts/bench` starts
//! (`RULEHOST_TEST_NATS_URL`, `RULEHOST_TEST_DATABASE_URL`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use rulehost::generate::DEFAULT_NOW;
use rulehost::live::Caller;
use rulehost::model::events::EventIn;
use rulehost::model::{Timestamp, triggers::Triggers};
use rulehost::registry::TenantLimits;
use rulehost::registry::testing::{drop_database, fresh_database};
use rulehost_test_artifacts::COFFEE_CHAIN;

use crate::scenarios::{Running, add_tenant, load_hosts, load_to, start_host};
use crate::stats::{Samples, mean};
use crate::{Table, Workload};

/// Runs section 10 (the rows that need NATS or PostgreSQL say so when
/// they are missing).
pub fn always_on(table: &mut Table, w: &Workload) {
    // `RULEHOST_BENCH_ROWS=by-id,touch` runs only those rows (to profile one).
    let rows = std::env::var("RULEHOST_BENCH_ROWS").unwrap_or_default();
    let row = |name: &str| rows.is_empty() || rows.split(',').any(|r| r == name);
    if row("by-id") {
        decide_by_id(table, w);
    }
    if row("intake") {
        intake_http(table);
    }
    let nats = std::env::var("RULEHOST_TEST_NATS_URL").ok();
    let pg = std::env::var_os("RULEHOST_TEST_DATABASE_URL").is_some();
    match nats {
        Some(nats) if pg => {
            if row("nats-intake") {
                intake_nats_pg(table, &nats);
            }
            if row("touch") {
                event_to_touch(table, &nats, 1);
                event_to_touch(table, &nats, 3);
            }
            if row("timers") {
                timer_lateness(table, 1);
                timer_lateness(table, 3);
            }
        }
        _ => table.check(
            "10",
            "events from NATS, touches to it, timers in a fleet",
            "not run: no NATS or PostgreSQL (`scripts/bench` starts throwaway ones)".into(),
            "run",
            false,
        ),
    }
}

/// The limits of the section's tenants: profiles as long as the generated
/// ones (so a kept profile is the profile the request would send).
fn limits() -> TenantLimits {
    TenantLimits {
        max_concurrent_decisions: 256,
        profile_events: 10_000,
        profile_days: 3_650,
        ..TenantLimits::default()
    }
}

/// The coffee tenant `bench` on `server` (its key in `server.key`), with
/// purchases as triggers when `triggers`.
fn coffee(server: &mut Running, w: &Workload, triggers: bool) {
    server.key = add_tenant(server, "bench", limits(), COFFEE_CHAIN, Some(w));
    if triggers {
        let doc: Triggers = serde_json::from_value(json!({"events": [{"kind": "purchase"}]})).expect("triggers");
        server
            .runtime
            .block_on(server.live.put_triggers(&Caller::Operator, "bench", doc))
            .expect("triggers set");
    }
}

/// A generated profile as the events a brand would have sent for it:
/// its ids linked, its attributes set, its behaviour.
fn events_of(profile: &Value) -> Vec<Value> {
    let id = profile["customer_id"].as_str().expect("an id");
    let mut out = Vec::new();
    let first = profile["events"]
        .as_array()
        .and_then(|e| e.first())
        .and_then(|e| e["at"].as_str())
        .unwrap_or(DEFAULT_NOW);
    if let Some(ids) = profile["identities"].as_object().filter(|i| !i.is_empty()) {
        out.push(
            json!({"event_id": format!("{id}-ids"), "customer_id": id, "kind": "identify", "at": first, "props": ids}),
        );
    }
    if let Some(attributes) = profile["attributes"].as_object().filter(|a| !a.is_empty()) {
        out.push(json!({"event_id": format!("{id}-attrs"), "customer_id": id, "kind": "attributes", "at": first, "props": attributes}));
    }
    for (n, event) in profile["events"].as_array().into_iter().flatten().enumerate() {
        let mut event = event.clone();
        event["event_id"] = json!(format!("{id}-{n}"));
        event["customer_id"] = json!(id);
        out.push(event);
    }
    out
}

/// 10: HTTP decide by id against the profile in the body, the same
/// customers, alternating one-second rounds at concurrency 16.
fn decide_by_id(table: &mut Table, w: &Workload) {
    const ROUNDS: usize = 3;
    let mut server = start_host(&[]);
    coffee(&mut server, w, false);
    let now = Timestamp::parse(DEFAULT_NOW).expect("now");
    let profiles: Vec<Value> = w
        .bodies
        .iter()
        .map(|b| serde_json::from_slice::<Value>(b).expect("a body")["profile"].clone())
        .collect();
    // Kept by the host from the customers' events.
    let started = Instant::now();
    for chunk in profiles.chunks(200) {
        let events: Vec<EventIn> = chunk
            .iter()
            .flat_map(events_of)
            .map(|e| serde_json::from_value(e).expect("an event"))
            .collect();
        server
            .runtime
            .block_on(server.live.take_events("bench", events, &|i| format!("event {i}")))
            .expect("taken in");
    }
    let loaded = started.elapsed();
    let by_id: Arc<[Bytes]> = profiles
        .iter()
        .map(|p| Bytes::from(json!({"customer_id": p["customer_id"], "now": now}).to_string()))
        .collect();
    // The same decisions either way (checked on a sample).
    let agent = crate::scenarios::agent();
    let decide = |body: &Bytes| -> Value {
        agent
            .post(format!("http://{}/v1/tenants/bench/decide", server.addr))
            .header("Authorization", &format!("Bearer {}", server.key))
            .header("Content-Type", "application/json")
            .send(&body[..])
            .expect("answers")
            .body_mut()
            .read_json()
            .expect("a decision")
    };
    let same = (0..200)
        .step_by(7)
        .filter(|&i| {
            let (a, b) = (decide(&w.bodies[i]), decide(&by_id[i]));
            a["stage"] == b["stage"] && a["tags"] == b["tags"] && a["proposals"] == b["proposals"]
        })
        .count();
    let phase = Duration::from_secs(1);
    load_hosts(&[server.addr], &server.key, &by_id, 16, Duration::from_millis(500));
    load_hosts(&[server.addr], &server.key, &w.bodies, 16, Duration::from_millis(500));
    let mut arms: [(Vec<f64>, Samples, usize); 2] = Default::default();
    for _ in 0..ROUNDS {
        for (arm, bodies) in arms.iter_mut().zip([&w.bodies, &by_id]) {
            let (rate, samples, failed) = load_hosts(&[server.addr], &server.key, bodies, 16, phase);
            server.live.flush_log_blocking();
            arm.0.push(rate);
            arm.1.extend(samples);
            arm.2 += failed;
        }
    }
    let describe = |(rates, samples, failed): &(Vec<f64>, Samples, usize)| {
        format!(
            "{:.0}/s (p50 {:.2} ms, p99 **{:.2} ms**, {failed} failed)",
            mean(rates),
            samples.percentile_us(50.0) / 1000.0,
            samples.percentile_us(99.0) / 1000.0
        )
    };
    let ratio = mean(&arms[1].0) / mean(&arms[0].0);
    let p99 = arms[1].1.percentile_us(99.0) / 1000.0;
    table.check(
        "10",
        "HTTP decide by id / with the profile in the body, concurrency 16, the same 10,000 customers",
        format!(
            "{} / {} = **{ratio:.2}×**; {same}/29 sampled decisions identical; profiles kept from {} events in {:.1} s",
            describe(&arms[1]),
            describe(&arms[0]),
            profiles.iter().map(|p| events_of(p).len()).sum::<usize>(),
            loaded.as_secs_f64()
        ),
        "≥ 2.5×, p99 ≤ 5 ms",
        ratio >= 2.5 && p99 <= 5.0 && arms[1].2 == 0,
    );
    server.stop();
}

/// NDJSON bodies of `per_body` events each, ten to a customer, every id
/// new (and beginning with `prefix`).
fn ndjson_bodies(
    prefix: &str,
    bodies: usize,
    per_body: usize,
    kind_of: impl Fn(usize) -> &'static str,
) -> Arc<[Bytes]> {
    let at = Timestamp(Timestamp::now().0 - 3 * 3_600_000)
        .to_rfc3339()
        .expect("a time");
    (0..bodies)
        .map(|b| {
            let mut text = String::new();
            for n in 0..per_body {
                let customer = format!("{prefix}c{b}-{}", n / 10);
                let event = json!({"event_id": format!("{prefix}e{b}-{n}"), "customer_id": customer, "kind": kind_of(n % 10),
                                   "at": at, "amount_minor": 2800, "category": "latte", "channel": "mini_program"});
                text.push_str(&event.to_string());
                text.push('\n');
            }
            Bytes::from(text)
        })
        .collect()
}

/// 10: events taken in over HTTP on the embedded store (every request
/// committed before it is answered): NDJSON of 1,000 events a request at
/// concurrency 4, beside one event a request at concurrency 16.
fn intake_http(table: &mut Table) {
    const PER_BODY: usize = 1_000;
    let mut server = start_host(&[]);
    coffee(&mut server, &Workload::new(rulehost::generate::Brand::Coffee, 1), false);
    let target = ("/v1/tenants/bench/events", "application/x-ndjson");
    let kind = |n: usize| if n == 9 { "purchase" } else { "view" };
    // Enough bodies that none is sent twice (a duplicate is cheaper).
    let big = ndjson_bodies("many", 400, PER_BODY, kind);
    let (rate, samples, failed) = load_to(
        &[server.addr],
        &server.key,
        target,
        &big,
        4,
        (Duration::from_secs(5), true),
    );
    let events = rate * PER_BODY as f64;
    // Every event sent was new and is counted as taken.
    let sent = samples.len() * PER_BODY;
    assert_eq!(taken(&server), sent, "every event sent taken once");
    let single = ndjson_bodies("one", 20_000, 1, kind);
    let (one_rate, one_samples, one_failed) = load_to(
        &[server.addr],
        &server.key,
        target,
        &single,
        16,
        (Duration::from_secs(3), true),
    );
    assert_eq!(taken(&server), sent + one_samples.len(), "every event sent taken once");
    table.check(
        "10",
        "intake over HTTP, NDJSON of 1,000 events, concurrency 4, SQLite (committed before answered)",
        format!(
            "**{events:.0} events/s** (a request p50 {:.0} ms, p99 {:.0} ms; {failed} failed); one event a request at \
             concurrency 16: {one_rate:.0} events/s (p99 {:.2} ms, {one_failed} failed)",
            samples.percentile_us(50.0) / 1000.0,
            samples.percentile_us(99.0) / 1000.0,
            one_samples.percentile_us(99.0) / 1000.0
        ),
        "≥ 5,000 events/s",
        events >= 5_000.0 && failed == 0,
    );
    server.stop();
}

/// How many events `host` has taken in for `bench` (its metric).
fn taken(host: &Running) -> usize {
    let metric = "rulehost_events_total{tenant=\"bench\",outcome=\"taken\"} ";
    host.live
        .metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(metric))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// A runtime for the suite's own NATS client.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A prefix of subjects no other run uses.
fn fresh_prefix() -> String {
    format!("bench{}", Timestamp::now().0)
}

async fn connect(url: &str, prefix: &str) -> rulehost_stream::Nats {
    let settings = rulehost_stream::Settings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        ..rulehost_stream::Settings::default()
    };
    rulehost_stream::Nats::connect(&settings, "bench")
        .await
        .expect("NATS answers")
}

/// `n` hosts taking events from NATS under `prefix`, on one fresh
/// PostgreSQL database (`n` = 1 and `sqlite`: one host on the embedded
/// store), each with the coffee tenant known; the database's name.
fn hosts(n: usize, nats: &str, prefix: &str, sqlite: bool, w: &Workload) -> (Vec<Running>, Option<String>) {
    let database = (!sqlite).then(|| fresh_database("bench_always_on"));
    let mut settings = vec![("RULEHOST_NATS_URL", nats), ("RULEHOST_NATS_PREFIX", prefix)];
    if let Some((url, _)) = &database {
        settings.push(("RULEHOST_DATABASE_URL", url.as_str()));
    }
    let mut hosts: Vec<Running> = (0..n).map(|_| start_host(&settings)).collect();
    coffee(&mut hosts[0], w, true);
    let key = hosts[0].key.clone();
    let triggers = hosts[0].live.snapshot("bench").expect("the tenant").triggers_version;
    for host in &mut hosts[1..] {
        host.key = key.clone();
        // Every host has the triggers before the first event arrives.
        while host.live.snapshot("bench").ok().map(|s| s.triggers_version) != Some(triggers) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    (hosts, database.map(|(_, name)| name))
}

fn stop(hosts: Vec<Running>, database: Option<String>) {
    for host in hosts {
        host.stop();
    }
    if let Some(database) = database {
        drop_database(&database);
    }
}

/// Touches the feed of `host` holds: how many.
fn feed_len(host: &Running) -> usize {
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = host
            .runtime
            .block_on(host.live.feed("bench", after, 500, Duration::ZERO))
            .expect("the feed");
        n += page.items.len();
        match page.items.last() {
            Some(last) => after = last.cursor.parse().expect("a cursor"),
            None => return n,
        }
    }
}

/// 10: events published to NATS as fast as JetStream stores them, taken
/// into PostgreSQL by one host; each customer's fifth event a purchase
/// that triggers a decision.
fn intake_nats_pg(table: &mut Table, nats: &str) {
    const CUSTOMERS: usize = 4_000;
    let prefix = fresh_prefix();
    let w = Workload::new(rulehost::generate::Brand::Coffee, 1);
    let (hosts, database) = hosts(1, nats, &prefix, false, &w);
    let rt = runtime();
    let client = rt.block_on(connect(nats, &prefix));
    let at = Timestamp::now().to_rfc3339().expect("a time");
    let events: Vec<(String, Bytes)> = (0..CUSTOMERS * 5)
        .map(|n| {
            let (customer, i) = (n / 5, n % 5);
            let kind = if i == 4 { "purchase" } else { "view" };
            let id = format!("n{n}");
            let event = json!({"event_id": id, "customer_id": format!("k{customer}"), "kind": kind, "at": at,
                               "amount_minor": 2800, "category": "latte"});
            (id, Bytes::from(event.to_string()))
        })
        .collect();
    let started = Instant::now();
    for chunk in events.chunks(1_000) {
        rt.block_on(client.publish_events("bench", chunk)).expect("published");
    }
    let published = started.elapsed();
    while taken(&hosts[0]) < CUSTOMERS * 5 && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let intake = started.elapsed();
    while feed_len(&hosts[0]) < CUSTOMERS && started.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let decided = started.elapsed();
    let touched = feed_len(&hosts[0]);
    table.info(
        "10",
        "intake from NATS into PostgreSQL, one host: 20,000 events, 4,000 of them purchases each triggering a committed decision",
        format!(
            "published in {:.1} s; all taken in {:.1} s = **{:.0} events/s**; all {touched} triggered decisions committed \
             in {:.1} s = **{:.0} decisions/s** (with the intake)",
            published.as_secs_f64(),
            intake.as_secs_f64(),
            (CUSTOMERS * 5) as f64 / intake.as_secs_f64(),
            decided.as_secs_f64(),
            touched as f64 / decided.as_secs_f64()
        ),
    );
    stop(hosts, database);
}

/// 10: a purchase published to NATS → its triggered decision's touch on
/// the outbox subject, at 50 purchases a second for 6 s, on one host
/// (SQLite) or a fleet of `n` on PostgreSQL.
fn event_to_touch(table: &mut Table, nats: &str, n: usize) {
    const RATE: u64 = 50;
    const EVENTS: usize = 300;
    let prefix = fresh_prefix();
    let w = Workload::new(rulehost::generate::Brand::Coffee, 1);
    let (hosts, database) = hosts(n, nats, &prefix, n == 1, &w);
    let rt = runtime();
    let client = rt.block_on(connect(nats, &prefix));
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let arrived: Arc<Mutex<Vec<Duration>>> = Arc::default();
    // Every touch as NATS delivers it to a subscriber.
    let core = rt.block_on(async_nats::connect(nats)).expect("NATS answers");
    let mut subscription = rt
        .block_on(core.subscribe(client.names().touches("bench")))
        .expect("subscribed");
    let (seen, got) = (sent.clone(), arrived.clone());
    let listener = rt.spawn(async move {
        while let Some(message) = subscription.next().await {
            let now = Instant::now();
            let delivery: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
            let trigger = delivery["trigger_id"].as_str().unwrap_or_default();
            let at = seen.lock().expect("a lock").get(trigger).copied();
            if let Some(at) = at {
                got.lock().expect("a lock").push(now - at);
            }
        }
    });
    rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
        for i in 0..EVENTS {
            tick.tick().await;
            let id = format!("t{i}");
            let event = json!({"event_id": id, "customer_id": format!("buyer-{i}"), "kind": "purchase",
                               "at": Timestamp::now(), "amount_minor": 2800, "category": "latte"});
            sent.lock().expect("a lock").insert(id.clone(), Instant::now());
            client
                .publish_events("bench", &[(id, Bytes::from(event.to_string()))])
                .await
                .expect("published");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrived.lock().expect("a lock").len() < EVENTS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    listener.abort();
    let latencies = arrived.lock().expect("a lock").clone();
    let samples: Samples = latencies.iter().copied().collect();
    let (p50, p99) = (
        samples.percentile_us(50.0) / 1000.0,
        samples.percentile_us(99.0) / 1000.0,
    );
    let (what, target, limit) = if n == 1 {
        ("one host (SQLite)", "p99 ≤ 1 s", 1_000.0)
    } else {
        ("a fleet of three on PostgreSQL", "p99 ≤ 3 s", 3_000.0)
    };
    table.check(
        "10",
        &format!("a purchase published to NATS → its decision's touch on the NATS subject, {what}, {RATE}/s"),
        format!(
            "p50 **{p50:.0} ms**, p99 **{p99:.0} ms** ({} of {EVENTS} arrived)",
            latencies.len()
        ),
        target,
        p99 <= limit && latencies.len() == EVENTS,
    );
    stop(hosts, database);
}

/// 10: wake-ups falling due at 100 a second for 5 s, set by decisions a
/// plugin made (coffee-chain's unpaid-order reminder): how late each
/// decision ran, on one host (SQLite) or a fleet of `n` on PostgreSQL.
fn timer_lateness(table: &mut Table, n: usize) {
    const WAKES: usize = 500;
    // The sample catalog has the payment reminder.
    let w = Workload::new(rulehost::generate::Brand::Coffee, 1);
    let database = (n > 1).then(|| fresh_database("bench_timers"));
    let settings: Vec<(&str, &str)> = database
        .iter()
        .map(|(url, _)| ("RULEHOST_DATABASE_URL", url.as_str()))
        .collect();
    let mut hosts: Vec<Running> = (0..n).map(|_| start_host(&settings)).collect();
    coffee(&mut hosts[0], &w, false);
    let key = hosts[0].key.clone();
    for host in &mut hosts[1..] {
        host.key = key.clone();
        while host.live.snapshot("bench").is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Each customer left an order unpaid 30 minutes before its wake-up,
    // and a decision then asked to be woken.
    let first_due = Timestamp::now().0 + 15_000;
    let due = |i: usize| first_due + (i as i64 * 5_000) / WAKES as i64;
    let agent = crate::scenarios::agent();
    let host = &hosts[0];
    for i in 0..WAKES {
        let left = Timestamp(due(i) - 30 * 60_000);
        let unpaid = json!({"event_id": format!("u{i}"), "customer_id": format!("w{i}"), "kind": "order_unpaid",
                            "at": left, "channel": "sms", "props": {"order_id": format!("o{i}")}});
        let decide = json!({"customer_id": format!("w{i}"), "now": left, "commit": true,
                            "trigger": {"kind": "order_unpaid", "at": left, "channel": "sms",
                                        "props": {"order_id": format!("o{i}")}}});
        for (path, body) in [("events", unpaid), ("decide", decide)] {
            let status = agent
                .post(format!("http://{}/v1/tenants/bench/{path}", host.addr))
                .header("Authorization", &format!("Bearer {key}"))
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes())
                .expect("answers")
                .status();
            assert_eq!(status.as_u16(), 200, "{path}");
        }
    }
    let set_up_late = Timestamp::now().0 > first_due;
    // The reminders, from the feed: each decision's `now` against its due time.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lateness = Vec::new();
    let mut after = 0;
    while lateness.len() < WAKES && Instant::now() < deadline {
        let page = host
            .runtime
            .block_on(host.live.feed("bench", after, 500, Duration::from_secs(1)))
            .expect("the feed");
        for item in &page.items {
            after = item.cursor.parse().expect("a cursor");
            let d = &item.delivery;
            if d.trigger_kind.as_deref() != Some("timer") {
                continue;
            }
            let i: usize = d.customer_id[1..].parse().expect("a customer");
            lateness.push(Duration::from_millis((d.send_at.0 - due(i)).max(0) as u64));
        }
    }
    let samples: Samples = lateness.iter().copied().collect();
    let (p50, p99) = (
        samples.percentile_us(50.0) / 1000.0,
        samples.percentile_us(99.0) / 1000.0,
    );
    let what = if n == 1 {
        "one host (SQLite)"
    } else {
        "a fleet of three on PostgreSQL"
    };
    table.check(
        "10",
        &format!("wake-up lateness, {what}: {WAKES} due over 5 s"),
        format!(
            "p50 **{p50:.0} ms**, p99 **{p99:.0} ms** ({} of {WAKES} fired{})",
            lateness.len(),
            if set_up_late {
                "; setting up ran past the first"
            } else {
                ""
            }
        ),
        "p99 ≤ 2 s",
        p99 <= 2_000.0 && lateness.len() == WAKES && !set_up_late,
    );
    stop(hosts, database.map(|(_, name)| name));
}
