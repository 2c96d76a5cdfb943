//! Python plugins: a project with a `pyproject.toml` written with the Python
//! SDK (`rulehost_sdk`), made a component by `componentize-py`.
//!
//! The project names its rules in `pyproject.toml`:
//!
//! ```toml
//! [project]
//! name = "coffee-chain"
//! version = "0.1.0"
//!
//! [tool.rulehost]
//! rules = "coffee_chain:CoffeeChain"   # module:class, a subclass of rulehost_sdk.Rules
//! python-path = ["../../sdk/python"]   # where rulehost_sdk is, if not in the project
//! ```
//!
//! The build copies the project's Python files and the SDK into a temporary
//! folder (componentize-py's pre-initialisation writes `__pycache__` beside
//! what it imports; the project stays untouched), adds the glue module that
//! exports the contract's `session` for the named class, runs
//! componentize-py (installed once into a cache folder from PyPI when it is
//! not on the machine) and records the plugin's identity
//! ([`crate::guest`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::guest::{self, Identity, run};

/// The componentize-py release plugins are built with.
macro_rules! componentize_py {
    () => {
        "0.25.1"
    };
}
const COMPONENTIZE_PY: &str = componentize_py!();

/// The engine, as the component records it.
const ENGINE: &str = concat!("cpython (componentize-py ", componentize_py!(), ")");

#[derive(Deserialize)]
struct PyProject {
    project: Option<Project>,
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Project {
    name: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Tool {
    rulehost: Option<RulehostTool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RulehostTool {
    rules: Option<String>,
    #[serde(default)]
    python_path: Vec<PathBuf>,
}

/// Builds the Python project in `dir` into a component at `out` (default
/// `<dir>/dist/<name>.wasm`); returns the plugin's name (the project's) and
/// where the component is.
pub(crate) fn build(dir: &Path, out: Option<&Path>, quiet: bool) -> Result<(String, PathBuf)> {
    let manifest = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let project: PyProject = toml::from_str(&text).with_context(|| format!("reading {}", manifest.display()))?;
    let (name, version) = match project.project {
        Some(Project {
            name: Some(name),
            version: Some(version),
        }) => (name, version),
        _ => bail!(
            "{}: [project] needs a `name` and a `version`: the host names the plugin by them",
            manifest.display()
        ),
    };
    let tool = project.tool.and_then(|t| t.rulehost);
    let Some(rules) = tool.as_ref().and_then(|t| t.rules.clone()) else {
        bail!(
            "{}: [tool.rulehost] needs `rules = \"module:Class\"`, the subclass of rulehost_sdk.Rules to run",
            manifest.display()
        );
    };
    let Some((module, class)) = rules
        .split_once(':')
        .filter(|(m, c)| is_dotted_name(m) && is_dotted_name(c) && !c.contains('.'))
    else {
        bail!(
            "{}: [tool.rulehost] rules = {rules:?} is not \"module:Class\" (e.g. \"my_brand:MyBrand\")",
            manifest.display()
        );
    };
    let search: Vec<PathBuf> = std::iter::once(dir.to_owned())
        .chain(tool.iter().flat_map(|t| t.python_path.iter().map(|p| dir.join(p))))
        .collect();
    let Some(sdk) = search
        .iter()
        .map(|p| p.join("rulehost_sdk"))
        .find(|p| p.join("__init__.py").is_file())
    else {
        bail!(
            "{}: rulehost_sdk is neither in the project nor on its [tool.rulehost] python-path ({})",
            manifest.display(),
            search
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let sdk_version = sdk_version(&sdk.join("__init__.py"))?;

    let work = tempfile::tempdir().context("a temporary folder for the build")?;
    let wit = work.path().join("wit");
    guest::write_wit(&wit)?;
    let app = work.path().join("app");
    copy_python(dir, &app).with_context(|| format!("copying the Python files of {}", dir.display()))?;
    copy_python(&sdk, &app.join("rulehost_sdk")).with_context(|| format!("copying {}", sdk.display()))?;
    // The contract's `rules` interface is implemented by a module of that
    // name holding the `Session` resource; the app module the world's
    // exports. The project's own module may not be called either.
    for glue in ["rules", GUEST_APP] {
        if module == glue || module.starts_with(&format!("{glue}.")) {
            bail!(
                "{}: the rules' module may not be named `{glue}` (the build's glue has that name)",
                manifest.display()
            );
        }
    }
    std::fs::write(
        app.join("rules.py"),
        format!(
            "# Written by `rulehost build`: the contract's session for {rules}.\n\
             from rulehost_sdk.component import session_class\n\
             from {module} import {class}\n\n\
             Session = session_class({class})\n"
        ),
    )
    .context("writing the glue module")?;
    std::fs::write(
        app.join(format!("{GUEST_APP}.py")),
        "# Written by `rulehost build`: the world's exports.\n\
         from wit_world import exports\n\n\n\
         class Rules(exports.Rules):\n    pass\n",
    )
    .context("writing the glue module")?;

    let tool = componentize_py(quiet)?;
    let partial = work.path().join("component.wasm");
    run(
        Command::new(&tool)
            .arg("--wit-path")
            .arg(&wit)
            .args(["--world", "plugin", "--quiet", "componentize", GUEST_APP])
            .arg("--python-path")
            .arg(&app)
            .arg("--output")
            .arg(&partial)
            .env_remove("VIRTUAL_ENV")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(work.path()),
        quiet,
        || format!("building the Python plugin in {} with componentize-py", dir.display()),
    )?;
    let component = std::fs::read(&partial).with_context(|| format!("reading {}", partial.display()))?;
    let out = out.map_or_else(|| guest::default_out(dir, &name), Path::to_owned);
    let identity = Identity {
        name: &name,
        version: &version,
        sdk: format!("rulehost_sdk@{sdk_version}"),
        engine: Some(ENGINE),
    };
    guest::write_component(component, &identity, &out)?;
    Ok((name, out))
}

/// The glue module componentize-py starts from.
const GUEST_APP: &str = "rulehost_guest";

fn is_dotted_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// The SDK's `__version__`, read from its `__init__.py`.
fn sdk_version(init: &Path) -> Result<String> {
    let text = std::fs::read_to_string(init).with_context(|| format!("reading {}", init.display()))?;
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix("__version__")?.trim_start().strip_prefix('=')?.trim();
            Some(value.trim_matches('"').to_owned())
        })
        .with_context(|| format!("{} sets no __version__", init.display()))
}

/// Copies the Python sources under `from` to `to`: every file but hidden
/// ones, caches, the tests and built components.
fn copy_python(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || matches!(name.as_ref(), "__pycache__" | "tests" | "dist" | "node_modules") {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_python(&path, &to.join(&*name))?;
        } else if name.ends_with(".py") {
            std::fs::copy(&path, to.join(&*name))?;
        }
    }
    Ok(())
}

/// componentize-py: `RULEHOST_COMPONENTIZE_PY` if set, else the pinned
/// release in `<cache>/rulehost/componentize-py-<version>`, installed there
/// from PyPI with the machine's `python3` the first time.
fn componentize_py(quiet: bool) -> Result<PathBuf> {
    if let Some(tool) = std::env::var_os("RULEHOST_COMPONENTIZE_PY") {
        return Ok(tool.into());
    }
    let folder = format!("componentize-py-{COMPONENTIZE_PY}");
    let venv = guest::cached_tool(&folder, "bin/componentize-py", |venv| {
        let what = || {
            format!(
                "installing componentize-py {COMPONENTIZE_PY} from PyPI into {} (with python3 3.11 or later on PATH)",
                venv.display()
            )
        };
        run(Command::new("python3").arg("-m").arg("venv").arg(venv), quiet, what)?;
        run(
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("componentize-py=={COMPONENTIZE_PY}"),
            ]),
            quiet,
            what,
        )?;
        Ok(())
    })?;
    Ok(venv)
}
