//! `/api/pushers`, `/api/push/vapid-key` and room mutes over REST: where a device is notified
//! when it is not connected, and which rooms its person has muted.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::extract::{AppJson, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::auth::tokens::TokenType;
use crate::chat::push::{self, PusherInput};
use crate::domain::push::{Mute, Pusher};
use crate::domain::{RoomId, UserId};
use crate::error::{AppError, AppResult};

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/push/vapid-key", get(vapid_key))
        .route("/api/pushers", get(list).post(add))
        .route("/api/pushers/{id}", delete(remove))
        .route("/api/rooms/{id}/mute", put(mute).delete(unmute))
        .route("/api/me/mutes", get(mutes))
}

/// The bearer token's user and the login it was issued to (absent on tokens issued before
/// access tokens named their login).
struct AuthLogin(UserId, Option<String>);

impl FromRequestParts<App> for AuthLogin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, AppError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, app).await?;
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.get(7..))
            .ok_or(AppError::Unauthenticated)?;
        let claims = app.tokens.verify(token.trim(), TokenType::Access)?;
        Ok(Self(user, claims.fam))
    }
}

/// `{public_key}` of `GET /api/push/vapid-key`.
#[derive(Serialize, utoipa::ToSchema)]
struct VapidKey {
    /// The server's VAPID public key (an uncompressed P-256 point, base64url).
    public_key: String,
}

/// The public VAPID key, for `PushManager.subscribe({applicationServerKey})`.
#[utoipa::path(get, path = "/api/push/vapid-key", tag = "notifications", responses((status = 200, description = "the key to subscribe with", body = VapidKey), Errors))]
async fn vapid_key(State(app): State<App>) -> AppResult<Json<VapidKey>> {
    let push = app.push.get().ok_or(AppError::Unavailable)?;
    Ok(Json(VapidKey {
        public_key: push.vapid.public_key.clone(),
    }))
}

#[utoipa::path(post, path = "/api/pushers", operation_id = "add_pusher", tag = "notifications", security(("bearer" = [])), request_body = PusherInput, responses((status = 201, description = "the pusher, registered for the caller's login (the same URL again replaces it)", body = Pusher), Errors))]
async fn add(
    State(app): State<App>,
    AuthLogin(user, family): AuthLogin,
    AppJson(body): AppJson<PusherInput>,
) -> AppResult<(StatusCode, Json<Pusher>)> {
    let pusher = push::add_pusher(&app, user, family.as_deref(), body).await?;
    Ok((StatusCode::CREATED, Json(pusher)))
}

/// `{pushers}` of `GET /api/pushers`.
#[derive(Serialize, utoipa::ToSchema)]
struct PusherList {
    pushers: Vec<Pusher>,
}

#[utoipa::path(get, path = "/api/pushers", operation_id = "list_pushers", tag = "notifications", security(("bearer" = [])), responses((status = 200, description = "the caller's pushers", body = PusherList), Errors))]
async fn list(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<PusherList>> {
    Ok(Json(PusherList {
        pushers: push::pushers(&app, user).await?,
    }))
}

#[utoipa::path(delete, path = "/api/pushers/{id}", operation_id = "remove_pusher", tag = "notifications", security(("bearer" = [])), params(("id" = i64, Path, description = "pusher id")), responses((status = 204, description = "removed"), Errors))]
async fn remove(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    push::remove_pusher(&app, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MuteBody {
    /// Unix milliseconds; absent or null: for good.
    #[serde(default)]
    until: Option<i64>,
}

#[utoipa::path(put, path = "/api/rooms/{id}/mute", tag = "notifications", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = MuteBody, responses((status = 200, description = "the mute in force", body = Mute), Errors))]
async fn mute(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<MuteBody>,
) -> AppResult<Json<Mute>> {
    let room: RoomId = parse_id(&id)?;
    Ok(Json(push::mute(&app, user, room, body.until).await?))
}

#[utoipa::path(delete, path = "/api/rooms/{id}/mute", tag = "notifications", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 204, description = "unmuted"), Errors))]
async fn unmute(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let room: RoomId = parse_id(&id)?;
    push::unmute(&app, user, room).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{mutes}` of `GET /api/me/mutes`.
#[derive(Serialize, utoipa::ToSchema)]
struct MuteList {
    mutes: Vec<Mute>,
}

#[utoipa::path(get, path = "/api/me/mutes", tag = "notifications", security(("bearer" = [])), responses((status = 200, description = "the caller's mutes in force", body = MuteList), Errors))]
async fn mutes(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<MuteList>> {
    Ok(Json(MuteList {
        mutes: push::mutes(&app, user).await?,
    }))
}
