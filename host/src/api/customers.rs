//! The brand's events and the customers the host keeps from them: taking
//! events in, the triggers that start decisions, a customer's page,
//! erasure, and the feed of touches to deliver.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::tenant::Versioned;
use super::{ApiError, ApiJson, AppState, RawBody};
use crate::ErrorBody;
use crate::live::{Customer, Intake};
use crate::model::events::EventIn;
use crate::model::outbox::FeedItem;
use crate::model::triggers::Triggers;
use crate::registry::{DeadLetter, Erasure, Page, RegistryError};

/// Takes a brand's events in: each folded into its customer's kept profile
/// once, however often it is sent (by `event_id`). The body is one event,
/// a JSON array of events, or NDJSON (`Content-Type: application/x-ndjson`,
/// an event per line). Every event is checked before anything is stored: a
/// refusal names each bad event (`events[3]`, `line 4`) and its field.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/events", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(description = "An event, a JSON array of events, or NDJSON (an event per line)", content(
        (EventsBody = "application/json"),
        (String = "application/x-ndjson"))),
    responses((status = 200, body = Intake), (status = 400, description = "Refused events, each named", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn take_events(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<Intake>, ApiError> {
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    let (events, place) = if ndjson { lines(&body)? } else { document(&body)? };
    Ok(Json(state.live.take_events(&tenant, events, &place).await?))
}

/// An events request's JSON body: one event or an array of them, for the
/// OpenAPI document.
pub struct EventsBody;

impl utoipa::PartialSchema for EventsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema};
        use utoipa::openapi::{Ref, RefOr};
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(Ref::from_schema_name("EventIn"))
                .item(ArrayBuilder::new().items(Ref::from_schema_name("EventIn")))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for EventsBody {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((EventIn::name().into(), <EventIn as utoipa::PartialSchema>::schema()));
        EventIn::schemas(schemas);
    }
}

/// How a request names its `i`th event in a refusal.
type Place = Box<dyn Fn(usize) -> String + Send + Sync>;

/// The events of a JSON body: one object, or an array of them.
fn document(body: &[u8]) -> Result<(Vec<EventIn>, Place), ApiError> {
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if array {
        let events = crate::model::parse_json::<Vec<EventIn>>(body).map_err(|e| super::invalid_json(&e))?;
        Ok((events, Box::new(|i| format!("events[{i}]"))))
    } else {
        let event = crate::model::parse_json::<EventIn>(body).map_err(|e| super::invalid_json(&e))?;
        Ok((vec![event], Box::new(|_| "the event".to_owned())))
    }
}

/// The events of an NDJSON body, blank lines skipped; every line that is
/// not an event is named in the refusal.
fn lines(body: &[u8]) -> Result<(Vec<EventIn>, Place), ApiError> {
    let mut events = Vec::new();
    let mut numbers = Vec::new();
    let mut refusals = Vec::new();
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match crate::model::parse_json::<EventIn>(line) {
            Ok(event) => {
                events.push(event);
                numbers.push(n + 1);
            }
            Err(e) => refusals.push(format!("line {}{e}", n + 1)),
        }
    }
    if !refusals.is_empty() {
        const SHOWN: usize = 10;
        let more = refusals.len().saturating_sub(SHOWN);
        refusals.truncate(SHOWN);
        let mut message = format!(
            "lines that are not events, and nothing was stored: {}",
            refusals.join("; ")
        );
        if more > 0 {
            message.push_str(&format!("; and {more} more"));
        }
        return Err(ApiError::from(RegistryError::Invalid(message)));
    }
    Ok((events, Box::new(move |i| format!("line {}", numbers[i]))))
}

/// A customer as the host keeps it, by any of its ids: the profile plugins
/// see, the ids linked to it, its stage history, its newest decisions and
/// touches.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/{id}", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Any id of the customer")),
    responses((status = 200, body = Customer), (status = 404, description = "No profile is kept of the customer", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_customer(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<Customer>, ApiError> {
    Ok(Json(state.live.customer(&tenant, &id).await?))
}

/// Erases a customer, by any of its ids (PIPL, GDPR): its kept profile,
/// taken events and linked ids are removed; its touches in the contact
/// ledger and its logged decisions keep only a random pseudonym (they
/// still count, but say nothing of the customer). Recorded in the audit
/// log under the pseudonym.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/customers/{id}", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Any id of the customer")),
    responses((status = 200, body = Erasure), (status = 404, description = "Nothing is kept of the customer", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn erase_customer(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<Erasure>, ApiError> {
    Ok(Json(state.live.erase_customer(&auth.0, &tenant, &id).await?))
}

/// The tenant's triggers: the events that start a decision once they are
/// taken in.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/triggers", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Triggers>)), security(("bearer" = [])))]
pub(super) async fn get_triggers(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Versioned<Triggers>>, ApiError> {
    let snapshot = state.live.snapshot(&tenant)?;
    Ok(Json(Versioned {
        version: snapshot.triggers_version,
        body: (*snapshot.triggers).clone(),
    }))
}

/// Replaces the tenant's triggers (recorded in the audit log). A decision
/// a trigger starts runs on the customer's kept profile with the event as
/// its trigger, live, committing under the contact policy. A malformed
/// document is refused with the field named.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/triggers", tag = "events", request_body = Triggers,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Triggers>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_triggers(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    ApiJson(triggers): ApiJson<Triggers>,
) -> Result<Json<Versioned<Triggers>>, ApiError> {
    let version = state.live.put_triggers(&auth.0, &tenant, triggers.clone()).await?;
    Ok(Json(Versioned {
        version,
        body: triggers,
    }))
}

/// Where to read the feed from.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next` cursor of the previous read (absent: from the start of
    /// what the outbox keeps).
    #[param(pattern = "^[0-9]{0,18}$")]
    after: Option<String>,
    /// Deliveries per read, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Seconds to wait for a delivery when there is none yet, from 0 to the
    /// server's `feed_max_wait_s` (default 0: answer at once).
    #[param(minimum = 0)]
    wait: Option<u32>,
}

/// The touches live decisions committed, in the order they reached the
/// outbox, after a cursor: the pull feed for senders without NATS. Each
/// carries a stable `touch_id`; read again from the last `next` after a
/// failure and drop the ids already sent (delivery is at least once).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/touches", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id"), FeedQuery),
    responses((status = 200, body = Page<FeedItem>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn feed(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    Query(query): Query<FeedQuery>,
) -> Result<Json<Page<FeedItem>>, ApiError> {
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(cursor) => cursor.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            ApiError::from(RegistryError::Invalid(format!(
                "after {cursor:?} is not a cursor of this feed"
            )))
        })?,
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(RegistryError::Invalid(format!("limit is {limit}; it must be from 1 to 500")).into());
    }
    let wait = query.wait.unwrap_or(0);
    let most = state.limits.feed_max_wait_s;
    if wait > most {
        return Err(RegistryError::Invalid(format!("wait is {wait}; it must be from 0 to {most} seconds")).into());
    }
    let page = state
        .live
        .feed(&tenant, after, limit as usize, Duration::from_secs(u64::from(wait)))
        .await?;
    Ok(Json(page))
}

/// A tenant's dead letters: messages of the event stream that could never
/// be taken in (not JSON, no event id, a refused field…), each acked and
/// published to `rulehost.dead.<tenant>` with its reason.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeadLetters {
    /// How many are kept (the last 7 days).
    pub count: u64,
    /// The newest, newest first (at most 20).
    pub items: Vec<DeadLetter>,
}

/// The tenant's dead letters from the event stream: how many, and the
/// newest with their reasons.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/dead-letters", tag = "events",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = DeadLetters)), security(("bearer" = [])))]
pub(super) async fn dead_letters(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<DeadLetters>, ApiError> {
    let (count, items) = state.live.dead_letters(&tenant).await?;
    Ok(Json(DeadLetters { count, items }))
}
