//! Who is calling: the operator token or a tenant key, from
//! `Authorization: Bearer …`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::live::Caller;

/// An authenticated caller.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        state
            .live
            .authenticate(token)
            .map(Auth)
            .ok_or_else(ApiError::unauthorized)
    }
}

impl Auth {
    /// Only the operator may do this.
    pub fn operator(&self) -> Result<(), ApiError> {
        match self.0 {
            Caller::Operator => Ok(()),
            Caller::Tenant { .. } => Err(ApiError::forbidden("only the operator may do this")),
        }
    }

    /// The operator, or a key of `tenant` while the tenant is enabled. A
    /// key of another tenant sees a 404, as if the tenant did not exist.
    pub fn tenant(&self, state: &AppState, tenant: &str) -> Result<(), ApiError> {
        match &self.0 {
            Caller::Operator => Ok(()),
            Caller::Tenant { tenant: own, .. } if own == tenant => {
                let snapshot = state.live.snapshot(tenant)?;
                if snapshot.tenant.disabled {
                    return Err(crate::live::LiveError::Disabled(tenant.to_owned()).into());
                }
                Ok(())
            }
            Caller::Tenant { .. } => Err(ApiError::no_tenant(tenant)),
        }
    }
}
