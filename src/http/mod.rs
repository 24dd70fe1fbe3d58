//! The HTTP surface: the REST API (`accounts`, `rooms`, `pushers`, `privacy`, `admin`,
//! `attachments`), health and
//! metrics (here), the web
//! client and the Socket.IO browser bundle, and the layers every response passes through
//! (body limit, security headers, CORS, request ids and tracing spans).

pub mod accounts;
pub mod admin;
pub mod attachments;
pub mod extract;
pub mod openapi;
pub mod privacy;
pub mod pushers;
pub mod rooms;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::error::AppError;

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;

/// The web client may load scripts, styles and images only from this server: user text can
/// never become running code even if it slipped into the page as HTML.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Builds the whole router around the Socket.IO layer.
pub fn router<L>(app: App, socketio: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let static_dir = app.config.static_dir.clone();
    let client_js = ServeFile::new(static_dir.join("vendor/socket.io.min.js"));
    let cors = cors_layer(app.config.cors_origins.as_deref());
    let rest_timeout = app.config.http_request_timeout;
    Router::new()
        .merge(accounts::router())
        .merge(openapi::router())
        .merge(rooms::router())
        .merge(pushers::router())
        .merge(privacy::router())
        .merge(admin::router())
        .merge(attachments::router())
        .layer(axum::middleware::from_fn(move |req, next| {
            limit_duration(rest_timeout, req, next)
        }))
        .merge(attachments::upload_router(app.config.upload_timeout))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(ServeDir::new(&static_dir).append_index_html_on_directories(true))
        // Everything above, the fallback included, is behind the Socket.IO layer, which takes
        // `/socket.io/?EIO=…`; the browser bundle is routed after it so the layer never sees it.
        .layer(socketio)
        .route_service("/socket.io/socket.io.js", client_js)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(app)
}

/// The span of one request: its id (the caller's `X-Request-Id`, else a new UUID, echoed in
/// the response), method and path — not the query, nor any header (tokens) or body — and the
/// user, recorded once `AuthUser` has authenticated the request.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        user_id = tracing::field::Empty,
    )
}

/// No origin list: same origin only (no CORS headers at all). `*`: any origin.
fn cors_layer(origins: Option<&str>) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([HeaderName::from_static("retry-after")]);
    match origins.map(str::trim) {
        None | Some("") => CorsLayer::new(),
        Some("*") => base.allow_origin(AllowOrigin::any()),
        Some(list) => {
            let origins: Vec<HeaderValue> = list
                .split(',')
                .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
                .collect();
            base.allow_origin(origins)
        }
    }
}

/// `{"status": ...}` of the health endpoints.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Status {
    status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is up", body = Status)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the database answers and the bus is up", body = Status), (status = 503, description = "not ready", body = Status)))]
async fn readyz(State(app): State<App>) -> (StatusCode, Json<serde_json::Value>) {
    if !app.bus_up.load(std::sync::atomic::Ordering::SeqCst) {
        tracing::warn!("readyz: not hearing the other nodes' commits");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable"})),
        );
    }
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readyz: database check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

async fn api_not_found() -> AppError {
    AppError::NotFound
}

/// A known path with a method it does not serve: 405 in the error shape (axum's own is empty).
async fn method_not_allowed() -> Response {
    let mut res = AppError::invalid("method not allowed for this path").into_response();
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res
}

/// A NUL byte is never meaningful in a query, and Postgres refuses it in text (a 500 if it got
/// that far): `invalid`, for every path, before any handler.
async fn refuse_nul(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req
        .uri()
        .query()
        .is_some_and(|q| q.contains("%00") || q.contains('\0'))
    {
        return AppError::invalid("the query string contains a NUL byte").into_response();
    }
    next.run(req).await
}

/// A REST request (body included) that takes longer than `limit` is answered 408 in the error
/// shape and its work dropped: a client trickling a body cannot hold a connection and a
/// handler forever.
async fn limit_duration(
    limit: std::time::Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            let mut res = AppError::invalid("the request took too long").into_response();
            *res.status_mut() = StatusCode::REQUEST_TIMEOUT;
            res
        }
    }
}

/// The error shape of every REST failure: the status of its code and `{"error": {...}}`, with
/// `Retry-After` when rate limited or unavailable.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Invalid(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge | AppError::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut res = (status, Json(json!({ "error": self.body() }))).into_response();
        match self {
            AppError::RateLimited { retry_after_ms } => {
                let secs = retry_after_ms.div_ceil(1000).max(1);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            // Overload (a full hash queue): worth trying again shortly.
            AppError::Unavailable => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }
}
