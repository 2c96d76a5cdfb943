//! What the TypeScript and Python builds share: the contract's WIT handed to
//! their toolchains, running a toolchain step, and recording the plugin's
//! identity in the component as the Rust SDK's `export!` does, so every
//! decision's `plugins` list names a plugin alike whatever its language.

use std::path::{Path, PathBuf};
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
    /// The engine that runs the plugin's language, if it has one.
    pub engine: Option<&'static str>,
}

/// Appends the identity section to `component` and writes it to `out`
/// (its folder created if need be).
pub(crate) fn write_component(mut component: Vec<u8>, identity: &Identity<'_>, out: &Path) -> Result<()> {
    let mut info = serde_json::json!({
        "name": identity.name,
        "version": identity.version,
        "contract": CONTRACT,
        "sdk": identity.sdk,
    });
    if let Some(engine) = identity.engine {
        info["engine"] = engine.into();
    }
    let info = info.to_string();
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

/// A tool installed once per machine into `<cache>/rulehost/<folder>`
/// (`$XDG_CACHE_HOME`, else `~/.cache`): `install` fills the folder the
/// first time; builds started together wait for the first one's install,
/// and an install cut short is redone. Returns `<folder>/<binary>`.
pub(crate) fn cached_tool(folder: &str, binary: &str, install: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .with_context(|| format!("neither XDG_CACHE_HOME nor HOME is set: nowhere to install {folder}"))?
        .join("rulehost");
    let root = cache.join(folder);
    let tool = root.join(binary);
    // Written last: an install cut short is redone next time.
    let stamp = root.join("installed");
    if stamp.is_file() {
        return Ok(tool);
    }
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let lock = std::fs::File::create(cache.join(format!("{folder}.lock"))).context("creating the install lock")?;
    lock.lock()
        .with_context(|| format!("waiting for another build's install of {folder}"))?;
    if stamp.is_file() {
        return Ok(tool);
    }
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing a partial install at {}", root.display()))?;
    }
    install(&root)?;
    std::fs::write(&stamp, "").with_context(|| format!("writing {}", stamp.display()))?;
    Ok(tool)
}
