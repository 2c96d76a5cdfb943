//! Candidate versions over the API: shadow runs (attach, report, promote,
//! detach) and canary rollouts (attach or widen, counts, promote, roll
//! back).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::tenant::Pipeline;
use super::{ApiError, ApiJson, AppState};
use crate::ErrorBody;
use crate::canary::CanaryStatus;
use crate::registry::{Candidate, Role};
use crate::shadow::ShadowStatus;

/// The candidate to run in shadow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ShadowRequest {
    /// The plugin (the one the slot runs).
    #[schema(schema_with = crate::model::schema::id)]
    name: String,
    /// The candidate version (uploaded, not active in the slot).
    #[schema(schema_with = crate::model::schema::version)]
    version: String,
    /// The share of customers whose live decisions also run the candidate,
    /// more than 0 and at most 100 (default 10: a tenth costs the live
    /// answers nothing measurable; every customer leaves the median alone
    /// but raises the p99 by a third to a half on two cores; see
    /// BENCHMARKS.md, section 7).
    #[serde(default = "a_tenth")]
    #[schema(schema_with = crate::model::schema::share)]
    sample_percent: f64,
}

fn a_tenth() -> f64 {
    10.0
}

/// The candidate to roll out to a share of customers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CanaryRequest {
    /// The plugin (the one the slot runs).
    #[schema(schema_with = crate::model::schema::id)]
    name: String,
    /// The candidate version (uploaded, not active in the slot).
    #[schema(schema_with = crate::model::schema::version)]
    version: String,
    /// The share of customers it answers for, more than 0 and at most 100.
    #[schema(schema_with = crate::model::schema::share)]
    percent: f64,
}

/// Path parameters of a slot.
type SlotPath = Path<(String, String)>;

/// Attaches a candidate version to a slot in shadow mode: live decisions of
/// the sampled customers (a stable hash of the customer id) also run the
/// candidate, off the response path, and the differences build the shadow
/// report. Another version replaces the slot's shadow and its report; the
/// same version again changes only the share.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow", tag = "pipeline", request_body = ShadowRequest,
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Candidate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn set_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
    ApiJson(body): ApiJson<ShadowRequest>,
) -> Result<Json<Candidate>, ApiError> {
    let live = &state.live;
    Ok(Json(
        live.attach(
            &auth.0,
            &tenant,
            Role::Shadow,
            &slot,
            &body.name,
            &body.version,
            body.sample_percent,
        )
        .await?,
    ))
}

/// The slot's shadow: decisions sampled, compared, dropped (queue full) and
/// pending, and the report of the active version against the candidate
/// over the compared decisions (stages and transitions, tags, offers
/// selected after policy, errors, sample diffs with reasons).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = ShadowStatus), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_shadow(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<ShadowStatus>, ApiError> {
    Ok(Json(state.live.shadow_status(&tenant, &slot).await?))
}

/// Detaches the slot's shadow; its report is gone.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Candidate), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn delete_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<Candidate>, ApiError> {
    Ok(Json(state.live.detach(&auth.0, &tenant, Role::Shadow, &slot).await?))
}

/// Promotes the slot's shadow: it becomes the active version (the one it
/// replaces is the rollback) and is detached, in one change.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow/promote", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Pipeline), (status = 404, body = ErrorBody),
              (status = 409, description = "The version failed its check at upload, and this server refuses it", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn promote_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state.live.promote(&auth.0, &tenant, Role::Shadow, &slot).await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}

/// Rolls a candidate version out to a share of customers (a stable hash of
/// the customer id: a customer stays on one version). Called again with
/// the same version it widens (or narrows) the share: everyone already on
/// the canary stays there when it widens. Canary decisions are tagged in
/// the decision log and counted per version.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/pipeline/{slot}/canary", tag = "pipeline", request_body = CanaryRequest,
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Candidate), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn set_canary(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
    ApiJson(body): ApiJson<CanaryRequest>,
) -> Result<Json<Candidate>, ApiError> {
    let live = &state.live;
    Ok(Json(
        live.attach(
            &auth.0,
            &tenant,
            Role::Canary,
            &slot,
            &body.name,
            &body.version,
            body.percent,
        )
        .await?,
    ))
}

/// The slot's canary: its share, and decisions and errors per version
/// since it was attached.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipeline/{slot}/canary", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = CanaryStatus), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_canary(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<CanaryStatus>, ApiError> {
    Ok(Json(state.live.canary_status(&tenant, &slot).await?))
}

/// Rolls the canary back: every customer is answered by the active version
/// from the next decision.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/pipeline/{slot}/canary", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Candidate), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn delete_canary(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<Candidate>, ApiError> {
    Ok(Json(state.live.detach(&auth.0, &tenant, Role::Canary, &slot).await?))
}

/// Promotes the canary: it answers for everyone as the active version (the
/// one it replaces is the rollback), in one change.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipeline/{slot}/canary/promote", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Pipeline), (status = 404, body = ErrorBody),
              (status = 409, description = "The version failed its check at upload, and this server refuses it", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn promote_canary(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): SlotPath,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state.live.promote(&auth.0, &tenant, Role::Canary, &slot).await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}
