//! The backends the suite runs against, each fresh for one case.

use std::sync::Arc;

use rulehost_store::Store;
use rulehost_store::postgres::PgStore;
use rulehost_store::sqlite::SqliteStore;
use rulehost_store::testing;

/// Where a case's store lives; it can be opened again (a restart).
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, name: String },
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    pub fn postgres() -> Self {
        let (url, name) = testing::fresh_database("conformance");
        Backend::Postgres { url, name }
    }

    /// Opens the store (again, for a restart).
    pub fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path()).expect("the store opens")),
            Backend::Postgres { url, .. } => Arc::new(PgStore::connect(url, 8).expect("the store connects")),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Postgres { name, .. } = self {
            testing::drop_database(name);
        }
    }
}
