//! Operator endpoints: tenants, their limits and their keys.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Auth, OperatorAuth};
use super::{ApiError, ApiJson, AppState};
use crate::ErrorBody;
use crate::live::Caller;
use crate::registry::{ApiKey, Page, PageRequest, Tenant, TenantChange, TenantLimits};

/// Which page of a list to read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` cursor of the previous page (empty or absent: the first
    /// page).
    after: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

impl PageQuery {
    /// The page asked for (see [`page_request`]).
    pub(super) fn page(self) -> Result<PageRequest, ApiError> {
        page_request(self.after, self.limit)
    }
}

/// A page: an empty cursor is the first page; a `limit` outside 1–500 is
/// refused.
pub(super) fn page_request(after: Option<String>, limit: Option<u32>) -> Result<PageRequest, ApiError> {
    if let Some(limit) = limit.filter(|l| !(1..=500).contains(l)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("limit is {limit}; it must be from 1 to 500"),
        ));
    }
    Ok(PageRequest {
        after: after.filter(|a| !a.is_empty()),
        limit,
    })
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1–64 characters of a-z, 0-9 and '-', not starting with '-'.
    #[schema(schema_with = crate::model::schema::id)]
    id: String,
    /// A display name (default: the id).
    #[serde(default)]
    name: Option<String>,
    /// The brand's UTC offset in minutes, within ±1080 (default 0).
    #[serde(default, deserialize_with = "crate::model::whole::number")]
    #[schema(schema_with = crate::model::schema::tz_offset)]
    tz_offset_minutes: i32,
    /// Limits (default: the server's tenant defaults).
    #[serde(default)]
    limits: Option<TenantLimits>,
}

/// A key to issue.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for.
    #[serde(default)]
    label: String,
}

/// A freshly issued key: the only time its secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedKey {
    /// The key's record.
    #[serde(flatten)]
    pub record: ApiKey,
    /// The key to send as `Authorization: Bearer <key>`.
    pub key: String,
}

/// Who a token is: what the console asks at sign-in, since a tenant key
/// does not spell its tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Me {
    /// The operator token.
    Operator,
    /// A key of `tenant`.
    Tenant {
        /// The tenant the key acts for.
        tenant: String,
        /// The key's id.
        key: String,
    },
}

/// Who the caller is: the operator, or which tenant's key.
#[utoipa::path(get, path = "/v1/me", tag = "operator",
    responses((status = 200, body = Me)), security(("bearer" = [])))]
pub(super) async fn me(auth: Auth) -> Json<Me> {
    Json(match auth.0 {
        Caller::Operator => Me::Operator,
        Caller::Tenant { tenant, key } => Me::Tenant { tenant, key },
    })
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "operator", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["operator"])))]
pub(super) async fn create_tenant(
    State(state): State<AppState>,
    auth: OperatorAuth,
    ApiJson(new): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    let tenant = Tenant {
        name: new.name.unwrap_or_else(|| new.id.clone()),
        id: new.id,
        tz_offset_minutes: new.tz_offset_minutes,
        disabled: false,
        limits: TenantLimits::default(),
        created_at: crate::model::Timestamp(0),
    };
    let created = state.live.create_tenant(&auth.0, tenant, new.limits).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists tenants, by id.
#[utoipa::path(get, path = "/v1/tenants", tag = "operator", params(PageQuery),
    responses((status = 200, body = Page<Tenant>)), security(("bearer" = ["operator"])))]
pub(super) async fn list_tenants(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Tenant>>, ApiError> {
    Ok(Json(state.live.tenants(page.page()?).await?))
}

/// One tenant (the operator, or the tenant's own key).
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "operator",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_tenant(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(state.live.tenant(&tenant).await?))
}

/// Changes a tenant: name, time zone, limits, or disabled.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", tag = "operator", request_body = TenantChange,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = ["operator"])))]
pub(super) async fn update_tenant(
    State(state): State<AppState>,
    auth: OperatorAuth,
    Path(tenant): Path<String>,
    ApiJson(change): ApiJson<TenantChange>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(state.live.update_tenant(&auth.0, &tenant, change).await?))
}

/// Issues a key for a tenant. The response is the only time the key is shown;
/// only its hash is stored.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/keys", tag = "operator", request_body = NewKey,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 201, body = IssuedKey), (status = 404, body = ErrorBody)), security(("bearer" = ["operator"])))]
pub(super) async fn create_key(
    State(state): State<AppState>,
    auth: OperatorAuth,
    Path(tenant): Path<String>,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let (record, key) = state.live.create_key(&auth.0, &tenant, new.label).await?;
    Ok((StatusCode::CREATED, Json(IssuedKey { record, key })))
}

/// Lists a tenant's keys (without secrets).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/keys", tag = "operator",
    params(("tenant" = String, Path, description = "Tenant id"), PageQuery),
    responses((status = 200, body = Page<ApiKey>), (status = 404, body = ErrorBody)), security(("bearer" = ["operator"])))]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(tenant): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    Ok(Json(state.live.keys(&tenant, page.page()?).await?))
}

/// Revokes a key; it stops working at once.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/keys/{key}", tag = "operator",
    params(("tenant" = String, Path, description = "Tenant id"), ("key" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = ["operator"])))]
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    auth: OperatorAuth,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.live.revoke_key(&auth.0, &tenant, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
