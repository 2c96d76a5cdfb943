//! Events in: one durable pull consumer, shared by every host, read in
//! batches; each message acked once its event is committed or
//! dead-lettered.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, AckPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use rulehost_model::events::EventIn;
use tokio_util::sync::CancellationToken;

use crate::{Nats, StreamError, jetstream_error};

/// Why a sink did not take a tenant's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Something that trying again may heal (storage out of reach, the
    /// server not ready): the messages come back later.
    Retry(String),
    /// Something in the events: each is then tried alone, and the ones
    /// refused go to the dead letters.
    Refused(String),
}

/// A message that can never be taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    /// The tenant its subject names (`_unknown` if none).
    pub tenant: String,
    /// Its subject.
    pub subject: String,
    /// Why it was dead-lettered.
    pub reason: String,
    /// Its first bytes, for people.
    pub excerpt: String,
}

/// Where the events go: the host's intake.
pub trait Sink: Send + Sync + 'static {
    /// Whether `event` may be taken in for `tenant` (the tenant exists and
    /// is enabled, every field is within bounds): why not if not, and
    /// whether that may heal (a tenant this host has not loaded yet).
    fn check(&self, tenant: &str, event: &EventIn) -> impl Future<Output = Result<(), Rejected>> + Send;
    /// Takes a tenant's checked events in.
    fn take(&self, tenant: &str, events: Vec<EventIn>) -> impl Future<Output = Result<(), Rejected>> + Send;
    /// Records a dead letter (after it was published to its subject).
    fn dead(&self, dead: Dead) -> impl Future<Output = ()> + Send;
}

/// Messages read at most per batch.
const BATCH: usize = 500;
/// How long a failure that may heal keeps its messages away.
const RETRY_IN: Duration = Duration::from_secs(5);

/// Takes events from the stream into `sink` until `stop`: reconnects the
/// consumer after an error, and says so in the log.
pub async fn consume<S: Sink>(nats: Nats, sink: std::sync::Arc<S>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    while !stop.is_cancelled() {
        match consume_once(&nats, sink.as_ref(), &stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "reading events from NATS failed; trying again");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn consume_once<S: Sink>(nats: &Nats, sink: &S, stop: &CancellationToken) -> Result<(), StreamError> {
    let stream = nats
        .js
        .get_stream(nats.names.stream("events"))
        .await
        .map_err(jetstream_error)?;
    let name = nats.names.consumer();
    // Created, or updated to these settings (the last host started with
    // other ones sets them for the fleet).
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: nats.ack_wait,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(jetstream_error)?;
    // One continuous pull (the client keeps requests for up to a batch
    // outstanding); whatever has arrived is taken together, up to a batch.
    let mut arriving = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .messages()
        .await
        .map_err(jetstream_error)?
        .ready_chunks(BATCH);
    loop {
        let arrived = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            arrived = arriving.next() => arrived,
        };
        let Some(arrived) = arrived else {
            return Err(StreamError::JetStream("the consumer's messages ended".into()));
        };
        let mut messages = Vec::with_capacity(arrived.len());
        let mut failed = None;
        for message in arrived {
            match message {
                Ok(message) => messages.push(message),
                Err(e) => failed = Some(e),
            }
        }
        if !messages.is_empty() {
            take(nats, sink, messages).await?;
        }
        // A pull that failed (a missed heartbeat, the consumer gone) is
        // started again, after what did arrive is taken.
        if let Some(e) = failed {
            return Err(jetstream_error(e));
        }
    }
}

/// A message read, and what it holds.
struct Read {
    message: Message,
    tenant: String,
    event: EventIn,
}

/// Takes a batch: each message checked alone (what cannot be taken is
/// dead-lettered), then each tenant's events together.
async fn take<S: Sink>(nats: &Nats, sink: &S, messages: Vec<Message>) -> Result<(), StreamError> {
    let mut by_tenant: BTreeMap<String, Vec<Read>> = BTreeMap::new();
    for message in messages {
        match read(nats, sink, &message).await {
            Ok((tenant, event)) => by_tenant
                .entry(tenant.clone())
                .or_default()
                .push(Read { message, tenant, event }),
            Err((tenant, Rejected::Refused(reason))) => bury(nats, sink, &message, &tenant, &reason).await?,
            Err((tenant, Rejected::Retry(why))) => {
                tracing::warn!(tenant, error = %why, "an event not taken yet; NATS delivers it again");
                let _ = message.ack_with(AckKind::Nak(Some(RETRY_IN))).await;
            }
        }
    }
    for (tenant, reads) in by_tenant {
        let events = reads.iter().map(|r| r.event.clone()).collect();
        match sink.take(&tenant, events).await {
            Ok(()) => ack_all(&reads).await,
            Err(Rejected::Retry(why)) => {
                tracing::warn!(tenant, events = reads.len(), error = %why, "events not taken; NATS delivers them again");
                for r in &reads {
                    let _ = r.message.ack_with(AckKind::Nak(Some(RETRY_IN))).await;
                }
            }
            Err(Rejected::Refused(_)) => {
                // One of them is poison: take them one at a time.
                for r in reads {
                    match sink.take(&r.tenant, vec![r.event.clone()]).await {
                        Ok(()) => ack_all(std::slice::from_ref(&r)).await,
                        Err(Rejected::Retry(_)) => {
                            let _ = r.message.ack_with(AckKind::Nak(Some(RETRY_IN))).await;
                        }
                        Err(Rejected::Refused(why)) => bury(nats, sink, &r.message, &r.tenant, &why).await?,
                    }
                }
            }
        }
    }
    Ok(())
}

async fn ack_all(reads: &[Read]) {
    for r in reads {
        if let Err(e) = r.message.ack().await {
            // The event is committed: a redelivery is a duplicate.
            tracing::warn!(error = %e, "an ack was lost; the event comes again and is dropped as a duplicate");
        }
    }
}

/// The tenant a message's subject names and the event it holds, or the
/// tenant (`_unknown` if none) and why it cannot be taken (now or ever).
async fn read<S: Sink>(nats: &Nats, sink: &S, message: &Message) -> Result<(String, EventIn), (String, Rejected)> {
    let subject = message.subject.as_str();
    let Some(tenant) = nats.names.tenant_of(subject) else {
        return Err((
            "_unknown".into(),
            Rejected::Refused(format!(
                "subject {subject:?} names no tenant ({}, one token)",
                nats.names.events("<tenant>")
            )),
        ));
    };
    let event = rulehost_model::parse_json::<EventIn>(&message.payload)
        .map_err(|e| (tenant.to_owned(), Rejected::Refused(format!("not an event{e}"))))?;
    sink.check(tenant, &event)
        .await
        .map_err(|why| (tenant.to_owned(), why))?;
    Ok((tenant.to_owned(), event))
}

/// Dead-letters a message: published to `rulehost.dead.<tenant>` with the
/// reason, recorded, then acked (if the dead letter cannot be published,
/// the message is left to come again).
async fn bury<S: Sink>(
    nats: &Nats,
    sink: &S,
    message: &Message,
    tenant: &str,
    reason: &str,
) -> Result<(), StreamError> {
    let reason_header: String = reason.chars().filter(|c| !c.is_control()).take(1_000).collect();
    let mut publish = async_nats::jetstream::message::PublishMessage::build()
        .payload(message.payload.clone())
        .header("Rulehost-Reason", reason_header.as_str())
        .header("Rulehost-Subject", message.subject.as_str());
    if let Some(id) = message
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
    {
        publish = publish.message_id(id.as_str());
    }
    let stored = match nats.js.send_publish(nats.names.dead(tenant), publish).await {
        Ok(ack) => ack.await.map(|_| ()).map_err(jetstream_error),
        Err(e) => Err(jetstream_error(e)),
    };
    if let Err(e) = stored {
        let _ = message.ack_with(AckKind::Nak(Some(RETRY_IN))).await;
        return Err(e);
    }
    let excerpt: String = String::from_utf8_lossy(&message.payload).chars().take(200).collect();
    tracing::warn!(
        tenant,
        subject = message.subject.as_str(),
        reason,
        "an event message was dead-lettered"
    );
    sink.dead(Dead {
        tenant: tenant.to_owned(),
        subject: message.subject.to_string(),
        reason: reason.to_owned(),
        excerpt,
    })
    .await;
    let _ = message.ack().await;
    Ok(())
}
