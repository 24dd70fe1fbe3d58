//! Catch-up: sends a (re)connecting device every message past its cursor, room by room in `seq`
//! order, as `sync` batches of at most `BATCH` messages. Each batch waits for the client's ack
//! before the next is read from the database, so a backlog is never held in memory and the
//! socket's send buffer never overflows. An acked batch advances the user's `delivered_seq`; a
//! batch never acked is sent again on the next connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use socketioxide::AckError;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::app::App;
use crate::domain::{Message, RoomId, UserId};
use crate::error::{AppError, AppResult};

pub const BATCH: i64 = 100;
/// How long a client may take to ack one batch before catch-up gives up (it resumes on the
/// next connection).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages still to be sent by running catch-ups on this node (for `/admin` stats).
pub static BACKLOG: AtomicI64 = AtomicI64::new(0);

#[derive(Serialize)]
struct SyncBatch<'a> {
    room_id: RoomId,
    messages: &'a [Message],
    has_more: bool,
}

#[derive(Serialize)]
struct Synced {
    rooms: u64,
    messages: u64,
}

pub async fn run<A: Adapter>(
    app: App,
    s: SocketRef<A>,
    user: UserId,
    cursors: Arc<HashMap<RoomId, i64>>,
) {
    match catch_up(&app, &s, user, &cursors).await {
        Ok(Some(done)) => {
            let _ = s.emit("synced", &done);
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
    cursors: &HashMap<RoomId, i64>,
) -> AppResult<Option<Synced>> {
    let mut done = Synced {
        rooms: 0,
        messages: 0,
    };
    for room in app.store.catchup_rooms(user).await? {
        let start = cursors
            .get(&room.room_id)
            .copied()
            .unwrap_or(room.delivered_seq);
        // Never below what the user may read, never past the room's end.
        let mut cursor = start.clamp(room.floor.min(room.last_seq), room.last_seq);
        if cursor >= room.last_seq {
            continue;
        }
        done.rooms += 1;
        let backlog = Backlog::new(room.last_seq - cursor);
        loop {
            // A user removed while catching up gets nothing more of that room.
            if app.store.access(room.room_id, user).await?.is_none() {
                break;
            }
            let page = app
                .store
                .messages_after(room.room_id, cursor, BATCH)
                .await?;
            let Some(last) = page.messages.last().map(|m| m.seq) else {
                break;
            };
            let batch = SyncBatch {
                room_id: room.room_id,
                messages: &page.messages,
                has_more: page.has_more,
            };
            let Ok(ack) = s
                .timeout(ACK_TIMEOUT)
                .emit_with_ack::<_, serde_json::Value>("sync", &batch)
            else {
                return Ok(None);
            };
            match ack.await {
                // Any ack counts, whatever it carries (or fails to carry).
                Ok(_) | Err(AckError::Decode(_)) => {}
                Err(_) => return Ok(None),
            }
            match crate::chat::messages::mark_delivered(app, user, room.room_id, last).await {
                Ok(()) | Err(AppError::NotFound) => {} // removed meanwhile: the next check ends it
                Err(e) => return Err(e),
            }
            done.messages += page.messages.len() as u64;
            backlog.sent(page.messages.len() as i64);
            cursor = last;
            if !page.has_more {
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
