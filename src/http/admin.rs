//! `/api/admin/*`: what operators (`MISSIVE_ADMINS`) do about reports: list and resolve them,
//! ban and unban users, delete any message, read the audit log; and the rest of the operator's
//! console (`static/admin/`): the cluster's figures, accounts and their devices on every node,
//! logout everywhere, password resets, rooms, closing and reopening channels. Anyone else is
//! `forbidden`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppQuery, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::chat::{operator, safety};
use crate::domain::operator::{
    AdminRoom, AdminRoomDetail, AdminUser, AdminUserDetail, ClusterStats, TemporaryPassword,
};
use crate::domain::privacy::{AuditEntry, Report};
use crate::domain::{Message, Seq, UserId};
use crate::error::{AppError, AppResult};

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/admin/reports", get(reports))
        .route("/api/admin/reports/{id}/resolve", post(resolve))
        .route("/api/admin/users/{id}/ban", post(ban).delete(unban))
        .route(
            "/api/admin/rooms/{id}/messages/{seq}",
            axum::routing::delete(delete_message),
        )
        .route("/api/admin/audit", get(audit))
        .route("/api/admin/stats", get(stats))
        .route("/api/admin/users", get(users))
        .route("/api/admin/users/{id}", get(user))
        .route(
            "/api/admin/users/{id}/devices/{sid}",
            axum::routing::delete(disconnect_device),
        )
        .route("/api/admin/users/{id}/logout", post(logout_everywhere))
        .route("/api/admin/users/{id}/password", post(reset_password))
        .route("/api/admin/rooms", get(rooms))
        .route("/api/admin/rooms/{id}", get(room))
        .route("/api/admin/rooms/{id}/close", post(close_room))
        .route("/api/admin/rooms/{id}/reopen", post(reopen_room))
        .route(
            "/api/admin/rooms/{id}/messages/{seq}/context",
            get(message_context),
        )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `open` or `resolved`; none: all.
    status: Option<String>,
}

/// A request's input, for an operator's endpoint. The chat layer checks that the caller is an
/// operator (once); a malformed input is only told to an operator: anyone else learns
/// `forbidden` first, so the endpoints say nothing to others about what they take.
async fn operator_input<T>(app: &App, user: UserId, input: AppResult<T>) -> AppResult<T> {
    if input.is_err() {
        safety::require_operator(app, user).await?;
    }
    input
}

#[utoipa::path(get, path = "/api/admin/reports", tag = "admin", security(("bearer" = [])), params(ReportQuery), responses((status = 200, description = "the reports", body = Vec<Report>), Errors))]
async fn reports(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<ReportQuery>,
) -> AppResult<Json<Vec<Report>>> {
    Ok(Json(
        safety::reports(&app, user, q.status.as_deref()).await?,
    ))
}

#[utoipa::path(post, path = "/api/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "report id")), responses((status = 200, description = "the resolved report", body = Report), Errors))]
async fn resolve(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Report>> {
    Ok(Json(safety::resolve(&app, user, &id).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct BanBody {
    /// Kept in the audit log.
    #[serde(default)]
    reason: String,
}

/// The reason of an optional `{reason}` body: none, `null` or no `reason` is an empty one.
fn optional_reason(body: &[u8]) -> AppResult<String> {
    if body.is_empty() {
        return Ok(String::new());
    }
    Ok(serde_json::from_slice::<Option<BanBody>>(body)
        .map_err(|e| AppError::invalid(format!("malformed body: {e}")))?
        .unwrap_or_default()
        .reason)
}

#[utoipa::path(post, path = "/api/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), request_body(content = Option<BanBody>, description = "optional: none (or `null`) bans without a reason"), responses((status = 204, description = "banned: tokens revoked, sockets disconnected"), Errors))]
async fn ban(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    // The body is optional: none (or `null`) bans without a reason.
    let reason = optional_reason(&body)?;
    safety::ban(&app, user, parse_id(&id)?, &reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), responses((status = 204, description = "unbanned"), Errors))]
async fn unban(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    safety::unban(&app, user, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/admin/rooms/{id}/messages/{seq}", operation_id = "admin_delete_message", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), responses((status = 204, description = "deleted for everyone"), Errors))]
async fn delete_message(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let seq = seq
        .parse::<i64>()
        .map(Seq)
        .map_err(|_| AppError::NotFound)?;
    safety::delete_message(&app, user, parse_id(&id)?, seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "the moderation audit log", body = Vec<AuditEntry>), Errors))]
async fn audit(
    State(app): State<App>,
    AuthUser(user): AuthUser,
) -> AppResult<Json<Vec<AuditEntry>>> {
    Ok(Json(safety::audit_log(&app, user).await?))
}

#[utoipa::path(get, path = "/api/admin/stats", operation_id = "admin_stats", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "the cluster's latest figures (the `/admin` `stats` event)", body = ClusterStats), Errors))]
async fn stats(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<ClusterStats>> {
    Ok(Json(operator::stats(&app, user).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Contained in the name (any case); none: the first 50.
    q: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/users", operation_id = "admin_users", tag = "admin", security(("bearer" = [])), params(SearchQuery), responses((status = 200, description = "accounts whose username or display name contains `q`, by username (at most 50)", body = Vec<AdminUser>), Errors))]
async fn users(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<SearchQuery>,
) -> AppResult<Json<Vec<AdminUser>>> {
    Ok(Json(operator::users(&app, user, q.q.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/admin/users/{id}", operation_id = "admin_user", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), responses((status = 200, description = "the account and its sockets on every node", body = AdminUserDetail), Errors))]
async fn user(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<AdminUserDetail>> {
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(operator::user(&app, user, id).await?))
}

#[utoipa::path(delete, path = "/api/admin/users/{id}/devices/{sid}", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id"), ("sid" = String, Path, description = "socket id (a device's `sid`)")), responses((status = 204, description = "the socket is closed, on whichever node it was"), Errors))]
async fn disconnect_device(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, sid)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let id = operator_input(&app, user, parse_id(&id)).await?;
    operator::disconnect_device(&app, user, id, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/admin/users/{id}/logout", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), responses((status = 204, description = "every token revoked, every socket closed on every node"), Errors))]
async fn logout_everywhere(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = operator_input(&app, user, parse_id(&id)).await?;
    operator::logout_everywhere(&app, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/admin/users/{id}/password", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), responses((status = 200, description = "a temporary password, shown this once; the account is logged out everywhere", body = TemporaryPassword), Errors))]
async fn reset_password(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<TemporaryPassword>> {
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(operator::reset_password(&app, user, id).await?))
}

#[utoipa::path(get, path = "/api/admin/rooms", operation_id = "admin_rooms", tag = "admin", security(("bearer" = [])), params(SearchQuery), responses((status = 200, description = "groups and channels whose name contains `q`, largest first (at most 50)", body = Vec<AdminRoom>), Errors))]
async fn rooms(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<SearchQuery>,
) -> AppResult<Json<Vec<AdminRoom>>> {
    Ok(Json(operator::rooms(&app, user, q.q.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/admin/rooms/{id}", operation_id = "admin_room", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "room id")), responses((status = 200, description = "a group or channel: members, size, message rate", body = AdminRoomDetail), Errors))]
async fn room(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<AdminRoomDetail>> {
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(operator::room(&app, user, id).await?))
}

/// `{reason?}` of closing or reopening a channel.
#[derive(Deserialize, Default, utoipa::ToSchema)]
struct CloseBody {
    /// At most 500 characters: shown to the followers in the `room_closed` (or
    /// `room_reopened`) system entry, and kept in the audit log.
    #[serde(default)]
    #[allow(dead_code)]
    reason: String,
}

#[utoipa::path(post, path = "/api/admin/rooms/{id}/close", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "room id (a channel)")), request_body(content = Option<CloseBody>, description = "optional: none (or `null`) closes without a reason"), responses((status = 200, description = "closed: read-only for its followers, out of the directory, no new followers; the room as it is now", body = AdminRoomDetail), Errors))]
async fn close_room(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<AdminRoomDetail>> {
    let reason = operator_input(&app, user, optional_reason(&body)).await?;
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(
        operator::close_room(&app, user, id, true, &reason).await?,
    ))
}

#[utoipa::path(post, path = "/api/admin/rooms/{id}/reopen", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "room id (a closed channel)")), request_body(content = Option<CloseBody>, description = "optional: none (or `null`) reopens without a reason"), responses((status = 200, description = "open again: followers post, react and follow as before; the room as it is now", body = AdminRoomDetail), Errors))]
async fn reopen_room(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<AdminRoomDetail>> {
    let reason = operator_input(&app, user, optional_reason(&body)).await?;
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(
        operator::close_room(&app, user, id, false, &reason).await?,
    ))
}

#[utoipa::path(get, path = "/api/admin/rooms/{id}/messages/{seq}/context", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "room id"), ("seq" = i64, Path, description = "message seq")), responses((status = 200, description = "the message with up to five entries before and after it, ascending", body = Vec<Message>), Errors))]
async fn message_context(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<Json<Vec<Message>>> {
    let seq = operator_input(
        &app,
        user,
        seq.parse::<i64>().map(Seq).map_err(|_| AppError::NotFound),
    )
    .await?;
    let id = operator_input(&app, user, parse_id(&id)).await?;
    Ok(Json(operator::message_context(&app, user, id, seq).await?))
}
