//! Plugin bytes on disk, named by their sha256.
//!
//! A blob is written to a temporary file, synced, renamed into place and
//! the directory synced, all before the database row that names it is
//! committed. A crash can leave an unreferenced blob behind, never a row
//! that names a missing or partial one.

use std::fs;
use std::path::PathBuf;

use crate::durable;

/// A directory of content-addressed blobs.
pub(crate) struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub(crate) fn open(dir: PathBuf) -> std::io::Result<Self> {
        fs::create_dir_all(&dir)?;
        durable::sweep(&dir);
        Ok(Self { dir })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// Stores `bytes` under `sha256` (their hash) durably; a blob that is
    /// already there is left alone.
    pub(crate) fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(sha256);
        if path.exists() {
            return Ok(());
        }
        durable::write(&self.dir, &path, bytes)
    }

    /// The bytes stored under `sha256`.
    pub(crate) fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.path(sha256))
    }
}
