//! What the fuzz targets in `fuzz/` check, for any input: shared with the
//! tests that run the same checks briefly on generated input in CI. Each
//! function panics only if the host breaks a promise.

use axum::body::Bytes;

use crate::Error;
use crate::engine::Engine;
use crate::input::{self, Context, InputLimits};
use crate::request::{self, Arrived, Refused};

/// Reads `bytes` as a decide request twice — in one pass into an input
/// frame, as the decide routes do, and through the model — and builds a
/// plugin input from it. Any bytes either read or are refused with a
/// message; both readings take and refuse the same bodies, and what they
/// take makes frames of the same content.
pub fn decide_request(bytes: &[u8]) {
    let limits = InputLimits::default();
    let arrived = Arrived::parse(Bytes::copy_from_slice(bytes), &limits);
    if request::names_a_customer(bytes) {
        // A decision on a kept profile: the model of such requests takes
        // what the one-pass reading takes (the profile is the server's).
        let modelled = crate::model::parse_json::<crate::live::DecideById>(bytes);
        match (&arrived, &modelled) {
            (Ok(arrived), Ok(request)) => assert!(arrived.by_id() && arrived.customer_id() == request.customer_id),
            (Ok(_), Err(e)) => panic!("read in one pass, but the model refuses it: {e}"),
            (Err(_), _) => {}
        }
        return;
    }
    let modelled = request::through_model(bytes, &limits).map_err(|refused| match refused {
        Refused::Json(e) => e.to_string(),
        Refused::Input(Error::InvalidInput(message)) => message,
        Refused::Input(other) => panic!("building an input failed as {other:?}"),
    });
    match (arrived, modelled) {
        (Ok(arrived), Ok((request, frame))) => {
            assert_eq!(arrived.customer_id(), request.profile.customer_id);
            let framed = arrived
                .frame_sent(Context::of(&request), request.offers.clone(), &limits)
                .expect("a request read in one pass frames");
            assert_eq!(
                input::resolved(framed.frame().bytes).expect("the frame reads"),
                input::resolved(&frame).expect("the model's frame reads"),
                "the two readings differ"
            );
        }
        (Err(refused), Err(message)) => {
            assert!(!message.is_empty(), "a refusal without a message");
            let said = match refused {
                Refused::Json(e) => e.to_string(),
                Refused::Input(e) => e.to_string(),
            };
            if said == request::ONE_OF {
                // Neither a profile nor a customer, or both: the model
                // says which field is missing or unknown.
                return;
            }
            assert!(
                said.contains(message.trim_start_matches(": ")),
                "{said} is not the model's {message}"
            );
        }
        (Ok(_), Err(message)) => panic!("read in one pass, but the model refuses it: {message}"),
        (Err(refused), Ok(_)) => panic!("the model takes it, but the one-pass reading refused it: {refused:?}"),
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
