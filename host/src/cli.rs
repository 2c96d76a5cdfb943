//! The `rulehost` command: `serve`, `new`, `build`, `eval`, `test`, `simulate`,
//! and the client commands `plugin …`, `decide`, `events send` and
//! `touches tail` that talk to a server (or, for events, to NATS).
//!
//! Exit codes: 0 success; 1 the decision, a fixture or a server request
//! failed (the error is printed as JSON on stdout); 2 the command could not
//! run (bad arguments, unreadable files, an invalid plugin for `test`, a
//! server that cannot start).

mod check;
mod events;
mod new;
mod simulate;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::{Client, Reply};
use crate::engine::{Engine, EngineConfig, Limits, Plugin};
use crate::model::{self, Mode, Offer, Profile, Request, TenantConfig, Timestamp};
use crate::server::{Overrides, Server, ServerConfig};
use crate::{Error, fixtures, pipeline};

/// Runs brands' customer rules as sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "rulehost", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: the API over an embedded data directory.
    Serve(ServeArgs),
    /// Manage a tenant's plugins on a running server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Ask a running server for a decision.
    Decide(DecideArgs),
    /// Send a brand's events to a running server, or to NATS.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Follow the touches a tenant's live decisions commit.
    #[command(subcommand)]
    Touches(events::TouchesCommand),
    /// Create a plugin project (Rust, TypeScript or Python) with two rules
    /// and three fixtures to start from.
    New(new::NewArgs),
    /// Build a plugin project (a Rust crate, an npm package or a Python
    /// project) into a component ready to upload; prints its path.
    Build(BuildArgs),
    /// Run plugins on one profile and print the decision as JSON.
    Eval(EvalArgs),
    /// Run a plugin against a folder of fixtures.
    Test(TestArgs),
    /// Before publishing: run a plugin over customers of every shape,
    /// twice each, and say whether it fits the limits it would run under
    /// (exit 1 when it does not; failing inputs saved as fixtures).
    Check(Box<check::CheckArgs>),
    /// Print synthetic customers as NDJSON (deterministic for a seed).
    GenProfiles(GenArgs),
    /// Compare a candidate against a baseline (files, or what a tenant
    /// runs) over a file of customers; writes report.json and report.html.
    Simulate(Box<simulate::SimulateArgs>),
    /// Re-run a logged decision on a running server, against its own
    /// versions (exit 1 unless identical) or another version of one plugin,
    /// and print the differences.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The decision's id (from its answer or `GET …/decisions`).
    id: String,
    /// Run this plugin of the decision's pipeline in another version.
    #[arg(long, requires = "version")]
    plugin: Option<String>,
    /// The other version of `--plugin`.
    #[arg(long, requires = "plugin")]
    version: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// A TOML settings file (see README for every setting).
    #[arg(long, env = "RULEHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080; env RULEHOST_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// Data directory [default: ./data; env RULEHOST_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Preload the demo tenants (coffee, apparel) with their plugins,
    /// config, offers and documented keys.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "RULEHOST_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The tenant.
    #[arg(long, env = "RULEHOST_TENANT")]
    tenant: String,
    /// The tenant's API key (or the operator token).
    #[arg(long, env = "RULEHOST_KEY", hide_env_values = true)]
    key: String,
}

impl ServerArgs {
    fn client(&self) -> Client {
        Client::new(&self.server, &self.tenant, &self.key)
    }
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Upload a component as a new version.
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// Name in the tenant [default: what the component records].
        #[arg(long)]
        name: Option<String>,
        /// Version [default: what the component records].
        #[arg(long)]
        version: Option<String>,
        /// Also activate it in this slot.
        #[arg(long)]
        activate: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the tenant's plugin versions.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a version the one a slot runs.
    Activate {
        /// Plugin name.
        name: String,
        /// Version.
        version: String,
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Return a slot to its previous version.
    Rollback {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run an uploaded version in shadow beside a slot's active version,
    /// on a share of live decisions.
    Shadow {
        /// The plugin.
        name: String,
        /// The candidate version.
        version: String,
        /// The share of customers sampled, more than 0 and at most 100.
        #[arg(long, default_value_t = 10.0)]
        sample_percent: f64,
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a slot's shadow report; with --out, also write it as
    /// report.json and report.html.
    ShadowReport {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        /// A folder for report.json and report.html.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a slot's shadow its active version (and detach it).
    Promote {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Detach a slot's shadow.
    Unshadow {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Roll an uploaded version out to a share of customers; again with
    /// the same version to widen it. Without NAME, print the canary's
    /// share and decisions per version.
    Canary {
        /// The plugin.
        #[arg(requires_all = ["version", "percent"])]
        name: Option<String>,
        /// The candidate version.
        version: Option<String>,
        /// The share of customers it answers for, more than 0 and at most 100.
        #[arg(long)]
        percent: Option<f64>,
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Roll a slot's canary back: everyone gets the active version.
    CanaryRollback {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a slot's canary its active version, for everyone.
    CanaryPromote {
        /// The pipeline slot.
        #[arg(long, default_value = "main")]
        slot: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Args)]
struct DecideArgs {
    /// A profile JSON file ("-" reads stdin), or a whole decide request
    /// (`{"profile": …, "now": …}`).
    #[arg(long, required_unless_present = "customer", conflicts_with = "customer")]
    profile: Option<PathBuf>,
    /// Decide on the profile the server keeps for this customer (from its
    /// events), by any of its ids.
    #[arg(long)]
    customer: Option<String>,
    /// The decision's time, RFC 3339 [default: the server's clock].
    #[arg(long)]
    now: Option<String>,
    /// Record the selected touches in the contact ledger.
    #[arg(long)]
    commit: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Whose customers.
    #[arg(long, value_enum)]
    brand: crate::generate::Brand,
    /// How many.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// The seed: the same seed always gives the same customers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The time the customers are generated for (events lie before it).
    #[arg(long, default_value = crate::generate::DEFAULT_NOW)]
    now: String,
    /// Print decide requests (`{"profile": …, "now": …}`) instead of bare
    /// profiles, ready for `decide/batch`.
    #[arg(long)]
    requests: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BuildTarget {
    /// wasm32-unknown-unknown made a component: no WASI, fastest to start.
    Component,
    /// wasm32-wasip2: for plugins that need the standard library's WASI.
    Wasip2,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The plugin project's folder (holding its Cargo.toml, package.json or
    /// pyproject.toml).
    #[arg(default_value = ".")]
    crate_dir: PathBuf,
    /// Where to write the component [default: <target>/rulehost/<crate>.wasm
    /// for Rust, <project>/dist/<name>.wasm for TypeScript and Python].
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to compile for.
    #[arg(long, value_enum, default_value = "component")]
    target: BuildTarget,
    /// Cargo's target directory [default: the crate's workspace target].
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// The JavaScript engine of a TypeScript plugin.
    #[arg(long, value_enum, default_value = "quickjs")]
    js_engine: JsEngineArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum JsEngineArg {
    /// QuickJS (componentize-qjs): the fewest instructions per decision.
    Quickjs,
    /// SpiderMonkey (componentize-js).
    Spidermonkey,
}

#[derive(Debug, Args)]
struct EngineArgs {
    /// Keep precompiled plugins here [default: $XDG_CACHE_HOME/rulehost].
    #[arg(long, env = "RULEHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile plugins every time instead of caching them.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Memory limit of a decision, in MiB.
    #[arg(long, default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mib: u64,
    /// Deadline of a decision, in milliseconds of CPU time.
    #[arg(long, default_value_t = Limits::default().deadline_ms)]
    deadline_ms: u64,
    /// Fuel (instruction budget) of a decision.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
}

impl EngineArgs {
    fn engine(&self) -> Result<Engine, Error> {
        let cache_dir = match (&self.cache_dir, self.no_cache) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => default_cache_dir(),
        };
        Engine::new(EngineConfig {
            cache_dir,
            max_memory_bytes: EngineConfig::default().max_memory_bytes.max(self.memory_mib << 20),
            ..EngineConfig::default()
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_mib << 20,
            deadline_ms: self.deadline_ms,
            fuel: self.fuel,
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("rulehost"))
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A plugin component; repeat for a pipeline (run in the given order).
    #[arg(long = "plugin", required = true)]
    plugins: Vec<PathBuf>,
    /// The profile JSON ("-" reads stdin).
    #[arg(long)]
    profile: PathBuf,
    /// The offer catalog JSON (an array).
    #[arg(long)]
    offers: Option<PathBuf>,
    /// The tenant config JSON (an object).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The decision's time, RFC 3339 [default: now].
    #[arg(long)]
    now: Option<String>,
    /// The tenant's offset from UTC in minutes (480 = UTC+8).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    tz_offset_minutes: i32,
    /// The seed plugins get.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The plugin component.
    plugin: PathBuf,
    /// The folder of fixture files (*.json).
    fixtures: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

fn init_logging(default: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging("warn", false);
    }
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Plugin(command) => plugin(command),
        Command::Decide(args) => decide(args),
        Command::Events(command) => events::events(command),
        Command::Touches(command) => events::touches(command),
        Command::New(args) => new::new(args),
        Command::Build(args) => build(args),
        Command::Eval(args) => eval(args),
        Command::Test(args) => test(args),
        Command::Check(args) => check::check(*args),
        Command::GenProfiles(args) => gen_profiles(args),
        Command::Simulate(args) => simulate::simulate(*args),
        Command::Replay(args) => replay(args),
    }
}

/// Prints to stdout; a closed pipe (`rulehost eval … | head`) is not an
/// error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// A failure that stops a command before it can do its work.
fn fatal(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn build(args: BuildArgs) -> ExitCode {
    let target = match args.target {
        BuildTarget::Component => rulehost_builder::Target::Component,
        BuildTarget::Wasip2 => rulehost_builder::Target::WasiP2,
    };
    let engine = match args.js_engine {
        JsEngineArg::Quickjs => rulehost_builder::JsEngine::QuickJs,
        JsEngineArg::Spidermonkey => rulehost_builder::JsEngine::SpiderMonkey,
    };
    let mut build = rulehost_builder::Build::new(&args.crate_dir)
        .target(target)
        .js_engine(engine);
    if let Some(out) = args.out {
        build = build.out(out);
    }
    if let Some(dir) = args.target_dir {
        build = build.target_dir(dir);
    }
    match build.run() {
        Ok(built) => {
            emit(&format!("{}\n", built.path.display()));
            ExitCode::SUCCESS
        }
        Err(e) => fatal(format!("{e:#}")),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::InvalidInput(format!("reading stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| Error::InvalidInput(format!("reading {}: {e}", path.display())))
}

fn load_plugin(engine: &Engine, path: &Path) -> Result<Arc<Plugin>, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::InvalidInput(format!("reading {}: {e}", path.display())))?;
    engine.load(&bytes).map(Arc::new).map_err(|e| match e {
        Error::InvalidPlugin { defect, message } => Error::InvalidPlugin {
            defect,
            message: format!("{}: {message}", path.display()),
        },
        other => other,
    })
}

fn eval(args: EvalArgs) -> ExitCode {
    match run_eval(&args) {
        Ok(decision) => {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&decision).unwrap_or_default()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&e.to_body()).unwrap_or_default()
            ));
            ExitCode::from(1)
        }
    }
}

fn run_eval(args: &EvalArgs) -> Result<crate::decision::Decision, Error> {
    let profile: Profile = model::from_json("profile", &read(&args.profile)?)?;
    let offers: Vec<Offer> = match &args.offers {
        Some(path) => model::from_json("offers", &read(path)?)?,
        None => Vec::new(),
    };
    let config: TenantConfig = match &args.config {
        Some(path) => model::from_json("config", &read(path)?)?,
        None => TenantConfig::default(),
    };
    let now = match &args.now {
        Some(text) => Timestamp::parse(text).map_err(|e| Error::InvalidInput(format!("--now: {e}")))?,
        None => Timestamp::now(),
    };
    let engine = args.engine.engine()?;
    let plugins = args
        .plugins
        .iter()
        .map(|p| load_plugin(&engine, p))
        .collect::<Result<Vec<_>, _>>()?;
    let request = Request {
        now,
        tz_offset_minutes: args.tz_offset_minutes,
        seed: args.seed,
        mode: Mode::Live,
        trigger: None,
        profile,
        offers: offers.into(),
    };
    pipeline::decide(
        &engine,
        None,
        &plugins,
        &request,
        Arc::new(config),
        &args.engine.limits(),
    )
}

fn test(args: TestArgs) -> ExitCode {
    let engine = match args.engine.engine() {
        Ok(engine) => engine,
        Err(e) => return fatal(e),
    };
    let plugin = match load_plugin(&engine, &args.plugin) {
        Ok(plugin) => plugin,
        Err(e) => return fatal(e),
    };
    match fixtures::run_dir(&engine, &[plugin], &args.fixtures, &args.engine.limits()) {
        Ok(outcomes) => {
            emit(&fixtures::report(&outcomes));
            if outcomes.iter().all(fixtures::Outcome::passed) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fatal(e),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        config_file: args.config,
        listen: args.listen,
        data_dir: args.data_dir,
    };
    let config = match ServerConfig::load(&overrides, std::env::vars()) {
        Ok(config) => config,
        Err(e) => return fatal(e),
    };
    init_logging("info", config.log_format == "json");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fatal(format!("starting the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let server = Server::bind(&config, args.demo).await?;
        let addr = server.local_addr().map_err(|e| e.to_string())?;
        if args.demo {
            let token = config.operator_token.as_deref().unwrap_or(crate::demo::OPERATOR_TOKEN);
            emit(&crate::server::demo_banner(addr, token));
        } else {
            emit(&format!(
                "rulehost listening on http://{addr}\n  console: http://{addr}{}\n",
                crate::console::PATH
            ));
        }
        server.run(crate::server::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(e),
    }
}

/// Prints a server reply; exit 0 on 2xx, 1 otherwise.
fn reply(result: Result<Reply, String>) -> ExitCode {
    match result {
        Ok(reply) => {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&reply.body).unwrap_or_default()
            ));
            if reply.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fatal(e),
    }
}

fn plugin(command: PluginCommand) -> ExitCode {
    match command {
        PluginCommand::Push {
            file,
            name,
            version,
            activate,
            server,
        } => {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) => return fatal(format!("reading {}: {e}", file.display())),
            };
            let client = server.client();
            let pushed = match client.push(&bytes, name.as_deref(), version.as_deref()) {
                Ok(pushed) => pushed,
                Err(e) => return fatal(e),
            };
            let Some(slot) = activate.filter(|_| pushed.ok()) else {
                return reply(Ok(pushed));
            };
            let field = |k: &str| {
                pushed
                    .body
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            reply(client.activate(&slot, &field("name"), &field("version")))
        }
        PluginCommand::List { server } => reply(server.client().list(None)),
        PluginCommand::Activate {
            name,
            version,
            slot,
            server,
        } => reply(server.client().activate(&slot, &name, &version)),
        PluginCommand::Rollback { slot, server } => reply(server.client().rollback(&slot)),
        PluginCommand::Shadow {
            name,
            version,
            sample_percent,
            slot,
            server,
        } => reply(server.client().put(
            &format!("/pipeline/{slot}/shadow"),
            &serde_json::json!({"name": name, "version": version, "sample_percent": sample_percent}),
        )),
        PluginCommand::ShadowReport { slot, out, server } => {
            let result = server.client().get(&format!("/pipeline/{slot}/shadow"));
            if let (Some(out), Ok(reply)) = (&out, &result)
                && reply.ok()
            {
                let written = serde_json::from_value::<crate::compare::Report>(reply.body["report"].clone())
                    .map_err(|e| format!("the server's report: {e}"))
                    .and_then(|report| simulate::write_report(out, &report));
                if let Err(e) = written {
                    return fatal(e);
                }
            }
            reply(result)
        }
        PluginCommand::Promote { slot, server } => reply(
            server
                .client()
                .post(&format!("/pipeline/{slot}/shadow/promote"), &serde_json::json!({})),
        ),
        PluginCommand::Unshadow { slot, server } => reply(server.client().delete(&format!("/pipeline/{slot}/shadow"))),
        PluginCommand::Canary {
            name,
            version,
            percent,
            slot,
            server,
        } => {
            let path = format!("/pipeline/{slot}/canary");
            match (name, version, percent) {
                (Some(name), Some(version), Some(percent)) => reply(server.client().put(
                    &path,
                    &serde_json::json!({"name": name, "version": version, "percent": percent}),
                )),
                _ => reply(server.client().get(&path)),
            }
        }
        PluginCommand::CanaryRollback { slot, server } => {
            reply(server.client().delete(&format!("/pipeline/{slot}/canary")))
        }
        PluginCommand::CanaryPromote { slot, server } => reply(
            server
                .client()
                .post(&format!("/pipeline/{slot}/canary/promote"), &serde_json::json!({})),
        ),
    }
}

fn decide(args: DecideArgs) -> ExitCode {
    let mut request = match (&args.profile, &args.customer) {
        (_, Some(customer)) => serde_json::json!({ "customer_id": customer }),
        (Some(profile), None) => {
            let text = match read(profile) {
                Ok(text) => text,
                Err(e) => return fatal(e),
            };
            let request: serde_json::Value = match serde_json::from_str(&text) {
                Ok(value) => value,
                Err(e) => return fatal(format!("{}: {e}", profile.display())),
            };
            // A bare profile is wrapped into a request.
            if request.get("profile").is_none() {
                serde_json::json!({ "profile": request })
            } else {
                request
            }
        }
        (None, None) => return fatal("give --profile FILE or --customer ID"),
    };
    if let Some(now) = args.now {
        request["now"] = serde_json::Value::String(now);
    }
    if args.commit {
        request["commit"] = serde_json::Value::Bool(true);
    }
    reply(args.server.client().decide(&request))
}

fn replay(args: ReplayArgs) -> ExitCode {
    let against = match (&args.plugin, &args.version) {
        (Some(plugin), Some(version)) => serde_json::json!({"plugin": plugin, "version": version}),
        _ => serde_json::json!({}),
    };
    if args.id.is_empty()
        || !args
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return fatal(format!("{:?} is not a decision id (letters, digits, - and _)", args.id));
    }
    let exact = args.plugin.is_none();
    let result = args
        .server
        .client()
        .post(&format!("/decisions/{}/replay", args.id), &against);
    let differs = matches!(&result, Ok(r) if r.ok() && r.body["identical"] != serde_json::Value::Bool(true));
    let code = reply(result);
    if exact && differs { ExitCode::from(1) } else { code }
}

fn gen_profiles(args: GenArgs) -> ExitCode {
    use std::io::Write;
    let now = match Timestamp::parse(&args.now) {
        Ok(now) => now,
        Err(e) => return fatal(format!("--now: {e}")),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for profile in crate::generate::profiles(args.brand, args.n, args.seed, now) {
        let line = if args.requests {
            serde_json::json!({"profile": profile, "now": args.now})
        } else {
            profile
        };
        let written = serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from);
        if written.and_then(|()| out.write_all(b"\n")).is_err() {
            // A closed pipe (`| head`): stop quietly.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
