//! The chat operations, shared by the REST handlers (`http`) and the socket handlers
//! (`realtime`): each checks who may do what (the rules in `domain::rules`), changes the store,
//! then tells the sockets through [`Delivery`]. Nothing here knows a transport: stream entries
//! reach sockets through the store's commit and the one publisher; everything else through the
//! `Delivery` seam that the Socket.IO hub implements.
//!
//! Layout: `messages` (send, history, cursors, receipts), `lifecycle` (edit, delete, react,
//! hide, forward, search), `rooms` (rooms and membership),
//! `presence` (online and last seen), `order` (a connection's send order), `push` (a device's
//! pushers and a person's room mutes), `privacy` (blocks, privacy settings, who hears whose
//! activity), `safety` (invite links, the channel directory, reports and moderation), `operator`
//! (the operator's console: cluster figures, accounts and their devices, rooms), `attachments`
//! (uploads, download links and access, profile and room pictures).

pub mod attachments;
pub mod lifecycle;
pub mod messages;
pub mod operator;
pub mod order;
pub mod presence;
pub mod privacy;
pub mod push;
pub mod rooms;
pub mod safety;

use futures_util::future::BoxFuture;

use crate::app::App;
use crate::domain::events::{ServerEvent, Typing};
use crate::domain::{RoomId, User, UserId, parse_display_name, rules};
use crate::error::{AppError, AppResult};

/// What the chat layer needs of live delivery, besides stream entries (which the publisher
/// delivers from the store's commits). Implemented by the Socket.IO hub, over every node.
pub trait Delivery: Send + Sync + 'static {
    /// Emits `event` to every socket of the room's members.
    fn to_room(&self, room: RoomId, event: ServerEvent) -> BoxFuture<'_, ()>;
    /// Emits `event` to every socket of the room's members but `except`'s own.
    fn to_room_except(&self, room: RoomId, except: UserId, event: ServerEvent)
    -> BoxFuture<'_, ()>;
    /// Emits `event` to every socket of each of `users`, each socket once.
    fn to_users(&self, users: Vec<UserId>, event: ServerEvent) -> BoxFuture<'_, ()>;
    /// Makes every socket of `user` receive the room's entries and events from now on.
    fn join(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()>;
    /// The reverse of `join`.
    fn leave(&self, user: UserId, room: RoomId) -> BoxFuture<'_, ()>;
    /// Closes every socket of `user` (logout-all).
    fn disconnect_user(&self, user: UserId) -> BoxFuture<'_, ()>;
    /// Emits `event` to every operator socket on the `/admin` namespace, on every node.
    fn to_admins(&self, event: ServerEvent) -> BoxFuture<'_, ()>;
    /// Every socket of `user`, on every node, as operators see it.
    fn devices(&self, user: UserId) -> BoxFuture<'_, Vec<crate::domain::operator::Device>>;
    /// Closes `user`'s socket `sid`, on whichever node it is; false when there is none.
    fn disconnect_device<'a>(&'a self, user: UserId, sid: &'a str) -> BoxFuture<'a, bool>;
}

/// `PATCH /api/me` and `profile:update`: new display name, `user:updated` to contacts and to the
/// user's own other devices.
/// Charges one write to `user`'s send bucket (`MISSIVE_SEND_RATE`). Every operation that
/// stores and fans out a system message, creates a room or adds someone draws on the same
/// bucket as messages, so renames or adds cannot flood a room where sends could not.
///
/// The bucket holds for the cluster: each node charges a write as many tokens as the nodes the
/// user's sends may arrive at (see `cluster::limits`), so that the nodes together allow the
/// configured rate, with no shared write per message.
pub(crate) fn charge(app: &App, user: UserId) -> AppResult<()> {
    match &app.send_limiter {
        Some(limiter) => limiter.check_n(user, app.rate_cost(user)),
        None => Ok(()),
    }
}

pub async fn update_profile(app: &App, user: UserId, display_name: &str) -> AppResult<User> {
    let name = parse_display_name(display_name)?;
    let updated = app
        .store
        .set_display_name(user, &name)
        .await?
        .ok_or(AppError::NotFound)?;
    let audience = privacy::profile_audience(app, user).await?;
    app.delivery()
        .to_users(audience, ServerEvent::UserUpdated(updated.clone()))
        .await;
    Ok(updated)
}

/// `typing`: relayed to the room's other members' sockets (not the typist's own devices), never
/// stored, not relayed in channels.
pub async fn typing(app: &App, user: UserId, room: RoomId, typing: bool) -> AppResult<()> {
    app.typing_limiter.check_n(user, app.rate_cost(user))?;
    let member = messages::require_member(app, room, user).await?;
    if rules::shares_activity(member.kind) {
        let event = ServerEvent::Typing(Typing {
            room_id: room,
            user_id: user,
            typing,
        });
        // Nothing flows across a block: with one involved, only the others are told.
        match privacy::room_audience_if_blocked(app, room, user).await? {
            None => app.delivery().to_room_except(room, user, event).await,
            Some(mut audience) => {
                audience.retain(|&u| u != user);
                app.delivery().to_users(audience, event).await
            }
        }
    }
    Ok(())
}

/// A user's profile, or `not_found`.
pub async fn user(app: &App, id: UserId) -> AppResult<User> {
    app.store.user(id).await?.ok_or(AppError::NotFound)
}
