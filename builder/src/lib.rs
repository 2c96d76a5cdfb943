//! Builds a rulehost plugin project into a component ready to upload: a
//! Rust crate (a `Cargo.toml`), an npm package written with the
//! TypeScript SDK (a `package.json`, see [`npm`]) or a Python project
//! written with the Python SDK (a `pyproject.toml`, see [`python`]).
//!
//! A Rust plugin compiles to a core module for `wasm32-unknown-unknown`
//! (the fast path: no WASI imports, so a fresh instance costs the least) and
//! becomes a component through `wit-component`, using the contract types
//! that wit-bindgen embedded in the module. `wasm32-wasip2` builds are
//! components already; they are supported for plugins that need the standard
//! library's WASI paths, and for testing the host's WASI sandbox.
//!
//! Used by `rulehost build` and by build scripts that compile the example and
//! test plugins, so every path to a component goes through this one place.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;

mod guest;
mod npm;
mod python;
mod qjs;

/// The compilation target of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// `wasm32-unknown-unknown`, made a component with `wit-component`.
    #[default]
    Component,
    /// `wasm32-wasip2`: a component that imports WASI.
    WasiP2,
}

impl Target {
    /// The Rust target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Target::Component => "wasm32-unknown-unknown",
            Target::WasiP2 => "wasm32-wasip2",
        }
    }
}

/// The JavaScript engine a TypeScript plugin is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsEngine {
    /// QuickJS, by componentize-qjs: the default (see README "Limits by
    /// language" for the measurements that chose it).
    #[default]
    QuickJs,
    /// SpiderMonkey (StarlingMonkey), by componentize-js.
    SpiderMonkey,
}

impl JsEngine {
    /// The name `componentize.mjs` takes.
    fn as_str(self) -> &'static str {
        match self {
            JsEngine::QuickJs => "quickjs",
            JsEngine::SpiderMonkey => "spidermonkey",
        }
    }
}

/// How to build one plugin project.
#[derive(Debug, Clone)]
pub struct Build {
    dir: PathBuf,
    manifest_path: PathBuf,
    target: Target,
    target_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    quiet: bool,
    js_engine: JsEngine,
}

/// A built plugin.
#[derive(Debug, Clone)]
pub struct Built {
    /// The plugin's name (the crate's or the npm package's).
    pub name: String,
    /// Where the component was written.
    pub path: PathBuf,
}

impl Build {
    /// Builds the project in `dir`: the folder holding its `Cargo.toml`,
    /// its `package.json` or its `pyproject.toml`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
            manifest_path: dir.as_ref().join("Cargo.toml"),
            target: Target::default(),
            target_dir: None,
            out: None,
            quiet: false,
            js_engine: JsEngine::default(),
        }
    }

    /// Chooses the engine of a TypeScript plugin.
    pub fn js_engine(mut self, engine: JsEngine) -> Self {
        self.js_engine = engine;
        self
    }

    /// Chooses the target (of a Rust crate).
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Uses a cargo target directory of its own (build scripts need one, or
    /// the nested cargo would wait for the outer one's lock).
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// Writes the component here instead of `<target dir>/rulehost/<crate>.wasm`
    /// (a Rust crate) or `<project>/dist/<name>.wasm` (TypeScript, Python).
    pub fn out(mut self, path: impl Into<PathBuf>) -> Self {
        self.out = Some(path.into());
        self
    }

    /// Hides the toolchain's progress output.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Builds the project and writes the component.
    pub fn run(&self) -> Result<Built> {
        if !self.manifest_path.is_file() {
            let language = if self.dir.join("package.json").is_file() {
                Language::TypeScript
            } else if self.dir.join("pyproject.toml").is_file() {
                Language::Python
            } else {
                bail!(
                    "{} holds no plugin project: expected a Cargo.toml (Rust), a package.json (TypeScript) \
                     or a pyproject.toml (Python)",
                    self.dir.display()
                );
            };
            return self.run_guest(language);
        }
        // Cargo finds a member's workspace by walking up the path it is
        // given: a crate reached through a symbolic link is built from
        // where it really is.
        let manifest_path = std::fs::canonicalize(&self.manifest_path).unwrap_or_else(|_| self.manifest_path.clone());
        let crate_dir = manifest_path.parent().unwrap_or(Path::new("."));
        ensure_target_installed(self.target, crate_dir)?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--release",
            "--lib",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--target")
        .arg(self.target.triple())
        .arg("--manifest-path")
        .arg(&manifest_path)
        // Plugins ship without debug info: smaller uploads, same code.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
        without_outer_build(&mut cmd)
            .stdout(Stdio::piped())
            .stderr(if self.quiet { Stdio::piped() } else { Stdio::inherit() });
        if let Some(dir) = &self.target_dir {
            cmd.arg("--target-dir").arg(dir);
        }
        let output = cmd.output().context("running cargo")?;
        let mut artifact = None;
        let mut target_directory = None;
        for message in Message::parse_stream(&output.stdout[..]) {
            match message.context("reading cargo's output")? {
                Message::CompilerArtifact(a) if a.target.is_kind(cargo_metadata::TargetKind::CDyLib) => {
                    let wasm = a.filenames.iter().find(|f| f.extension() == Some("wasm")).cloned();
                    if let Some(wasm) = wasm {
                        artifact = Some((a.target.name.clone(), wasm.into_std_path_buf()));
                    }
                }
                Message::BuildFinished(_) => {}
                _ => {}
            }
        }
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("cargo build failed for {}\n{stderr}", self.manifest_path.display());
        }
        let Some((name, wasm)) = artifact else {
            bail!(
                "{} built no cdylib: a plugin crate needs `[lib] crate-type = [\"cdylib\", \"rlib\"]`",
                self.manifest_path.display()
            );
        };
        if let Some(dir) = wasm.parent().and_then(Path::parent).and_then(Path::parent) {
            target_directory = Some(dir.to_path_buf());
        }
        // Cargo names the artifact after the lib target (`coffee_chain`);
        // people know the crate by its package name (`coffee-chain`).
        let name = name.replace('_', "-");
        let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let component = match self.target {
            Target::Component => {
                componentize(&bytes).with_context(|| format!("making a component of {}", wasm.display()))?
            }
            Target::WasiP2 => bytes,
        };
        let path = match &self.out {
            Some(out) => out.clone(),
            None => {
                let dir = target_directory
                    .context("locating cargo's target directory")?
                    .join("rulehost");
                let suffix = match self.target {
                    Target::Component => "",
                    Target::WasiP2 => ".wasip2",
                };
                dir.join(format!("{name}{suffix}.wasm"))
            }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, component).with_context(|| format!("writing {}", path.display()))?;
        Ok(Built { name, path })
    }
}

/// The languages built by their own toolchains.
enum Language {
    TypeScript,
    Python,
}

impl Build {
    fn run_guest(&self, language: Language) -> Result<Built> {
        if self.target != Target::Component {
            bail!(
                "{}: only Rust crates build for {}",
                self.dir.display(),
                self.target.triple()
            );
        }
        // The toolchains run inside the project's folder: the paths handed
        // to them must not depend on the folder they were named from.
        let absolute = |path: &Path| {
            std::path::absolute(path).with_context(|| format!("resolving {} against this folder", path.display()))
        };
        let dir = absolute(&self.dir)?;
        let out = self.out.as_deref().map(absolute).transpose()?;
        let (name, path) = match language {
            Language::TypeScript => npm::build(&dir, out.as_deref(), self.quiet, self.js_engine)?,
            Language::Python => python::build(&dir, out.as_deref(), self.quiet)?,
        };
        Ok(Built { name, path })
    }
}

/// The cargo target directory build scripts should build plugins in:
/// `<target>/plugins`, derived from the build script's `OUT_DIR`
/// (`<target>/<profile>/build/<pkg>/out`). A directory of its own keeps the
/// nested cargo from waiting on the outer one's lock; one shared by every
/// profile and crate compiles each plugin once.
pub fn build_script_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join("plugins"))
        .unwrap_or_else(|| out_dir.join("plugins"))
}

/// Installs the Rust standard library for `target` with rustup if the
/// toolchain lacks it. `rust-toolchain.toml` lists the targets, but rustup
/// only reads that list when it installs a whole toolchain: on a machine
/// that already has the toolchain, the targets would be missing.
fn ensure_target_installed(target: Target, crate_dir: &Path) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(crate_dir)
        .output()
        .context("running rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let installed = || sysroot.join("lib/rustlib").join(target.triple()).is_dir();
    if installed() {
        return Ok(());
    }
    // Build scripts run side by side on a fresh machine: two `rustup target
    // add` at once trip over each other's download. One at a time, and the
    // second finds the target installed.
    let lock = std::env::temp_dir().join("rulehost-rustup-target.lock");
    let lock = std::fs::File::create(&lock).with_context(|| format!("creating {}", lock.display()))?;
    lock.lock().context("waiting for another build's rustup")?;
    if installed() {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", target.triple()])
        .current_dir(crate_dir)
        .stdout(Stdio::null())
        .status()
        .with_context(|| {
            format!(
                "the Rust target {} is missing and rustup could not be run",
                target.triple()
            )
        })?;
    if !status.success() {
        bail!(
            "the Rust target {} is missing and `rustup target add` failed",
            target.triple()
        );
    }
    Ok(())
}

/// Turns a core module built with the rulehost SDK into a component.
pub fn componentize(core_module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core_module)?
        .validate(true)
        .encode()
}

/// `cmd` (a nested cargo) without the settings meant for an outer build —
/// a build script's host flags, clippy's wrapper, its target and target
/// folder — which must not leak into the nested one.
pub(crate) fn without_outer_build(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
}
