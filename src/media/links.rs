//! Signed download links. A browser cannot put `Authorization` on `<img src>`, so
//! `POST /api/attachments/links` mints URLs that carry `u` (the user), `exp` (Unix seconds) and
//! `sig`, an HMAC-SHA256 over them, the attachment id and the variant (original or thumbnail),
//! keyed by a key derived (HKDF) from the server secret. A link works only for that user, that
//! attachment and that variant, until `exp`; the download still checks that the user may read
//! the attachment, so a removed member's links stop working with their access.
//!
//! `exp` is rounded up to the next whole `TTL`, so links minted within the same window are the
//! same URL and the browser's cache serves them.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{AttachmentId, UserId};

/// How long a link lives, at least (and at most twice that).
pub const TTL_SECS: i64 = 3600;

/// Which bytes a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn tag(self) -> &'static str {
        match self {
            Self::Original => "o",
            Self::Thumbnail => "t",
        }
    }
}

pub struct LinkKey([u8; 32]);

impl LinkKey {
    /// The link key, derived from the server secret (never the secret itself).
    pub fn derive(secret: &[u8]) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret)
            .expand(b"missive media links v1", &mut key)
            .expect("32 bytes is a valid HKDF length");
        Self(key)
    }

    fn mac(&self, user: UserId, id: AttachmentId, variant: Variant, exp: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any size");
        mac.update(format!("{}:{id}:{user}:{exp}", variant.tag()).as_bytes());
        mac
    }

    /// The expiry of links minted at `now` (Unix seconds).
    pub fn expiry(now: i64) -> i64 {
        (now / TTL_SECS + 2) * TTL_SECS
    }

    /// The query string (`u=…&exp=…&sig=…`) of a link.
    pub fn sign(&self, user: UserId, id: AttachmentId, variant: Variant, exp: i64) -> String {
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(user, id, variant, exp).finalize().into_bytes());
        format!("u={user}&exp={exp}&sig={sig}")
    }

    /// Whether `sig` signs this link and it has not expired at `now` (Unix seconds). The
    /// comparison is constant-time.
    pub fn verify(
        &self,
        user: UserId,
        id: AttachmentId,
        variant: Variant,
        exp: i64,
        sig: &str,
        now: i64,
    ) -> bool {
        if exp < now {
            return false;
        }
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(user, id, variant, exp).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (i64, String) {
        let mut exp = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap(),
                Some(("sig", v)) => sig = v.to_owned(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn a_link_works_only_for_its_user_attachment_variant_and_time() {
        let key = LinkKey::derive(b"a secret that is long enough for the server");
        let now = 1_700_000_000;
        let exp = LinkKey::expiry(now);
        assert!(exp - now >= TTL_SECS && exp - now <= 2 * TTL_SECS);
        let (u, a, o) = (UserId(7), AttachmentId(9), Variant::Original);
        let (exp, sig) = parts(&key.sign(u, a, o, exp));
        let table = [
            (u, a, o, exp, now, true),
            (UserId(8), a, o, exp, now, false),
            (u, AttachmentId(10), o, exp, now, false),
            (u, a, Variant::Thumbnail, exp, now, false),
            (u, a, o, exp + 1, now, false),
            (u, a, o, exp, exp + 1, false),
        ];
        for (user, id, variant, e, at, want) in table {
            assert_eq!(
                key.verify(user, id, variant, e, &sig, at),
                want,
                "{user} {id} {variant:?} {e} {at}"
            );
        }
        let other = LinkKey::derive(b"another secret, also long enough for this");
        assert!(!other.verify(u, a, o, exp, &sig, now));
        assert!(!key.verify(u, a, o, exp, "not base64!", now));
    }

    #[test]
    fn links_minted_in_one_window_are_the_same_url() {
        let key = LinkKey::derive(b"a secret that is long enough for the server");
        let a = key.sign(
            UserId(1),
            AttachmentId(2),
            Variant::Original,
            LinkKey::expiry(7200),
        );
        let b = key.sign(
            UserId(1),
            AttachmentId(2),
            Variant::Original,
            LinkKey::expiry(10_799),
        );
        assert_eq!(a, b);
    }
}
