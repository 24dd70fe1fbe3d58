//! Accounts' secrets: password hashing (`password`), JWT access and refresh tokens (`tokens`),
//! the failed-login throttle (`throttle`), and [`authenticate`], the one check of an access
//! token that REST and both Socket.IO namespaces share.

pub mod password;
pub mod throttle;
pub mod tokens;

use crate::domain::UserId;
use crate::error::AppError;
use crate::store::Store;
use tokens::{TokenType, Tokens};

/// Checks an access token: signature, claims, type, and not revoked by logout-all. Returns the
/// user and the token's expiry (Unix seconds).
pub async fn authenticate(
    tokens: &Tokens,
    store: &Store,
    token: &str,
) -> Result<(UserId, u64), AppError> {
    let claims = tokens.verify(token, TokenType::Access)?;
    let user = claims.user_id()?;
    match store.tokens_valid_after(user).await? {
        Some(after) if claims.ims > after => Ok((user, claims.exp)),
        _ => Err(AppError::Unauthenticated),
    }
}
