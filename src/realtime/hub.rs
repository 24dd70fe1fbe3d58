//! `Hub`: emits and Socket.IO-room membership for code outside socket handlers (REST handlers,
//! the chat operations, background tasks), over whichever adapter this node runs: the local
//! one on SQLite, `socketioxide-postgres` on Postgres so that every node's sockets are reached.
//!
//! Socket.IO room names are made only here, from typed ids (`user:{id}`, `room:{id}`): never
//! from a string a client sent.

use std::collections::HashSet;

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::{Emitter, LocalAdapter};
use socketioxide_core::adapter::errors::BroadcastError;

use crate::domain::{RoomId, UserId};

/// The Postgres LISTEN/NOTIFY adapter, carrying emits and joins between nodes.
pub type PgAdapter = socketioxide_postgres::SqlxAdapter<Emitter>;

/// The Socket.IO server handle, for either adapter.
#[derive(Clone)]
pub enum Hub {
    Local(SocketIo<LocalAdapter>),
    Postgres(SocketIo<PgAdapter>),
}

/// Runs the same code against either adapter's `SocketIo`.
macro_rules! with_io {
    ($hub:expr, $io:ident => $body:expr) => {
        match $hub {
            Hub::Local($io) => $body,
            Hub::Postgres($io) => $body,
        }
    };
}

pub fn user_room(user: UserId) -> String {
    format!("user:{user}")
}

pub fn room_room(room: RoomId) -> String {
    format!("room:{room}")
}

impl Hub {
    /// Emits to every socket in any of `targets`, each socket once, on every node.
    pub async fn emit<T: Serialize + ?Sized>(&self, targets: Vec<String>, event: &str, data: &T) {
        if targets.is_empty() {
            return;
        }
        let result = with_io!(self, io => io.to(targets.clone()).emit(event, data).await);
        if let Err(e) = result {
            self.on_emit_error(targets, e).await;
        }
    }

    pub async fn emit_to_room<T: Serialize + ?Sized>(&self, room: RoomId, event: &str, data: &T) {
        self.emit(vec![room_room(room)], event, data).await;
    }

    pub async fn emit_to_users<T: Serialize + ?Sized>(
        &self,
        users: &[UserId],
        event: &str,
        data: &T,
    ) {
        self.emit(users.iter().copied().map(user_room).collect(), event, data)
            .await;
    }

    /// A socket whose send buffer was full has missed this packet. Socket.IO gives no way to
    /// resend it, so that socket is disconnected: its client reconnects and catches up from its
    /// cursor, losing nothing. The error does not say which socket it was, so every local socket
    /// of the targets whose buffer is still full (a tiny probe cannot be queued) is dropped.
    async fn on_emit_error(&self, targets: Vec<String>, e: BroadcastError) {
        match e {
            BroadcastError::Socket(errors) => {
                let full = errors
                    .iter()
                    .filter(|e| {
                        matches!(
                            e,
                            socketioxide_core::adapter::errors::SocketError::InternalChannelFull
                        )
                    })
                    .count();
                if full == 0 {
                    return;
                }
                metrics::counter!("missive_slow_socket_disconnects_total").increment(full as u64);
                with_io!(self, io => {
                    for socket in io.local().to(targets).sockets() {
                        if socket.emit("missive:probe", &()).is_err() {
                            tracing::warn!(sid = %socket.id, "socket send buffer full: disconnecting it so it catches up");
                            let _ = socket.disconnect();
                        }
                    }
                });
            }
            other => tracing::warn!(error = %other, "broadcast failed"),
        }
    }

    /// Joins every socket of `user`, on every node, to the room's Socket.IO room.
    pub async fn join(&self, user: UserId, room: RoomId) {
        let result = with_io!(self, io => io.to(user_room(user)).join(room_room(room)).await.map_err(|e| e.to_string()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "join failed");
        }
    }

    /// Removes every socket of `user`, on every node, from the room's Socket.IO room.
    pub async fn leave(&self, user: UserId, room: RoomId) {
        let result = with_io!(self, io => io.to(user_room(user)).leave(room_room(room)).await.map_err(|e| e.to_string()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "leave failed");
        }
    }

    /// Disconnects every socket of `user` on every node (logout-all).
    pub async fn disconnect_user(&self, user: UserId) {
        let result = with_io!(self, io => io.to(user_room(user)).disconnect().await);
        if let Err(e) = result {
            tracing::warn!(error = %e, "disconnect failed");
        }
    }

    /// How many sockets `user` has connected, on every node.
    pub async fn socket_count(&self, user: UserId) -> usize {
        let result = with_io!(self, io => io.to(user_room(user)).fetch_sockets().await.map(|s| s.len()).map_err(|e| e.to_string()));
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "fetch_sockets failed");
            0
        })
    }

    /// Which of `users` have at least one socket connected, on any node.
    pub async fn online(&self, users: &[UserId]) -> HashSet<UserId> {
        let unique: HashSet<UserId> = users.iter().copied().collect();
        let counts = futures_util::future::join_all(
            unique
                .iter()
                .map(|&u| async move { (u, self.socket_count(u).await) }),
        )
        .await;
        counts
            .into_iter()
            .filter(|&(_, n)| n > 0)
            .map(|(u, _)| u)
            .collect()
    }

    /// Sockets connected to this node (for `/admin` stats).
    pub fn local_socket_count(&self) -> usize {
        with_io!(self, io => io.sockets().len())
    }

    /// Shuts every socket down (graceful stop).
    pub async fn close(&self) {
        with_io!(self, io => io.close().await)
    }
}
