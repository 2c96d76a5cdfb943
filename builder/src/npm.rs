//! TypeScript plugins: an npm package depending on `@rulehost/sdk`.
//!
//! The SDK carries the build (`sdk/js/build/componentize.mjs`: type check,
//! bundle with esbuild, componentize-js); this side finds it through the
//! package's own `node_modules` (running `npm install` first if the SDK is
//! not installed there yet), hands it the contract's WIT, and records the
//! plugin's identity in the component ([`crate::guest`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::guest::{self, Identity, run};
use crate::{JsEngine, qjs};

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
pub(crate) fn build(dir: &Path, out: Option<&Path>, quiet: bool, engine: JsEngine) -> Result<(String, PathBuf)> {
    let script = componentize_script(dir, quiet)?;
    let qjs = match engine {
        JsEngine::QuickJs => Some(qjs::tool(quiet)?),
        JsEngine::SpiderMonkey => None,
    };
    let work = tempfile::tempdir().context("a temporary folder for the build")?;
    let wit = work.path().join("wit");
    guest::write_wit(&wit)?;
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
            .arg("--engine")
            .arg(engine.as_str())
            .args(
                qjs.iter()
                    .flat_map(|tool| [std::ffi::OsStr::new("--qjs"), tool.as_os_str()]),
            )
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
    let out = out.map_or_else(|| guest::default_out(dir, &reported.name), Path::to_owned);
    let identity = Identity {
        name: &reported.name,
        version: &reported.version,
        sdk: format!("@rulehost/sdk@{}", reported.sdk),
        engine: Some(match engine {
            JsEngine::QuickJs => qjs::ENGINE,
            JsEngine::SpiderMonkey => "spidermonkey (componentize-js 0.23)",
        }),
    };
    guest::write_component(component, &identity, &out)?;
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
