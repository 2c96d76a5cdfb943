//! The OpenAPI document against the server it describes: a property-based
//! contract tester (schemathesis, with every check, following the
//! document's links) finds no mismatch, and a client generated from the
//! document (openapi-python-client) does a brand's first steps.
//!
//! The Python tools come from tests/contract/requirements.txt; the test
//! command (`bash scripts/test`) installs them and names their folder in
//! `RULEHOST_PYTHON_TOOLS`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rulehost_test_artifacts::{COFFEE_CHAIN, PLUGINS_DIR};

use crate::serve::{ChildServer, OPERATOR, agent};
use crate::{NOW, heavy};

/// The Python tests' folder: config, hooks, the client flow.
const CONTRACT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/contract");

/// The folder of the Python tools' executables.
fn tools() -> PathBuf {
    match std::env::var_os("RULEHOST_PYTHON_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "RULEHOST_PYTHON_TOOLS is not set: run the tests with `bash scripts/test`, which installs the Python \
             tools of tests/contract/requirements.txt and sets it"
        ),
    }
}

fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[test]
fn the_openapi_document_holds_against_the_server_under_every_check() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().expect("temp dir");
    // A feed read waits at most a second here (the tester tries the
    // largest wait the document allows, on a feed with nothing to read).
    let server = ChildServer::spawn(
        &dir.path().join("data"),
        None,
        &[("RULEHOST_FEED_MAX_WAIT_S", "1")],
        &["--demo"],
    );
    server.wait_ready(Duration::from_secs(120));
    // Longer runs: RULEHOST_CONTRACT_EXAMPLES=500 RULEHOST_CONTRACT_SEED=…
    let examples = setting("RULEHOST_CONTRACT_EXAMPLES", "40");
    let seed = setting("RULEHOST_CONTRACT_SEED", "1");
    let output = run(
        "schemathesis",
        Command::new(tools().join("schemathesis"))
            .current_dir(dir.path())
            .env("PYTHONPATH", CONTRACT)
            .env("NO_COLOR", "1")
            .arg("--config-file")
            .arg(Path::new(CONTRACT).join("schemathesis.toml"))
            .arg("run")
            .arg(server.url("/openapi.json"))
            .args(["--checks", "all", "--max-examples", &examples, "--seed", &seed])
            .args(["-H", &format!("Authorization: Bearer {OPERATOR}")]),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    // Every operation was tested, through every phase, and nothing failed.
    let count = |label: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|n| n.rsplit('/').next().unwrap_or(n).trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} line:\n{report}"))
    };
    assert_eq!(count("Selected:"), count("Tested:"), "{report}");
    for phase in ["Coverage", "Fuzzing", "Stateful"] {
        assert!(
            report.contains(&format!("✅ {phase}")),
            "{phase} did not pass:\n{report}"
        );
    }
    eprintln!(
        "{}",
        report
            .lines()
            .filter(|l| l.contains("generated") || l.contains("API Links"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The server's `/openapi.json`, written to `openapi.json` in `dir`.
fn served_document(server: &ChildServer, dir: &Path) -> PathBuf {
    let document = agent()
        .get(&server.url("/openapi.json"))
        .call()
        .expect("the document")
        .body_mut()
        .read_to_string()
        .expect("its text");
    let doc = dir.join("openapi.json");
    std::fs::write(&doc, document).expect("write the document");
    doc
}

#[test]
fn a_client_generated_from_the_document_creates_a_tenant_uploads_activates_and_decides() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ChildServer::start(&dir.path().join("data"));
    let doc = served_document(&server, dir.path());
    let packages = dir.path().join("packages");
    let tools = tools();
    // The tools' folder first on PATH: the generator formats with ruff.
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
    run(
        "openapi-python-client",
        Command::new(tools.join("openapi-python-client"))
            .env("PATH", &path)
            .args(["generate", "--meta", "none", "--path"])
            .arg(&doc)
            .arg("--output-path")
            .arg(packages.join("rulehost_client")),
    );
    let flow = Path::new(CONTRACT).join("client_flow.py");
    // The flow is type-checked against the generated client.
    run(
        "mypy",
        Command::new(tools.join("mypy"))
            .env("MYPYPATH", &packages)
            .args(["--strict", "--follow-imports=silent", "--cache-dir"])
            .arg(dir.path().join("mypy"))
            .arg(&flow),
    );
    let output = run(
        "the generated client's flow",
        Command::new(tools.join("python"))
            .env("PYTHONPATH", &packages)
            .arg(&flow)
            .arg(server.url(""))
            .arg(OPERATOR)
            .arg(COFFEE_CHAIN)
            .arg(Path::new(PLUGINS_DIR).join("coffee-chain/sample"))
            .arg(NOW),
    );
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the flow prints JSON");
    assert_eq!(
        decision["plugins"],
        serde_json::json!(["coffee-chain@1.0.0"]),
        "{decision}"
    );
    assert_eq!(decision["stage"]["value"], "growth", "{decision}");
    assert_eq!(decision["stage"]["rule_id"], "coffee.stage.growth", "{decision}");
    assert_eq!(
        decision["proposals"],
        serde_json::json!(["pastry-pairing"]),
        "{decision}"
    );
}

#[test]
fn a_typescript_client_typed_from_the_document_type_checks_and_decides_and_reads_the_log_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ChildServer::spawn(&dir.path().join("data"), None, &[], &["--demo"]);
    server.wait_ready(Duration::from_secs(120));
    let doc = served_document(&server, dir.path());
    // The npm tools of the root workspace (openapi-typescript, openapi-fetch,
    // TypeScript, tsx), installed by the test command; the generated types
    // and the compiler's settings in a folder of the test's own, which
    // finds them through a link to node_modules.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let modules = root.join("node_modules");
    let bin = modules.join(".bin");
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).expect("link node_modules");
    let types = dir.path().join("rulehost-api.d.ts");
    run(
        "openapi-typescript",
        Command::new(bin.join("openapi-typescript"))
            .arg(&doc)
            .arg("-o")
            .arg(&types),
    );
    let flow = Path::new(CONTRACT).join("ts/flow.ts");
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "strict": true, "noEmit": true, "target": "ES2022", "module": "NodeNext",
            "moduleResolution": "NodeNext", "skipLibCheck": true, "types": ["node"],
            "noUncheckedIndexedAccess": true, "exactOptionalPropertyTypes": true,
            "typeRoots": [modules.join("@types")],
            "paths": {"rulehost-api": [types]},
        },
        "files": [flow, types],
    });
    let config = dir.path().join("tsconfig.json");
    std::fs::write(&config, tsconfig.to_string()).expect("tsconfig");
    run(
        "tsc on the TypeScript client",
        Command::new(bin.join("tsc")).arg("-p").arg(&config),
    );
    let output = run(
        "the TypeScript client's flow",
        Command::new("node")
            .current_dir(dir.path())
            .args(["--import", "tsx"])
            .arg(&flow)
            .arg(server.url(""))
            .arg("rh_coffeedemo_demo-secret-coffee")
            .arg(Path::new(PLUGINS_DIR).join("coffee-chain/sample/decide.json")),
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the flow prints JSON");
    assert_eq!(answer["stage"], "growth", "{answer}");
    assert_eq!(answer["logged_stage"], "growth", "{answer}");
    assert_eq!(answer["logged_id"], answer["decision_id"], "{answer}");
    assert_eq!(answer["customer_id"], "c-2026-0042", "{answer}");
    assert_eq!(answer["plugins"], serde_json::json!(["coffee-chain@0.1.0"]), "{answer}");
}
