//! Touches out: the outbox's numbered entries published in order, each
//! with its touch id as `Nats-Msg-Id` (a republish within the duplicate
//! window is dropped by JetStream; receivers drop the rest by touch id),
//! marked published once JetStream has stored them.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use rulehost_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Nats, StreamError, jetstream_error};

/// Entries published per round at most.
const BATCH: usize = 500;

/// How long the publisher's lease holds: another host takes over this long
/// after the publishing host dies.
const LEASE: Duration = Duration::from_secs(10);

/// Publishes the outbox until `stop`, while this host (`holder`) holds the
/// publisher's lease (one host of a fleet publishes, in order); looks
/// again when `wake` is notified or `poll` has passed.
pub async fn publish_outbox(
    nats: Nats,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    poll: Duration,
    holder: String,
    stop: CancellationToken,
) {
    loop {
        let woken = wake.notified();
        let leading = {
            let (store, holder) = (store.clone(), holder.clone());
            tokio::task::spawn_blocking(move || store.take_lease("outbox-publisher", &holder, LEASE)).await
        };
        let published = match leading {
            Ok(Ok(true)) => match publish_some(&nats, &store).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "publishing touches to NATS failed; trying again");
                    0
                }
            },
            Ok(Ok(false)) => 0,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot tell whether this host publishes the outbox");
                0
            }
            Err(e) => {
                tracing::error!(error = %e, "the task taking the publisher's lease failed");
                0
            }
        };
        if published == BATCH {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = woken => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Publishes up to a batch of entries; returns how many.
async fn publish_some(nats: &Nats, store: &Arc<dyn Store>) -> Result<usize, StreamError> {
    let reader = store.clone();
    let entries = tokio::task::spawn_blocking(move || reader.unpublished(BATCH))
        .await
        .map_err(|e| StreamError::JetStream(format!("reading the outbox: {e}")))?
        .map_err(|e| StreamError::JetStream(format!("reading the outbox: {e}")))?;
    if entries.is_empty() {
        return Ok(0);
    }
    let mut acks = Vec::with_capacity(entries.len());
    for e in &entries {
        let publish = PublishMessage::build()
            .payload(bytes::Bytes::from(e.body.clone()))
            .message_id(&e.touch_id);
        acks.push(
            nats.js
                .send_publish(nats.names.touches(&e.tenant_id), publish)
                .await
                .map_err(jetstream_error)?,
        );
    }
    let mut done = Vec::with_capacity(entries.len());
    for (ack, e) in acks.into_iter().zip(&entries) {
        match ack.await {
            Ok(_) => done.push((e.tenant_id.clone(), e.touch_id.clone())),
            // The rest stay unpublished and go again, in order.
            Err(err) => {
                tracing::warn!(touch = e.touch_id, error = %err, "a touch was not stored by JetStream; it goes again");
                break;
            }
        }
    }
    let n = done.len();
    let writer = store.clone();
    tokio::task::spawn_blocking(move || writer.mark_published(&done))
        .await
        .map_err(|e| StreamError::JetStream(format!("marking touches published: {e}")))?
        .map_err(|e| StreamError::JetStream(format!("marking touches published: {e}")))?;
    Ok(n)
}
