//! Sending, reading and acknowledging messages: the operations behind both `message:send` and
//! `POST /api/rooms/{id}/messages`, `history` and `GET …/messages`, the cursor moves and receipts.
//!
//! Order of a send: validate → store (the writer checks membership and commits, possibly in a
//! batch) → answer the sender → fan out (the writer's commit-ordered stream, one emit to the
//! room's Socket.IO room).

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::domain::{Message, MessageKind, RoomId, RoomKind, UserId, check_body, check_client_id};
use crate::error::{AppError, AppResult};
use crate::realtime::session::Ticket;
use crate::store::messages::{NewMessage, Page};
use crate::store::rooms::Access;

/// The body of a send, from a socket or REST.
/// The sender is always the authenticated user: a `sender_id` in the payload is ignored.
#[derive(Debug, Deserialize)]
pub struct SendInput {
    pub room_id: Option<RoomId>,
    pub to: Option<UserId>,
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<i64>,
}

/// Loads the caller's membership, or `not_found` when the caller may not see the room.
pub async fn require_member(app: &App, room: RoomId, user: UserId) -> AppResult<Access> {
    app.store
        .access(room, user)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn send(app: &App, user: UserId, input: SendInput) -> AppResult<Message> {
    send_ordered(app, user, input, None).await
}

/// `send`, releasing `ticket` (the socket's send order) as soon as the message is queued for
/// storage, so the socket's next send may queue behind it while this one commits. Live
/// delivery is done by the fan-out task (`crate::realtime::fanout`), in commit order.
pub async fn send_ordered(
    app: &App,
    user: UserId,
    input: SendInput,
    ticket: Option<Ticket>,
) -> AppResult<Message> {
    check_body(&input.body, app.config.max_message_chars)?;
    if let Some(client_id) = &input.client_id {
        check_client_id(client_id)?;
    }
    if let Some(limiter) = &app.send_limiter {
        limiter.check(user)?;
    }
    let room = match (input.room_id, input.to) {
        (Some(room), None) => room,
        (None, Some(to)) => crate::chat::rooms::direct(app, user, to).await?.0,
        _ => return Err(AppError::invalid("give exactly one of room_id and to")),
    };
    if input.reply_to.is_some_and(|r| r < 1) {
        return Err(AppError::invalid("reply_to is not a message of this room"));
    }
    // Membership, the channel rule and reply_to's range are checked by the writer, for the whole
    // batch at once and inside the transaction that stores the message (`append_batch`).
    let new = NewMessage {
        room_id: room,
        sender_id: user,
        kind: MessageKind::Text,
        body: input.body,
        client_id: input.client_id,
        reply_to: input.reply_to,
    };
    let pending = app.store.writer().submit(new).await?;
    drop(ticket);
    let (message, _created) = pending.committed().await?;
    Ok(message)
}

/// Stores a `system` message in the caller's write transaction and returns it; the caller
/// emits it after commit.
pub async fn append_system(
    conn: &mut sqlx::AnyConnection,
    room: RoomId,
    actor: UserId,
    body: serde_json::Value,
) -> AppResult<Message> {
    let new = NewMessage {
        room_id: room,
        sender_id: actor,
        kind: MessageKind::System,
        body: body.to_string(),
        client_id: None,
        reply_to: None,
    };
    Ok(crate::store::messages::append(conn, &new).await?)
}

/// History paging: `before_seq`, `after_seq`, or (neither) the latest page.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    pub room_id: Option<RoomId>,
    pub before_seq: Option<i64>,
    pub after_seq: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

pub async fn history(
    app: &App,
    user: UserId,
    room: RoomId,
    q: &HistoryQuery,
) -> AppResult<HistoryPage> {
    let access = require_member(app, room, user).await?;
    let limit = match q.limit {
        None => 50,
        Some(l) if l < 1 => return Err(AppError::invalid("limit must be at least 1")),
        Some(l) => l.min(200),
    };
    let Page { messages, has_more } = match (q.before_seq, q.after_seq) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "give at most one of before_seq and after_seq",
            ));
        }
        (Some(before), None) => {
            app.store
                .messages_before(room, before, limit, access.floor)
                .await?
        }
        (None, Some(after)) => {
            app.store
                .messages_after(room, after.max(access.floor), limit)
                .await?
        }
        (None, None) => {
            app.store
                .messages_before(room, access.last_seq + 1, limit, access.floor)
                .await?
        }
    };
    Ok(HistoryPage { messages, has_more })
}

/// `{room_id, user_id, delivered_seq, read_seq}` to the room's members (not in channels).
#[derive(Serialize)]
struct Receipt {
    room_id: RoomId,
    user_id: UserId,
    delivered_seq: i64,
    read_seq: i64,
}

async fn announce_receipt(
    app: &App,
    room: RoomId,
    kind: RoomKind,
    user: UserId,
    (delivered_seq, read_seq): (i64, i64),
) {
    if kind.is_conversation() {
        let receipt = Receipt {
            room_id: room,
            user_id: user,
            delivered_seq,
            read_seq,
        };
        app.hub().emit_to_room(room, "receipt", &receipt).await;
    }
}

fn check_seq(seq: i64) -> AppResult<()> {
    if seq < 0 {
        return Err(AppError::invalid("seq must not be negative"));
    }
    Ok(())
}

/// This user's devices hold everything up to `seq` (never moves back).
pub async fn mark_delivered(app: &App, user: UserId, room: RoomId, seq: i64) -> AppResult<()> {
    check_seq(seq)?;
    let access = require_member(app, room, user).await?;
    if let Some(cursors) = app.store.advance_delivered(room, user, seq).await? {
        announce_receipt(app, room, access.kind, user, cursors).await;
    }
    Ok(())
}

/// This user has read everything up to `seq` (never moves back; implies delivered).
pub async fn mark_read(app: &App, user: UserId, room: RoomId, seq: i64) -> AppResult<()> {
    check_seq(seq)?;
    let access = require_member(app, room, user).await?;
    if let Some(cursors) = app.store.advance_read(room, user, seq).await? {
        announce_receipt(app, room, access.kind, user, cursors).await;
    }
    Ok(())
}

/// `GET …/messages/{seq}/receipts`: the other members split by how far they got.
#[derive(Serialize)]
pub struct Receipts {
    pub read: Vec<UserId>,
    pub delivered: Vec<UserId>,
    pub pending: Vec<UserId>,
}

pub async fn receipts(app: &App, user: UserId, room: RoomId, seq: i64) -> AppResult<Receipts> {
    let access = require_member(app, room, user).await?;
    if seq <= access.floor {
        return Err(AppError::NotFound);
    }
    let message = app.store.message_by_seq(room, seq).await?;
    let mut out = Receipts {
        read: vec![],
        delivered: vec![],
        pending: vec![],
    };
    for m in app.store.members(room).await? {
        if m.user_id == message.sender_id {
            continue;
        }
        if m.read_seq >= seq {
            out.read.push(m.user_id);
        } else if m.delivered_seq >= seq {
            out.delivered.push(m.user_id);
        } else {
            out.pending.push(m.user_id);
        }
    }
    Ok(out)
}
