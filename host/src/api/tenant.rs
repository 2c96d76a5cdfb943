//! Tenant endpoints: plugin versions, the pipeline, config, offers and the
//! audit log. A tenant key reaches only its own tenant.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::operator::{PageQuery, page_request};
use super::{ApiError, ApiJson, AppState};
use crate::ErrorBody;
use crate::model::{Offer, TenantConfig};
use crate::registry::{AuditEntry, Candidate, Page, PluginVersion, Slot};

/// Name and version for an upload (default: what the component records).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The plugin's name in this tenant.
    #[param(schema_with = crate::model::schema::id)]
    name: Option<String>,
    /// The version.
    #[param(schema_with = crate::model::schema::version)]
    version: Option<String>,
}

/// Uploads a plugin version: the raw `.wasm` component as the body. It is
/// validated (a component, a supported contract, links against the host,
/// within the size limit, compiles within the time limit) before anything
/// is stored; identical bytes are stored once. A new version is then
/// checked, as `rulehost check` would check it, on a small sample: `fits`
/// in the answer says whether it fits the tenant's limits, and
/// `…/{name}/{version}/check` keeps the report.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), UploadQuery),
    request_body(description = "The component's bytes (any content type is read as the bytes)",
        content((String = "application/wasm"), (String = "application/octet-stream"))),
    responses(
        (status = 201, description = "Stored", body = PluginVersion),
        (status = 200, description = "The same bytes were already stored under this name and version", body = PluginVersion),
        (status = 400, description = "Not a component (see `reason`)", body = ErrorBody),
        (status = 409, description = "The name and version exist with other bytes", body = ErrorBody),
        (status = 413, description = "Over the tenant's size limit", body = ErrorBody),
        (status = 422, description = "A component this host cannot run (see `reason`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn upload_plugin(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    let limit = state.live.snapshot(&tenant)?.tenant.limits.max_plugin_bytes;
    let too_large = |size: String| {
        ApiError::from(crate::Error::InvalidPlugin {
            defect: crate::Defect::TooLarge,
            message: format!("the plugin is {size} bytes; the tenant's limit is {limit} bytes"),
        })
    };
    // Refuse by the declared length before reading anything.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > limit) {
        return Err(too_large(length.to_string()));
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit_usize)
        .await
        .map_err(|_| too_large(format!("more than {limit}")))?;
    let (record, created) = state
        .live
        .upload(&auth.0, &tenant, query.name, query.version, bytes.to_vec())
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(record)))
}

/// Lists the tenant's plugin versions, by name and version.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), PageQuery),
    responses((status = 200, body = Page<PluginVersion>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_plugins(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<PluginVersion>>, ApiError> {
    Ok(Json(state.live.versions(&tenant, page.page()?).await?))
}

/// One plugin version.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{name}/{version}", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Plugin name"),
           ("version" = String, Path, description = "Version")),
    responses((status = 200, body = PluginVersion), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_plugin(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    Ok(Json(state.live.version(&tenant, &name, &version).await?))
}

/// The component of one plugin version, as uploaded (checked against its
/// sha256 before it is sent). `rulehost simulate --tenant` uses it to run
/// the tenant's active pipeline locally.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{name}/{version}/component", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Plugin name"),
           ("version" = String, Path, description = "Version")),
    responses((status = 200, description = "The component", content_type = "application/wasm", body = Vec<u8>),
              (status = 404, body = ErrorBody), (status = 500, description = "The stored bytes fail their check", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_component(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<([(header::HeaderName, &'static str); 1], Vec<u8>), ApiError> {
    let bytes = state.live.component(&tenant, &name, &version).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes))
}

/// The report of the check run at the version's upload (`rulehost check`
/// over the edge shapes and a small generated sample, under the tenant's
/// config, offers and limits): fuel, time and memory per decision against
/// the limits, the failures by kind, nondeterministic inputs, and whether
/// it fits.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{name}/{version}/check", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Plugin name"),
           ("version" = String, Path, description = "Version")),
    responses((status = 200, body = rulehost_check::Report),
              (status = 404, description = "No such version, or it was not checked", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn get_plugin_check(
    State(state): State<AppState>,
    _: Auth,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Json<rulehost_check::Report>, ApiError> {
    Ok(Json(state.live.check_report(&tenant, &name, &version).await?))
}

/// Deletes a plugin version that no slot runs.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/plugins/{name}/{version}", tag = "plugins",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Plugin name"),
           ("version" = String, Path, description = "Version")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "Active in a slot", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn delete_plugin(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state.live.delete_version(&auth.0, &tenant, &name, &version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A pipeline: its slots in order, and the candidates attached to them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Pipeline {
    /// The slots, each with its active and previous version.
    pub slots: Vec<Slot>,
    /// The canaries attached, one per slot at most (their figures:
    /// `GET …/pipeline/{slot}/canary`).
    #[serde(default)]
    pub canaries: Vec<Candidate>,
    /// The shadows attached, one per slot at most (their reports:
    /// `GET …/pipeline/{slot}/shadow`).
    #[serde(default)]
    pub shadows: Vec<Candidate>,
}

impl Pipeline {
    /// `slots` with the tenant's attached candidates.
    pub(super) async fn of(state: &AppState, tenant: &str, slots: Vec<Slot>) -> Result<Self, ApiError> {
        let (canaries, shadows) = state.live.candidates(tenant).await?;
        Ok(Self {
            slots,
            canaries,
            shadows,
        })
    }
}

/// The slots a pipeline should have, in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSlots {
    /// Slot names (1–64 characters of a-z, 0-9 and '-'); at most 16, each
    /// once.
    #[schema(schema_with = crate::model::schema::slots)]
    slots: Vec<String>,
}

/// The version to activate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// The plugin's name.
    #[schema(schema_with = crate::model::schema::id)]
    name: String,
    /// The version.
    #[schema(schema_with = crate::model::schema::version)]
    version: String,
}

/// The tenant's pipeline.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipeline", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Pipeline), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn get_pipeline(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state.live.pipeline(&tenant).await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}

/// Sets the pipeline's ordered slots. Slots that stay keep their versions.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/pipeline", tag = "pipeline", request_body = PipelineSlots,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Pipeline), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn set_pipeline(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PipelineSlots>,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state.live.set_pipeline(&auth.0, &tenant, body.slots).await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}

/// Activates a version in a slot: the next decision runs it; decisions in
/// flight finish on the version they started with. With
/// `check_refuses_activation`, a version whose check at upload failed is
/// refused (409).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipeline/{slot}/activate", tag = "pipeline", request_body = Activation,
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Pipeline), (status = 404, body = ErrorBody),
              (status = 409, description = "The version failed its check at upload, and this server refuses it", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn activate(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): Path<(String, String)>,
    ApiJson(body): ApiJson<Activation>,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state
        .live
        .activate(&auth.0, &tenant, &slot, &body.name, &body.version)
        .await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}

/// Returns a slot to the version it ran before.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipeline/{slot}/rollback", tag = "pipeline",
    params(("tenant" = String, Path, description = "Tenant id"), ("slot" = String, Path, description = "Slot")),
    responses((status = 200, body = Pipeline), (status = 409, description = "No previous version", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn rollback(
    State(state): State<AppState>,
    auth: Auth,
    Path((tenant, slot)): Path<(String, String)>,
) -> Result<Json<Pipeline>, ApiError> {
    let slots = state.live.rollback(&auth.0, &tenant, &slot).await?;
    Ok(Json(Pipeline::of(&state, &tenant, slots).await?))
}

/// A versioned document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Versioned<T> {
    /// Increases with every replacement; 0 if never set.
    pub version: i64,
    /// The document.
    pub body: T,
}

/// The tenant's config: the key-values plugins read.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/config", tag = "config",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<TenantConfig>)), security(("bearer" = [])))]
pub(super) async fn get_config(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Versioned<TenantConfig>>, ApiError> {
    let snapshot = state.live.snapshot(&tenant)?;
    Ok(Json(Versioned {
        version: snapshot.config_version,
        body: (*snapshot.config).clone(),
    }))
}

/// Replaces the tenant's config (recorded in the audit log).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/config", tag = "config", request_body = TenantConfig,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<TenantConfig>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_config(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    ApiJson(config): ApiJson<TenantConfig>,
) -> Result<Json<Versioned<TenantConfig>>, ApiError> {
    let version = state.live.put_config(&auth.0, &tenant, config.clone()).await?;
    Ok(Json(Versioned { version, body: config }))
}

/// The tenant's offer catalog.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/offers", tag = "config",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Vec<Offer>>)), security(("bearer" = [])))]
pub(super) async fn get_offers(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
) -> Result<Json<Versioned<Vec<Offer>>>, ApiError> {
    let snapshot = state.live.snapshot(&tenant)?;
    Ok(Json(Versioned {
        version: snapshot.offers_version,
        body: snapshot.offers.to_vec(),
    }))
}

/// Replaces the tenant's offer catalog (recorded in the audit log).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/offers", tag = "config", request_body = Vec<Offer>,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Versioned<Vec<Offer>>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_offers(
    State(state): State<AppState>,
    auth: Auth,
    Path(tenant): Path<String>,
    ApiJson(offers): ApiJson<Vec<Offer>>,
) -> Result<Json<Versioned<Vec<Offer>>>, ApiError> {
    let version = state.live.put_offers(&auth.0, &tenant, offers.clone()).await?;
    Ok(Json(Versioned { version, body: offers }))
}

/// The tenant's audit log: every change, who made it and when, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit", tag = "config",
    params(("tenant" = String, Path, description = "Tenant id"), AuditQuery),
    responses((status = 200, body = Page<AuditEntry>)), security(("bearer" = [])))]
pub(super) async fn audit(
    State(state): State<AppState>,
    _: Auth,
    Path(tenant): Path<String>,
    Query(page): Query<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let page = page_request(page.after, page.limit)?;
    Ok(Json(state.live.audit(&tenant, page).await?))
}

/// Which page of the audit log to read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The `next` cursor of the previous page: an audit entry's id (empty
    /// or absent: the first page).
    #[param(pattern = "^[0-9]{0,18}$")]
    after: Option<String>,
    /// Items per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}
