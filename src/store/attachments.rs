//! Attachments: one row per upload, naming its object in the media store by SHA-256 (rows
//! share an object when they have the same bytes). A row is unused until a message, a profile
//! or a room takes it; the sweeper removes unused rows after a day. Whoever removes rows gets
//! back the hashes they named, and asks the media store to drop the objects no row names any
//! more (`media::Media::collect`).

use sqlx::{AnyConnection, FromRow};

use super::Store;
use crate::domain::{Attachment, AttachmentId, RoomId, Seq, User, UserId, now_ms};
use crate::error::{AppError, AppResult};

/// The columns of `AttachmentRow`; a macro so that `concat!` keeps each query a literal.
macro_rules! attachment_columns {
    () => {
        "select a.id, a.uploader_id, a.sha256, a.thumb_sha256, a.name, a.content_type, a.size,
                a.width, a.height, a.blurhash, a.room_id, a.seq, a.used_as
         "
    };
}

#[derive(FromRow)]
struct AttachmentRow {
    id: i64,
    uploader_id: i64,
    sha256: String,
    thumb_sha256: Option<String>,
    name: String,
    content_type: String,
    size: i64,
    width: Option<i64>,
    height: Option<i64>,
    blurhash: Option<String>,
    room_id: Option<i64>,
    seq: Option<i64>,
    used_as: Option<String>,
}

/// An upload as stored, with what decides who may read it.
#[derive(Clone, Debug)]
pub struct StoredAttachment {
    pub attachment: Attachment,
    pub uploader: UserId,
    pub thumb_sha256: Option<String>,
    /// The room of the message carrying it, or of the room picture it is.
    pub room_id: Option<RoomId>,
    /// The message carrying it (`None` also while a send that claimed it is committing).
    pub seq: Option<Seq>,
    pub used_as: Option<String>,
}

impl From<AttachmentRow> for StoredAttachment {
    fn from(r: AttachmentRow) -> Self {
        StoredAttachment {
            attachment: Attachment {
                id: AttachmentId(r.id),
                name: r.name,
                content_type: r.content_type,
                size: r.size,
                sha256: r.sha256,
                width: r.width.and_then(|w| u32::try_from(w).ok()),
                height: r.height.and_then(|h| u32::try_from(h).ok()),
                blurhash: r.blurhash,
                thumbnail: r.thumb_sha256.is_some(),
            },
            uploader: UserId(r.uploader_id),
            thumb_sha256: r.thumb_sha256,
            room_id: r.room_id.map(RoomId),
            seq: r.seq.filter(|s| *s > 0).map(Seq),
            used_as: r.used_as,
        }
    }
}

/// An upload to record; its object is already in the media store.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub uploader: UserId,
    pub sha256: String,
    pub thumb_sha256: Option<String>,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub blurhash: Option<String>,
}

/// The hashes of the objects removed rows named (originals and thumbnails).
fn hashes(rows: Vec<(String, Option<String>)>) -> Vec<String> {
    let mut out = Vec::with_capacity(rows.len() * 2);
    for (sha, thumb) in rows {
        out.push(sha);
        out.extend(thumb);
    }
    out.sort();
    out.dedup();
    out
}

impl Store {
    /// Bytes of the distinct files `user` has uploaded (the same file twice counts once).
    pub async fn media_used(&self, user: UserId) -> AppResult<i64> {
        let used: Option<i64> = sqlx::query_scalar(
            "select cast(sum(size) as bigint) from
               (select sha256, max(size) as size from attachments where uploader_id = $1 group by sha256) d",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(used.unwrap_or(0))
    }

    /// Records an upload, unless it would take its uploader past `quota` bytes of distinct
    /// files (`quota_exceeded`). The check and the insert are one transaction, with the
    /// uploader's row locked on Postgres, so concurrent uploads cannot pass the quota together.
    pub async fn insert_attachment(
        &self,
        new: &NewAttachment,
        quota: Option<u64>,
    ) -> AppResult<Attachment> {
        let mut w = self.begin_write().await?;
        if let Some(quota) = quota {
            // Locks the uploader's row on Postgres (SQLite has one writer anyway).
            sqlx::query("update users set id = id where id = $1")
                .bind(new.uploader.0)
                .execute(&mut *w.tx)
                .await?;
            let known: i64 = sqlx::query_scalar(
                "select count(*) from attachments where uploader_id = $1 and sha256 = $2",
            )
            .bind(new.uploader.0)
            .bind(&new.sha256)
            .fetch_one(&mut *w.tx)
            .await?;
            if known == 0 {
                let used: Option<i64> = sqlx::query_scalar(
                    "select cast(sum(size) as bigint) from
                       (select sha256, max(size) as size from attachments where uploader_id = $1 group by sha256) d",
                )
                .bind(new.uploader.0)
                .fetch_one(&mut *w.tx)
                .await?;
                let after = used.unwrap_or(0).saturating_add(new.size);
                if u64::try_from(after).unwrap_or(u64::MAX) > quota {
                    return Err(AppError::QuotaExceeded);
                }
            }
        }
        let id: i64 = sqlx::query_scalar(
            "insert into attachments (uploader_id, sha256, thumb_sha256, name, content_type, size,
                                      width, height, blurhash, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
        )
        .bind(new.uploader.0)
        .bind(&new.sha256)
        .bind(new.thumb_sha256.as_deref())
        .bind(&new.name)
        .bind(&new.content_type)
        .bind(new.size)
        .bind(new.width.map(i64::from))
        .bind(new.height.map(i64::from))
        .bind(new.blurhash.as_deref())
        .bind(now_ms())
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(Attachment {
            id: AttachmentId(id),
            name: new.name.clone(),
            content_type: new.content_type.clone(),
            size: new.size,
            sha256: new.sha256.clone(),
            width: new.width,
            height: new.height,
            blurhash: new.blurhash.clone(),
            thumbnail: new.thumb_sha256.is_some(),
        })
    }

    /// The upload with this id, if there is one.
    pub async fn attachment(&self, id: AttachmentId) -> AppResult<Option<StoredAttachment>> {
        let row: Option<AttachmentRow> = sqlx::query_as(concat!(
            attachment_columns!(),
            "from attachments a where a.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// `uploader`'s unused uploads among `ids`, in the order of `ids` (missing ones left out).
    pub async fn unused_attachments(
        &self,
        uploader: UserId,
        ids: &[AttachmentId],
    ) -> AppResult<Vec<Attachment>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<AttachmentRow> = sqlx::query_as(concat!(
                attachment_columns!(),
                "from attachments a
                 where a.id = $1 and a.uploader_id = $2 and a.room_id is null and a.used_as is null"
            ))
            .bind(id.0)
            .bind(uploader.0)
            .fetch_optional(&self.pool)
            .await?;
            out.extend(row.map(|r| StoredAttachment::from(r).attachment));
        }
        Ok(out)
    }

    /// Removes the uploads created before `cutoff` that nothing took; returns the hashes they
    /// named.
    pub async fn sweep_unused(&self, cutoff: i64) -> AppResult<Vec<String>> {
        let mut w = self.begin_write().await?;
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "delete from attachments
             where room_id is null and used_as is null and created_at < $1
             returning sha256, thumb_sha256",
        )
        .bind(cutoff)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(hashes(rows))
    }

    /// Whether any upload still names the object `sha256` (as its file or its thumbnail).
    pub async fn object_referenced(&self, sha256: &str) -> AppResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from attachments where sha256 = $1 or thumb_sha256 = $1",
        )
        .bind(sha256)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Sets (or, with `None`, clears) `user`'s profile picture: one of their unused image
    /// uploads. The previous picture's row is removed; returns the user and the hashes to
    /// collect. `invalid` when the upload is not theirs, used, or not an image.
    pub async fn set_avatar(
        &self,
        user: UserId,
        picture: Option<AttachmentId>,
    ) -> AppResult<(User, Vec<String>)> {
        let mut w = self.begin_write().await?;
        let old: Vec<(String, Option<String>)> = sqlx::query_as(
            "delete from attachments where uploader_id = $1 and used_as = 'avatar'
             returning sha256, thumb_sha256",
        )
        .bind(user.0)
        .fetch_all(&mut *w.tx)
        .await?;
        let snapshot = match picture {
            Some(id) => Some(take_picture(&mut w.tx, user, id, "avatar", None).await?),
            None => None,
        };
        let json = snapshot
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        let row: Option<super::users::UserRow> = sqlx::query_as(
            "update users set avatar = $1 where id = $2
             returning id, username, display_name, created_at, avatar",
        )
        .bind(json)
        .bind(user.0)
        .fetch_optional(&mut *w.tx)
        .await?;
        let user = row.ok_or(AppError::NotFound)?.into();
        w.commit().await?;
        Ok((user, hashes(old)))
    }

    /// Sets (or clears) a room's picture, in the caller's transaction (the rule that the caller
    /// may is the chat layer's). Returns the hashes to collect once committed.
    pub async fn set_room_picture(
        conn: &mut AnyConnection,
        room: RoomId,
        actor: UserId,
        picture: Option<AttachmentId>,
    ) -> AppResult<Vec<String>> {
        let old: Vec<(String, Option<String>)> = sqlx::query_as(
            "delete from attachments where room_id = $1 and used_as = 'room_picture'
             returning sha256, thumb_sha256",
        )
        .bind(room.0)
        .fetch_all(&mut *conn)
        .await?;
        let snapshot = match picture {
            Some(id) => Some(take_picture(conn, actor, id, "room_picture", Some(room)).await?),
            None => None,
        };
        let json = snapshot
            .as_ref()
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        sqlx::query("update rooms set picture = $1 where id = $2")
            .bind(json)
            .bind(room.0)
            .execute(&mut *conn)
            .await?;
        Ok(hashes(old))
    }
}

/// Marks one of `owner`'s unused image uploads as a picture; returns its description.
async fn take_picture(
    conn: &mut AnyConnection,
    owner: UserId,
    id: AttachmentId,
    used_as: &str,
    room: Option<RoomId>,
) -> AppResult<Attachment> {
    let row: Option<AttachmentRow> = sqlx::query_as(concat!(
        attachment_columns!(),
        "from attachments a
         where a.id = $1 and a.uploader_id = $2 and a.room_id is null and a.used_as is null"
    ))
    .bind(id.0)
    .bind(owner.0)
    .fetch_optional(&mut *conn)
    .await?;
    let stored: StoredAttachment = row
        .ok_or_else(|| AppError::invalid("attachment_id is not one of your unused uploads"))?
        .into();
    if stored.attachment.width.is_none() {
        return Err(AppError::invalid("a picture must be an image"));
    }
    sqlx::query("update attachments set used_as = $1, room_id = $2 where id = $3")
        .bind(used_as)
        .bind(room.map(|r| r.0))
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    Ok(stored.attachment)
}

/// Claims `sender`'s unused uploads `ids` for a message of `room` being stored in this
/// transaction (its seq is set by `bind_to_message` once known). `false`, with nothing
/// claimed, when one of them is not the sender's unused upload.
pub async fn claim(
    conn: &mut AnyConnection,
    room: RoomId,
    sender: UserId,
    ids: &[AttachmentId],
) -> Result<bool, sqlx::Error> {
    for (i, id) in ids.iter().enumerate() {
        let done = sqlx::query(
            "update attachments set room_id = $1, seq = 0
             where id = $2 and uploader_id = $3 and room_id is null and used_as is null",
        )
        .bind(room.0)
        .bind(id.0)
        .bind(sender.0)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if done != 1 {
            for undo in &ids[..i] {
                sqlx::query("update attachments set room_id = null, seq = null where id = $1")
                    .bind(undo.0)
                    .execute(&mut *conn)
                    .await?;
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// Gives claimed uploads the seq of the message that carries them.
pub async fn bind_to_message(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
    ids: &[AttachmentId],
) -> Result<(), sqlx::Error> {
    for id in ids {
        sqlx::query("update attachments set seq = $1 where id = $2 and room_id = $3")
            .bind(seq.0)
            .bind(id.0)
            .bind(room.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Removes the uploads the message at `seq` carried (it was deleted for everyone); returns the
/// hashes they named.
pub async fn release_message(
    conn: &mut AnyConnection,
    room: RoomId,
    seq: Seq,
) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "delete from attachments where room_id = $1 and seq = $2 and used_as is null
         returning sha256, thumb_sha256",
    )
    .bind(room.0)
    .bind(seq.0)
    .fetch_all(conn)
    .await?;
    Ok(hashes(rows))
}
