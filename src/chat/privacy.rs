//! Privacy: blocks and privacy settings, and the one place that decides who hears a user's
//! presence, last seen, typing, read positions and profile changes. Every path that could show
//! them (`GET /api/users/{id}`, `presence:query`, member lists, and the `presence`, `typing`,
//! `receipt` and `user:updated` events) asks here; the decisions are `domain::rules`'.

use std::collections::HashSet;

use crate::app::App;
use crate::domain::events::ServerEvent;
use crate::domain::privacy::{BlockChange, PrivacyChange, PrivacySettings};
use crate::domain::rules::{self, Audience};
use crate::domain::{RoomId, User, UserId};
use crate::error::{AppError, AppResult};

/// `PUT /api/me/blocks/{id}` and `block`: synced to the blocker's devices.
pub async fn block(app: &App, user: UserId, target: UserId) -> AppResult<()> {
    if target == user {
        return Err(AppError::invalid("you cannot block yourself"));
    }
    crate::chat::user(app, target).await?;
    if app.store.block(user, target).await? {
        sync_block(app, user, target, true).await;
    }
    Ok(())
}

/// `DELETE /api/me/blocks/{id}` and `unblock`.
pub async fn unblock(app: &App, user: UserId, target: UserId) -> AppResult<()> {
    if app.store.unblock(user, target).await? {
        sync_block(app, user, target, false).await;
    }
    Ok(())
}

async fn sync_block(app: &App, user: UserId, target: UserId, blocked: bool) {
    let event = ServerEvent::BlockUpdated(BlockChange {
        user_id: target,
        blocked,
    });
    app.delivery().to_users(vec![user], event).await;
}

/// Whom `user` blocks.
pub async fn blocks(app: &App, user: UserId) -> AppResult<Vec<User>> {
    app.store.blocked_users(user).await
}

pub async fn settings(app: &App, user: UserId) -> AppResult<PrivacySettings> {
    app.store.privacy(user).await
}

/// `PATCH /api/me/privacy` and `privacy:set`: synced to the user's devices.
pub async fn update_settings(
    app: &App,
    user: UserId,
    change: PrivacyChange,
) -> AppResult<PrivacySettings> {
    let next = app.store.privacy(user).await?.apply(&change);
    app.store.set_privacy(user, next).await?;
    app.delivery()
        .to_users(vec![user], ServerEvent::PrivacyUpdated(next))
        .await;
    Ok(next)
}

/// May `actor` add each of `targets` to a group? Blocks and the targets' `group_add` settings.
pub async fn check_group_adds(app: &App, actor: UserId, targets: &[UserId]) -> AppResult<()> {
    let relations = app.store.block_relations(actor).await?;
    for &target in targets.iter().filter(|&&t| t != actor) {
        let setting = app.store.privacy(target).await?.group_add;
        let blocks_actor =
            relations.contains(&target) && app.store.blocks_between(target, actor).await?.0;
        let contact = match setting {
            rules::GroupAdd::Everyone => true,
            rules::GroupAdd::Contacts => app.store.share_conversation(actor, target).await?,
        };
        rules::may_add_to_group(setting, false, contact, blocks_actor)?;
    }
    Ok(())
}

/// Which of `users` `viewer` may see the presence of (never-existing ids are simply absent).
pub async fn visible_presence(
    app: &App,
    viewer: UserId,
    users: &[UserId],
) -> AppResult<HashSet<UserId>> {
    let relations = app.store.block_relations(viewer).await?;
    let mut out = HashSet::new();
    for &u in users {
        if out.contains(&u) {
            continue;
        }
        let Some((_, audience)) = app.store.presence_facts(u).await? else {
            continue;
        };
        let shares = audience == Audience::Contacts
            && u != viewer
            && !relations.contains(&u)
            && app.store.share_conversation(viewer, u).await?;
        if rules::sees_presence(audience, u == viewer, shares, relations.contains(&u)) {
            out.insert(u);
        }
    }
    Ok(out)
}

/// Which members of `room` `viewer` may see the presence of: in a direct room or group they
/// all share it, so only blocks and `nobody` settings hide one; in a channel, nobody else.
pub async fn visible_members(
    app: &App,
    viewer: UserId,
    room: RoomId,
) -> AppResult<HashSet<UserId>> {
    let shares = app
        .store
        .access(room, viewer)
        .await?
        .is_some_and(|m| rules::shares_activity(m.kind));
    if !shares {
        // A channel is no conversation: its followers' presence is only their own to see.
        return Ok(HashSet::from([viewer]));
    }
    let relations = app.store.block_relations(viewer).await?;
    Ok(app
        .store
        .member_audiences(room)
        .await?
        .into_iter()
        .filter(|&(u, audience)| {
            rules::sees_presence(audience, u == viewer, true, relations.contains(&u))
        })
        .map(|(u, _)| u)
        .collect())
}

/// Who hears `user`'s presence events: contacts, unless `user` shows it to nobody, less
/// anyone across a block.
pub async fn presence_audience(app: &App, user: UserId) -> AppResult<Vec<UserId>> {
    let (_, audience) = app
        .store
        .presence_facts(user)
        .await?
        .unwrap_or((None, Audience::Contacts));
    if audience == Audience::Nobody {
        return Ok(vec![]);
    }
    let relations = app.store.block_relations(user).await?;
    let mut contacts = app.store.contacts(user).await?;
    contacts.retain(|c| rules::activity_flows(relations.contains(c)));
    Ok(contacts)
}

/// Who hears `user`'s profile changes: contacts less anyone across a block, and the user's own
/// other devices.
pub async fn profile_audience(app: &App, user: UserId) -> AppResult<Vec<UserId>> {
    let relations = app.store.block_relations(user).await?;
    let mut audience = app.store.contacts(user).await?;
    audience.retain(|c| rules::activity_flows(relations.contains(c)));
    audience.push(user);
    Ok(audience)
}

/// The other members of `room` that `user`'s activity (typing, receipts) may reach, when a
/// block is involved; `None` when none is, so the caller broadcasts to the whole room.
pub async fn room_audience_if_blocked(
    app: &App,
    room: RoomId,
    user: UserId,
) -> AppResult<Option<Vec<UserId>>> {
    let relations = app.store.block_relations(user).await?;
    if relations.is_empty() {
        return Ok(None);
    }
    let members = app.store.members(room).await?;
    Ok(Some(
        members
            .into_iter()
            .map(|m| m.user_id)
            .filter(|u| rules::activity_flows(relations.contains(u)))
            .collect(),
    ))
}

/// In a direct room, whether read positions flow between `user` and the other member (both
/// must have read receipts on). Always true elsewhere.
pub async fn read_positions_shared(app: &App, room: RoomId, user: UserId) -> AppResult<bool> {
    let Some(peer) = app.store.direct_peer(room, user).await? else {
        return Ok(true);
    };
    let mine = app.store.privacy(user).await?.read_receipts;
    let theirs = app.store.privacy(peer).await?.read_receipts;
    Ok(rules::read_receipts_flow(
        crate::domain::RoomKind::Direct,
        mine,
        theirs,
    ))
}
