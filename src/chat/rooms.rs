//! Rooms and membership: creating groups, channels and direct rooms, renaming, adding, removing,
//! promoting and leaving, with the rules of `domain::rules` and the side effects: `system`
//! entries in the room's stream (committed with the change, delivered by the publisher), joins
//! and leaves of every socket of the member on every node, `room:updated` and `room:removed`.
//!
//! Channels stay O(1) per follower change: following or unfollowing writes no system message
//! and emits `room:updated` only to the follower's own devices.

use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::chat::messages::{append_system, require_member};
use crate::domain::events::{RoomRemoved, ServerEvent};
use crate::domain::{Member, Role, Room, RoomId, RoomKind, UserId, now_ms, parse_room_name, rules};
use crate::error::{AppError, AppResult};
use crate::store::rooms as sql;

/// `POST /api/rooms` and `room:create`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateRoom {
    pub kind: RoomKind,
    pub name: String,
    #[serde(default)]
    pub members: Vec<UserId>,
    pub max_members: Option<i64>,
    /// Shown in the channel directory (channels; groups keep it too).
    #[serde(default)]
    pub description: Option<String>,
}

/// Largest group or channel a client may ask for (and the cap when it asks for none).
const MAX_ROOM_MEMBERS: i64 = 1_000_000;

pub async fn create(app: &App, owner: UserId, input: CreateRoom) -> AppResult<Room> {
    super::charge(app, owner)?;
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
    let description = input
        .description
        .as_deref()
        .map(crate::chat::safety::parse_description)
        .transpose()?;
    if input.kind == RoomKind::Group {
        crate::chat::privacy::check_group_adds(app, owner, &members).await?;
    }
    let room = app
        .store
        .create_room(input.kind, &name, owner, input.max_members, &members)
        .await?;
    if let Some(description) = description {
        app.store.set_description(room, &description).await?;
    }
    for &user in members.iter().chain([&owner]) {
        app.delivery().join(user, room).await;
    }
    announce_room(app, room).await;
    room_for(app, room, owner).await
}

/// The room as `user` sees it, or `not_found`.
pub async fn room_for(app: &App, room: RoomId, user: UserId) -> AppResult<Room> {
    let mut view = app
        .store
        .room_for(room, user)
        .await?
        .ok_or(AppError::NotFound)?;
    decorate_last(app, user, &mut view).await?;
    Ok(view)
}

/// `GET /api/rooms` and `rooms:list`: every room of `user`, most recent activity first.
pub async fn list(app: &App, user: UserId) -> AppResult<Vec<Room>> {
    let mut rooms = app.store.rooms_for(user).await?;
    for room in &mut rooms {
        decorate_last(app, user, room).await?;
    }
    Ok(rooms)
}

/// The last message as `user` sees it (reactions, hidden).
async fn decorate_last(app: &App, user: UserId, room: &mut Room) -> AppResult<()> {
    if let Some(last) = &mut room.last_message {
        crate::chat::messages::decorate(app, user, room.kind, std::slice::from_mut(last)).await?;
    }
    Ok(())
}

/// The direct room of `user` and `other`, created on first use.
pub async fn direct(app: &App, user: UserId, other: UserId) -> AppResult<(RoomId, bool)> {
    if other == user {
        return Err(AppError::invalid("a direct room needs another user"));
    }
    crate::chat::user(app, other).await?;
    let (room, created) = app.store.direct_room(user, other).await?;
    if created {
        app.delivery().join(user, room).await;
        app.delivery().join(other, room).await;
        announce_room(app, room).await;
    }
    Ok((room, created))
}

/// `GET /api/rooms/{id}`: the caller's view plus members (with `online`).
pub async fn get(app: &App, user: UserId, room: RoomId) -> AppResult<Room> {
    let member = require_member(app, room, user).await?;
    let mut view = room_for(app, room, user).await?;
    let mut members = app.store.members(room).await?;
    if rules::shares_activity(member.kind) {
        // Only those whose presence the caller may see (blocks, `last_seen: nobody`).
        let visible = crate::chat::privacy::visible_members(app, user, room).await?;
        let ids: Vec<UserId> = members
            .iter()
            .map(|m| m.user_id)
            .filter(|u| visible.contains(u))
            .collect();
        let online = app.shared.online(&ids).await?;
        for m in &mut members {
            m.online = online.contains(&m.user_id);
        }
        if member.kind == RoomKind::Direct
            && !crate::chat::privacy::read_positions_shared(app, room, user).await?
        {
            for m in members.iter_mut().filter(|m| m.user_id != user) {
                m.read_seq = crate::domain::Seq::ZERO;
            }
        }
    }
    if !rules::sees_all_members(&member) {
        members.retain(|m| m.role.is_admin() || m.user_id == user);
    }
    view.members = Some(members);
    Ok(view)
}

pub async fn rename(app: &App, actor: UserId, room: RoomId, name: &str) -> AppResult<Room> {
    super::charge(app, actor)?;
    let name = parse_room_name(name)?;
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    let member = sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    rules::may_rename(&member)?;
    sql::rename(&mut w.tx, room, &name).await?;
    append_system(
        &mut w,
        room,
        actor,
        json!({"event": "room_renamed", "user_id": actor, "name": name}),
    )
    .await?;
    w.commit().await?;
    announce_room(app, room).await;
    room_for(app, room, actor).await
}

/// Adds `target` to the room. In a channel anyone may add themself (follow); otherwise the
/// actor must be an owner or admin.
pub async fn add_member(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
) -> AppResult<Member> {
    super::charge(app, actor)?;
    if actor != target {
        crate::chat::privacy::check_group_adds(app, actor, &[target]).await?;
    }
    admit(app, actor, room, target, None).await
}

/// How someone joins by an invite link: the link's token, used up inside the joining
/// transaction (so a failed join spends no use), or an approved join request.
pub enum ByLink<'a> {
    Token(&'a str),
    Approved,
}

/// Adds `target`: by `actor`'s rights in the room, or (`by_link`) by an invite link, which
/// lets anyone into a group.
pub(crate) async fn admit(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
    by_link: Option<ByLink<'_>>,
) -> AppResult<Member> {
    let mut w = app.store.begin_write().await?;
    // Holds the room's row lock (Postgres) so concurrent adds cannot pass max_members together.
    sql::lock_room(&mut w.tx, room).await?;
    let sql::RoomMeta {
        kind,
        max_members: max,
        closed_at,
    } = sql::room_meta(&mut w.tx, room)
        .await?
        .ok_or(AppError::NotFound)?;
    let actor_member = sql::access(&mut w.tx, room, actor).await?;
    // Only channels are ever closed, and channels are public: this tells no stranger anything.
    rules::may_join(closed_at.is_some())?;
    match &by_link {
        None => rules::may_add(actor_member.as_ref(), kind, actor == target)?,
        Some(_) if kind != RoomKind::Group => return Err(AppError::NotFound),
        Some(ByLink::Token(token)) => {
            crate::store::privacy::use_invite(&mut w.tx, token, now_ms())
                .await?
                .filter(|&(of, _)| of == room)
                .ok_or(AppError::NotFound)?;
        }
        Some(ByLink::Approved) => {
            if !crate::store::privacy::take_join_request(&mut w.tx, room, target).await? {
                return Err(AppError::NotFound);
            }
        }
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
    let recorded = rules::membership_change_is_recorded(kind, Role::Member);
    if recorded {
        append_system(
            &mut w,
            room,
            actor,
            json!({"event": "member_joined", "user_id": target}),
        )
        .await?;
    }
    w.commit().await?;
    app.delivery().join(target, room).await;
    if recorded {
        announce_room(app, room).await;
    } else if let Some(shared) = app.store.room_shared(room).await? {
        // A follower's arrival is news to the follower's own devices only.
        app.delivery()
            .to_users(vec![target], ServerEvent::RoomUpdated(shared))
            .await;
    }
    member(app, room, target, actor).await
}

/// Changes `target`'s role; only the owner may.
pub async fn set_role(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
    role: Role,
) -> AppResult<Member> {
    super::charge(app, actor)?;
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    let actor_member = sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    if role == Role::Owner {
        return Err(AppError::invalid("role must be admin or member"));
    }
    let target_member = sql::access(&mut w.tx, room, target)
        .await?
        .ok_or(AppError::NotFound)?;
    rules::may_set_role(&actor_member, target_member.role, role)?;
    if target_member.role == role {
        drop(w);
        return member(app, room, target, actor).await;
    }
    sql::set_role(&mut w.tx, room, target, role).await?;
    append_system(
        &mut w,
        room,
        actor,
        json!({"event": "role_changed", "user_id": target, "role": role.as_str()}),
    )
    .await?;
    w.commit().await?;
    announce_room(app, room).await;
    member(app, room, target, actor).await
}

/// Removes `target` (or, when `target == actor`, leaves). An owner removes anyone, an admin
/// removes plain members. When the owner goes, the earliest admin (else member) takes over.
pub async fn remove_member(
    app: &App,
    actor: UserId,
    room: RoomId,
    target: UserId,
) -> AppResult<()> {
    super::charge(app, actor)?;
    let mut w = app.store.begin_write().await?;
    sql::lock_room(&mut w.tx, room).await?;
    let actor_member = sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    let leaving = actor == target;
    let target_role = if leaving {
        rules::may_remove(&actor_member, None)?;
        actor_member.role
    } else {
        let t = sql::access(&mut w.tx, room, target)
            .await?
            .ok_or(AppError::NotFound)?;
        rules::may_remove(&actor_member, Some(t.role))?;
        t.role
    };
    sql::delete_member(&mut w.tx, room, target).await?;
    let event = if leaving {
        "member_left"
    } else {
        "member_removed"
    };
    let mut recorded = false;
    if rules::membership_change_is_recorded(actor_member.kind, target_role) {
        append_system(
            &mut w,
            room,
            actor,
            json!({"event": event, "user_id": target}),
        )
        .await?;
        recorded = true;
    }
    if target_role == Role::Owner {
        match sql::successor(&mut w.tx, room).await? {
            Some(heir) => {
                sql::set_role(&mut w.tx, room, heir, Role::Owner).await?;
                append_system(
                    &mut w,
                    room,
                    actor,
                    json!({"event": "owner_changed", "user_id": heir}),
                )
                .await?;
                recorded = true;
            }
            None => sql::clear_owner(&mut w.tx, room).await?,
        }
    }
    w.commit().await?;
    app.delivery().leave(target, room).await;
    app.delivery()
        .to_users(
            vec![target],
            ServerEvent::RoomRemoved(RoomRemoved { room_id: room }),
        )
        .await;
    if recorded {
        announce_room(app, room).await;
    }
    Ok(())
}

/// `user`'s membership as `viewer` sees it: `online` only if `viewer` may see their presence.
async fn member(app: &App, room: RoomId, user: UserId, viewer: UserId) -> AppResult<Member> {
    let mut m = app
        .store
        .member(room, user)
        .await?
        .ok_or(AppError::NotFound)?;
    let visible = crate::chat::privacy::visible_members(app, viewer, room).await?;
    m.online = visible.contains(&user) && app.shared.online(&[user]).await?.contains(&user);
    Ok(m)
}

/// `room:updated` (the shared form, without anyone's own view) to the room's members.
pub(crate) async fn announce_room(app: &App, room: RoomId) {
    match app.store.room_shared(room).await {
        Ok(Some(shared)) => {
            app.delivery()
                .to_room(room, ServerEvent::RoomUpdated(shared))
                .await
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "loading room for room:updated failed"),
    }
}
