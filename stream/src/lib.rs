//! # rulehost-stream
//!
//! The brand's events in from NATS JetStream, and the outbox's touches out
//! to it. Nothing here decides or stores: events go to a [`Sink`] (the
//! host's intake), touches come from the store's outbox.
//!
//! | subject | stream | what |
//! |---|---|---|
//! | `rulehost.events.<tenant>` | `RULEHOST_EVENTS` | one event per message (the JSON of `POST …/events`); set `Nats-Msg-Id` to the event id |
//! | `rulehost.dead.<tenant>` | `RULEHOST_DEAD` | messages that can never be taken, with the reason in header `Rulehost-Reason` |
//! | `rulehost.touches.<tenant>` | `RULEHOST_TOUCHES` | the outbox's deliveries, `Nats-Msg-Id` the touch id |
//!
//! (`rulehost` is the default prefix, see [`Settings::prefix`].) The
//! streams are created when missing. Every host of a fleet pulls from one
//! durable consumer (named as the prefix) with explicit acks: a message is acked
//! once its event is committed (a redelivery is a duplicate the store
//! drops by event id), or once it was dead-lettered; a failure that trying
//! again may heal (storage out of reach) is negatively acked with a delay.
//! A poison message never blocks the stream and is never redelivered for
//! ever. Per customer, order does not matter: folding an event into a
//! profile gives the same profile whatever the order (a later `at` wins),
//! and a customer's events are taken in under the customer's lock.

mod events;
mod touches;

pub use events::{Dead, Rejected, Sink, consume};
pub use touches::publish_outbox;

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// The default first token of every subject (and, in capitals, of every
/// stream's name): several deployments share a NATS server under
/// different ones.
pub const PREFIX: &str = "rulehost";

/// How to reach NATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The server(s), e.g. `nats://127.0.0.1:4222` (`tls://` for TLS).
    pub url: String,
    /// A `.creds` file (JWT and seed).
    pub creds_file: Option<PathBuf>,
    /// A user, with `password`.
    pub user: Option<String>,
    /// The user's password.
    pub password: Option<String>,
    /// A CA certificate (PEM) to trust for TLS.
    pub tls_ca: Option<PathBuf>,
    /// Refuse a connection that is not TLS.
    pub require_tls: bool,
    /// The first token of every subject ([`PREFIX`] by default).
    pub prefix: String,
    /// How long a message delivered to a host waits for its ack before
    /// NATS delivers it again (to any host): how soon the events a dead
    /// host was taking in are taken by another. Zero: [`ACK_WAIT`].
    pub ack_wait: Duration,
}

/// The default [`Settings::ack_wait`].
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// The subjects and streams under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The subject a tenant's events arrive on.
    pub fn events(&self, tenant: &str) -> String {
        format!("{}.events.{tenant}", self.prefix)
    }

    /// The subject a tenant's dead letters go to (`_unknown` when a
    /// subject named no tenant).
    pub fn dead(&self, tenant: &str) -> String {
        format!("{}.dead.{tenant}", self.prefix)
    }

    /// The subject a tenant's touches go to.
    pub fn touches(&self, tenant: &str) -> String {
        format!("{}.touches.{tenant}", self.prefix)
    }

    /// The tenant an events subject names, if it is one.
    pub fn tenant_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".events.")
            .filter(|t| !t.is_empty() && !t.contains('.'))
    }

    /// The stream of `what` (`events`, `dead`, `touches`).
    pub fn stream(&self, what: &str) -> String {
        format!("{}_{}", self.prefix.to_uppercase(), what.to_uppercase()).replace(['.', '-', '*', '>'], "_")
    }

    /// The durable consumer every host pulls events from.
    pub fn consumer(&self) -> String {
        self.prefix.replace(['.', '*', '>'], "_")
    }
}

/// Why the stream failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Connecting (or authenticating) failed.
    #[error("connecting to NATS at {url}: {message}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// A JetStream call failed.
    #[error("NATS JetStream: {0}")]
    JetStream(String),
}

fn jetstream_error(e: impl std::fmt::Display) -> StreamError {
    StreamError::JetStream(e.to_string())
}

/// A connection to NATS with JetStream, the streams in place.
#[derive(Clone)]
pub struct Nats {
    js: jetstream::Context,
    names: Names,
    ack_wait: Duration,
}

impl Nats {
    /// Connects as `name` (how the server lists this client) and makes
    /// sure the streams exist.
    pub async fn connect(settings: &Settings, name: &str) -> Result<Self, StreamError> {
        let failed = |message: String| StreamError::Connect {
            url: settings.url.clone(),
            message,
        };
        let mut options = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .require_tls(settings.require_tls);
        if let Some(creds) = &settings.creds_file {
            options = options
                .credentials_file(creds)
                .await
                .map_err(|e| failed(format!("reading the credentials file {}: {e}", creds.display())))?;
        }
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(ca) = &settings.tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        let client = options
            .connect(settings.url.as_str())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let js = jetstream::new(client);
        let names = Names::new(if settings.prefix.is_empty() {
            PREFIX
        } else {
            &settings.prefix
        });
        for what in ["events", "dead", "touches"] {
            let name = names.stream(what);
            js.get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.{what}.>", names.prefix)],
                storage: stream::StorageType::File,
                // Kept a week: long enough for a host down over a weekend.
                max_age: Duration::from_secs(7 * 86_400),
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| jetstream_error(format!("the stream {name}: {e}")))?;
        }
        let ack_wait = if settings.ack_wait.is_zero() {
            ACK_WAIT
        } else {
            settings.ack_wait
        };
        Ok(Self { js, names, ack_wait })
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The subjects and streams.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Publishes events to `rulehost.events.<tenant>`, each with its id as
    /// `Nats-Msg-Id`, and waits until JetStream has stored every one (a
    /// duplicate within the window is acknowledged and not stored twice).
    pub async fn publish_events(&self, tenant: &str, events: &[(String, bytes::Bytes)]) -> Result<usize, StreamError> {
        let subject = self.names.events(tenant);
        let mut acks = Vec::with_capacity(events.len());
        for (id, payload) in events {
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(id);
            acks.push(
                self.js
                    .send_publish(subject.clone(), publish)
                    .await
                    .map_err(jetstream_error)?,
            );
        }
        let mut stored = 0;
        for ack in acks {
            let ack = ack.await.map_err(jetstream_error)?;
            stored += usize::from(!ack.duplicate);
        }
        Ok(stored)
    }
}
