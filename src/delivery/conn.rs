//! Closing a socket's connection for real. socketioxide's `disconnect()` only queues a packet,
//! which cannot be queued when the socket's send buffer is full — exactly when a socket must go
//! (it has missed an entry). So every accepted TCP connection carries a [`KillSwitch`]: once
//! flipped, its reads and writes fail at once, hyper drops the connection, engine.io closes the
//! session, and the client reconnects and catches up from its cursors.
//!
//! A socket's connection is found by its engine.io session id: a WebSocket that upgraded from
//! long-polling is registered by the [`guard`] middleware when its upgrade request arrives; a
//! WebSocket opened directly carries the switch in its handshake request. A long-polling session
//! has no one connection; its session id is refused by [`guard`] from then on, which makes the
//! client drop the session and reconnect.
//!
//! [`guard`] also gives each handshake request its own copy of its URI and headers
//! ([`detach_from_read_buffer`]), so that a session does not keep its connection's read buffer.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, OriginalUri, Request};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::app::{Counter, Slot};

/// Flipped once to abort one TCP connection. It also counts the bytes the kernel has taken
/// from the connection's writes, which is how `delivery::outbox` knows how much of what was
/// queued for a socket is still waiting in the process.
#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    read: AtomicWaker,
    write: AtomicWaker,
    written: AtomicU64,
}

impl KillSwitch {
    /// Bytes written to the connection so far (taken by the kernel).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Aborts the connection: pending and future reads and writes fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.read.wake();
        self.write.wake();
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the server")
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
}

/// How long a connection may take to send its first request's headers, and stay silent after.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From accept to the end of the first request's headers (or the server's first byte):
    /// the headers must arrive within it, however slowly the client trickles them. A slow
    /// handler (a long poll, a queued login) is not cut short: the clock stops once the
    /// headers are in; the REST request timeout bounds a body that never comes.
    pub first_response: Duration,
    /// Neither a byte read nor a byte written for this long: the connection is dead weight.
    pub idle: Duration,
}

/// Longest silence on an answered connection. Engine.IO pings every 25 s, so a live socket is
/// never this quiet; a keep-alive connection nobody uses is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP stream with a kill switch and timeouts, holding its place among its address's
/// connections.
pub struct Conn {
    tcp: TcpStream,
    switch: Arc<KillSwitch>,
    timeouts: Timeouts,
    deadline: Pin<Box<tokio::time::Sleep>>,
    accepted: Instant,
    last_activity: Instant,
    /// The first request's headers were read, or the server wrote something: from then on
    /// only the idle timeout applies.
    started: bool,
    /// The last four bytes read while looking for the end of the first request's headers.
    tail: u32,
    _slot: Option<Slot<IpAddr>>,
}

impl Conn {
    /// Whether the connection's deadline has passed, registering `cx` for when it will. The
    /// timer is moved lazily (only when it fires early), so reads and writes just note a time.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = if self.started {
                self.last_activity + self.timeouts.idle
            } else {
                self.accepted + self.timeouts.first_response
            };
            if due <= Instant::now() {
                metrics::counter!("missive_connections_timed_out_total").increment(1);
                return true;
            }
            self.deadline.as_mut().reset(due.into());
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.switch.read.register(cx.waker());
        if self.switch.killed() {
            return Poll::Ready(Err(aborted()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.last_activity = Instant::now();
                    if !self.started {
                        let mut tail = self.tail;
                        for &b in &buf.filled()[before..] {
                            tail = (tail << 8) | u32::from(b);
                            if tail == u32::from_be_bytes(*b"\r\n\r\n") {
                                self.started = true;
                                break;
                            }
                        }
                        self.tail = tail;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.switch.write.register(cx.waker());
        if self.switch.killed() {
            return Poll::Ready(Err(aborted()));
        }
        match Pin::new(&mut self.tcp).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.switch.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.started = true;
                    self.last_activity = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            // A peer that stopped reading holds our writes: the idle deadline ends it too.
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.switch.write.register(cx.waker());
        if self.switch.killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Every connection one listener accepted (weakly), so that a shutdown can close those that
/// stay open: an engine.io session that never joined a namespace is no Socket.IO socket, so
/// closing every socket leaves it (and its held long-poll request) open until its heartbeat
/// times out, which would hold the shutdown for up to 45 s.
#[derive(Clone, Default)]
pub struct Connections(Arc<Mutex<Tracked>>);

#[derive(Default)]
struct Tracked {
    switches: Vec<Weak<KillSwitch>>,
    /// Dead entries are pruned when the list reaches this length (then set to twice what is
    /// left), which keeps pruning amortised constant per accept.
    prune_at: usize,
}

impl Connections {
    fn add(&self, switch: &Arc<KillSwitch>) {
        let mut t = self.0.lock().unwrap();
        if t.switches.len() >= t.prune_at {
            t.switches.retain(|w| w.strong_count() > 0);
            t.prune_at = (t.switches.len() * 2).max(64);
        }
        t.switches.push(Arc::downgrade(switch));
    }

    /// How many accepted connections are still open.
    pub fn open(&self) -> usize {
        let t = self.0.lock().unwrap();
        t.switches.iter().filter(|w| w.strong_count() > 0).count()
    }

    /// Aborts every connection still open; returns how many there were.
    pub fn kill_all(&self) -> usize {
        let live: Vec<_> = {
            let t = self.0.lock().unwrap();
            t.switches.iter().filter_map(Weak::upgrade).collect()
        };
        for switch in &live {
            switch.kill();
        }
        live.len()
    }
}

/// Accepts TCP connections with `TCP_NODELAY`, a kill switch and timeouts each, and at most
/// `max_per_addr` open at once from one IP address (0 = unlimited): one client cannot use up
/// the process's file descriptors.
pub struct KillableListener {
    tcp: TcpListener,
    /// Every connection, for a shutdown to close.
    conns: Connections,
    timeouts: Timeouts,
    max_per_addr: usize,
    open: Counter<IpAddr>,
}

impl KillableListener {
    pub fn new(
        tcp: TcpListener,
        conns: Connections,
        timeouts: Timeouts,
        max_per_addr: usize,
    ) -> Self {
        Self {
            tcp,
            conns,
            timeouts,
            max_per_addr,
            open: Counter::default(),
        }
    }
}

impl Listener for KillableListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            let (tcp, addr) = Listener::accept(&mut self.tcp).await;
            let Some(slot) = self.open.try_take(addr.ip(), self.max_per_addr) else {
                // Dropped at once: closed before hyper reads a byte of it.
                metrics::counter!("missive_connections_refused_total").increment(1);
                continue;
            };
            // Small frames (acks, sync batches, live messages) must leave at once: without
            // NODELAY each write behind an unacknowledged one waits for the peer's delayed ACK
            // (~40 ms).
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY failed");
            }
            let now = Instant::now();
            let conn = Conn {
                tcp,
                switch: Arc::default(),
                timeouts: self.timeouts,
                deadline: Box::pin(tokio::time::sleep(self.timeouts.first_response)),
                accepted: now,
                last_activity: now,
                started: false,
                tail: 0,
                _slot: Some(slot),
            };
            self.conns.add(&conn.switch);
            return (conn, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Raises the soft limit on open files to the hard limit where the system allows, and logs
/// the limit in force: it is how many connections the process can hold.
pub fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(open_files = limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open file limit"),
    }
}

/// The per-request view of a connection: its peer and its kill switch (axum's connect info).
#[derive(Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub switch: Arc<KillSwitch>,
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnInfo {
            peer: *stream.remote_addr(),
            switch: stream.io().switch.clone(),
        }
    }
}

/// Engine.io sessions: the connection each upgraded WebSocket runs on, and the sessions that
/// were closed and must not be served again. Session ids are random, so one table serves every
/// server in the process.
#[derive(Default)]
struct Sessions {
    upgraded: HashMap<String, Arc<KillSwitch>>,
    refused: HashSet<String>,
}

static SESSIONS: LazyLock<Mutex<Sessions>> = LazyLock::new(Mutex::default);

/// Closes the connection of engine.io session `sid`: its registered WebSocket upgrade, else
/// `direct` (a WebSocket opened without long-polling first); and refuses the session from now
/// on (which is what ends a long-polling session).
pub fn close_session(sid: &str, direct: Option<&ConnInfo>) {
    let upgraded = {
        let mut sessions = SESSIONS.lock().unwrap();
        sessions.refused.insert(sid.to_owned());
        sessions.upgraded.remove(sid)
    };
    if let Some(switch) = upgraded {
        switch.kill();
    } else if let Some(info) = direct {
        info.switch.kill();
    }
    // Long enough for any client to have given the session up (engine.io's heartbeat ends it
    // on the server within ping interval + timeout).
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let sid = sid.to_owned();
        rt.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            SESSIONS.lock().unwrap().refused.remove(&sid);
        });
    }
}

/// The kill switch of the connection engine.io session `sid` runs on: its registered WebSocket
/// upgrade, else `direct` (a WebSocket opened without long-polling first).
pub fn switch_of(sid: &str, direct: Option<&ConnInfo>) -> Option<Arc<KillSwitch>> {
    let upgraded = SESSIONS.lock().unwrap().upgraded.get(sid).cloned();
    upgraded.or_else(|| direct.map(|info| info.switch.clone()))
}

/// Forgets the connection of a session that has ended.
pub fn forget_session(sid: &str) {
    SESSIONS.lock().unwrap().upgraded.remove(sid);
}

/// The `sid` and `transport` of an engine.io request's query.
fn session_of(query: &str) -> (Option<&str>, Option<&str>) {
    let mut sid = None;
    let mut transport = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sid", v)) => sid = Some(v),
            Some(("transport", v)) => transport = Some(v),
            _ => {}
        }
    }
    (sid, transport)
}

/// Gives a request its own copies of its URI (also the one axum keeps as `OriginalUri`) and
/// header values.
///
/// Why: hyper parses them as slices of the connection's read buffer (a 16 KiB allocation), and
/// engine.io and Socket.IO keep a handshake's request parts for the whole session, so every
/// session kept its handshake connection's read buffer alive (`heaptrack` of idle sockets,
/// docs/benchmarks.md). The copies are a few hundred bytes.
pub fn detach_from_read_buffer(req: &mut Request) {
    let Ok(uri) = Uri::try_from(req.uri().to_string()) else {
        return;
    };
    if let Some(OriginalUri(original)) = req.extensions_mut().get_mut::<OriginalUri>() {
        *original = uri.clone();
    }
    *req.uri_mut() = uri;
    for value in req.headers_mut().values_mut() {
        if let Ok(mut own) = HeaderValue::from_bytes(value.as_bytes()) {
            own.set_sensitive(value.is_sensitive());
            *value = own;
        }
    }
}

/// Middleware in front of Socket.IO: refuses closed sessions (engine.io's "session ID unknown",
/// on which clients reconnect), registers each WebSocket upgrade's connection, and detaches a
/// handshake's request (no session id yet) from its connection's read buffer.
pub async fn guard(mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/socket.io/")
        && req.uri().query().is_none_or(|q| session_of(q).0.is_none())
    {
        detach_from_read_buffer(&mut req);
    }
    if req.uri().path().starts_with("/socket.io/")
        && let Some(query) = req.uri().query()
        && let (Some(sid), transport) = session_of(query)
    {
        let info = req.extensions().get::<ConnectInfo<ConnInfo>>();
        let mut sessions = SESSIONS.lock().unwrap();
        if sessions.refused.contains(sid) {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"code": 1, "message": "Session ID unknown"})),
            )
                .into_response();
        }
        if transport == Some("websocket")
            && let Some(ConnectInfo(info)) = info
        {
            sessions
                .upgraded
                .insert(sid.to_owned(), info.switch.clone());
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_request_shares_no_byte_with_the_buffer_it_was_parsed_from() {
        let buffer = bytes::Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket Bearer abc");
        let inside = |p: *const u8| buffer.as_ptr_range().contains(&p);
        let mut req = Request::new(axum::body::Body::empty());
        *req.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..37)).unwrap();
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        let mut auth = HeaderValue::from_maybe_shared(buffer.slice(38..)).unwrap();
        auth.set_sensitive(true);
        req.headers_mut().insert("authorization", auth);
        assert!(inside(req.uri().path().as_ptr()));
        assert!(inside(req.headers()["authorization"].as_bytes().as_ptr()));

        detach_from_read_buffer(&mut req);

        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert!(!inside(req.uri().path().as_ptr()));
        assert!(!inside(req.uri().query().unwrap().as_ptr()));
        let OriginalUri(original) = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original, req.uri());
        assert!(!inside(original.path().as_ptr()));
        let auth = &req.headers()["authorization"];
        assert_eq!(auth, "Bearer abc");
        assert!(auth.is_sensitive());
        assert!(!inside(auth.as_bytes().as_ptr()));
    }

    #[test]
    fn an_engine_io_query_names_its_session_and_transport() {
        assert_eq!(
            session_of("EIO=4&transport=websocket&sid=abc"),
            (Some("abc"), Some("websocket"))
        );
        assert_eq!(
            session_of("EIO=4&transport=polling"),
            (None, Some("polling"))
        );
    }

    #[test]
    fn closing_a_session_kills_its_upgraded_connection_and_refuses_it() {
        let switch = Arc::new(KillSwitch::default());
        SESSIONS
            .lock()
            .unwrap()
            .upgraded
            .insert("s-closed".into(), switch.clone());
        close_session("s-closed", None);
        assert!(switch.killed());
        assert!(SESSIONS.lock().unwrap().refused.contains("s-closed"));
    }

    #[test]
    fn a_shutdown_kills_the_connections_still_open_and_forgets_closed_ones() {
        let conns = Connections::default();
        let open = Arc::new(KillSwitch::default());
        conns.add(&open);
        for _ in 0..200 {
            conns.add(&Arc::new(KillSwitch::default()));
        }
        assert!(conns.0.lock().unwrap().switches.len() < 100);
        assert_eq!(conns.open(), 1);
        assert_eq!(conns.kill_all(), 1);
        assert!(open.killed());
    }
}
