//! `/api/auth/*`, `/api/me` and `/api/users`: registration, login, token rotation, logout,
//! profiles and user look-up.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::extract::{AppJson, AppQuery, AuthUser, Peer, parse_id};
use super::openapi::Errors;
use crate::app::App;
use crate::auth::tokens::{TokenType, random_id};
use crate::chat::presence::{self, Subject};
use crate::domain::{User, UserId, Username, check_password, parse_display_name, rules};
use crate::error::{AppError, AppResult};

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout-all", post(logout_all))
        .route("/api/me", get(me).patch(update_me))
        .route("/api/users", get(search_users))
        .route("/api/users/{id}", get(user))
}

/// `docs/protocol.md` `Session`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    user: User,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// Mints an access token and the next refresh token of `family` (a new family per login).
async fn issue_session(app: &App, user: User, family: String) -> AppResult<Session> {
    let access = app.tokens.access_for_login(user.id, family.clone())?;
    let refresh = app.tokens.refresh(user.id, family.clone())?;
    app.store
        .insert_refresh_token(&refresh.jti, user.id, &family, refresh.exp as i64 * 1000)
        .await?;
    Ok(Session {
        user,
        access_token: access.token,
        refresh_token: refresh.token,
        token_type: "Bearer",
        expires_in: app.tokens.access_ttl.as_secs(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
}

#[utoipa::path(post, path = "/api/auth/register", tag = "accounts", request_body = RegisterBody, responses((status = 201, description = "registered and logged in", body = Session), Errors))]
async fn register(
    State(app): State<App>,
    Peer(addr): Peer,
    AppJson(body): AppJson<RegisterBody>,
) -> AppResult<(StatusCode, Json<Session>)> {
    if let Some(limiter) = &app.auth_limiter {
        limiter.check(addr)?;
    }
    let username = Username::parse(&body.username)?;
    check_password(&body.password)?;
    let display_name = match &body.display_name {
        Some(name) => parse_display_name(name)?,
        None => username.as_str().to_owned(),
    };
    let hash = app.hasher.hash(body.password).await?;
    let user = app
        .store
        .create_user(username.as_str(), &display_name, &hash)
        .await?;
    let session = issue_session(&app, user, random_id()).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginBody {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "accounts", request_body = LoginBody, responses((status = 200, description = "logged in", body = Session), Errors))]
async fn login(
    State(app): State<App>,
    Peer(addr): Peer,
    AppJson(body): AppJson<LoginBody>,
) -> AppResult<Json<Session>> {
    // Every attempt, well-formed or not, costs its address: a hash is what it asks for.
    if let Some(limiter) = &app.auth_limiter {
        limiter.check(addr)?;
    }
    // A name that could never be registered is just another unknown user (and is not tracked
    // by the throttle: no account can match it).
    let Ok(name) = Username::parse(&body.username) else {
        app.hasher.verify(body.password, None).await?;
        return Err(AppError::InvalidCredentials);
    };
    if let Err(wait) = app.shared.login_allowed(name.as_str(), addr).await? {
        return Err(AppError::RateLimited {
            retry_after_ms: wait.as_millis() as u64,
        });
    }
    let (user, hash) = match app.store.credentials(name.as_str()).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = app.hasher.verify(body.password, hash).await?;
    match user {
        Some(user) if ok => {
            app.shared.login_succeeded(name.as_str(), addr).await?;
            // Said only to whoever knows the password: to others a banned account looks like any.
            if app.store.is_banned(user.id).await? {
                return Err(AppError::forbidden("this account is banned"));
            }
            Ok(Json(issue_session(&app, user, random_id()).await?))
        }
        _ => {
            // Counted only now that the password was checked: see `auth::throttle`.
            app.shared.login_failed(name.as_str(), addr).await?;
            Err(AppError::InvalidCredentials)
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RefreshBody {
    refresh_token: String,
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "accounts", request_body = RefreshBody, responses((status = 200, description = "the next tokens", body = Session), Errors))]
async fn refresh(
    State(app): State<App>,
    AppJson(body): AppJson<RefreshBody>,
) -> AppResult<Json<Session>> {
    let claims = app.tokens.verify(&body.refresh_token, TokenType::Refresh)?;
    match app.store.use_refresh_token(&claims.jti).await? {
        crate::store::users::RefreshOutcome::Rotated { user, family } => {
            // A ban revokes the refresh tokens too; this also covers one racing the ban.
            if app.store.is_banned(user).await? {
                return Err(AppError::Unauthenticated);
            }
            let user = app
                .store
                .user(user)
                .await?
                .ok_or(AppError::Unauthenticated)?;
            Ok(Json(issue_session(&app, user, family).await?))
        }
        crate::store::users::RefreshOutcome::Reused => {
            tracing::warn!(user = %claims.sub, "refresh token reused: its login's tokens are revoked");
            Err(AppError::Unauthenticated)
        }
        crate::store::users::RefreshOutcome::Refused => Err(AppError::Unauthenticated),
    }
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts", request_body = RefreshBody, responses((status = 204, description = "logged out"), Errors))]
async fn logout(
    State(app): State<App>,
    AppJson(body): AppJson<RefreshBody>,
) -> AppResult<StatusCode> {
    // Logging out with a token that is already dead is not an error: the outcome is the same.
    if let Ok(claims) = app.tokens.verify(&body.refresh_token, TokenType::Refresh) {
        app.store.revoke_family_of(&claims.jti).await?;
        if let Some(family) = &claims.fam {
            app.store.delete_pushers_of_family(family).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/auth/logout-all", tag = "accounts", security(("bearer" = [])), responses((status = 204, description = "every session ended"), Errors))]
async fn logout_all(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<StatusCode> {
    app.store.revoke_all_tokens(user).await?;
    app.store.delete_pushers_of_user(user).await?;
    app.delivery().disconnect_user(user).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "the caller", body = User), Errors))]
async fn me(State(app): State<App>, AuthUser(user): AuthUser) -> AppResult<Json<User>> {
    Ok(Json(crate::chat::user(&app, user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ProfileBody {
    display_name: String,
}

#[utoipa::path(patch, path = "/api/me", tag = "accounts", security(("bearer" = [])), request_body = ProfileBody, responses((status = 200, description = "the updated caller", body = User), Errors))]
async fn update_me(
    State(app): State<App>,
    AuthUser(user): AuthUser,
    AppJson(body): AppJson<ProfileBody>,
) -> AppResult<Json<User>> {
    Ok(Json(
        crate::chat::update_profile(&app, user, &body.display_name).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/users", tag = "accounts", security(("bearer" = [])), params(SearchQuery), responses((status = 200, description = "users whose name starts with q", body = Vec<User>), Errors))]
async fn search_users(
    State(app): State<App>,
    AuthUser(_caller): AuthUser,
    AppQuery(query): AppQuery<SearchQuery>,
) -> AppResult<Json<Vec<User>>> {
    let limit = rules::directory_limit(query.limit)?;
    // Fewer than 3 characters (an empty query included) find nobody: the list of accounts
    // cannot be walked.
    let Some(prefix) = rules::user_search_prefix(&query.q) else {
        return Ok(Json(vec![]));
    };
    Ok(Json(app.store.search_users(&prefix, limit).await?))
}

/// `User` plus `Presence` fields.
#[derive(Serialize, utoipa::ToSchema)]
struct UserWithPresence {
    #[serde(flatten)]
    user: User,
    #[serde(flatten)]
    presence: crate::domain::Presence,
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "user id")), responses((status = 200, description = "the user and their presence", body = UserWithPresence), Errors))]
async fn user(
    State(app): State<App>,
    AuthUser(caller): AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<UserWithPresence>> {
    let id: UserId = parse_id(&id)?;
    let user = crate::chat::user(&app, id).await?;
    let presence = presence::query_for(&app, caller, Subject::Users(vec![id]))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok(Json(UserWithPresence { user, presence }))
}
