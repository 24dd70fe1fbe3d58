//! A socket's authentication: the handshake middleware, the `auth` event, the session kept in
//! the socket's extensions, and the sweeper that disconnects guests after 10 s and sockets
//! whose access token expired.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use super::catchup;
use crate::app::{App, Slot};
use crate::chat::order::Sequencer;
use crate::chat::presence;
use crate::chat::presence::SocketPresence;
use crate::delivery::hub::{room_room, user_room};
use crate::domain::events::{ServerEvent, SessionInfo};
use crate::domain::operator::{node_room, since_room, transport_room};
use crate::domain::{RoomId, Seq, UserId};
use crate::error::AppError;

/// Most sockets one user may hold at once.
pub const MAX_SOCKETS_PER_USER: usize = 20;
/// How long a guest socket may stay without authenticating.
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `{token, cursors?}`: the handshake `auth` payload and the `auth` event's.
#[derive(Debug, Default, Deserialize)]
pub struct AuthPayload {
    pub token: Option<String>,
    #[serde(default)]
    pub cursors: HashMap<RoomId, Seq>,
}

/// An authenticated socket's state, in its extensions.
#[derive(Clone)]
pub struct Session {
    pub user: UserId,
    /// Access-token expiry (Unix seconds); a fresh token by `auth` pushes it back.
    pub exp: Arc<AtomicU64>,
    /// Orders this socket's sends: see `Sequencer`.
    pub sends: Arc<Sequencer>,
}

/// A socket that connected without a token, when, and its place among its address's guests
/// (given back when the socket authenticates or goes).
#[derive(Clone)]
pub struct Guest(pub Instant, #[allow(dead_code)] Arc<Slot<IpAddr>>);

/// An authenticated socket's place among its user's sockets and in presence, given back when
/// it goes. Kept apart from `Session` (which handlers clone) so that only the socket holds it.
#[derive(Clone)]
struct UserSlot(#[allow(dead_code)] Arc<SocketPresence>);

/// Gives back the socket's places (see `Guest`, `UserSlot`); called when it disconnects.
pub fn release<A: Adapter>(s: &SocketRef<A>) {
    s.extensions.remove::<Guest>();
    s.extensions.remove::<UserSlot>();
}

/// The IP address the socket's connection came from.
fn peer<A: Adapter>(s: &SocketRef<A>) -> Option<IpAddr> {
    s.req_parts()
        .extensions
        .get::<axum::extract::ConnectInfo<crate::delivery::conn::ConnInfo>>()
        .map(|info| info.0.peer.ip())
}

/// A place for one more of `user`'s sockets, or `rate_limited`: counted and checked in one
/// step of the shared state, over every node, so concurrent handshakes with one token cannot
/// all pass, and with no round trip to the other nodes.
async fn reserve_user_socket(app: &App, user: UserId) -> Result<Arc<SocketPresence>, AppError> {
    Ok(Arc::new(
        presence::reserve(app, user, MAX_SOCKETS_PER_USER).await?,
    ))
}

pub fn session<A: Adapter>(s: &SocketRef<A>) -> Option<Session> {
    s.extensions.get::<Session>()
}

/// What the handshake prepared for `on_connect` to finish: the catch-up cursors and profile.
#[derive(Clone)]
struct Prepared {
    place: Arc<SocketPresence>,
    profile: crate::domain::User,
    cursors: Arc<HashMap<RoomId, Seq>>,
}

/// Connect middleware: a bad token is refused (`connect_error` "unauthenticated"); no token
/// makes a guest.
///
/// Everything a client may rely on right after `connect` is done here, before socketioxide
/// sends the CONNECT packet: the event handlers are registered and an authenticated socket is
/// bound to its user and joined to its rooms. (The connect handler itself runs as a separate
/// task after CONNECT, so an event the client emits in its `connect` callback could otherwise
/// find no handler or no session.)
pub async fn handshake<A: Adapter>(
    s: SocketRef<A>,
    State(app): State<App>,
    TryData(auth): TryData<serde_json::Value>,
) -> Result<(), AppErrorCode> {
    super::events::register(&s, &app);
    s.on_disconnect(super::on_disconnect::<A>);
    // No payload, or one without a token: a guest. A token in a payload that does not parse
    // (a non-string token, malformed cursors) is refused, not quietly made a guest.
    let raw = auth.unwrap_or(serde_json::Value::Null);
    let has_token = raw
        .get("token")
        .is_some_and(|t| !t.is_null() && t.as_str() != Some(""));
    let auth: AuthPayload = match serde_json::from_value(raw) {
        Ok(auth) => auth,
        Err(_) if has_token => {
            return Err(AppErrorCode(AppError::invalid("malformed auth payload")));
        }
        Err(_) => AuthPayload::default(),
    };
    let Some(token) = auth.token.filter(|t| !t.is_empty()) else {
        let ip = peer(&s).ok_or(AppErrorCode(AppError::Unauthenticated))?;
        let slot = app
            .guests
            .try_take(ip, app.config.max_guests_per_addr)
            .ok_or(AppErrorCode(AppError::RateLimited {
                retry_after_ms: GUEST_TIMEOUT.as_millis() as u64,
            }))?;
        s.extensions.insert(Guest(Instant::now(), Arc::new(slot)));
        return Ok(());
    };
    let (user, exp) = verify(&app, &token).await.map_err(AppErrorCode)?;
    let slot = reserve_user_socket(&app, user)
        .await
        .map_err(AppErrorCode)?;
    let profile = bind(&app, &s, user, exp).await.map_err(AppErrorCode)?;
    s.extensions.insert(UserSlot(slot.clone()));
    s.extensions.insert(Prepared {
        place: slot,
        profile,
        cursors: Arc::new(auth.cursors),
    });
    Ok(())
}

/// Shows an error as its code: the `connect_error` message clients see.
#[derive(Debug)]
pub struct AppErrorCode(pub AppError);

impl std::fmt::Display for AppErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.code())
    }
}

async fn verify(app: &App, token: &str) -> Result<(UserId, u64), AppError> {
    crate::auth::authenticate(&app.tokens, &app.store, token).await
}

/// After CONNECT: finishes the session of a socket the handshake authenticated.
pub async fn finish_handshake<A: Adapter>(app: &App, s: &SocketRef<A>) {
    if let Some(p) = s.extensions.remove::<Prepared>() {
        announce(app, s, &p.place, p.profile, p.cursors).await;
    }
}

/// The `auth` event: authenticates a guest, or extends an authenticated socket's token.
pub async fn auth_event<A: Adapter>(
    app: &App,
    s: &SocketRef<A>,
    payload: AuthPayload,
) -> Result<SessionInfo, AppError> {
    let token = payload
        .token
        .ok_or_else(|| AppError::invalid("token is required"))?;
    let (user, exp) = verify(app, &token).await?;
    if let Some(current) = session(s) {
        if current.user != user {
            return Err(AppError::forbidden("this socket belongs to another user"));
        }
        current.exp.fetch_max(exp, Ordering::SeqCst);
        return Ok(SessionInfo {
            user: crate::chat::user(app, user).await?,
        });
    }
    let slot = reserve_user_socket(app, user).await?;
    let profile = bind(app, s, user, exp).await?;
    s.extensions.insert(UserSlot(slot.clone()));
    s.extensions.remove::<Guest>();
    announce(app, s, &slot, profile.clone(), Arc::new(payload.cursors)).await;
    Ok(SessionInfo { user: profile })
}

/// Binds the socket to `user` and joins it to `user:{id}` and its rooms' Socket.IO rooms.
async fn bind<A: Adapter>(
    app: &App,
    s: &SocketRef<A>,
    user: UserId,
    exp: u64,
) -> Result<crate::domain::User, AppError> {
    let profile = app
        .store
        .user(user)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    // `user:{id}` first: a membership change from now on reaches this socket through it. Then
    // the rooms, read twice so that a removal committed between the read and the join (whose
    // leave could not find this socket in the room yet) is undone here.
    s.join(user_room(user));
    // What operators see of the socket, on any node (`GET /api/admin/users/{id}`).
    s.join(vec![
        since_room(crate::domain::now_ms()),
        node_room(&app.operator_stats.node_id),
    ]);
    mark_transport(s);
    let rooms = app.store.room_ids_for(user).await?;
    s.join(rooms.iter().copied().map(room_room).collect::<Vec<_>>());
    let now: std::collections::HashSet<RoomId> =
        app.store.room_ids_for(user).await?.into_iter().collect();
    let gone: Vec<String> = rooms
        .into_iter()
        .filter(|r| !now.contains(r))
        .map(room_room)
        .collect();
    if !gone.is_empty() {
        s.leave(gone);
    }
    s.extensions.insert(Session {
        user,
        exp: Arc::new(AtomicU64::new(exp)),
        sends: Arc::default(),
    });
    Ok(profile)
}

/// The transport a socket's `device:transport:` room names.
#[derive(Clone, Copy, PartialEq)]
struct MarkedTransport(&'static str);

/// Keeps an authenticated socket's `device:transport:` room in step with its transport (a
/// socket usually starts on long-polling and upgrades to WebSocket); run at bind and every
/// second by the stats task.
pub fn mark_transport<A: Adapter>(s: &SocketRef<A>) {
    let now = MarkedTransport(match s.transport_type() {
        socketioxide::TransportType::Polling => "polling",
        socketioxide::TransportType::Websocket => "websocket",
    });
    let old = s.extensions.get::<MarkedTransport>();
    if old == Some(now) {
        return;
    }
    if let Some(MarkedTransport(old)) = old {
        s.leave(transport_room(old));
    }
    s.join(transport_room(now.0));
    s.extensions.insert(now);
}

/// Presence, `session`, then catch-up.
async fn announce<A: Adapter>(
    app: &App,
    s: &SocketRef<A>,
    place: &SocketPresence,
    profile: crate::domain::User,
    cursors: Arc<HashMap<RoomId, Seq>>,
) {
    let user = profile.id;
    presence::arrived(app, place).await;
    if !s.connected() {
        // Gone while we were announcing it: its disconnect handler may have run before its
        // place was kept, so give it back here (which counts it down).
        release(s);
        return;
    }
    let event = ServerEvent::Session(SessionInfo { user: profile });
    let _ = s.emit(event.name(), &event);
    tokio::spawn(catchup::run(app.clone(), s.clone(), user, cursors));
}

/// Once a second: disconnects guests past `GUEST_TIMEOUT` and sockets past their token's expiry.
/// One task for all sockets costs less memory than a timer per socket.
pub fn spawn_sweeper<A: Adapter>(io: socketioxide::SocketIo<A>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !crate::delivery::hub::is_open(&io) {
                return; // the server has stopped
            }
            let now = jsonwebtoken::get_current_timestamp();
            for s in io.sockets() {
                let expired = match (session(&s), s.extensions.get::<Guest>()) {
                    (Some(sess), _) => sess.exp.load(Ordering::SeqCst) <= now,
                    (None, Some(Guest(since, _))) => since.elapsed() >= GUEST_TIMEOUT,
                    (None, None) => false,
                };
                if expired {
                    let _ = s.disconnect();
                }
            }
        }
    });
}
