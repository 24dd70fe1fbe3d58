//! JWT access and refresh tokens (HS256, algorithm pinned; `exp`, `iss` and `aud` checked).
//! The `typ` claim keeps the two kinds apart: a refresh token is never an access token.
//! Refresh tokens also carry `fam`, the login they descend from, for reuse detection.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::error::AppError;

const ISSUER: &str = "missive";
const AUDIENCE: &str = "missive";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub typ: TokenType,
    /// Issued-at in milliseconds: `iat` has whole seconds, too coarse to tell a token minted
    /// just before a logout-all from one minted just after.
    pub ims: i64,
    /// The refresh-token family (one per login); on access tokens, the login they were issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

impl Claims {
    pub fn user_id(&self) -> Result<UserId, AppError> {
        self.sub
            .parse()
            .map(UserId)
            .map_err(|_| AppError::Unauthenticated)
    }
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// A freshly minted token and what the store needs to remember of it.
pub struct Minted {
    pub token: String,
    pub jti: String,
    pub exp: u64,
}

pub fn random_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

impl Tokens {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    fn mint(&self, user: UserId, typ: TokenType, fam: Option<String>) -> Result<Minted, AppError> {
        let iat = now_secs();
        let ttl = match typ {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            sub: user.to_string(),
            exp: iat + ttl.as_secs().max(1),
            iat,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: random_id(),
            typ,
            ims: crate::domain::now_ms(),
            fam,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(e.into()))?;
        Ok(Minted {
            token,
            jti: claims.jti,
            exp: claims.exp,
        })
    }

    pub fn access(&self, user: UserId) -> Result<Minted, AppError> {
        self.mint(user, TokenType::Access, None)
    }

    /// An access token that names its login (`fam`), so that what a device registers with it
    /// (its pushers) can go when that login logs out.
    pub fn access_for_login(&self, user: UserId, family: String) -> Result<Minted, AppError> {
        self.mint(user, TokenType::Access, Some(family))
    }

    pub fn refresh(&self, user: UserId, family: String) -> Result<Minted, AppError> {
        self.mint(user, TokenType::Refresh, Some(family))
    }

    /// Decodes and checks a token of the expected type; any failure is `unauthenticated`.
    pub fn verify(&self, token: &str, typ: TokenType) -> Result<Claims, AppError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthenticated)?;
        if data.claims.typ != typ {
            return Err(AppError::Unauthenticated);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(
            &[7u8; 32],
            Duration::from_secs(60),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn access_and_refresh_tokens_are_not_interchangeable() {
        let t = tokens();
        let access = t.access(UserId(1)).unwrap().token;
        let refresh = t.refresh(UserId(1), "f".into()).unwrap().token;
        assert!(t.verify(&access, TokenType::Access).is_ok());
        assert!(t.verify(&access, TokenType::Refresh).is_err());
        assert!(t.verify(&refresh, TokenType::Access).is_err());
        assert_eq!(
            t.verify(&refresh, TokenType::Refresh)
                .unwrap()
                .fam
                .as_deref(),
            Some("f")
        );
    }

    #[test]
    fn a_token_signed_with_another_key_or_algorithm_is_refused() {
        let t = tokens();
        let other = Tokens::new(&[8u8; 32], Duration::from_secs(60), Duration::from_secs(60));
        assert!(
            t.verify(&other.access(UserId(1)).unwrap().token, TokenType::Access)
                .is_err()
        );
        let claims = t
            .verify(&t.access(UserId(1)).unwrap().token, TokenType::Access)
            .unwrap();
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert!(t.verify(&hs512, TokenType::Access).is_err());
    }
}
