//! Notifications for devices that are not connected: the notifier reads each room's stream
//! past its own persisted cursor (`push_cursors`), records one pending notification per person
//! and room (coalescing bursts), and when one falls due — `MISSIVE_PUSH_DELAY` after the last
//! message, so a device that is reconnecting catches up instead — sends it to each of the
//! person's pushers, unless a device of theirs is connected anywhere in the cluster, has the
//! message already, or the room is muted.
//!
//! Cursor and pending rows move in one transaction and a pending row is removed only after
//! its pushes, so a restart neither loses nor repeats notifications (one in flight may be
//! sent twice: at least once). With several nodes on Postgres, one node holds the lease row
//! (`push_state`) and notifies; another takes over when its lease expires.
//!
//! `webpush` is the standards part (VAPID, RFC 8291 encryption); `net` the outbound HTTP
//! client that refuses loopback and private addresses.

pub mod net;
pub mod webpush;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::App;
use crate::domain::push::{Notification, PushContent};
use crate::domain::{RoomId, Seq, UserId, now_ms};
use crate::error::AppResult;
use crate::store::pushers::{Due, PusherTarget};
use webpush::Vapid;

/// A pending notification waits at most this many push delays after its first message, so a
/// conversation that never pauses still notifies.
const MAX_WAIT_DELAYS: i64 = 10;

/// Messages older than this when the notifier first sees them (it was down) are not news.
const STALE_MS: i64 = 24 * 3600 * 1000;

/// How long a node's notifier lease lasts without renewal, in polls (bounded below and
/// above): short enough that a node replacing a dead one notifies soon, long enough that a
/// busy node renews it in time.
const LEASE_POLLS: u32 = 10;

/// Attempts per push when the service answers 429 or 5xx or cannot be reached.
const MAX_ATTEMPTS: u32 = 5;

/// Pushes sent at once.
const MAX_CONCURRENT: usize = 16;

/// What the rest of the server needs of notifications: the public VAPID key.
pub struct Push {
    pub vapid: Vapid,
}

/// Loads (or generates) the VAPID key and starts the notifier.
pub async fn start(app: App) -> anyhow::Result<Arc<Push>> {
    let push = Arc::new(Push {
        vapid: Vapid::load(&app.config, &app.store).await?,
    });
    let notifier = Notifier {
        client: net::client(&app.config)?,
        content: app
            .config
            .push_content
            .parse()
            .map_err(|e: String| anyhow::anyhow!("MISSIVE_PUSH_CONTENT: {e}"))?,
        app,
        push: push.clone(),
        owner: crate::auth::tokens::random_id(),
        in_flight: Arc::new(Mutex::new(HashSet::new())),
        permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT)),
    };
    tokio::spawn(notifier.run());
    Ok(push)
}

#[derive(Clone)]
struct Notifier {
    app: App,
    push: Arc<Push>,
    client: reqwest::Client,
    content: PushContent,
    /// This node's name in the lease row.
    owner: String,
    /// Pending notifications being sent now, not to be picked up twice.
    in_flight: Arc<Mutex<HashSet<(UserId, RoomId)>>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Notifier {
    async fn run(self) {
        let delay = self.app.config.push_delay;
        let poll = (delay / 3).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lease = (poll * LEASE_POLLS).clamp(Duration::from_secs(2), Duration::from_secs(10));
        let lease = lease.as_millis() as i64;
        let mut leased_until = 0i64;
        loop {
            tick.tick().await;
            let now = now_ms();
            // SQLite is one node: nobody else to share with. Elsewhere, renew when a third of
            // the lease is left, not on every tick.
            let single = self.app.store.backend == crate::store::Backend::Sqlite;
            if !single && leased_until - now < lease * 2 / 3 {
                match self
                    .app
                    .store
                    .take_push_lease(&self.owner, now, now + lease)
                    .await
                {
                    Ok(true) => leased_until = now + lease,
                    Ok(false) => {
                        leased_until = 0;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "notifier: cannot take the lease");
                        leased_until = 0;
                        continue;
                    }
                }
            }
            if let Err(e) = self.scan().await {
                tracing::warn!(error = %e, "notifier: reading the streams failed");
            }
            if let Err(e) = self.dispatch().await {
                tracing::warn!(error = %e, "notifier: sending failed");
            }
        }
    }

    /// Turns new stream entries into pending notifications and moves the cursors past them.
    async fn scan(&self) -> AppResult<()> {
        let delay = self.app.config.push_delay.as_millis() as i64;
        let store = &self.app.store;
        let now = now_ms();
        for room in store.rooms_behind(200).await? {
            let entries = store.entries_for_push(room.room, room.cursor, 1000).await?;
            let Some(upto) = entries.last().map(|e| e.0) else {
                continue;
            };
            // Channels are broadcasts: their members are not notified of each post.
            let notifies = room.kind == "direct" || room.kind == "group";
            let news: Vec<_> = entries
                .iter()
                .filter(|(_, _, kind, at)| notifies && kind == "text" && now - at < STALE_MS)
                .collect();
            let mut pending: HashMap<UserId, (Seq, i64, i64)> = HashMap::new();
            if !news.is_empty() {
                let members = store.member_ids(room.room).await?;
                for (seq, sender, _, at) in news {
                    for &member in members.iter().filter(|m| *m != sender) {
                        pending.insert(member, (*seq, *at, at + delay));
                    }
                }
            }
            let rows: Vec<_> = pending
                .into_iter()
                .map(|(user, (seq, at, due))| (user, seq, at, due))
                .collect();
            store
                .record_pending(room.room, upto, &rows, delay * MAX_WAIT_DELAYS)
                .await?;
        }
        Ok(())
    }

    /// Sends the pending notifications that are due, each in its own task.
    async fn dispatch(&self) -> AppResult<()> {
        for due in self.app.store.due_pending(now_ms(), 200).await? {
            let key = (due.user, due.room);
            if !self.in_flight.lock().expect("in_flight").insert(key) {
                continue;
            }
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                return Ok(());
            };
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.notify(&due).await {
                    tracing::warn!(error = %e, user = %due.user, room = %due.room, "notifier: a notification failed");
                }
                this.in_flight.lock().expect("in_flight").remove(&key);
                drop(permit);
            });
        }
        Ok(())
    }

    /// Sends one (coalesced) notification to each of the person's pushers, if still wanted.
    async fn notify(&self, due: &Due) -> AppResult<()> {
        let store = &self.app.store;
        let wanted = match store.notification_facts(due).await? {
            None => None,
            Some(f) if f.muted || f.delivered_seq >= due.last_seq => None,
            Some(f) => Some(f),
        };
        let Some(facts) = wanted else {
            return store.finish_pending(due).await;
        };
        if self.app.shared.sockets(due.user).await? > 0 {
            // A connected device has it (or is catching up): no push.
            return store.finish_pending(due).await;
        }
        let room_name = (facts.room_kind != "direct").then_some(facts.room_name.as_str());
        let notification = Notification::build(
            self.content,
            due.room,
            due.last_seq,
            facts.unread,
            facts.sender_id,
            &facts.sender_name,
            room_name,
            &facts.body,
        );
        for target in store.push_targets(due.user).await? {
            self.send_with_retries(&target, &notification).await;
        }
        store.finish_pending(due).await
    }

    async fn send_with_retries(&self, target: &PusherTarget, notification: &Notification) {
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=MAX_ATTEMPTS {
            let outcome = self.send(target, notification).await;
            let kind = target.kind.as_str();
            match outcome {
                Outcome::Delivered => {
                    metrics::counter!("missive_push_total", "kind" => kind.to_owned(), "outcome" => "delivered").increment(1);
                    return;
                }
                Outcome::Gone => {
                    metrics::counter!("missive_push_total", "kind" => kind.to_owned(), "outcome" => "gone").increment(1);
                    tracing::info!(
                        pusher = target.id,
                        "push service says the subscription is gone: pusher removed"
                    );
                    if let Err(e) = self.app.store.drop_pusher(target.id).await {
                        tracing::warn!(error = %e, "removing a gone pusher");
                    }
                    return;
                }
                Outcome::Refused(why) => {
                    metrics::counter!("missive_push_total", "kind" => kind.to_owned(), "outcome" => "refused").increment(1);
                    tracing::warn!(pusher = target.id, %why, "push refused");
                    return;
                }
                Outcome::Retry { why, after } if attempt < MAX_ATTEMPTS => {
                    tracing::info!(pusher = target.id, %why, attempt, "push failed; retrying");
                    tokio::time::sleep(after.unwrap_or(backoff).min(Duration::from_secs(60))).await;
                    backoff *= 2;
                }
                Outcome::Retry { why, .. } => {
                    metrics::counter!("missive_push_total", "kind" => kind.to_owned(), "outcome" => "failed").increment(1);
                    tracing::warn!(pusher = target.id, %why, "push failed; giving up");
                }
            }
        }
    }

    async fn send(&self, target: &PusherTarget, notification: &Notification) -> Outcome {
        let config = &self.app.config;
        // Checked again at every send: the setting may have changed since it was registered.
        let url =
            match crate::domain::push::check_pusher_url(&target.url, config.push_allow_private) {
                Ok(url) => url,
                Err(why) => return Outcome::Refused(why),
            };
        let request = match target.kind.as_str() {
            "webpush" => {
                let payload = serde_json::to_vec(notification).unwrap_or_default();
                let (Some(p256dh), Some(auth)) = (&target.p256dh, &target.auth) else {
                    return Outcome::Refused("subscription keys missing".into());
                };
                let body = match webpush::encrypt(p256dh, auth, &payload) {
                    Ok(body) => body,
                    Err(e) => return Outcome::Refused(format!("encrypting: {e}")),
                };
                let now = jsonwebtoken::get_current_timestamp();
                self.client
                    .post(url.clone())
                    .header("TTL", config.push_ttl.as_secs().to_string())
                    .header("Urgency", "high")
                    .header("Content-Encoding", "aes128gcm")
                    .header("Content-Type", "application/octet-stream")
                    .header(
                        "Authorization",
                        self.push
                            .vapid
                            .authorization(&url, &config.push_subject, now),
                    )
                    .body(body)
            }
            _ => {
                // In the spirit of Matrix's push gateway API: the notification and the device.
                let body = serde_json::json!({
                    "notification": {
                        "room_id": notification.room_id,
                        "seq": notification.seq,
                        "sender_id": notification.sender_id,
                        "sender_name": notification.sender_name,
                        "room_name": notification.room_name,
                        "body": notification.body,
                        "counts": { "unread": notification.unread },
                        "devices": [{ "pushkey": target.pushkey, "app_id": target.app_id }],
                    }
                });
                self.client.post(url.clone()).json(&body)
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    why: format!(
                        "{}: {}",
                        url.host_str().unwrap_or_default(),
                        // Without the URL: a push endpoint is a secret capability.
                        net::error_chain(&e.without_url())
                    ),
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            200..=299 if target.kind == "gateway" => {
                // A gateway names the device tokens its relay rejected.
                let rejected = net::read_capped(response, net::MAX_RESPONSE)
                    .await
                    .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                    .and_then(|v| v.get("rejected").cloned())
                    .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
                    .unwrap_or_default();
                match &target.pushkey {
                    Some(key) if rejected.contains(key) => Outcome::Gone,
                    _ => Outcome::Delivered,
                }
            }
            200..=299 => Outcome::Delivered,
            404 | 410 => Outcome::Gone,
            429 | 500..=599 => Outcome::Retry {
                why: format!("HTTP {status}"),
                after: retry_after,
            },
            _ => Outcome::Refused(format!("HTTP {status}")),
        }
    }
}

enum Outcome {
    Delivered,
    /// 404/410: the subscription no longer exists.
    Gone,
    /// Not worth retrying.
    Refused(String),
    /// 429, 5xx, or no answer.
    Retry {
        why: String,
        after: Option<Duration>,
    },
}
