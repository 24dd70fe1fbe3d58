//! `/api/attachments/*` and `/api/me/avatar`: uploads (streamed), signed download links,
//! downloads (ranges, `ETag`, headers that keep a file from running as part of the site), and
//! the profile picture. Room pictures are in `rooms`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppJson, AppQuery, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::chat::attachments::{self, Links, LinksInput};
use crate::domain::media::{byte_range, content_disposition};
use crate::domain::{Attachment, AttachmentId, User, UserId, now_ms};
use crate::error::{AppError, AppResult};
use crate::media::links::Variant;

/// Every route but the upload, which has a timeout of its own (`upload_router`).
pub fn router() -> Router<App> {
    Router::new()
        .route("/api/attachments/links", post(links))
        .route("/api/attachments/{id}", get(download))
        .route("/api/attachments/{id}/thumbnail", get(thumbnail))
        .route("/api/me/avatar", put(set_avatar).delete(clear_avatar))
}

/// `POST /api/attachments`: outside the REST request timeout (an upload of many megabytes on
/// a slow line takes longer), within `MISSIVE_UPLOAD_TIMEOUT`.
pub fn upload_router(timeout: std::time::Duration) -> Router<App> {
    Router::new()
        .route("/api/attachments", post(upload))
        .route_layer(axum::middleware::from_fn(move |req, next| {
            super::limit_duration(timeout, req, next)
        }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name, kept as metadata (its last path component, at most 255 characters).
    name: Option<String>,
}

#[utoipa::path(post, path = "/api/attachments", tag = "attachments", security(("bearer" = [])), params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes, as they are (the type is sniffed from them)"), responses((status = 201, description = "the stored upload, to send within MISSIVE_UPLOAD_TTL", body = Attachment), Errors))]
async fn upload(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(StatusCode, Json<Attachment>)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let stored = attachments::upload(
        &app,
        user,
        q.name.as_deref(),
        declared,
        body.into_data_stream(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[utoipa::path(post, path = "/api/attachments/links", tag = "attachments", security(("bearer" = [])), request_body = LinksInput, responses((status = 200, description = "signed links to the attachments the caller may read", body = Links), Errors))]
async fn links(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(input): AppJson<LinksInput>,
) -> AppResult<Json<Links>> {
    Ok(Json(attachments::links(&app, user, &input).await?))
}

/// A signed link's query (`POST /api/attachments/links`); without it, the bearer token.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SignedQuery {
    /// The user the link was minted for.
    u: Option<String>,
    /// Unix seconds.
    exp: Option<i64>,
    sig: Option<String>,
}

/// The reader: the signed link's user when the query carries a valid signature, else the
/// bearer token's. A bad or expired link is `unauthenticated`.
async fn reader(
    app: &App,
    headers: &HeaderMap,
    q: &SignedQuery,
    id: AttachmentId,
    variant: Variant,
) -> AppResult<UserId> {
    match (&q.u, q.exp, &q.sig) {
        (Some(u), Some(exp), Some(sig)) => {
            let user: UserId = u.parse().map_err(|_| AppError::Unauthenticated)?;
            let now = now_ms() / 1000;
            if app.media.links().verify(user, id, variant, exp, sig, now) {
                tracing::Span::current().record("user_id", user.0);
                Ok(user)
            } else {
                Err(AppError::Unauthenticated)
            }
        }
        _ => {
            let mut parts = axum::http::Request::new(()).into_parts().0;
            parts.headers = headers.clone();
            use axum::extract::FromRequestParts;
            AuthUser::from_request_parts(&mut parts, app)
                .await
                .map(|AuthUser(u)| u)
        }
    }
}

#[utoipa::path(get, path = "/api/attachments/{id}", tag = "attachments", security(("bearer" = []), ()), params(("id" = String, Path, description = "attachment id"), SignedQuery), responses((status = 200, description = "the file", content_type = "application/octet-stream", body = Vec<u8>), (status = 206, description = "the asked range of it"), (status = 304, description = "not modified (If-None-Match)"), Errors))]
async fn download(
    State(app): State<App>,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<SignedQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    serve(app, id, q, headers, Variant::Original).await
}

#[utoipa::path(get, path = "/api/attachments/{id}/thumbnail", tag = "attachments", security(("bearer" = []), ()), params(("id" = String, Path, description = "attachment id"), SignedQuery), responses((status = 200, description = "the image's thumbnail (JPEG)", content_type = "image/jpeg", body = Vec<u8>), (status = 206, description = "the asked range of it"), (status = 304, description = "not modified (If-None-Match)"), Errors))]
async fn thumbnail(
    State(app): State<App>,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<SignedQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    serve(app, id, q, headers, Variant::Thumbnail).await
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

async fn serve(
    app: App,
    id: String,
    q: SignedQuery,
    headers: HeaderMap,
    variant: Variant,
) -> AppResult<Response> {
    let id: AttachmentId = parse_id(&id)?;
    let user = reader(&app, &headers, &q, id, variant).await?;
    let d = attachments::download(&app, user, id, variant).await?;
    let etag = format!("\"{}\"", d.sha256);
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, header_value(&etag));
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Opened directly, a file runs in a unique origin with no scripts: an uploaded HTML page
    // can never act as part of this site.
    common.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match byte_range(range_header, d.size) {
        Ok(range) => range,
        Err(()) => {
            let mut res = AppError::invalid("the range is outside the file").into_response();
            *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            res.headers_mut().extend(common);
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{}", d.size)),
            );
            return Ok(res);
        }
    };
    let reading = app.media.get(&d.sha256, range).await?;
    let mut res = Response::new(Body::from_stream(reading.stream));
    let h = res.headers_mut();
    h.extend(common);
    h.insert(header::CONTENT_TYPE, header_value(&d.content_type));
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(&d.name, d.inline)),
    );
    match range {
        Some((first, last)) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {first}-{last}/{}", d.size)),
            );
            h.insert(
                header::CONTENT_LENGTH,
                header_value(&(last - first + 1).to_string()),
            );
        }
        None => {
            res.headers_mut()
                .insert(header::CONTENT_LENGTH, header_value(&d.size.to_string()));
        }
    }
    Ok(res)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AvatarBody {
    /// One of the caller's unused image uploads.
    attachment_id: AttachmentId,
}

#[utoipa::path(put, path = "/api/me/avatar", tag = "attachments", security(("bearer" = [])), request_body = AvatarBody, responses((status = 200, description = "the caller with their new profile picture", body = User), Errors))]
async fn set_avatar(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(body): AppJson<AvatarBody>,
) -> AppResult<Json<User>> {
    Ok(Json(
        attachments::set_avatar(&app, user, Some(body.attachment_id)).await?,
    ))
}

#[utoipa::path(delete, path = "/api/me/avatar", tag = "attachments", security(("bearer" = [])), responses((status = 200, description = "the caller without a profile picture", body = User), Errors))]
async fn clear_avatar(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<User>> {
    Ok(Json(attachments::set_avatar(&app, user, None).await?))
}
