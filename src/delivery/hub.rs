//! `Hub`: the Socket.IO server handle (socketioxide's local adapter on every node) with the
//! cluster bus beside it, and its implementation of the chat layer's [`Delivery`] seam. Each
//! operation is applied to this node's sockets at once and published on the bus; the other
//! nodes' operations arrive through [`Hub::apply`].
//!
//! Socket.IO room names are made only here, from typed ids (`user:{id}`, `room:{id}`): never
//! from a string a client sent.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::adapter::LocalAdapter;
use tokio::sync::mpsc;

use super::publisher::Announcement;
use crate::chat::Delivery;
use crate::cluster::{Answer, Bus, Incoming, Op, Query, Target};
use crate::domain::events::ServerEvent;
use crate::domain::operator::{DEVICE_ROOM, Device, device_from_rooms};
use crate::domain::{RoomId, UserId};
use crate::store::Store;

/// How long the operator's console waits for the other nodes' answers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// The Socket.IO server handle and the bus to the other nodes.
#[derive(Clone)]
pub struct Hub {
    io: SocketIo<LocalAdapter>,
    bus: Bus,
    store: Store,
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

fn target_room(target: &Target) -> String {
    match *target {
        Target::User(u) => user_room(u),
        Target::Room(r) => room_room(r),
    }
}

/// A broadcast that could not reach every socket. Events other than stream entries are not
/// replayed (receipts, typing and presence are re-read on reconnect), so this is counted.
fn emit_failed(event: &str, error: impl std::fmt::Display) {
    metrics::counter!("missive_emit_failures_total").increment(1);
    tracing::debug!(event, %error, "emit failed");
}

impl Hub {
    pub fn new(io: SocketIo<LocalAdapter>, bus: Bus, store: Store) -> Self {
        Self { io, bus, store }
    }

    /// Applies the other nodes' operations to this node's sockets, and hands stream
    /// announcements to the publisher, in the order the bus delivered them (a join is applied
    /// before an entry announced after it).
    pub fn spawn_relay(
        &self,
        mut incoming: mpsc::UnboundedReceiver<Incoming>,
        announced: mpsc::UnboundedSender<Announcement>,
    ) {
        let hub = self.clone();
        tokio::spawn(async move {
            while let Some(item) = incoming.recv().await {
                if !is_open(&hub.io) {
                    return;
                }
                match item {
                    Incoming::Committed(ranges) => {
                        let _ = announced.send(Announcement::Committed(ranges));
                    }
                    Incoming::Lost => {
                        let _ = announced.send(Announcement::Lost);
                    }
                    Incoming::Op { from, op } => hub.apply(from, op).await,
                }
            }
        });
    }

    /// Applies one operation of node `from` to this node's sockets.
    pub async fn apply(&self, from: String, op: Op) {
        match op {
            Op::Emit {
                targets,
                except,
                event,
                payload,
            } => self.emit_local(&targets, except, &event, &payload).await,
            Op::EmitAdmins { event, payload } => self.emit_admins_local(&event, &payload).await,
            Op::Join { user, room } => self.join_local(user, room).await,
            Op::Leave { user, room } => self.leave_local(user, room).await,
            Op::DisconnectUser { user } => self.disconnect_local(user).await,
            Op::Request { id, query } => {
                // Answered beside the relay, which goes on with the next operation.
                let hub = self.clone();
                tokio::spawn(async move {
                    let answer = match query {
                        Query::Devices { user } => Answer::Devices(hub.devices_local(user).await),
                        Query::DisconnectDevice { user, sid } => {
                            Answer::Disconnected(hub.disconnect_device_local(user, &sid).await)
                        }
                    };
                    hub.bus.respond(from, id, answer);
                });
            }
            // Answers are routed to their request by the bus.
            Op::Response { .. } => {}
        }
    }

    /// Emits `event` to every socket in any of `targets` (each socket once) but those of
    /// `except`, here and on every other node.
    async fn emit(&self, targets: Vec<Target>, except: Option<UserId>, event: ServerEvent) {
        if targets.is_empty() {
            return;
        }
        let name = event.name();
        let payload = match serde_json::value::to_raw_value(&event) {
            Ok(raw) => raw,
            Err(e) => return emit_failed(name, e),
        };
        self.emit_local(&targets, except, name, &payload).await;
        self.bus.publish(Op::Emit {
            targets,
            except,
            event: name.to_owned(),
            payload,
        });
    }

    async fn emit_local(
        &self,
        targets: &[Target],
        except: Option<UserId>,
        event: &str,
        payload: &RawValue,
    ) {
        if !is_open(&self.io) {
            return;
        }
        let op = self
            .io
            .to(targets.iter().map(target_room).collect::<Vec<_>>());
        let op = match except {
            Some(e) => op.except(user_room(e)),
            None => op,
        };
        if let Err(e) = op.emit(event.to_owned(), payload).await {
            emit_failed(event, e);
        }
    }

    async fn emit_admins_local(&self, event: &str, payload: &RawValue) {
        if let Some(admin) = self.io.of("/admin")
            && let Err(e) = admin.emit(event.to_owned(), payload).await
        {
            emit_failed(event, e);
        }
    }

    async fn join_local(&self, user: UserId, room: RoomId) {
        if is_open(&self.io)
            && let Err(e) = self.io.to(user_room(user)).join(room_room(room)).await
        {
            tracing::warn!(error = %e, "join failed");
        }
    }

    async fn leave_local(&self, user: UserId, room: RoomId) {
        if is_open(&self.io)
            && let Err(e) = self.io.to(user_room(user)).leave(room_room(room)).await
        {
            tracing::warn!(error = %e, "leave failed");
        }
    }

    async fn disconnect_local(&self, user: UserId) {
        if is_open(&self.io)
            && let Err(e) = self.io.to(user_room(user)).disconnect().await
        {
            tracing::warn!(error = %e, "disconnect failed");
        }
    }

    /// This node's sockets of `user`: each one's id and the rooms that describe it.
    async fn devices_local(&self, user: UserId) -> Vec<(String, Vec<String>)> {
        if !is_open(&self.io) {
            return Vec::new();
        }
        self.io
            .to(user_room(user))
            .sockets()
            .into_iter()
            .map(|s| {
                let rooms = s
                    .rooms()
                    .into_iter()
                    .filter(|r| r.starts_with(DEVICE_ROOM))
                    .map(|r| r.into_owned())
                    .collect();
                (s.id.to_string(), rooms)
            })
            .collect()
    }

    async fn disconnect_device_local(&self, user: UserId, sid: &str) -> bool {
        if !is_open(&self.io) {
            return false;
        }
        let found = self
            .io
            .to(user_room(user))
            .sockets()
            .into_iter()
            .find(|s| s.id.to_string() == sid);
        match found {
            Some(s) => match s.disconnect() {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "disconnecting a device failed");
                    false
                }
            },
            None => false,
        }
    }

    /// How many other nodes are expected to answer a request: those that reported a heartbeat
    /// recently (see `chat::operator`); at least one, if the bus runs at all.
    async fn peers(&self) -> usize {
        if !self.bus.is_clustered() {
            return 0;
        }
        match self.store.node_reports().await {
            Ok(reports) => reports
                .iter()
                .filter(|r| r.id != self.bus.node())
                .count()
                .max(1),
            Err(_) => 1,
        }
    }

    /// Sockets connected to this node (for `/admin` stats and `/metrics`).
    pub fn local_socket_count(&self) -> usize {
        if !is_open(&self.io) {
            return 0;
        }
        self.io.sockets().len()
    }

    /// Shuts every socket down (graceful stop).
    pub async fn close(&self) {
        self.io.close().await
    }
}

impl Delivery for Hub {
    fn to_room(&self, room: RoomId, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(vec![Target::Room(room)], None, event))
    }

    fn to_room_except(
        &self,
        room: RoomId,
        except: UserId,
        event: ServerEvent,
    ) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(vec![Target::Room(room)], Some(except), event))
    }

    fn to_users(&self, users: Vec<UserId>, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(self.emit(users.into_iter().map(Target::User).collect(), None, event))
    }

    fn join(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.join_local(user, room).await;
            self.bus.publish(Op::Join { user, room });
        })
    }

    fn leave(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.leave_local(user, room).await;
            self.bus.publish(Op::Leave { user, room });
        })
    }

    fn disconnect_user(&self, user: UserId) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.disconnect_local(user).await;
            self.bus.publish(Op::DisconnectUser { user });
        })
    }

    fn to_admins(&self, event: ServerEvent) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let name = event.name();
            let payload = match serde_json::value::to_raw_value(&event) {
                Ok(raw) => raw,
                Err(e) => return emit_failed(name, e),
            };
            self.emit_admins_local(name, &payload).await;
            self.bus.publish(Op::EmitAdmins {
                event: name.to_owned(),
                payload,
            });
        })
    }

    fn devices(&self, user: UserId) -> BoxFuture<'_, Vec<Device>> {
        Box::pin(async move {
            let mut sockets = self.devices_local(user).await;
            let peers = self.peers().await;
            for answer in self
                .bus
                .request(Query::Devices { user }, peers, REQUEST_TIMEOUT)
                .await
            {
                if let Answer::Devices(more) = answer {
                    sockets.extend(more);
                }
            }
            sockets
                .into_iter()
                .map(|(sid, rooms)| device_from_rooms(sid, rooms.iter().map(String::as_str)))
                .collect()
        })
    }

    fn disconnect_device<'a>(&'a self, user: UserId, sid: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            if self.disconnect_device_local(user, sid).await {
                return true;
            }
            let peers = self.peers().await;
            let query = Query::DisconnectDevice {
                user,
                sid: sid.to_owned(),
            };
            self.bus
                .request(query, peers, REQUEST_TIMEOUT)
                .await
                .into_iter()
                .any(|a| a == Answer::Disconnected(true))
        })
    }
}
