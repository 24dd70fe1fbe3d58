//! Sending, reading and acknowledging messages: the operations behind both `message:send` and
//! `POST /api/rooms/{id}/messages`, `history` and `GET …/messages`, the cursor moves and receipts.
//!
//! Order of a send: validate → store (the writer checks membership and commits, possibly in a
//! batch) → answer the sender; the commit itself hands the entry to the publisher, which
//! delivers it live in `seq` order. A direct message across a block is refused by the writer,
//! in the transaction that would store it (`store::messages::append_batch`).

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::chat::order::Ticket;
use crate::domain::events::{Receipt, ServerEvent};
use crate::domain::media::check_attachment_ids;
use crate::domain::{
    Attachment, AttachmentId, Membership, Message, MessageKind, Reaction, RoomId, RoomKind, Seq,
    UserId, check_body, check_client_id, rules,
};
use crate::error::{AppError, AppResult};
use crate::store::messages::{NewMessage, Page};

/// The body of a send, from a socket or REST.
/// The sender is always the authenticated user: a `sender_id` in the payload is ignored.
#[derive(Debug, Deserialize)]
pub struct SendInput {
    pub room_id: Option<RoomId>,
    pub to: Option<UserId>,
    /// May be empty (or absent) when `attachments` are given.
    #[serde(default)]
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<Seq>,
    /// The sender's own unsent uploads to carry (at most 10); the body may then be empty.
    #[serde(default)]
    pub attachments: Vec<AttachmentId>,
}

/// Loads the caller's membership, or `not_found` when the caller may not see the room.
pub async fn require_member(app: &App, room: RoomId, user: UserId) -> AppResult<Membership> {
    app.store
        .access(room, user)
        .await?
        .ok_or(AppError::NotFound)
}

/// A send's checks that need no database: its attachment list, its body (which may be empty
/// only when attachments are given) and its `client_id`.
pub fn check_send_input(input: &SendInput, max_chars: usize) -> AppResult<()> {
    check_attachment_ids(&input.attachments)?;
    if input.attachments.is_empty() || !input.body.is_empty() {
        check_body(&input.body, max_chars)?;
    }
    if let Some(client_id) = &input.client_id {
        check_client_id(client_id)?;
    }
    Ok(())
}

pub async fn send(app: &App, user: UserId, input: SendInput) -> AppResult<Message> {
    send_ordered(app, user, input, None).await
}

/// `send`, releasing `ticket` (the connection's send order) as soon as the message is queued
/// for storage, so the next send may queue behind it while this one commits.
pub async fn send_ordered(
    app: &App,
    user: UserId,
    input: SendInput,
    ticket: Option<Ticket>,
) -> AppResult<Message> {
    check_send_input(&input, app.config.max_message_chars)?;
    crate::chat::charge(app, user)?;
    let room = match (input.room_id, input.to) {
        (Some(room), None) => room,
        // A pair seen before needs no look-up: what may have changed since (a block, the
        // sender's membership) is checked by the writer like for any send by `room_id`.
        (None, Some(to)) => match app.store.known_direct_room(user, to) {
            Some(room) => room,
            None => crate::chat::rooms::direct(app, user, to).await?.0,
        },
        _ => return Err(AppError::invalid("give exactly one of room_id and to")),
    };
    if input.reply_to.is_some_and(|r| r < Seq(1)) {
        return Err(AppError::invalid("reply_to is not a message of this room"));
    }
    // The attachments' descriptions travel with the message; the writer claims the uploads in
    // the transaction that stores it, so one upload is never carried by two messages.
    let attachments = if input.attachments.is_empty() {
        Vec::new()
    } else {
        let found = app
            .store
            .unused_attachments(user, &input.attachments)
            .await?;
        if found.len() != input.attachments.len() && input.client_id.is_none() {
            return Err(AppError::invalid(
                "attachments must be your own uploads not yet sent",
            ));
        }
        // With a client_id this may be a retry of a stored send, whose uploads are taken: the
        // writer answers it with the stored message, or refuses the claim.
        input
            .attachments
            .iter()
            .map(|&id| {
                found
                    .iter()
                    .find(|a| a.id == id)
                    .cloned()
                    .unwrap_or(Attachment {
                        id,
                        ..Attachment::default()
                    })
            })
            .collect()
    };
    // Membership, the channel rule, reply_to's range and blocks between the two people of a
    // direct room are checked by the writer, for the whole batch at once and inside the
    // transaction that stores the message (`append_batch`).
    let new = NewMessage {
        room_id: room,
        sender_id: user,
        kind: MessageKind::Text,
        body: input.body,
        client_id: input.client_id,
        reply_to: input.reply_to,
        attachments,
        ..NewMessage::default()
    };
    let pending = app.store.writer().submit(new).await?;
    drop(ticket);
    let (message, _created) = pending.committed().await?;
    Ok(message)
}

/// Appends a `system` entry (`body` is its JSON) in the caller's write transaction; the commit
/// delivers it.
pub async fn append_system(
    w: &mut crate::store::WriteTx,
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
        ..NewMessage::default()
    };
    Ok(w.append(&new).await?)
}

/// History paging: `before_seq`, `after_seq`, or (neither) the latest page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The socket event's; REST names the room in the path.
    #[param(ignore)]
    pub room_id: Option<RoomId>,
    pub before_seq: Option<Seq>,
    pub after_seq: Option<Seq>,
    pub limit: Option<i64>,
}

/// A page of messages (history: ascending by seq; search: newest first).
#[derive(Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

pub async fn history(
    app: &App,
    user: UserId,
    room: RoomId,
    q: &HistoryQuery,
) -> AppResult<MessagePage> {
    let member = require_member(app, room, user).await?;
    let limit = rules::page_limit(q.limit, 50, 200)?;
    let floor = rules::read_floor(&member);
    let Page { messages, has_more } = match (q.before_seq, q.after_seq) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "give at most one of before_seq and after_seq",
            ));
        }
        (Some(before), None) => {
            app.store
                .messages_before(room, before, limit, floor)
                .await?
        }
        (None, Some(after)) => {
            app.store
                .messages_after(room, after.max(floor), limit)
                .await?
        }
        (None, None) => {
            app.store
                .messages_before(room, member.last_seq.next(), limit, floor)
                .await?
        }
    };
    let mut messages = messages;
    decorate(app, user, member.kind, &mut messages).await?;
    Ok(MessagePage { messages, has_more })
}

/// Fills in what depends on the reader: each message's reactions (with whether the reader is
/// one of them, and who, outside channels) and whether the reader hid it (its body is then not
/// sent). `messages` are of one room of `kind`.
pub async fn decorate(
    app: &App,
    reader: UserId,
    kind: RoomKind,
    messages: &mut [Message],
) -> AppResult<()> {
    let (Some(from), Some(to)) = (
        messages.iter().map(|m| m.seq).min(),
        messages.iter().map(|m| m.seq).max(),
    ) else {
        return Ok(());
    };
    let room = messages[0].room_id;
    let reactions = app.store.reactions_between(room, from, to).await?;
    let hidden = app.store.hidden_between(reader, room, from, to).await?;
    let named = rules::shares_activity(kind);
    for m in messages.iter_mut().filter(|m| m.kind.is_message()) {
        if hidden.contains(&m.seq) {
            m.hidden = true;
            m.body.clear();
        }
        let mut out: Vec<Reaction> = Vec::new();
        for (_, user, emoji) in reactions.iter().filter(|(seq, _, _)| *seq == m.seq) {
            let slot = match out.iter_mut().position(|r| r.emoji == *emoji) {
                Some(i) => &mut out[i],
                None => {
                    out.push(Reaction {
                        emoji: emoji.clone(),
                        count: 0,
                        me: false,
                        user_ids: named.then(Vec::new),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            slot.count += 1;
            slot.me |= *user == reader;
            if let Some(ids) = &mut slot.user_ids {
                ids.push(*user);
            }
        }
        m.reactions = out;
    }
    Ok(())
}

/// A member's cursors moved: `receipt` to the room (not in channels).
async fn announce_receipt(
    app: &App,
    room: RoomId,
    kind: RoomKind,
    user: UserId,
    (delivered_seq, read_seq): (Seq, Seq),
) {
    if !rules::shares_activity(kind) {
        return;
    }
    let receipt = Receipt {
        room_id: room,
        user_id: user,
        delivered_seq,
        read_seq,
    };
    let (audience, shared) = match receipt_audience(app, room, kind, user).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "deciding a receipt's audience failed");
            return;
        }
    };
    match audience {
        None => {
            app.delivery()
                .to_room(room, ServerEvent::Receipt(receipt))
                .await
        }
        Some(others) => {
            // The user's own devices always learn their cursors; the others get the read
            // position only if it is shared, else it reads as 0 (never read).
            let masked = Receipt {
                read_seq: if shared { read_seq } else { Seq::ZERO },
                ..receipt.clone()
            };
            app.delivery()
                .to_users(vec![user], ServerEvent::Receipt(receipt))
                .await;
            let others: Vec<UserId> = others.into_iter().filter(|&u| u != user).collect();
            app.delivery()
                .to_users(others, ServerEvent::Receipt(masked))
                .await;
        }
    }
}

/// `(None, _)`: the whole room hears the receipt as it is. `(Some(others), shared)`: a block or
/// a direct room's receipts setting is involved; `others` may hear it, with the read position
/// only when `shared`.
async fn receipt_audience(
    app: &App,
    room: RoomId,
    kind: RoomKind,
    user: UserId,
) -> AppResult<(Option<Vec<UserId>>, bool)> {
    let shared = kind != RoomKind::Direct
        || crate::chat::privacy::read_positions_shared(app, room, user).await?;
    let blocked = crate::chat::privacy::room_audience_if_blocked(app, room, user).await?;
    Ok(match (blocked, shared) {
        (None, true) => (None, true),
        (Some(others), shared) => (Some(others), shared),
        (None, false) => {
            let others = app
                .store
                .members(room)
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect();
            (Some(others), false)
        }
    })
}

fn check_seq(seq: Seq) -> AppResult<()> {
    if seq < Seq::ZERO {
        return Err(AppError::invalid("seq must not be negative"));
    }
    Ok(())
}

/// This user's devices hold everything up to `seq` (never moves back).
pub async fn mark_delivered(app: &App, user: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    check_seq(seq)?;
    let member = require_member(app, room, user).await?;
    if let Some(cursors) = app.store.advance_delivered(room, user, seq).await? {
        announce_receipt(app, room, member.kind, user, cursors).await;
    }
    Ok(())
}

/// This user has read everything up to `seq` (never moves back; implies delivered).
pub async fn mark_read(app: &App, user: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    check_seq(seq)?;
    let member = require_member(app, room, user).await?;
    if let Some(cursors) = app.store.advance_read(room, user, seq).await? {
        announce_receipt(app, room, member.kind, user, cursors).await;
    }
    Ok(())
}

/// `GET …/messages/{seq}/receipts`: the other members split by how far they got.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Receipts {
    pub read: Vec<UserId>,
    pub delivered: Vec<UserId>,
    pub pending: Vec<UserId>,
}

pub async fn receipts(app: &App, user: UserId, room: RoomId, seq: Seq) -> AppResult<Receipts> {
    let member = require_member(app, room, user).await?;
    if seq <= rules::read_floor(&member) {
        return Err(AppError::NotFound);
    }
    // Receipts name members: in a channel, only those who may see its followers get them.
    if !rules::sees_all_members(&member) {
        return Err(AppError::forbidden(
            "only a channel's owner and admins see its receipts",
        ));
    }
    let message = app
        .store
        .message_by_seq(room, seq)
        .await?
        .ok_or(AppError::NotFound)?;
    // With read receipts off in a direct room, the other member's reads show as deliveries.
    let shared = member.kind != RoomKind::Direct
        || crate::chat::privacy::read_positions_shared(app, room, user).await?;
    let mut out = Receipts {
        read: vec![],
        delivered: vec![],
        pending: vec![],
    };
    for m in app.store.members(room).await? {
        if m.user_id == message.sender_id {
            continue;
        }
        if m.read_seq >= seq && (shared || m.user_id == user) {
            out.read.push(m.user_id);
        } else if m.delivered_seq >= seq {
            out.delivered.push(m.user_id);
        } else {
            out.pending.push(m.user_id);
        }
    }
    Ok(out)
}
