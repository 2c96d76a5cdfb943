//! Storage as the server sees it: the `rulehost-store` crate's interface,
//! records and backends.

pub use rulehost_store::sqlite::SqliteStore;
pub use rulehost_store::*;
