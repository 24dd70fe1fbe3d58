//! Presence: a user is online while any of their sockets is connected, on any node.
//!
//! Counted in the cluster's shared state (`cluster::state`, which says how node leases, idle
//! entries and claims work): contacts hear `presence` online when a user's first socket
//! anywhere connects, and offline once the last is gone and `MISSIVE_PRESENCE_GRACE` has
//! passed without one coming back, so a flapping connection (page reloads, network hand-overs,
//! a rolling restart) does not flood anyone. Users of a node that died are announced offline
//! by the survivors once its lease lapses, last seen at its last heartbeat.
//!
//! Who may see whose presence (contacts by default, the user's `last_seen` setting, blocks) is
//! decided in `chat::privacy`, for the events and the queries alike.

use std::collections::HashSet;

use crate::app::{App, Slot};
use crate::chat::messages::require_member;
use crate::domain::events::ServerEvent;
use crate::domain::{Presence, RoomId, UserId, now_ms, rules};
use crate::error::{AppError, AppResult};

/// Most users one presence query may name.
pub const MAX_QUERY: usize = 500;

/// An authenticated socket's place in presence and among its user's sockets: counted in the
/// shared state while held, counted down (and, if it was the user's last socket anywhere, the
/// user announced offline after the grace) when dropped.
pub struct SocketPresence {
    app: App,
    user: UserId,
    _local: Slot<UserId>,
    /// This socket made its user online: `arrived` announces it.
    pub came_online: bool,
}

impl Drop for SocketPresence {
    fn drop(&mut self) {
        // Outside a runtime (the process is ending) there is no one left to tell; the node's
        // goodbye or, failing that, its lease settles the count.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(went(self.app.clone(), self.user));
        }
    }
}

/// Counts one more socket of `user`, refused `rate_limited` past `max` sockets of theirs in the
/// cluster. One statement of the shared state, no round trip to the other nodes.
pub async fn reserve(app: &App, user: UserId, max: usize) -> AppResult<SocketPresence> {
    let too_many = || AppError::RateLimited {
        retry_after_ms: 1000,
    };
    let local = app.user_sockets.try_take(user, max).ok_or_else(too_many)?;
    let counted = app.shared.up(user).await?;
    let place = SocketPresence {
        app: app.clone(),
        user,
        _local: local,
        came_online: counted.came_online(),
    };
    if max != 0 && counted.sockets > max as i64 {
        return Err(too_many()); // `place` counts itself down
    }
    Ok(place)
}

/// A counted socket is ready: contacts hear the user online if it made them so.
pub async fn arrived(app: &App, place: &SocketPresence) {
    if place.came_online {
        announce_online(app, place.user).await;
    }
}

async fn announce_online(app: &App, user: UserId) {
    announce(
        app,
        Presence {
            user_id: user,
            online: true,
            last_seen_at: None,
        },
    )
    .await;
}

/// A socket of `user` is gone: `last_seen_at` is now; if it was their last in the cluster,
/// after the grace, unless one came back, they are announced offline.
async fn went(app: App, user: UserId) {
    if let Err(e) = app.store.set_last_seen(user, now_ms()).await {
        tracing::warn!(error = %e, "storing last_seen_at failed");
    }
    let version = match app.shared.down(user).await {
        Ok(counted) => counted.and_then(|c| c.went_idle()),
        Err(e) => {
            // The heartbeat's sweep or a reaping settles it.
            tracing::warn!(error = %e, "presence: counting a socket down failed");
            None
        }
    };
    let Some(version) = version else { return };
    tokio::time::sleep(app.config.presence_grace).await;
    match app.shared.claim(user, version).await {
        Ok(Some(at)) => went_offline(&app, user, at).await,
        Ok(None) => {} // back meanwhile, or already announced by another node
        Err(e) => tracing::warn!(error = %e, "presence: claiming an idle user failed"),
    }
}

/// `user` has no socket left anywhere since `at`: stored and told.
async fn went_offline(app: &App, user: UserId, at: i64) {
    if let Err(e) = app.store.set_last_seen(user, at).await {
        tracing::warn!(error = %e, "storing last_seen_at failed");
    }
    announce(
        app,
        Presence {
            user_id: user,
            online: false,
            last_seen_at: Some(at),
        },
    )
    .await;
}

/// Every `MISSIVE_NODE_HEARTBEAT`: renews this node's lease, reaps lapsed ones, announces
/// offline the users idle past the grace (those whose node died or stopped before it could),
/// and refreshes where this node's users are connected for the cluster-wide rates.
pub fn spawn_upkeep(app: App) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(app.config.node_heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if app.shared.stopped() {
                return;
            }
            let beat = match app.shared.heartbeat(&app.user_sockets.snapshot()).await {
                Ok(beat) => beat,
                Err(e) => {
                    tracing::warn!(error = %e, "node heartbeat: the shared state is out of reach");
                    continue;
                }
            };
            for node in &beat.reaped {
                tracing::warn!(node = %node, "a node's lease lapsed: its sockets are no longer counted");
            }
            metrics::gauge!("missive_cluster_nodes").set(beat.live_nodes as f64);
            app.spread.update(beat.spread, beat.live_nodes);
            for user in beat.online {
                announce_online(&app, user).await;
            }
            for (user, at) in beat.offline {
                went_offline(&app, user, at).await;
            }
        }
    });
}

async fn announce(app: &App, presence: Presence) {
    match crate::chat::privacy::presence_audience(app, presence.user_id).await {
        Ok(contacts) => {
            app.delivery()
                .to_users(contacts, ServerEvent::Presence(presence))
                .await
        }
        Err(e) => tracing::warn!(error = %e, "loading contacts for presence failed"),
    }
}

/// Whose presence a query asks for: named users, or the members of a room the caller shares
/// activity in.
pub enum Subject {
    Users(Vec<UserId>),
    Room(RoomId),
}

/// `presence:query` (and `GET /api/users/{id}`'s presence fields).
pub async fn query_for(app: &App, caller: UserId, subject: Subject) -> AppResult<Vec<Presence>> {
    let users = match subject {
        Subject::Users(ids) => ids,
        Subject::Room(room) => {
            let member = require_member(app, room, caller).await?;
            if !rules::shares_activity(member.kind) {
                return Err(AppError::forbidden("presence is not shared in channels"));
            }
            app.store
                .members(room)
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect()
        }
    };
    if users.len() > MAX_QUERY {
        return Err(AppError::invalid(format!("at most {MAX_QUERY} users")));
    }
    let visible = crate::chat::privacy::visible_presence(app, caller, &users).await?;
    query(app, &users, &visible).await
}

/// Presence of each of `users`: an unknown id, and anyone whose presence is not `visible` to
/// the caller, reads as offline, never seen (the two look alike, so hiding leaks nothing).
async fn query(app: &App, users: &[UserId], visible: &HashSet<UserId>) -> AppResult<Vec<Presence>> {
    let shown: Vec<UserId> = users
        .iter()
        .copied()
        .filter(|u| visible.contains(u))
        .collect();
    let online = app.shared.online(&shown).await?;
    let mut out = Vec::with_capacity(users.len());
    for &user in users {
        let last_seen_at = if visible.contains(&user) {
            let Ok(at) = app.store.last_seen(user).await else {
                continue;
            };
            at
        } else {
            None
        };
        out.push(Presence {
            user_id: user,
            online: online.contains(&user),
            last_seen_at,
        });
    }
    Ok(out)
}
