//! What hosts sharing one PostgreSQL database coordinate through it:
//! announcements of changes (`LISTEN`, on a connection of its own that is
//! opened again when it drops), change counters, leases, exclusive holds
//! (session advisory locks: a host that dies lets go with its connection)
//! and the counts every host contributes to.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{CHANNEL, PgStore, now};
use crate::{FleetStore, Held, Notice, Result};

/// The longest wait before listening again after a lost connection.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// Parses a notice's payload: `<counter> <tenant>`.
fn parse(payload: &str) -> Option<Notice> {
    let (counter, tenant) = payload.split_once(' ')?;
    Some(Notice::Changed {
        tenant: tenant.to_owned(),
        counter: counter.parse().ok()?,
    })
}

/// Listens until the receiver goes away, opening the connection again
/// (with a backoff) whenever it drops, and saying so.
async fn listen(config: tokio_postgres::Config, target: String, notices: UnboundedSender<Notice>) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    while !notices.is_closed() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                // The connection runs while the LISTEN is sent.
                let statement = format!("LISTEN {CHANNEL}");
                let listening = client.batch_execute(&statement);
                tokio::pin!(listening);
                let mut listened = false;
                loop {
                    tokio::select! {
                        done = &mut listening, if !listened => {
                            listened = true;
                            if let Err(e) = done {
                                tracing::warn!(target = target, error = %e, "cannot listen for changes");
                                break;
                            }
                            backoff = Duration::from_millis(100);
                            if !first && notices.send(Notice::Resumed).is_err() {
                                return;
                            }
                            first = false;
                        }
                        message = messages.next() => match message {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                if let Some(notice) = parse(n.payload())
                                    && notices.send(notice).is_err()
                                {
                                    return;
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(target = target, error = %e, "lost the connection that listens for changes");
                                break;
                            }
                            None => break,
                        },
                        () = notices.closed() => return,
                    }
                }
            }
            Err(e) => tracing::warn!(target = target, error = %e, "cannot connect to listen for changes"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}

/// A session advisory lock, held by a pooled connection kept out of the
/// pool until the hold is dropped.
struct Hold {
    client: Option<deadpool_postgres::Object>,
    key: String,
    runtime: tokio::runtime::Handle,
}

impl Held for Hold {}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let key = std::mem::take(&mut self.key);
            // Unlocked on the store's runtime: a drop may happen anywhere,
            // an async task included, where blocking is not allowed.
            self.runtime.spawn(async move {
                let _ = client
                    .execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", &[&key])
                    .await;
            });
        }
    }
}

impl FleetStore for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn change_counters(&self) -> Result<HashMap<String, i64>> {
        self.run(async {
            let rows = self
                .pool
                .get()
                .await?
                .query("SELECT id, changes FROM tenants", &[])
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn watch(&self) -> Option<UnboundedReceiver<Notice>> {
        let runtime = self.runtime.as_ref()?;
        let (sender, receiver) = unbounded_channel();
        runtime.spawn(listen(self.config.clone(), self.target.clone(), sender));
        Some(receiver)
    }

    fn take_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let (at, until) = (now(), now() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2));
        self.run(async {
            Ok(self
                .pool
                .get()
                .await?
                .query_opt(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                     WHERE leases.until <= $4 OR leases.holder = EXCLUDED.holder
                     RETURNING holder",
                    &[&name, &holder, &until, &at],
                )
                .await?
                .is_some())
        })
    }

    fn hold(&self, name: &str) -> Result<Option<Box<dyn Held>>> {
        let Some(runtime) = self.runtime.as_ref() else {
            return Ok(None);
        };
        self.run(async {
            let client = self.pool.get().await?;
            let held: bool = client
                .query_one("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", &[&name])
                .await?
                .get(0);
            Ok(held.then(|| {
                Box::new(Hold {
                    client: Some(client),
                    key: name.to_owned(),
                    runtime: runtime.handle().clone(),
                }) as Box<dyn Held>
            }))
        })
    }

    fn put_counts(&self, key: &str, host: &str, body: &str) -> Result<()> {
        self.run(async {
            self.pool
                .get()
                .await?
                .execute(
                    "INSERT INTO fleet_counts (key, host, body, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (key, host) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at",
                    &[&key, &host, &body, &now()],
                )
                .await?;
            Ok(())
        })
    }

    fn counts(&self, key: &str, host: &str) -> Result<Vec<(String, String)>> {
        self.run(async {
            let rows = self
                .pool
                .get()
                .await?
                .query(
                    "SELECT host, body FROM fleet_counts WHERE key = $1 AND host <> $2 ORDER BY host",
                    &[&key, &host],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_the_tenant_and_its_counter() {
        assert_eq!(
            parse("42 coffee-chain"),
            Some(Notice::Changed {
                tenant: "coffee-chain".into(),
                counter: 42
            })
        );
        assert_eq!(parse("coffee"), None);
        assert_eq!(parse("x coffee"), None);
    }
}
