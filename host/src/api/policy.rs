//! The host's side of a decision: the contact policy, the contact ledger
//! and the decision log with its explanations.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::tenant::Versioned;
use super::{ApiError, ApiJson, AppState};
use crate::ErrorBody;
use crate::compare::Replay;
use crate::decision_log::LogRecord;
use crate::live::NewTouch;
use crate::model::{Event, Profile};
use crate::policy::Policy;
use crate::registry::{DecisionSummary, Page};

/// The tenant's contact policy.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/policy", tag = "policy",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Policy>)), security(("bearer" = [])))]
pub(super) async fn get_policy(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Versioned<Policy>>, ApiError> {
    let snapshot = state.live.snapshot(&tenant)?;
    Ok(Json(Versioned {
        version: snapshot.policy_version,
        body: (*snapshot.policy).clone(),
    }))
}

/// Replaces the tenant's contact policy: caps per channel, across channels
/// and per offer, quiet hours, holdout, fallback and consent (recorded in
/// the audit log). A malformed document is refused with the field named.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/policy", tag = "policy", request_body = Policy,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Policy>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_policy(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    ApiJson(policy): ApiJson<Policy>,
) -> Result<Json<Versioned<Policy>>, ApiError> {
    let version = state.live.put_policy(&auth.0, &tenant, policy.clone()).await?;
    Ok(Json(Versioned { version, body: policy }))
}

/// Deliveries to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Touches {
    /// The deliveries (at most 10,000 per request).
    #[schema(max_items = 10_000)]
    touches: Vec<NewTouch>,
}

/// What recording did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Recorded {
    /// Touches recorded now.
    pub recorded: usize,
    /// Touches whose id was recorded before (nothing changed).
    pub duplicates: usize,
}

/// Records deliveries in the contact ledger, so caps count them. Idempotent
/// by touch id.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/touches", tag = "policy", request_body = Touches,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Recorded), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn record_touches(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<Touches>,
) -> Result<Json<Recorded>, ApiError> {
    if body.touches.len() > 10_000 {
        return Err(crate::registry::RegistryError::Invalid(format!(
            "{} touches in one request; the limit is 10000",
            body.touches.len()
        ))
        .into());
    }
    let (recorded, duplicates) = state.live.record_touches(&tenant, body.touches).await?;
    Ok(Json(Recorded { recorded, duplicates }))
}

/// Which decisions to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// Only this customer's decisions.
    customer_id: Option<String>,
    /// The `next` cursor of the previous page (empty or absent: the first
    /// page).
    after: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Logged decisions, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/decisions", tag = "policy",
    params(("tenant" = String, Path, description = "Tenant id"), DecisionQuery),
    responses((status = 200, body = Page<DecisionSummary>)), security(("bearer" = [])))]
pub(super) async fn list_decisions(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    Query(query): Query<DecisionQuery>,
) -> Result<Json<Page<DecisionSummary>>, ApiError> {
    let page = super::operator::page_request(query.after, query.limit)?;
    Ok(Json(
        state.live.logged_decisions(&tenant, query.customer_id, page).await?,
    ))
}

/// One logged decision with its full explanation: the request's hash, the
/// plugin, config, offer and policy versions, which plugin produced each
/// tag, score, stage and proposal with its reason and rule, and why each
/// proposal was sent or dropped.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/decisions/{id}", tag = "policy",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Decision id")),
    responses((status = 200, body = LogRecord<Profile, Event>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_decision(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.live.logged_decision(&tenant, &id).await?))
}

/// What to replay a logged decision against: `{}` for the versions that
/// made it, or both `plugin` and `version`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    /// Run this plugin of the decision's pipeline in another version
    /// (with `version`); absent: the versions that made the decision.
    #[serde(default)]
    plugin: Option<String>,
    /// The other version of `plugin`.
    #[serde(default)]
    version: Option<String>,
}

impl utoipa::PartialSchema for ReplayRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let exact = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Against the versions that made the decision"))
            .property("plugin", null())
            .property("version", null())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let other = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("With one plugin of the decision's pipeline in another version"))
            .property("plugin", crate::model::schema::id())
            .property("version", crate::model::schema::version())
            .required("plugin")
            .required("version")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .item(exact)
            .item(other)
            .description(Some(
                "What to replay a logged decision against: `{}` for the versions that made it, or both `plugin` \
                 and `version`",
            ))
            .into()
    }
}

impl ToSchema for ReplayRequest {}

/// Runs a logged decision again — against the plugin, config, offer and
/// policy versions that made it, its request and what its policy read from
/// the contact ledger — and reports every difference. Against its own
/// versions a replay is exact (`identical`); with `plugin` and `version`
/// it shows what another version would have decided. Nothing is logged or
/// recorded. The body is a JSON object: `{}` for an exact replay.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/decisions/{id}/replay", tag = "policy",
    request_body = ReplayRequest,
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Decision id")),
    responses((status = 200, body = Replay), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn replay(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<Replay>, ApiError> {
    let against = match (request.plugin, request.version) {
        (None, None) => None,
        (Some(plugin), Some(version)) => Some((plugin, version)),
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_input",
                "give both `plugin` and `version` to replay against another version, or neither",
            ));
        }
    };
    Ok(Json(state.live.replay(&tenant, &id, against).await?))
}
