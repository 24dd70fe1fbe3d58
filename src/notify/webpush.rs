//! Web Push done to the standards: VAPID (RFC 8292) identifies this server to push services
//! with an ES256 JWT, and each payload is encrypted for the subscription as RFC 8291 says
//! (`aes128gcm`, RFC 8188), so the push service carries it without reading it.

use std::path::Path;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use sha2::Sha256;

use crate::config::Config;
use crate::store::{Backend, Store};

/// The record size announced in the `aes128gcm` header: the whole payload is one record.
const RECORD_SIZE: u32 = 4096;

/// How long a VAPID JWT is valid (RFC 8292 allows at most 24 hours).
const JWT_LIFETIME_SECS: u64 = 12 * 3600;

/// This server's VAPID key pair.
pub struct Vapid {
    signing: SigningKey,
    /// The uncompressed public key in base64url: what `PushManager.subscribe` takes as
    /// `applicationServerKey`, and the `k` of the `Authorization` header.
    pub public_key: String,
}

impl Vapid {
    pub fn from_base64(private: &str) -> anyhow::Result<Self> {
        let bytes = B64
            .decode(private.trim().trim_end_matches('='))
            .context("the VAPID private key is not base64url")?;
        let secret = SecretKey::from_slice(&bytes)
            .context("the VAPID private key is not a P-256 scalar of 32 bytes")?;
        let public = secret.public_key().to_encoded_point(false);
        Ok(Self {
            signing: SigningKey::from(secret),
            public_key: B64.encode(public.as_bytes()),
        })
    }

    /// The configured key, else one generated once and kept: beside the SQLite file (mode
    /// 0600, like the JWT secret), or in the database on Postgres so every node shares it.
    pub async fn load(config: &Config, store: &Store) -> anyhow::Result<Self> {
        if let Some(key) = &config.vapid_private_key {
            return Self::from_base64(key);
        }
        let fresh = B64.encode(random_secret().to_bytes());
        let key = match (store.backend, config.sqlite_path()) {
            (Backend::Postgres, _) => store.vapid_key(&fresh).await?,
            (Backend::Sqlite, Some(db)) => {
                let mut name = db.file_name().unwrap_or_default().to_os_string();
                name.push(".vapid-key");
                load_or_create(&db.with_file_name(name), &fresh)?
            }
            (Backend::Sqlite, None) => fresh,
        };
        Self::from_base64(&key)
    }

    /// The `Authorization` header for a request to `endpoint` (RFC 8292 §3).
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now_secs: u64) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now_secs + JWT_LIFETIME_SECS,
            "sub": subject,
        });
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let jwt = format!("{signing_input}.{}", B64.encode(signature.to_bytes()));
        format!("vapid t={jwt}, k={}", self.public_key)
    }
}

fn random_secret() -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        // A random 32-byte string is a valid scalar except with probability about 2^-32.
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn load_or_create(path: &Path, fresh: &str) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_owned());
    }
    crate::config::write_private(path, fresh.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new VAPID key");
    Ok(fresh.to_owned())
}

/// Encrypts `plaintext` for the subscription (RFC 8291 §3.4, one `aes128gcm` record).
pub fn encrypt(p256dh: &str, auth: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
    let ua_public_bytes = B64.decode(p256dh.trim_end_matches('='))?;
    let ua_public = PublicKey::from_sec1_bytes(&ua_public_bytes)?;
    let auth_secret = B64.decode(auth.trim_end_matches('='))?;
    if plaintext.len() + 1 + 16 > RECORD_SIZE as usize {
        bail!("payload too large for one record");
    }
    let as_secret = random_secret();
    let as_public = as_secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());

    // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32)
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&ua_public_bytes);
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| anyhow::anyhow!("hkdf"))?;

    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|_| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| anyhow::anyhow!("hkdf"))?;

    // The last (and only) record ends with the delimiter 0x02 and no padding.
    let mut record = plaintext.to_vec();
    record.push(2);
    let ciphertext = Aes128Gcm::new_from_slice(&cek)?
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| anyhow::anyhow!("aes-gcm"))?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + ciphertext.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.as_bytes().len() as u8);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    /// Decrypts as a user agent would (RFC 8291 §3.4 from the receiving side).
    fn decrypt(ua_secret: &SecretKey, auth: &[u8], body: &[u8]) -> Vec<u8> {
        let (salt, rest) = body.split_at(16);
        let idlen = rest[4] as usize;
        let as_public = &rest[5..5 + idlen];
        let ciphertext = &rest[5 + idlen..];
        let shared = p256::ecdh::diffie_hellman(
            ua_secret.to_nonzero_scalar(),
            PublicKey::from_sec1_bytes(as_public).unwrap().as_affine(),
        );
        let ua_public = ua_secret.public_key().to_encoded_point(false);
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(ua_public.as_bytes());
        info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .unwrap();
        let mut plain = Aes128Gcm::new_from_slice(&cek)
            .unwrap()
            .decrypt(&Nonce::from(nonce), ciphertext)
            .unwrap();
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }

    #[test]
    fn a_payload_decrypts_with_the_subscriptions_private_key_only() {
        let ua = random_secret();
        let auth = [7u8; 16];
        let p256dh = B64.encode(ua.public_key().to_encoded_point(false).as_bytes());
        let body = encrypt(&p256dh, &B64.encode(auth), b"{\"hello\":1}").unwrap();
        assert_eq!(&body[16..20], &RECORD_SIZE.to_be_bytes());
        assert_eq!(decrypt(&ua, &auth, &body), b"{\"hello\":1}");
        let again = encrypt(&p256dh, &B64.encode(auth), b"{\"hello\":1}").unwrap();
        assert_ne!(body, again, "a fresh salt and key each time");
    }

    #[test]
    fn malformed_subscription_keys_are_refused() {
        use crate::domain::push::check_keys;
        assert!(check_keys("AAAA", &B64.encode([0u8; 16])).is_err());
        let p = B64.encode(
            random_secret()
                .public_key()
                .to_encoded_point(false)
                .as_bytes(),
        );
        assert!(check_keys(&p, &B64.encode([0u8; 16])).is_ok());
        assert!(check_keys(&p, &B64.encode([0u8; 15])).is_err());
        assert!(check_keys(&p, "!!").is_err());
    }

    #[test]
    fn the_vapid_jwt_is_signed_for_the_endpoints_origin() {
        let vapid = Vapid::from_base64(&B64.encode(random_secret().to_bytes())).unwrap();
        let endpoint = url::Url::parse("https://push.example.com:8443/send/abc").unwrap();
        let header = vapid.authorization(&endpoint, "mailto:a@b.c", 1_000);
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (jwt, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, vapid.public_key);
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.com:8443");
        assert_eq!(claims["exp"], 1_000 + JWT_LIFETIME_SECS);
        let key = VerifyingKey::from_sec1_bytes(&B64.decode(k).unwrap()).unwrap();
        let sig = Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        key.verify(input.as_bytes(), &sig).unwrap();
    }
}
