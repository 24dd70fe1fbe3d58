//! The outbound HTTP client for pushes: a timeout on every request, no redirects, and a
//! resolver that refuses names resolving to loopback or private addresses (unless
//! `MISSIVE_PUSH_ALLOW_PRIVATE`), checking the very addresses it connects to so DNS rebinding
//! cannot reach internal services.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::Config;
use crate::domain::push::is_public_ip;

pub fn client(config: &Config) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(config.push_timeout)
        .connect_timeout(config.push_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("missive/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver {
            allow_private: config.push_allow_private,
        }))
        .build()?)
}

struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addrs.iter().any(|a| !is_public_ip(a.ip())) {
                return Err(format!("{host} resolves to a loopback or private address").into());
            }
            if addrs.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An error with its causes, for logs (reqwest's own message hides the reason).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The most of a push service's or gateway's answer that is read.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// Reads at most `max` bytes of a response body; `None` if it is longer or breaks off, so a
/// hostile endpoint cannot make the server hold an endless answer.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > max {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}
