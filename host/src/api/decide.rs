//! Decisions: one profile in, one explained decision out; or NDJSON in and
//! NDJSON out, streamed with bounded memory.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::auth::Auth;
use super::{ApiError, AppState, RawBody, invalid_json};
use crate::ErrorBody;
use crate::decision::Decision;
use crate::input::InputLimits;
use crate::live::{DecideById, DecideRequest, LiveError};
use crate::request::{Arrived, Refused};

/// Decides for one customer with the tenant's active pipeline, config and
/// offers: on the profile the request sends, or, given a `customer_id`
/// instead, on the profile the host keeps from the customer's events.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/decide", tag = "decide",
    request_body = DecideBody,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, body = Decision),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 404, description = "No profile is kept of the customer (a decision by id)", body = ErrorBody),
        (status = 409, description = "No active plugin", body = ErrorBody),
        (status = 422, description = "The plugin failed (trap, fuel, memory, invalid output, its own error)", body = ErrorBody),
        (status = 429, description = "Over the tenant's concurrency limit; see Retry-After", body = ErrorBody),
        (status = 504, description = "The plugin ran past its deadline", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn decide(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    RawBody(body): RawBody,
) -> Result<Json<Decision>, ApiError> {
    let request = Arrived::parse(body, &InputLimits::default()).map_err(|refused| match refused {
        Refused::Json(e) => invalid_json(&e),
        Refused::Input(e) => ApiError::from(e),
    })?;
    let (snapshot, permit) = state.live.admit(&tenant)?;
    let live = state.live.clone();
    let (answer, answered) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let decision = live.input(&snapshot, request).and_then(|(input, commit)| {
            // The thread waits in line for a lane parked (see `engine::lanes`).
            let lane = live.lane(&snapshot);
            live.decide_on(lane, &snapshot, input, commit, None)
        });
        let _ = answer.send(decision);
    });
    let decision = answered
        .await
        .map_err(|_| ApiError::internal("the decision ended without an answer"))??;
    Ok(Json(decision))
}

/// A decide request's body: a [`DecideRequest`] (with the profile) or a
/// [`DecideById`] (on the kept profile), for the OpenAPI document.
pub struct DecideBody;

impl utoipa::PartialSchema for DecideBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{OneOfBuilder, Schema};
        use utoipa::openapi::{Ref, RefOr};
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(Ref::from_schema_name("DecideRequest"))
                .item(Ref::from_schema_name("DecideById"))
                .description(Some(
                    "A decision on the profile sent, or on the customer's kept profile",
                ))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for DecideBody {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            DecideRequest::name().into(),
            <DecideRequest as utoipa::PartialSchema>::schema(),
        ));
        DecideRequest::schemas(schemas);
        schemas.push((
            DecideById::name().into(),
            <DecideById as utoipa::PartialSchema>::schema(),
        ));
        DecideById::schemas(schemas);
    }
}

/// A line of a batch, as read.
enum Line {
    Text(usize, Bytes),
    TooLong(usize),
    Broken(String),
}

/// Decides for every line of an NDJSON body (each a decide request) and
/// streams one NDJSON line back per input line, in order: the decision, or
/// `{"line": n, "error": {…}}` for a line that failed. Blank lines are
/// skipped. The batch takes one of the tenant's decision slots.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/decide/batch", tag = "decide",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One `DecideRequest` per line"),
    responses((status = 200, description = "NDJSON: a decision or an error per line", content_type = "application/x-ndjson", body = String),
              (status = 429, description = "Over the tenant's concurrency limit", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn decide_batch(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let (snapshot, permit) = state.live.admit(&tenant)?;
    let (line_tx, mut line_rx) = mpsc::channel::<Line>(32);
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(read_lines(body, state.limits.batch_line_bytes, line_tx));
    let live = state.live.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        while let Some(line) = line_rx.blocking_recv() {
            let out = match line {
                Line::Text(n, text) => {
                    let result = if std::str::from_utf8(&text).is_err() {
                        Err(crate::Error::InvalidInput(format!("line {n} is not UTF-8")).into())
                    } else {
                        Arrived::parse(text, &InputLimits::default())
                            .map_err(|refused| {
                                LiveError::from(match refused {
                                    Refused::Json(e) => crate::Error::InvalidInput(format!("line {n}{e}")),
                                    Refused::Input(e) => e,
                                })
                            })
                            .and_then(|request| live.decide_blocking(&snapshot, request))
                    };
                    match result {
                        Ok(decision) => serde_json::to_vec(&decision).unwrap_or_default(),
                        Err(e) => error_line(n, ApiError::from(e)),
                    }
                }
                Line::TooLong(n) => error_line(
                    n,
                    ApiError::from(crate::Error::InvalidInput(format!(
                        "line {n} is longer than the line limit"
                    ))),
                ),
                Line::Broken(message) => {
                    let _ = out_tx.blocking_send(Bytes::from(error_line(
                        0,
                        ApiError::from(crate::Error::InvalidInput(message)),
                    )));
                    break;
                }
            };
            let mut out = out;
            out.push(b'\n');
            if out_tx.blocking_send(Bytes::from(out)).is_err() {
                // The client went away.
                break;
            }
        }
    });
    let stream = ReceiverStream::new(out_rx).map(Ok::<_, Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

fn error_line(line: usize, error: ApiError) -> Vec<u8> {
    let body = error.body();
    serde_json::to_vec(&serde_json::json!({"line": line, "error": body.error})).unwrap_or_default()
}

/// Splits the body into lines as it arrives, never holding more than one
/// line (up to `max` bytes) in memory.
async fn read_lines(body: Body, max: usize, lines: mpsc::Sender<Line>) {
    let mut stream = body.into_data_stream();
    let mut current: Vec<u8> = Vec::new();
    let mut number = 0usize;
    let mut skipping = false;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = lines
                    .send(Line::Broken(format!("reading the request body failed: {e}")))
                    .await;
                return;
            }
        };
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let (part, ended) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = if ended { &rest[part.len() + 1..] } else { &[] };
            if !skipping {
                if current.len() + part.len() > max {
                    skipping = true;
                    current.clear();
                } else {
                    current.extend_from_slice(part);
                }
            }
            if ended {
                number += 1;
                let line = if skipping {
                    Some(Line::TooLong(number))
                } else if current.iter().all(u8::is_ascii_whitespace) {
                    None
                } else {
                    Some(Line::Text(number, Bytes::from(std::mem::take(&mut current))))
                };
                current.clear();
                skipping = false;
                if let Some(line) = line
                    && lines.send(line).await.is_err()
                {
                    return;
                }
            }
        }
    }
    number += 1;
    let last = if skipping {
        Some(Line::TooLong(number))
    } else if current.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(Line::Text(number, Bytes::from(current)))
    };
    if let Some(line) = last {
        let _ = lines.send(line).await;
    }
}
