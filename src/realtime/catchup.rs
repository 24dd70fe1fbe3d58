//! Catch-up: sends a (re)connecting device every message past its cursor, room by room in `seq`
//! order, as `sync` batches of at most `BATCH` messages. Each batch waits for the client's ack
//! before the next is read from the database, so a backlog is never held in memory and the
//! socket's send buffer never overflows. An acked batch advances the user's `delivered_seq`; a
//! batch never acked is sent again on the next connection. A batch that cannot even be queued
//! (the socket's buffer is full of live entries) closes the socket's connection, so it does not
//! stay connected with entries missing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{AckError, SendError, SocketError};

use crate::app::App;
use crate::delivery::{admit_outbound, close_socket};
use crate::domain::events::{ServerEvent, SyncBatch, Synced};
use crate::domain::{RoomId, Seq, UserId, rules};
use crate::error::{AppError, AppResult};

pub const BATCH: i64 = 100;
/// How long a client may take to ack one batch before catch-up gives up (it resumes on the
/// next connection).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages still to be sent by running catch-ups on this node (for `/admin` stats).
pub static BACKLOG: AtomicI64 = AtomicI64::new(0);

pub async fn run<A: Adapter>(
    app: App,
    s: SocketRef<A>,
    user: UserId,
    cursors: Arc<HashMap<RoomId, Seq>>,
) {
    match catch_up(&app, &s, user, &cursors).await {
        Ok(Some(done)) => {
            let event = ServerEvent::Synced(done);
            let _ = s.emit(event.name(), &event);
        }
        Ok(None) => {} // the client stopped acking or left: resume next time
        Err(e) => {
            tracing::warn!(error = %e, "catch-up failed; disconnecting so the client retries");
            let _ = s.disconnect();
        }
    }
}

async fn catch_up<A: Adapter>(
    app: &App,
    s: &SocketRef<A>,
    user: UserId,
    cursors: &HashMap<RoomId, Seq>,
) -> AppResult<Option<Synced>> {
    let mut done = Synced::default();
    for (room, member) in app.store.memberships_of(user).await? {
        let mut cursor = rules::catch_up_from(cursors.get(&room).copied(), &member);
        if cursor >= member.last_seq {
            continue;
        }
        done.rooms += 1;
        let backlog = Backlog::new(member.last_seq.0 - cursor.0);
        loop {
            // A user removed while catching up gets nothing more of that room.
            if app.store.access(room, user).await?.is_none() {
                break;
            }
            let mut page = app.store.messages_after(room, cursor, BATCH).await?;
            crate::chat::messages::decorate(app, user, member.kind, &mut page.messages).await?;
            let Some(last) = page.messages.last().map(|m| m.seq) else {
                break;
            };
            let (sent, more) = (page.messages.len(), page.has_more);
            let batch = ServerEvent::Sync(SyncBatch {
                room_id: room,
                messages: page.messages,
                has_more: page.has_more,
            });
            let raw = serde_json::value::to_raw_value(&batch)
                .map_err(|e| AppError::Internal(e.into()))?;
            if !admit_outbound(s, raw.get().len(), app.config.max_outbound_bytes) {
                return Ok(None);
            }
            let ack = match s
                .timeout(ACK_TIMEOUT)
                .emit_with_ack::<_, serde_json::Value>(batch.name(), &raw)
            {
                Ok(ack) => ack,
                Err(SendError::Socket(SocketError::Closed)) => return Ok(None),
                Err(e) => {
                    close_socket(s, &format!("a catch-up batch could not be queued: {e}"));
                    return Ok(None);
                }
            };
            match ack.await {
                // Any ack counts, whatever it carries (or fails to carry).
                Ok(_) | Err(AckError::Decode(_)) => {}
                Err(_) => return Ok(None),
            }
            match crate::chat::messages::mark_delivered(app, user, room, last).await {
                Ok(()) | Err(AppError::NotFound) => {} // removed meanwhile: the next check ends it
                Err(e) => return Err(e),
            }
            done.messages += sent as u64;
            backlog.sent(sent as i64);
            cursor = last;
            if !more {
                break;
            }
        }
    }
    Ok(Some(done))
}

/// Counts a room's remaining catch-up in `BACKLOG`, and uncounts whatever is left when dropped.
struct Backlog(AtomicI64);

impl Backlog {
    fn new(n: i64) -> Self {
        BACKLOG.fetch_add(n, Ordering::Relaxed);
        Self(AtomicI64::new(n))
    }

    fn sent(&self, n: i64) {
        let n = n.min(self.0.load(Ordering::Relaxed));
        self.0.fetch_sub(n, Ordering::Relaxed);
        BACKLOG.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        BACKLOG.fetch_sub(self.0.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}
