//! Precompiled components on disk, keyed by the source's sha256.
//!
//! Deserializing a precompiled artifact runs native code the file
//! describes, so the host must only ever load files it wrote itself. Each
//! file carries a tag, sha256(key ‖ body), where the key is a random secret
//! created with the cache and readable only by its owner; a file whose tag
//! does not match (planted, corrupted, truncated) is ignored and the
//! component is compiled again. Files are written to a temporary name and
//! renamed, so a crash never leaves a half-written artifact under a real name.

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use rulehost_durable as durable;

const TAG_LEN: usize = 32;

/// A directory of precompiled components.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; 32],
    /// Distinguishes engines whose artifacts are incompatible.
    engine_id: String,
}

impl ArtifactCache {
    /// Opens (creating if needed) a cache directory for `engine`.
    pub(crate) fn open(dir: &Path, engine: &wasmtime::Engine) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        durable::sweep(dir);
        let key_path = dir.join("cache.key");
        let key = match fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                key
            }
            _ => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                durable::write(dir, &key_path, &key)?;
                key
            }
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_owned(),
            key,
            engine_id: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_id))
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        Sha256::new()
            .chain_update(self.key)
            .chain_update(body)
            .finalize()
            .into()
    }

    /// The precompiled component for `sha256`, if this host wrote one that is
    /// intact and compatible.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, sha256: &str) -> Option<Component> {
        let bytes = fs::read(self.path(sha256)).ok()?;
        if bytes.len() < TAG_LEN {
            return None;
        }
        let (tag, body) = bytes.split_at(TAG_LEN);
        if tag != self.tag(body) {
            tracing::warn!(sha256, "ignoring a precompiled artifact whose tag does not match");
            return None;
        }
        #[allow(unsafe_code, reason = "the tag proves this host wrote the artifact")]
        // SAFETY: the body was produced by `Component::serialize` of this
        // host (the keyed tag matches), and wasmtime checks that it was made
        // by a compatible engine before using it.
        let component = unsafe { Component::deserialize(engine, body) };
        component.ok()
    }

    /// Stores a compiled component; failures only cost a later recompile.
    pub(crate) fn store(&self, sha256: &str, component: &Component) {
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|body| {
                let mut file = Vec::with_capacity(TAG_LEN + body.len());
                file.extend_from_slice(&self.tag(&body));
                file.extend_from_slice(&body);
                durable::write(&self.dir, &self.path(sha256), &file)
            });
        if let Err(e) = result {
            tracing::warn!(sha256, error = %e, "could not cache a precompiled component");
        }
    }
}
