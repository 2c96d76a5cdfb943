// Included by `fuzz_targets/upload.rs` and `tests/e2e/fuzzing.rs`.

/// What wasm-smith may generate for this host: the proposals wasmtime
/// compiles here (no GC, exceptions, threads, reference types, 64-bit
/// memories or wide arithmetic), so generated code reaches the compiler.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        reference_types_enabled: false,
        ..wasm_smith::Config::default()
    }
}
