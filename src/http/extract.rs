//! Extractors that answer in the error shape of `docs/protocol.md`: `AuthUser` (the bearer token's user),
//! `AppJson` and `AppQuery` (a malformed body or query is `invalid`, an oversized body
//! `too_large`), and `parse_id` for path segments (a malformed id is simply `not_found`).

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::domain::UserId;
use crate::error::AppError;

/// The user of a valid, unrevoked access token in `Authorization: Bearer …`.
pub struct AuthUser(pub UserId);

impl FromRequestParts<App> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AppError::Unauthenticated)?;
        crate::auth::authenticate(&app.tokens, &app.store, token.trim())
            .await
            .map(|(user, _exp)| {
                tracing::Span::current().record("user_id", user.0);
                AuthUser(user)
            })
    }
}

/// The client's IP address (the TCP peer: Missive does not trust forwarding headers).
pub struct Peer(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<crate::delivery::conn::ConnInfo>>()
            .map(|info| Peer(info.0.peer.ip()))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no peer address on the request")))
    }
}

/// `axum::Json` whose rejections are `invalid` / `too_large` in the error shape.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::TooLarge)
            }
            Err(rejection) => Err(AppError::invalid(rejection.body_text())),
        }
    }
}

/// `axum::extract::Query` whose rejection is `invalid`.
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|rejection| AppError::invalid(rejection.body_text()))
    }
}

/// Parses an id from the path; an id that cannot exist is `not_found`, like one that does not.
pub fn parse_id<T: std::str::FromStr<Err = AppError>>(raw: &str) -> Result<T, AppError> {
    raw.parse()
}
