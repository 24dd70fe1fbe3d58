//! The workloads of issues 6 and 12, one module each, and what they share: reading the `message`
//! events the client cares about, message bodies that carry their own send time, connecting
//! many sockets at once, and unique `client_id` prefixes.

pub mod catchup;
pub mod connect;
pub mod dm;
pub mod fanout;
pub mod idle;
pub mod storm;

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// The fields of a `message` event the load generator reads.
#[derive(Deserialize)]
pub struct MsgLite<'a> {
    #[serde(borrow)]
    pub body: Cow<'a, str>,
    pub seq: i64,
}

/// `{ok, ...}` of an ack.
#[derive(Deserialize)]
pub struct AckReply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// A body `"<a> <b> <t_us> "` padded with `x` to `size` bytes (at least the header).
pub fn body(a: usize, b: u64, t_us: u64, size: usize) -> String {
    let mut s = format!("{a} {b} {t_us} ");
    while s.len() < size {
        s.push('x');
    }
    s
}

/// Reads `(a, b, t_us)` back from a `body`.
pub fn parse_body(body: &str) -> Option<(usize, u64, u64)> {
    let mut it = body.split(' ');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// A prefix for `client_id`s that no earlier run against the same database used.
pub fn run_stamp() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("lg{ms}")
}

/// The source address of the `i`-th connection when spreading over `n` loopback addresses
/// (`127.0.0.1` … `127.0.0.n`); `None` lets the kernel choose.
pub fn source_ip(i: usize, n: usize) -> Option<Ipv4Addr> {
    (n > 1).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % n) as u8))
}

/// How many loopback source addresses `c` connections need: one per 20,000 (the ephemeral
/// port range here is about 28,000), rounded up.
pub fn auto_source_ips(requested: usize, c: usize) -> usize {
    if requested > 0 {
        requested.min(254)
    } else {
        c.div_ceil(20_000).max(1) + usize::from(c > 10_000)
    }
}

/// What a many-connection scenario (`connect`, `idle`) needs before it starts: the server, a
/// file-descriptor limit checked against `c` connections, `per_user` connections per user's
/// worth of users, and how many loopback source addresses to spread over.
pub async fn prepare_connections(
    common: &crate::Common,
    c: usize,
    per_user: usize,
    source_ips: usize,
) -> anyhow::Result<(
    crate::sio::Target,
    std::sync::Arc<Vec<crate::api::User>>,
    usize,
)> {
    let target = crate::sio::Target::from_url(&common.url)?;
    let api = crate::api::Api::new(&common.url)?;
    let nofile = crate::stats::raise_nofile();
    if (c as u64) + 64 > nofile {
        anyhow::bail!("{c} connections need more file descriptors than the limit of {nofile}");
    }
    let users = crate::api::users(
        &api,
        common.users.as_deref(),
        c.div_ceil(per_user.max(1)),
        common.register_concurrency,
    )
    .await?;
    Ok((
        target,
        std::sync::Arc::new(users),
        auto_source_ips(source_ips, c),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let b = body(1, 42, 123456, 64);
        assert_eq!(b.len(), 64);
        assert_eq!(parse_body(&b), Some((1, 42, 123456)));
        assert_eq!(parse_body("hello"), None);
    }

    #[test]
    fn spreads_source_addresses() {
        assert_eq!(source_ip(0, 1), None);
        assert_eq!(source_ip(5, 4), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(auto_source_ips(0, 1000), 1);
        assert_eq!(auto_source_ips(0, 19_000), 2);
        assert_eq!(auto_source_ips(3, 19_000), 3);
    }
}
