//! `Hub`: the Socket.IO server handle over whichever adapter this node runs (the local one on
//! SQLite, `socketioxide-postgres` on Postgres so that every node's sockets are reached), and
//! its implementation of the chat layer's [`Delivery`] seam: events, joins, leaves and disconnects,
//! on every node.
//!
//! Socket.IO room names are made only here, from typed ids (`user:{id}`, `room:{id}`): never
//! from a string a client sent.

use futures_util::future::BoxFuture;
use socketioxide::SocketIo;
use socketioxide::adapter::{Emitter, LocalAdapter};

use crate::chat::Delivery;
use crate::domain::events::ServerEvent;
use crate::domain::operator::{Device, device_from_rooms};
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

/// Whether the server still runs (after `close`, the namespace is gone and socketioxide's
/// default-namespace operators would panic).
pub fn is_open<A: socketioxide::adapter::Adapter>(io: &SocketIo<A>) -> bool {
    io.of("/").is_some()
}

/// The Socket.IO room of every socket of a user.
pub fn user_room(user: UserId) -> String {
    format!("user:{user}")
}

/// The Socket.IO room of every socket of a room's members.
pub fn room_room(room: RoomId) -> String {
    format!("room:{room}")
}

/// A broadcast that could not reach every socket. Events other than stream entries are not
/// replayed (receipts, typing and presence are re-read on reconnect), so this is counted.
fn emit_failed(event: &'static str, error: impl std::fmt::Display) {
    metrics::counter!("missive_emit_failures_total").increment(1);
    tracing::debug!(event, %error, "emit failed");
}

impl Hub {
    /// Emits `event` to every socket in any of `targets` (each socket once) but those in
    /// `except`, on every node.
    async fn emit(&self, targets: Vec<String>, except: Option<String>, event: ServerEvent) {
        if targets.is_empty() {
            return;
        }
        let name = event.name();
        let result = with_io!(self, io => {
            let op = io.to(targets);
            let op = match except { Some(e) => op.except(e), None => op };
            op.emit(name, &event).await.map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            emit_failed(name, e);
        }
    }

    /// Sockets connected to this node (for `/admin` stats and `/metrics`).
    pub fn local_socket_count(&self) -> usize {
        with_io!(self, io => io.sockets().len())
    }

    /// Shuts every socket down (graceful stop).
    pub async fn close(&self) {
        with_io!(self, io => io.close().await)
    }
}

impl Delivery for Hub {
    fn to_room(&self, room: RoomId, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(vec![room_room(room)], None, event))
    }

    fn to_room_except(
        &self,
        room: RoomId,
        except: UserId,
        event: ServerEvent,
    ) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(vec![room_room(room)], Some(user_room(except)), event))
    }

    fn to_users(&self, users: Vec<UserId>, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(users.into_iter().map(user_room).collect(), None, event))
    }

    fn join(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let result = with_io!(self, io => io.to(user_room(user)).join(room_room(room)).await.map_err(|e| e.to_string()));
            if let Err(e) = result {
                tracing::warn!(error = %e, "join failed");
            }
        })
    }

    fn leave(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let result = with_io!(self, io => io.to(user_room(user)).leave(room_room(room)).await.map_err(|e| e.to_string()));
            if let Err(e) = result {
                tracing::warn!(error = %e, "leave failed");
            }
        })
    }

    fn disconnect_user(&self, user: UserId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let result = with_io!(self, io => io.to(user_room(user)).disconnect().await.map_err(|e| e.to_string()));
            if let Err(e) = result {
                tracing::warn!(error = %e, "disconnect failed");
            }
        })
    }

    fn to_admins(&self, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let name = event.name();
            let result = with_io!(self, io => match io.of("/admin") {
                Some(admin) => admin.emit(name, &event).await.map_err(|e| e.to_string()),
                None => Ok(()),
            });
            if let Err(e) = result {
                emit_failed(name, e);
            }
        })
    }

    fn devices(&self, user: UserId) -> BoxFuture<'_, Vec<Device>> {
        Box::pin(async move {
            let result = with_io!(self, io => match io.to(user_room(user)).fetch_sockets().await {
                Ok(sockets) => Ok(futures_util::future::join_all(sockets.iter().map(|s| async move {
                    // A socket gone meanwhile, or a node that does not answer: shown bare.
                    let rooms = s.rooms().await.unwrap_or_default();
                    device_from_rooms(s.data().id.to_string(), rooms.iter().map(|r| r.as_ref()))
                }))
                .await),
                Err(e) => Err(e.to_string()),
            });
            result.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "fetch_sockets failed");
                Vec::new()
            })
        })
    }

    fn disconnect_device<'a>(&'a self, user: UserId, sid: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let result = with_io!(self, io => match io.to(user_room(user)).fetch_sockets().await {
                Ok(sockets) => match sockets.into_iter().find(|s| s.data().id.to_string() == sid) {
                    Some(s) => s.disconnect().await.map(|()| true).map_err(|e| e.to_string()),
                    None => Ok(false),
                },
                Err(e) => Err(e.to_string()),
            });
            result.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "disconnecting a device failed");
                false
            })
        })
    }
}
