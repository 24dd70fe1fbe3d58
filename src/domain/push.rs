//! The wire objects of notifications (docs/protocol.md "Notifications"): a device's pushers,
//! a person's room mutes, and the notification itself in its three privacy levels.

use serde::{Deserialize, Serialize};

use super::{RoomId, Seq, UserId};

/// Where a device asks to be notified: a Web Push subscription or an HTTP push gateway.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Pusher {
    pub id: i64,
    /// `webpush` or `gateway`.
    pub kind: String,
    /// The push service endpoint (Web Push) or the gateway URL.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushkey: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(with = "super::time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// `room:unmuted`: the person unmuted a room (on another device, or this one).
#[derive(Clone, Debug, Serialize)]
pub struct Unmuted {
    pub room_id: RoomId,
}

/// A room muted by the person, on all their devices; `until` absent means for good.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Mute {
    pub room_id: RoomId,
    /// Unix milliseconds; `null` for good. A mute that has expired is not listed.
    pub until: Option<i64>,
}

/// How much a notification reveals (`MISSIVE_PUSH_CONTENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushContent {
    /// Sender and text.
    Full,
    /// Only who wrote.
    Sender,
    /// Only that something arrived in a room.
    None,
}

impl std::str::FromStr for PushContent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "sender" => Ok(Self::Sender),
            "none" => Ok(Self::None),
            other => Err(format!("expected full, sender or none, got {other:?}")),
        }
    }
}

/// What a push carries: the Web Push payload (before encryption) and the gateway's
/// `notification` object.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notification {
    pub room_id: RoomId,
    /// The newest message this notification is about (coalesced ones are counted in `unread`).
    pub seq: Seq,
    /// The person's unread count in the room.
    pub unread: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The longest body a notification carries, in characters: a Web Push payload must fit in
/// about 3,990 bytes once encrypted, and a notification shows a line or two anyway.
pub const MAX_NOTIFICATION_BODY: usize = 500;

impl Notification {
    /// The notification of `content` level about the newest message.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        content: PushContent,
        room_id: RoomId,
        seq: Seq,
        unread: i64,
        sender_id: UserId,
        sender_name: &str,
        room_name: Option<&str>,
        body: &str,
    ) -> Self {
        let reveal_sender = content != PushContent::None;
        Self {
            room_id,
            seq,
            unread,
            sender_id: reveal_sender.then_some(sender_id),
            sender_name: reveal_sender.then(|| sender_name.to_owned()),
            room_name: reveal_sender
                .then(|| room_name.map(str::to_owned))
                .flatten(),
            body: (content == PushContent::Full)
                .then(|| body.chars().take(MAX_NOTIFICATION_BODY).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_privacy_level_reveals_only_what_it_names() {
        let build =
            |c| Notification::build(c, RoomId(1), Seq(7), 3, UserId(2), "Ann", Some("G"), "hi");
        let full = build(PushContent::Full);
        assert_eq!(full.body.as_deref(), Some("hi"));
        assert_eq!(full.sender_name.as_deref(), Some("Ann"));
        let sender = build(PushContent::Sender);
        assert_eq!(sender.body, None);
        assert_eq!(sender.sender_id, Some(UserId(2)));
        let none = build(PushContent::None);
        assert_eq!(
            (none.body, none.sender_id, none.sender_name, none.room_name),
            (None, None, None, None)
        );
        assert_eq!(
            (none.room_id, none.seq, none.unread),
            (RoomId(1), Seq(7), 3)
        );
    }

    #[test]
    fn long_bodies_are_cut_to_the_notification_limit() {
        let long = "é".repeat(MAX_NOTIFICATION_BODY * 2);
        let n = Notification::build(
            PushContent::Full,
            RoomId(1),
            Seq(1),
            1,
            UserId(1),
            "A",
            None,
            &long,
        );
        assert_eq!(n.body.unwrap().chars().count(), MAX_NOTIFICATION_BODY);
    }
}

/// The longest pusher URL accepted.
pub const MAX_PUSHER_URL: usize = 2048;

/// Checks a pusher URL: `https` (plain `http` only with `allow_private`), a host, no user or
/// password, and, when the host is an address or `localhost`, a public one unless
/// `allow_private`. Names are checked again when resolved, before every connection.
pub fn check_pusher_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    if raw.len() > MAX_PUSHER_URL {
        return Err(format!("url is longer than {MAX_PUSHER_URL} bytes"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("url is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("url must be https".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials".into());
    }
    let public = match url.host() {
        None => return Err("url has no host".into()),
        Some(url::Host::Ipv4(ip)) => is_public_ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_public_ip(ip.into()),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    };
    if !public && !allow_private {
        return Err("url must not point at a loopback or private address".into());
    }
    Ok(url)
}

/// True for an address on the public internet: not loopback, private, link-local, shared
/// (CGNAT), unspecified, broadcast, multicast or documentation space, in IPv4 or IPv6 (an
/// IPv4-mapped IPv6 address is judged as its IPv4 address).
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Checks a subscription's keys as the browser gives them (`p256dh`: an uncompressed P-256
/// point, `auth`: 16 bytes, both base64url).
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let point = B64
        .decode(p256dh.trim_end_matches('='))
        .map_err(|_| "keys.p256dh is not base64url")?;
    if point.len() != 65 || p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return Err("keys.p256dh is not an uncompressed P-256 public key".into());
    }
    let secret = B64
        .decode(auth.trim_end_matches('='))
        .map_err(|_| "keys.auth is not base64url")?;
    if secret.len() != 16 {
        return Err("keys.auth must be 16 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn only_https_urls_to_public_hosts_are_pushers() {
        let cases = [
            ("https://fcm.googleapis.com/fcm/send/abc", false, true),
            ("https://push.example.com:8443/x", false, true),
            ("http://push.example.com/x", false, false),
            ("ftp://push.example.com/x", false, false),
            ("https://127.0.0.1/x", false, false),
            ("https://localhost/x", false, false),
            ("https://a.localhost./x", false, false),
            ("https://10.1.2.3/x", false, false),
            ("https://172.16.0.1/x", false, false),
            ("https://192.168.1.1/x", false, false),
            ("https://169.254.169.254/latest/meta-data", false, false),
            ("https://100.64.0.1/x", false, false),
            ("https://0.0.0.0/x", false, false),
            ("https://[::1]/x", false, false),
            ("https://[fd00::1]/x", false, false),
            ("https://[fe80::1]/x", false, false),
            ("https://[::ffff:127.0.0.1]/x", false, false),
            ("https://user:pw@push.example.com/x", false, false),
            ("not a url", false, false),
            ("https://8.8.8.8/x", false, true),
            ("http://127.0.0.1:9/x", true, true),
            ("https://[::1]/x", true, true),
        ];
        for (url, allow, ok) in cases {
            assert_eq!(
                check_pusher_url(url, allow).is_ok(),
                ok,
                "{url} (allow_private {allow})"
            );
        }
        let long = format!("https://push.example.com/{}", "a".repeat(MAX_PUSHER_URL));
        assert!(check_pusher_url(&long, false).is_err());
    }
}
