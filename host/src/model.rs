//! The JSON model a client sends and the server stores (the
//! `rulehost-model` crate), with its parse errors as this crate's
//! [`Error`](crate::Error) (`invalid_input`).

pub use rulehost_model::*;

/// Parses JSON into `T`, naming the path of the first bad field; the error
/// is `invalid_input`.
pub fn from_json<T: for<'de> serde::Deserialize<'de>>(what: &str, json: &str) -> Result<T, crate::Error> {
    rulehost_model::from_json(what, json).map_err(crate::Error::from)
}
