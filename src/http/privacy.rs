//! `/api/me/blocks`, `/api/me/privacy`, group invite links and join requests (`/api/invites`,
//! `/api/rooms/{id}/invites`, `/api/rooms/{id}/join-requests`), the channel directory
//! (`/api/channels`) and reports (`/api/reports`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppJson, AppQuery, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::chat::privacy;
use crate::chat::safety::{self, InviteOptions, JoinOutcome, ReportInput};
use crate::domain::privacy::{
    ChannelEntry, Invite, InvitePreview, JoinRequest, PrivacyChange, PrivacySettings, Report,
};
use crate::domain::{Member, RoomId, User, UserId};
use crate::error::AppResult;

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/me/blocks", get(blocks))
        .route("/api/me/blocks/{user_id}", put(block).delete(unblock))
        .route("/api/me/privacy", get(settings).patch(update_settings))
        .route("/api/channels", get(channels))
        .route(
            "/api/rooms/{id}/invites",
            get(list_invites).post(create_invite),
        )
        .route("/api/invites/{token}", get(preview).delete(revoke))
        .route("/api/invites/{token}/join", post(join))
        .route("/api/rooms/{id}/join-requests", get(join_requests))
        .route(
            "/api/rooms/{id}/join-requests/{user_id}",
            post(approve).delete(deny),
        )
        .route("/api/reports", post(report))
}

#[utoipa::path(get, path = "/api/me/blocks", tag = "privacy", security(("bearer" = [])), responses((status = 200, description = "the users the caller blocks", body = Vec<User>), Errors))]
async fn blocks(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<Vec<User>>> {
    Ok(Json(privacy::blocks(&app, user).await?))
}

#[utoipa::path(put, path = "/api/me/blocks/{user_id}", tag = "privacy", security(("bearer" = [])), params(("user_id" = String, Path, description = "user id")), responses((status = 204, description = "blocked (blocking twice changes nothing)"), Errors))]
async fn block(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(target): Path<String>,
) -> AppResult<StatusCode> {
    privacy::block(&app, user, parse_id(&target)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/me/blocks/{user_id}", tag = "privacy", security(("bearer" = [])), params(("user_id" = String, Path, description = "user id")), responses((status = 204, description = "unblocked (or was not blocked)"), Errors))]
async fn unblock(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(target): Path<String>,
) -> AppResult<StatusCode> {
    privacy::unblock(&app, user, parse_id(&target)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/privacy", tag = "privacy", security(("bearer" = [])), responses((status = 200, description = "the caller's privacy settings", body = PrivacySettings), Errors))]
async fn settings(
    State(app): State<App>,
    AuthUser(user): AuthUser,
) -> AppResult<Json<PrivacySettings>> {
    Ok(Json(privacy::settings(&app, user).await?))
}

#[utoipa::path(patch, path = "/api/me/privacy", tag = "privacy", security(("bearer" = [])), request_body = PrivacyChange, responses((status = 200, description = "the settings after the change", body = PrivacySettings), Errors))]
async fn update_settings(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(change): AppJson<PrivacyChange>,
) -> AppResult<Json<PrivacySettings>> {
    Ok(Json(privacy::update_settings(&app, user, change).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChannelQuery {
    /// Part of the name or description, any case; none: all channels.
    q: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/channels", tag = "privacy", security(("bearer" = [])), params(ChannelQuery), responses((status = 200, description = "public channels, most followed first", body = Vec<ChannelEntry>), Errors))]
async fn channels(
    State(app): State<App>,
    AuthUser(_caller): AuthUser,
    AppQuery(q): AppQuery<ChannelQuery>,
) -> AppResult<Json<Vec<ChannelEntry>>> {
    Ok(Json(
        safety::search_channels(&app, q.q.as_deref(), q.limit).await?,
    ))
}

#[utoipa::path(post, path = "/api/rooms/{id}/invites", tag = "privacy", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), request_body = InviteOptions, responses((status = 201, description = "the new invite link", body = Invite), Errors))]
async fn create_invite(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    AppJson(options): AppJson<InviteOptions>,
) -> AppResult<(StatusCode, Json<Invite>)> {
    let room: RoomId = parse_id(&id)?;
    let invite = safety::create_invite(&app, user, room, options).await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

#[utoipa::path(get, path = "/api/rooms/{id}/invites", tag = "privacy", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 200, description = "the group's invite links", body = Vec<Invite>), Errors))]
async fn list_invites(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<Invite>>> {
    Ok(Json(safety::invites(&app, user, parse_id(&id)?).await?))
}

#[utoipa::path(get, path = "/api/invites/{token}", tag = "privacy", security(("bearer" = [])), params(("token" = String, Path, description = "the invite link's token")), responses((status = 200, description = "the group the live link leads to", body = InvitePreview), Errors))]
async fn preview(
    State(app): State<App>,
    AuthUser(_caller): AuthUser,
    Path(token): Path<String>,
) -> AppResult<Json<InvitePreview>> {
    Ok(Json(safety::preview(&app, &token).await?))
}

#[utoipa::path(delete, path = "/api/invites/{token}", tag = "privacy", security(("bearer" = [])), params(("token" = String, Path, description = "the invite link's token")), responses((status = 204, description = "revoked"), Errors))]
async fn revoke(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(token): Path<String>,
) -> AppResult<StatusCode> {
    safety::revoke_invite(&app, user, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 200 `{room}` when joined, 202 `{pending: true, room_id}` when an admin must approve.
#[utoipa::path(post, path = "/api/invites/{token}/join", tag = "privacy", security(("bearer" = [])), params(("token" = String, Path, description = "the invite link's token")), responses((status = 200, description = "joined: `{room}`", body = JoinOutcome), (status = 202, description = "an owner or admin must approve: `{pending: true, room_id}`", body = JoinOutcome), Errors))]
async fn join(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let outcome = safety::join(&app, user, &token).await?;
    let status = match outcome {
        JoinOutcome::Joined { .. } => StatusCode::OK,
        JoinOutcome::Pending { .. } => StatusCode::ACCEPTED,
    };
    Ok((status, Json(outcome)).into_response())
}

#[utoipa::path(get, path = "/api/rooms/{id}/join-requests", tag = "privacy", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 200, description = "the pending join requests", body = Vec<JoinRequest>), Errors))]
async fn join_requests(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<JoinRequest>>> {
    Ok(Json(
        safety::join_requests(&app, user, parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/rooms/{id}/join-requests/{user_id}", tag = "privacy", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("user_id" = String, Path, description = "user id")), responses((status = 201, description = "approved: the new member", body = Member), Errors))]
async fn approve(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(String, String)>,
) -> AppResult<(StatusCode, Json<Member>)> {
    let room: RoomId = parse_id(&id)?;
    let target: UserId = parse_id(&target)?;
    let member = safety::approve(&app, user, room, target).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[utoipa::path(delete, path = "/api/rooms/{id}/join-requests/{user_id}", tag = "privacy", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("user_id" = String, Path, description = "user id")), responses((status = 204, description = "denied"), Errors))]
async fn deny(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, target)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    safety::deny(&app, user, parse_id(&id)?, parse_id(&target)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/reports", tag = "privacy", security(("bearer" = [])), request_body = ReportInput, responses((status = 201, description = "the report, for the operators", body = Report), Errors))]
async fn report(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(input): AppJson<ReportInput>,
) -> AppResult<(StatusCode, Json<Report>)> {
    Ok((
        StatusCode::CREATED,
        Json(safety::report(&app, user, input).await?),
    ))
}
