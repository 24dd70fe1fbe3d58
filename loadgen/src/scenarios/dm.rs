//! `dm`: N pairs of users exchanging direct messages in both directions. Open loop sends at a
//! fixed total rate on a schedule (latency counts from the scheduled time, so a slow server
//! cannot hide its queueing); closed loop keeps `--window` unacked sends per sender to find
//! the maximum. One task drives both sockets of a pair, so a message's ack and its delivery
//! are seen by the same task without locks. A message counts only when acked (durably
//! stored) and delivered to the other user.
//!
//! Messages are addressed by the direct room's `room_id`, or with `--to` by the other user's
//! id (`message:send` `{to, body}`). `--peer` runs the same load against the Node peer of
//! `bench/node-peer` (no accounts: the handshake token is the user id; sends by `to`).
//! `--server-pid` samples the server's memory during the run.

use std::time::Duration;

use clap::Args;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;

use super::{AckReply, MsgLite, body, parse_body, run_stamp};
use crate::Common;
use crate::api::{self, User};
use crate::sio::{Conn, Kind, Target};
use crate::stats::{self, Latency, at_us, histogram, now_us, record};

#[derive(Args, Debug, Clone)]
pub struct Opts {
    #[command(flatten)]
    pub common: Common,
    /// Pairs of users; both users of a pair send.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Total messages per second over all senders (open loop); 0 = closed loop.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Closed loop: unacked sends in flight per sender.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Seconds of measured sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds to wait, after sending stops, for outstanding acks and deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 32)]
    pub body_size: usize,
    /// Open loop: a pair skips (sheds) scheduled sends while this many of its messages are
    /// not yet acked and delivered, so an overloaded server is not buried under a backlog
    /// that would spill into the next run.
    #[arg(long, default_value_t = 200)]
    pub max_outstanding: u64,
    /// Seconds to wait, unmeasured, after the drain for the server to finish what was sent.
    #[arg(long, default_value_t = 60.0)]
    pub quiesce: f64,
    /// Send without `client_id` (no idempotency key).
    #[arg(long)]
    pub no_client_id: bool,
    /// Another node of the same cluster (repeatable). With nodes `--url`, `--also-url`…, the
    /// two users of pair p connect to nodes 2p and 2p+1 (modulo their number), so with two or
    /// more nodes both users of every pair sit on different nodes and every message crosses
    /// the bus. Users are registered and rooms created through `--url`.
    #[arg(long = "also-url")]
    pub also_url: Vec<String>,
    /// Address messages by the other user's id (`to`) instead of the direct room's id.
    #[arg(long)]
    pub to: bool,
    /// The server is the Node peer (`bench/node-peer`): users are made-up ids, each connects
    /// with its id as the token, and messages are addressed by `to`.
    #[arg(long)]
    pub peer: bool,
    /// The server's process id: its resident memory is sampled during the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// The nodes the two users of pair `pair` connect to, out of `nodes`.
fn pair_nodes(pair: usize, nodes: usize) -> [usize; 2] {
    let n = nodes.max(1);
    [(2 * pair) % n, (2 * pair + 1) % n]
}

const ACKED: u8 = 1;
const DELIVERED: u8 = 2;
const FAILED: u8 = 4;
const MEASURED: u8 = 8;
/// Ack id of the final `message:ack`, outside the range of message numbers.
const FINAL_ACK: u64 = 1 << 48;

struct Side {
    conn: Conn,
    /// Send (or scheduled) time of message n, µs.
    sent_at: Vec<u64>,
    flags: Vec<u8>,
    max_seq: i64,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    delivered: u64,
    complete: u64,
    errors: u64,
    shed: u64,
    last_complete_us: u64,
    first_error: Option<String>,
}

struct PairOut {
    tally: Tally,
    ack: Histogram<u64>,
    deliver: Histogram<u64>,
}

struct Plan {
    pair: usize,
    pairs: usize,
    /// The direct room (absent against the peer, which has none).
    room_json: Option<String>,
    /// What side `s` puts in its sends: `"room_id":…` or `"to":<the other user>`.
    address: [String; 2],
    client_prefix: Option<String>,
    opts: Opts,
}

pub async fn run(opts: Opts) -> anyhow::Result<()> {
    let nodes = std::iter::once(&opts.common.url)
        .chain(&opts.also_url)
        .map(|u| Target::from_url(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let api = api::Api::new(&opts.common.url)?;
    let stamp = run_stamp();
    let users = if opts.peer {
        // The peer has no accounts: a user is its id, which is also its token.
        (0..opts.pairs * 2)
            .map(|i| {
                let id = format!("{stamp}-u{i}");
                User {
                    id: id.clone(),
                    username: id.clone(),
                    token: id,
                }
            })
            .collect()
    } else {
        api::users(
            &api,
            opts.common.users.as_deref(),
            opts.pairs * 2,
            opts.common.register_concurrency,
        )
        .await?
    };
    let (ready_tx, mut ready_rx) = mpsc::channel::<anyhow::Result<()>>(opts.pairs.max(1));
    let (start_tx, start_rx) = watch::channel::<Option<u64>>(None);
    let mut tasks = Vec::new();
    for (pair, users) in users.chunks(2).enumerate() {
        let room_json = if opts.peer {
            None
        } else {
            Some(serde_json::to_string(
                &api.direct_room(&users[0], &users[1]).await?,
            )?)
        };
        let address = if opts.to || opts.peer {
            [
                format!("\"to\":{}", serde_json::to_string(&users[1].id)?),
                format!("\"to\":{}", serde_json::to_string(&users[0].id)?),
            ]
        } else {
            let room = room_json.clone().unwrap_or_default();
            [format!("\"room_id\":{room}"), format!("\"room_id\":{room}")]
        };
        let plan = Plan {
            pair,
            pairs: opts.pairs,
            room_json,
            address,
            client_prefix: (!opts.no_client_id).then(|| format!("{stamp}-{pair}")),
            opts: opts.clone(),
        };
        tasks.push(tokio::spawn(run_pair(
            plan,
            pair_nodes(pair, nodes.len()).map(|i| nodes[i].clone()),
            [users[0].clone(), users[1].clone()],
            ready_tx.clone(),
            start_rx.clone(),
        )));
    }
    drop(ready_tx);
    for _ in 0..opts.pairs {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e.context("connecting a pair")),
            None => anyhow::bail!("pair tasks ended before connecting"),
        }
    }
    let start = now_us() + 20_000;
    start_tx.send_replace(Some(start));
    let rss = opts.server_pid.map(stats::RssSampler::start);

    let mut total = Tally::default();
    let mut ack = histogram();
    let mut deliver = histogram();
    for t in tasks {
        let out = t.await??;
        total.sent += out.tally.sent;
        total.acked += out.tally.acked;
        total.delivered += out.tally.delivered;
        total.complete += out.tally.complete;
        total.errors += out.tally.errors;
        total.shed += out.tally.shed;
        total.last_complete_us = total.last_complete_us.max(out.tally.last_complete_us);
        if total.first_error.is_none() {
            total.first_error = out.tally.first_error;
        }
        ack.add(&out.ack)?;
        deliver.add(&out.deliver)?;
    }
    let measure_from = start + (opts.warmup * 1e6) as u64;
    let window_s = (opts.duration).max(1e-3);
    let elapsed_s = if total.last_complete_us > measure_from {
        ((total.last_complete_us - measure_from) as f64 / 1e6).max(window_s)
    } else {
        window_s
    };
    let rate = total.complete as f64 / elapsed_s;
    let (rss_peak_kib, rss_end_kib) = match (&rss, opts.server_pid) {
        (Some(r), Some(pid)) => (Some(r.peak_kib()), stats::rss_kib(pid).ok()),
        _ => (None, None),
    };
    drop(rss);
    let addressing = if opts.to || opts.peer {
        "to"
    } else {
        "room_id"
    };
    let server = if opts.peer { "node-peer" } else { "missive" };
    let ack_l = Latency::of(&ack);
    let del_l = Latency::of(&deliver);
    let mode = if opts.rate > 0 {
        format!("open loop at {} msgs/s", opts.rate)
    } else {
        format!("closed loop, window {}", opts.window)
    };
    let mut summary = format!(
        "dm: {} pairs, {mode}, {:.0} s measured, {} B bodies, addressed by {addressing}, {server}\n  sent {}  acked {}  delivered {}  complete {}  errors {}  shed {}\n  throughput {:.0} msgs/s (acked and delivered)\n  send→ack     {}\n  send→deliver {}",
        opts.pairs,
        opts.duration,
        opts.body_size,
        total.sent,
        total.acked,
        total.delivered,
        total.complete,
        total.errors,
        total.shed,
        rate,
        ack_l.line(),
        del_l.line()
    );
    if let Some(e) = &total.first_error {
        summary.push_str(&format!("\n  first error: {e}"));
    }
    if let (Some(peak), Some(end)) = (rss_peak_kib, rss_end_kib) {
        summary.push_str(&format!(
            "\n  server RSS during the run: peak {:.1} MiB (sampled every 100 ms), {:.1} MiB at the end",
            peak as f64 / 1024.0,
            end as f64 / 1024.0
        ));
    }
    stats::emit(
        opts.common.json,
        &summary,
        json!({
            "scenario": "dm",
            "label": opts.common.label,
            "setup": opts.common.setup,
            "server": server,
            "addressing": addressing,
            "rss_peak_kib": rss_peak_kib,
            "rss_end_kib": rss_end_kib,
            "mode": if opts.rate > 0 { "open" } else { "closed" },
            "pairs": opts.pairs,
            "rate": opts.rate,
            "window": opts.window,
            "duration_s": opts.duration,
            "body_size": opts.body_size,
            "sent": total.sent,
            "acked": total.acked,
            "delivered": total.delivered,
            "complete": total.complete,
            "errors": total.errors,
            "shed": total.shed,
            "msgs_per_s": rate.round(),
            "ack": ack_l,
            "deliver": del_l,
        }),
    );
    Ok(())
}

async fn run_pair(
    plan: Plan,
    targets: [Target; 2],
    users: [User; 2],
    ready: mpsc::Sender<anyhow::Result<()>>,
    mut start_rx: watch::Receiver<Option<u64>>,
) -> anyhow::Result<PairOut> {
    let connect = async {
        let mut sides = Vec::with_capacity(2);
        for (u, target) in users.iter().zip(&targets) {
            let (mut conn, _) = Conn::connect_retry(target, &u.token, None).await?;
            conn.wait_synced(Duration::from_secs(60)).await?;
            sides.push(Side {
                conn,
                sent_at: Vec::new(),
                flags: Vec::new(),
                max_seq: 0,
            });
        }
        anyhow::Ok(sides)
    };
    let mut sides = match connect.await {
        Ok(s) => {
            let _ = ready.send(Ok(())).await;
            s
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let _ = ready.send(Err(e)).await;
            anyhow::bail!(msg);
        }
    };
    let start = loop {
        if let Some(s) = *start_rx.borrow_and_update() {
            break s;
        }
        start_rx.changed().await?;
    };
    let o = &plan.opts;
    let measure_from = start + (o.warmup * 1e6) as u64;
    let stop = measure_from + (o.duration * 1e6) as u64;
    let deadline = stop + (o.drain * 1e6) as u64;
    let quiesce = deadline + (o.quiesce * 1e6) as u64;
    let open = o.rate > 0;
    // Open loop: this pair sends rate/pairs per second, alternating sides, offset so pairs
    // interleave evenly.
    let period_us = if open {
        (plan.pairs as f64 * 1e6 / o.rate as f64).max(1.0)
    } else {
        0.0
    };
    let mut tick: u64 = 0;
    let first_due = start as f64 + period_us * plan.pair as f64 / plan.pairs as f64;
    let due = |k: u64| (first_due + period_us * k as f64) as u64;

    let mut tally = Tally::default();
    let mut ack_h = histogram();
    let mut del_h = histogram();
    let mut done: u64 = 0;

    sleep_until(at_us(start).into()).await;
    if !open {
        for s in 0..2 {
            for _ in 0..o.window {
                send(&plan, &mut sides, s, now_us(), measure_from, &mut tally).await?;
            }
        }
    }

    loop {
        let now = now_us();
        let sending = now < stop;
        let all_sent = (sides[0].sent_at.len() + sides[1].sent_at.len()) as u64;
        if (!sending && done >= all_sent) || now >= quiesce {
            break;
        }
        let wake = if open && sending {
            due(tick).min(stop)
        } else if sending {
            stop
        } else if now < deadline {
            deadline
        } else {
            quiesce
        };
        enum Ev {
            Recv(usize, anyhow::Result<Option<crate::sio::Packet>>),
            Wake,
        }
        let ev = {
            let (a, b) = sides.split_at_mut(1);
            tokio::select! {
                r = a[0].conn.recv() => Ev::Recv(0, r),
                r = b[0].conn.recv() => Ev::Recv(1, r),
                _ = sleep_until(at_us(wake).into()) => Ev::Wake,
            }
        };
        match ev {
            Ev::Wake => {
                if open {
                    let now = now_us();
                    while due(tick) <= now && due(tick) < stop {
                        let side = (tick % 2) as usize;
                        let all_sent = (sides[0].sent_at.len() + sides[1].sent_at.len()) as u64;
                        if all_sent - done >= o.max_outstanding {
                            if due(tick) >= measure_from {
                                tally.shed += 1;
                            }
                        } else {
                            send(&plan, &mut sides, side, due(tick), measure_from, &mut tally)
                                .await?;
                        }
                        tick += 1;
                    }
                }
            }
            Ev::Recv(s, r) => {
                let Some(p) = r? else {
                    anyhow::bail!("pair {}: connection closed by the server", plan.pair);
                };
                match p.kind {
                    Kind::Ack if p.id == Some(FINAL_ACK) => {}
                    Kind::Ack => {
                        let Some(n) = p.id.map(|i| i as usize) else {
                            continue;
                        };
                        let now = now_us();
                        let side = &mut sides[s];
                        if n >= side.flags.len() || side.flags[n] & (ACKED | FAILED) != 0 {
                            continue;
                        }
                        let measured = side.flags[n] & MEASURED != 0 && now < deadline;
                        let reply: anyhow::Result<AckReply> = p.ack_data();
                        match reply {
                            Ok(r) if r.ok => {
                                side.flags[n] |= ACKED;
                                if measured {
                                    tally.acked += 1;
                                    record(&mut ack_h, now.saturating_sub(side.sent_at[n]));
                                }
                                if side.flags[n] & DELIVERED != 0 {
                                    done += 1;
                                    if measured {
                                        tally.complete += 1;
                                        tally.last_complete_us = now;
                                    }
                                }
                            }
                            other => {
                                side.flags[n] |= FAILED;
                                done += 1;
                                if measured {
                                    tally.errors += 1;
                                }
                                if tally.first_error.is_none() {
                                    tally.first_error = Some(match other {
                                        Ok(r) => format!("{:?}", r.error),
                                        Err(e) => format!("{e:#}"),
                                    });
                                }
                            }
                        }
                        if !open && now < stop {
                            send(&plan, &mut sides, s, now, measure_from, &mut tally).await?;
                        }
                    }
                    Kind::Event => match p.event_name() {
                        Some("message") => {
                            let now = now_us();
                            let Ok(m) = p.event_data::<MsgLite>() else {
                                continue;
                            };
                            sides[s].max_seq = sides[s].max_seq.max(m.seq);
                            let Some((origin, n, _)) = parse_body(&m.body) else {
                                continue;
                            };
                            if origin == s || origin > 1 {
                                continue; // the sender's own copy
                            }
                            let n = n as usize;
                            let from = &mut sides[origin];
                            if n >= from.flags.len() || from.flags[n] & DELIVERED != 0 {
                                continue;
                            }
                            from.flags[n] |= DELIVERED;
                            let measured = from.flags[n] & MEASURED != 0 && now < deadline;
                            if measured {
                                tally.delivered += 1;
                                record(&mut del_h, now.saturating_sub(from.sent_at[n]));
                            }
                            if from.flags[n] & ACKED != 0 {
                                done += 1;
                                if measured {
                                    tally.complete += 1;
                                    tally.last_complete_us = now;
                                }
                            }
                        }
                        Some("sync") => {
                            sides[s].conn.ack_sync(&p).await?;
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    // Leave both users caught up so later runs do not replay this run's messages (the peer
    // keeps no cursors).
    let room = plan.room_json.clone().unwrap_or_default();
    for side in sides.iter_mut().filter(|_| plan.room_json.is_some()) {
        if side.max_seq > 0 {
            let data = format!("{{\"room_id\":{room},\"seq\":{}}}", side.max_seq);
            side.conn
                .emit_raw("message:ack", &data, Some(FINAL_ACK))
                .await?;
        }
    }
    for side in sides.iter_mut().filter(|_| plan.room_json.is_some()) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(p)) = side.conn.recv().await {
                if p.kind == Kind::Ack && p.id == Some(FINAL_ACK) {
                    break;
                }
            }
        })
        .await;
    }
    for side in sides {
        side.conn.close().await;
    }
    Ok(PairOut {
        tally,
        ack: ack_h,
        deliver: del_h,
    })
}

/// Sends side `s`'s next message, stamped `t_us` (its scheduled or actual send time).
async fn send(
    plan: &Plan,
    sides: &mut [Side],
    s: usize,
    t_us: u64,
    measure_from: u64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let side = &mut sides[s];
    let n = side.sent_at.len();
    let measured = t_us >= measure_from;
    side.sent_at.push(t_us);
    side.flags.push(if measured { MEASURED } else { 0 });
    if measured {
        tally.sent += 1;
    }
    let body = body(s, n as u64, t_us, plan.opts.body_size);
    let address = &plan.address[s];
    let data = match &plan.client_prefix {
        Some(prefix) => {
            format!("{{{address},\"body\":\"{body}\",\"client_id\":\"{prefix}-{s}-{n}\"}}")
        }
        None => format!("{{{address},\"body\":\"{body}\"}}"),
    };
    side.conn
        .emit_raw("message:send", &data, Some(n as u64))
        .await
}

#[cfg(test)]
mod tests {
    use super::pair_nodes;

    #[test]
    fn with_two_or_more_nodes_the_users_of_every_pair_sit_on_different_nodes() {
        assert_eq!(pair_nodes(0, 1), [0, 0]);
        assert_eq!(pair_nodes(7, 1), [0, 0]);
        for nodes in 2..=5 {
            let mut used = vec![0; nodes];
            for pair in 0..30 {
                let [a, b] = pair_nodes(pair, nodes);
                assert_ne!(a, b, "pair {pair} on {nodes} nodes");
                used[a] += 1;
                used[b] += 1;
            }
            assert!(
                used.iter().all(|&u| u >= 60 / nodes - 1),
                "{nodes} nodes: {used:?}"
            );
        }
    }
}
