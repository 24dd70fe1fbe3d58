//! Socket.IO: the server setup for either adapter, the `/` namespace's connect and disconnect,
//! and the `/admin` namespace.
//!
//! Where things are: `session` (authentication and the socket's session), `events` (every
//! client→server event, and the typed acks), `catchup` (offline delivery). Live delivery of
//! stream entries is `crate::delivery`'s.

pub mod admission;
pub mod catchup;
pub mod events;
pub mod session;

use std::sync::atomic::Ordering;
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};

use crate::app::App;
use crate::domain::events::ServerEvent;
use crate::domain::now_ms;
use crate::domain::operator::{NodeStats, Sampler, parse_exposition};
use crate::error::AppError;
use session::{AppErrorCode, AuthPayload};

/// Largest Socket.IO packet accepted, on WebSocket and polling alike; a larger one closes the
/// connection (socketioxide does not apply `max_payload` to WebSocket frames, so both are set).
pub const MAX_PACKET: usize = 64 * 1024;

/// Per-socket send buffer, in packets. A socket that fills it has stopped reading: its
/// connection is closed (`delivery::close_socket`) and it catches up when it returns.
const SEND_BUFFER: usize = 1024;

/// How long a connection may stay without joining a namespace (clients send CONNECT as soon
/// as the transport opens; socketioxide's default is 45 s of a held session for nothing).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The builder both adapters share.
///
/// The contract carries only JSON, so binary attachments are refused outright: a packet that
/// announces any closes its connection before a byte of attachment is buffered (socketioxide
/// would otherwise hold up to 10 MB per packet, waiting a minute for the rest).
pub fn builder(app: &App) -> SocketIoBuilder {
    let parser = ParserConfig::common()
        .max_incoming_binaries(0)
        .max_incoming_binary_buf_size(0)
        .packet_completion_timeout(Duration::from_secs(1));
    SocketIo::builder()
        .with_state(app.clone())
        .with_parser(parser)
        .connect_timeout(CONNECT_TIMEOUT)
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

pub(crate) async fn on_disconnect<A: Adapter>(s: SocketRef<A>) {
    crate::delivery::socket_gone(&s);
    // Gives back the socket's places, its place in presence among them (`SocketPresence`).
    session::release(&s);
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
    let (user, _exp) = crate::auth::authenticate(&app.tokens, &app.store, &token)
        .await
        .map_err(AppErrorCode)?;
    let user = app
        .store
        .user(user)
        .await
        .ok()
        .flatten()
        .ok_or(AppErrorCode(AppError::Unauthenticated))?;
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

/// Every second: reads this node's counters (the same `/metrics` exposes), stores its report
/// in the `nodes` table (its heartbeat) and emits the cluster's figures, from every node's
/// latest report, to this node's `/admin` sockets (each node emits to its own). It also keeps
/// each socket's `device:transport:` room current (`session::mark_transport`).
pub fn spawn_admin_stats<A: Adapter>(app: App, io: SocketIo<A>, addr: String) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sampler = Sampler::default();
        let started_at = now_ms();
        loop {
            tick.tick().await;
            if !crate::delivery::hub::is_open(&io) {
                return; // the server has stopped
            }
            let sockets = io.sockets();
            for s in &sockets {
                if session::session(s).is_some() {
                    session::mark_transport(s);
                }
            }
            let database_up = tokio::time::timeout(Duration::from_secs(1), app.store.ping())
                .await
                .is_ok_and(|r| r.is_ok());
            let bus_up = app.bus_up.load(Ordering::SeqCst);
            metrics::gauge!("missive_sockets").set(sockets.len() as f64);
            metrics::gauge!("missive_users_connected").set(app.user_sockets.keys() as f64);
            metrics::gauge!("missive_catch_up_backlog")
                .set(catchup::BACKLOG.load(Ordering::Relaxed).max(0) as f64);
            metrics::gauge!("missive_database_up").set(if database_up { 1.0 } else { 0.0 });
            drop(sockets);
            let now = now_ms();
            let me = NodeStats {
                id: app.operator_stats.node_id.clone(),
                addr: addr.clone(),
                started_at,
                heartbeat_at: now,
                stale: false,
                database_up,
                bus_up,
                figures: sampler.sample(parse_exposition(&app.metrics.render()), now),
            };
            let stats = ServerEvent::Stats(crate::chat::operator::heartbeat(&app, me).await);
            if let Some(admin) = io.of("/admin") {
                let _ = admin.local().emit(stats.name(), &stats).await;
            }
        }
    });
}
