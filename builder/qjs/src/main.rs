//! `rulehost-qjs --wit DIR --world NAME --js FILE --out FILE`: makes the
//! bundled ES module of a TypeScript plugin a component of the contract's
//! world with QuickJS (componentize-qjs, pre-initialised with Wizer), with
//! the runtime that needs no component-model async in the host. Run by
//! `rulehost build` (rulehost-builder), never by hand.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use componentize_qjs::{ComponentizeOpts, Runtime, componentize};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut wit, mut world, mut js, mut out) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--wit" => wit = Some(PathBuf::from(value)),
            "--world" => world = Some(value),
            "--js" => js = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            other => bail!("unknown option {other}"),
        }
    }
    let (Some(wit), Some(js), Some(out)) = (wit, js, out) else {
        bail!("usage: rulehost-qjs --wit DIR [--world NAME] --js FILE --out FILE");
    };
    let source = std::fs::read_to_string(&js).with_context(|| format!("reading {}", js.display()))?;
    let opts = ComponentizeOpts {
        wit_path: &wit,
        js_source: &source,
        js_path: None,
        module_root: None,
        world_name: world.as_deref(),
        stub_wasi: false,
        disable_gc: false,
        runtime: Runtime::DefaultSync,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a runtime for the build")?;
    let component = runtime.block_on(componentize(&opts)).context("componentize-qjs")?;
    std::fs::write(&out, component).with_context(|| format!("writing {}", out.display()))
}
