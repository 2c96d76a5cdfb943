//! `rulehost simulate`: a candidate against a baseline over a file of
//! customers, on every core, with a progress bar; writes `report.json` and
//! `report.html`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{EngineArgs, emit, fatal, load_plugin, read};
use crate::client::Client;
use crate::compare::{ArmSummary, Report, html};
use crate::engine::{Engine, Plugin};
use crate::model::{self, Offer, TenantConfig, Timestamp};
use crate::policy::Policy;
use crate::simulate::{self, Arm, Progress, Setup};

#[derive(Debug, Args)]
pub(super) struct SimulateArgs {
    /// The candidate: a plugin component; repeat for a pipeline. With
    /// `--tenant`, one component that takes the place of `--slot`.
    #[arg(long = "candidate", required = true)]
    candidate: Vec<PathBuf>,
    /// The baseline: a plugin component; repeat for a pipeline.
    #[arg(long = "baseline", conflicts_with = "tenant")]
    baseline: Vec<PathBuf>,
    /// Compare against what this tenant runs on the server: its active
    /// pipeline, config, offers, policy and time zone.
    #[arg(long)]
    tenant: Option<String>,
    /// The server, with `--tenant`.
    #[arg(long, env = "RULEHOST_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The tenant's API key, with `--tenant`.
    #[arg(long, env = "RULEHOST_KEY", hide_env_values = true)]
    key: Option<String>,
    /// The pipeline slot the candidate replaces, with `--tenant`.
    #[arg(long, default_value = "main")]
    slot: String,
    /// The customers: NDJSON of profiles or decide requests ("-" reads
    /// stdin), e.g. from `rulehost gen-profiles`.
    #[arg(long)]
    profiles: PathBuf,
    /// Config for both sides (JSON object) [default: the tenant's, or none].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Offer catalog for both sides (JSON array) [default: the tenant's].
    #[arg(long)]
    offers: Option<PathBuf>,
    /// Contact policy for both sides [default: the tenant's, or none].
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Config for the candidate only (what-if on a threshold).
    #[arg(long)]
    candidate_config: Option<PathBuf>,
    /// Offer catalog for the candidate only.
    #[arg(long)]
    candidate_offers: Option<PathBuf>,
    /// Contact policy for the candidate only.
    #[arg(long)]
    candidate_policy: Option<PathBuf>,
    /// Decision time of lines without a `now`, RFC 3339.
    #[arg(long)]
    now: Option<String>,
    /// The tenant's offset from UTC in minutes [default: the tenant's, or 0].
    #[arg(long, allow_negative_numbers = true)]
    tz_offset_minutes: Option<i32>,
    /// Where to write report.json and report.html.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// Customers whose changes the report shows in full.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Threads running plugins [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

fn json_file<T: serde::de::DeserializeOwned>(what: &str, path: &Path) -> Result<T, String> {
    model::from_json(&format!("{} ", path.display()), &read(path).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{what}: {e}"))
}

fn label(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| {
            p.file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// What the tenant runs, read from the server.
struct TenantState {
    plugins: Vec<(String, Arc<Plugin>)>,
    config: TenantConfig,
    offers: Vec<Offer>,
    policy: Policy,
    tz_offset_minutes: i32,
}

fn fetch_tenant(engine: &Engine, client: &Client, tenant: &str) -> Result<TenantState, String> {
    let get = |path: &str| -> Result<serde_json::Value, String> {
        let reply = client.get(path)?;
        if reply.ok() {
            Ok(reply.body)
        } else {
            Err(format!(
                "GET {path} on tenant {tenant:?}: {} {}",
                reply.status, reply.body
            ))
        }
    };
    let document =
        |path: &str| -> Result<String, String> { Ok(get(path)?.get("body").cloned().unwrap_or_default().to_string()) };
    let config = document("/config")?;
    let offers = document("/offers")?;
    let policy = document("/policy")?;
    let tz = get("")?.get("tz_offset_minutes").and_then(|v| v.as_i64()).unwrap_or(0);
    let pipeline = get("/pipeline")?;
    let mut plugins = Vec::new();
    for slot in pipeline.get("slots").and_then(|s| s.as_array()).into_iter().flatten() {
        let name = slot.get("slot").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        let Some(active) = slot.get("active").filter(|a| !a.is_null()) else {
            continue;
        };
        let field = |k: &str| active.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let (plugin, version) = (field("name"), field("version"));
        let bytes = client.get_bytes(&format!("/plugins/{plugin}/{version}/component"))?;
        let compiled = engine
            .compile(&bytes)
            .map_err(|e| format!("the tenant's {plugin} {version}: {e}"))?;
        plugins.push((name, Arc::new(Plugin::new(Arc::new(compiled), plugin, version))));
    }
    Ok(TenantState {
        plugins,
        config: model::from_json("the tenant's config", &config).map_err(|e| e.to_string())?,
        offers: model::from_json("the tenant's offers", &offers).map_err(|e| e.to_string())?,
        policy: model::from_json("the tenant's policy", &policy).map_err(|e| e.to_string())?,
        tz_offset_minutes: i32::try_from(tz).unwrap_or(0),
    })
}

/// Both arms and the setup, from the arguments.
fn prepare(args: &SimulateArgs, engine: &Engine) -> Result<(Arm, Arm, Setup), String> {
    let candidate_plugins = args
        .candidate
        .iter()
        .map(|p| load_plugin(engine, p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut setup = Setup {
        limits: args.engine.limits(),
        samples: args.samples,
        ..Setup::default()
    };
    if let Some(threads) = args.threads {
        setup.workers = threads.max(1);
    }
    let (baseline_plugins, candidate_plugins, mut config, mut offers, mut policy, baseline_label) = match &args.tenant {
        Some(tenant) => {
            let key = args
                .key
                .as_deref()
                .ok_or("--tenant needs the tenant's key (--key or RULEHOST_KEY)")?;
            if args.candidate.len() != 1 {
                return Err("with --tenant, give one --candidate: it replaces --slot".into());
            }
            let state = fetch_tenant(engine, &Client::new(&args.server, tenant, key), tenant)?;
            if !state.plugins.iter().any(|(slot, _)| *slot == args.slot) {
                return Err(format!(
                    "tenant {tenant:?} runs nothing in slot {:?} (active slots: {:?})",
                    args.slot,
                    state.plugins.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>()
                ));
            }
            let baseline: Vec<Arc<Plugin>> = state.plugins.iter().map(|(_, p)| p.clone()).collect();
            let candidate = state
                .plugins
                .iter()
                .map(|(slot, p)| {
                    if *slot == args.slot {
                        candidate_plugins[0].clone()
                    } else {
                        p.clone()
                    }
                })
                .collect();
            setup.tenant_id = tenant.clone();
            setup.tz_offset_minutes = state.tz_offset_minutes;
            let active = state
                .plugins
                .iter()
                .map(|(_, p)| format!("{} {}", p.name(), p.version()))
                .collect::<Vec<_>>()
                .join(" + ");
            (
                baseline,
                candidate,
                state.config,
                state.offers,
                state.policy,
                format!("{tenant}: {active} (active)"),
            )
        }
        None => {
            if args.baseline.is_empty() {
                return Err("give the baseline: --baseline FILE (repeatable) or --tenant T".into());
            }
            let baseline = args
                .baseline
                .iter()
                .map(|p| load_plugin(engine, p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            (
                baseline,
                candidate_plugins,
                TenantConfig::default(),
                Vec::new(),
                Policy::default(),
                label(&args.baseline),
            )
        }
    };
    if let Some(path) = &args.config {
        config = json_file("--config", path)?;
    }
    if let Some(path) = &args.offers {
        offers = json_file("--offers", path)?;
    }
    if let Some(path) = &args.policy {
        policy = json_file("--policy", path)?;
    }
    policy.check().map_err(|e| format!("policy.{e}"))?;
    let candidate_config = match &args.candidate_config {
        Some(path) => json_file("--candidate-config", path)?,
        None => config.clone(),
    };
    let candidate_offers = match &args.candidate_offers {
        Some(path) => json_file("--candidate-offers", path)?,
        None => offers.clone(),
    };
    let candidate_policy: Policy = match &args.candidate_policy {
        Some(path) => json_file("--candidate-policy", path)?,
        None => policy.clone(),
    };
    candidate_policy.check().map_err(|e| format!("candidate policy.{e}"))?;
    if let Some(tz) = args.tz_offset_minutes {
        setup.tz_offset_minutes = tz;
    }
    if let Some(now) = &args.now {
        setup.now = Some(Timestamp::parse(now).map_err(|e| format!("--now: {e}"))?);
    }
    let mut candidate_label = label(&args.candidate);
    for (flag, given) in [
        ("config", &args.candidate_config),
        ("offers", &args.candidate_offers),
        ("policy", &args.candidate_policy),
    ] {
        if let Some(path) = given {
            candidate_label.push_str(&format!(" with {flag} {}", path.display()));
        }
    }
    let baseline = Arm {
        summary: ArmSummary::of(baseline_label, &baseline_plugins),
        plugins: baseline_plugins,
        config: Arc::new(config),
        offers: offers.into(),
        policy: Arc::new(policy),
    };
    let candidate = Arm {
        summary: ArmSummary::of(candidate_label, &candidate_plugins),
        plugins: candidate_plugins,
        config: Arc::new(candidate_config),
        offers: candidate_offers.into(),
        policy: Arc::new(candidate_policy),
    };
    Ok((baseline, candidate, setup))
}

fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    }
    let template = if total.is_some() {
        "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} ETA {eta}"
    } else {
        "{spinner} [{elapsed_precise}] {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

pub(super) fn write_report(out: &Path, report: &Report) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let json = out.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("writing {}: {e}", json.display()))?;
    let page = out.join("report.html");
    let title = format!("{} vs {}", report.candidate.label, report.baseline.label);
    std::fs::write(&page, html::render(report, &title)).map_err(|e| format!("writing {}: {e}", page.display()))?;
    Ok((json, page))
}

pub(super) fn simulate(args: SimulateArgs) -> ExitCode {
    let engine = match args.engine.engine() {
        Ok(engine) => engine,
        Err(e) => return fatal(e),
    };
    let (baseline, candidate, setup) = match prepare(&args, &engine) {
        Ok(prepared) => prepared,
        Err(e) => return fatal(e),
    };
    let (input, total): (Box<dyn BufRead + Send>, Option<u64>) = if args.profiles == Path::new("-") {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        match std::fs::File::open(&args.profiles) {
            Ok(file) => {
                let size = file.metadata().ok().map(|m| m.len());
                (Box::new(BufReader::with_capacity(1 << 20, file)), size)
            }
            Err(e) => return fatal(format!("reading {}: {e}", args.profiles.display())),
        }
    };
    let bar = progress_bar(total, args.quiet);
    let started = Instant::now();
    let mut last = Instant::now();
    let result = simulate::run(&engine, &baseline, &candidate, &setup, input, |p: Progress| {
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            bar.set_position(p.bytes);
            let rate = p.customers as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} customers, {rate:.0}/s", p.customers));
        }
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => return fatal(format!("{}: {e}", args.profiles.display())),
    };
    let elapsed = started.elapsed().as_secs_f64();
    match write_report(&args.out, &report) {
        Ok((json, page)) => {
            emit(&summary(&report, elapsed, setup.workers, &json, &page));
            if report.every_decision_failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fatal(e),
    }
}

/// What the run found, failures first: a run whose decisions failed must
/// not read like one where nothing changed.
fn summary(report: &Report, elapsed: f64, workers: usize, json: &Path, page: &Path) -> String {
    let mut out = format!(
        "{} customers in {elapsed:.1} s ({:.0}/s on {workers} threads)\n",
        report.customers,
        report.customers as f64 / elapsed.max(1e-3),
    );
    if let Some(failures) = report.failures() {
        let level = if report.mostly_failed() { "FAILED" } else { "warning" };
        out.push_str(&format!("{level}: {failures}\n"));
    }
    out.push_str(&format!(
        "{} change\n{}\n{}\n",
        report.changed,
        json.display(),
        page.display()
    ));
    out
}
