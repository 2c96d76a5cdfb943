//! Simulation: the coffee plugin against the book's candidate (dormant
//! after 10 days instead of 14) over generated customers, in the library and
//! through `rulehost simulate`, and the HTML report rendered by Chromium.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rulehost::compare::{ArmSummary, Report};
use rulehost::generate::{self, Brand};
use rulehost::model::{Offer, TenantConfig, Timestamp};
use rulehost::policy::Policy;
use rulehost::simulate::{self, Arm, Setup, SimulateError};
use rulehost_test_artifacts::{COFFEE_CHAIN, COFFEE_CHAIN_DORMANT_10, PLUGINS_DIR};

use crate::{NOW, engine, heavy, plugin};

fn sample(name: &str) -> String {
    let path = format!("{PLUGINS_DIR}/coffee-chain/sample/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The sample policy plus a budget of 300 win-back coupons in all.
fn policy() -> Policy {
    let mut policy: Policy = serde_json::from_str(&sample("policy.json")).expect("the sample policy");
    policy.offers.insert(
        "come-back-5".into(),
        serde_json::from_str(r#"{"budget": 300}"#).expect("an offer policy"),
    );
    policy
}

fn arm(label: &str, path: &str) -> Arm {
    let plugin = plugin(path);
    let config: TenantConfig = serde_json::from_str(&sample("config.json")).expect("the sample config");
    let offers: Vec<Offer> = serde_json::from_str(&sample("offers.json")).expect("the sample offers");
    Arm {
        summary: ArmSummary::of(label.into(), std::slice::from_ref(&plugin)),
        plugins: vec![plugin],
        config: Arc::new(config),
        offers: offers.into(),
        policy: Arc::new(policy()),
    }
}

fn customers(n: usize) -> String {
    let now = Timestamp::parse(NOW).expect("now");
    let mut text = String::new();
    for profile in generate::profiles(Brand::Coffee, n, 11, now) {
        text.push_str(&profile.to_string());
        text.push('\n');
    }
    text
}

fn setup(workers: usize) -> Setup {
    Setup {
        tenant_id: "coffee".into(),
        tz_offset_minutes: 480,
        now: Some(Timestamp::parse(NOW).expect("now")),
        workers,
        samples: 40,
        ..Setup::default()
    }
}

fn run(workers: usize, input: &str) -> Result<Report, SimulateError> {
    let (baseline, candidate) = (arm("baseline", COFFEE_CHAIN), arm("candidate", COFFEE_CHAIN_DORMANT_10));
    let mut last = 0;
    let report = simulate::run(
        engine(),
        &baseline,
        &candidate,
        &setup(workers),
        Cursor::new(input.as_bytes()),
        |p| {
            assert_eq!(p.customers, last + 1, "progress counts every customer once, in order");
            last = p.customers;
        },
    )?;
    assert_eq!(last, report.customers);
    Ok(report)
}

#[test]
fn the_dormancy_candidate_moves_growth_customers_to_dormancy_and_spends_the_win_back_budget() {
    let _heavy = heavy();
    let report = run(2, &customers(3000)).expect("the simulation runs");
    assert_eq!(report.customers, 3000);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for stage in &report.stages {
        let moved_out: u64 = report
            .transitions
            .iter()
            .filter(|t| t.from == stage.stage)
            .map(|t| t.customers)
            .sum();
        let moved_in: u64 = report
            .transitions
            .iter()
            .filter(|t| t.to == stage.stage)
            .map(|t| t.customers)
            .sum();
        assert_eq!(
            moved_out, stage.customers.baseline,
            "{}: rows sum to the baseline",
            stage.stage
        );
        assert_eq!(
            moved_in, stage.customers.candidate,
            "{}: columns sum to the candidate",
            stage.stage
        );
    }
    let growth_to_dormancy = report.moved("growth", "dormancy");
    assert!(growth_to_dormancy > 20, "growth → dormancy: {growth_to_dormancy}");
    assert_eq!(
        report.moved("dormancy", "growth"),
        0,
        "a shorter threshold never wakes anyone"
    );
    let win_back = report.offer("come-back-5").expect("the win-back offer is counted");
    assert!(win_back.proposed.candidate > win_back.proposed.baseline, "{win_back:?}");
    // The budget caps what is sent: the candidate proposes more than the
    // budget, sends exactly the budget and refuses the rest.
    let budget = report
        .budgets
        .iter()
        .find(|b| b.offer_id == "come-back-5")
        .expect("its budget");
    assert_eq!(budget.budget, 300);
    assert!(win_back.proposed.candidate > 300, "{win_back:?}");
    assert_eq!(win_back.selected.candidate, 300);
    assert_eq!(budget.spent.candidate, 300);
    assert!(budget.refused.candidate > 0 && budget.refused.candidate >= budget.refused.baseline);
    assert!(win_back.selected.baseline <= 300);
    // The samples explain themselves: every change names its rule.
    assert!(!report.samples.is_empty() && report.samples.len() <= 40);
    let moved = report
        .samples
        .iter()
        .find(|s| s.baseline_stage == "growth" && s.candidate_stage == "dormancy")
        .expect("a sampled growth → dormancy customer");
    let stage = moved
        .changes
        .iter()
        .find(|c| c.what == "stage")
        .expect("the stage change");
    assert!(
        stage.why.contains("coffee.stage.dormancy") && stage.why.contains("dormant after 10"),
        "{}",
        stage.why
    );
}

#[test]
fn a_simulation_reports_the_same_whatever_the_number_of_threads() {
    let _heavy = heavy();
    let input = customers(800);
    let one = run(1, &input).expect("one thread");
    let four = run(4, &input).expect("four threads");
    assert_eq!(one, four);
    assert!(one.changed > 0);
}

#[test]
fn a_bad_line_stops_the_simulation_with_its_number() {
    let mut input = customers(5);
    input.push('\n'); // a blank line is skipped, but counted
    input.push_str("{\"customer_id\": 7}\n");
    input.push_str(&customers(5));
    let err = run(2, &input).expect_err("line 7 is not a profile");
    let SimulateError::Line { line, message } = &err else {
        panic!("{err}")
    };
    assert_eq!(*line, 7, "{err}");
    assert!(message.contains("customer_id"), "{err}");
    let err = run(2, "{\"customer_id\": \"a\", \"events\": []}\nnot json\n").expect_err("line 2 is not JSON");
    assert!(err.to_string().starts_with("line 2: not a JSON object"), "{err}");
}

/// Renders `page` in headless Chromium; the PNG's size and RGB pixels.
fn screenshot(page: &Path, png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let profile = tempfile::tempdir().expect("a profile dir");
    let out = Command::new(crate::chromium())
        .arg("--headless")
        .args(crate::CHROMIUM_FLAGS)
        .args(["--hide-scrollbars", "--window-size=1280,1800"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("the PNG's pixels");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "chromium writes 8-bit colour");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("chromium wrote a {other:?} PNG"),
    };
    pixels.truncate(info.buffer_size());
    let rgb = pixels.chunks_exact(step).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, rgb)
}

#[test]
fn a_simulation_whose_every_decision_fails_says_so_first_and_exits_non_zero() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("customers.ndjson");
    std::fs::write(&profiles, customers(2000)).expect("write customers");
    let out_dir = dir.path().join("report");
    // The plugin against itself, without the config it requires: every
    // decision fails on both sides with plugin_error.
    let out = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(["simulate", "--baseline", COFFEE_CHAIN, "--candidate", COFFEE_CHAIN])
        .arg("--profiles")
        .arg(&profiles)
        .args(["--now", NOW, "--quiet", "--out"])
        .arg(&out_dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("2000 customers in "), "{stdout}");
    assert_eq!(
        lines[1], "FAILED: every decision failed on both sides: 2000 of 2000 baseline, 2000 of 2000 candidate",
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("  plugin_error: 2000 baseline, 2000 candidate; e.g. coffee-chain: config_missing: "),
        "{stdout}"
    );
    let report: Report =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report.json")).expect("a report");
    assert_eq!((report.failed.baseline, report.failed.candidate), (2000, 2000));
    assert_eq!(report.errors[0].code, "plugin_error");
    assert!(
        report.errors[0].example.contains("config_missing"),
        "{:?}",
        report.errors
    );
    // The page leads with the failures, before "At a glance".
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("report.html");
    let failed = html
        .find("Every decision failed on one side or both")
        .expect("the page says every decision failed");
    assert!(failed < html.find("At a glance").expect("the glance section"));
    assert!(html.contains("<b class=\"down\">4,000</b>decisions failed (2,000 baseline, 2,000 candidate)"));

    // Only the candidate fails (its config lacks a key): it still compared
    // nothing, and says which side failed.
    let config = format!("{PLUGINS_DIR}/coffee-chain/sample/config.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(["simulate", "--baseline", COFFEE_CHAIN, "--candidate", COFFEE_CHAIN])
        .arg("--profiles")
        .arg(&profiles)
        .args(["--now", NOW, "--quiet", "--config", &config, "--candidate-config"])
        .arg(write_config_without_one_key(dir.path(), &config))
        .arg("--out")
        .arg(&out_dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the candidate fails every decision: {stdout}"
    );
    assert!(
        stdout.contains("every decision failed on the candidate: 0 of 2000 baseline, 2000 of 2000 candidate"),
        "{stdout}"
    );
}

/// The sample config without `coffee.high_value_min_minor`, which the
/// plugin requires.
fn write_config_without_one_key(dir: &Path, config: &str) -> std::path::PathBuf {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config).expect("config")).expect("json");
    value
        .as_object_mut()
        .expect("an object")
        .remove("coffee.high_value_min_minor");
    let path = dir.join("partial-config.json");
    std::fs::write(&path, value.to_string()).expect("write config");
    path
}

#[test]
fn the_cli_writes_a_report_that_chromium_renders_with_its_charts() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("customers.ndjson");
    std::fs::write(&profiles, customers(1500)).expect("write customers");
    let policy_file = dir.path().join("policy.json");
    std::fs::write(&policy_file, serde_json::to_string(&policy()).expect("policy")).expect("write policy");
    let out_dir = dir.path().join("report");
    let sample_dir = format!("{PLUGINS_DIR}/coffee-chain/sample");
    let out = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args([
            "simulate",
            "--baseline",
            COFFEE_CHAIN,
            "--candidate",
            COFFEE_CHAIN_DORMANT_10,
        ])
        .arg("--profiles")
        .arg(&profiles)
        .args(["--config", &format!("{sample_dir}/config.json")])
        .args(["--offers", &format!("{sample_dir}/offers.json")])
        .arg("--policy")
        .arg(&policy_file)
        .args(["--now", NOW, "--tz-offset-minutes", "480", "--quiet"])
        .arg("--out")
        .arg(&out_dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1500 customers"), "{stdout}");
    let report: Report =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report.json")).expect("a report");
    assert_eq!(report.customers, 1500);
    assert!(report.moved("growth", "dormancy") > 0);

    // The page is self-contained: nothing to fetch, every chart inline.
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("report.html");
    for needle in ["<svg id=\"stages\"", "<svg id=\"transitions\"", "<svg id=\"offers\""] {
        assert!(html.contains(needle), "the page has {needle}");
    }
    for outside in ["src=", "href=\"http", "url(", "@import", "<link"] {
        assert!(
            !html.contains(outside),
            "the page refers to something outside itself: {outside}"
        );
    }
    let growth_to_dormancy = format!(
        "<b>{}</b>move from <strong>growth</strong> to <strong>dormancy</strong>",
        report.moved("growth", "dormancy")
    );
    assert!(
        html.contains(&growth_to_dormancy),
        "the glance cards show growth → dormancy"
    );

    let png = out_dir.join("report.png");
    let (width, height, pixels) = screenshot(&out_dir.join("report.html"), &png);
    assert_eq!((width, height), (1280, 1800));
    // Rendered, not blank: the candidate's blue bars and the dark headings
    // are there in quantity.
    let count = |f: &dyn Fn(&[u8; 3]) -> bool| pixels.iter().filter(|p| f(p)).count();
    let blue = count(&|p| p[2] > 180 && p[0] < 90 && p[1] > 80 && p[1] < 150);
    let dark = count(&|p| p[0] < 60 && p[1] < 60 && p[2] < 70);
    assert!(blue > 5_000, "blue chart pixels: {blue}");
    assert!(dark > 2_000, "text pixels: {dark}");
}

#[test]
fn the_server_simulates_an_uploaded_profile_set_as_the_cli_does_against_the_same_tenant() {
    use crate::replay::sample_tenant;
    use crate::serve::TestServer;

    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let tenant = "sim";
    let key = sample_tenant(&server, tenant);
    let policy = serde_json::to_value(policy()).expect("policy");
    assert_eq!(
        server
            .call("PUT", &format!("/v1/tenants/{tenant}/policy"), &key, Some(policy))
            .0,
        200
    );
    let candidate = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("the candidate");
    assert_eq!(server.upload(tenant, &key, &candidate, "2.0.0").0, 201);

    let input = customers(1200);
    let post = |query: &str, body: String| {
        server.call_ndjson("POST", &format!("/v1/tenants/{tenant}/simulate?{query}"), &key, body)
    };
    let now = NOW.replace('+', "%2B");
    let (status, served) = post(&format!("name=coffee-chain&version=2.0.0&now={now}"), input.clone());
    assert_eq!(status, 200, "{served}");
    let served: Report = serde_json::from_value(served).expect("a report");
    assert_eq!(served.customers, 1200);
    assert!(served.moved("growth", "dormancy") > 0);
    assert_eq!(served.candidate.plugins[0].version, "2.0.0");
    assert_eq!(served.baseline.plugins[0].version, "1.0.0");

    // The CLI against the same tenant (it downloads the active version,
    // config, catalog and policy) finds the same.
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("customers.ndjson");
    std::fs::write(&profiles, &input).expect("write customers");
    let out = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args([
            "simulate",
            "--tenant",
            tenant,
            "--key",
            &key,
            "--server",
            &server.url(""),
        ])
        .args([
            "--candidate",
            COFFEE_CHAIN_DORMANT_10,
            "--now",
            NOW,
            "--quiet",
            "--samples",
            "50",
        ])
        .arg("--profiles")
        .arg(&profiles)
        .arg("--out")
        .arg(dir.path().join("report"))
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let local: Report =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).expect("report.json"))
            .expect("a report");
    assert_eq!(
        (
            &local.stages,
            &local.transitions,
            &local.offers,
            &local.tags,
            &local.channels,
            &local.budgets
        ),
        (
            &served.stages,
            &served.transitions,
            &served.offers,
            &served.tags,
            &served.channels,
            &served.budgets
        )
    );

    // A bad line is named; an unknown version is not found.
    let mut bad = customers(2);
    bad.push_str("{\"customer_id\": 1}\n");
    let (status, answer) = post(&format!("name=coffee-chain&version=2.0.0&now={now}"), bad);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"].as_str().expect("message").contains("line 3"),
        "{answer}"
    );
    let (status, _) = post(&format!("name=coffee-chain&version=7.0.0&now={now}"), customers(2));
    assert_eq!(status, 404);
}

#[test]
fn a_stored_profile_set_is_simulated_again_without_uploading_it_and_a_bad_one_changes_nothing() {
    use crate::replay::sample_tenant;
    use crate::serve::TestServer;

    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(dir.path());
    let tenant = "sets";
    let key = sample_tenant(&server, tenant);
    let candidate = std::fs::read(COFFEE_CHAIN_DORMANT_10).expect("the candidate");
    assert_eq!(server.upload(tenant, &key, &candidate, "2.0.0").0, 201);
    let send = |method: &str, path: &str, body: String| server.call_ndjson(method, path, &key, body);
    let sets = format!("/v1/tenants/{tenant}/profile-sets");

    let input = customers(300);
    let (status, stored) = send("PUT", &format!("{sets}/march"), input.clone());
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["customers"], 300);
    assert_eq!(stored["bytes"], input.len());
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input));
    assert_eq!(stored["sha256"], sha256.as_str());
    let (status, listed) = server.call("GET", &sets, &key, None);
    assert_eq!((status, listed.clone()), (200, serde_json::json!([stored.clone()])));

    // The stored set gives the report the same customers uploaded give.
    let now = NOW.replace('+', "%2B");
    let simulate = format!("/v1/tenants/{tenant}/simulate?name=coffee-chain&version=2.0.0&now={now}");
    let (status, uploaded) = send("POST", &simulate, input.clone());
    assert_eq!(status, 200, "{uploaded}");
    let (status, from_set) = send("POST", &format!("{simulate}&profile_set=march"), String::new());
    assert_eq!(status, 200, "{from_set}");
    assert_eq!(from_set["customers"], 300);
    assert_eq!(from_set["customers"], uploaded["customers"]);
    for part in [
        "stages",
        "transitions",
        "offers",
        "tags",
        "channels",
        "budgets",
        "errors",
    ] {
        assert_eq!(from_set[part], uploaded[part], "{part}");
    }
    let report: Report = serde_json::from_value(from_set).expect("a report");
    assert!(report.moved("growth", "dormancy") > 0);

    // Refused, each naming what is wrong; the stored set stays as it was
    // and no partial file is left behind.
    let mut bad = customers(2);
    bad.push_str("{\"customer_id\": 1}\n");
    let refusals = [
        ("PUT", format!("{sets}/march"), bad, 400, "line 3"),
        ("PUT", format!("{sets}/march"), "\n\n".to_owned(), 400, "empty"),
        (
            "PUT",
            format!("{sets}/Not%20A%20Name"),
            customers(1),
            400,
            "profile set name",
        ),
        (
            "POST",
            format!("{simulate}&profile_set=march"),
            customers(1),
            400,
            "no body",
        ),
        (
            "POST",
            format!("{simulate}&profile_set=april"),
            String::new(),
            404,
            "april",
        ),
        ("DELETE", format!("{sets}/april"), String::new(), 404, "april"),
    ];
    for (method, path, body, expected, names) in refusals {
        let (status, answer) = send(method, &path, body);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().expect("a message");
        assert!(message.contains(names), "{method} {path}: {message}");
    }
    assert_eq!(server.call("GET", &sets, &key, None).1, listed);
    assert_eq!(
        crate::serve::stored_sets(dir.path(), tenant),
        vec![format!("{sha256}.ndjson")],
        "the set, and nothing a refused upload left"
    );

    // Another tenant's key does not see them; deleting removes the file.
    let other = sample_tenant(&server, "other");
    assert_eq!(server.call("GET", &sets, &other, None).0, 404);
    let (status, _) = send("DELETE", &format!("{sets}/march"), String::new());
    assert_eq!(status, 204);
    assert_eq!(server.call("GET", &sets, &key, None).1, serde_json::json!([]));
    assert_eq!(crate::serve::stored_sets(dir.path(), tenant), Vec::<String>::new());
}

#[test]
fn profile_sets_past_their_limits_are_refused_naming_the_setting_and_nothing_is_stored() {
    use crate::replay::sample_tenant;
    use crate::serve::TestServer;

    let three = customers(3);
    let lines: Vec<&str> = three.lines().collect();
    // Room for the first two customers exactly.
    let room = lines[0].len() + lines[1].len() + 2;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_with_settings(
        dir.path(),
        &[
            ("RULEHOST_SIMULATE_MAX_CUSTOMERS", "2"),
            ("RULEHOST_PROFILE_SET_MAX_BYTES", &room.to_string()),
            ("RULEHOST_PROFILE_SETS_MAX_PER_TENANT", "1"),
        ],
    );
    let tenant = "limits";
    let key = sample_tenant(&server, tenant);
    let sets = format!("/v1/tenants/{tenant}/profile-sets");
    let put = |name: &str, body: String| server.call_ndjson("PUT", &format!("{sets}/{name}"), &key, body);

    let (status, kept) = put("one", format!("{}\n{}\n", lines[0], lines[1]));
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["bytes"], room);
    let refusals = [
        (
            "one",
            three.clone(),
            400,
            "line 3: more than 2 customers (simulate_max_customers)",
        ),
        // Two bytes more than there is room for.
        (
            "one",
            format!("{}\n  {}\n", lines[0], lines[1]),
            400,
            "line 2: the set would be larger than",
        ),
        ("two", format!("{}\n", lines[0]), 409, "profile_sets_max_per_tenant"),
    ];
    for (name, body, expected, names) in refusals {
        let (status, answer) = put(name, body);
        assert_eq!(status, expected, "{answer}");
        let message = answer["error"]["message"].as_str().expect("a message");
        assert!(message.contains(names), "{message}");
    }
    assert_eq!(server.call("GET", &sets, &key, None).1, serde_json::json!([kept]));
}
