//! Presence: a user is online while any of their sockets is connected, on any node.
//!
//! Contacts hear `presence` on the first connect and after the last disconnect, but the offline
//! announcement waits `MISSIVE_PRESENCE_GRACE` and is dropped if a socket came back meanwhile,
//! so a flapping connection (page reloads, network hand-overs) does not flood anyone.
//!
//! Who may see whose presence (contacts by default, the user's `last_seen` setting, blocks) is
//! decided in `chat::privacy`, for the events and the queries alike.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::app::App;
use crate::chat::messages::require_member;
use crate::domain::events::ServerEvent;
use crate::domain::{Presence, RoomId, UserId, now_ms, rules};
use crate::error::{AppError, AppResult};

/// Most users one presence query may name.
pub const MAX_QUERY: usize = 500;

pub struct PresenceTracker {
    grace: Duration,
    /// Users this node has announced online, with a generation bumped on every connect so a
    /// pending offline announcement can tell it is stale.
    announced: Mutex<HashMap<UserId, u64>>,
}

impl PresenceTracker {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            announced: Mutex::new(HashMap::new()),
        }
    }

    /// Users this node has announced online.
    pub fn online_count(&self) -> usize {
        self.announced.lock().unwrap().len()
    }
}

/// A socket of `user` has connected (and joined `user:{id}`).
pub async fn connected(app: &App, user: UserId) {
    let first = {
        let mut map = app.presence.announced.lock().unwrap();
        match map.get_mut(&user) {
            Some(generation) => {
                *generation += 1;
                false
            }
            None => {
                map.insert(user, 0);
                true
            }
        }
    };
    if first {
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
}

/// A socket of `user` has disconnected: `last_seen_at` is now; after the grace period, announce
/// offline if no socket of theirs is left on any node.
pub async fn disconnected(app: &App, user: UserId) {
    if let Err(e) = app.store.set_last_seen(user, now_ms()).await {
        tracing::warn!(error = %e, "storing last_seen_at failed");
    }
    let generation = app.presence.announced.lock().unwrap().get(&user).copied();
    let Some(generation) = generation else { return };
    let app = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep(app.presence.grace).await;
        if app.delivery().socket_count(user).await > 0 {
            return;
        }
        {
            let mut map = app.presence.announced.lock().unwrap();
            if map.get(&user) != Some(&generation) {
                return; // reconnected meanwhile
            }
            map.remove(&user);
        }
        let now = now_ms();
        if let Err(e) = app.store.set_last_seen(user, now).await {
            tracing::warn!(error = %e, "storing last_seen_at failed");
        }
        announce(
            &app,
            Presence {
                user_id: user,
                online: false,
                last_seen_at: Some(now),
            },
        )
        .await;
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
    Ok(query(app, &users, &visible).await)
}

/// Presence of each of `users`: an unknown id, and anyone whose presence is not `visible` to
/// the caller, reads as offline, never seen (the two look alike, so hiding leaks nothing).
async fn query(app: &App, users: &[UserId], visible: &HashSet<UserId>) -> Vec<Presence> {
    let shown: Vec<UserId> = users
        .iter()
        .copied()
        .filter(|u| visible.contains(u))
        .collect();
    let online = app.delivery().online(&shown).await;
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
    out
}
