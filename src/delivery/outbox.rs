//! A bound, in bytes, on what waits inside the process to be sent to one socket.
//!
//! socketioxide bounds a socket's send queue in packets (`realtime::SEND_BUFFER`), and a packet
//! may be large (a `rooms:list` answer, a `sync` batch), so a socket that stops reading could
//! still pin a great deal of memory. Each socket therefore has an [`Outbox`] that counts the
//! bytes queued for it (live entries, acks, catch-up batches); its connection's
//! [`KillSwitch`](super::conn::KillSwitch) counts the bytes the kernel has taken. The difference
//! is what still waits in the process. A packet that would take it over
//! `MISSIVE_MAX_OUTBOUND_BYTES` is not queued: the socket is closed instead
//! (`delivery::close_socket`) and its client catches up when it returns.
//!
//! The bound applies once a socket runs on WebSocket (one connection carries it). A
//! long-polling socket has no one connection: its queue is bounded by packets, and a client
//! that stops polling is dropped by the engine.io heartbeat. Broadcast events other than stream
//! entries (typing, presence, room changes) are small and are not counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use socketioxide::TransportType;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::conn::{KillSwitch, switch_of};

/// Bytes counted per packet on top of its JSON: the Socket.IO and engine.io prefixes and the
/// WebSocket frame header, which the connection's byte count includes.
const PACKET_OVERHEAD: u64 = 16;

/// What has been queued for one socket, and the connection that carries it.
#[derive(Default)]
pub struct Outbox {
    queued: AtomicU64,
    /// The socket's connection, with its byte count and ours when it was first seen (nothing
    /// is taken to be waiting at that moment).
    conn: OnceLock<(Arc<KillSwitch>, u64, u64)>,
}

/// Bytes still waiting in the process: queued for the socket minus taken by the kernel, both
/// counted from when the connection was first seen.
pub fn waiting(queued: u64, written: u64) -> u64 {
    queued.saturating_sub(written)
}

/// May a packet of `n` bytes be queued behind `waiting` bytes under `limit` (0 = no limit)? A
/// packet alone in the queue always may, however large: a big answer must not be refused for
/// ever (its size is bounded by what the server sends, not by the client).
pub fn admits(waiting: u64, n: u64, limit: u64) -> bool {
    limit == 0 || waiting == 0 || waiting + n <= limit
}

impl Outbox {
    fn conn<A: Adapter>(&self, s: &SocketRef<A>) -> Option<&(Arc<KillSwitch>, u64, u64)> {
        if let Some(conn) = self.conn.get() {
            return Some(conn);
        }
        if s.transport_type() != TransportType::Websocket {
            return None;
        }
        let switch = switch_of(&s.id.to_string(), super::direct_conn(s))?;
        let written = switch.written();
        let queued = self.queued.load(Ordering::Relaxed);
        Some(self.conn.get_or_init(|| (switch, written, queued)))
    }

    /// Bytes queued for the socket that the kernel has not taken yet (0 when not known).
    fn waiting<A: Adapter>(&self, s: &SocketRef<A>) -> u64 {
        match self.conn(s) {
            Some((switch, written_at, queued_at)) => waiting(
                self.queued.load(Ordering::Relaxed) - queued_at,
                switch.written() - written_at,
            ),
            None => 0,
        }
    }
}

/// Charges a packet of `json_len` bytes to socket `s` before it is queued. `false`: it would
/// take the socket over `limit`; the caller must not queue it and closes the socket.
pub fn charge<A: Adapter>(s: &SocketRef<A>, json_len: usize, limit: u64) -> bool {
    let Some(outbox) = s.extensions.get::<Arc<Outbox>>() else {
        return true; // a socket not set up by `open` (the /admin namespace)
    };
    let n = json_len as u64 + PACKET_OVERHEAD;
    if !admits(outbox.waiting(s), n, limit) {
        return false;
    }
    outbox.queued.fetch_add(n, Ordering::Relaxed);
    true
}

/// Gives a new socket its outbox.
pub fn open<A: Adapter>(s: &SocketRef<A>) {
    s.extensions.insert(Arc::new(Outbox::default()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_waits_is_what_was_queued_and_not_yet_written() {
        assert_eq!(waiting(0, 0), 0);
        assert_eq!(waiting(1_000, 400), 600);
        // The connection also carries frames we do not count (pings, headers): never negative.
        assert_eq!(waiting(1_000, 1_200), 0);
    }

    #[test]
    fn a_packet_is_queued_only_within_the_limit_unless_the_queue_is_empty() {
        let mib = 1 << 20;
        let table = [
            // (waiting, packet, limit, admitted)
            (0, 10, mib, true),
            (mib - 10, 10, mib, true),
            (mib - 10, 11, mib, false),
            (mib, 1, mib, false),
            (0, 50 * mib, mib, true), // alone in the queue: a big answer still goes
            (1, 50 * mib, mib, false),
            (500 * mib, 1, 0, true), // 0: no limit
        ];
        for (waiting, n, limit, want) in table {
            assert_eq!(
                admits(waiting, n, limit),
                want,
                "waiting {waiting}, packet {n}, limit {limit}"
            );
        }
    }
}
