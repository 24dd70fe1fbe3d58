//! Attachments as people use them: upload, the signed links browsers download with, who may
//! read one (the rule is `domain::media::may_read`), and profile and room pictures. The bytes
//! are `media`'s; the rows are the store's; sending a message with attachments is
//! `chat::messages::send`.

use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::chat::messages::append_system;
use crate::domain::events::ServerEvent;
use crate::domain::media::{self as rules, Carrier};
use crate::domain::{Attachment, AttachmentId, Room, RoomId, RoomKind, User, UserId, now_ms};
use crate::error::{AppError, AppResult};
use crate::media::links::{LinkKey, Variant};
use crate::store::attachments::{NewAttachment, StoredAttachment};
use crate::store::rooms as room_sql;

/// `POST /api/attachments`: receives an upload (streamed, never held in memory; `too_large`
/// past `MISSIVE_MAX_UPLOAD` while it streams), prepares and stores it, and records it for
/// `user` within their quota. Nothing is kept of a refused upload.
pub async fn upload<S, E>(
    app: &App,
    user: UserId,
    name: Option<&str>,
    declared_len: Option<u64>,
    body: S,
) -> AppResult<Attachment>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    super::charge(app, user)?;
    let limit = app.config.max_upload;
    if declared_len.is_some_and(|n| n > limit) {
        return Err(AppError::TooLarge);
    }
    let staged = app.media.stage(body, limit).await?;
    if staged.size == 0 {
        return Err(AppError::invalid("the file is empty"));
    }
    let prepared = app.media.prepare(staged).await?;
    let new = NewAttachment {
        uploader: user,
        sha256: prepared.sha256.clone(),
        thumb_sha256: prepared.thumbnail.as_ref().map(|(sha, _)| sha.clone()),
        name: rules::file_name(name),
        content_type: prepared.content_type.clone(),
        size: prepared.size as i64,
        width: prepared.width,
        height: prepared.height,
        blurhash: prepared.blurhash.clone(),
    };
    let mut hashes = vec![new.sha256.clone()];
    hashes.extend(new.thumb_sha256.clone());
    let quota = (app.config.media_quota > 0).then_some(app.config.media_quota);
    let result = {
        let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
        let _guard = app.media.lock(&refs).await;
        match app.media.put(prepared).await {
            Ok(()) => app.store.insert_attachment(&new, quota).await,
            Err(e) => Err(e),
        }
    };
    if result.is_err() {
        // A refused upload (quota) or a failed insert leaves no object behind.
        app.media.collect(&app.store, hashes).await;
    }
    result
}

/// The attachment `reader` may read, or `not_found`.
pub async fn readable(app: &App, reader: UserId, id: AttachmentId) -> AppResult<StoredAttachment> {
    let stored = app.store.attachment(id).await?.ok_or(AppError::NotFound)?;
    let carrier = match (stored.used_as.as_deref(), stored.room_id, stored.seq) {
        (Some("avatar"), _, _) => Carrier::Avatar,
        (Some(_), Some(room), _) => {
            let member = app.store.access(room, reader).await?.is_some();
            let channel = app
                .store
                .room_shared(room)
                .await?
                .is_some_and(|r| r.kind == RoomKind::Channel);
            Carrier::RoomPicture { member, channel }
        }
        (None, Some(room), Some(seq)) => Carrier::Message {
            seq,
            member: app.store.access(room, reader).await?,
        },
        _ => Carrier::Unused,
    };
    if rules::may_read(stored.uploader == reader, carrier) {
        Ok(stored)
    } else {
        Err(AppError::NotFound)
    }
}

/// `POST /api/attachments/links`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LinksInput {
    /// At most 100.
    pub ids: Vec<AttachmentId>,
}

/// A signed download link of an attachment (and of its thumbnail, if it has one).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Link {
    pub id: AttachmentId,
    /// A path with its query (`/api/attachments/{id}?u=…&exp=…&sig=…`): relative to the server.
    pub url: String,
    pub thumbnail_url: Option<String>,
}

/// The answer of `POST /api/attachments/links`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Links {
    /// One per requested attachment the caller may read (the others are left out).
    pub links: Vec<Link>,
    /// Unix seconds after which the links stop working.
    pub expires_at: i64,
}

/// Most links minted by one request.
const MAX_LINKS: usize = 100;

/// Mints signed links to the attachments among `ids` that `user` may read.
pub async fn links(app: &App, user: UserId, input: &LinksInput) -> AppResult<Links> {
    if input.ids.len() > MAX_LINKS {
        return Err(AppError::invalid(format!(
            "at most {MAX_LINKS} ids at once"
        )));
    }
    let now = now_ms() / 1000;
    let exp = LinkKey::expiry(now);
    let key = app.media.links();
    let mut links = Vec::with_capacity(input.ids.len());
    for &id in &input.ids {
        let stored = match readable(app, user, id).await {
            Ok(stored) => stored,
            Err(AppError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        links.push(Link {
            id,
            url: format!(
                "/api/attachments/{id}?{}",
                key.sign(user, id, Variant::Original, exp)
            ),
            thumbnail_url: stored.thumb_sha256.is_some().then(|| {
                format!(
                    "/api/attachments/{id}/thumbnail?{}",
                    key.sign(user, id, Variant::Thumbnail, exp)
                )
            }),
        });
    }
    Ok(Links {
        links,
        expires_at: exp,
    })
}

/// What a download serves.
pub struct Download {
    /// The object to read.
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub name: String,
    /// Shown inline (an image the server re-encoded) rather than saved.
    pub inline: bool,
}

/// The original or the thumbnail of an attachment `reader` may read, or `not_found`.
pub async fn download(
    app: &App,
    reader: UserId,
    id: AttachmentId,
    variant: Variant,
) -> AppResult<Download> {
    let stored = readable(app, reader, id).await?;
    let a = stored.attachment;
    match variant {
        Variant::Original => Ok(Download {
            inline: rules::is_inline_image(&a.content_type),
            sha256: a.sha256,
            size: u64::try_from(a.size).unwrap_or(0),
            content_type: a.content_type,
            name: a.name,
        }),
        Variant::Thumbnail => {
            let sha = stored.thumb_sha256.ok_or(AppError::NotFound)?;
            Ok(Download {
                size: app.media.size(&sha).await?,
                sha256: sha,
                content_type: "image/jpeg".to_owned(),
                name: format!("thumbnail-{}.jpg", a.id),
                inline: true,
            })
        }
    }
}

/// `PUT /api/me/avatar` (`Some`) and `DELETE /api/me/avatar` (`None`): the profile picture, one
/// of the user's unused image uploads; `user:updated` to contacts and their own devices.
pub async fn set_avatar(app: &App, user: UserId, picture: Option<AttachmentId>) -> AppResult<User> {
    super::charge(app, user)?;
    let (updated, old) = app.store.set_avatar(user, picture).await?;
    app.media.collect(&app.store, old).await;
    let audience = super::privacy::profile_audience(app, user).await?;
    app.delivery()
        .to_users(audience, ServerEvent::UserUpdated(updated.clone()))
        .await;
    Ok(updated)
}

/// `PATCH /api/rooms/{id}` with `description` and `PUT`/`DELETE /api/rooms/{id}/picture`: what
/// changes about a room besides its name.
#[derive(Debug, Default)]
pub struct RoomLook {
    pub description: Option<String>,
    /// `Some(None)` clears the picture.
    pub picture: Option<Option<AttachmentId>>,
}

/// Changes a group's or channel's description or picture (owners and admins, as for a
/// rename): a `room_updated` system message in the stream, then `room:updated`.
pub async fn restyle_room(
    app: &App,
    actor: UserId,
    room: RoomId,
    look: RoomLook,
) -> AppResult<Room> {
    super::charge(app, actor)?;
    let description = look
        .description
        .as_deref()
        .map(super::safety::parse_description)
        .transpose()?;
    let mut w = app.store.begin_write().await?;
    room_sql::lock_room(&mut w.tx, room).await?;
    let member = room_sql::access(&mut w.tx, room, actor)
        .await?
        .ok_or(AppError::NotFound)?;
    crate::domain::rules::may_rename(&member)?;
    let mut old = Vec::new();
    let mut changed = Vec::new();
    if let Some(d) = &description {
        room_sql::set_description(&mut w.tx, room, d).await?;
        changed.push("description");
    }
    if let Some(picture) = look.picture {
        old = crate::store::Store::set_room_picture(&mut w.tx, room, actor, picture).await?;
        changed.push("picture");
    }
    append_system(
        &mut w,
        room,
        actor,
        json!({"event": "room_updated", "user_id": actor, "changed": changed}),
    )
    .await?;
    w.commit().await?;
    app.media.collect(&app.store, old).await;
    super::rooms::announce_room(app, room).await;
    super::rooms::room_for(app, room, actor).await
}
