//! Rooms and membership: creating groups, channels and direct rooms, renaming, adding, removing,
//! promoting and leaving, with the rules of PROTOCOL.md §2 and the side effects: `system`
//! messages in the room's stream, Socket.IO joins and leaves on every node, `room:updated` and
//! `room:removed`.
//!
//! Channels stay O(1) per follower change: following or unfollowing writes no system message
//! and emits `room:updated` only to the follower's own devices.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::chat::messages::{append_system, require_member};
use crate::domain::{
    Member, Message, Role, Room, RoomId, RoomKind, UserId, now_ms, parse_room_name,
};
use crate::error::{AppError, AppResult};
use crate::realtime::hub::user_room;
use crate::store::rooms as sql;

/// `POST /api/rooms` and `room:create`.
#[derive(Debug, Deserialize)]
pub struct CreateRoom {
    pub kind: RoomKind,
    pub name: String,
    #[serde(default)]
    pub members: Vec<UserId>,
    pub max_members: Option<i64>,
}

/// Largest group or channel a client may ask for (and the cap when it asks for none).
const MAX_ROOM_MEMBERS: i64 = 1_000_000;

pub async fn create(app: &App, owner: UserId, input: CreateRoom) -> AppResult<Room> {
    if input.kind == RoomKind::Direct {
        return Err(AppError::invalid(
            "direct rooms are made with POST /api/rooms/direct or message:send with `to`",
        ));
    }
    let name = parse_room_name(&input.name)?;
    let mut members = input.members.clone();
    members.sort();
    members.dedup();
    members.retain(|&m| m != owner);
    if let Some(max) = input.max_members {
        if !(2..=MAX_ROOM_MEMBERS).contains(&max) {
            return Err(AppError::invalid(format!(
                "max_members must be 2 to {MAX_ROOM_MEMBERS}"
            )));
        }
        if members.len() as i64 + 1 > max {
            return Err(AppError::conflict("more members than max_members"));
        }
    }
    if members.len() > 1000 {
        return Err(AppError::invalid(
            "at most 1000 members at creation; add more afterwards",
        ));
    }
    let room = app
        .store
        .create_room(input.kind, &name, owner, input.max_members, &members)
        .await?;
    for &user in members.iter().chain([&owner]) {
        app.hub().join(user, room).await;
    }
    announce_room(app, room).await;
    app.store.room_for(room, owner).await
}

/// The direct room of `user` and `other`, created on first use.
pub async fn direct(app: &App, user: UserId, other: UserId) -> AppResult<(RoomId, bool)> {
    if other == user {
        return Err(AppError::invalid("a direct room needs another user"));
    }
    app.store.user(other).await?;
    let (room, created) = app.store.direct_room(user, other).await?;
    if created {
        app.hub().join(user, room).await;
        app.hub().join(other, room).await;
        announce_room(app, room).await;
    }
    Ok((room, created))
}

/// `GET /api/rooms/{id}`: the caller's view plus members (with `online`).
pub async fn get(app: &App, user: UserId, room: RoomId) -> AppResult<Room> {
    let mut view = app.store.room_for(room, user).await?;
    let mut members = app.store.members(room).await?;
    if view.kind.is_conversation() {
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let online = app.hub().online(&ids).await;
        for m in &mut members {
            m.online = online.contains(&m.user_id);
        }
    } else if !view.me.as_ref().is_some_and(|me| me.my_role.is_admin()) {
        // A channel's followers see who runs it, not who else follows it (and presence is not
        // shared in channels).
        members.retain(|m| m.role.is_admin() || m.user_id == user);
    }
    view.members = Some(members);
    Ok(view)
}

pub async fn rename(app: &App, actor: UserId, room: RoomId, name: &str) -> AppResult<Room> {
    let access = require_member(app, room, actor).await?;
    if access.kind == RoomKind::Direct {
        return Err(AppError::forbidden("a direct room has no name"));
    }
    if !access.role.is_admin() {
        return Err(AppError::forbidden("only the owner and admins rename"));
    }
    let name = parse_room_name(name)?;
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    sql::rename(&mut w.tx, room, &name).await?;
    let msg = append_system(
        &mut w.tx,
        room,
        actor,
        json!({"event": "room_renamed", "user_id": actor, "name": name}),
    )
    .await?;
    w.commit().await?;
    publish(app, room, &[msg]).await;
    app.store.room_for(room, actor).await
}

/// Adds `target` to the room. In a channel anyone may add themself (follow); otherwise the
/// actor must be an owner or admin.
pub async fn add_member(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
) -> AppResult<Member> {
    let mut w = app.store.begin_write().await?;
    // Holds the room's row lock (Postgres) so concurrent adds cannot pass max_members together.
    sql::lock_room(&mut w.tx, room).await?;
    let (kind, max) = sql::room_meta(&mut w.tx, room)
        .await?
        .ok_or(AppError::NotFound)?;
    let actor_access = sql::access(&mut w.tx, room, actor).await?;
    let following = kind == RoomKind::Channel && actor == target;
    match (&actor_access, following) {
        (_, true) => {}
        (None, false) => return Err(AppError::NotFound),
        (Some(a), false) if a.kind == RoomKind::Direct => {
            return Err(AppError::forbidden("a direct room has exactly two members"));
        }
        (Some(a), false) if !a.role.is_admin() => {
            return Err(AppError::forbidden("only the owner and admins add members"));
        }
        _ => {}
    }
    if !sql::user_exists(&mut w.tx, target).await? {
        return Err(AppError::NotFound);
    }
    if sql::access(&mut w.tx, room, target).await?.is_some() {
        return Err(AppError::conflict("already a member"));
    }
    if let Some(max) = max
        && sql::member_count(&mut w.tx, room).await? >= max
    {
        return Err(AppError::conflict("the room is full (max_members)"));
    }
    sql::insert_member(&mut w.tx, room, target, Role::Member, now_ms()).await?;
    let system = if kind == RoomKind::Channel {
        vec![]
    } else {
        vec![
            append_system(
                &mut w.tx,
                room,
                actor,
                json!({"event": "member_joined", "user_id": target}),
            )
            .await?,
        ]
    };
    w.commit().await?;
    app.hub().join(target, room).await;
    if kind == RoomKind::Channel {
        let shared = app.store.room_shared(room).await?;
        app.hub()
            .emit_to_users(&[target], "room:updated", &shared)
            .await;
    } else {
        publish(app, room, &system).await;
    }
    member(app, room, target).await
}

/// Changes `target`'s role; only the owner may.
pub async fn set_role(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
    role: Role,
) -> AppResult<Member> {
    if role == Role::Owner {
        return Err(AppError::invalid("role must be admin or member"));
    }
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    let access = sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    if access.kind == RoomKind::Direct || access.role != Role::Owner {
        return Err(AppError::forbidden("only the owner changes roles"));
    }
    let target_access = sql::access(&mut w.tx, room, target)
        .await?
        .ok_or(AppError::NotFound)?;
    if target_access.role == Role::Owner {
        return Err(AppError::forbidden("the owner's role cannot be changed"));
    }
    if target_access.role == role {
        drop(w);
        return member(app, room, target).await;
    }
    sql::set_role(&mut w.tx, room, target, role).await?;
    let msg = append_system(
        &mut w.tx,
        room,
        actor,
        json!({"event": "role_changed", "user_id": target, "role": role.as_str()}),
    )
    .await?;
    w.commit().await?;
    publish(app, room, &[msg]).await;
    member(app, room, target).await
}

/// Removes `target` (or, when `target == actor`, leaves). An owner removes anyone, an admin
/// removes plain members. When the owner goes, the earliest admin (else member) takes over.
pub async fn remove_member(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
) -> AppResult<()> {
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    let access = sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    if access.kind == RoomKind::Direct {
        return Err(AppError::forbidden("a direct room cannot be left"));
    }
    let leaving = actor == target;
    let target_role = if leaving {
        access.role
    } else {
        let t = sql::access(&mut w.tx, room, target)
            .await?
            .ok_or(AppError::NotFound)?;
        let allowed =
            access.role == Role::Owner || (access.role == Role::Admin && t.role == Role::Member);
        if !allowed {
            return Err(AppError::forbidden(
                "only the owner removes admins; admins remove members",
            ));
        }
        t.role
    };
    sql::delete_member(&mut w.tx, room, target).await?;
    let mut system: Vec<Message> = Vec::new();
    let event = if leaving {
        "member_left"
    } else {
        "member_removed"
    };
    if access.kind != RoomKind::Channel || target_role != Role::Member {
        system.push(
            append_system(
                &mut w.tx,
                room,
                actor,
                json!({"event": event, "user_id": target}),
            )
            .await?,
        );
    }
    if target_role == Role::Owner {
        match sql::successor(&mut w.tx, room).await? {
            Some(heir) => {
                sql::set_role(&mut w.tx, room, heir, Role::Owner).await?;
                system.push(
                    append_system(
                        &mut w.tx,
                        room,
                        actor,
                        json!({"event": "owner_changed", "user_id": heir}),
                    )
                    .await?,
                );
            }
            None => sql::clear_owner(&mut w.tx, room).await?,
        }
    }
    w.commit().await?;
    app.hub().leave(target, room).await;
    app.hub()
        .emit(
            vec![user_room(target)],
            "room:removed",
            &RoomRemoved { room_id: room },
        )
        .await;
    if system.is_empty() {
        return Ok(());
    }
    publish(app, room, &system).await;
    Ok(())
}

#[derive(Serialize)]
struct RoomRemoved {
    room_id: RoomId,
}

async fn member(app: &App, room: RoomId, user: UserId) -> AppResult<Member> {
    let mut m = app.store.member(room, user).await?;
    m.online = app.hub().socket_count(user).await > 0;
    Ok(m)
}

/// Emits committed system messages, then the room's new shared state, to its members.
async fn publish(app: &App, room: RoomId, system: &[Message]) {
    for msg in system {
        app.count_message();
        app.hub().emit_to_room(room, "message", msg).await;
    }
    announce_room(app, room).await;
}

/// `room:updated` (the shared form, without anyone's own view) to the room's members.
async fn announce_room(app: &App, room: RoomId) {
    match app.store.room_shared(room).await {
        Ok(shared) => app.hub().emit_to_room(room, "room:updated", &shared).await,
        Err(e) => tracing::warn!(error = %e, "loading room for room:updated failed"),
    }
}
