//! Loading plugins: every kind of bad file gets its own clear error, good
//! plugins report who they are, and the precompiled cache only trusts files
//! the host wrote.

use rulehost::Error;
use rulehost::engine::{Engine, EngineConfig};
use rulehost_test_artifacts::{COFFEE_CHAIN, TRAP};

use crate::engine;

/// The refusal's reason code and message.
fn refused(bytes: &[u8]) -> (&'static str, String) {
    match engine().load(bytes) {
        Err(err @ Error::InvalidPlugin { .. }) => (err.reason().unwrap_or_default(), err.to_string()),
        Err(other) => panic!("expected invalid_plugin, got {other}"),
        Ok(plugin) => panic!("expected invalid_plugin, loaded {plugin:?}"),
    }
}

fn component(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid component text")
}

#[test]
fn a_plugin_reports_its_name_version_and_contract() {
    let bytes = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let plugin = engine().load(&bytes).expect("loads");
    let info = plugin.info();
    assert_eq!(
        (
            info.name.as_str(),
            info.version.as_str(),
            info.contract.as_str(),
            info.sdk.as_deref()
        ),
        ("coffee-chain", "0.1.0", "0.3.0", Some("0.3.0"))
    );
    assert_eq!(plugin.sha256().len(), 64);
    assert_eq!(plugin.size(), bytes.len());
}

#[test]
fn garbage_is_not_webassembly() {
    for bytes in [&b"MZ this is not a plugin"[..], b""] {
        let (reason, message) = refused(bytes);
        assert_eq!(reason, "not_wasm");
        assert!(message.contains("not a WebAssembly file"), "{message}");
    }
}

#[test]
fn a_core_module_is_not_a_component() {
    let core = wat::parse_str("(module (func (export \"tag\")))").expect("valid module");
    let (reason, message) = refused(&core);
    assert_eq!(reason, "core_module");
    assert!(
        message.contains("core WebAssembly module, not a component"),
        "{message}"
    );
}

#[test]
fn a_truncated_component_is_malformed() {
    let bytes = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let (reason, message) = refused(&bytes[..bytes.len() / 2]);
    assert_eq!(reason, "malformed");
    assert!(message.starts_with("malformed component"), "{message}");
}

#[test]
fn a_component_of_another_world_is_refused() {
    let (reason, message) = refused(&component(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func (export "hello") (canon lift (core func $i "f"))))"#,
    ));
    assert_eq!(reason, "wrong_world");
    assert_eq!(
        message,
        "the component does not export `rulehost:plugin/rules@0.3.0` (it exports: hello)"
    );
}

#[test]
fn another_contract_version_is_refused() {
    let (reason, message) = refused(&component(
        r#"(component (instance $i) (export "rulehost:plugin/rules@9.9.9" (instance $i)))"#,
    ));
    assert_eq!(reason, "unsupported_contract");
    assert_eq!(
        message,
        "the plugin targets contract 9.9.9; this host supports 0.1.0, 0.2.0, 0.3.0"
    );
}

#[test]
fn a_component_missing_the_stage_functions_is_refused() {
    let (reason, message) = refused(&component(
        r#"(component (instance $i) (export "rulehost:plugin/rules@0.1.0" (instance $i)))"#,
    ));
    assert_eq!(reason, "wrong_world");
    assert!(
        message.starts_with("the component does not implement the contract's world"),
        "{message}"
    );
}

#[test]
fn imports_the_host_does_not_provide_are_refused() {
    let (reason, message) = refused(&component(r#"(component (import "acme:spy/camera" (instance)))"#));
    assert_eq!(reason, "unknown_import");
    assert!(
        message.starts_with("the component imports `acme:spy/camera`, which rulehost does not provide"),
        "{message}"
    );
}

#[test]
fn plugins_over_the_size_limit_are_refused_before_parsing() {
    let small = Engine::new(EngineConfig {
        max_plugin_bytes: 1024,
        pool_instances: 4,
        ..EngineConfig::default()
    })
    .expect("engine");
    let bytes = std::fs::read(COFFEE_CHAIN).expect("artifact");
    let Err(err @ Error::InvalidPlugin { .. }) = small.load(&bytes) else {
        panic!("expected invalid_plugin");
    };
    assert_eq!(err.reason(), Some("too_large"));
    let message = err.to_string();
    assert_eq!(
        message,
        format!("the plugin is {} bytes; the limit is 1024 bytes", bytes.len())
    );
}

#[test]
fn the_cache_serves_its_own_artifacts_and_ignores_tampered_or_planted_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cached = |dir: &std::path::Path| {
        Engine::new(EngineConfig {
            cache_dir: Some(dir.to_owned()),
            pool_instances: 4,
            ..EngineConfig::default()
        })
        .expect("engine")
    };
    let bytes = std::fs::read(TRAP).expect("artifact");
    let first = cached(dir.path()).load(&bytes).expect("compiles");
    let artifact = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a precompiled artifact was written");
    assert!(
        artifact
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(first.sha256()))
    );

    // A second engine loads it from the cache.
    let written = std::fs::read(&artifact).expect("read artifact");
    let second = cached(dir.path()).load(&bytes).expect("loads from cache");
    assert_eq!(second.sha256(), first.sha256());
    assert_eq!(
        std::fs::read(&artifact).expect("read"),
        written,
        "a valid cache entry is not rewritten"
    );

    // Tampered: the tag no longer matches, so the host compiles again and
    // replaces the file instead of running what it holds.
    let mut tampered = written.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(&artifact, &tampered).expect("tamper");
    cached(dir.path()).load(&bytes).expect("recompiles");
    assert_ne!(
        std::fs::read(&artifact).expect("read"),
        tampered,
        "the tampered entry was replaced"
    );

    // A precompiled artifact uploaded as a plugin is refused outright.
    let elf = &written[32..];
    assert_eq!(refused(elf).0, "precompiled_artifact");
    assert_eq!(refused(&written).0, "not_wasm");
}
