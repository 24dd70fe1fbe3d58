//! Rooms and memberships: creation, the caller's view of a room, member lists, and the
//! membership changes (each in the caller's write transaction, beside its system message).

use sqlx::{AnyConnection, FromRow};

use super::Store;
use crate::domain::{
    Member, Membership, Message, MessageId, MessageKind, MyView, Role, Room, RoomId, RoomKind, Seq,
    UserId, now_ms,
};
use crate::error::{AppError, AppResult};

/// The columns of `RoomRow`: a room, the caller's membership `m` (role, cursors, unread count)
/// and the last message `lm`. A macro so that `concat!` keeps each query a literal.
macro_rules! room_columns {
    () => {
        "select r.id, r.kind, r.name, r.created_at, r.owner_id, r.max_members, r.last_seq,
                r.last_message_seq, r.closed_at,
                (select count(*) from memberships c where c.room_id = r.id) as members_count,
                m.role as my_role, m.delivered_seq as my_delivered, m.read_seq as my_read,
                (select count(*) from messages x
                 where x.room_id = r.id and x.seq > m.read_seq and x.sender_id <> m.user_id
                   and x.kind in ('text', 'system')) as unread,
                lm.id as lm_id, lm.sender_id as lm_sender, lm.kind as lm_kind, lm.body as lm_body,
                lm.client_id as lm_client_id, lm.reply_to as lm_reply_to, lm.created_at as lm_created_at,
                lm.changed_seq as lm_changed_seq, lm.edited_at as lm_edited_at,
                lm.deleted_at as lm_deleted_at, lm.deleted_by as lm_deleted_by,
                lm.forwarded as lm_forwarded, lm.attachments as lm_attachments,
                r.description, r.picture
         "
    };
}

/// A room row joined with its last message and, optionally, the caller's membership.
#[derive(FromRow)]
struct RoomRow {
    id: i64,
    kind: String,
    name: String,
    created_at: i64,
    owner_id: Option<i64>,
    max_members: Option<i64>,
    last_seq: i64,
    last_message_seq: i64,
    closed_at: Option<i64>,
    members_count: i64,
    my_role: Option<String>,
    my_delivered: Option<i64>,
    my_read: Option<i64>,
    unread: Option<i64>,
    lm_id: Option<i64>,
    lm_sender: Option<i64>,
    lm_kind: Option<String>,
    lm_body: Option<String>,
    lm_client_id: Option<String>,
    lm_reply_to: Option<i64>,
    lm_created_at: Option<i64>,
    lm_changed_seq: Option<i64>,
    lm_edited_at: Option<i64>,
    lm_deleted_at: Option<i64>,
    lm_deleted_by: Option<i64>,
    lm_forwarded: Option<i64>,
    lm_attachments: Option<String>,
    description: String,
    picture: Option<String>,
}

impl From<RoomRow> for Room {
    fn from(r: RoomRow) -> Self {
        let last_message = match (r.lm_id, r.lm_sender, r.lm_body, r.lm_created_at) {
            (Some(id), Some(sender), Some(body), Some(created_at)) => Some(Message {
                id: MessageId(id),
                room_id: RoomId(r.id),
                seq: Seq(r.last_message_seq),
                sender_id: UserId(sender),
                kind: MessageKind::from_db(r.lm_kind.as_deref().unwrap_or("text")),
                body,
                client_id: r.lm_client_id,
                reply_to: r.lm_reply_to.map(Seq),
                created_at,
                changed_seq: r.lm_changed_seq.map(Seq),
                edited_at: r.lm_edited_at,
                deleted_at: r.lm_deleted_at,
                deleted_by: r.lm_deleted_by.map(UserId),
                forwarded: r.lm_forwarded.unwrap_or(0) != 0,
                attachments: super::messages::attachments_of(r.lm_attachments.as_deref()),
                ..Message::default()
            }),
            _ => None,
        };
        let me = r.my_role.map(|role| MyView {
            my_role: Role::from_db(&role),
            delivered_seq: Seq(r.my_delivered.unwrap_or(0)),
            read_seq: Seq(r.my_read.unwrap_or(0)),
            unread_count: r.unread.unwrap_or(0),
        });
        Room {
            id: RoomId(r.id),
            kind: RoomKind::from_db(&r.kind),
            name: r.name,
            created_at: r.created_at,
            owner_id: r.owner_id.map(UserId),
            max_members: r.max_members,
            members_count: r.members_count,
            last_seq: Seq(r.last_seq),
            closed_at: r.closed_at,
            last_message,
            description: r.description,
            picture: super::users::picture_of(r.picture.as_deref()),
            me,
            members: None,
        }
    }
}

/// The columns of `MemberRow`; a macro so that `concat!` keeps each query a literal.
macro_rules! member_select {
    () => {
        "select u.id, u.username, u.display_name, m.role, m.joined_at, m.delivered_seq, m.read_seq
         from memberships m join users u on u.id = m.user_id
         "
    };
}

#[derive(FromRow)]
struct MemberRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    joined_at: i64,
    delivered_seq: i64,
    read_seq: i64,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            user_id: UserId(r.id),
            username: r.username,
            display_name: r.display_name,
            role: Role::from_db(&r.role),
            joined_at: r.joined_at,
            delivered_seq: Seq(r.delivered_seq),
            read_seq: Seq(r.read_seq),
            online: false,
        }
    }
}

/// The names of `membership_columns!`'s columns, in order (for `values::packed`).
pub(super) const MEMBERSHIP_FIELDS: &str =
    "room_id, user_id, kind, role, delivered_seq, read_seq, last_seq, joined_seq, closed_at";

/// A membership row, read with `membership_columns!` (or, packed, with `MEMBERSHIP_FIELDS`).
#[derive(FromRow, serde::Deserialize)]
pub(super) struct MembershipRow {
    room_id: i64,
    user_id: i64,
    kind: String,
    role: String,
    delivered_seq: i64,
    read_seq: i64,
    last_seq: i64,
    joined_seq: i64,
    closed_at: Option<i64>,
}

impl MembershipRow {
    /// `((room, user), membership)`.
    pub(super) fn keyed(self) -> ((RoomId, UserId), Membership) {
        let key = (RoomId(self.room_id), UserId(self.user_id));
        (key, self.into())
    }
}

impl From<MembershipRow> for Membership {
    fn from(r: MembershipRow) -> Self {
        Membership {
            kind: RoomKind::from_db(&r.kind),
            role: Role::from_db(&r.role),
            delivered_seq: Seq(r.delivered_seq),
            read_seq: Seq(r.read_seq),
            last_seq: Seq(r.last_seq),
            joined_seq: Seq(r.joined_seq),
            closed: r.closed_at.is_some(),
        }
    }
}

impl Store {
    /// The caller's membership of a room; `None` when not a member (or no such room).
    pub async fn access(&self, room: RoomId, user: UserId) -> AppResult<Option<Membership>> {
        access(&mut *self.pool.acquire().await?, room, user)
            .await
            .map_err(Into::into)
    }

    /// A room as `user` sees it (with `my_role`, cursors and `unread_count`); `None` when the
    /// user is not a member.
    pub async fn room_for(&self, room: RoomId, user: UserId) -> AppResult<Option<Room>> {
        let row: Option<RoomRow> = sqlx::query_as(concat!(
            room_columns!(),
            "from rooms r
             join memberships m on m.room_id = r.id and m.user_id = $2
             left join messages lm on lm.room_id = r.id and lm.seq = r.last_message_seq
                 and (lm.seq > m.joined_seq or r.kind = 'channel')
             where r.id = $1"
        ))
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// A room without anyone's own view: the `room:updated` payload. (No membership row has
    /// user id 0, so the caller's columns come back null.)
    pub async fn room_shared(&self, room: RoomId) -> AppResult<Option<Room>> {
        let row: Option<RoomRow> = sqlx::query_as(concat!(
            room_columns!(),
            "from rooms r
             left join memberships m on m.room_id = r.id and m.user_id = 0
             left join messages lm on lm.room_id = r.id and lm.seq = r.last_message_seq
             where r.id = $1"
        ))
        .bind(room.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Every room of `user`, most recent activity first.
    pub async fn rooms_for(&self, user: UserId) -> AppResult<Vec<Room>> {
        let rows: Vec<RoomRow> = sqlx::query_as(concat!(
            room_columns!(),
            "from memberships m
             join rooms r on r.id = m.room_id
             left join messages lm on lm.room_id = r.id and lm.seq = r.last_message_seq
                 and (lm.seq > m.joined_seq or r.kind = 'channel')
             where m.user_id = $1
             order by r.last_activity_at desc, r.id desc"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Ids of every room of `user`: the Socket.IO rooms its sockets join.
    pub async fn room_ids_for(&self, user: UserId) -> AppResult<Vec<RoomId>> {
        let ids: Vec<i64> =
            sqlx::query_scalar("select room_id from memberships where user_id = $1")
                .bind(user.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(ids.into_iter().map(RoomId).collect())
    }

    /// Every membership of `user`, by room id: where catch-up starts from.
    pub async fn memberships_of(&self, user: UserId) -> AppResult<Vec<(RoomId, Membership)>> {
        let rows: Vec<MembershipRow> = sqlx::query_as(concat!(
            membership_columns!(),
            "from memberships m join rooms r on r.id = m.room_id
             where m.user_id = $1 order by r.id"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let ((room, _), m) = r.keyed();
                (room, m)
            })
            .collect())
    }

    /// Members with their cursors, earliest joined first (`online` is filled by the caller).
    pub async fn members(&self, room: RoomId) -> AppResult<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(concat!(
            member_select!(),
            "where m.room_id = $1 order by m.joined_at, u.id"
        ))
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One member of a room, with its cursors (`online` is filled by the caller).
    pub async fn member(&self, room: RoomId, user: UserId) -> AppResult<Option<Member>> {
        let row: Option<MemberRow> = sqlx::query_as(concat!(
            member_select!(),
            "where m.room_id = $1 and m.user_id = $2"
        ))
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The direct room of a pair, created on first use. Returns `(room, created)`.
    pub async fn direct_room(&self, a: UserId, b: UserId) -> AppResult<(RoomId, bool)> {
        let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
        let existing: Option<i64> =
            sqlx::query_scalar("select id from rooms where direct_key = $1")
                .bind(&key)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(id) = existing {
            self.direct_rooms.insert(a, b, RoomId(id));
            return Ok((RoomId(id), false));
        }
        let now = now_ms();
        let mut w = self.begin_write().await?;
        let created: Option<i64> = sqlx::query_scalar(
            "insert into rooms (kind, name, created_at, last_activity_at, direct_key)
             values ('direct', '', $1, $1, $2)
             on conflict (direct_key) do nothing returning id",
        )
        .bind(now)
        .bind(&key)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(id) = created else {
            // Another node created it between our look-up and insert.
            drop(w);
            let id: i64 = sqlx::query_scalar("select id from rooms where direct_key = $1")
                .bind(&key)
                .fetch_one(&self.pool)
                .await?;
            self.direct_rooms.insert(a, b, RoomId(id));
            return Ok((RoomId(id), false));
        };
        for user in [a, b] {
            insert_member(&mut w.tx, RoomId(id), user, Role::Member, now).await?;
        }
        w.commit().await?;
        self.direct_rooms.insert(a, b, RoomId(id));
        Ok((RoomId(id), true))
    }

    /// Creates a group or channel owned by `owner`, with `members` as plain members.
    pub async fn create_room(
        &self,
        kind: RoomKind,
        name: &str,
        owner: UserId,
        max_members: Option<i64>,
        members: &[UserId],
    ) -> AppResult<RoomId> {
        let now = now_ms();
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "insert into rooms (kind, name, owner_id, max_members, created_at, last_activity_at)
             values ($1, $2, $3, $4, $5, $5) returning id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(owner.0)
        .bind(max_members)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        insert_member(&mut w.tx, RoomId(id), owner, Role::Owner, now).await?;
        for &user in members.iter().filter(|&&u| u != owner) {
            if !user_exists(&mut w.tx, user).await? {
                return Err(AppError::invalid("members: no such user"));
            }
            insert_member(&mut w.tx, RoomId(id), user, Role::Member, now).await?;
        }
        w.commit().await?;
        Ok(RoomId(id))
    }
}

pub async fn access(
    conn: &mut AnyConnection,
    room: RoomId,
    user: UserId,
) -> Result<Option<Membership>, sqlx::Error> {
    let row: Option<MembershipRow> = sqlx::query_as(concat!(
        membership_columns!(),
        "from memberships m join rooms r on r.id = m.room_id
         where m.room_id = $1 and m.user_id = $2"
    ))
    .bind(room.0)
    .bind(user.0)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// What joining a room depends on, whether or not the caller belongs to it.
pub struct RoomMeta {
    pub kind: RoomKind,
    pub max_members: Option<i64>,
    /// When an operator closed it.
    pub closed_at: Option<i64>,
}

/// The room's kind, cap and closing, whether or not the caller belongs to it.
pub async fn room_meta(
    conn: &mut AnyConnection,
    room: RoomId,
) -> Result<Option<RoomMeta>, sqlx::Error> {
    let row: Option<(String, Option<i64>, Option<i64>)> =
        sqlx::query_as("select kind, max_members, closed_at from rooms where id = $1")
            .bind(room.0)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(k, max_members, closed_at)| RoomMeta {
        kind: RoomKind::from_db(&k),
        max_members,
        closed_at,
    }))
}

/// Sets (`Some`) or clears (`None`) the room's `closed_at`.
pub async fn set_closed(
    conn: &mut AnyConnection,
    room: RoomId,
    closed_at: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set closed_at = $1 where id = $2")
        .bind(closed_at)
        .bind(room.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the room row's write lock for the rest of the transaction (a no-op update: portable,
/// unlike `select … for update`). SQLite's single writer needs nothing more.
pub async fn lock_room(conn: &mut AnyConnection, room: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set last_seq = last_seq where id = $1")
        .bind(room.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn user_exists(conn: &mut AnyConnection, user: UserId) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("select id from users where id = $1")
        .bind(user.0)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub async fn member_count(conn: &mut AnyConnection, room: RoomId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from memberships where room_id = $1")
        .bind(room.0)
        .fetch_one(conn)
        .await
}

/// Adds a member whose cursors start at the room's current end: what came before is not unread,
/// not queued for catch-up, and (outside channels) not readable: `joined_seq` is its floor.
pub async fn insert_member(
    conn: &mut AnyConnection,
    room: RoomId,
    user: UserId,
    role: Role,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into memberships (room_id, user_id, role, joined_at, delivered_seq, read_seq, joined_seq)
         select $1, $2, $3, $4, last_seq, last_seq, last_seq from rooms where id = $1",
    )
    .bind(room.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_member(
    conn: &mut AnyConnection,
    room: RoomId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("delete from memberships where room_id = $1 and user_id = $2")
        .bind(room.0)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(res.rows_affected() > 0)
}

pub async fn set_role(
    conn: &mut AnyConnection,
    room: RoomId,
    user: UserId,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query("update memberships set role = $1 where room_id = $2 and user_id = $3")
        .bind(role.as_str())
        .bind(room.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    if role == Role::Owner {
        sqlx::query("update rooms set owner_id = $1 where id = $2")
            .bind(user.0)
            .bind(room.0)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Sets a room's description (the directory searches it).
pub async fn set_description(
    conn: &mut AnyConnection,
    room: RoomId,
    description: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set description = $1 where id = $2")
        .bind(description)
        .bind(room.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn rename(conn: &mut AnyConnection, room: RoomId, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set name = $1 where id = $2")
        .bind(name)
        .bind(room.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Who inherits a room its owner left: the earliest-joined admin, else the earliest member.
pub async fn successor(
    conn: &mut AnyConnection,
    room: RoomId,
) -> Result<Option<UserId>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "select user_id from memberships where room_id = $1
         order by case when role = 'admin' then 0 else 1 end, joined_at, user_id limit 1",
    )
    .bind(room.0)
    .fetch_optional(conn)
    .await?;
    Ok(id.map(UserId))
}

/// A room left with no members keeps its history but has no owner.
pub async fn clear_owner(conn: &mut AnyConnection, room: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set owner_id = null where id = $1")
        .bind(room.0)
        .execute(conn)
        .await?;
    Ok(())
}
