//! The operator console in a real browser: `tests/console` drives Debian's
//! Chromium with Playwright against a real `rulehost serve --demo` — sign
//! in as the operator and as a tenant, upload and activate a plugin
//! version, simulate it over stored customers, activate it, find a
//! decision with its explanation and replay it, see a bad offers document
//! refused at its field, read the audit log, roll back, switch to
//! Chinese, follow a customer from their events to the decision they
//! triggered and its wake-up, read the dead letters of the event stream
//! (the server takes events from NATS), erase a customer, and see nothing
//! of another tenant — saving a screenshot of every main page
//! (`target/console-screenshots`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rulehost_test_artifacts::{COFFEE_CHAIN_DORMANT_10, PLUGINS_DIR};

use crate::heavy;
use crate::serve::{ChildServer, OPERATOR};

#[test]
fn the_console_works_in_a_real_browser() {
    // Chromium is the largest process any test starts.
    let _guard = heavy();
    let chromium = crate::chromium();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tests = repo.join("tests/console");
    assert!(
        repo.join("node_modules/playwright-core").exists(),
        "the console test needs the npm workspaces' tools: `npm ci` at the repository's root (scripts/test does)"
    );
    let data = tempfile::tempdir().expect("temp dir");
    // The customers the simulation page stores and simulates over.
    let profiles = data.path().join("customers.ndjson");
    let generated = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(["gen-profiles", "--brand", "coffee", "--n", "300", "--seed", "7"])
        .output()
        .expect("gen-profiles runs");
    assert!(generated.status.success(), "gen-profiles failed");
    std::fs::write(&profiles, &generated.stdout).expect("profiles written");
    // On NATS, so the customers page has a dead letter to show.
    let prefix = crate::stream::fresh_prefix();
    let nats = crate::stream::nats_url();
    let server = ChildServer::spawn(
        data.path(),
        None,
        &[
            ("RULEHOST_DEMO_CUSTOMERS", "200"),
            ("RULEHOST_NATS_URL", &nats),
            ("RULEHOST_NATS_PREFIX", &prefix),
        ],
        &["--demo"],
    );
    server.wait_ready(Duration::from_secs(120));
    let rt = crate::stream::runtime();
    rt.block_on(async {
        let nats = crate::stream::connect(&prefix).await;
        let subject = nats.names().events("coffee");
        crate::stream::publish(
            &nats,
            &subject,
            "poison-1",
            "{\"event_id\": \"poison-1\", \"kind\": \"view\"}",
        )
        .await;
    });
    // The demo's customers for simulations are stored once it is ready.
    let api = crate::serve::TestServer::remote(server.addr);
    let started = std::time::Instant::now();
    loop {
        let (status, sets) = api.call("GET", "/v1/tenants/coffee/profile-sets", OPERATOR, None);
        assert_eq!(status, 200, "{sets}");
        if sets.as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["name"] == "coffee-customers" && s["customers"] == 200)
        }) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the demo customers were never stored: {sets}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    // Only this run's pages count.
    let _ = std::fs::remove_dir_all(&screenshots);
    let out = Command::new("node")
        .args([
            "--import",
            "tsx",
            "--test",
            "--test-reporter=spec",
            "test/console.test.ts",
        ])
        .current_dir(&tests)
        .env("RULEHOST_CHROMIUM", chromium)
        .env("RULEHOST_CHROMIUM_FLAGS", crate::CHROMIUM_FLAGS.join(" "))
        .env("RULEHOST_URL", server.url(""))
        .env("RULEHOST_OPERATOR", OPERATOR)
        .env("RULEHOST_TENANT_KEY", rulehost::demo::TENANTS[0].key())
        .env("RULEHOST_PLUGIN", COFFEE_CHAIN_DORMANT_10)
        .env(
            "RULEHOST_SAMPLE_REQUEST",
            format!("{PLUGINS_DIR}/coffee-chain/sample/decide.json"),
        )
        .env("RULEHOST_APPAREL_KEY", rulehost::demo::TENANTS[1].key())
        .env(
            "RULEHOST_APPAREL_SAMPLE_REQUEST",
            format!("{PLUGINS_DIR}/apparel-rfm/sample/decide.json"),
        )
        .env("RULEHOST_PROFILES", &profiles)
        .env("RULEHOST_SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the browser tests failed:\n{report}");
    for page in [
        "operator-tenants",
        "operator-tenant",
        "operator-health",
        "tenant-pipeline",
        "tenant-versions",
        "tenant-simulation",
        "tenant-candidates",
        "tenant-config",
        "tenant-audit",
        "tenant-decision",
        "tenant-decision-zh",
        "tenant-decision-segments-zh",
        "tenant-customers",
        "tenant-customer",
        "tenant-customer-zh",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
