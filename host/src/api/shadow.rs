//! Shadow runs over the API: attach a candidate to a slot, read its report,
//! promote or detach it.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::tenant::Pipeline;
use super::{ApiError, ApiJson, AppState};
use crate::ErrorBody;
use crate::registry::Shadow;
use crate::shadow::ShadowStatus;

/// The candidate to run in shadow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ShadowRequest {
    /// The plugin.
    name: String,
    /// The candidate version (uploaded, not active in the slot).
    version: String,
    /// The share of customers whose live decisions also run the candidate,
    /// more than 0 and at most 100 (default 100).
    #[serde(default = "all")]
    sample_percent: f64,
}

fn all() -> f64 {
    100.0
}

/// Attaches a candidate version to a slot in shadow mode: live decisions of
/// the sampled customers (a stable hash of the customer id) also run the
/// candidate, off the response path, and the differences build the shadow
/// report. Replaces the slot's previous shadow and its report.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow", tag = "pipeline", request_body = ShadowRequest,
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Shadow), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn set_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): Path<(String, String)>,
    ApiJson(body): ApiJson<ShadowRequest>,
) -> Result<Json<Shadow>, ApiError> {
    Ok(Json(
        state
            .live
            .set_shadow(&auth.0, &tenant, &slot, &body.name, &body.version, body.sample_percent)
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
    Path((tenant, slot)): Path<(String, String)>,
) -> Result<Json<ShadowStatus>, ApiError> {
    Ok(Json(state.live.shadow_status(&tenant, &slot).await?))
}

/// Detaches the slot's shadow; its report is gone.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Shadow), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn delete_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): Path<(String, String)>,
) -> Result<Json<Shadow>, ApiError> {
    Ok(Json(state.live.clear_shadow(&auth.0, &tenant, &slot).await?))
}

/// Promotes the slot's shadow: it becomes the active version (the one it
/// replaces is the rollback) and is detached, in one change.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipeline/{slot}/shadow/promote", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Pipeline), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn promote_shadow(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): Path<(String, String)>,
) -> Result<Json<Pipeline>, ApiError> {
    Ok(Json(Pipeline {
        slots: state.live.promote_shadow(&auth.0, &tenant, &slot).await?,
    }))
}
