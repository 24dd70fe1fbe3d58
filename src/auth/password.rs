//! argon2id password hashing, off the async threads and behind a concurrency limit so a burst of
//! logins cannot starve the runtime or exhaust memory (each hash takes 19 MiB).

use std::sync::Arc;

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so both failures take the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

impl Hasher {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: hash_blocking("missive-dummy-password")?.into(),
        })
    }

    pub async fn hash(&self, password: String) -> AppResult<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable)?;
        let hash = tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| AppError::Internal(e.into()))??;
        Ok(hash)
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is no user, so an
    /// unknown user and a wrong password cost the same.
    pub async fn verify(&self, password: String, hash: Option<String>) -> AppResult<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Unavailable)?;
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
        Ok(ok && known)
    }
}
