//! Socket.IO: the server setup for either adapter, the `/` namespace's connect and disconnect,
//! the `/admin` namespace, and the fan-out task.
//!
//! Where things are: `session` (authentication and the socket's session), `events` (every
//! client→server event), `catchup` (offline delivery), `presence`, `hub` (emits and joins from
//! anywhere, on every node).

pub mod catchup;
pub mod events;
pub mod hub;
pub mod presence;
pub mod session;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::{SocketIo, SocketIoBuilder};

use crate::app::App;
use crate::domain::{Message, RoomId};
use crate::error::AppError;
use crate::store::writer::Committed;
use session::{AppErrorCode, AuthPayload};

/// Largest Socket.IO packet accepted, on WebSocket and polling alike; a larger one closes the
/// connection (socketioxide does not apply `max_payload` to WebSocket frames, so both are set).
pub const MAX_PACKET: usize = 64 * 1024;

/// Per-socket send buffer, in packets. A socket that fills it has stopped reading: it is
/// disconnected (see `Hub`) and catches up when it returns.
const SEND_BUFFER: usize = 1024;

/// The builder both adapters share.
pub fn builder(app: &App) -> SocketIoBuilder {
    SocketIo::builder()
        .with_state(app.clone())
        .max_buffer_size(SEND_BUFFER)
        .max_payload(MAX_PACKET as u64)
        .ws_max_message_size(MAX_PACKET)
        .ws_max_frame_size(MAX_PACKET)
        .ws_read_buffer_size(1024)
}

/// Runs after CONNECT was sent; the handshake middleware did the binding (see there).
pub async fn on_connect<A: Adapter>(s: SocketRef<A>, State(app): State<App>) {
    session::finish_handshake(&app, &s).await;
}

pub(crate) async fn on_disconnect<A: Adapter>(s: SocketRef<A>, State(app): State<App>) {
    if let Some(sess) = session::session(&s) {
        presence::disconnected(&app, sess.user).await;
    }
}

pub async fn admin_connect() {}

/// `/admin` is for the usernames in `MISSIVE_ADMINS`: no or a bad token is `unauthenticated`,
/// anyone else `forbidden`.
pub async fn admin_auth(
    State(app): State<App>,
    TryData(auth): TryData<AuthPayload>,
) -> Result<(), AppErrorCode> {
    let token = auth
        .ok()
        .and_then(|a| a.token)
        .ok_or(AppErrorCode(AppError::Unauthenticated))?;
    let user = crate::http::extract::authenticate(&app, &token)
        .await
        .map_err(AppErrorCode)?;
    let user = app
        .store
        .user(user)
        .await
        .map_err(|_| AppErrorCode(AppError::Unauthenticated))?;
    if !app
        .config
        .admins
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(&user.username))
    {
        return Err(AppErrorCode(AppError::forbidden("not an admin")));
    }
    Ok(())
}

/// Delivers committed messages live: one emit per message to its room, each room's messages in
/// commit (`seq`) order. Rooms go out concurrently, so a slow emit (the Postgres adapter's
/// NOTIFY round trip) in one room does not hold up the others.
pub fn spawn_fanout(app: App, mut committed: Committed) {
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(1024);
        while committed.recv_many(&mut batch, 1024).await > 0 {
            let mut by_room: Vec<(RoomId, Vec<Message>)> = Vec::new();
            for message in batch.drain(..) {
                match by_room
                    .iter_mut()
                    .find(|(room, _)| *room == message.room_id)
                {
                    Some((_, messages)) => messages.push(message),
                    None => by_room.push((message.room_id, vec![message])),
                }
            }
            let app = &app;
            futures_util::future::join_all(by_room.iter().map(|(_, messages)| async move {
                for message in messages {
                    app.count_message();
                    emit_message(app, message).await;
                }
            }))
            .await;
        }
    });
}

async fn emit_message(app: &App, message: &Message) {
    app.hub()
        .emit_to_room(message.room_id, "message", message)
        .await;
}

#[derive(Serialize)]
struct Stats {
    nodes: u32,
    sockets: usize,
    users_online: usize,
    messages_per_second: u64,
    catch_up_backlog: i64,
}

/// Emits `stats` to `/admin` every second. Figures are this node's.
pub fn spawn_admin_stats<A: Adapter>(app: App, io: SocketIo<A>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last = app.messages_total();
        loop {
            tick.tick().await;
            let total = app.messages_total();
            let stats = Stats {
                nodes: 1,
                sockets: io.sockets().len(),
                users_online: app.presence.online_count(),
                messages_per_second: total - last,
                catch_up_backlog: catchup::BACKLOG.load(Ordering::Relaxed).max(0),
            };
            last = total;
            if let Some(admin) = io.of("/admin") {
                let _ = admin.emit("stats", &stats).await;
            }
        }
    });
}
