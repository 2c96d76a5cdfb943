//! The always-on guarantees in a fleet: three `rulehost serve` processes
//! on one PostgreSQL database and one NATS server, one of them killed with
//! SIGKILL while it works. Timers fire once, and those the dead host held
//! run elsewhere within 30 s; events taken in (from NATS and over HTTP),
//! the decisions they trigger and the touches those commit are neither
//! lost nor duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet::{Fleet, deciding_version, until};
use crate::heavy;
use crate::serve::TestServer;
use crate::stream::{connect, fresh_prefix, header, nats_url, publish, read, runtime};

fn at(ms: i64) -> String {
    rulehost::model::Timestamp(ms).to_rfc3339().expect("a time")
}

fn now_ms() -> i64 {
    rulehost::model::Timestamp::now().0
}

/// The coffee tenant `brand` set up through host 0, with the payment
/// reminder in its catalog and purchases as triggers, known to every host;
/// its key.
fn brand(fleet: &Fleet, hosts: usize) -> String {
    let a = fleet.host(0);
    let key = a.coffee_tenant("brand");
    let mut offers: Value = serde_json::from_str(crate::COFFEE_OFFERS).expect("json");
    offers
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "pay-reminder", "kind": "payment_reminder",
        "channels": ["mini_program", "sms"], "priority": 90, "class": "transactional"}));
    assert_eq!(a.call("PUT", "/v1/tenants/brand/offers", &key, Some(offers)).0, 200);
    let triggers = json!({"events": [{"kind": "purchase"}]});
    assert_eq!(a.call("PUT", "/v1/tenants/brand/triggers", &key, Some(triggers)).0, 200);
    for i in 0..hosts {
        until(Duration::from_secs(10), "the tenant reaches every host", || {
            deciding_version(&fleet.host(i), "brand", &key).is_ok()
        });
        // And its triggers: a host takes events in by the triggers it has.
        until(Duration::from_secs(10), "the triggers reach every host", || {
            fleet.host(i).call("GET", "/v1/tenants/brand/triggers", &key, None).1["version"] == 1
        });
    }
    key
}

/// Reads the whole feed through `host`, until it holds `want` touches or
/// `wait` has passed.
fn feed(host: &TestServer, key: &str, want: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let (mut items, mut after) = (Vec::new(), "0".to_owned());
    while items.len() < want && Instant::now() < deadline {
        let (status, page) = host.call(
            "GET",
            &format!("/v1/tenants/brand/touches?after={after}&limit=500&wait=1"),
            key,
            None,
        );
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().expect("items") {
            items.push(item["delivery"].clone());
        }
        after = page["next"].as_str().expect("a cursor").to_owned();
    }
    items
}

/// Percentiles of `values` (sorted here), for the log.
fn spread(mut values: Vec<i64>) -> String {
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!("p50 {} ms, p99 {} ms, max {} ms", at(0.5), at(0.99), at(1.0))
}

#[test]
fn wake_ups_fire_once_over_three_hosts_and_those_a_killed_host_held_run_elsewhere_within_thirty_seconds() {
    const CUSTOMERS: usize = 300;
    let _heavy = heavy();
    let mut fleet = Fleet::start_with(3, &[]);
    let key = brand(&fleet, 3);
    let hosts: Vec<TestServer> = (0..3).map(|i| fleet.host(i)).collect();

    // Every customer left an order unpaid 30 minutes before `due`, and a
    // decision then asked (coffee-chain's rule) to be woken at `due`.
    let due = now_ms() + 20_000;
    let left = at(due - 30 * 60_000);
    let events: Vec<Value> = (0..CUSTOMERS)
        .map(|i| {
            json!({"event_id": format!("u-{i}"), "customer_id": format!("c-{i}"), "kind": "order_unpaid",
                   "at": left, "channel": "mini_program", "props": {"order_id": format!("o-{i}")}})
        })
        .collect();
    let (status, taken) = hosts[1].call("POST", "/v1/tenants/brand/events", &key, Some(json!(events)));
    assert_eq!(status, 200, "{taken}");
    std::thread::scope(|scope| {
        for (h, host) in hosts.iter().enumerate() {
            let (key, left) = (&key, &left);
            scope.spawn(move || {
                for i in (h..CUSTOMERS).step_by(3) {
                    let (status, decided) = host.call(
                        "POST",
                        "/v1/tenants/brand/decide",
                        key,
                        Some(json!({"customer_id": format!("c-{i}"), "now": left, "commit": true,
                                    "trigger": {"kind": "order_unpaid", "at": left, "channel": "mini_program",
                                                "props": {"order_id": format!("o-{i}")}}})),
                    );
                    assert_eq!(status, 200, "{decided}");
                    assert_eq!(decided["wakes"][0]["key"], format!("unpaid:o-{i}"));
                }
            });
        }
    });
    let set_up = feed(&hosts[1], &key, CUSTOMERS, Duration::from_secs(30));
    assert_eq!(set_up.len(), CUSTOMERS, "each unpaid order's decision touched");
    assert!(
        now_ms() < due - 1_000,
        "setting up took past the wake-ups' time: {} ms left",
        due - now_ms()
    );

    // Host 0 is killed while it runs its share of the wake-ups: once it has
    // decided some and more are due than have been decided.
    let decided_on = |host: &TestServer| {
        host.try_metric("rulehost_timers_total{tenant=\"brand\",kind=\"wake\",outcome=\"decided\"}")
            .unwrap_or(0.0)
    };
    until(Duration::from_secs(40), "host 0 runs wake-ups", || {
        decided_on(&hosts[0]) >= 5.0
    });
    fleet.kill(0);
    let killed_at = now_ms();
    let before = decided_on(&hosts[1]) + decided_on(&hosts[2]);
    eprintln!("host 0 killed {} ms after the wake-ups fell due", killed_at - due);
    assert!(
        before < (CUSTOMERS as f64) * 0.9,
        "the kill came after nearly every wake-up was decided ({before})"
    );

    // Every reminder arrives once, each within 30 s of its time.
    let all = feed(&hosts[1], &key, 2 * CUSTOMERS, Duration::from_secs(45));
    let reminders: Vec<&Value> = all.iter().filter(|d| d["trigger_kind"] == "timer").collect();
    let mut by_customer: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &reminders {
        *by_customer.entry(d["customer_id"].as_str().unwrap()).or_default() += 1;
        let customer = d["customer_id"].as_str().unwrap();
        assert_eq!(d["trigger_id"], format!("unpaid:o-{}", &customer[2..]), "{d}");
        assert_eq!(d["offer_id"], "pay-reminder");
    }
    assert_eq!(by_customer.len(), CUSTOMERS, "a reminder for every customer");
    assert!(
        by_customer.values().all(|&n| n == 1),
        "no reminder twice: {:?}",
        by_customer.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let late: Vec<i64> = reminders
        .iter()
        .map(|d| {
            rulehost::model::Timestamp::parse(d["send_at"].as_str().unwrap())
                .unwrap()
                .0
                - due
        })
        .collect();
    eprintln!("wake-up lateness over {CUSTOMERS}: {}", spread(late.clone()));
    assert!(
        late.iter().all(|&ms| ms <= 30_000),
        "a wake-up ran more than 30 s late: {}",
        spread(late)
    );
    // Those host 0 held when it died ran once its claims ran out (the
    // default 10 s lease), on a host that lived.
    let taken_over = reminders
        .iter()
        .filter(|d| {
            rulehost::model::Timestamp::parse(d["send_at"].as_str().unwrap())
                .unwrap()
                .0
                >= killed_at + 9_000
        })
        .count();
    eprintln!("wake-ups taken over from the killed host: {taken_over}");
    assert!(taken_over >= 1, "host 0 held no claim when it was killed");
    // Nothing is left waiting.
    for i in (0..CUSTOMERS).step_by(29) {
        let (_, customer) = hosts[2].call("GET", &format!("/v1/tenants/brand/customers/c-{i}"), &key, None);
        assert_eq!(customer["timers"], json!([]), "{customer}");
    }
}

#[test]
fn a_host_killed_mid_stream_loses_and_duplicates_no_event_decision_or_touch() {
    // Customers 0..200 send their events through NATS, 200..400 over HTTP
    // (a client that gets no answer sends the request again to the next
    // host: the ids make a retry safe).
    const CUSTOMERS: usize = 400;
    const EVENTS_EACH: usize = 5;
    let _heavy = heavy();
    let prefix = fresh_prefix();
    let url = nats_url();
    let mut fleet = Fleet::start_with(
        3,
        &[
            ("RULEHOST_NATS_URL", &url),
            ("RULEHOST_NATS_PREFIX", &prefix),
            ("RULEHOST_NATS_ACK_WAIT_S", "5"),
        ],
    );
    let key = brand(&fleet, 3);
    let hosts: Vec<TestServer> = (0..3).map(|i| fleet.host(i)).collect();
    let rt = runtime();
    let nats = rt.block_on(connect(&prefix));
    let subject = nats.names().events("brand");

    // Each customer: four views, then a purchase (a trigger).
    let start = now_ms();
    let events_of = |c: usize| -> Vec<Value> {
        (0..EVENTS_EACH)
            .map(|n| {
                let kind = if n + 1 == EVENTS_EACH { "purchase" } else { "view" };
                json!({"event_id": format!("e-{c}-{n}"), "customer_id": format!("m-{c}"), "kind": kind,
                       "at": at(start - 60_000 + n as i64), "amount_minor": 2800, "category": "latte"})
            })
            .collect()
    };
    let published = Instant::now();
    std::thread::scope(|scope| {
        // Host 0 is killed a second in, while events arrive by both ways
        // and the decisions they trigger run.
        let fleet = &mut fleet;
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(1_000));
            fleet.kill(0);
            eprintln!("host 0 killed");
        });
        // Over HTTP, 10 customers a request, round the hosts.
        let http = scope.spawn(|| {
            let mut host = 1;
            for chunk in (CUSTOMERS / 2..CUSTOMERS).collect::<Vec<_>>().chunks(10) {
                let body: Vec<Value> = chunk.iter().flat_map(|&c| events_of(c)).collect();
                let mut tries = 0;
                loop {
                    host = (host + 1) % 3;
                    match hosts[host].try_call("POST", "/v1/tenants/brand/events", &key, Some(json!(body))) {
                        Some((200, _)) => break,
                        answer => {
                            tries += 1;
                            assert!(tries < 10, "no host takes the events: {answer:?}");
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // Through NATS, paced over the same two seconds.
        rt.block_on(async {
            for chunk in (0..CUSTOMERS / 2).collect::<Vec<_>>().chunks(10) {
                for &c in chunk {
                    for event in events_of(c) {
                        let id = event["event_id"].as_str().unwrap().to_owned();
                        publish(&nats, &subject, &id, &event.to_string()).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        http.join().expect("the HTTP client");
    });
    eprintln!("{} events sent in {:?}", CUSTOMERS * EVENTS_EACH, published.elapsed());

    // Every purchase's decision touched once, on the feed and on NATS.
    let delivered = feed(&hosts[1], &key, CUSTOMERS, Duration::from_secs(60));
    let mut by_customer: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &delivered {
        by_customer
            .entry(d["customer_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(d["trigger_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(by_customer.len(), CUSTOMERS, "a touch for every customer's purchase");
    for (customer, triggers) in &by_customer {
        let c = &customer[2..];
        assert_eq!(
            triggers,
            &[format!("e-{c}-{}", EVENTS_EACH - 1)],
            "{customer}: one touch, from its purchase"
        );
    }
    let touch_ids: BTreeSet<&str> = delivered.iter().map(|d| d["touch_id"].as_str().unwrap()).collect();
    assert_eq!(touch_ids.len(), CUSTOMERS, "no touch twice on the feed");
    // Everything on the feed is on NATS (the feed is read first, so the
    // NATS read waits only for what is still being published), then a
    // second look gives a duplicate time to show.
    let first = rt.block_on(read(&nats, "touches", CUSTOMERS, Duration::from_secs(30)));
    assert_eq!(first.len(), CUSTOMERS, "NATS has as many touches as the feed");
    let on_nats = rt.block_on(read(&nats, "touches", CUSTOMERS + 1, Duration::from_secs(3)));
    let mut nats_ids: BTreeMap<String, usize> = BTreeMap::new();
    for (_, headers, delivery) in &on_nats {
        assert_eq!(header(headers, "Nats-Msg-Id"), delivery["touch_id"].as_str());
        *nats_ids
            .entry(delivery["touch_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        nats_ids.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        touch_ids,
        "NATS has every touch of the feed"
    );
    assert_eq!(on_nats.len(), CUSTOMERS, "and each once");

    // Every event is in its customer's profile once, and no decision was
    // made twice. (A decision is logged off the request path: the dead
    // host's entries still queued are lost, as the decision log says; what
    // it committed is not.)
    let decision_of: BTreeMap<&str, &str> = delivered
        .iter()
        .map(|d| (d["customer_id"].as_str().unwrap(), d["decision_id"].as_str().unwrap()))
        .collect();
    let mut unlogged = 0;
    for c in 0..CUSTOMERS {
        let (status, customer) = hosts[2].call("GET", &format!("/v1/tenants/brand/customers/m-{c}"), &key, None);
        assert_eq!(status, 200, "m-{c}: {customer}");
        assert_eq!(
            customer["profile"]["events"].as_array().map(Vec::len),
            Some(EVENTS_EACH),
            "m-{c}'s events"
        );
        match customer["decisions"].as_array().map(Vec::as_slice) {
            Some([one]) => assert_eq!(one["id"].as_str(), decision_of.get(format!("m-{c}").as_str()).copied()),
            Some([]) => unlogged += 1,
            other => panic!("m-{c}'s decisions: {other:?}"),
        }
    }
    eprintln!("decisions of the killed host not logged: {unlogged}");
    let (_, dead) = hosts[1].call("GET", "/v1/tenants/brand/dead-letters", &key, None);
    assert_eq!(dead["count"], 0, "{dead}");
}
