//! `/api/admin/*`: what operators (`MISSIVE_ADMINS`) do about reports: list and resolve them,
//! ban and unban users, delete any message, read the audit log. Anyone else is `forbidden`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppQuery, AuthUser, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::chat::safety;
use crate::domain::Seq;
use crate::domain::privacy::{AuditEntry, Report};
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
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `open` or `resolved`; none: all.
    status: Option<String>,
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

#[utoipa::path(post, path = "/api/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), request_body(content = Option<BanBody>, description = "optional: none (or `null`) bans without a reason"), responses((status = 204, description = "banned: tokens revoked, sockets disconnected"), Errors))]
async fn ban(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    // The body is optional: none (or `null`) bans without a reason.
    let reason = if body.is_empty() {
        String::new()
    } else {
        serde_json::from_slice::<Option<BanBody>>(&body)
            .map_err(|e| AppError::invalid(format!("malformed body: {e}")))?
            .unwrap_or_default()
            .reason
    };
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
