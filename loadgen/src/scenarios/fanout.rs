//! `fanout`: one sender into a group of M online members. Members are connected before the
//! group is created (so no presence storm is measured), a few unmeasured messages check that
//! every member receives, then `--messages` are sent with at most `--window` in flight. Each
//! member task counts arrivals per message in shared atomics; the one that completes a message
//! reports when its last member got it. Reports latency to the first and the last member and
//! deliveries per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{StreamExt, stream};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::{AckReply, MsgLite, body, parse_body};
use crate::Common;
use crate::api::{self, User};
use crate::sio::{Conn, Kind, Target};
use crate::stats::{self, Latency, histogram, now_us, record};

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Online members of the group, besides the sender.
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Measured messages.
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Unmeasured messages sent first (they also prove every member is joined).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Messages in flight (not yet acked and delivered to every member).
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub body_size: usize,
    /// Members connecting at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

struct Shared {
    members: u32,
    counts: Vec<AtomicU32>,
    first_us: Vec<AtomicU64>,
    done: mpsc::UnboundedSender<(usize, u64)>,
    room: std::sync::OnceLock<String>,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let target = Target::from_url(&opts.common.url)?;
    let api = api::Api::new(&opts.common.url)?;
    let users = api::users(
        &api,
        opts.common.users.as_deref(),
        opts.members + 1,
        opts.common.register_concurrency,
    )
    .await?;
    let (sender, members) = users.split_first().context("no users")?;
    let total = opts.warmup + opts.messages;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        members: members.len() as u32,
        counts: (0..total).map(|_| AtomicU32::new(0)).collect(),
        first_us: (0..total).map(|_| AtomicU64::new(0)).collect(),
        done: done_tx,
        room: std::sync::OnceLock::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Members online first.
    let t = std::time::Instant::now();
    let conns: Vec<Conn> = stream::iter(members.iter().cloned())
        .map(|u: User| {
            let target = target.clone();
            async move {
                let (mut c, _) = Conn::connect_retry(&target, &u.token, None).await?;
                c.wait_synced(Duration::from_secs(120)).await?;
                anyhow::Ok(c)
            }
        })
        .buffer_unordered(opts.connect_concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "fanout: {} members online in {:.1} s",
        conns.len(),
        t.elapsed().as_secs_f64()
    );
    let mut tasks = Vec::new();
    for c in conns {
        tasks.push(tokio::spawn(member(c, shared.clone(), stop_rx.clone())));
    }
    let (mut conn, _) = Conn::connect_retry(&target, &sender.token, None).await?;
    conn.wait_synced(Duration::from_secs(60)).await?;
    let room = api
        .group(sender, &format!("fanout {}", members.len()), members)
        .await?;
    let room_json = serde_json::to_string(&room)?;
    let _ = shared.room.set(room);

    let mut ack_h = histogram();
    let mut first_h = histogram();
    let mut last_h = histogram();
    let mut sent_at = vec![0u64; total];
    let mut acked = vec![false; total];
    let mut delivered = vec![false; total];
    let mut next = 0usize;
    let mut completed = 0usize;
    let mut measured_start = 0u64;
    let mut measured_end = 0u64;
    let mut max_seq = 0i64;
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(60 + (total as u64) * members.len() as u64 / 2000);
    while completed < total {
        // Warm-up messages go one at a time; measured ones keep `window` in flight.
        let window = if next < opts.warmup {
            1
        } else {
            opts.window.max(1)
        };
        while next < total
            && next - completed < window
            && (next < opts.warmup || completed >= opts.warmup)
        {
            let t = now_us();
            if next == opts.warmup {
                measured_start = t;
            }
            sent_at[next] = t;
            let data = format!(
                "{{\"room_id\":{room_json},\"body\":\"{}\"}}",
                body(0, next as u64, t, opts.body_size)
            );
            conn.emit_raw("message:send", &data, Some(next as u64))
                .await?;
            next += 1;
        }
        let finished = tokio::select! {
            r = conn.recv() => {
                let Some(p) = r? else { bail!("the sender's connection closed") };
                match p.kind {
                    Kind::Ack => {
                        let n = p.id.unwrap_or(u64::MAX) as usize;
                        if n < total && !acked[n] {
                            let reply: AckReply = p.ack_data()?;
                            if !reply.ok {
                                bail!("send refused: {:?}", reply.error);
                            }
                            acked[n] = true;
                            if n >= opts.warmup {
                                record(&mut ack_h, now_us() - sent_at[n]);
                            }
                            delivered[n].then_some(n)
                        } else {
                            None
                        }
                    }
                    Kind::Event if p.event_name() == Some("message") => {
                        if let Ok(m) = p.event_data::<MsgLite>() {
                            max_seq = max_seq.max(m.seq);
                        }
                        None
                    }
                    _ => {
                        conn.ack_sync(&p).await?;
                        None
                    }
                }
            }
            Some((n, last_us)) = done_rx.recv() => {
                delivered[n] = true;
                if n >= opts.warmup {
                    record(&mut last_h, last_us.saturating_sub(sent_at[n]));
                    let first = shared.first_us[n].load(Ordering::Relaxed);
                    record(&mut first_h, first.saturating_sub(sent_at[n]));
                    measured_end = measured_end.max(last_us);
                }
                acked[n].then_some(n)
            }
            _ = tokio::time::sleep_until(deadline) => {
                bail!(
                    "fanout: timed out with {completed}/{total} messages delivered to all {} members",
                    members.len()
                );
            }
        };
        if finished.is_some() {
            completed += 1;
        }
    }
    let _ = conn
        .emit_raw(
            "message:ack",
            &format!("{{\"room_id\":{room_json},\"seq\":{max_seq}}}"),
            None,
        )
        .await;
    stop_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    conn.close().await;

    let m = members.len();
    let secs = (measured_end.saturating_sub(measured_start) as f64 / 1e6).max(1e-6);
    let deliveries_per_s = (opts.messages * m) as f64 / secs;
    let last = Latency::of(&last_h);
    let first = Latency::of(&first_h);
    let ack = Latency::of(&ack_h);
    let summary = format!(
        "fanout: {m} members, {} messages, window {}\n  deliveries {:.0}/s ({} deliveries in {:.2} s)\n  send→last member  {}\n  send→first member {}\n  send→ack          {}",
        opts.messages,
        opts.window,
        deliveries_per_s,
        opts.messages * m,
        secs,
        last.line(),
        first.line(),
        ack.line()
    );
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "fanout",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "members": m,
            "messages": opts.messages,
            "window": opts.window,
            "deliveries_per_s": deliveries_per_s.round(),
            "last": last,
            "first": first,
            "ack": ack,
        }),
    );
    Ok(())
}

async fn member(mut conn: Conn, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut max_seq = 0i64;
    loop {
        let p = tokio::select! {
            r = conn.recv() => match r {
                Ok(Some(p)) => p,
                _ => return,
            },
            _ = stop.changed() => break,
        };
        match p.kind {
            Kind::Event if p.event_name() == Some("message") => {
                let now = now_us();
                let Ok(m) = p.event_data::<MsgLite>() else {
                    continue;
                };
                max_seq = max_seq.max(m.seq);
                let Some((0, n, _)) = parse_body(&m.body) else {
                    continue;
                };
                let n = n as usize;
                if n >= shared.counts.len() {
                    continue;
                }
                let before = shared.counts[n].fetch_add(1, Ordering::AcqRel);
                if before == 0 {
                    shared.first_us[n].store(now, Ordering::Relaxed);
                }
                if before + 1 == shared.members {
                    let _ = shared.done.send((n, now));
                }
            }
            _ => {
                if conn.ack_sync(&p).await.is_err() {
                    return;
                }
            }
        }
    }
    // Leave this member caught up, so later runs do not replay the group.
    if let Some(room) = shared.room.get().filter(|_| max_seq > 0) {
        let _ = conn
            .emit(
                "message:ack",
                &json!({ "room_id": room, "seq": max_seq }),
                Some(1),
            )
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(p)) = conn.recv().await {
                if p.kind == Kind::Ack {
                    break;
                }
            }
        })
        .await;
    }
    conn.close().await;
}
