//! `idle`: C authenticated connections that do nothing but answer pings, opened in two steps;
//! the server's resident memory (`VmRSS` of `--server-pid`) is read after each step has
//! settled, and the memory per connection is the slope between the two counts, so the
//! server's fixed memory cancels out. Raises `RLIMIT_NOFILE` to the hard limit and spreads
//! connections over several 127.0.0.x source addresses past one ephemeral port range.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};

use super::{prepare_connections, source_ip};
use crate::Common;
use crate::api::User;
use crate::sio::{Conn, Target};
use crate::stats::{self, rss_kib};

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Connections at the second (final) measurement.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Connections at the first measurement (default: half of --connections).
    #[arg(long)]
    pub first: Option<usize>,
    /// The server's process id, for its memory.
    #[arg(long)]
    pub server_pid: u32,
    /// Loopback source addresses to spread over (0 = as many as the count needs).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,
    /// Connections opening at once.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Seconds to wait after each step before reading memory.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Sockets per user (the server allows 20).
    #[arg(long, default_value_t = 20)]
    pub per_user: usize,
}

struct Step {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let c = opts.connections;
    let c1 = opts.first.unwrap_or(c / 2).min(c);
    let (target, users, ips) =
        prepare_connections(&opts.common, c, opts.per_user, opts.source_ips).await?;
    let pid = opts.server_pid;
    let rss0 = rss_kib(pid).context("reading the server's memory")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(c);

    let open = |range: std::ops::Range<usize>, tasks: &mut Vec<_>| {
        let (tx, rx) = mpsc::channel(range.len().max(1));
        for i in range {
            tasks.push(tokio::spawn(hold(
                target.clone(),
                users[i % users.len()].clone(),
                source_ip(i, ips),
                permits.clone(),
                tx.clone(),
                stop_rx.clone(),
                dropped.clone(),
            )));
        }
        rx
    };
    let settle = Duration::from_secs_f64(opts.settle);

    let t = std::time::Instant::now();
    let step1 = wait_step(open(0..c1, &mut tasks), c1).await;
    let t1 = t.elapsed();
    tokio::time::sleep(settle).await;
    let rss1 = rss_kib(pid)?;
    eprintln!(
        "idle: {} connected ({} failed) in {:.1} s; server RSS {} KiB",
        step1.ok,
        step1.failed,
        t1.as_secs_f64(),
        rss1
    );
    let t = std::time::Instant::now();
    let step2 = wait_step(open(c1..c, &mut tasks), c - c1).await;
    let t2 = t.elapsed();
    tokio::time::sleep(settle).await;
    let rss2 = rss_kib(pid)?;
    let lost = dropped.load(Ordering::Relaxed);
    let n1 = step1.ok;
    let n2 = step1.ok + step2.ok - lost;
    eprintln!(
        "idle: {n2} connected ({} failed, {lost} lost) in {:.1} s; server RSS {} KiB",
        step2.failed,
        t2.as_secs_f64(),
        rss2
    );
    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        for t in tasks {
            let _ = t.await;
        }
    })
    .await;

    let slope = if n2 > n1 {
        (rss2 as f64 - rss1 as f64) / (n2 - n1) as f64
    } else {
        f64::NAN
    };
    let average = if n2 > 0 {
        (rss2 as f64 - rss0 as f64) / n2 as f64
    } else {
        f64::NAN
    };
    let mut summary = format!(
        "idle: {n2} authenticated idle connections from {} users over {ips} source address(es)\n  server RSS: {rss0} KiB before, {rss1} KiB at {n1}, {rss2} KiB at {n2}\n  {slope:.1} KiB per connection (slope {n1}→{n2}); {average:.1} KiB average over the baseline",
        users.len()
    );
    if let Some(e) = step1.first_error.or(step2.first_error) {
        summary.push_str(&format!(
            "\n  {} connections failed; first error: {e}",
            step1.failed + step2.failed
        ));
    }
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "idle",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "connections": n2,
            "requested": c,
            "failed": step1.failed + step2.failed,
            "lost": lost,
            "first_count": n1,
            "rss_before_kib": rss0,
            "rss_first_kib": rss1,
            "rss_final_kib": rss2,
            "kib_per_conn": (slope * 10.0).round() / 10.0,
            "kib_per_conn_avg": (average * 10.0).round() / 10.0,
            "source_ips": ips,
        }),
    );
    Ok(())
}

async fn wait_step(mut rx: mpsc::Receiver<anyhow::Result<()>>, n: usize) -> Step {
    let mut step = Step {
        ok: 0,
        failed: 0,
        first_error: None,
    };
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(())) => step.ok += 1,
            Some(Err(e)) => {
                step.failed += 1;
                step.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            None => break,
        }
    }
    step
}

/// Opens one connection, reports it, and holds it (answering pings) until told to stop.
async fn hold(
    target: Target,
    user: User,
    source: Option<std::net::Ipv4Addr>,
    permits: Arc<Semaphore>,
    ready: mpsc::Sender<anyhow::Result<()>>,
    mut stop: watch::Receiver<bool>,
    dropped: Arc<AtomicUsize>,
) {
    let opened = async {
        let _permit = permits.acquire().await?;
        let (mut conn, _) = Conn::connect_retry(&target, &user.token, source).await?;
        conn.wait_synced(Duration::from_secs(120)).await?;
        anyhow::Ok(conn)
    }
    .await;
    let mut conn = match opened {
        Ok(c) => {
            let _ = ready.send(Ok(())).await;
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    drop(ready);
    loop {
        tokio::select! {
            r = conn.recv() => match r {
                Ok(Some(p)) => {
                    if conn.ack_sync(&p).await.is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                _ => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(conn);
}
