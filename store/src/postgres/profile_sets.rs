//! Stored profile sets in PostgreSQL: a set's bytes are chunks of one
//! upload (1 MiB each, written as they arrive, outside any long
//! transaction), named by the set's row when the upload is committed. A
//! refused or abandoned upload leaves chunks no row names; they are swept
//! a day later (an upload still running on another host is never swept).
//! Reading a set hashes it on the way: bytes altered in the database fail
//! the read at its end.

use std::io::{BufRead, ErrorKind, Read};

use sha2::{Digest, Sha256};

use super::{PgStore, changed, lock_tenant, now, read_tenant, ts};
use crate::{ProfileSet, ProfileSetStore, Result, SetReader, StagedSet, check_id, rules};

const CHUNK_BYTES: usize = 1 << 20;
const MS_PER_DAY: i64 = 86_400_000;

/// An upload being written.
struct Upload {
    store: PgStore,
    actor: String,
    tenant_id: String,
    name: String,
    max_sets: u64,
    id: i64,
    seq: i32,
    pending: Vec<u8>,
    hash: Sha256,
    customers: u64,
    bytes: u64,
}

impl Upload {
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (id, seq, chunk) = (self.id, self.seq, std::mem::take(&mut self.pending));
        self.store.run(async {
            self.store
                .pool
                .get()
                .await?
                .execute(
                    "INSERT INTO profile_set_chunks (upload, seq, bytes, written_at) VALUES ($1, $2, $3, $4)",
                    &[&id, &seq, &chunk, &now()],
                )
                .await?;
            Ok(())
        })?;
        self.seq += 1;
        Ok(())
    }
}

impl StagedSet for Upload {
    fn push(&mut self, line: &str) -> std::io::Result<()> {
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        self.hash.update(line.as_bytes());
        self.hash.update(b"\n");
        self.customers += 1;
        self.bytes += line.len() as u64 + 1;
        if self.pending.len() >= CHUNK_BYTES {
            self.flush().map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn customers(&self) -> u64 {
        self.customers
    }

    fn commit(mut self: Box<Self>) -> Result<ProfileSet> {
        self.flush()?;
        let sha256 = hex::encode(std::mem::take(&mut self.hash).finalize());
        let created_at = now();
        let store = self.store.clone();
        let upload = &*self;
        let committed = store.run(async {
            let mut client = store.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, &upload.tenant_id).await?;
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM profile_sets WHERE tenant_id = $1 AND name <> $2",
                    &[&upload.tenant_id, &upload.name],
                )
                .await?
                .get(0);
            if u64::try_from(count).unwrap_or(0) >= upload.max_sets {
                return Err(rules::too_many_sets(&upload.tenant_id, count as u64));
            }
            let old: Option<i64> = tx
                .query_opt(
                    "SELECT upload FROM profile_sets WHERE tenant_id = $1 AND name = $2",
                    &[&upload.tenant_id, &upload.name],
                )
                .await?
                .map(|r| r.get(0));
            tx.execute(
                "INSERT INTO profile_sets (tenant_id, name, customers, bytes, sha256, upload, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET customers = EXCLUDED.customers,
                     bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256, upload = EXCLUDED.upload,
                     created_at = EXCLUDED.created_at",
                &[
                    &upload.tenant_id,
                    &upload.name,
                    &(upload.customers as i64),
                    &(upload.bytes as i64),
                    &sha256,
                    &upload.id,
                    &created_at,
                ],
            )
            .await?;
            if let Some(old) = old {
                tx.execute("DELETE FROM profile_set_chunks WHERE upload = $1", &[&old])
                    .await?;
            }
            changed(
                &tx,
                &upload.tenant_id,
                &upload.actor,
                "profile_set.put",
                serde_json::json!({"name": upload.name, "customers": upload.customers, "bytes": upload.bytes,
                                   "sha256": sha256}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        });
        if let Err(e) = committed {
            store.drop_upload(self.id);
            return Err(e);
        }
        Ok(ProfileSet {
            name: self.name.clone(),
            customers: self.customers,
            bytes: self.bytes,
            sha256,
            created_at: ts(created_at),
        })
    }
}

impl PgStore {
    /// Deletes an upload's chunks (best effort: the sweep catches the rest).
    fn drop_upload(&self, upload: i64) {
        let _ = self.run(async {
            self.pool
                .get()
                .await?
                .execute("DELETE FROM profile_set_chunks WHERE upload = $1", &[&upload])
                .await?;
            Ok(())
        });
    }

    /// Deletes chunks no set names that were written more than a day ago.
    pub(super) fn sweep_uploads(&self) -> Result<u64> {
        self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .execute(
                    "DELETE FROM profile_set_chunks c WHERE c.written_at < $1
                     AND NOT EXISTS (SELECT 1 FROM profile_sets s WHERE s.upload = c.upload)",
                    &[&(now() - MS_PER_DAY)],
                )
                .await?)
        })
    }
}

/// A stored set's chunks, read one at a time and hashed.
struct ChunkReader {
    store: PgStore,
    upload: i64,
    next_seq: i32,
    chunk: Vec<u8>,
    at: usize,
    hash: Sha256,
    sha256: String,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.chunk.len() && !self.done {
            let (upload, seq) = (self.upload, self.next_seq);
            let chunk: Option<Vec<u8>> = self
                .store
                .run(async {
                    Ok(self
                        .store
                        .pool
                        .get()
                        .await?
                        .query_opt(
                            "SELECT bytes FROM profile_set_chunks WHERE upload = $1 AND seq = $2",
                            &[&upload, &seq],
                        )
                        .await?
                        .map(|r| r.get(0)))
                })
                .map_err(std::io::Error::other)?;
            match chunk {
                Some(chunk) => {
                    self.hash.update(&chunk);
                    self.chunk = chunk;
                    self.at = 0;
                    self.next_seq += 1;
                }
                None => {
                    self.done = true;
                    let actual = hex::encode(self.hash.clone().finalize());
                    if actual != self.sha256 {
                        return Err(std::io::Error::new(
                            ErrorKind::InvalidData,
                            format!(
                                "the stored profile set was altered (it hashes to {actual}, not {}): store it again",
                                self.sha256
                            ),
                        ));
                    }
                }
            }
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.chunk.len());
    }
}

impl ProfileSetStore for PgStore {
    fn stage_profile_set(&self, actor: &str, tenant_id: &str, name: &str, max_sets: u64) -> Result<Box<dyn StagedSet>> {
        check_id("profile set name", name)?;
        let id: i64 = self.run(async {
            let client = self.pool.get().await?;
            read_tenant(&client, tenant_id).await?;
            Ok(client
                .query_one("SELECT nextval('profile_set_uploads')", &[])
                .await?
                .get(0))
        })?;
        Ok(Box::new(Upload {
            store: self.clone(),
            actor: actor.to_owned(),
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            max_sets,
            id,
            seq: 0,
            pending: Vec::with_capacity(CHUNK_BYTES + 4096),
            hash: Sha256::new(),
            customers: 0,
            bytes: 0,
        }))
    }

    fn profile_sets(&self, tenant_id: &str) -> Result<Vec<ProfileSet>> {
        Ok(self.sets(tenant_id)?.into_iter().map(|(set, _)| set).collect())
    }

    fn open_profile_set(&self, tenant_id: &str, name: &str) -> Result<(ProfileSet, SetReader)> {
        let (set, upload) = self
            .sets(tenant_id)?
            .into_iter()
            .find(|(s, _)| s.name == name)
            .ok_or_else(|| rules::no_set(tenant_id, name))?;
        let reader = ChunkReader {
            store: self.clone(),
            upload,
            next_seq: 0,
            chunk: Vec::new(),
            at: 0,
            hash: Sha256::new(),
            sha256: set.sha256.clone(),
            done: false,
        };
        Ok((set, Box::new(reader)))
    }

    fn delete_profile_set(&self, actor: &str, tenant_id: &str, name: &str) -> Result<()> {
        self.run(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            lock_tenant(&tx, tenant_id).await?;
            let row = tx
                .query_opt(
                    "DELETE FROM profile_sets WHERE tenant_id = $1 AND name = $2 RETURNING sha256, upload",
                    &[&tenant_id, &name],
                )
                .await?
                .ok_or_else(|| rules::no_set(tenant_id, name))?;
            let (sha256, upload): (String, i64) = (row.get(0), row.get(1));
            tx.execute("DELETE FROM profile_set_chunks WHERE upload = $1", &[&upload])
                .await?;
            changed(
                &tx,
                tenant_id,
                actor,
                "profile_set.delete",
                serde_json::json!({"name": name, "sha256": sha256}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

impl PgStore {
    /// The tenant's sets with their uploads, by name.
    fn sets(&self, tenant_id: &str) -> Result<Vec<(ProfileSet, i64)>> {
        self.run(async {
            let client = self.pool.get().await?;
            read_tenant(&client, tenant_id).await?;
            let rows = client
                .query(
                    "SELECT name, customers, bytes, sha256, created_at, upload FROM profile_sets
                     WHERE tenant_id = $1 ORDER BY name",
                    &[&tenant_id],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    (
                        ProfileSet {
                            name: r.get(0),
                            customers: r.get::<_, i64>(1) as u64,
                            bytes: r.get::<_, i64>(2) as u64,
                            sha256: r.get(3),
                            created_at: ts(r.get(4)),
                        },
                        r.get(5),
                    )
                })
                .collect())
        })
    }
}
