//! Message lifecycle: the current state of a message that edits, deletions and reactions change
//! (each change is also an entry of the stream, appended by the caller in the same
//! transaction), reactions, "delete for me", and full-text search.
//!
//! Search indexes `messages.search_text` (`domain::search_words` of a text message's body): FTS5
//! on SQLite, a `tsvector` GIN index on Postgres. A query is reduced to the same words and all
//! of them must match, so both databases find the same messages and no search syntax reaches
//! either.

use sqlx::AnyConnection;

/// The conditions every search shares after its backend's match (a macro so that `concat!`
/// keeps each query a literal): `$1` user, `$3` before id, `$4` limit, `$5` room or -1.
macro_rules! search_rest {
    () => {
        "
          and m.kind = 'text' and m.deleted_at is null and m.id < $3
          and (r.kind = 'channel' or m.seq > mb.joined_seq)
          and ($5 < 0 or m.room_id = $5)
          and not exists (select 1 from hidden_messages h
                          where h.user_id = $1 and h.room_id = m.room_id and h.seq = m.seq)
        order by m.id desc limit $4"
    };
}

use super::messages::MessageRow;
use super::{Backend, Store};
use crate::domain::{Hidden, Message, RoomId, Seq, UserId};
use crate::error::AppResult;

/// The entry at `seq` as it is now, if there is one.
pub async fn message_at(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        message_columns!(),
        "from messages m where m.room_id = $1 and m.seq = $2"
    ))
    .bind(room.0)
    .bind(seq.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Gives a message its new body (entry `change` recorded the edit).
pub async fn set_edited(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
    body: &str,
    change: &Message,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update messages set body = $1, search_text = $2, edited_at = $3, changed_seq = $4
         where room_id = $5 and seq = $6",
    )
    .bind(body)
    .bind(crate::domain::search_words(body))
    .bind(change.created_at)
    .bind(change.seq.0)
    .bind(room.0)
    .bind(seq.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes a message a tombstone: its body, the bodies of the edits that carried earlier versions
/// of it, its search words, its reactions and its attachments are erased, not hidden. Returns
/// the hashes of the media objects its attachments named, for `media::Media::collect` once
/// committed.
pub async fn set_deleted(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
    change: &Message,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "update messages set body = '', search_text = null, deleted_at = $1, deleted_by = $2,
                             changed_seq = $3, attachments = null
         where room_id = $4 and seq = $5",
    )
    .bind(change.created_at)
    .bind(change.sender_id.0)
    .bind(change.seq.0)
    .bind(room.0)
    .bind(seq.0)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update messages set body = '' where room_id = $1 and target_seq = $2 and kind = 'edit'",
    )
    .bind(room.0)
    .bind(seq.0)
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from reactions where room_id = $1 and seq = $2")
        .bind(room.0)
        .bind(seq.0)
        .execute(&mut *conn)
        .await?;
    super::attachments::release_message(conn, room, seq).await
}

/// `user`'s reaction to a message, if any.
pub async fn reaction_of(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
    user: UserId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select emoji from reactions where room_id = $1 and seq = $2 and user_id = $3",
    )
    .bind(room.0)
    .bind(seq.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await
}

/// Sets (or, with `None`, removes) `user`'s reaction to a message; entry `change` recorded it.
pub async fn set_reaction(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
    user: UserId,
    emoji: Option<&str>,
    change: &Message,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from reactions where room_id = $1 and seq = $2 and user_id = $3")
        .bind(room.0)
        .bind(seq.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    if let Some(emoji) = emoji {
        sqlx::query(
            "insert into reactions (room_id, seq, user_id, emoji, created_at)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(room.0)
        .bind(seq.0)
        .bind(user.0)
        .bind(emoji)
        .bind(change.created_at)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("update messages set changed_seq = $1 where room_id = $2 and seq = $3")
        .bind(change.seq.0)
        .bind(room.0)
        .bind(seq.0)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Reactions to the messages `from..=to` of a room: `(seq, user, emoji)`, oldest first.
    pub async fn reactions_between(
        &self,
        room: RoomId,
        from: Seq,
        to: Seq,
    ) -> AppResult<Vec<(Seq, UserId, String)>> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "select seq, user_id, emoji from reactions
             where room_id = $1 and seq >= $2 and seq <= $3 order by created_at, user_id",
        )
        .bind(room.0)
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, user, emoji)| (Seq(seq), UserId(user), emoji))
            .collect())
    }

    /// Which of the messages `from..=to` of a room `user` has hidden.
    pub async fn hidden_between(
        &self,
        user: UserId,
        room: RoomId,
        from: Seq,
        to: Seq,
    ) -> AppResult<Vec<Seq>> {
        let seqs: Vec<i64> = sqlx::query_scalar(
            "select seq from hidden_messages
             where user_id = $1 and room_id = $2 and seq >= $3 and seq <= $4",
        )
        .bind(user.0)
        .bind(room.0)
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(seqs.into_iter().map(Seq).collect())
    }

    /// Hides a message for `user`; `None` when it was hidden already.
    pub async fn hide(
        &self,
        user: UserId,
        room: RoomId,
        seq: Seq,
        now: i64,
    ) -> AppResult<Option<Hidden>> {
        let mut w = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into hidden_messages (user_id, room_id, seq, created_at) values ($1, $2, $3, $4)
             on conflict (user_id, room_id, seq) do nothing returning id",
        )
        .bind(user.0)
        .bind(room.0)
        .bind(seq.0)
        .bind(now)
        .fetch_optional(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(id.map(|id| Hidden {
            id,
            room_id: room,
            seq,
        }))
    }

    /// The messages `user` hid after `after` (by `Hidden::id`), oldest first, at most `limit`.
    pub async fn hidden_after(
        &self,
        user: UserId,
        after: i64,
        limit: i64,
    ) -> AppResult<Vec<Hidden>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "select id, room_id, seq from hidden_messages where user_id = $1 and id > $2
             order by id limit $3",
        )
        .bind(user.0)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, room, seq)| Hidden {
                id,
                room_id: RoomId(room),
                seq: Seq(seq),
            })
            .collect())
    }

    /// Text messages `user` may read whose words include every one of `words` (space-separated,
    /// as `domain::search_words` makes them), newest first, with ids below `before`; in one room
    /// or all of the user's rooms. Respects the joining floor, deletions and hidden messages.
    pub async fn search(
        &self,
        user: UserId,
        words: &str,
        room: Option<RoomId>,
        before: i64,
        limit: i64,
    ) -> AppResult<Vec<Message>> {
        let (sql, query) = match self.backend {
            Backend::Sqlite => {
                // Each word quoted: FTS5 reads them as plain terms, all required.
                let terms: Vec<String> = words.split(' ').map(|w| format!("\"{w}\"")).collect();
                (
                    concat!(
                        message_columns!(),
                        "from messages_fts f join messages m on m.id = f.rowid
                         join memberships mb on mb.room_id = m.room_id and mb.user_id = $1
                         join rooms r on r.id = m.room_id
                         where messages_fts match $2",
                        search_rest!()
                    ),
                    terms.join(" "),
                )
            }
            Backend::Postgres => (
                concat!(
                    message_columns!(),
                    "from messages m
                     join memberships mb on mb.room_id = m.room_id and mb.user_id = $1
                     join rooms r on r.id = m.room_id
                     where to_tsvector('simple', coalesce(m.search_text, ''))
                           @@ plainto_tsquery('simple', $2)",
                    search_rest!()
                ),
                words.to_owned(),
            ),
        };
        let rows: Vec<MessageRow> = sqlx::query_as(sql)
            .bind(user.0)
            .bind(query)
            .bind(before)
            .bind(limit)
            .bind(room.map_or(-1, |r| r.0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
