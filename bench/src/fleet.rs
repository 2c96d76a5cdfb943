//! 8: rulehost as a fleet on PostgreSQL, side by side with the embedded
//! SQLite store on the same machine: committing decisions over HTTP, how
//! fast an activation reaches another host, and what one logged decision
//! costs each backend. Needs a PostgreSQL cluster (`scripts/bench` starts a
//! throwaway one and sets `RULEHOST_TEST_DATABASE_URL`); each measurement
//! gets a database of its own, dropped at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use rulehost::live::Caller;
use rulehost::model::Timestamp;
use rulehost::policy::Policy;
use rulehost::registry::testing::{count, drop_database, fresh_database};
use rulehost::registry::{LoggedDecision, PageRequest, Tenant, TenantLimits};
use rulehost_test_artifacts::{COFFEE_CHAIN, PLUGINS_DIR};

use crate::scenarios::{Running, agent, in_process_rate, load_hosts, set_up_tenant, sqlite_bytes, start_host, variant};
use crate::stats::{Samples, mean};
use crate::{Table, Workload};

/// Concurrent connections of the committing load.
const CONCURRENCY: usize = 16;

/// Runs section 8, or says why it cannot.
pub fn fleet(table: &mut Table, w: &Workload) {
    if std::env::var_os("RULEHOST_TEST_DATABASE_URL").is_none() {
        table.check(
            "8",
            "a fleet on PostgreSQL",
            "not run: no PostgreSQL (`scripts/bench` starts a throwaway one)".into(),
            "run",
            false,
        );
        return;
    }
    throughput(table, w);
    activation(table, w);
    log_cost(table, w);
}

/// A server on the database at `url` (none: the embedded store).
fn host_on(url: Option<&str>) -> Running {
    match url {
        Some(url) => start_host(&[("RULEHOST_DATABASE_URL", url)]),
        None => start_host(&[]),
    }
}

/// The coffee brand's sample contact policy (caps per channel and week, a
/// holdout): what the ledger is checked against on every decision.
fn sample_policy() -> Policy {
    let text = std::fs::read_to_string(format!("{PLUGINS_DIR}/coffee-chain/sample/policy.json")).expect("the sample");
    rulehost::model::from_json("policy", &text).expect("the sample policy parses")
}

/// The workload's requests with `"commit": true`: each records what it
/// selects in the contact ledger, atomically with the cap checks.
fn committing(w: &Workload) -> Arc<[Bytes]> {
    w.bodies
        .iter()
        .map(|body| {
            let mut request: serde_json::Value = serde_json::from_slice(body).expect("a request");
            request["commit"] = true.into();
            Bytes::from(serde_json::to_vec(&request).expect("json"))
        })
        .collect()
}

/// Sets the sample policy on the `bench` tenant through `server`.
fn put_policy(server: &Running) {
    server
        .runtime
        .block_on(server.live.put_policy(&Caller::Operator, "bench", sample_policy()))
        .expect("policy");
}

/// Committing decisions over HTTP at [`CONCURRENCY`] in alternating
/// one-second rounds: one host on SQLite, one host on PostgreSQL, and two
/// hosts on the same PostgreSQL database (connections split between them).
/// Each round ends when the hosts' decision logs have caught up.
fn throughput(table: &mut Table, w: &Workload) {
    const ROUNDS: usize = 4;
    let bodies = committing(w);
    let (url, database) = fresh_database("bench_fleet");
    let mut sqlite = host_on(None);
    sqlite.key = set_up_tenant(&sqlite, w);
    put_policy(&sqlite);
    let mut a = host_on(Some(&url));
    a.key = set_up_tenant(&a, w);
    put_policy(&a);
    let b = host_on(Some(&url));
    let phase = Duration::from_secs(1);
    let round = |hosts: &[&Running], duration: Duration| {
        let addrs: Vec<_> = hosts.iter().map(|h| h.addr).collect();
        let measured = load_hosts(&addrs, &hosts[0].key, &bodies, CONCURRENCY, duration);
        for host in hosts {
            host.live.flush_log_blocking();
        }
        measured
    };
    // Warm-up: every connection path and both stores' pools.
    for hosts in [&[&sqlite][..], &[&a], &[&a, &b]] {
        round(hosts, Duration::from_millis(300));
    }
    let mut arms: [(Vec<f64>, Samples, usize); 3] = Default::default();
    for _ in 0..ROUNDS {
        for (arm, hosts) in arms.iter_mut().zip([&[&sqlite][..], &[&a], &[&a, &b]]) {
            let (rate, samples, failed) = round(hosts, phase);
            arm.0.push(rate);
            arm.1.extend(samples);
            arm.2 += failed;
        }
    }
    let describe = |(rates, samples, failed): &(Vec<f64>, Samples, usize)| {
        format!(
            "{:.0}/s (p50 {:.2} ms, p99 {:.2} ms, {failed} failed)",
            mean(rates),
            samples.percentile_us(50.0) / 1000.0,
            samples.percentile_us(99.0) / 1000.0
        )
    };
    let rate = |i: usize| mean(&arms[i].0);
    table.info(
        "8",
        &format!("HTTP committing decisions, concurrency {CONCURRENCY}: one host on PostgreSQL / one on SQLite"),
        format!(
            "{} / {} = **{:.2}×**",
            describe(&arms[1]),
            describe(&arms[0]),
            rate(1) / rate(0)
        ),
    );
    let failed = arms.iter().map(|arm| arm.2).sum::<usize>();
    table.check(
        "8",
        "… two hosts / one host, both on PostgreSQL (the same 2 cores)",
        format!(
            "{} / {} = **{:.2}×**",
            describe(&arms[2]),
            describe(&arms[1]),
            rate(2) / rate(1)
        ),
        "≥ 0.9× (no lock-step across hosts), 0 failed",
        rate(2) / rate(1) >= 0.9 && failed == 0,
    );
    for host in [sqlite, a, b] {
        host.stop();
    }
    drop_database(&database);
}

/// The time from an activation committed through host A to the first
/// decision host B makes with the new version, over 20 activations
/// alternating between two versions. B is asked back to back over HTTP.
fn activation(table: &mut Table, w: &Workload) {
    const ACTIVATIONS: usize = 20;
    const GIVE_UP: Duration = Duration::from_secs(10);
    let (url, database) = fresh_database("bench_activation");
    let mut a = host_on(Some(&url));
    a.key = set_up_tenant(&a, w);
    let b = host_on(Some(&url));
    let caller = Caller::Operator;
    let wasm = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let uploaded: Vec<_> = (0..2)
        .map(|i| {
            let bytes = variant(&wasm, 800 + i);
            let upload = a.live.upload(&caller, "bench", None, Some(format!("8.0.{i}")), bytes);
            a.runtime.block_on(upload).expect("upload").0
        })
        .collect();
    let agent = agent();
    let decide_url = format!("http://{}/v1/tenants/bench/decide", b.addr);
    let body = w.bodies[0].clone();
    let decides_with = |version: &str| -> bool {
        let mut response = agent
            .post(&decide_url)
            .header("authorization", &format!("Bearer {}", a.key))
            .header("content-type", "application/json")
            .send(&body[..])
            .expect("B answers");
        let decision: serde_json::Value = response.body_mut().read_json().expect("a decision");
        decision["plugins"]
            .as_array()
            .is_some_and(|plugins| plugins.iter().any(|p| p["version"] == version))
    };
    let mut waits = Samples::default();
    let mut missed = 0;
    for i in 0..ACTIVATIONS + 2 {
        let version = &uploaded[i % 2];
        a.runtime
            .block_on(
                a.live
                    .activate(&caller, "bench", "main", &version.name, &version.version),
            )
            .expect("activate");
        let activated = Instant::now();
        while !decides_with(&version.version) && activated.elapsed() < GIVE_UP {}
        let waited = activated.elapsed();
        // The first two (one per version) warm B's compiled-code cache.
        if i >= 2 {
            if waited >= GIVE_UP {
                missed += 1;
            }
            waits.push(waited);
        }
    }
    let (median, max) = (waits.percentile_us(50.0) / 1000.0, waits.percentile_us(100.0) / 1000.0);
    table.check(
        "8",
        "activation through host A → first decision with it on host B",
        format!("median **{median:.1} ms**, max **{max:.1} ms** ({ACTIVATIONS} activations, {missed} never seen)"),
        "≤ 1 s",
        max <= 1000.0 && missed == 0,
    );
    a.stop();
    b.stop();
    drop_database(&database);
}

/// What one logged decision costs each backend: the same real log entries
/// (taken from decisions a server made and logged, each keeping its
/// request) appended in batches of 512 — as the log writer appends them —
/// to a fresh SQLite store and a fresh PostgreSQL store in alternating
/// batches. CPU counts this process and, for PostgreSQL, every process of
/// the cluster; bytes are what the store grew by.
fn log_cost(table: &mut Table, w: &Workload) {
    const BATCH: usize = 512;
    const BATCHES: usize = 8;
    let entries = logged_entries(w, BATCH);
    let (url, database) = fresh_database("bench_log");
    let sqlite_dir = tempfile::tempdir().expect("temp dir");
    let pg_dir = tempfile::tempdir().expect("temp dir");
    let sqlite = rulehost::registry::open(None, sqlite_dir.path(), 1).expect("SQLite store");
    let pg = rulehost::registry::open(Some(&url), pg_dir.path(), 4).expect("PostgreSQL store");
    let cluster = Cluster::find(&url);
    for store in [&sqlite, &pg] {
        store
            .create_tenant(
                "bench",
                &Tenant {
                    id: "bench".into(),
                    name: "bench".into(),
                    tz_offset_minutes: 480,
                    disabled: false,
                    limits: TenantLimits::default(),
                    created_at: Timestamp(0),
                },
            )
            .expect("tenant");
    }
    let database_bytes = || count(&url, "SELECT pg_database_size(current_database())") as u64;
    let (sqlite_before, pg_before) = (sqlite_bytes(sqlite_dir.path()), database_bytes());
    let (mut sqlite_cpu, mut pg_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut serial = 0u64;
    let mut batch = || -> Vec<LoggedDecision> {
        let now = Timestamp::now();
        entries
            .iter()
            .map(|e| {
                serial += 1;
                LoggedDecision {
                    id: format!("{:012x}{serial:08x}", now.0),
                    at: now,
                    ..e.clone()
                }
            })
            .collect()
    };
    for _ in 0..BATCHES {
        let entries = batch();
        let started = process_cpu();
        sqlite.log_decisions(&entries).expect("logs");
        sqlite_cpu += process_cpu() - started;
        let entries = batch();
        let (started, cluster_started) = (process_cpu(), cluster.as_ref().map(Cluster::cpu));
        pg.log_decisions(&entries).expect("logs");
        pg_cpu += process_cpu() - started;
        if let (Some(cluster), Some(before)) = (&cluster, cluster_started) {
            pg_cpu += cluster.cpu().saturating_sub(before);
        }
    }
    let n = (BATCH * BATCHES) as f64;
    let sqlite_kb = (sqlite_bytes(sqlite_dir.path()) - sqlite_before) as f64 / n / 1024.0;
    let pg_kb = database_bytes().saturating_sub(pg_before) as f64 / n / 1024.0;
    let mean_body = entries.iter().map(|e| e.body.len()).sum::<usize>() as f64 / entries.len() as f64 / 1024.0;
    let cpu_us = |total: Duration| total.as_secs_f64() * 1e6 / n;
    let cluster_note = if cluster.is_some() {
        "this process and the cluster's"
    } else {
        "this process only: the cluster's processes are not on this machine"
    };
    table.info(
        "8",
        "one logged decision (a real entry keeping its request), PostgreSQL / SQLite",
        format!(
            "CPU {:.0} µs / {:.0} µs = **{:.2}×** ({cluster_note}); stored {pg_kb:.1} KB / {sqlite_kb:.1} KB \
             (entry {mean_body:.1} KB of JSON; {} entries each, batches of {BATCH})",
            cpu_us(pg_cpu),
            cpu_us(sqlite_cpu),
            pg_cpu.as_secs_f64() / sqlite_cpu.as_secs_f64(),
            BATCH * BATCHES,
        ),
    );
    drop(pg);
    drop_database(&database);
}

/// `n` entries of the decision log as a server writes them: one second of
/// real decisions on a SQLite host, read back.
fn logged_entries(w: &Workload, n: usize) -> Vec<LoggedDecision> {
    let mut server = host_on(None);
    server.key = set_up_tenant(&server, w);
    put_policy(&server);
    while in_process_rate(&server.live, w, Duration::from_millis(500), 2).1.len() < n {}
    let mut entries = Vec::with_capacity(n);
    let mut page = PageRequest {
        after: None,
        limit: Some(500),
    };
    while entries.len() < n {
        let listed = server
            .runtime
            .block_on(server.live.logged_decisions("bench", None, page.clone()))
            .expect("a page");
        for summary in &listed.items {
            let body = server
                .runtime
                .block_on(server.live.logged_decision("bench", &summary.id))
                .expect("an entry");
            entries.push(LoggedDecision {
                tenant_id: "bench".into(),
                id: summary.id.clone(),
                at: summary.at,
                customer_id: summary.customer_id.clone(),
                body: body.to_string(),
            });
        }
        page.after = listed.next;
        assert!(
            page.after.is_some() || entries.len() >= n,
            "the log holds fewer than {n} entries"
        );
    }
    entries.truncate(n);
    server.stop();
    entries
}

/// CPU time of this process, every thread.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The processes of the PostgreSQL cluster a URL names, when it runs on
/// this machine: its postmaster (found by the port on its command line)
/// and the postmaster's children.
struct Cluster {
    postmaster: u32,
}

impl Cluster {
    fn find(url: &str) -> Option<Self> {
        let port = url.rsplit_once(':')?.1.split('/').next()?.to_owned();
        let postmaster = pids().into_iter().find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"postgres"))
                && args.windows(2).any(|w| w[0] == b"-p" && w[1] == port.as_bytes())
        })?;
        Some(Self { postmaster })
    }

    /// CPU time of the postmaster and its children, from their schedstat
    /// (nanoseconds on a CPU).
    fn cpu(&self) -> Duration {
        pids()
            .into_iter()
            .filter(|&pid| pid == self.postmaster || parent(pid) == Some(self.postmaster))
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
                stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
            })
            .sum()
    }
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, then the parent's pid.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}
