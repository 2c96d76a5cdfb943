//! The `rulehost` binary: exit codes, JSON on stdout, readable reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rulehost::ErrorBody;
use rulehost::decision::Decision;
use rulehost_test_artifacts::{APPAREL_RFM, COFFEE_CHAIN, LOOP_FOREVER, PLUGINS_DIR, TRAP};

use crate::{COFFEE_CONFIG, COFFEE_OFFERS, COFFEE_PROFILE, NOW};

pub fn rulehost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let files = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        files.write("profile.json", COFFEE_PROFILE);
        files.write("offers.json", COFFEE_OFFERS);
        files.write("config.json", COFFEE_CONFIG);
        files
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn eval(files: &Files, plugin: &str, extra: &[&str]) -> Output {
    let (profile, offers, config) = (
        files.path("profile.json"),
        files.path("offers.json"),
        files.path("config.json"),
    );
    let mut args = vec![
        "eval",
        "--no-cache",
        "--plugin",
        plugin,
        "--profile",
        &profile,
        "--offers",
        &offers,
        "--config",
        &config,
        "--now",
        NOW,
        "--tz-offset-minutes",
        "480",
    ];
    args.extend_from_slice(extra);
    rulehost(&args)
}

#[test]
fn eval_prints_the_decision_and_exits_zero() {
    let files = Files::new();
    let out = eval(&files, COFFEE_CHAIN, &[]);
    assert!(out.status.success(), "{out:?}");
    let decision: Decision = serde_json::from_str(&stdout(&out)).expect("a decision on stdout");
    assert_eq!(decision.customer_id, "c-1");
    assert_eq!(decision.stage.expect("stage").rule_id, "coffee.stage.growth");
}

#[test]
fn eval_reports_a_plugin_error_as_json_and_exits_one() {
    let files = Files::new();
    files.write("config.json", "{}");
    let out = eval(&files, COFFEE_CHAIN, &[]);
    assert_eq!(out.status.code(), Some(1));
    let body: ErrorBody = serde_json::from_str(&stdout(&out)).expect("an error on stdout");
    assert_eq!(body.error.code, "plugin_error");
}

#[test]
fn eval_stops_an_endless_loop_at_its_deadline_not_its_fuel() {
    let files = Files::new();
    let out = eval(&files, LOOP_FOREVER, &["--fuel", "1000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    let body: ErrorBody = serde_json::from_str(&stdout(&out)).expect("an error on stdout");
    assert_eq!(body.error.code, "plugin_timeout");
}

#[test]
fn eval_names_the_bad_field_of_the_input() {
    let files = Files::new();
    files.write(
        "profile.json",
        r#"{"customer_id":"c","events":[{"kind":"purchase","at":"last tuesday"}]}"#,
    );
    let out = eval(&files, COFFEE_CHAIN, &[]);
    assert_eq!(out.status.code(), Some(1));
    let body: ErrorBody = serde_json::from_str(&stdout(&out)).expect("an error on stdout");
    assert_eq!(body.error.code, "invalid_input");
    assert!(
        body.error
            .message
            .starts_with("profile at events[0].at: \"last tuesday\""),
        "{}",
        body.error.message
    );
}

#[test]
fn eval_refuses_a_file_that_is_not_a_plugin() {
    let files = Files::new();
    let bogus = files.write("bogus.wasm", "not wasm");
    let out = eval(&files, &bogus, &[]);
    assert_eq!(out.status.code(), Some(1));
    let body: ErrorBody = serde_json::from_str(&stdout(&out)).expect("an error on stdout");
    assert_eq!(body.error.code, "invalid_plugin");
    assert!(
        body.error.message.contains("not a WebAssembly file"),
        "{}",
        body.error.message
    );
}

#[test]
fn test_runs_every_fixture_and_ends_with_the_count() {
    let dir = Path::new(PLUGINS_DIR).join("coffee-chain/fixtures");
    let out = rulehost(&["test", "--no-cache", COFFEE_CHAIN, &dir.display().to_string()]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    let fixtures = std::fs::read_dir(&dir).expect("fixtures").count();
    assert_eq!(
        text.lines().last(),
        Some(format!("{fixtures} passed, 0 failed").as_str()),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), fixtures);
}

#[test]
fn test_shows_a_diff_and_exits_one_when_a_fixture_fails() {
    let files = Files::new();
    let source = Path::new(PLUGINS_DIR).join("coffee-chain/fixtures");
    let good = std::fs::read_to_string(source.join("01-no-events.json")).expect("fixture");
    let bad = std::fs::read_to_string(source.join("02-first-purchase.json"))
        .expect("fixture")
        .replace("first purchase 2 days ago", "first purchase 3 days ago");
    let dir = files.dir.path().join("fixtures");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("a.json"), good).expect("write");
    std::fs::write(dir.join("b.json"), bad).expect("write");
    let out = rulehost(&["test", "--no-cache", COFFEE_CHAIN, &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("FAIL   first purchase (b.json)"), "{text}");
    assert!(
        text.contains("-    \"reason\": \"first purchase 3 days ago\","),
        "{text}"
    );
    assert!(
        text.contains("+    \"reason\": \"first purchase 2 days ago\","),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn test_without_fixtures_cannot_run() {
    let files = Files::new();
    let empty = files.dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = rulehost(&["test", "--no-cache", COFFEE_CHAIN, &empty.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fixtures"));
}

/// `rulehost check` with the coffee sample's offers, and its config unless
/// `config` names another.
fn check(files: &Files, plugin: &str, config: Option<&str>, extra: &[&str]) -> Output {
    let sample = Path::new(PLUGINS_DIR).join("coffee-chain/sample");
    let (sample_config, offers) = (sample.join("config.json"), sample.join("offers.json"));
    let save = files.path("saved");
    let mut args = vec![
        "check",
        "--no-cache",
        plugin,
        "--config",
        config.unwrap_or(sample_config.to_str().expect("utf-8 path")),
        "--offers",
        offers.to_str().expect("utf-8 path"),
        "--save",
        &save,
    ];
    args.extend_from_slice(extra);
    rulehost(&args)
}

#[test]
fn check_says_the_coffee_plugin_fits_over_every_shape_of_customer() {
    let files = Files::new();
    let out = check(&files, COFFEE_CHAIN, None, &["--customers", "100"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The edge shapes (15) and the generated customers, each twice.
    assert!(text.starts_with("115 customers, 230 decisions"), "{text}");
    for line in ["fuel", "time (ms)", "memory (MiB)"] {
        assert!(text.lines().any(|l| l.starts_with(line)), "no {line} line: {text}");
    }
    assert_eq!(
        text.lines().last(),
        Some("fits: every decision answered within the limits, the same way twice"),
        "{text}"
    );
    assert!(
        !Path::new(&files.path("saved")).exists(),
        "nothing failed, nothing saved"
    );

    // The brand's own customers instead, and the report as JSON.
    let generated = rulehost(&["gen-profiles", "--brand", "coffee", "--n", "20", "--seed", "7"]);
    assert!(generated.status.success(), "{generated:?}");
    let own = files.write("own.ndjson", &stdout(&generated));
    let out = check(&files, COFFEE_CHAIN, None, &["--profiles", &own, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["customers"], 20);
    assert_eq!(report["runs"], 40);
    assert_eq!(report["fits"], true);
    let fuel = &report["fuel"];
    assert!(
        fuel["p50"].as_u64() > Some(0)
            && fuel["p50"].as_u64() <= fuel["p99"].as_u64()
            && fuel["p99"].as_u64() <= fuel["max"].as_u64(),
        "{fuel}"
    );
    assert!(report["memory_bytes"]["max"].as_u64() > Some(0), "{report}");
}

#[test]
fn check_finds_the_customer_shape_that_traps_and_saves_it_as_a_fixture() {
    let files = Files::new();
    // A plugin that works for every ordinary customer and panics for one
    // with more than 1,000 events: only the huge edge shape finds it.
    let config = files.write("trap.json", r#"{"over_events": 1000}"#);
    let out = check(&files, TRAP, Some(&config), &["--customers", "50"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED 2 × plugin_trap: first for huge: "),
        "the huge customer traps in both runs: {text}"
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("FAILED")).count(), 1, "{text}");
    assert_eq!(
        text.lines().last(),
        Some("does not fit the limits it would run under (see above)")
    );
    let saved: Vec<_> = std::fs::read_dir(files.path("saved"))
        .expect("the failing input was saved")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved[0]).expect("read")).expect("JSON");
    assert_eq!(fixture["expect"]["error"]["code"], "plugin_trap", "{fixture}");
    assert!(fixture["profile"]["events"].as_array().is_some_and(|e| e.len() > 1000));
    // The saved fixture runs as it is: the plugin still traps on it.
    let out = rulehost(&["test", "--no-cache", TRAP, &files.path("saved")]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn check_reports_a_plugin_past_its_deadline_as_unfit() {
    let files = Files::new();
    let out = check(
        &files,
        LOOP_FOREVER,
        None,
        &["--customers", "0", "--deadline-ms", "20", "--fuel", "100000000000"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED 30 × plugin_timeout: first for empty"), "{text}");
}

#[test]
fn check_names_what_it_cannot_read() {
    let files = Files::new();
    let bad = files.write("bad.ndjson", "{\"customer_id\": \"a\"}\nnot json\n");
    let out = check(&files, COFFEE_CHAIN, None, &["--profiles", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.ndjson line 2"), "{stderr}");
}

#[test]
fn bad_arguments_exit_two() {
    let out = rulehost(&["eval", "--profile", "p.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn build_produces_a_component_that_loads() {
    let files = Files::new();
    let out_path = files.path("trap.wasm");
    // The test artifacts' own cargo target dir: already built, and not
    // locked by the cargo running this test.
    let target_dir: PathBuf = Path::new(COFFEE_CHAIN)
        .ancestors()
        .nth(2)
        .expect("artifacts live in <target>/components")
        .to_owned();
    let crate_dir = Path::new(PLUGINS_DIR).join("hostile/trap");
    let out = rulehost(&[
        "build",
        &crate_dir.display().to_string(),
        "--out",
        &out_path,
        "--target-dir",
        &target_dir.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out).trim(), out_path);
    let plugin = crate::engine()
        .load(&std::fs::read(&out_path).expect("written"))
        .expect("loads");
    assert_eq!(plugin.name(), "hostile-trap");
}

#[test]
fn the_client_pushes_activates_rolls_back_and_decides() {
    use crate::serve::{ChildServer, TestServer};
    let dir = tempfile::tempdir().expect("temp dir");
    let child = ChildServer::start(dir.path());
    let server = TestServer::remote(child.addr);
    let key = server.coffee_tenant("brand");
    server.add_apparel_config("brand", &key);

    let files = Files::new();
    let url = child.url("");
    let client = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rulehost"))
            .args(args)
            .env("RULEHOST_SERVER", &url)
            .env("RULEHOST_TENANT", "brand")
            .env("RULEHOST_KEY", &key)
            .output()
            .expect("the client runs")
    };
    let groups = |out: &Output| -> Vec<String> {
        let decision: Decision = serde_json::from_str(&stdout(out)).expect("a decision");
        decision.tags.into_iter().map(|t| t.group).collect()
    };
    let profile = files.path("profile.json");
    let decide = || client(&["decide", "--profile", &profile, "--now", NOW]);

    assert_eq!(groups(&decide()), ["member", "favourite-category"]);
    let pushed = client(&[
        "plugin",
        "push",
        APPAREL_RFM,
        "--version",
        "9.9.9",
        "--activate",
        "main",
    ]);
    assert!(pushed.status.success(), "{}", stdout(&pushed));
    assert_eq!(groups(&decide()), ["rfm-segment", "value-tier", "channel-source"]);
    let listed = client(&["plugin", "list"]);
    assert!(stdout(&listed).contains("\"9.9.9\""), "{}", stdout(&listed));
    let rolled = client(&["plugin", "rollback"]);
    assert!(rolled.status.success(), "{}", stdout(&rolled));
    assert_eq!(groups(&decide()), ["member", "favourite-category"]);
    let activated = client(&["plugin", "activate", "apparel-rfm", "9.9.9"]);
    assert!(activated.status.success(), "{}", stdout(&activated));
    assert_eq!(groups(&decide()), ["rfm-segment", "value-tier", "channel-source"]);

    // A server error is printed as JSON and exits 1.
    let missing = client(&["plugin", "activate", "apparel-rfm", "0.0.0"]);
    assert_eq!(missing.status.code(), Some(1));
    let body: ErrorBody = serde_json::from_str(&stdout(&missing)).expect("an error");
    assert_eq!(body.error.code, "not_found");
}
