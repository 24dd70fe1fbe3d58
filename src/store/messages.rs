//! The per-room message streams and the cursors over them.
//!
//! `append` is the one way a message is stored: it takes the room's next `seq` with
//! `update rooms set last_seq = last_seq + 1 … returning last_seq` in the caller's transaction,
//! which numbers the stream without gaps and serialises writers per room on both databases.

use sqlx::{AnyConnection, FromRow};

use super::Store;
use crate::domain::{Message, MessageId, MessageKind, RoomId, UserId, now_ms};
use crate::error::{AppError, AppResult};

#[derive(FromRow)]
pub(super) struct MessageRow {
    id: i64,
    room_id: i64,
    seq: i64,
    sender_id: i64,
    kind: String,
    body: String,
    client_id: Option<String>,
    reply_to: Option<i64>,
    created_at: i64,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: MessageId(r.id),
            room_id: RoomId(r.room_id),
            seq: r.seq,
            sender_id: UserId(r.sender_id),
            kind: if r.kind == "system" {
                MessageKind::System
            } else {
                MessageKind::Text
            },
            body: r.body,
            client_id: r.client_id,
            reply_to: r.reply_to,
            created_at: r.created_at,
        }
    }
}

/// A message to store; `seq`, `id` and `created_at` are assigned by `append`.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<i64>,
}

/// Stores `m` as the room's next message and advances the sender's own cursors to it.
pub async fn append(conn: &mut AnyConnection, m: &NewMessage) -> Result<Message, sqlx::Error> {
    let now = now_ms();
    let seq: i64 = sqlx::query_scalar(
        "update rooms set last_seq = last_seq + 1, last_activity_at = $1 where id = $2 returning last_seq",
    )
    .bind(now)
    .bind(m.room_id.0)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "insert into messages (room_id, seq, sender_id, kind, body, client_id, reply_to, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(m.room_id.0)
    .bind(seq)
    .bind(m.sender_id.0)
    .bind(m.kind.as_str())
    .bind(&m.body)
    .bind(m.client_id.as_deref())
    .bind(m.reply_to)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "update memberships set delivered_seq = $1, read_seq = $1 where room_id = $2 and user_id = $3",
    )
    .bind(seq)
    .bind(m.room_id.0)
    .bind(m.sender_id.0)
    .execute(&mut *conn)
    .await?;
    Ok(Message {
        id: MessageId(id),
        room_id: m.room_id,
        seq,
        sender_id: m.sender_id,
        kind: m.kind,
        body: m.body.clone(),
        client_id: m.client_id.clone(),
        reply_to: m.reply_to,
        created_at: now,
    })
}

/// The message a sender already stored under `client_id`, if any.
pub async fn by_client_id(
    conn: &mut AnyConnection,
    sender: UserId,
    client_id: &str,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(
        "select id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at
         from messages where sender_id = $1 and client_id = $2",
    )
    .bind(sender.0)
    .bind(client_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// A page of messages, ascending by seq, and whether more lie beyond it.
pub struct Page {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Store {
    /// Up to `limit` messages with `seq > after`, ascending.
    pub async fn messages_after(&self, room: RoomId, after: i64, limit: i64) -> AppResult<Page> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(
            "select id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at
             from messages where room_id = $1 and seq > $2 order by seq limit $3",
        )
        .bind(room.0)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Ok(Page {
            messages: rows.into_iter().map(Into::into).collect(),
            has_more,
        })
    }

    /// Up to `limit` messages with `seq < before` (the newest of them), ascending.
    pub async fn messages_before(&self, room: RoomId, before: i64, limit: i64) -> AppResult<Page> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(
            "select id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at
             from messages where room_id = $1 and seq < $2 order by seq desc limit $3",
        )
        .bind(room.0)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        rows.reverse();
        Ok(Page {
            messages: rows.into_iter().map(Into::into).collect(),
            has_more,
        })
    }

    pub async fn message_by_seq(&self, room: RoomId, seq: i64) -> AppResult<Message> {
        let row: MessageRow = sqlx::query_as(
            "select id, room_id, seq, sender_id, kind, body, client_id, reply_to, created_at
             from messages where room_id = $1 and seq = $2",
        )
        .bind(room.0)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(AppError::NotFound)?;
        Ok(row.into())
    }

    /// Moves a member's delivered cursor forward (never back, never past the stream's end).
    /// Returns the new `(delivered_seq, read_seq)` when it moved.
    pub async fn advance_delivered(
        &self,
        room: RoomId,
        user: UserId,
        seq: i64,
    ) -> AppResult<Option<(i64, i64)>> {
        self.advance_cursor(
            "update memberships
             set delivered_seq = (select case when r.last_seq < $1 then r.last_seq else $1 end
                                  from rooms r where r.id = $2)
             where room_id = $2 and user_id = $3 and delivered_seq < $1
               and delivered_seq < (select last_seq from rooms where id = $2)
             returning delivered_seq, read_seq",
            room,
            user,
            seq,
        )
        .await
    }

    /// Moves a member's read cursor forward; reading implies delivery.
    /// Returns the new `(delivered_seq, read_seq)` when it moved.
    pub async fn advance_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: i64,
    ) -> AppResult<Option<(i64, i64)>> {
        self.advance_cursor(
            "update memberships
             set read_seq = (select case when r.last_seq < $1 then r.last_seq else $1 end
                             from rooms r where r.id = $2),
                 delivered_seq = (select case when delivered_seq > x.s then delivered_seq else x.s end
                                  from (select case when r.last_seq < $1 then r.last_seq else $1 end as s
                                        from rooms r where r.id = $2) x)
             where room_id = $2 and user_id = $3 and read_seq < $1
               and read_seq < (select last_seq from rooms where id = $2)
             returning delivered_seq, read_seq",
            room,
            user,
            seq,
        )
        .await
    }

    /// Runs one of the cursor updates above (`$1` seq, `$2` room, `$3` user).
    async fn advance_cursor(
        &self,
        sql: &'static str,
        room: RoomId,
        user: UserId,
        seq: i64,
    ) -> AppResult<Option<(i64, i64)>> {
        let mut w = self.begin_write().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(sql)
            .bind(seq)
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(row)
    }
}
