//! QuickJS for TypeScript plugins: componentize-qjs (pinned in
//! `builder/qjs/`), which needs wasmtime 47 while the host runs 48. So it is
//! not linked into rulehost: its small driver, `rulehost-qjs`, is built once
//! per machine from the sources embedded here into the user's cache (like
//! componentize-py), and `rulehost build` runs it. `RULEHOST_QJS` names
//! another build of it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::guest::{cached_tool, run};
use crate::without_outer_build;

/// The driver's sources, as committed.
const SOURCES: [(&str, &str); 3] = [
    ("Cargo.toml", include_str!("../qjs/Cargo.toml")),
    ("Cargo.lock", include_str!("../qjs/Cargo.lock")),
    ("src/main.rs", include_str!("../qjs/src/main.rs")),
];

/// The engine's name and version, as the component records it.
pub(crate) const ENGINE: &str = "quickjs (componentize-qjs 0.4.5)";

/// The `rulehost-qjs` binary, built first if this machine has none of these
/// sources.
pub(crate) fn tool(quiet: bool) -> Result<PathBuf> {
    if let Some(tool) = std::env::var_os("RULEHOST_QJS") {
        return Ok(tool.into());
    }
    // FNV-1a over the sources: a change to them is a new folder.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in SOURCES.iter().flat_map(|(name, text)| name.bytes().chain(text.bytes())) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    cached_tool(&format!("rulehost-qjs-{hash:016x}"), "bin/rulehost-qjs", |root| {
        let work = tempfile::tempdir().context("a temporary folder for the sources of rulehost-qjs")?;
        for (name, text) in SOURCES {
            let path = work.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target = work.path().join("target");
        run(
            without_outer_build(&mut Command::new(cargo))
                .args(["install", "--locked", "--quiet", "--path"])
                .arg(work.path())
                .arg("--root")
                .arg(root)
                .arg("--target-dir")
                .arg(&target),
            quiet,
            || {
                format!(
                    "building rulehost-qjs (componentize-qjs, QuickJS) into {}: once per machine, a few minutes",
                    root.display()
                )
            },
        )?;
        Ok(())
    })
}
