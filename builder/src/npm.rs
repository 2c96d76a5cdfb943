//! TypeScript plugins: an npm package depending on `@rulehost/sdk`.
//!
//! The SDK carries the build (`sdk/js/build/componentize.mjs`: type check,
//! bundle with esbuild, componentize-js); this side finds it through the
//! package's own `node_modules` (running `npm install` first if the SDK is
//! not installed there yet), hands it the contract's WIT, and records the
//! plugin's identity in the component as the Rust SDK's `export!` does, so
//! every decision's `plugins` list names a TypeScript plugin alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use wasm_encoder::{ComponentSection, CustomSection};

/// The contract a TypeScript plugin is built against, and its WIT.
const CONTRACT: &str = "0.2.0";
const WIT: [(&str, &str); 2] = [
    ("host.wit", include_str!("../../wit/plugin@0.2.0/host.wit")),
    ("plugin.wit", include_str!("../../wit/plugin@0.2.0/plugin.wit")),
];

/// The custom section the host reads a plugin's identity from
/// (`rulehost_engine::inspect::INFO_SECTION`).
const INFO_SECTION: &str = "rulehost:plugin";

/// What the SDK's build script reports.
#[derive(Deserialize)]
struct Reported {
    name: String,
    version: String,
    sdk: String,
}

/// Builds the npm package in `dir` into a component at `out` (default
/// `<dir>/dist/<name>.wasm`); returns the plugin's name (the package's) and
/// where the component is.
pub(crate) fn build(dir: &Path, out: Option<&Path>, quiet: bool) -> Result<(String, PathBuf)> {
    let script = componentize_script(dir, quiet)?;
    let work = tempfile::tempdir().context("a temporary folder for the build")?;
    let wit = work.path().join("wit");
    std::fs::create_dir(&wit).context("a folder for the contract's WIT")?;
    for (file, text) in WIT {
        std::fs::write(wit.join(file), text).context("writing the contract's WIT")?;
    }
    let partial = work.path().join("component.wasm");
    let output = run(
        Command::new("node")
            .arg(&script)
            .arg("--package")
            .arg(dir)
            .arg("--wit")
            .arg(&wit)
            .arg("--out")
            .arg(&partial)
            .current_dir(dir),
        quiet,
        || {
            format!(
                "building the TypeScript plugin in {} (with Node.js 20 or later on PATH)",
                dir.display()
            )
        },
    )?;
    let reported: Reported = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading what {} reported", script.display()))?;
    let component = std::fs::read(&partial).with_context(|| format!("reading {}", partial.display()))?;
    let info = serde_json::json!({
        "name": reported.name,
        "version": reported.version,
        "contract": CONTRACT,
        "sdk": format!("@rulehost/sdk@{}", reported.sdk),
    });
    // A component may carry custom sections anywhere at its top level.
    let mut component = component;
    let info = info.to_string();
    CustomSection {
        name: INFO_SECTION.into(),
        data: info.as_bytes().into(),
    }
    .append_to_component(&mut component);
    let out = match out {
        Some(out) => out.to_owned(),
        // A scoped name (`@brand/rules`) makes no file name.
        None => dir
            .join("dist")
            .join(format!("{}.wasm", reported.name.replace(['/', '@'], "-"))),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok((reported.name, out))
}

/// The SDK's build script as the package resolves `@rulehost/sdk`,
/// installing the package's dependencies first if it does not resolve.
fn componentize_script(dir: &Path, quiet: bool) -> Result<PathBuf> {
    let resolve = || -> Result<Option<PathBuf>> {
        let output = Command::new("node")
            .args(["-p", "require.resolve('@rulehost/sdk/package.json')"])
            .current_dir(dir)
            .stderr(Stdio::null())
            .output()
            .context("running node (a TypeScript plugin needs Node.js 20 or later on PATH)")?;
        let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok((output.status.success() && !found.is_empty()).then(|| PathBuf::from(found)))
    };
    let manifest = match resolve()? {
        Some(found) => found,
        None => {
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(dir),
                quiet,
                || {
                    format!(
                        "npm install in {} (a TypeScript plugin needs npm on PATH)",
                        dir.display()
                    )
                },
            )?;
            resolve()?.with_context(|| {
                format!(
                    "{} does not depend on @rulehost/sdk: add it to the package's dependencies",
                    dir.display()
                )
            })?
        }
    };
    let sdk = manifest.parent().context("the SDK's package.json has a folder")?;
    Ok(sdk.join("build/componentize.mjs"))
}

/// Runs `cmd` with its stdout captured, and its stderr captured too when
/// `quiet` (shown as it comes otherwise); a command that cannot start or
/// fails is an error saying `what` it was, with its stderr.
fn run(cmd: &mut Command, quiet: bool, what: impl Fn() -> String) -> Result<Output> {
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(if quiet { Stdio::piped() } else { Stdio::inherit() })
        .output()
        .with_context(|| format!("{}: could not start", what()))?;
    if !output.status.success() {
        bail!("{} failed\n{}", what(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(output)
}
