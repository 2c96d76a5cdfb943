//! Builds the example plugins that `rulehost serve --demo` embeds, so the
//! demo needs nothing but the binary.

use std::path::PathBuf;

use rulehost_builder::Build;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("host/ sits in the workspace").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = rulehost_builder::build_script_target_dir(&out_dir);
    for dir in ["sdk", "wit", "plugins/coffee-chain", "plugins/apparel-rfm"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    for name in ["coffee-chain", "apparel-rfm"] {
        Build::new(workspace.join("plugins").join(name))
            .target_dir(&target_dir)
            .out(out_dir.join(format!("{name}.wasm")))
            .quiet(true)
            .run()
            .unwrap_or_else(|e| panic!("building the demo plugin {name}: {e:#}"));
    }
}
