//! Writing a file so that a crash leaves either the old state or the whole
//! new file, never a partial one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in `dir` (the path's
/// directory): write, fsync, rename into place, fsync the directory. The
/// file is readable by its owner only.
pub fn write(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = Staged::new(dir)?;
    staged.write_all(bytes)?;
    staged.commit(path)
}

/// A file being written in `dir` under a temporary name, readable by its
/// owner only: [`Staged::commit`] syncs it and renames it into place;
/// dropped uncommitted, it is removed.
pub struct Staged {
    dir: PathBuf,
    tmp: PathBuf,
    file: fs::File,
    committed: bool,
}

impl Staged {
    /// Starts a file in `dir`.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!("{TMP_PREFIX}{}", hex::encode(suffix)));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&tmp)?;
        Ok(Self {
            dir: dir.to_owned(),
            tmp,
            file,
            committed: false,
        })
    }

    /// Syncs the file, renames it to `path` (in the same directory) and
    /// syncs the directory.
    pub fn commit(mut self, path: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.tmp, path)?;
        self.committed = true;
        fs::File::open(&self.dir)?.sync_all()
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Temporary files start with this; what is left of them after a crash can
/// be removed.
pub const TMP_PREFIX: &str = ".tmp-";

/// Removes temporary files a crash left in `dir`.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
