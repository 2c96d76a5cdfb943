//! Stored profile sets: a tenant's customers as NDJSON, kept to simulate
//! candidate versions against again and again without uploading them each
//! time.
//!
//! A set's bytes are a file named by their sha256 in the tenant's directory
//! (`profile-sets/{tenant}/{sha256}.ndjson`), written and synced before the
//! row that names it is committed, like plugin blobs: a crash leaves the
//! previous set or the new one, never a row naming a missing or partial
//! file. Replacing a set removes the old file once no row names it; files
//! no row names (a crash between the two) are removed when the registry
//! opens. Reading a set hashes it on the way: a file altered on disk fails
//! the read at its end instead of being counted.

use std::fs;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{SqliteStore, audit, now, ts};
use crate::{ProfileSet, ProfileSetStore, RegistryError, Result, SetReader, StagedSet, TenantStore, check_id, durable};

/// A set being written: lines go to a temporary file and into its hash.
struct StagedFile {
    store: SqliteStore,
    actor: String,
    tenant_id: String,
    name: String,
    max_sets: u64,
    dir: PathBuf,
    file: std::io::BufWriter<durable::Staged>,
    hash: Sha256,
    customers: u64,
    bytes: u64,
}

impl StagedSet for StagedFile {
    fn push(&mut self, line: &str) -> std::io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.hash.update(line.as_bytes());
        self.hash.update(b"\n");
        self.customers += 1;
        self.bytes += line.len() as u64 + 1;
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn customers(&self) -> u64 {
        self.customers
    }

    fn commit(self: Box<Self>) -> Result<ProfileSet> {
        let store = self.store.clone();
        store.put_profile_set(*self)
    }
}

/// A stored set's file, hashed as it is read.
struct HashedFile {
    file: fs::File,
    hash: Sha256,
    sha256: String,
    checked: bool,
}

impl Read for HashedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hash.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.checked {
            let actual = hex::encode(self.hash.clone().finalize());
            if actual != self.sha256 {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "the stored profile set was altered on disk (it hashes to {actual}, not {}): \
                         store it again",
                        self.sha256
                    ),
                ));
            }
            self.checked = true;
        }
        Ok(n)
    }
}

impl ProfileSetStore for SqliteStore {
    fn stage_profile_set(&self, actor: &str, tenant_id: &str, name: &str, max_sets: u64) -> Result<Box<dyn StagedSet>> {
        check_id("profile set name", name)?;
        self.tenant(tenant_id)?;
        let dir = self.sets_dir(tenant_id);
        fs::create_dir_all(&dir)?;
        let file = durable::Staged::new(&dir)?;
        Ok(Box::new(StagedFile {
            store: self.clone(),
            actor: actor.to_owned(),
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            max_sets,
            dir,
            file: std::io::BufWriter::with_capacity(1 << 16, file),
            hash: Sha256::new(),
            customers: 0,
            bytes: 0,
        }))
    }

    /// The tenant's sets, by name.
    fn profile_sets(&self, tenant_id: &str) -> Result<Vec<ProfileSet>> {
        self.tenant(tenant_id)?;
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, customers, bytes, sha256, created_at FROM profile_sets WHERE tenant_id = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map([tenant_id], |r| {
            Ok(ProfileSet {
                name: r.get(0)?,
                customers: r.get::<_, i64>(1)? as u64,
                bytes: r.get::<_, i64>(2)? as u64,
                sha256: r.get(3)?,
                created_at: ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A set and a reader of its lines.
    fn open_profile_set(&self, tenant_id: &str, name: &str) -> Result<(ProfileSet, SetReader)> {
        let set = self
            .profile_sets(tenant_id)?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| crate::rules::no_set(tenant_id, name))?;
        let path = self.sets_dir(tenant_id).join(format!("{}.ndjson", set.sha256));
        let file = fs::File::open(&path).map_err(|e| {
            RegistryError::Corrupt(format!(
                "the file of profile set {name:?} cannot be read ({e}): store it again"
            ))
        })?;
        let reader = BufReader::with_capacity(
            1 << 16,
            HashedFile {
                file,
                hash: Sha256::new(),
                sha256: set.sha256.clone(),
                checked: false,
            },
        );
        Ok((set, Box::new(reader)))
    }

    /// Deletes a set.
    fn delete_profile_set(&self, actor: &str, tenant_id: &str, name: &str) -> Result<()> {
        self.tenant(tenant_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sha256: String = tx
            .query_row(
                "SELECT sha256 FROM profile_sets WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| crate::rules::no_set(tenant_id, name))?;
        tx.execute(
            "DELETE FROM profile_sets WHERE tenant_id = ?1 AND name = ?2",
            params![tenant_id, name],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "profile_set.delete",
            serde_json::json!({"name": name, "sha256": sha256}),
        )?;
        tx.commit()?;
        drop(conn);
        self.remove_unnamed_set(tenant_id, &sha256);
        Ok(())
    }
}

impl SqliteStore {
    fn sets_dir(&self, tenant_id: &str) -> PathBuf {
        self.dir.join("profile-sets").join(tenant_id)
    }

    /// Stores a staged set under its name, replacing any set of that
    /// name; at most its `max_sets` sets per tenant.
    fn put_profile_set(&self, staged: StagedFile) -> Result<ProfileSet> {
        let StagedFile {
            actor,
            tenant_id,
            name,
            max_sets,
            dir,
            file,
            hash,
            customers,
            bytes,
            ..
        } = staged;
        let (actor, tenant_id, name) = (actor.as_str(), tenant_id.as_str(), name.as_str());
        let sha256 = hex::encode(hash.finalize());
        // Synced before the registry is locked: a large set takes a while.
        let file = file.into_inner().map_err(|e| RegistryError::from(e.into_error()))?;
        file.commit(&dir.join(format!("{sha256}.ndjson")))?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (count, old): (i64, Option<String>) = (
            tx.query_row(
                "SELECT count(*) FROM profile_sets WHERE tenant_id = ?1 AND name != ?2",
                params![tenant_id, name],
                |r| r.get(0),
            )?,
            tx.query_row(
                "SELECT sha256 FROM profile_sets WHERE tenant_id = ?1 AND name = ?2",
                params![tenant_id, name],
                |r| r.get(0),
            )
            .optional()?,
        );
        if u64::try_from(count).unwrap_or(0) >= max_sets {
            drop(tx);
            drop(conn);
            self.remove_unnamed_set(tenant_id, &sha256);
            return Err(crate::rules::too_many_sets(
                tenant_id,
                u64::try_from(count).unwrap_or(0),
            ));
        }
        let created_at = now();
        tx.execute(
            "INSERT OR REPLACE INTO profile_sets (tenant_id, name, customers, bytes, sha256, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tenant_id, name, customers as i64, bytes as i64, sha256, created_at],
        )?;
        audit(
            &tx,
            Some(tenant_id),
            actor,
            "profile_set.put",
            serde_json::json!({"name": name, "customers": customers, "bytes": bytes, "sha256": sha256}),
        )?;
        tx.commit()?;
        drop(conn);
        if let Some(old) = old.filter(|old| *old != sha256) {
            self.remove_unnamed_set(tenant_id, &old);
        }
        Ok(ProfileSet {
            name: name.to_owned(),
            customers,
            bytes,
            sha256,
            created_at: ts(created_at),
        })
    }

    /// Removes the file `sha256` of the tenant's sets unless a set still
    /// names it (two names may hold the same bytes).
    fn remove_unnamed_set(&self, tenant_id: &str, sha256: &str) {
        let named = self
            .conn()
            .query_row(
                "SELECT 1 FROM profile_sets WHERE tenant_id = ?1 AND sha256 = ?2",
                params![tenant_id, sha256],
                |_| Ok(()),
            )
            .optional();
        if let Ok(None) = named {
            let _ = fs::remove_file(self.sets_dir(tenant_id).join(format!("{sha256}.ndjson")));
        }
    }

    /// Removes what a crash left in the sets' directories: temporary files
    /// and files no set names.
    pub(super) fn sweep_profile_sets(&self) -> Result<()> {
        let Ok(tenants) = fs::read_dir(self.dir.join("profile-sets")) else {
            return Ok(());
        };
        for tenant in tenants.flatten() {
            let tenant_id = tenant.file_name().to_string_lossy().into_owned();
            durable::sweep(&tenant.path());
            let Ok(files) = fs::read_dir(tenant.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if let Some(sha256) = name.strip_suffix(".ndjson") {
                    self.remove_unnamed_set(&tenant_id, sha256);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use super::*;

    fn registry() -> (tempfile::TempDir, SqliteStore) {
        crate::sqlite::with_tenant_t()
    }

    fn store(registry: &SqliteStore, name: &str, lines: &[&str], max_sets: u64) -> Result<ProfileSet> {
        let mut staged = registry.stage_profile_set("test", "t", name, max_sets)?;
        for line in lines {
            staged.push(line).unwrap();
        }
        staged.commit()
    }

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.join("profile-sets/t"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn read_all(registry: &SqliteStore, name: &str) -> std::io::Result<String> {
        let (_, mut reader) = registry.open_profile_set("t", name).unwrap();
        let mut text = String::new();
        for line in reader.by_ref().lines() {
            text.push_str(&line?);
            text.push('\n');
        }
        Ok(text)
    }

    #[test]
    fn a_set_is_stored_read_back_replaced_and_deleted_with_its_file() {
        let (dir, registry) = registry();
        let set = store(
            &registry,
            "march",
            &["{\"customer_id\":\"a\"}", "{\"customer_id\":\"b\"}"],
            5,
        )
        .unwrap();
        let text = "{\"customer_id\":\"a\"}\n{\"customer_id\":\"b\"}\n";
        assert_eq!((set.customers, set.bytes), (2, text.len() as u64));
        assert_eq!(set.sha256, hex::encode(Sha256::digest(text)));
        assert_eq!(read_all(&registry, "march").unwrap(), text);
        assert_eq!(registry.profile_sets("t").unwrap(), vec![set.clone()]);
        assert_eq!(files(dir.path()), vec![format!("{}.ndjson", set.sha256)]);

        let replaced = store(&registry, "march", &["{\"customer_id\":\"c\"}"], 5).unwrap();
        assert_eq!(files(dir.path()), vec![format!("{}.ndjson", replaced.sha256)]);
        registry.delete_profile_set("test", "t", "march").unwrap();
        assert!(files(dir.path()).is_empty());
        assert!(registry.profile_sets("t").unwrap().is_empty());
        assert!(matches!(
            registry.delete_profile_set("test", "t", "march"),
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            registry.stage_profile_set("test", "t", "Bad Name", 5).map(|_| ()),
            Err(RegistryError::Invalid(_))
        ));
        assert!(matches!(
            registry.stage_profile_set("test", "nobody", "march", 5).map(|_| ()),
            Err(RegistryError::NotFound(_))
        ));
    }

    #[test]
    fn past_the_most_sets_a_tenant_may_keep_nothing_is_stored() {
        let (dir, registry) = registry();
        let kept = store(&registry, "one", &["{\"customer_id\":\"a\"}"], 1).unwrap();
        let refused = store(&registry, "two", &["{\"customer_id\":\"b\"}"], 1);
        assert!(matches!(refused, Err(RegistryError::Conflict(_))), "{refused:?}");
        assert_eq!(registry.profile_sets("t").unwrap(), vec![kept.clone()]);
        assert_eq!(files(dir.path()), vec![format!("{}.ndjson", kept.sha256)]);
        // Replacing the one set it has is still allowed.
        store(&registry, "one", &["{\"customer_id\":\"c\"}"], 1).unwrap();
    }

    #[test]
    fn a_set_altered_on_disk_fails_its_read_at_the_end() {
        let (dir, registry) = registry();
        let set = store(&registry, "march", &["{\"customer_id\":\"a\"}"], 5).unwrap();
        let path = dir.path().join(format!("profile-sets/t/{}.ndjson", set.sha256));
        fs::write(&path, "{\"customer_id\":\"z\"}\n").unwrap();
        let error = read_all(&registry, "march").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData);
        assert!(error.to_string().contains("altered on disk"), "{error}");
    }

    #[test]
    fn what_a_crash_leaves_behind_is_swept_when_the_registry_opens() {
        let (dir, registry) = registry();
        let set = store(&registry, "march", &["{\"customer_id\":\"a\"}"], 5).unwrap();
        drop(registry);
        let sets = dir.path().join("profile-sets/t");
        fs::write(sets.join(format!("{}{}", durable::TMP_PREFIX, "0123")), "partial").unwrap();
        fs::write(sets.join(format!("{}.ndjson", "ab".repeat(32))), "unnamed\n").unwrap();
        let registry = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(files(dir.path()), vec![format!("{}.ndjson", set.sha256)]);
        assert_eq!(read_all(&registry, "march").unwrap(), "{\"customer_id\":\"a\"}\n");
    }
}
