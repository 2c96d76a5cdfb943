//! Looking at plugin bytes before compiling them: what kind of file is it,
//! and what does the plugin say about itself.

use serde::{Deserialize, Serialize};
use wasmparser::{Parser, Payload};

use crate::Error;
use crate::error::Defect;

/// The custom section in which the SDK records a plugin's identity.
pub const INFO_SECTION: &str = "rulehost:plugin";

/// A plugin's identity as recorded by the SDK's `export!`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin crate's name.
    pub name: String,
    /// The plugin crate's version.
    pub version: String,
    /// The contract version it was built against.
    pub contract: String,
    /// The SDK version it was built with, when built with the Rust SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    /// The engine that runs the plugin's language (TypeScript: QuickJS or
    /// SpiderMonkey), as `rulehost build` recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Why bytes are not a component, in words a user can act on.
pub(crate) fn reject_non_component(bytes: &[u8]) -> Option<Error> {
    const WASM_MAGIC: &[u8] = b"\0asm";
    if bytes.starts_with(b"\x7fELF") {
        return Some(Error::invalid_plugin(
            Defect::Precompiled,
            "this is a precompiled artifact (an ELF file), not a component: only .wasm components are accepted, and \
             the host compiles them itself",
        ));
    }
    if !bytes.starts_with(WASM_MAGIC) {
        return Some(Error::invalid_plugin(
            Defect::NotWasm,
            "not a WebAssembly file: it does not start with the `\\0asm` magic bytes",
        ));
    }
    if !Parser::is_component(bytes) {
        return Some(if Parser::is_core_wasm(bytes) {
            Error::invalid_plugin(
                Defect::CoreModule,
                "this is a core WebAssembly module, not a component: build plugins with `rulehost build`",
            )
        } else {
            Error::invalid_plugin(Defect::Malformed, "unsupported WebAssembly version or encoding")
        });
    }
    None
}

/// Reads the SDK's identity record, if the component carries one. Also
/// walks the whole binary, so a truncated or malformed file is caught here
/// with the offset of the damage.
pub(crate) fn embedded_info(bytes: &[u8]) -> Result<Option<PluginInfo>, Error> {
    let malformed = |message: String| Error::invalid_plugin(Defect::Malformed, message);
    let mut info = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| malformed(format!("malformed component: {e}")))?;
        if let Payload::CustomSection(section) = payload
            && section.name() == INFO_SECTION
            && info.is_none()
        {
            let parsed = serde_json::from_slice::<PluginInfo>(section.data())
                .map_err(|e| malformed(format!("the `{INFO_SECTION}` section is not valid plugin info: {e}")))?;
            info = Some(parsed);
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_the_bytes_are() {
        let said = |b: &[u8]| reject_non_component(b).and_then(|e| e.reason()).unwrap_or_default();
        assert_eq!(said(b"\x7fELF\x02\x01"), "precompiled_artifact");
        assert_eq!(said(b"hello world"), "not_wasm");
        let core = wat::parse_str("(module)").unwrap();
        assert_eq!(said(&core), "core_module");
        let component = wat::parse_str("(component)").unwrap();
        assert_eq!(reject_non_component(&component), None);
    }

    #[test]
    fn truncation_is_malformed() {
        let component = wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap();
        let err = embedded_info(&component[..component.len() - 3]).unwrap_err();
        assert_eq!(err.reason(), Some("malformed"));
        assert!(err.to_string().starts_with("malformed component"), "{err}");
    }

    #[test]
    fn reads_the_sdk_record() {
        let component = wat::parse_str(
            r#"(component (core module (@custom "rulehost:plugin" "{\"name\":\"a\",\"version\":\"1.0.0\",\"contract\":\"0.1.0\"}")))"#,
        )
        .unwrap();
        let info = embedded_info(&component).unwrap().unwrap();
        assert_eq!(
            (info.name.as_str(), info.contract.as_str(), info.sdk),
            ("a", "0.1.0", None)
        );
    }
}
