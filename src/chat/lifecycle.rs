//! A message's life after it is sent: edit, delete for everyone, react, delete for me, forward,
//! and search.
//!
//! Every change to a message is itself an entry of the room's stream (kinds `edit`, `delete`,
//! `reaction`, with `target_seq`), committed in the same transaction as the new state of the
//! message, so devices converge through the same catch-up, live delivery and history as for
//! messages. "Delete for me" is the caller's own state: stored per user and told to the user's
//! own devices only.

use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::chat::messages::{MessagePage, decorate, require_member};
use crate::domain::Hidden;
use crate::domain::events::ServerEvent;
use crate::domain::{
    Message, MessageId, MessageKind, RoomId, Seq, UserId, check_body, check_emoji, now_ms, rules,
    search_words,
};
use crate::error::{AppError, AppResult};
use crate::store::lifecycle as sql;
use crate::store::messages::NewMessage;
use crate::store::rooms::lock_room;

/// The message at `seq` as the caller may see it, inside the caller's write transaction.
async fn target(
    w: &mut crate::store::WriteTx,
    room: RoomId,
    seq: Seq,
    user: UserId,
) -> AppResult<(crate::domain::Membership, Message)> {
    lock_room(&mut w.tx, room).await?;
    let member = crate::store::rooms::access(&mut w.tx, room, user)
        .await?
        .ok_or(AppError::NotFound)?;
    if seq <= rules::read_floor(&member) {
        return Err(AppError::NotFound);
    }
    let message = sql::message_at(&mut w.tx, room, seq)
        .await?
        .ok_or(AppError::NotFound)?;
    if !message.kind.is_message() {
        return Err(AppError::invalid("that entry is not a message"));
    }
    Ok((member, message))
}

fn change(room: RoomId, user: UserId, kind: MessageKind, seq: Seq, body: String) -> NewMessage {
    NewMessage {
        room_id: room,
        sender_id: user,
        kind,
        body,
        target_seq: Some(seq),
        ..NewMessage::default()
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `message:edit` and `PATCH …/messages/{seq}`: the sender's new body; returns the message as
/// it is now.
pub async fn edit(
    app: &App,
    user: UserId,
    room: RoomId,
    seq: Seq,
    body: String,
) -> AppResult<Message> {
    check_body(&body, app.config.max_message_chars)?;
    crate::chat::charge(app, user)?;
    let mut w = app.store.begin_write().await?;
    let (member, message) = target(&mut w, room, seq, user).await?;
    rules::may_post(&member, MessageKind::Edit)?;
    rules::may_edit(&message, user, now_ms(), millis(app.config.edit_window))?;
    let entry = w
        .append(&change(room, user, MessageKind::Edit, seq, body.clone()))
        .await?;
    sql::set_edited(&mut w.tx, room, seq, &body, &entry).await?;
    w.commit().await?;
    current(app, user, member.kind, room, seq).await
}

/// `message:delete` and `DELETE …/messages/{seq}`: deletes a message for everyone, leaving a
/// tombstone. Deleting a tombstone again changes nothing.
pub async fn delete(app: &App, user: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    let mut w = app.store.begin_write().await?;
    let (member, message) = target(&mut w, room, seq, user).await?;
    rules::may_delete(
        &member,
        &message,
        user,
        now_ms(),
        millis(app.config.delete_window),
    )?;
    if message.deleted_at.is_some() {
        return Ok(());
    }
    let entry = w
        .append(&change(room, user, MessageKind::Delete, seq, String::new()))
        .await?;
    let objects = sql::set_deleted(&mut w.tx, room, seq, &entry).await?;
    w.commit().await?;
    app.media.collect(&app.store, objects).await;
    Ok(())
}

/// An operator's delete for everyone (`DELETE /api/admin/rooms/{id}/messages/{seq}`): the same
/// tombstone as a member's delete, whatever the room and age of the message, written to the
/// audit log in the same transaction.
pub async fn moderate_delete(app: &App, operator: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    let mut w = app.store.begin_write().await?;
    lock_room(&mut w.tx, room).await?;
    let message = sql::message_at(&mut w.tx, room, seq)
        .await?
        .ok_or(AppError::NotFound)?;
    if message.kind != MessageKind::Text {
        return Err(AppError::invalid("only text messages can be deleted"));
    }
    if message.deleted_at.is_some() {
        return Ok(());
    }
    let entry = w
        .append(&change(
            room,
            operator,
            MessageKind::Delete,
            seq,
            String::new(),
        ))
        .await?;
    let objects = sql::set_deleted(&mut w.tx, room, seq, &entry).await?;
    crate::store::privacy::audit(
        &mut w.tx,
        operator,
        crate::store::privacy::AuditRecord {
            action: "delete_message",
            target_user: Some(message.sender_id),
            room: Some(room),
            seq: Some(seq),
            ..Default::default()
        },
    )
    .await?;
    w.commit().await?;
    app.media.collect(&app.store, objects).await;
    Ok(())
}

/// `message:react` and `PUT …/messages/{seq}/reaction`: one emoji per member per message; the
/// same one again removes it. The entry's body is `{"emoji": new or null, "previous": old or
/// null}`, so a client can move its counts without reading the message again.
pub async fn react(
    app: &App,
    user: UserId,
    room: RoomId,
    seq: Seq,
    emoji: &str,
) -> AppResult<Message> {
    check_emoji(emoji)?;
    crate::chat::charge(app, user)?;
    let mut w = app.store.begin_write().await?;
    let (member, message) = target(&mut w, room, seq, user).await?;
    rules::may_post(&member, MessageKind::Reaction)?;
    rules::may_react(&message)?;
    let previous = sql::reaction_of(&mut w.tx, room, seq, user).await?;
    let next = rules::next_reaction(previous.as_deref(), emoji);
    let body = json!({ "emoji": next, "previous": previous }).to_string();
    let entry = w
        .append(&change(room, user, MessageKind::Reaction, seq, body))
        .await?;
    sql::set_reaction(&mut w.tx, room, seq, user, next.as_deref(), &entry).await?;
    w.commit().await?;
    current(app, user, member.kind, room, seq).await
}

/// The message at `seq` as `user` sees it now.
async fn current(
    app: &App,
    user: UserId,
    kind: crate::domain::RoomKind,
    room: RoomId,
    seq: Seq,
) -> AppResult<Message> {
    let mut message = app
        .store
        .message_by_seq(room, seq)
        .await?
        .ok_or(AppError::NotFound)?;
    decorate(app, user, kind, std::slice::from_mut(&mut message)).await?;
    Ok(message)
}

/// `message:hide` and `POST …/messages/{seq}/hide`: "delete for me". The user's own devices are
/// told with `message:hidden`; others see nothing.
pub async fn hide(app: &App, user: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    let member = require_member(app, room, user).await?;
    if seq <= rules::read_floor(&member) || seq > member.last_seq {
        return Err(AppError::NotFound);
    }
    if let Some(hidden) = app.store.hide(user, room, seq, now_ms()).await? {
        app.delivery()
            .to_users(vec![user], ServerEvent::MessageHidden(hidden))
            .await;
    }
    Ok(())
}

/// `hidden:list` and `GET /api/me/hidden`: what the user hid after `after` (a `Hidden::id`), so
/// a device that was away learns of it.
pub async fn hidden_list(app: &App, user: UserId, after: Option<i64>) -> AppResult<Vec<Hidden>> {
    app.store.hidden_after(user, after.unwrap_or(0), 1000).await
}

/// `message:forward` and `POST …/messages/{seq}/forward`: posts a copy of a message the caller
/// can read into another room the caller may post in, marked forwarded (the original room is
/// not revealed).
pub async fn forward(
    app: &App,
    user: UserId,
    room: RoomId,
    seq: Seq,
    to: RoomId,
) -> AppResult<Message> {
    let member = require_member(app, room, user).await?;
    if seq <= rules::read_floor(&member) {
        return Err(AppError::NotFound);
    }
    let original = app
        .store
        .message_by_seq(room, seq)
        .await?
        .ok_or(AppError::NotFound)?;
    if original.kind != MessageKind::Text || original.deleted_at.is_some() {
        return Err(AppError::invalid(
            "only text messages that exist can be forwarded",
        ));
    }
    if !original.attachments.is_empty() {
        return Err(AppError::invalid(
            "messages with attachments cannot be forwarded",
        ));
    }
    crate::chat::charge(app, user)?;
    let new = NewMessage {
        room_id: to,
        sender_id: user,
        kind: MessageKind::Text,
        body: original.body,
        forwarded: true,
        ..NewMessage::default()
    };
    let (message, _) = app.store.writer().submit(new).await?.committed().await?;
    Ok(message)
}

/// `search` and `GET /api/search`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    pub room_id: Option<RoomId>,
    /// Only messages older than this one (the last of the previous page).
    pub before: Option<MessageId>,
    pub limit: Option<i64>,
}

/// A search's checks that need no database: its words (at least one, at most 16) and its
/// page size.
pub fn search_terms(q: &SearchQuery) -> AppResult<(String, i64)> {
    let words = search_words(&q.q);
    if words.is_empty() {
        return Err(AppError::invalid("q needs at least one letter or digit"));
    }
    if words.split(' ').count() > 16 {
        return Err(AppError::invalid("q may have at most 16 words"));
    }
    Ok((words, rules::page_limit(q.limit, 20, 50)?))
}

/// Full-text search over the messages the caller may read, newest first.
pub async fn search(app: &App, user: UserId, q: &SearchQuery) -> AppResult<MessagePage> {
    let (words, limit) = search_terms(q)?;
    if let Some(room) = q.room_id {
        require_member(app, room, user).await?;
    }
    let before = q.before.map_or(i64::MAX, |id| id.0);
    let mut messages = app
        .store
        .search(user, &words, q.room_id, before, limit + 1)
        .await?;
    let has_more = messages.len() as i64 > limit;
    messages.truncate(limit as usize);
    // Reactions and hidden flags as this reader sees them, room by room.
    let mut rooms: Vec<RoomId> = messages.iter().map(|m| m.room_id).collect();
    rooms.sort();
    rooms.dedup();
    for room in rooms {
        let Some(member) = app.store.access(room, user).await? else {
            continue;
        };
        let mut group: Vec<Message> = messages
            .iter()
            .filter(|m| m.room_id == room)
            .cloned()
            .collect();
        decorate(app, user, member.kind, &mut group).await?;
        for m in group {
            if let Some(slot) = messages
                .iter_mut()
                .find(|x| x.room_id == m.room_id && x.seq == m.seq)
            {
                *slot = m;
            }
        }
    }
    Ok(MessagePage { messages, has_more })
}
