//! The brand's events and the customers the host keeps from them: taking
//! events in, a customer's page, and erasure.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};

use super::auth::Auth;
use super::{ApiError, AppState, RawBody};
use crate::ErrorBody;
use crate::live::{Customer, Intake};
use crate::model::events::EventIn;
use crate::registry::{Erasure, RegistryError};

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
