//! Simulation over the API: a candidate version against what the tenant
//! runs, over an uploaded NDJSON profile set, streamed, or a stored one.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::{Body, Bytes, HttpBody};
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
use crate::registry::ProfileSet;

/// The candidate and the run's settings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SimulateQuery {
    /// The plugin (the one the slot runs).
    #[param(schema_with = crate::model::schema::id)]
    name: String,
    /// The candidate version (uploaded).
    #[param(schema_with = crate::model::schema::version)]
    version: String,
    /// The slot it takes the place of (default `main`).
    #[serde(default)]
    #[param(schema_with = crate::model::schema::id)]
    slot: Option<String>,
    /// The decision time of lines without a `now`, RFC 3339.
    #[serde(default)]
    #[param(value_type = Option<crate::model::Timestamp>)]
    now: Option<String>,
    /// Customers whose diffs the report keeps, 0–1000 (default 50).
    #[serde(default)]
    #[param(minimum = 0, maximum = 1000)]
    samples: Option<u32>,
    /// A stored profile set to run over instead of the body's customers
    /// (then the body is empty).
    #[serde(default)]
    #[param(schema_with = crate::model::schema::id)]
    profile_set: Option<String>,
}

/// Sets the flag when the request goes away (the client hung up): the
/// simulation stops at its next customer.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The request body as a blocking reader: chunks handed over by a task,
/// which stops when the reader is dropped.
struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
    forward: tokio::task::JoinHandle<()>,
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        self.forward.abort();
    }
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

/// The request body as a blocking reader (for a blocking thread).
fn body_reader(body: Body) -> impl BufRead + Send + 'static {
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
    std::io::BufReader::with_capacity(
        1 << 16,
        ChunkReader {
            chunks,
            current: Bytes::new(),
            forward,
        },
    )
}

/// Runs a candidate version of a slot's plugin against what the tenant
/// runs now — its active pipeline, config, catalog, policy (budgets as used
/// so far) and time zone — over the customers in the body (NDJSON: one
/// profile or decide request per line, streamed, any size up to
/// `simulate_max_customers`) or in the stored set `profile_set`, and
/// answers the report: stage distribution
/// and transitions, tags gained and lost, offers proposed and selected
/// after policy, touches per channel, suppressions, budgets, holdout,
/// errors by code and sample diffs with reasons. Nothing is logged or
/// recorded. One simulation runs at a time per server (else 429); it uses
/// every core, on lanes of its own beside the tenant's.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/simulate", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id"), SimulateQuery),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One customer per line: a `Profile`, or a `DecideRequest`"),
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
    let samples = match query.samples.unwrap_or(50) {
        n @ 0..=1000 => n as usize,
        n => {
            return Err(crate::Error::InvalidInput(format!("samples is {n}; it must be from 0 to 1000")).into());
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let slot = query.slot.as_deref().unwrap_or("main");
    let live = &state.live;
    let input: Box<dyn BufRead + Send> = match &query.profile_set {
        Some(set) => {
            if body.size_hint().exact() != Some(0) {
                return Err(crate::Error::InvalidInput(format!(
                    "the customers are the stored profile set {set:?}: send no body with profile_set"
                ))
                .into());
            }
            Box::new(live.open_profile_set(&tenant, set).await?)
        }
        None => Box::new(body_reader(body)),
    };
    let report = live
        .simulate(&tenant, slot, &query.name, &query.version, now, samples, input, cancel)
        .await?;
    Ok(Json(report))
}

/// Stores the body's customers (NDJSON: one profile or decide request per
/// line, streamed, up to `simulate_max_customers` customers and
/// `profile_set_max_bytes` bytes) as the tenant's profile set `name`, to
/// simulate over with `POST …/simulate?profile_set=name`; a set of that
/// name is replaced. Every line is checked before anything is stored: a
/// bad line is refused naming its number, and the stored set stays as it
/// was.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/profile-sets/{name}", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Set name")),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One customer per line: a `Profile`, or a `DecideRequest`"),
    responses((status = 200, body = ProfileSet), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn put_profile_set(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, name)): Path<(String, String)>,
    body: Body,
) -> Result<Json<ProfileSet>, ApiError> {
    Ok(Json(
        state
            .live
            .put_profile_set(&auth.0, &tenant, &name, body_reader(body))
            .await?,
    ))
}

/// The tenant's stored profile sets: name, customers, bytes, sha256 and
/// when each was stored.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/profile-sets", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = [ProfileSet]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_profile_sets(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<ProfileSet>>, ApiError> {
    Ok(Json(state.live.profile_sets(&tenant).await?))
}

/// Deletes a stored profile set.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/profile-sets/{name}", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Set name")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn delete_profile_set(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    state.live.delete_profile_set(&auth.0, &tenant, &name).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
