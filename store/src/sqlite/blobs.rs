//! Plugin bytes on disk, named by their sha256.
//!
//! A blob is written to a temporary file, synced, renamed into place and
//! the directory synced, all before the database row that names it is
//! committed. A crash can leave an unreferenced blob behind, never a row
//! that names a missing or partial one.
//!
//! Reading a blob checks its bytes against the sha256 in its name: a blob
//! altered on disk (bit rot, a bad restore, tampering) is refused, never
//! handed to the compiler, and storing the same version again repairs it.

use std::fs;
use std::io::{Error, ErrorKind};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

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

    /// Stores `bytes` under `sha256` (their hash) durably; an intact blob
    /// that is already there is left alone, an altered one is replaced.
    pub(crate) fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        if self.get(sha256).is_ok() {
            return Ok(());
        }
        durable::write(&self.dir, &self.path(sha256), bytes)
    }

    /// The bytes stored under `sha256`, refused with [`ErrorKind::InvalidData`]
    /// unless they hash to it.
    pub(crate) fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let bytes = fs::read(self.path(sha256))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            tracing::error!(
                sha256,
                actual,
                "a stored plugin blob does not match its sha256; refusing to load it"
            );
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!(
                    "the stored plugin blob {sha256} was altered on disk (its bytes hash to {actual}); \
                     it will not be run: upload the version again to repair it"
                ),
            ));
        }
        Ok(bytes)
    }
}
