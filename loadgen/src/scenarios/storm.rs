//! `storm`: N registrations at once, then N logins of the same users at once, and the
//! server's resident memory after each wave (`VmRSS`, and the peak so far, `VmHWM`, of
//! `--server-pid`). Password hashing is the expensive part of both (argon2id, 19 MiB of work
//! area per hash), so this is what shows whether a flood of them leaves the server holding
//! memory. A request answered 503 `unavailable` (the server's hashing queue is full) or 429 is
//! retried after a short pause, as a client would; the retries are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use futures_util::future::try_join_all;
use serde_json::json;

use crate::Common;
use crate::api::Api;
use crate::stats::{self, hwm_kib, rss_kib};

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Users registered (then logged in), all at once.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// The server's process id, for its memory.
    #[arg(long)]
    pub server_pid: u32,
    /// Milliseconds to wait before retrying a busy answer; the wait doubles with each busy
    /// answer in a row, up to `--retry-max-ms`, as a well-behaved client backs off.
    #[arg(long, default_value_t = 100)]
    pub retry_ms: u64,
    /// The longest wait between retries of one user.
    #[arg(long, default_value_t = 2000)]
    pub retry_max_ms: u64,
    /// Seconds to wait after each wave before reading memory.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
}

/// One wave: every user at once; returns (seconds, busy answers retried).
async fn wave(
    api: &Api,
    names: &[String],
    login: bool,
    retry: Duration,
    retry_max: Duration,
) -> anyhow::Result<(f64, u64)> {
    let busy = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    try_join_all(names.iter().map(|name| {
        let busy = busy.clone();
        async move {
            let mut wait = retry;
            while !api.auth_attempt(name, login).await? {
                busy.fetch_add(1, Ordering::Relaxed);
                if Instant::now() > deadline {
                    anyhow::bail!("still busy after 600 s");
                }
                // Half to all of the current wait, so retries do not arrive in lockstep.
                let jitter = 0.5 + 0.5 * (started.elapsed().subsec_nanos() % 1000) as f64 / 1000.0;
                tokio::time::sleep(wait.mul_f64(jitter)).await;
                wait = (wait * 2).min(retry_max);
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    Ok((
        started.elapsed().as_secs_f64(),
        busy.load(Ordering::Relaxed),
    ))
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let api = Api::new(&opts.common.url)?;
    let pid = opts.server_pid;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        % 10_000_000_000;
    let names: Vec<String> = (0..opts.count).map(|i| format!("st{stamp}_{i}")).collect();
    let settle = Duration::from_secs_f64(opts.settle);
    let retry = Duration::from_millis(opts.retry_ms.max(1));
    let retry_max = Duration::from_millis(opts.retry_max_ms.max(opts.retry_ms).max(1));
    let mib = |kib: u64| kib as f64 / 1024.0;

    let rss0 = rss_kib(pid).context("reading the server's memory")?;
    let (reg_s, reg_busy) = wave(&api, &names, false, retry, retry_max).await?;
    tokio::time::sleep(settle).await;
    let (rss_reg, hwm_reg) = (rss_kib(pid)?, hwm_kib(pid)?);
    let (login_s, login_busy) = wave(&api, &names, true, retry, retry_max).await?;
    tokio::time::sleep(settle).await;
    let (rss_login, hwm_login) = (rss_kib(pid)?, hwm_kib(pid)?);

    let n = opts.count as f64;
    let summary = format!(
        "storm: {} registrations, then {} logins, all at once\n  registrations {:.1} s ({:.0}/s, {} busy answers retried); logins {:.1} s ({:.0}/s, {} retried)\n  server RSS: {:.1} MiB before, {:.1} MiB after the registrations (peak {:.1}), {:.1} MiB after the logins (peak {:.1})",
        opts.count,
        opts.count,
        reg_s,
        n / reg_s,
        reg_busy,
        login_s,
        n / login_s,
        login_busy,
        mib(rss0),
        mib(rss_reg),
        mib(hwm_reg),
        mib(rss_login),
        mib(hwm_login),
    );
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "storm",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "count": opts.count,
            "register_s": reg_s,
            "register_busy": reg_busy,
            "login_s": login_s,
            "login_busy": login_busy,
            "rss_before_kib": rss0,
            "rss_after_register_kib": rss_reg,
            "hwm_after_register_kib": hwm_reg,
            "rss_after_login_kib": rss_login,
            "hwm_after_login_kib": hwm_login,
        }),
    );
    Ok(())
}
