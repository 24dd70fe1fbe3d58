//! Live delivery: getting committed stream entries and events to sockets, on every node.
//!
//! - [`publisher`]: the one publisher of stream entries, in `seq` order per room, closing any
//!   socket that cannot take one.
//! - [`hub`]: the Socket.IO handle (local adapter) with the cluster bus beside it
//!   (`crate::cluster`), the chat layer's `Delivery` seam, and the relay of the other nodes'
//!   operations and announcements.
//! - [`conn`]: connections that can be closed for real (a kill switch per TCP connection).
//! - [`outbox`]: a bound in bytes on what waits in the process for one socket.

pub mod conn;
pub mod hub;
pub mod outbox;
pub mod publisher;

use axum::extract::ConnectInfo;
use socketioxide::TransportType;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

/// Marks a socket being closed because it missed something: nothing more is emitted to it.
#[derive(Clone)]
pub struct Doomed;

/// Closes a socket's connection because it cannot be given everything in order (its send
/// buffer is full, or entries it should have had cannot be read). Its client reconnects and
/// catches up from its cursors, so nothing is lost and no gap is ever shown as complete.
pub fn close_socket<A: Adapter>(s: &SocketRef<A>, why: &str) {
    if s.extensions.get::<Doomed>().is_some() {
        return;
    }
    s.extensions.insert(Doomed);
    metrics::counter!("missive_forced_closes_total").increment(1);
    metrics::counter!("missive_slow_socket_disconnects_total").increment(1);
    tracing::warn!(sid = %s.id, why, "closing the socket's connection so it catches up");
    conn::close_session(&s.id.to_string(), direct_conn(s));
}

/// The connection a socket opened directly on WebSocket (without long-polling first) runs on.
fn direct_conn<A: Adapter>(s: &SocketRef<A>) -> Option<&conn::ConnInfo> {
    match s.transport_type() {
        TransportType::Websocket => s
            .req_parts()
            .extensions
            .get::<ConnectInfo<conn::ConnInfo>>()
            .map(|c| &c.0),
        TransportType::Polling => None,
    }
}

/// Charges a packet of `json_len` bytes to the socket's outbound bound; when it is over,
/// closes the socket and says no (nothing may be queued for it).
pub fn admit_outbound<A: Adapter>(s: &SocketRef<A>, json_len: usize, limit: u64) -> bool {
    if outbox::charge(s, json_len, limit) {
        return true;
    }
    metrics::counter!("missive_outbound_overflows_total").increment(1);
    close_socket(s, "more than the outbound limit waits to be sent to it");
    false
}

/// A socket has gone: forget its connection.
pub fn socket_gone<A: Adapter>(s: &SocketRef<A>) {
    conn::forget_session(&s.id.to_string());
}
