//! `rulehost check PLUGIN…`: the plugin over customers of every shape,
//! twice each, against the limits it would run under (see
//! `rulehost_check`). Exit 0 when it fits, 1 when it does not, 2 when it
//! could not be checked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{EngineArgs, emit, fatal, load_plugin, read};
use crate::generate::{Brand, DEFAULT_NOW};
use crate::model::{self, Offer, Profile, TenantConfig, Timestamp};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin component; several run as a pipeline, in order.
    #[arg(required = true)]
    plugins: Vec<PathBuf>,
    /// The brand's own customers instead of generated ones: NDJSON, a
    /// profile or a decide request (`{"profile": …}`) per line.
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// How many generated customers (of every lifecycle archetype) to
    /// decide for, beside the edge shapes.
    #[arg(long, default_value_t = 200)]
    customers: usize,
    /// Whose customers to generate.
    #[arg(long, value_enum, default_value = "coffee")]
    brand: Brand,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The tenant config JSON (an object).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The offer catalog JSON (an array).
    #[arg(long)]
    offers: Option<PathBuf>,
    /// The decisions' time, RFC 3339.
    #[arg(long, default_value = DEFAULT_NOW)]
    now: String,
    /// The tenant's offset from UTC in minutes (480 = UTC+8).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    tz_offset_minutes: i32,
    /// Where the first failing input of each kind is saved as a fixture.
    #[arg(long, default_value = "rulehost-check")]
    save: PathBuf,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn check(args: CheckArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            if args.json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                ));
            } else {
                emit(&report.text());
            }
            let fixtures = report.fixtures();
            if !fixtures.is_empty() {
                if let Err(e) = save(&args.save, &fixtures) {
                    return fatal(e);
                }
                eprintln!(
                    "saved {} failing input(s) as fixtures in {} (`rulehost test PLUGIN {}` runs them)",
                    fixtures.len(),
                    args.save.display(),
                    args.save.display()
                );
            }
            if report.fits {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fatal(e),
    }
}

fn run(args: &CheckArgs) -> Result<rulehost_check::Report, String> {
    let now = Timestamp::parse(&args.now).map_err(|e| format!("--now: {e}"))?;
    let config: TenantConfig = match &args.config {
        Some(path) => model::from_json("config", &read(path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?,
        None => TenantConfig::default(),
    };
    let offers: Vec<Offer> = match &args.offers {
        Some(path) => model::from_json("offers", &read(path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let customers = match &args.profiles {
        Some(path) => own_customers(path)?,
        None => crate::generate::check_customers(args.brand, args.customers, args.seed, now),
    };
    let engine = args.engine.engine().map_err(|e| e.to_string())?;
    let plugins = args
        .plugins
        .iter()
        .map(|p| load_plugin(&engine, p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let setting = rulehost_check::Setting {
        engine: &engine,
        plugins: &plugins,
        config: Arc::new(config),
        offers: offers.into(),
        limits: args.engine.limits(),
        now,
        tz_offset_minutes: args.tz_offset_minutes,
        owner: None,
        stop_after_failures: usize::MAX,
    };
    Ok(rulehost_check::run(&setting, &customers))
}

/// The customers of an NDJSON file: a profile or a decide request a line.
fn own_customers(path: &std::path::Path) -> Result<Vec<rulehost_check::Customer>, String> {
    let text = read(path).map_err(|e| e.to_string())?;
    let mut customers = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        if value.get("customer_id").is_none()
            && let Some(profile) = value.get_mut("profile")
        {
            value = profile.take();
        }
        let profile: Profile = model::from_json("profile", &value.to_string())
            .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        customers.push(rulehost_check::Customer {
            label: format!("line {} ({})", n + 1, profile.customer_id),
            profile,
        });
    }
    if customers.is_empty() {
        return Err(format!("{} holds no customers", path.display()));
    }
    Ok(customers)
}

/// Writes each fixture into `dir` (created if missing).
fn save(dir: &std::path::Path, fixtures: &[(String, serde_json::Value)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (name, fixture) in fixtures {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(fixture).unwrap_or_default();
        std::fs::write(&path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
