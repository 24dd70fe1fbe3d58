//! `/api/admin/*`: what operators (`MISSIVE_ADMINS`) do about reports: list and resolve them,
//! ban and unban users, delete any message, read the audit log. Anyone else is `forbidden`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{AppQuery, AuthUser, parse_id};
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

#[derive(Deserialize)]
struct ReportQuery {
    status: Option<String>,
}

async fn reports(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppQuery(q): AppQuery<ReportQuery>,
) -> AppResult<Json<Vec<Report>>> {
    Ok(Json(
        safety::reports(&app, user, q.status.as_deref()).await?,
    ))
}

async fn resolve(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<Report>> {
    Ok(Json(safety::resolve(&app, user, &id).await?))
}

#[derive(Deserialize, Default)]
struct BanBody {
    #[serde(default)]
    reason: String,
}

async fn ban(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    // The body is optional: none bans without a reason.
    let reason = if body.is_empty() {
        String::new()
    } else {
        serde_json::from_slice::<BanBody>(&body)
            .map_err(|e| AppError::invalid(format!("malformed body: {e}")))?
            .reason
    };
    safety::ban(&app, user, parse_id(&id)?, &reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unban(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    safety::unban(&app, user, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

async fn audit(
    State(app): State<App>,
    AuthUser(user): AuthUser,
) -> AppResult<Json<Vec<AuditEntry>>> {
    Ok(Json(safety::audit_log(&app, user).await?))
}
