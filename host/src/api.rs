//! The HTTP API: axum routes, authentication, errors and the OpenAPI
//! document, which is generated from the same handler annotations that
//! register the routes, so the two cannot drift apart.
//!
//! `app(state)` builds the whole service, so tests drive it with
//! `tower::ServiceExt::oneshot` or over a real socket.

mod auth;
mod candidates;
mod customers;
mod decide;
mod doc;
mod error;
mod operator;
mod policy;
mod simulate;
mod tenant;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiJson, RawBody, invalid_json};
pub use operator::IssuedKey;
pub use tenant::{Pipeline, Versioned};

use crate::live::Live;
use crate::registry::TenantLimits;
use doc::BearerAuth;

/// Bounds on request bodies.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// JSON bodies, in bytes.
    pub max_body_bytes: usize,
    /// One line of a batch, in bytes.
    pub batch_line_bytes: usize,
    /// The longest a read of the touches feed may wait, in seconds.
    pub feed_max_wait_s: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            batch_line_bytes: 1 << 20,
            feed_max_wait_s: 30,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The tenants' live state.
    pub live: Arc<Live>,
    /// Body bounds.
    pub limits: ApiLimits,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "rulehost", description = "Customer tagging, scoring and targeting rules as sandboxed WebAssembly plugins."),
    modifiers(&BearerAuth),
    // Reached only through hand-written schemas (`model::schema`).
    components(schemas(crate::model::PriorTag, crate::model::Event, crate::model::Offer, crate::model::triggers::EventTrigger)),
    tags(
        (name = "operator", description = "Tenants, limits and keys (operator token)"),
        (name = "plugins", description = "Plugin versions"),
        (name = "pipeline", description = "Which versions run, in which order"),
        (name = "config", description = "Tenant config, offer catalog and audit log"),
        (name = "decide", description = "Decisions"),
        (name = "events", description = "The brand's events, and the customers kept from them"),
        (name = "policy", description = "Contact policy, contact ledger and the decision log"),
        (name = "ops", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(operator::create_tenant, operator::list_tenants))
        .routes(routes!(operator::get_tenant, operator::update_tenant))
        .routes(routes!(operator::create_key, operator::list_keys))
        .routes(routes!(operator::revoke_key))
        .routes(routes!(operator::me))
        .routes(routes!(tenant::upload_plugin, tenant::list_plugins))
        .routes(routes!(tenant::get_plugin, tenant::delete_plugin))
        .routes(routes!(tenant::get_component))
        .routes(routes!(tenant::get_plugin_check))
        .routes(routes!(tenant::get_pipeline, tenant::set_pipeline))
        .routes(routes!(tenant::activate))
        .routes(routes!(tenant::rollback))
        .routes(routes!(
            candidates::set_shadow,
            candidates::get_shadow,
            candidates::delete_shadow
        ))
        .routes(routes!(candidates::promote_shadow))
        .routes(routes!(
            candidates::set_canary,
            candidates::get_canary,
            candidates::delete_canary
        ))
        .routes(routes!(candidates::promote_canary))
        .routes(routes!(tenant::get_config, tenant::put_config))
        .routes(routes!(tenant::get_offers, tenant::put_offers))
        .routes(routes!(tenant::audit))
        .routes(routes!(policy::get_policy, policy::put_policy))
        .routes(routes!(policy::record_touches, customers::feed))
        .routes(routes!(customers::get_triggers, customers::put_triggers))
        .routes(routes!(customers::dead_letters))
        .routes(routes!(policy::list_decisions))
        .routes(routes!(policy::get_decision))
        .routes(routes!(policy::replay))
        .routes(routes!(customers::take_events))
        .routes(routes!(customers::get_customer, customers::erase_customer))
        .routes(routes!(decide::decide))
        .routes(routes!(decide::decide_batch))
        .routes(routes!(simulate::simulate))
        .routes(routes!(simulate::list_profile_sets))
        .routes(routes!(simulate::put_profile_set, simulate::delete_profile_set))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The OpenAPI document of every route, for a server that grants tenants
/// at most `max_limits`.
pub fn openapi(max_limits: TenantLimits, feed_max_wait_s: u32) -> utoipa::openapi::OpenApi {
    document(routes().split_for_parts().1, max_limits, feed_max_wait_s)
}

fn document(
    mut doc: utoipa::openapi::OpenApi,
    max_limits: TenantLimits,
    feed_max_wait_s: u32,
) -> utoipa::openapi::OpenApi {
    use utoipa::Modify;
    doc::Refusals.modify(&mut doc);
    doc::ServerLimits(max_limits).modify(&mut doc);
    doc::FeedWait(feed_max_wait_s).modify(&mut doc);
    doc::NoNul.modify(&mut doc);
    doc
}

/// Random request ids, so log lines of one request can be found together.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).ok()?;
        HeaderValue::from_str(&hex::encode(bytes)).ok().map(RequestId::new)
    }
}

/// The whole service.
pub fn app(state: AppState) -> Router {
    let (router, doc) = routes().split_for_parts();
    let doc = Arc::new(document(
        doc,
        state.live.settings().max_limits,
        state.limits.feed_max_wait_s,
    ));
    let max_body = state.limits.max_body_bytes;
    // A refused body is read to its end up to the largest body any route
    // takes: a plugin upload's.
    let drain = max_body.max(state.live.settings().max_limits.max_plugin_bytes as usize);
    let router = router
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .merge(crate::console::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    layered(router, max_body, drain)
}

/// The layers every request goes through: request ids, tracing, panics
/// turned into 500s, and the body limit.
fn layered(router: Router, max_body: usize, drain: usize) -> Router {
    router
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn(refuse_nul_in_url))
        .layer(axum::middleware::from_fn(move |request, next| {
            close_if_body_unread(drain, request, next)
        }))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        // A 5xx answer is not by itself a server error worth an ERROR line:
        // a readiness probe answered 503 while the server starts, `host_busy`
        // or a plugin's timeout are normal answers. What is an error in the
        // server (500: a storage failure, a bug, corrupt data) is logged at
        // error level, with its cause, where it happens.
        .on_failure(|class: ServerErrorsFailureClass, latency: std::time::Duration, _: &tracing::Span| {
            tracing::debug!(%class, latency_ms = latency.as_millis() as u64, "answered with a 5xx status");
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
}

/// A URL with a NUL character (`%00`) in its path or query is refused
/// before anything reads it: no text rulehost keeps may hold one (as in a
/// JSON body, see `model::parse_json`).
async fn refuse_nul_in_url(request: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    let uri = request.uri();
    let has_nul = |part: &str| part.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"));
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "the URL contains a NUL character (%00), which rulehost does not keep in text",
        )
        .into_response();
    }
    next.run(request).await
}

/// How long a refusal waits for the rest of a body nobody will read.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A refusal given before the request's body was read (credentials and
/// the media type are checked first) reads and drops the rest of the body
/// before it answers, up to `drain` bytes (the largest body a route takes)
/// and for at most [`DRAIN_FOR`]:
/// a client that writes its whole body before it reads the answer (most
/// do, an upload of a plugin among them) then gets the refusal instead of
/// a broken pipe, and the connection can go on. A body past the limit, or
/// one that does not arrive in time, is left: the answer says
/// `Connection: close` and the server closes the connection (without the
/// header a client would put it back in its pool and its next request on
/// it would fail).
async fn close_if_body_unread(
    drain: usize,
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    use http_body::Body as _;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let slot = Arc::new(std::sync::Mutex::new(ReadToEnd {
        inner: Some(body),
        read: false,
    }));
    let shared = axum::body::Body::new(SharedBody(slot.clone()));
    let mut response = next.run(Request::from_parts(parts, shared)).await;
    let refused = response.status().is_client_error() || response.status().is_server_error();
    if !refused {
        // A handler may still be reading (a batch streams its answer as
        // its lines arrive): the body stays where it is.
        return response;
    }
    let rest = {
        let mut body = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if body.read { None } else { body.inner.take() }
    };
    if let Some(rest) = rest {
        let drained = tokio::time::timeout(DRAIN_FOR, axum::body::to_bytes(rest, drain)).await;
        if !matches!(drained, Ok(Ok(_))) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// A request's body, and whether it was read to its end.
struct ReadToEnd {
    inner: Option<axum::body::Body>,
    read: bool,
}

/// The body a handler reads, shared with the middleware that takes back
/// what the handler left unread.
struct SharedBody(Arc<std::sync::Mutex<ReadToEnd>>);

impl http_body::Body for SharedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut body = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(inner) = body.inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let polled = std::pin::Pin::new(inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) {
            body.read = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let body = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        body.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let body = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        body.inner.as_ref().map(http_body::Body::size_hint).unwrap_or_default()
    }
}

/// Makes every error answer the API's JSON error: rejections that axum
/// answers itself in plain text (a query string or path that does not
/// parse, a method a route does not have) get a code for their status and
/// their text as the message.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_client_error() => "invalid_request",
        _ => "internal",
    };
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    ApiError::new(status, code, message).into_response()
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_panic",
        "the server hit a bug handling this request; the server log has the details",
    )
    .into_response()
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: every active plugin is loaded.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = String), (status = 503, body = crate::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if state.live.is_ready() {
        Ok("ready")
    } else {
        Err(state.live.not_ready().into())
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(state): State<AppState>) -> Response {
    state.live.compiled_in_memory();
    state.live.refresh_load();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.live.metrics().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_refusal_that_left_the_body_unread_closes_the_connection() {
        async fn refuse() -> ApiError {
            ApiError::missing_credentials()
        }
        async fn read_then_refuse(body: axum::body::Bytes) -> ApiError {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("{} bytes", body.len()))
        }
        let router = layered(
            Router::new()
                .route("/refuse", axum::routing::post(refuse))
                .route("/read", axum::routing::post(read_then_refuse)),
            1024,
            1024,
        );
        let send = |path: &str, body: axum::body::Body| {
            router
                .clone()
                .oneshot(Request::builder().method("POST").uri(path).body(body).unwrap())
        };
        let closes = |response: &Response| {
            response
                .headers()
                .get(header::CONNECTION)
                .map(|v| v.as_bytes().to_vec())
        };
        let large = || axum::body::Body::from("x".repeat(1025));
        let refused = send("/refuse", large()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(closes(&refused), Some(b"close".to_vec()), "past the limit: not drained");
        let small = send("/refuse", axum::body::Body::from("{\"profile\": {}}"))
            .await
            .unwrap();
        assert_eq!(small.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            closes(&small),
            None,
            "drained before the answer: the connection can go on"
        );
        let read = send("/read", axum::body::Body::from("{\"profile\": {}}"))
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::BAD_REQUEST);
        assert_eq!(closes(&read), None, "the body was read: the connection can go on");
        let too_large = send("/read", large()).await.unwrap();
        assert_eq!(
            too_large.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body limit still holds"
        );
        let empty = send("/refuse", axum::body::Body::empty()).await.unwrap();
        assert_eq!(closes(&empty), None, "no body to read");
    }

    #[tokio::test]
    async fn a_nul_character_in_the_url_is_refused_before_any_handler() {
        async fn ok() -> &'static str {
            "ok"
        }
        let router = layered(Router::new().route("/v1/{name}", get(ok)), 1024, 1024);
        for (uri, status) in [
            ("/v1/a?after=b", StatusCode::OK),
            ("/v1/a?after=%00", StatusCode::BAD_REQUEST),
            ("/v1/a%00b", StatusCode::BAD_REQUEST),
            // `%25` is a percent sign: the text "%00", not a NUL.
            ("/v1/a?customer=x%2500", StatusCode::OK),
        ] {
            let response = router
                .clone()
                .oneshot(Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{uri}");
        }
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_with_a_code_and_a_request_id() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let router = layered(Router::new().route("/boom", get(boom)), 1024, 1024);
        let response = router
            .oneshot(Request::builder().uri("/boom").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key("x-request-id"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: crate::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "internal_panic");
    }
}
