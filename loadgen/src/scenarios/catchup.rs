//! `catchup`: a sender queues K direct messages for a user who is offline (pipelined, `--window`
//! unacked at a time, all acked = durably stored), then that user connects and the run times
//! the catch-up: from the start of the TCP connect to the last message of the last `sync`
//! batch (each batch acked as soon as it is read, as a client would), and to `synced`.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use super::{AckReply, body, run_stamp};
use crate::Common;
use crate::api;
use crate::sio::{Conn, Kind, Target};
use crate::stats;

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Messages queued for the offline user.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Unacked sends in flight while queueing.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub body_size: usize,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let target = Target::from_url(&opts.common.url)?;
    let api = api::Api::new(&opts.common.url)?;
    let users = api::users(
        &api,
        opts.common.users.as_deref(),
        2,
        opts.common.register_concurrency,
    )
    .await?;
    let (sender, receiver) = (&users[0], &users[1]);
    let room = api.direct_room(sender, receiver).await?;
    let room_json = serde_json::to_string(&room)?;
    let stamp = run_stamp();

    // Queue K messages.
    let (mut conn, _) = Conn::connect_retry(&target, &sender.token, None).await?;
    conn.wait_synced(Duration::from_secs(60)).await?;
    let k = opts.messages;
    let fill_start = std::time::Instant::now();
    let (mut next, mut acked) = (0usize, 0usize);
    while acked < k {
        while next < k && next - acked < opts.window.max(1) {
            let data = format!(
                "{{\"room_id\":{room_json},\"body\":\"{}\",\"client_id\":\"{stamp}-{next}\"}}",
                body(0, next as u64, 0, opts.body_size)
            );
            conn.emit_raw("message:send", &data, Some(next as u64))
                .await?;
            next += 1;
        }
        let p = tokio::time::timeout(Duration::from_secs(60), conn.recv())
            .await
            .context("no ack within 60 s while queueing")??
            .context("the sender's connection closed")?;
        if p.kind == Kind::Ack {
            let reply: AckReply = p.ack_data()?;
            if !reply.ok {
                bail!("send refused: {:?}", reply.error);
            }
            acked += 1;
        } else {
            conn.ack_sync(&p).await?;
        }
    }
    let fill_s = fill_start.elapsed().as_secs_f64();
    conn.close().await;
    eprintln!(
        "catchup: queued {k} messages in {fill_s:.2} s ({:.0} msgs/s from one sender)",
        k as f64 / fill_s
    );

    // The offline user connects.
    let t0 = std::time::Instant::now();
    let (mut conn, times) = Conn::connect_retry(&target, &receiver.token, None).await?;
    let mut got = 0usize;
    let mut batches = 0usize;
    let mut first_batch = None;
    let mut last_msg = None;
    let synced = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            let p = conn.recv().await?.context("closed during catch-up")?;
            if p.kind != Kind::Event {
                continue;
            }
            match p.event_name() {
                Some("sync") => {
                    let n = conn.ack_sync(&p).await?.unwrap_or(0);
                    batches += 1;
                    got += n;
                    first_batch.get_or_insert(t0.elapsed());
                    if got >= k && last_msg.is_none() {
                        last_msg = Some(t0.elapsed());
                    }
                }
                Some("synced") => return anyhow::Ok(t0.elapsed()),
                _ => {}
            }
        }
    })
    .await
    .context("catch-up did not finish within 600 s")??;
    conn.close().await;
    if got != k {
        bail!("catch-up delivered {got} messages, {k} were queued");
    }
    let last = last_msg.unwrap_or(synced).as_secs_f64();
    let rate = k as f64 / last;
    let summary = format!(
        "catchup: {k} queued messages, {batches} sync batches\n  connect {:.1} ms, first batch {:.1} ms, last message {:.3} s, synced {:.3} s\n  {rate:.0} msgs/s",
        times.connected.as_secs_f64() * 1e3,
        first_batch.unwrap_or_default().as_secs_f64() * 1e3,
        last,
        synced.as_secs_f64()
    );
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "catchup",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "messages": k,
            "batches": batches,
            "connect_ms": times.connected.as_secs_f64() * 1e3,
            "first_batch_ms": first_batch.unwrap_or_default().as_secs_f64() * 1e3,
            "last_message_s": last,
            "synced_s": synced.as_secs_f64(),
            "msgs_per_s": rate.round(),
            "fill_msgs_per_s": (k as f64 / fill_s).round(),
        }),
    );
    Ok(())
}
