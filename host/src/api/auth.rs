//! Who is calling and whether they may: the operator token or a tenant
//! key, from `Authorization: Bearer …`.
//!
//! Both extractors run before the request body is read, so a caller who
//! may not use an endpoint learns nothing from how its body would have
//! been judged.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::live::{Caller, LiveError};

/// An authenticated caller allowed to act on the route's `{tenant}`, if
/// it has one: the operator, or a key of that tenant while the tenant is
/// enabled. A key of another tenant sees a 404, as if the tenant did not
/// exist.
pub struct Auth(pub Caller);

/// The operator; a tenant key gets a 403.
pub struct OperatorAuth(pub Caller);

fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::missing_credentials)?;
    match state.live.authenticate(token) {
        Some(caller) => Ok(caller),
        // Keys are loaded with the tenants: until then an unknown key may
        // be a valid one, so the answer is "not yet", not "no".
        None if !state.live.is_ready() => Err(state.live.not_ready().into()),
        None => Err(ApiError::invalid_credentials()),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(parts, state)?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))?;
        if let Some((_, tenant)) = params.iter().find(|(name, _)| *name == "tenant") {
            match &caller {
                // The operator sees every tenant that exists, and only those
                // (read from the registry: the server may still be loading).
                Caller::Operator => {
                    state.live.tenant(tenant).await?;
                }
                Caller::Tenant { tenant: own, .. } if own == tenant => {
                    if state.live.snapshot(tenant)?.tenant.disabled {
                        return Err(LiveError::Disabled(tenant.to_owned()).into());
                    }
                }
                Caller::Tenant { .. } => return Err(ApiError::no_tenant(tenant)),
            }
        }
        Ok(Auth(caller))
    }
}

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match authenticate(parts, state)? {
            Caller::Operator => Ok(OperatorAuth(Caller::Operator)),
            Caller::Tenant { .. } => Err(ApiError::forbidden("only the operator may do this")),
        }
    }
}
