//! Crash safety: the real server killed with SIGKILL at random moments while
//! clients upload, activate, edit config, record touches and commit
//! decisions, then restarted on the same data directory, over and over.
//! After every restart everything acknowledged with a 2xx is there, nothing
//! half-written is visible, and the server serves.
//!
//! CI runs a few rounds; `scripts/crash-test` runs as many as asked
//! (`RULEHOST_CRASH_ROUNDS`, default 50 there).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rulehost_test_artifacts::COFFEE_CHAIN;
use serde_json::{Value, json};

use crate::policy::{WEEKLY_COUPON, dormant, rules, setup};
use crate::serve::{ChildServer, TestServer, agent};
use crate::{COFFEE_CONFIG, heavy};

/// A decision time inside the channel's sending hours.
const DAYTIME: &str = "2026-03-05T10:00:00+08:00";

/// What the clients were told was done, and what they had sent but not
/// heard back about when the server died.
#[derive(Default)]
struct Acknowledged {
    versions: BTreeSet<String>,
    /// Config counters: the last acknowledged, and one in flight.
    config: Option<u64>,
    config_in_flight: Option<u64>,
    /// Activated versions: the last acknowledged, and one in flight.
    active: Option<String>,
    active_in_flight: Option<String>,
    touches: BTreeSet<String>,
    /// Customers whose committing decision selected a touch.
    committed: BTreeSet<String>,
}

/// One request that may meet a dead server: `None` if it did.
fn try_call(server: &TestServer, method: &str, path: &str, key: &str, body: Option<Value>) -> Option<(u16, Value)> {
    let url = server.url(path);
    let auth = format!("Bearer {key}");
    let response = match (method, body) {
        ("POST", Some(body)) => agent().post(&url).header("Authorization", &auth).send_json(body),
        ("PUT", Some(body)) => agent().put(&url).header("Authorization", &auth).send_json(body),
        other => panic!("unsupported {other:?}"),
    };
    let mut response = response.ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn config(counter: u64) -> Value {
    let mut config: Value = serde_json::from_str(COFFEE_CONFIG).expect("json");
    config["crash.counter"] = json!(counter.to_string());
    config
}

/// Runs the five kinds of client against `server` until `stop`.
fn clients(
    server: &Arc<TestServer>,
    key: &str,
    round: usize,
    acked: &Arc<Mutex<Acknowledged>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let coffee = Arc::new(std::fs::read(COFFEE_CHAIN).expect("artifact"));
    (0..5)
        .map(|kind| {
            let (server, key, acked, stop, coffee) = (
                server.clone(),
                key.to_owned(),
                acked.clone(),
                stop.clone(),
                coffee.clone(),
            );
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let tag = format!("{round}.{n}");
                    let lock = || acked.lock().expect("lock");
                    let alive = match kind {
                        0 => {
                            let version = format!("9.{tag}");
                            let url = server.url("/v1/tenants/brand/plugins");
                            let answer = agent()
                                .post(&url)
                                .query("version", &version)
                                .header("Authorization", &format!("Bearer {key}"))
                                .send(&coffee[..]);
                            match answer.map(|r| r.status().as_u16()) {
                                Ok(201) => {
                                    lock().versions.insert(version);
                                    true
                                }
                                Ok(status) => panic!("upload answered {status}"),
                                Err(_) => false,
                            }
                        }
                        1 => {
                            let counter = (round * 100_000 + n) as u64;
                            lock().config_in_flight = Some(counter);
                            match try_call(&server, "PUT", "/v1/tenants/brand/config", &key, Some(config(counter))) {
                                Some((200, _)) => {
                                    let mut a = lock();
                                    a.config = Some(counter);
                                    a.config_in_flight = None;
                                    true
                                }
                                Some((status, body)) => panic!("config answered {status} {body}"),
                                None => false,
                            }
                        }
                        2 => {
                            let version = {
                                let a = lock();
                                let known: Vec<&String> = a.versions.iter().collect();
                                match known.get(n % known.len().max(1)) {
                                    Some(v) => (*v).clone(),
                                    None => "1.0.0".to_owned(),
                                }
                            };
                            lock().active_in_flight = Some(version.clone());
                            let body = json!({"name": "coffee-chain", "version": version});
                            let path = "/v1/tenants/brand/pipeline/main/activate";
                            match try_call(&server, "POST", path, &key, Some(body)) {
                                Some((200, _)) => {
                                    let mut a = lock();
                                    a.active = Some(version);
                                    a.active_in_flight = None;
                                    true
                                }
                                Some((status, body)) => panic!("activation answered {status} {body}"),
                                None => false,
                            }
                        }
                        3 => {
                            let id = format!("t-{tag}");
                            let touch = json!({"touches": [{"id": id, "customer_id": format!("c-touch-{tag}"),
                                "offer_id": "come-back-5", "channel": "wecom_1v1", "at": "2026-03-05T01:00:00Z"}]});
                            match try_call(&server, "POST", "/v1/tenants/brand/touches", &key, Some(touch)) {
                                Some((200, _)) => {
                                    lock().touches.insert(id);
                                    true
                                }
                                Some((status, body)) => panic!("touches answered {status} {body}"),
                                None => false,
                            }
                        }
                        _ => {
                            let customer = format!("c-commit-{tag}");
                            let request = json!({"profile": dormant(&customer), "now": DAYTIME, "commit": true});
                            match try_call(&server, "POST", "/v1/tenants/brand/decide", &key, Some(request)) {
                                Some((200, decision)) => {
                                    assert_eq!(decision["committed"], true, "{decision}");
                                    if !decision["selected"].as_array().is_none_or(Vec::is_empty) {
                                        lock().committed.insert(customer);
                                    }
                                    true
                                }
                                Some((status, body)) => panic!("decide answered {status} {body}"),
                                None => false,
                            }
                        }
                    };
                    if !alive {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Checks that the store holds nothing half-written where the server
/// looks: every blob hashes to its name (a file's, or a row's key).
fn check_files(data: &Path) {
    if let Some((_, url)) = crate::serve::backend_settings(data).first() {
        let sql = "SELECT count(*) FROM blobs WHERE encode(sha256(bytes), 'hex') <> sha256";
        assert_eq!(
            rulehost::registry::testing::count(url, sql),
            0,
            "a blob is not what it says"
        );
        return;
    }
    for entry in std::fs::read_dir(data.join("blobs")).expect("blobs") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.starts_with(".tmp-") {
            // Written under a temporary name and never renamed: invisible,
            // and swept when the server starts.
            continue;
        }
        let sha256 = name
            .strip_suffix(".wasm")
            .unwrap_or_else(|| panic!("stray file {name}"));
        assert!(
            crate::serve::blob_intact(data, sha256),
            "blob {name} is not what it says"
        );
    }
}

/// Checks everything acknowledged is there after a restart, then takes
/// what is there as acknowledged (a change in flight at the kill may have
/// landed).
fn check(server: &TestServer, key: &str, acked: &mut Acknowledged) {
    let mut listed = BTreeSet::new();
    let mut path = "/v1/tenants/brand/plugins?limit=500".to_owned();
    loop {
        let (status, page) = server.call("GET", &path, key, None);
        assert_eq!(status, 200, "{page}");
        listed.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|v| v["version"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/tenants/brand/plugins?limit=500&after={next}"),
            None => break,
        }
    }
    let missing: Vec<_> = acked.versions.difference(&listed).collect();
    assert!(missing.is_empty(), "acknowledged uploads lost: {missing:?}");

    let (_, stored) = server.call("GET", "/v1/tenants/brand/config", key, None);
    let counter = stored["body"]["crash.counter"]
        .as_str()
        .and_then(|c| c.parse::<u64>().ok());
    assert!(
        counter == acked.config || (counter.is_some() && counter == acked.config_in_flight),
        "config has counter {counter:?}; acknowledged {:?}, in flight {:?}",
        acked.config,
        acked.config_in_flight
    );

    acked.config = counter;
    acked.config_in_flight = None;

    let (_, pipeline) = server.call("GET", "/v1/tenants/brand/pipeline", key, None);
    let active = pipeline["slots"][0]["active"]["version"].as_str().map(str::to_owned);
    if acked.active.is_some() || acked.active_in_flight.is_some() {
        assert!(
            active == acked.active || active == acked.active_in_flight,
            "active {active:?}; acknowledged {:?}, in flight {:?}",
            acked.active,
            acked.active_in_flight
        );
    }
    acked.active = active;
    acked.active_in_flight = None;

    if !acked.touches.is_empty() {
        let touches: Vec<Value> = acked
            .touches
            .iter()
            .map(|id| json!({"id": id, "customer_id": "c-again", "offer_id": "come-back-5", "channel": "wecom_1v1"}))
            .collect();
        let (status, again) = server.call(
            "POST",
            "/v1/tenants/brand/touches",
            key,
            Some(json!({"touches": touches})),
        );
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            again["duplicates"],
            json!(acked.touches.len()),
            "every acknowledged touch is already recorded: {again}"
        );
    }

    // A customer whose committing decision was acknowledged is at the
    // channel's weekly cap now.
    for customer in &acked.committed {
        let (status, decision) = server.call(
            "POST",
            "/v1/tenants/brand/decide",
            key,
            Some(json!({"profile": dormant(customer), "now": DAYTIME})),
        );
        assert_eq!(status, 200, "{decision}");
        assert_eq!(rules(&decision), ["channel_cap"], "{customer}: {decision}");
    }
}

#[test]
fn everything_acknowledged_survives_kill_9_at_random_moments() {
    let _heavy = heavy();
    let rounds: usize = std::env::var("RULEHOST_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut key = None;
    // Kill moments spread over the first half second of each round.
    let mut moment: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..rounds {
        let child = ChildServer::start(&data);
        let server = Arc::new(TestServer::remote(child.addr));
        let key = key
            .get_or_insert_with(|| setup(&server, "brand", WEEKLY_COUPON))
            .clone();
        if round > 0 {
            check(&server, &key, &mut acked.lock().expect("lock"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers = clients(&server, &key, round, &acked, &stop);
        moment = moment
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(20 + (moment >> 33) % 480));
        child.kill();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().expect("a client saw an answer it should not have");
        }
        check_files(&data);
    }
    let child = ChildServer::start(&data);
    let server = TestServer::remote(child.addr);
    let key = key.expect("set up");
    let mut acked = acked.lock().expect("lock");
    check(&server, &key, &mut acked);
    eprintln!(
        "{rounds} kills: {} uploads, {} touches, {} committing decisions acknowledged and found",
        acked.versions.len(),
        acked.touches.len(),
        acked.committed.len()
    );
    assert!(!acked.versions.is_empty() && !acked.touches.is_empty() && !acked.committed.is_empty());
}
