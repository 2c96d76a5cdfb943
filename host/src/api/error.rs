//! The API's one error type: every failure becomes
//! `{"error": {"code", "reason"?, "message"}}` with the right status.
//! Internal details are logged, not sent.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::live::LiveError;
use crate::registry::RegistryError;
use crate::{Error, ErrorBody, ErrorDetail};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    reason: Option<&'static str>,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: None,
            message: message.into(),
            retry_after: None,
        }
    }

    fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 401 with reason `missing_credentials`: no `Authorization: Bearer` header.
    pub fn missing_credentials() -> Self {
        Self {
            reason: Some("missing_credentials"),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "an `Authorization: Bearer <key>` header is required",
            )
        }
    }

    /// 401 with reason `invalid_credentials`: a bearer token that is no key
    /// (unknown, malformed or revoked: which one is not said).
    pub fn invalid_credentials() -> Self {
        Self {
            reason: Some("invalid_credentials"),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the bearer token is not a valid key (unknown, malformed or revoked)",
            )
        }
    }

    /// 403: the credential may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such tenant (also what another tenant's resources look like).
    pub fn no_tenant(tenant: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no tenant {tenant:?}"))
    }

    /// 500 with the detail logged and a bland message sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", m),
            RegistryError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            RegistryError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            RegistryError::Storage(m) => Self::internal(format!("storage: {m}")),
            RegistryError::Corrupt(m) => {
                tracing::error!(error = %m, "refused corrupt stored data");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage_corrupt", m)
            }
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidPlugin { defect, .. } => {
                StatusCode::from_u16(defect.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Error::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Error::PluginTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::PluginOutOfFuel { .. }
            | Error::PluginOutOfMemory { .. }
            | Error::PluginTrap { .. }
            | Error::PluginInvalidOutput { .. }
            | Error::PluginError { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::HostBusy(_) => {
                return Self::new(StatusCode::SERVICE_UNAVAILABLE, "host_busy", e.to_string()).retry_after(1);
            }
            Error::Internal(_) => return Self::internal(e),
        };
        Self {
            status,
            code: e.code(),
            reason: e.reason(),
            message: e.to_string(),
            retry_after: None,
        }
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Registry(e) => e.into(),
            LiveError::Engine(e) => e.into(),
            LiveError::Busy(..) | LiveError::Simulating => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", e.to_string()).retry_after(1)
            }
            LiveError::Disabled(_) => Self::new(StatusCode::FORBIDDEN, "tenant_disabled", e.to_string()),
            LiveError::NoPipeline(_) => Self::new(StatusCode::CONFLICT, "no_pipeline", e.to_string()),
            LiveError::Unavailable(..) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "tenant_unavailable", e.to_string())
            }
            LiveError::NotReady(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()).retry_after(1)
            }
            LiveError::Internal(m) => Self::internal(m),
        }
    }
}

impl ApiError {
    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                reason: self.reason.map(str::to_owned),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A request body's bytes, whose rejections are API errors (a body over
/// the limit, a body cut off).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", "the request body is larger than the limit")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", rejection.body_text())
            }
        })
    }
}

/// A JSON document that is not what the route takes, as the API answers
/// it: `invalid_json`, naming the path of what is wrong.
pub fn invalid_json(e: &crate::model::JsonError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("request body{e}"))
}

/// A JSON body whose rejections are API errors naming what is wrong
/// (unknown fields, the path of a bad value, a body over the limit). Any
/// content type is read as JSON, so `curl --data @file.json` just works.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        crate::model::parse_json(&bytes)
            .map(ApiJson)
            .map_err(|e| invalid_json(&e))
    }
}
