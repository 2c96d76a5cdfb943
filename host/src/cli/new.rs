//! `rulehost new NAME --lang rust|ts|python`: a plugin project to start
//! from — a README, two rules (a tag and a win-back proposal, each with its
//! rule id, reason and config keys), three fixtures that pass `rulehost
//! test` as generated and a sample decision for the demo server.
//!
//! The SDKs are not on a registry yet, so the project points at the SDKs of
//! the rulehost checkout this binary was built from (`--sdk` names
//! another): a path dependency (Rust), a `file:` dependency installed as a
//! copy (TypeScript), the `[tool.rulehost] python-path` (Python).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{emit, fatal};

#[derive(Debug, Args)]
pub(super) struct NewArgs {
    /// The plugin's name: lowercase letters, digits and dashes, starting
    /// with a letter (`my-brand`); also the folder's name.
    name: String,
    /// The language to write the rules in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the project's folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The rulehost checkout whose SDKs the project uses [default: the one
    /// this binary was built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Ts,
    Python,
}

/// Files every project gets, whatever its language.
const COMMON: &[(&str, &str)] = &[
    ("README.md", include_str!("../../templates/new/README.md")),
    (
        "fixtures/01-no-purchases.json",
        include_str!("../../templates/new/fixtures/01-no-purchases.json"),
    ),
    (
        "fixtures/02-regular.json",
        include_str!("../../templates/new/fixtures/02-regular.json"),
    ),
    (
        "fixtures/03-win-back.json",
        include_str!("../../templates/new/fixtures/03-win-back.json"),
    ),
    (
        "sample/decide.json",
        include_str!("../../templates/new/sample/decide.json"),
    ),
];

const RUST: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/new/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../../templates/new/rust/src/lib.rs")),
    (".gitignore", "target/\ndist/\n"),
];

const TS: &[(&str, &str)] = &[
    ("package.json", include_str!("../../templates/new/ts/package.json")),
    (".npmrc", include_str!("../../templates/new/ts/.npmrc")),
    ("tsconfig.json", include_str!("../../templates/new/ts/tsconfig.json")),
    ("src/index.ts", include_str!("../../templates/new/ts/src/index.ts")),
    (".gitignore", "node_modules/\ndist/\n"),
];

const PYTHON: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        include_str!("../../templates/new/python/pyproject.toml"),
    ),
    (
        "@MODULE@/__init__.py",
        include_str!("../../templates/new/python/__init__.py"),
    ),
    (
        "tests/test_rules.py",
        include_str!("../../templates/new/python/test_rules.py"),
    ),
    (".gitignore", "dist/\n__pycache__/\n"),
];

/// Names the generated code cannot take: the standard crates, the Python
/// build's glue modules and the SDK's own module.
const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "tests",
    "rules",
    "rulehost-guest",
    "rulehost-sdk",
];

pub(super) fn new(args: NewArgs) -> ExitCode {
    match create(&args) {
        Ok(dir) => {
            let build = match args.lang {
                Lang::Rust | Lang::Python => String::new(),
                Lang::Ts => " (the first build runs npm install)".to_owned(),
            };
            emit(&format!(
                "created {}\nnext: cd {} && rulehost build . --out dist/{name}.wasm{build} && rulehost test dist/{name}.wasm fixtures/\n",
                dir.display(),
                dir.display(),
                name = args.name
            ));
            ExitCode::SUCCESS
        }
        Err(e) => fatal(e),
    }
}

fn create(args: &NewArgs) -> Result<PathBuf, String> {
    let name = args.name.as_str();
    check_name(name)?;
    let checkout = match &args.sdk {
        Some(dir) => dir.clone(),
        // The workspace this binary was built in.
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_owned)
            .ok_or("the rulehost checkout has no folder")?,
    };
    let sdk = match args.lang {
        Lang::Rust => checkout.join("sdk"),
        Lang::Ts => checkout.join("sdk/js"),
        Lang::Python => checkout.join("sdk/python"),
    };
    let marker = match args.lang {
        Lang::Rust => "Cargo.toml",
        Lang::Ts => "package.json",
        Lang::Python => "rulehost_sdk/__init__.py",
    };
    if !sdk.join(marker).is_file() {
        return Err(format!(
            "the rulehost SDK is not at {} (no {marker}): pass --sdk with the folder of a rulehost checkout",
            sdk.display()
        ));
    }
    let sdk = std::fs::canonicalize(&sdk).map_err(|e| format!("{}: {e}", sdk.display()))?;
    let dir = args.dir.join(name);
    if dir.exists() {
        return Err(format!(
            "{} already exists: nothing was written (choose another name or --dir)",
            dir.display()
        ));
    }
    let module = name.replace('-', "_");
    let ty: String = name
        .split('-')
        .flat_map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars)
        })
        .collect();
    // Paths go into JSON, TOML and Rust strings: escaped as a JSON string's
    // content, which all three read alike.
    let sdk_path = serde_json::to_string(&sdk.display().to_string()).map_err(|e| e.to_string())?;
    let sdk_path = &sdk_path[1..sdk_path.len() - 1];
    let (lang, source, unit_tests, files) = match args.lang {
        Lang::Rust => (
            "Rust",
            "src/lib.rs".to_owned(),
            "cargo test                      # unit tests, natively",
            RUST,
        ),
        Lang::Ts => ("TypeScript", "src/index.ts".to_owned(), "", TS),
        Lang::Python => (
            "Python",
            format!("{module}/__init__.py"),
            "python -m pytest                # unit tests, natively (pip install pytest)",
            PYTHON,
        ),
    };
    let fill = |text: &str| {
        text.replace("@NAME@", name)
            .replace("@MODULE@", &module)
            .replace("@TYPE@", &ty)
            .replace("@SDK_RUST@", sdk_path)
            .replace("@SDK_JS@", sdk_path)
            .replace("@SDK_PY@", sdk_path)
            .replace("@LANG@", lang)
            .replace("@LANG_FLAG@", lang_flag(args.lang))
            .replace("@SOURCE@", &source)
            .replace(
                "@UNIT_TESTS@\n",
                &if unit_tests.is_empty() {
                    String::new()
                } else {
                    format!("{unit_tests}\n")
                },
            )
            .replace("@REPO@", &checkout.display().to_string())
    };
    // Written into a sibling first and renamed: a failure leaves nothing.
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("creating {}: {e}", args.dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".rulehost-new-")
        .tempdir_in(&args.dir)
        .map_err(|e| format!("a temporary folder in {}: {e}", args.dir.display()))?;
    for (path, text) in COMMON.iter().chain(files) {
        let path = partial.path().join(fill(path));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, fill(text)).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    // A Rust project starts from the checkout's lock file: the SDK's
    // dependencies at the versions the checkout builds and tests with
    // (cargo drops the entries the project does not use).
    let lock = checkout.join("Cargo.lock");
    if args.lang == Lang::Rust && lock.is_file() {
        std::fs::copy(&lock, partial.path().join("Cargo.lock"))
            .map_err(|e| format!("copying {}: {e}", lock.display()))?;
    }
    std::fs::rename(partial.keep(), &dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

fn lang_flag(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "rust",
        Lang::Ts => "ts",
        Lang::Python => "python",
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.len() <= 64;
    if !valid {
        return Err(format!(
            "{name:?} is not a plugin name: use lowercase letters, digits and single dashes, starting with a letter \
             (e.g. my-brand), at most 64 characters"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("{name:?} is taken by the toolchains: choose another name"));
    }
    Ok(())
}
