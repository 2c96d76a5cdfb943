//! What the TypeScript and Python builds share: the contract's WIT handed to
//! their toolchains, running a toolchain step, and recording the plugin's
//! identity in the component as the Rust SDK's `export!` does, so every
//! decision's `plugins` list names a plugin alike whatever its language.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};
use wasm_encoder::{ComponentSection, CustomSection};

/// The contract these plugins are built against, and its WIT.
pub(crate) const CONTRACT: &str = "0.3.0";
const WIT: [(&str, &str); 2] = [
    ("host.wit", include_str!("../../wit/plugin@0.3.0/host.wit")),
    ("plugin.wit", include_str!("../../wit/plugin@0.3.0/plugin.wit")),
];

/// The custom section the host reads a plugin's identity from
/// (`rulehost_engine::inspect::INFO_SECTION`).
const INFO_SECTION: &str = "rulehost:plugin";

/// Writes the contract's WIT into `dir` (created) for a toolchain to read.
pub(crate) fn write_wit(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).context("a folder for the contract's WIT")?;
    for (file, text) in WIT {
        std::fs::write(dir.join(file), text).context("writing the contract's WIT")?;
    }
    Ok(())
}

/// The plugin's identity, recorded in the component.
pub(crate) struct Identity<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// The SDK as `<package>@<version>`.
    pub sdk: String,
}

/// Appends the identity section to `component` and writes it to `out`
/// (its folder created if need be).
pub(crate) fn write_component(mut component: Vec<u8>, identity: &Identity<'_>, out: &Path) -> Result<()> {
    let info = serde_json::json!({
        "name": identity.name,
        "version": identity.version,
        "contract": CONTRACT,
        "sdk": identity.sdk,
    })
    .to_string();
    // A component may carry custom sections anywhere at its top level.
    CustomSection {
        name: INFO_SECTION.into(),
        data: info.as_bytes().into(),
    }
    .append_to_component(&mut component);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))
}

/// The default place of a built component: `<dir>/dist/<name>.wasm` (a
/// scoped npm name, `@brand/rules`, makes no file name as it is).
pub(crate) fn default_out(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("dist")
        .join(format!("{}.wasm", name.trim_start_matches('@').replace('/', "-")))
}

/// Runs `cmd` with its stdout captured, and its stderr captured too when
/// `quiet` (shown as it comes otherwise); a command that cannot start or
/// fails is an error saying `what` it was, with its stderr.
pub(crate) fn run(cmd: &mut Command, quiet: bool, what: impl Fn() -> String) -> Result<Output> {
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(if quiet { Stdio::piped() } else { Stdio::inherit() })
        .output()
        .with_context(|| format!("{}: could not start", what()))?;
    if !output.status.success() {
        bail!(
            "{} failed\n{}{}",
            what(),
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    Ok(output)
}
