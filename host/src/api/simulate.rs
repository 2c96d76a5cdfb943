//! Simulation over the API: a candidate version against what the tenant
//! runs, over an uploaded NDJSON profile set, streamed.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::auth::Auth;
use super::{ApiError, AppState};
use crate::ErrorBody;
use crate::compare::Report;
use crate::model::Timestamp;

/// The candidate and the run's settings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct SimulateQuery {
    /// The plugin (the one the slot runs).
    name: String,
    /// The candidate version (uploaded).
    version: String,
    /// The slot it takes the place of (default `main`).
    #[serde(default)]
    slot: Option<String>,
    /// The decision time of lines without a `now`, RFC 3339.
    #[serde(default)]
    now: Option<String>,
    /// Customers whose diffs the report keeps (default 50, at most 1000).
    #[serde(default)]
    samples: Option<usize>,
}

/// Sets the flag when the request goes away (the client hung up): the
/// simulation stops at its next customer.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The request body as a blocking reader: chunks handed over by a task.
struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Runs a candidate version of a slot's plugin against what the tenant
/// runs now — its active pipeline, config, catalog, policy (budgets as used
/// so far) and time zone — over the customers in the body (NDJSON: one
/// profile or decide request per line, streamed, any size up to
/// `simulate_max_customers`), and answers the report: stage distribution
/// and transitions, tags gained and lost, offers proposed and selected
/// after policy, touches per channel, suppressions, budgets, holdout,
/// errors by code and sample diffs with reasons. Nothing is logged or
/// recorded. One simulation runs at a time per server (else 429); it uses
/// every core, on lanes of its own beside the tenant's.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/simulate", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id"), SimulateQuery),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn simulate(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    Query(query): Query<SimulateQuery>,
    body: Body,
) -> Result<Json<Report>, ApiError> {
    let now = query
        .now
        .as_deref()
        .map(Timestamp::parse)
        .transpose()
        .map_err(|e| ApiError::from(crate::Error::InvalidInput(format!("now: {e}"))))?;
    let samples = query.samples.unwrap_or(50).min(1000);
    let (chunks_in, chunks) = mpsc::channel(16);
    let forward = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading the request body failed: {e}"));
            let failed = chunk.is_err();
            if chunks_in.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let input = std::io::BufReader::with_capacity(
        1 << 16,
        ChunkReader {
            chunks,
            current: Bytes::new(),
        },
    );
    let slot = query.slot.as_deref().unwrap_or("main");
    let report = state
        .live
        .simulate(&tenant, slot, &query.name, &query.version, now, samples, input, cancel)
        .await;
    forward.abort();
    Ok(Json(report?))
}
