//! What the fuzz targets in `fuzz/` check, for any input: shared with the
//! tests that run the same checks briefly on generated input in CI. Each
//! function panics only if the host breaks a promise.

use std::sync::Arc;

use crate::Error;
use crate::engine::Engine;
use crate::input::{self, InputLimits};
use crate::live::DecideRequest;
use crate::model::{self, Request, Timestamp};

/// Decodes `bytes` as a decide request and builds a plugin input from it.
/// Any bytes either decode or are refused with a message; a decoded request
/// either builds or is refused as invalid input, with a message.
pub fn decide_request(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let request = match model::from_json::<DecideRequest>("request", text) {
        Ok(request) => request,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a refusal without a message");
            return;
        }
    };
    let request = Request {
        now: request.now.unwrap_or(Timestamp(0)),
        tz_offset_minutes: 0,
        seed: request.seed.unwrap_or(0),
        mode: request.mode.unwrap_or_default(),
        trigger: request.trigger,
        profile: request.profile,
        offers: Arc::from([]),
    };
    match input::build(&request, &InputLimits::default()) {
        Ok(_) => {}
        Err(Error::InvalidInput(message)) => assert!(!message.is_empty(), "a refusal without a message"),
        Err(other) => panic!("building an input failed as {other:?}"),
    }
}

/// Loads `bytes` as an uploaded plugin: it loads (`Ok(())`), or it is
/// refused as `invalid_plugin` with a reason (`Err(reason)`); nothing else
/// may happen.
pub fn upload(engine: &Engine, bytes: &[u8]) -> Result<(), String> {
    match engine.load(bytes) {
        Ok(_) => Ok(()),
        Err(e @ Error::InvalidPlugin { .. }) => Err(e.to_string()),
        Err(other) => panic!("loading an upload failed as {other:?}"),
    }
}

/// `component` with `module` appended as one more (unused) core module:
/// still the same plugin, but the whole of `module` is validated and
/// compiled when it loads. How generated code reaches the compiler through
/// the upload path.
pub fn with_core_module(component: &[u8], module: &[u8]) -> Vec<u8> {
    let mut out = component.to_vec();
    out.push(0x01); // a core module section
    leb128(module.len(), &mut out);
    out.extend_from_slice(module);
    out
}

/// Appends `n` as unsigned LEB128, as the wasm binary format writes sizes.
pub fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
