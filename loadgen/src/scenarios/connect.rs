//! `connect`: authenticated connections per second. Opens `--connections` sockets, at most
//! `--concurrency` handshakes at a time, each with a token in the Socket.IO handshake; times
//! each to the accepted connect (`40`) and to the end of its (empty) catch-up (`synced`), and
//! keeps them open until all are done, as real clients would.

use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{StreamExt, stream};
use serde_json::json;

use super::{prepare_connections, source_ip};
use crate::Common;
use crate::sio::Conn;
use crate::stats::{self, Latency, histogram, record};

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Connections to open.
    #[arg(long, default_value_t = 2000)]
    pub connections: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Loopback source addresses to spread over (0 = as many as the count needs).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,
    /// Sockets per user (the server allows 20).
    #[arg(long, default_value_t = 20)]
    pub per_user: usize,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let c = opts.connections;
    let (target, users, ips) =
        prepare_connections(&opts.common, c, opts.per_user, opts.source_ips).await?;
    let start = Instant::now();
    let results: Vec<anyhow::Result<(Conn, Duration, Duration)>> = stream::iter(0..c)
        .map(|i| {
            let target = target.clone();
            let user = users[i % users.len()].clone();
            async move {
                let t0 = Instant::now();
                let (mut conn, times) =
                    Conn::connect(&target, &user.token, source_ip(i, ips)).await?;
                conn.wait_synced(Duration::from_secs(60)).await?;
                anyhow::Ok((conn, times.connected, t0.elapsed()))
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let mut connected = histogram();
    let mut ready = histogram();
    let mut conns = Vec::with_capacity(c);
    let mut failed = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Ok((conn, a, b)) => {
                record(&mut connected, a.as_micros() as u64);
                record(&mut ready, b.as_micros() as u64);
                conns.push(conn);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    let ok = conns.len();
    futures_util::future::join_all(conns.into_iter().map(Conn::close)).await;
    let rate = ok as f64 / elapsed;
    let connected = Latency::of(&connected);
    let ready = Latency::of(&ready);
    let mut summary = format!(
        "connect: {ok} authenticated connections ({failed} failed) in {elapsed:.2} s, {} at a time\n  {rate:.0} connections/s\n  to connect (40) {}\n  to synced       {}",
        opts.concurrency,
        connected.line(),
        ready.line()
    );
    if let Some(e) = first_error {
        summary.push_str(&format!("\n  first error: {e}"));
    }
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "connect",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "connections": ok,
            "failed": failed,
            "concurrency": opts.concurrency,
            "conns_per_s": rate.round(),
            "connected": connected,
            "ready": ready,
        }),
    );
    Ok(())
}
