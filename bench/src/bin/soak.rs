//! A mixed load against a running server for a bounded time: coffee
//! decisions and batches, uploads and activations of new builds, config
//! edits, and hostile plugins (a loop, a memory bomb, a trap) beside them.
//! Every 10 s it prints what each kind of request got, the coffee decide
//! latency percentiles and the server's resident memory; at the end, the
//! totals. It exits 1 if anything got an answer it should not have (a 5xx,
//! a dropped connection, an unexpected status).
//!
//! `scripts/soak [SECONDS]` starts a release server and runs this against it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rulehost::generate::Brand;
use rulehost_bench::{Samples, Workload, variant};
use rulehost_test_artifacts::{COFFEE_CHAIN, LOOP_FOREVER, MEMORY_BOMB, PLUGINS_DIR, TRAP};
use serde_json::{Value, json};

/// What happened, per kind of request, in the current window and in all.
#[derive(Default)]
struct Tally {
    window: BTreeMap<(String, String), u64>,
    total: BTreeMap<(String, String), u64>,
    latency: Samples,
    unexpected: Vec<String>,
}

struct Soak {
    url: String,
    operator: String,
    tally: Mutex<Tally>,
}

impl Soak {
    fn call(&self, method: &str, path: &str, key: &str, body: Option<Vec<u8>>) -> Result<(u16, Value), String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .body(body.unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let mut response = agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Records an answer; `allowed` lists the statuses this kind may get.
    fn record(&self, kind: &str, answer: Result<(u16, Value), String>, allowed: &[u16], took: Option<Duration>) {
        let mut tally = self.tally.lock().expect("tally");
        let outcome = match &answer {
            Ok((status, body)) => match body["error"]["code"].as_str() {
                Some(code) => format!("{status} {code}"),
                None => status.to_string(),
            },
            Err(e) => format!("transport error: {e}"),
        };
        if !matches!(&answer, Ok((status, _)) if allowed.contains(status)) {
            tally.unexpected.push(format!("{kind}: {outcome}"));
        }
        if let (Some(took), Ok((200, _))) = (took, &answer) {
            tally.latency.push(took);
        }
        *tally.window.entry((kind.to_owned(), outcome.clone())).or_default() += 1;
        *tally.total.entry((kind.to_owned(), outcome)).or_default() += 1;
    }

    fn ok(&self, method: &str, path: &str, key: &str, body: Value) -> Value {
        let (status, answer) = self
            .call(method, path, key, Some(body.to_string().into_bytes()))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer
    }

    /// A tenant with `limits` running `artifact`; returns its key.
    fn tenant(&self, id: &str, artifact: &str, limits: Value) -> String {
        self.ok(
            "POST",
            "/v1/tenants",
            &self.operator,
            json!({"id": id, "limits": limits}),
        );
        let key = self.ok(
            "POST",
            &format!("/v1/tenants/{id}/keys"),
            &self.operator,
            json!({"label": "soak"}),
        )["key"]
            .as_str()
            .expect("key")
            .to_owned();
        let bytes = std::fs::read(artifact).expect("artifact");
        let (status, uploaded) = self
            .call(
                "POST",
                &format!("/v1/tenants/{id}/plugins?version=1.0.0"),
                &key,
                Some(bytes),
            )
            .expect("upload");
        assert_eq!(status, 201, "{uploaded}");
        self.ok(
            "PUT",
            &format!("/v1/tenants/{id}/pipeline"),
            &key,
            json!({"slots": ["main"]}),
        );
        self.ok(
            "POST",
            &format!("/v1/tenants/{id}/pipeline/main/activate"),
            &key,
            json!({"name": uploaded["name"], "version": "1.0.0"}),
        );
        key
    }
}

fn sample(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{PLUGINS_DIR}/coffee-chain/sample/{file}")).expect("sample");
    serde_json::from_str(&text).expect("json")
}

fn resident_mib(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "?".into();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kb| format!("{}", kb / 1024))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut url, mut operator, mut seconds, mut pid) = (String::new(), String::new(), 60u64, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = value(),
            "--operator-token" => operator = value(),
            "--seconds" => seconds = value().parse().expect("--seconds N"),
            "--pid" => pid = Some(value().parse().expect("--pid PID")),
            other => panic!("unknown argument {other}; see scripts/soak"),
        }
    }
    assert!(
        !url.is_empty() && !operator.is_empty(),
        "--url and --operator-token are required"
    );
    let soak = Arc::new(Soak {
        url,
        operator,
        tally: Mutex::default(),
    });

    let generous = json!({"max_plugin_bytes": 4194304, "memory_bytes": 67108864, "deadline_ms": 50,
                          "fuel": 1_000_000_000u64, "max_concurrent_decisions": 16});
    let coffee = soak.tenant("soak-coffee", COFFEE_CHAIN, generous.clone());
    soak.ok("PUT", "/v1/tenants/soak-coffee/config", &coffee, sample("config.json"));
    soak.ok("PUT", "/v1/tenants/soak-coffee/offers", &coffee, sample("offers.json"));
    let mut hostile = Vec::new();
    for (id, artifact) in [
        ("soak-loop", LOOP_FOREVER),
        ("soak-bomb", MEMORY_BOMB),
        ("soak-trap", TRAP),
    ] {
        let limits = json!({"max_plugin_bytes": 4194304, "memory_bytes": 33554432, "deadline_ms": 50,
                            "fuel": 10_000_000_000u64, "max_concurrent_decisions": 2});
        hostile.push((id, soak.tenant(id, artifact, limits)));
    }
    let workload = Arc::new(Workload::new(Brand::Coffee, 2_000));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();

    for w in 0..4 {
        let (soak, key, workload, stop) = (soak.clone(), coffee.clone(), workload.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let body = workload.bodies[i % workload.bodies.len()].to_vec();
                let started = Instant::now();
                let answer = soak.call("POST", "/v1/tenants/soak-coffee/decide", &key, Some(body));
                soak.record("decide", answer, &[200, 429], Some(started.elapsed()));
                i += 4;
            }
        }));
    }
    {
        let (soak, key, workload, stop) = (soak.clone(), coffee.clone(), workload.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                for _ in 0..100 {
                    batch.extend_from_slice(&workload.bodies[i % workload.bodies.len()]);
                    batch.push(b'\n');
                    i += 1;
                }
                let answer = soak.call("POST", "/v1/tenants/soak-coffee/decide/batch", &key, Some(batch));
                soak.record("batch", answer, &[200, 429], None);
                std::thread::sleep(Duration::from_millis(500));
            }
        }));
    }
    {
        let (soak, key, stop) = (soak.clone(), coffee.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            let bytes = std::fs::read(COFFEE_CHAIN).expect("artifact");
            for n in 1.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let version = format!("2.0.{n}");
                let path = format!("/v1/tenants/soak-coffee/plugins?version={version}");
                let answer = soak.call("POST", &path, &key, Some(variant(&bytes, n)));
                let uploaded = matches!(answer, Ok((201, _)));
                soak.record("upload", answer, &[201], None);
                if uploaded {
                    let body = json!({"name": "coffee-chain", "version": version})
                        .to_string()
                        .into_bytes();
                    let path = "/v1/tenants/soak-coffee/pipeline/main/activate";
                    let answer = soak.call("POST", path, &key, Some(body));
                    soak.record("activate", answer, &[200], None);
                }
                let mut config = sample("config.json");
                config["soak.round"] = json!(n.to_string());
                let answer = soak.call(
                    "PUT",
                    "/v1/tenants/soak-coffee/config",
                    &key,
                    Some(config.to_string().into_bytes()),
                );
                soak.record("config", answer, &[200], None);
                std::thread::sleep(Duration::from_secs(2));
            }
        }));
    }
    for (id, key) in hostile {
        let (soak, stop) = (soak.clone(), stop.clone());
        let body = workload.bodies[0].to_vec();
        workers.push(std::thread::spawn(move || {
            // Each hostile tenant is stopped: the loop by its deadline, the
            // trap as a trap, the bomb by its memory limit, or, when the
            // machine is saturated and its long decision waits behind the
            // server's own work, by the deadline's wall-clock backstop.
            let expected: &[u16] = match id {
                "soak-loop" => &[504, 429],
                "soak-bomb" => &[422, 504, 429],
                _ => &[422, 429],
            };
            while !stop.load(Ordering::Relaxed) {
                let answer = soak.call("POST", &format!("/v1/tenants/{id}/decide"), &key, Some(body.clone()));
                soak.record(id, answer, expected, None);
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    let started = Instant::now();
    println!("soak: {seconds} s against {} (RSS in MiB)", soak.url);
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds).saturating_sub(started.elapsed())));
        let mut tally = soak.tally.lock().expect("tally");
        let window = std::mem::take(&mut tally.window);
        let latency = std::mem::take(&mut tally.latency);
        let counts: Vec<String> = window
            .iter()
            .map(|((kind, outcome), n)| format!("{kind} {outcome}: {n}"))
            .collect();
        println!(
            "t={:>4}s rss={} decide p50 {:.2} ms p99 {:.2} ms | {}",
            started.elapsed().as_secs(),
            resident_mib(pid),
            latency.percentile_us(50.0) / 1000.0,
            latency.percentile_us(99.0) / 1000.0,
            counts.join(", ")
        );
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    let tally = soak.tally.lock().expect("tally");
    println!("totals:");
    for ((kind, outcome), n) in &tally.total {
        println!("  {kind:<10} {outcome:<40} {n}");
    }
    if tally.unexpected.is_empty() {
        println!("no unexpected answers");
    } else {
        println!(
            "{} unexpected answers, first: {}",
            tally.unexpected.len(),
            tally.unexpected[0]
        );
        std::process::exit(1);
    }
}
