//! The measurements, in the order of the table.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper_util::rt::TokioIo;

use rulehost::engine::{Engine, Limits, Plugin};
use rulehost::generate::Brand;
use rulehost::input::{self, InputLimits};
use rulehost::live::{Caller, DecideRequest, Live};
use rulehost::model::{self, Request, TenantConfig, Timestamp};
use rulehost::pipeline::{self, Phases};
use rulehost::registry::{Tenant, TenantLimits};
use rulehost::request::{Arrived, Refused};
use rulehost::server::{Overrides, Server, ServerConfig};
use rulehost_test_artifacts::{
    APPAREL_RFM, COFFEE_CHAIN, COFFEE_CHAIN_DORMANT_10, FIXED_OUTPUT, FROZEN_COFFEE_CHAIN_V0_1, LOOP_FOREVER,
};

use crate::stats::{Samples, mean};
use crate::{PROFILES, Table, Workload, engine, load, native};

const TENANTS: usize = 100;

/// Runs the scenarios whose section numbers are in `only` (all if empty).
pub fn run_all(table: &mut Table, only: &[u32]) {
    let wanted = |section: u32| only.is_empty() || only.contains(&section);
    let coffee = Workload::new(Brand::Coffee, PROFILES);
    let apparel = Workload::new(Brand::Apparel, PROFILES);
    table.info(
        "0",
        "workload",
        format!(
            "{PROFILES} generated profiles per brand; mean request {:.1} KB (coffee), {:.1} KB (apparel)",
            coffee.mean_body_bytes() as f64 / 1024.0,
            apparel.mean_body_bytes() as f64 / 1024.0
        ),
    );
    let engine = engine();
    let mut coffee_wasm_us = None;
    if wanted(1) || wanted(3) {
        coffee_wasm_us = Some(wasm_vs_native(table, &engine, &coffee));
    }
    if wanted(1) {
        wasm_vs_native(table, &engine, &apparel);
        request_to_frame(table, &coffee);
    }
    if wanted(2) {
        sandbox_overhead(table, &engine);
    }
    if let Some(coffee_wasm_us) = coffee_wasm_us.filter(|_| wanted(3)) {
        data_passing(table, &engine, &coffee, coffee_wasm_us);
    }
    if wanted(4) {
        scaling(table, &engine, &coffee);
    }
    if wanted(5) {
        http(table, &coffee);
        noisy_neighbour(table, &coffee);
    }
    if wanted(6) {
        live_operations(table);
    }
    if wanted(7) {
        simulation(table, &engine, &coffee);
        shadow_overhead(table, &coffee);
        log_requests(table, &coffee);
    }
    if wanted(8) {
        crate::fleet::fleet(table, &coffee);
    }
    if wanted(9) {
        crate::languages::languages(table, &coffee);
    }
    if wanted(10) {
        crate::always_on::always_on(table, &coffee);
    }
}

fn limits() -> Limits {
    Limits::default()
}

fn wasm_decide(engine: &Engine, plugin: &Arc<Plugin>, request: &Request, config: &Arc<TenantConfig>) -> Duration {
    wasm_decide_timed(engine, plugin, request, config, &mut Phases::default())
}

/// [`wasm_decide`], recording where the decision's time went in `phases`.
fn wasm_decide_timed(
    engine: &Engine,
    plugin: &Arc<Plugin>,
    request: &Request,
    config: &Arc<TenantConfig>,
    phases: &mut Phases,
) -> Duration {
    let started = Instant::now();
    let decision = pipeline::decide_timed(
        engine,
        None,
        std::slice::from_ref(plugin),
        request,
        config.clone(),
        &limits(),
        phases,
    );
    let elapsed = started.elapsed();
    if let Err(e) = decision {
        panic!("a wasm decision failed: {e}");
    }
    elapsed
}

fn native_prepare(brand: Brand, request: &Request) -> native::Prepared {
    match brand {
        Brand::Coffee => native::prepare::<coffee_chain::CoffeeChain>(request),
        Brand::Apparel => native::prepare::<apparel_rfm::ApparelRfm>(request),
    }
    .unwrap_or_else(|e| panic!("a native decision failed: {e}"))
}

/// The plugin's rules natively, on input prepared before the clock starts.
fn native_rules(brand: Brand, prepared: native::Prepared) -> Duration {
    let started = Instant::now();
    let outputs = match brand {
        Brand::Coffee => native::rules::<coffee_chain::CoffeeChain>(prepared),
        Brand::Apparel => native::rules::<apparel_rfm::ApparelRfm>(prepared),
    };
    let elapsed = started.elapsed();
    std::hint::black_box(outputs.unwrap_or_else(|e| panic!("a native decision failed: {e}")));
    elapsed
}

/// A fresh store and the plugin's session opened on an input with nothing
/// in it: instantiation without the input's lowering.
fn instantiate(engine: &Engine, plugin: &Arc<Plugin>, empty: &[u8]) -> Duration {
    let config = Arc::new(TenantConfig::default());
    let started = Instant::now();
    let run = engine
        .start(None, std::slice::from_ref(plugin), &limits(), config, empty)
        .expect("instantiates");
    let elapsed = started.elapsed();
    drop(run);
    elapsed
}

/// Where a sandboxed decision's time goes, summed over many.
#[derive(Default)]
struct Breakdown {
    build: Samples,
    start: Samples,
    instantiate: Samples,
    calls: Samples,
    assemble: Samples,
}

/// 1: the same plugin crate in the sandbox, end to end from a parsed
/// request, against its rules alone natively on input already built;
/// interleaved in ten chunks over the same profiles, with where the
/// sandbox's time goes. Returns the sandbox's mean in µs.
fn wasm_vs_native(table: &mut Table, engine: &Engine, w: &Workload) -> f64 {
    let plugin = load(
        engine,
        match w.brand {
            Brand::Coffee => COFFEE_CHAIN,
            Brand::Apparel => APPAREL_RFM,
        },
    );
    rulehost_sdk::native::set_config(w.config.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    let empty = input::build(&empty_request(), &InputLimits::default()).expect("input");
    // The coffee plugin's frozen build against contract 0.1.0, beside the
    // current one: the same decisions, at what cost.
    let frozen = matches!(w.brand, Brand::Coffee).then(|| load(engine, FROZEN_COFFEE_CHAIN_V0_1));
    let (mut checked, mut differing) = (0, 0);
    let mut phases = Phases::default();
    for request in w.requests.iter().take(500) {
        native_rules(w.brand, native_prepare(w.brand, request));
        wasm_decide_timed(engine, &plugin, request, &w.config, &mut phases);
        instantiate(engine, &plugin, &empty);
        if let Some(frozen) = &frozen {
            let decide = |p: &Arc<Plugin>| {
                pipeline::decide(
                    engine,
                    None,
                    std::slice::from_ref(p),
                    request,
                    w.config.clone(),
                    &limits(),
                )
                .map(|d| (d.stage, d.tags, d.scores, d.proposals, d.logs))
                .map_err(|e| e.to_string())
            };
            checked += 1;
            differing += usize::from(decide(frozen) != decide(&plugin));
        }
    }
    let (mut wasm, mut native, mut parts) = (Samples::default(), Samples::default(), Breakdown::default());
    let mut old = Samples::default();
    for chunk in w.requests.chunks(w.requests.len().div_ceil(10)) {
        let prepared: Vec<_> = chunk.iter().map(|r| native_prepare(w.brand, r)).collect();
        for prepared in prepared {
            native.push(native_rules(w.brand, prepared));
        }
        for request in chunk {
            wasm.push(wasm_decide_timed(engine, &plugin, request, &w.config, &mut phases));
            parts.build.push(phases.build);
            parts.start.push(phases.start);
            parts.calls.push(phases.calls);
            parts.assemble.push(phases.assemble);
            parts.instantiate.push(instantiate(engine, &plugin, &empty));
        }
        if let Some(frozen) = &frozen {
            for request in chunk {
                old.push(wasm_decide(engine, frozen, request, &w.config));
            }
        }
    }
    if frozen.is_some() {
        table.check(
            "1",
            &format!("{}: the frozen contract 0.1.0 build beside the 0.2.0 build", w.plugin),
            format!(
                "0.1.0 {:.1} µs (p50 {:.1}, p99 {:.1}) / 0.2.0 {:.1} µs = {:.2}×; decisions differing: **{differing} of {checked}**",
                old.mean_us(),
                old.percentile_us(50.0),
                old.percentile_us(99.0),
                wasm.mean_us(),
                old.mean_us() / wasm.mean_us()
            ),
            "same decisions",
            differing == 0 && checked > 0,
        );
    }
    let ratio = wasm.mean_us() / native.mean_us();
    table.check(
        "1",
        &format!("{}: sandbox end to end / native rules", w.plugin),
        format!(
            "sandbox {:.1} µs (p50 {:.1}, p99 {:.1}) / native {:.1} µs (p50 {:.1}) = **{ratio:.1}×**",
            wasm.mean_us(),
            wasm.percentile_us(50.0),
            wasm.percentile_us(99.0),
            native.mean_us(),
            native.percentile_us(50.0)
        ),
        "≤ 3×",
        ratio <= 3.0,
    );
    let lowering = parts.start.mean_us() - parts.instantiate.mean_us();
    let build_and_in = parts.build.mean_us() + lowering;
    let figure = format!(
        "build {:.1} + instantiate {:.1} + in {lowering:.1} + calls {:.1} (native rules {:.1}) + assemble {:.1} µs; \
         build + in = **{build_and_in:.1} µs**",
        parts.build.mean_us(),
        parts.instantiate.mean_us(),
        parts.calls.mean_us(),
        native.mean_us(),
        parts.assemble.mean_us(),
    );
    let what = format!("{}: where a sandboxed decision's time goes (means)", w.plugin);
    match w.brand {
        Brand::Coffee => table.check("1", &what, figure, "build + in ≤ 10 µs", build_and_in <= 10.0),
        Brand::Apparel => table.info("1", &what, figure),
    }
    wasm.mean_us()
}

/// 1: a decide request's body to its input frame, read in one pass (what
/// the decide routes do) against parsed into the model and then written
/// (what they did before), alternating over the same bodies.
fn request_to_frame(table: &mut Table, w: &Workload) {
    let limits = InputLimits::default();
    let (mut one_pass, mut modelled) = (Samples::default(), Samples::default());
    let (mut writer, mut frame) = (rulehost_layout::input::InputWriter::default(), Vec::new());
    for round in 0..2 {
        for (body, request) in w.bodies.iter().zip(&w.requests).take(3_000) {
            let context = input::Context::of(request);
            let t = Instant::now();
            let framed = Arrived::parse(body.clone(), &limits)
                .and_then(|a| {
                    a.frame_sent(context, request.offers.clone(), &limits)
                        .map_err(Refused::Input)
                })
                .expect("a frame");
            let a = t.elapsed();
            std::hint::black_box(framed);
            let t = Instant::now();
            let parsed: DecideRequest = model::parse_json(body).expect("a request");
            let parsed = Request {
                profile: parsed.profile,
                trigger: parsed.trigger,
                ..request.clone()
            };
            input::write(&parsed, &limits, &mut writer, &mut frame).expect("a frame");
            let b = t.elapsed();
            std::hint::black_box(&frame);
            if round > 0 {
                one_pass.push(a);
                modelled.push(b);
            }
        }
    }
    table.info(
        "1",
        &format!("{}: request body → input frame, one pass / through the model", w.plugin),
        format!(
            "one pass {:.1} µs (p50 {:.1}, p99 {:.1}) / model parse + write {:.1} µs (p50 {:.1}, p99 {:.1}) = **{:.2}×**",
            one_pass.mean_us(),
            one_pass.percentile_us(50.0),
            one_pass.percentile_us(99.0),
            modelled.mean_us(),
            modelled.percentile_us(50.0),
            modelled.percentile_us(99.0),
            one_pass.mean_us() / modelled.mean_us()
        ),
    );
}

fn empty_request() -> Request {
    Request {
        now: Timestamp::parse(rulehost::generate::DEFAULT_NOW).expect("now"),
        tz_offset_minutes: 480,
        seed: 0,
        mode: model::Mode::Live,
        trigger: None,
        profile: model::from_json("profile", r#"{"customer_id": "c"}"#).expect("profile"),
        offers: Vec::new().into(),
    }
}

/// 2: a fresh store, instantiation, one empty call, drop.
fn sandbox_overhead(table: &mut Table, engine: &Engine) {
    let plugin = load(engine, FIXED_OUTPUT);
    let empty = input::build(&empty_request(), &InputLimits::default()).expect("input");
    let config = Arc::new(TenantConfig::default());
    let mut samples = Samples::default();
    for i in 0..25_000 {
        let started = Instant::now();
        let mut run = engine
            .start(None, std::slice::from_ref(&plugin), &limits(), config.clone(), &empty)
            .expect("instantiates");
        std::hint::black_box(run.tag(0).expect("empty call"));
        drop(run);
        if i >= 5_000 {
            samples.push(started.elapsed());
        }
    }
    let (p50, p99) = (samples.percentile_us(50.0), samples.percentile_us(99.0));
    table.check(
        "2",
        "sandbox overhead: fresh store + instantiate + empty call + drop",
        format!("p50 **{p50:.1} µs**, p99 **{p99:.1} µs** ({} runs)", samples.len()),
        "p50 ≤ 15 µs, p99 ≤ 50 µs",
        p50 <= 15.0 && p99 <= 50.0,
    );
}

/// 3: what passing a profile in and a decision out costs, measured with a
/// plugin that has no rules: a full profile against an empty one (input),
/// and a coffee-sized output against none (output).
fn data_passing(table: &mut Table, engine: &Engine, w: &Workload, coffee_wasm_us: f64) {
    let plugin = load(engine, FIXED_OUTPUT);
    let none = Arc::new(TenantConfig::default());
    let sized: TenantConfig =
        model::from_json("config", r#"{"tags": 3, "scores": 3, "proposals": 1}"#).expect("config");
    let sized = Arc::new(sized);
    let empty = empty_request();
    let requests: Vec<&Request> = w.requests.iter().take(3_000).collect();
    let (mut full, mut bare, mut output) = (Samples::default(), Samples::default(), Samples::default());
    for round in 0..2 {
        for (i, request) in requests.iter().enumerate() {
            // A first run brings the request into the CPU caches, so the
            // runs compared below all find it there; their order alternates.
            wasm_decide(engine, &plugin, request, &none);
            let (f, o) = if i % 2 == 0 {
                let f = wasm_decide(engine, &plugin, request, &none);
                (f, wasm_decide(engine, &plugin, request, &sized))
            } else {
                let o = wasm_decide(engine, &plugin, request, &sized);
                (wasm_decide(engine, &plugin, request, &none), o)
            };
            let b = wasm_decide(engine, &plugin, &empty, &none);
            if round > 0 {
                full.push(f);
                bare.push(b);
                output.push(o);
            }
        }
    }
    let lower = full.mean_us() - bare.mean_us();
    let lift = output.mean_us() - full.mean_us();
    let share = (lower + lift) / coffee_wasm_us * 100.0;
    table.info(
        "3",
        "data passing: profile in + decision out",
        format!(
            "in {lower:.1} µs + out {lift:.1} µs = **{share:.0}%** of a coffee decision ({coffee_wasm_us:.1} µs); \
             a decision with no rules and no data: {:.1} µs",
            bare.mean_us()
        ),
    );
}

/// 4: in-process decisions per second on one and on two threads.
fn scaling(table: &mut Table, engine: &Engine, w: &Workload) {
    let plugin = load(engine, COFFEE_CHAIN);
    let per_thread = 4_000;
    let rate = |threads: usize| {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (plugin, w) = (&plugin, &w);
                scope.spawn(move || {
                    for request in w.requests.iter().skip(t * per_thread).take(per_thread) {
                        wasm_decide(engine, plugin, request, &w.config);
                    }
                });
            }
        });
        (threads * per_thread) as f64 / started.elapsed().as_secs_f64()
    };
    rate(1);
    let (one, two) = (rate(1), rate(2));
    let ratio = two / one;
    table.check(
        "4",
        "scaling: in-process decisions/s, 1 → 2 threads",
        format!("{one:.0}/s → {two:.0}/s = **{ratio:.2}×**"),
        "≥ 1.8×",
        ratio >= 1.8,
    );
}

/// A server in this process, with a coffee tenant.
pub(crate) struct Running {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) live: Arc<Live>,
    /// The `bench` tenant's key (empty until it is set up).
    pub(crate) key: String,
    /// Runs calls on the server's runtime.
    pub(crate) runtime: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    pub(crate) dir: tempfile::TempDir,
}

impl Running {
    /// Stops the server and waits for it.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn start_server(w: &Workload) -> Running {
    start_server_with(w, &[])
}

/// [`start_server`] with extra `RULEHOST_*` settings.
pub(crate) fn start_server_with(w: &Workload, settings: &[(&str, &str)]) -> Running {
    let mut server = start_host(settings);
    server.key = set_up_tenant(&server, w);
    server
}

/// A server with `RULEHOST_*` settings, running and ready.
pub(crate) fn start_host(settings: &[(&str, &str)]) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = Overrides {
        config_file: None,
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_owned()),
    };
    let env: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = ServerConfig::load(&overrides, env).expect("settings");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(Server::bind(&config, false)).expect("binds");
    let (addr, live) = (server.local_addr().expect("addr"), server.live().clone());
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = runtime.block_on(server.run(async move {
            let _ = stopped.await;
        }));
    });
    while !live.is_ready() {
        std::thread::sleep(Duration::from_millis(5));
    }
    Running {
        addr,
        live,
        key: String::new(),
        runtime: handle,
        stop,
        thread,
        dir,
    }
}

/// Sets up the `bench` tenant on `server` (the brand's config and catalog,
/// coffee-chain active in slot `main`) and returns a key of it.
pub(crate) fn set_up_tenant(server: &Running, w: &Workload) -> String {
    let limits = TenantLimits {
        max_concurrent_decisions: 256,
        ..TenantLimits::default()
    };
    add_tenant(server, "bench", limits, COFFEE_CHAIN, Some(w))
}

/// Creates tenant `id` with `limits` on `server`, running the plugin built
/// at `artifact` in slot `main` (with `brand`'s config and catalog when
/// given), and returns a key of it.
pub(crate) fn add_tenant(
    server: &Running,
    id: &str,
    limits: TenantLimits,
    artifact: &str,
    brand: Option<&Workload>,
) -> String {
    let live = &server.live;
    server.runtime.block_on(async {
        let caller = Caller::Operator;
        let tenant = Tenant {
            id: id.into(),
            name: id.into(),
            tz_offset_minutes: 480,
            disabled: false,
            limits,
            created_at: Timestamp(0),
        };
        live.create_tenant(&caller, tenant, Some(limits)).await.expect("tenant");
        if let Some(w) = brand {
            live.put_config(&caller, id, (*w.config).clone()).await.expect("config");
            live.put_offers(&caller, id, w.offers.clone()).await.expect("offers");
        }
        let wasm = std::fs::read(artifact).expect("artifact");
        let (version, _) = live.upload(&caller, id, None, None, wasm).await.expect("upload");
        live.set_pipeline(&caller, id, vec!["main".into()])
            .await
            .expect("pipeline");
        live.activate(&caller, id, "main", &version.name, &version.version)
            .await
            .expect("activate");
        live.create_key(&caller, id, id.into()).await.expect("key").1
    })
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// Requests per second and latencies at `concurrency` for `duration`: a
/// load generator on one thread (an async HTTP/1.1 client with one
/// keep-alive connection per concurrent request), so it takes as little of
/// the two cores from the server as a client can.
fn load_http(server: &Running, w: &Workload, concurrency: usize, duration: Duration) -> (f64, Samples, usize) {
    let (rate, samples, failed) = load_hosts(&[server.addr], &server.key, &w.bodies, concurrency, duration);
    // Writing the decision log is part of every decision's cost.
    server.live.flush_log_blocking();
    (rate, samples, failed)
}

/// [`load_http`] spread over `hosts` (connection `c` goes to host `c %
/// hosts.len()`), sending `bodies` to the `bench` tenant with `key`.
pub(crate) fn load_hosts(
    hosts: &[std::net::SocketAddr],
    key: &str,
    bodies: &Arc<[Bytes]>,
    concurrency: usize,
    duration: Duration,
) -> (f64, Samples, usize) {
    load_to(
        hosts,
        key,
        ("/v1/tenants/bench/decide", "application/json"),
        bodies,
        concurrency,
        (duration, false),
    )
}

/// [`load_hosts`] posting to `target` (a path and the bodies' media type)
/// for `duration`; with `once`, no body is sent twice (the connections
/// share them out and stop early when every one is sent).
pub(crate) fn load_to(
    hosts: &[std::net::SocketAddr],
    key: &str,
    target: (&'static str, &'static str),
    bodies: &Arc<[Bytes]>,
    concurrency: usize,
    (duration, once): (Duration, bool),
) -> (f64, Samples, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the client's runtime");
    let auth = HeaderValue::from_str(&format!("Bearer {key}")).expect("a header");
    let started = Instant::now();
    let results = runtime.block_on(async {
        let until = tokio::time::Instant::now() + duration;
        let clients: Vec<_> = (0..concurrency)
            .map(|c| {
                let host = hosts[c % hosts.len()];
                let turns = if once { (c, concurrency) } else { (c * 97, 1) };
                tokio::spawn(client(host, auth.clone(), target, (bodies.clone(), once), turns, until))
            })
            .collect();
        let mut results = Vec::new();
        for client in clients {
            results.push(client.await.expect("a client"));
        }
        results
    });
    let failed = results.iter().map(|(_, f)| f).sum();
    let all: Samples = results.into_iter().map(|(s, _)| s).collect();
    (all.rate(started.elapsed()), all, failed)
}

/// One connection posting `bodies` to `target` back to back until `until`.
async fn client(
    addr: std::net::SocketAddr,
    auth: HeaderValue,
    (path, content_type): (&'static str, &'static str),
    (bodies, once): (Arc<[Bytes]>, bool),
    (mut i, step): (usize, usize),
    until: tokio::time::Instant,
) -> (Samples, usize) {
    let (mut samples, mut failed) = (Samples::default(), 0);
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 connection");
    tokio::spawn(connection);
    while tokio::time::Instant::now() < until && !(once && i >= bodies.len()) {
        let body = bodies[i % bodies.len()].clone();
        i += step;
        let request = hyper::Request::post(path)
            .header(header::AUTHORIZATION, auth.clone())
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .expect("a request");
        let t = Instant::now();
        if sender.ready().await.is_err() {
            failed += 1;
            break;
        }
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status() == hyper::StatusCode::OK;
                let read = response.into_body().collect().await;
                if ok && read.is_ok() {
                    samples.push(t.elapsed());
                } else {
                    failed += 1;
                }
            }
            Err(_) => {
                failed += 1;
                break;
            }
        }
    }
    (samples, failed)
}

/// The same JSON bodies decided in this process on `threads` threads:
/// parsing, plugins, policy and the decision log, without HTTP. Returns the
/// rate and each decision's latency.
pub(crate) fn in_process_rate(live: &Live, w: &Workload, duration: Duration, threads: usize) -> (f64, Samples) {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<Samples> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut samples = Samples::default();
                    let mut i = t * 997;
                    while !stop.load(Ordering::Relaxed) {
                        let body = &w.bodies[i % w.bodies.len()];
                        i += 1;
                        let t = Instant::now();
                        let request = Arrived::parse(body.clone(), &InputLimits::default()).expect("a request");
                        let (snapshot, permit) = live.admit("bench").expect("admitted");
                        let decision = live.decide_blocking(&snapshot, request).expect("decides");
                        drop(permit);
                        std::hint::black_box(serde_json::to_vec(&decision).expect("json"));
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().expect("worker")).collect()
    });
    live.flush_log_blocking();
    let all: Samples = results.into_iter().collect();
    (all.rate(started.elapsed()), all)
}

/// 5: decide over HTTP on loopback against the same in process. The two
/// alternate in short rounds, so a noisy stretch of the machine hits both;
/// each phase ends when the decision log has caught up, so neither gets
/// ahead by leaving its logging for later (or by having it dropped).
/// HTTP decisions/s at concurrency 16 on this machine before contract
/// 0.2.0 (BENCHMARKS.md, issue 7's run), the base of issue 16's target.
const HTTP_C16_BEFORE_V0_2: f64 = 3649.0;

fn http(table: &mut Table, w: &Workload) {
    const ROUNDS: usize = 3;
    let server = start_server(w);
    let phase = Duration::from_secs(1);
    load_http(&server, w, 4, Duration::from_millis(500));
    let dropped_before = server.live.log_dropped();
    let mut inproc_rates = Vec::new();
    for concurrency in [1, 16, 64] {
        let (mut http_rates, mut samples, mut failed) = (Vec::new(), Samples::default(), 0);
        let mut inproc = Vec::new();
        for _ in 0..ROUNDS {
            inproc.push(in_process_rate(&server.live, w, phase, 2).0);
            let (rate, s, f) = load_http(&server, w, concurrency, phase);
            http_rates.push(rate);
            samples.extend(s);
            failed += f;
        }
        let (rate, inproc_rate) = (mean(&http_rates), mean(&inproc));
        inproc_rates.extend(inproc);
        let (p50, p99) = (
            samples.percentile_us(50.0) / 1000.0,
            samples.percentile_us(99.0) / 1000.0,
        );
        let figure = format!(
            "{rate:.0}/s = **{:.2}×** in-process ({inproc_rate:.0}/s alongside); p50 {p50:.2} ms, p99 **{p99:.2} ms**; \
             {failed} failed",
            rate / inproc_rate
        );
        let what = format!("HTTP decide, concurrency {concurrency}");
        if concurrency == 16 {
            let met = rate / inproc_rate >= 0.6 && p99 <= 5.0 && failed == 0;
            table.check("5", &what, figure, "≥ 0.6× in-process, p99 ≤ 5 ms", met);
            // Issue 16's target: twice this machine's figure before it
            // (BENCHMARKS.md, issue 7's run: 3,649/s).
            table.check(
                "5",
                "HTTP decide, concurrency 16, against the figure before contract 0.2.0",
                format!(
                    "{rate:.0}/s = **{:.2}×** 3649/s; p99 {p99:.2} ms",
                    rate / HTTP_C16_BEFORE_V0_2
                ),
                "≥ 2× (7298/s), p99 ≤ 5 ms",
                rate >= 2.0 * HTTP_C16_BEFORE_V0_2 && p99 <= 5.0 && failed == 0,
            );
        } else {
            table.info("5", &what, figure);
        }
    }
    // The same 16 decisions at a time without HTTP: how much of the tail is
    // two cores shared sixteen ways rather than HTTP.
    let (rate16, samples16) = in_process_rate(&server.live, w, Duration::from_secs(2), 16);
    table.info(
        "5",
        "in-process decide on 16 threads (no HTTP)",
        format!(
            "{rate16:.0}/s; p50 {:.2} ms, p99 **{:.2} ms**",
            samples16.percentile_us(50.0) / 1000.0,
            samples16.percentile_us(99.0) / 1000.0
        ),
    );
    table.info(
        "5",
        "in-process decide (JSON in and out, policy, decision log; 2 threads)",
        format!(
            "{:.0}/s mean of {} one-second rounds; {} log entries dropped",
            mean(&inproc_rates),
            inproc_rates.len(),
            server.live.log_dropped() - dropped_before
        ),
    );
    server.stop();
}

/// 5: a tenant's decide latency next to another whose plugins loop until
/// their deadline (four at once, 200 ms each, on two cores; six clients so
/// it is always at its limit). The promise of `engine::lanes`: such a
/// tenant uses only the cores nobody else wants. Measured here rather than
/// asserted in the e2e test (which checks that everyone is still served):
/// a latency ratio is a target, and the machine's noise is the bench's to
/// report.
fn noisy_neighbour(table: &mut Table, w: &Workload) {
    let server = start_server(w);
    let noisy_limits = TenantLimits {
        max_plugin_bytes: 4 << 20,
        memory_bytes: 64 << 20,
        deadline_ms: 200,
        fuel: 10_000_000_000,
        max_concurrent_decisions: 4,
        ..TenantLimits::default()
    };
    let noisy_key = add_tenant(&server, "noisy", noisy_limits, LOOP_FOREVER, None);
    let quiet = |d| load_hosts(&[server.addr], &server.key, &w.bodies, 1, d).1;
    quiet(Duration::from_millis(300));
    let mut alone = quiet(Duration::from_secs(2));
    let stop = AtomicBool::new(false);
    let (timeouts, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let url = format!("http://{}/v1/tenants/noisy/decide", server.addr);
    let loaded = std::thread::scope(|scope| {
        for c in 0..6 {
            let (stop, timeouts, refused, url, key) = (&stop, &timeouts, &refused, &url, &noisy_key);
            scope.spawn(move || {
                let agent = agent();
                while !stop.load(Ordering::Relaxed) {
                    let body = &w.bodies[c % w.bodies.len()];
                    let response = agent
                        .post(url)
                        .header("authorization", &format!("Bearer {key}"))
                        .header("content-type", "application/json")
                        .send(&body[..])
                        .expect("the server answers");
                    match response.status().as_u16() {
                        504 => timeouts.fetch_add(1, Ordering::Relaxed),
                        429 => {
                            // As Retry-After asks: a flood of refusals would
                            // be the HTTP layer's load, not a plugin's.
                            std::thread::sleep(Duration::from_secs(1));
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("the looping tenant got {other}"),
                    };
                }
            });
        }
        // Let every looping decision get going.
        std::thread::sleep(Duration::from_millis(300));
        let loaded = quiet(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        loaded
    });
    alone.extend(quiet(Duration::from_secs(2)));
    let (p99_alone, p99_loaded) = (alone.percentile_us(99.0) / 1000.0, loaded.percentile_us(99.0) / 1000.0);
    table.check(
        "5",
        "HTTP decide p99 (one client) next to a tenant saturated with looping plugins",
        format!(
            "{p99_loaded:.2} ms = **{:.2}×** alone ({p99_alone:.2} ms, before and after); {} timeouts, {} refusals",
            p99_loaded / p99_alone,
            timeouts.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed)
        ),
        "≤ 2× alone",
        p99_loaded <= 2.0 * p99_alone,
    );
    server.stop();
}

/// A copy of a component with a custom section appended: other bytes, so
/// another sha256 and its own compilation, the same behaviour.
pub fn variant(bytes: &[u8], i: usize) -> Vec<u8> {
    use rulehost::fuzzing::leb128 as leb;
    let name = b"rulehost-bench-variant";
    let payload = i.to_string();
    let mut content = Vec::new();
    leb(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    leb(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// 6: upload to active; readiness after a restart with 100 tenants, warm
/// and cold; resident memory per loaded plugin version.
fn live_operations(table: &mut Table) {
    let w = Workload::new(Brand::Coffee, 10);
    let server = start_server(&w);
    let wasm = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let agent = agent();
    let auth = format!("Bearer {}", server.key);
    let mut samples = Samples::default();
    for i in 0..5 {
        let started = Instant::now();
        let version = format!("v{i}");
        let mut upload = agent
            .post(&format!("http://{}/v1/tenants/bench/plugins", server.addr))
            .query("version", &version)
            .header("Authorization", &auth)
            .send(&variant(&wasm, 1_000 + i)[..])
            .expect("upload");
        assert_eq!(
            upload.status().as_u16(),
            201,
            "{:?}",
            upload.body_mut().read_to_string()
        );
        let activated = agent
            .post(&format!(
                "http://{}/v1/tenants/bench/pipeline/main/activate",
                server.addr
            ))
            .header("Authorization", &auth)
            .send_json(serde_json::json!({"name": "coffee-chain", "version": version}))
            .expect("activate");
        assert_eq!(activated.status().as_u16(), 200);
        samples.push(started.elapsed());
    }
    server.stop();
    let median_ms = samples.percentile_us(50.0) / 1000.0;
    table.check(
        "6",
        "upload → active (a new 110 KB coffee build: validate, compile, store, activate)",
        format!("median **{median_ms:.0} ms** of 5"),
        "≤ 1 s",
        median_ms <= 1000.0,
    );

    let dir = tempfile::tempdir().expect("temp dir");
    populate(dir.path(), &w);
    let warm = restart(dir.path());
    std::fs::remove_dir_all(dir.path().join("cache")).expect("clear the cache");
    let cold = restart(dir.path());
    table.check(
        "6",
        &format!("ready after restart, {TENANTS} tenants each with its own plugin build, precompiled cache warm"),
        format!("**{:.2} s**", warm.seconds),
        "≤ 2 s",
        warm.seconds <= 2.0,
    );
    table.info(
        "6",
        "… cache cold (every plugin compiled again)",
        format!("{:.2} s", cold.seconds),
    );
    let per_version = warm.resident_growth as f64 / TENANTS as f64 / (1024.0 * 1024.0);
    table.check(
        "6",
        "resident memory per loaded plugin version",
        format!("**{per_version:.2} MiB** ({} versions)", TENANTS),
        "≤ 4 MiB",
        per_version <= 4.0,
    );
}

/// 7: a simulation of the coffee plugin against its dormant-after-10-days
/// candidate over the workload, on one worker thread and on two, in
/// alternating rounds.
fn simulation(table: &mut Table, engine: &Engine, w: &Workload) {
    use rulehost::compare::ArmSummary;
    use rulehost::simulate::{self, Arm, Setup};
    let policy: rulehost::policy::Policy = model::from_json(
        "policy",
        &std::fs::read_to_string(format!(
            "{}/coffee-chain/sample/policy.json",
            rulehost_test_artifacts::PLUGINS_DIR
        ))
        .expect("the sample policy"),
    )
    .expect("policy");
    let arm = |path: &str| {
        let plugins = vec![load(engine, path)];
        Arm {
            summary: ArmSummary::of(path.into(), &plugins),
            plugins,
            config: w.config.clone(),
            offers: w.offers.clone().into(),
            policy: Arc::new(policy.clone()),
        }
    };
    let (baseline, candidate) = (arm(COFFEE_CHAIN), arm(COFFEE_CHAIN_DORMANT_10));
    let mut input = Vec::new();
    for body in w.bodies.iter() {
        input.extend_from_slice(body);
        input.push(b'\n');
    }
    let run = |workers: usize| {
        let setup = Setup {
            tenant_id: "bench".into(),
            tz_offset_minutes: 480,
            workers,
            ..Setup::default()
        };
        let started = Instant::now();
        let report = simulate::run(engine, &baseline, &candidate, &setup, &input[..], |_| {}).expect("simulates");
        report.customers as f64 / started.elapsed().as_secs_f64()
    };
    run(2);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        one.push(run(1));
        two.push(run(2));
    }
    let (one, two) = (mean(&one), mean(&two));
    let ratio = two / one;
    table.check(
        "7",
        "simulation (both sides + policy in order), customers/s, 1 → 2 worker threads",
        format!(
            "{one:.0}/s → {two:.0}/s = **{ratio:.2}×**; 100,000 customers in {:.0} s",
            100_000.0 / two
        ),
        "≥ 1.6×, 100,000 in minutes",
        ratio >= 1.6 && 100_000.0 / two < 600.0,
    );
}

/// 7: live decisions in this process on one thread, with the candidate in
/// shadow on every customer, on a tenth of them, and without, in
/// alternating rounds: what the shadow costs the live answer (its runs go
/// to the other core).
fn shadow_overhead(table: &mut Table, w: &Workload) {
    use rulehost::registry::Role;
    let server = start_server(w);
    let live = server.live.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let caller = Caller::Operator;
    let wasm = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("artifact");
    runtime
        .block_on(live.upload(&caller, "bench", None, Some("2.0.0".into()), wasm))
        .expect("upload");
    let phase = Duration::from_secs(1);
    in_process_rate(&live, w, Duration::from_millis(300), 1);
    let shares = [100.0, 10.0];
    let mut plain = Samples::default();
    let mut shadowed: Vec<(Samples, u64, u64)> = shares.iter().map(|_| (Samples::default(), 0, 0)).collect();
    for _ in 0..3 {
        plain.extend(in_process_rate(&live, w, phase, 1).1);
        for (percent, (samples, compared, dropped)) in shares.iter().zip(&mut shadowed) {
            runtime
                .block_on(live.attach(
                    &caller,
                    "bench",
                    Role::Shadow,
                    "main",
                    "coffee-chain",
                    "2.0.0",
                    *percent,
                ))
                .expect("attach");
            samples.extend(in_process_rate(&live, w, phase, 1).1);
            // Let the shadow catch up before counting and detaching.
            loop {
                let status = runtime.block_on(live.shadow_status("bench", "main")).expect("status");
                if status.pending == 0 {
                    *compared += status.compared;
                    *dropped += status.dropped;
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            runtime
                .block_on(live.detach(&caller, "bench", Role::Shadow, "main"))
                .expect("detach");
        }
    }
    server.stop();
    for (percent, (samples, compared, dropped)) in shares.iter().zip(&shadowed) {
        let (p50, p99) = (
            samples.percentile_us(50.0) / plain.percentile_us(50.0),
            samples.percentile_us(99.0) / plain.percentile_us(99.0),
        );
        table.check(
            "7",
            &format!("live decide with a shadow on {percent}% of customers / without (1 thread, in process)"),
            format!(
                "p50 {:.0} / {:.0} µs = **{p50:.2}×**, p99 {:.0} / {:.0} µs = **{p99:.2}×**; shadow compared {compared}, dropped {dropped}",
                samples.percentile_us(50.0),
                plain.percentile_us(50.0),
                samples.percentile_us(99.0),
                plain.percentile_us(99.0),
            ),
            "p50 ≤ 1.2×",
            p50 <= 1.2,
        );
    }
}

/// 7: in-process decisions (2 threads, each round ending when the log has
/// caught up) on a server whose decision log keeps every request, for
/// replay, against one that keeps only their hash, in alternating rounds;
/// and the bytes on disk per logged decision.
fn log_requests(table: &mut Table, w: &Workload) {
    let keeping = start_server(w);
    let hashing = start_server_with(w, &[("RULEHOST_DECISION_LOG_REQUESTS", "false")]);
    let phase = Duration::from_secs(1);
    let (mut kept, mut hashed) = (Vec::new(), Vec::new());
    let (mut kept_n, mut hashed_n) = (0, 0);
    for _ in 0..3 {
        let (rate, samples) = in_process_rate(&keeping.live, w, phase, 2);
        kept.push(rate);
        kept_n += samples.len();
        let (rate, samples) = in_process_rate(&hashing.live, w, phase, 2);
        hashed.push(rate);
        hashed_n += samples.len();
    }
    let per_entry = |server: &Running, n: usize| sqlite_bytes(server.dir.path()) as f64 / n.max(1) as f64 / 1024.0;
    let (kept_kb, hashed_kb) = (per_entry(&keeping, kept_n), per_entry(&hashing, hashed_n));
    keeping.stop();
    hashing.stop();
    let (kept, hashed) = (mean(&kept), mean(&hashed));
    table.info(
        "7",
        "in-process decide (2 threads, log caught up): log keeping requests (replayable) / hash only",
        format!(
            "{kept:.0}/s / {hashed:.0}/s = **{:.2}×**; on disk {kept_kb:.1} KB / {hashed_kb:.1} KB per logged decision",
            kept / hashed
        ),
    );
}

/// The embedded store's files under a data directory (the database and
/// its write-ahead log).
pub(crate) fn sqlite_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("data dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("registry.sqlite3"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

fn populate(dir: &Path, w: &Workload) {
    let overrides = Overrides {
        config_file: None,
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_owned()),
    };
    let config = ServerConfig::load(&overrides, Vec::new()).expect("settings");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wasm = std::fs::read(COFFEE_CHAIN).expect("artifact");
    runtime.block_on(async {
        let server = Server::bind(&config, false).await.expect("binds");
        let live = server.live().clone();
        live.load().await.expect("loads");
        let caller = Caller::Operator;
        for i in 0..TENANTS {
            let id = format!("t{i:03}");
            let tenant = Tenant {
                id: id.clone(),
                name: id.clone(),
                tz_offset_minutes: 480,
                disabled: false,
                limits: TenantLimits::default(),
                created_at: Timestamp(0),
            };
            live.create_tenant(&caller, tenant, None).await.expect("tenant");
            live.put_config(&caller, &id, (*w.config).clone())
                .await
                .expect("config");
            live.put_offers(&caller, &id, w.offers.clone()).await.expect("offers");
            let (version, _) = live
                .upload(&caller, &id, None, None, variant(&wasm, i))
                .await
                .expect("upload");
            live.set_pipeline(&caller, &id, vec!["main".into()])
                .await
                .expect("pipeline");
            live.activate(&caller, &id, "main", &version.name, &version.version)
                .await
                .expect("activate");
        }
    });
}

struct Restart {
    seconds: f64,
    resident_growth: u64,
}

/// Starts a fresh process on `dir` (this binary in child mode) and reads
/// how long loading took and how much resident memory it added.
fn restart(dir: &Path) -> Restart {
    let output = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .env(CHILD, dir)
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("restart "))
        .unwrap_or_else(|| panic!("the child said {text:?} {:?}", String::from_utf8_lossy(&output.stderr)));
    let mut parts = line.split_whitespace().skip(1);
    let seconds = parts.next().and_then(|s| s.parse().ok()).expect("seconds");
    let resident_growth = parts.next().and_then(|s| s.parse().ok()).expect("bytes");
    Restart {
        seconds,
        resident_growth,
    }
}

/// The environment variable that makes this binary measure one restart.
pub const CHILD: &str = "RULEHOST_BENCH_RESTART_DIR";

/// Child mode: open the data directory like a restarted server and load
/// every tenant's plugins, then print `restart <seconds> <resident bytes>`.
pub fn child_restart(dir: &Path) {
    let overrides = Overrides {
        config_file: None,
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_owned()),
    };
    let config = ServerConfig::load(&overrides, Vec::new()).expect("settings");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let server = Server::bind(&config, false).await.expect("binds");
        // Only what loading the tenants' plugins adds counts as theirs.
        let before = resident_bytes();
        server.live().load().await.expect("loads");
        let seconds = started.elapsed().as_secs_f64();
        let growth = resident_bytes().saturating_sub(before);
        println!("restart {seconds} {growth}");
    });
}

pub(crate) fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}
