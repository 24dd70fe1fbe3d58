//! Notifications' SQL: pushers (where a device's login is notified), room mutes, and the
//! notifier's state — its per-room cursors into the streams, the pending (coalesced)
//! notifications, the lease that makes one node of a cluster the notifier, and the VAPID key
//! when the database keeps it.

use sqlx::AnyConnection;

use super::{Backend, Store, values};
use crate::domain::push::{Mute, Pusher};
use crate::domain::{RoomId, Seq, UserId, now_ms};
use crate::error::AppResult;

/// A pusher as registered (validated by the caller).
pub struct NewPusher<'a> {
    pub kind: &'a str,
    pub url: &'a str,
    pub p256dh: Option<&'a str>,
    pub auth: Option<&'a str>,
    pub pushkey: Option<&'a str>,
    pub app_id: Option<&'a str>,
}

/// A pusher with its secrets, for the notifier.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PusherTarget {
    pub id: i64,
    pub kind: String,
    pub url: String,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    pub pushkey: Option<String>,
    pub app_id: Option<String>,
}

type PusherRow = (i64, String, String, Option<String>, Option<String>, i64);

fn pusher(r: PusherRow) -> Pusher {
    Pusher {
        id: r.0,
        kind: r.1,
        url: r.2,
        pushkey: r.3,
        app_id: r.4,
        created_at: r.5,
    }
}

/// A room whose stream has entries the notifier has not looked at.
pub struct RoomBehind {
    pub room: RoomId,
    pub kind: String,
    pub cursor: Seq,
}

/// A pending notification whose time has come.
#[derive(Clone, Debug)]
pub struct Due {
    pub user: UserId,
    pub room: RoomId,
    pub last_seq: Seq,
}

/// What a notification says, read when it is sent.
pub struct NotificationFacts {
    pub delivered_seq: Seq,
    pub unread: i64,
    pub muted: bool,
    pub room_kind: String,
    pub room_name: String,
    pub sender_id: UserId,
    pub sender_name: String,
    pub body: String,
}

impl Store {
    /// Adds a pusher (or replaces the caller's pusher with the same URL: a browser re-subscribing
    /// gets new keys for the same endpoint).
    pub async fn add_pusher(
        &self,
        user: UserId,
        family: Option<&str>,
        p: &NewPusher<'_>,
    ) -> AppResult<Pusher> {
        let row: PusherRow = sqlx::query_as(
            "insert into pushers (user_id, family, kind, url, p256dh, auth, pushkey, app_id, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (user_id, url) do update set family = excluded.family,
                 kind = excluded.kind, p256dh = excluded.p256dh, auth = excluded.auth,
                 pushkey = excluded.pushkey, app_id = excluded.app_id
             returning id, kind, url, pushkey, app_id, created_at",
        )
        .bind(user.0)
        .bind(family)
        .bind(p.kind)
        .bind(p.url)
        .bind(p.p256dh)
        .bind(p.auth)
        .bind(p.pushkey)
        .bind(p.app_id)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(pusher(row))
    }

    pub async fn pushers_of(&self, user: UserId) -> AppResult<Vec<Pusher>> {
        let rows: Vec<PusherRow> = sqlx::query_as(
            "select id, kind, url, pushkey, app_id, created_at from pushers
             where user_id = $1 order by id",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(pusher).collect())
    }

    /// Removes one of the caller's pushers; false when there is none with that id.
    pub async fn delete_pusher(&self, user: UserId, id: i64) -> AppResult<bool> {
        let done = sqlx::query("delete from pushers where id = $1 and user_id = $2")
            .bind(id)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The push service said the subscription is gone (404/410).
    pub async fn drop_pusher(&self, id: i64) -> AppResult<()> {
        sqlx::query("delete from pushers where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Logout: the login's pushers go with it.
    pub async fn delete_pushers_of_family(&self, family: &str) -> AppResult<()> {
        sqlx::query("delete from pushers where family = $1")
            .bind(family)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Logout-all: every pusher of the user.
    pub async fn delete_pushers_of_user(&self, user: UserId) -> AppResult<()> {
        sqlx::query("delete from pushers where user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The login (refresh-token family) of a refresh token.
    pub async fn family_of(&self, jti: &str) -> AppResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("select family from refresh_tokens where jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    pub async fn push_targets(&self, user: UserId) -> AppResult<Vec<PusherTarget>> {
        Ok(sqlx::query_as(
            "select id, kind, url, p256dh, auth, pushkey, app_id from pushers
             where user_id = $1 order by id",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Mutes (or, with `until` in the past, effectively unmutes) a room for the user.
    pub async fn set_mute(&self, user: UserId, room: RoomId, until: Option<i64>) -> AppResult<()> {
        sqlx::query(
            "insert into room_mutes (user_id, room_id, until) values ($1, $2, $3)
             on conflict (user_id, room_id) do update set until = excluded.until",
        )
        .bind(user.0)
        .bind(room.0)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_mute(&self, user: UserId, room: RoomId) -> AppResult<()> {
        sqlx::query("delete from room_mutes where user_id = $1 and room_id = $2")
            .bind(user.0)
            .bind(room.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user's mutes still in force.
    pub async fn mutes_of(&self, user: UserId) -> AppResult<Vec<Mute>> {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "select room_id, until from room_mutes
             where user_id = $1 and (until is null or until > $2) order by room_id",
        )
        .bind(user.0)
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(room, until)| Mute {
                room_id: RoomId(room),
                until,
            })
            .collect())
    }

    /// Takes or renews the notifier lease for `owner` until `until`; false when another node
    /// holds a lease that has not expired.
    pub async fn take_push_lease(&self, owner: &str, now: i64, until: i64) -> AppResult<bool> {
        let done = sqlx::query(
            "update push_state set lease_owner = $1, lease_until = $2
             where id = 1 and (lease_owner = $1 or lease_until < $3 or lease_owner is null)",
        )
        .bind(owner)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Lets another node take over at once (clean shutdown).
    pub async fn release_push_lease(&self, owner: &str) -> AppResult<()> {
        sqlx::query("update push_state set lease_until = 0 where id = 1 and lease_owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The VAPID key the database keeps (Postgres), generating it with `fresh` the first time;
    /// every node reads back the one that won.
    pub async fn vapid_key(&self, fresh: &str) -> AppResult<String> {
        sqlx::query("update push_state set vapid_key = $1 where id = 1 and vapid_key is null")
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let (key,): (Option<String>,) =
            sqlx::query_as("select vapid_key from push_state where id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(key.unwrap_or_else(|| fresh.to_owned()))
    }

    /// Rooms whose stream has grown past the notifier's cursor. `rooms.last_seq` is bumped in
    /// the transaction that stores the entry, so every entry up to it is visible.
    pub async fn rooms_behind(&self, limit: i64) -> AppResult<Vec<RoomBehind>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "select r.id, r.kind, coalesce(c.seq, 0) from rooms r
             left join push_cursors c on c.room_id = r.id
             where r.last_seq > coalesce(c.seq, 0) order by r.id limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(room, kind, cursor)| RoomBehind {
                room: RoomId(room),
                kind,
                cursor: Seq(cursor),
            })
            .collect())
    }

    /// The room's entries past `after` (at most `limit`): seq, sender, kind, created_at.
    pub async fn entries_for_push(
        &self,
        room: RoomId,
        after: Seq,
        limit: i64,
    ) -> AppResult<Vec<(Seq, UserId, String, i64)>> {
        const ENTRIES: &str = "select seq, sender_id, kind, created_at from messages
                               where room_id = $1 and seq > $2 order by seq limit $3";
        let rows: Vec<(i64, i64, String, i64)> = match self.backend {
            // One row per entry would wake this task once per entry (see `values::packed`).
            Backend::Sqlite => {
                let sql = values::packed(ENTRIES, "seq, sender_id, kind, created_at");
                let packed: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(room.0)
                    .bind(after.0)
                    .bind(limit)
                    .fetch_one(&self.pool)
                    .await?;
                let mut rows: Vec<(i64, i64, String, i64)> = values::unpack(&packed)?;
                rows.sort_unstable_by_key(|r| r.0);
                rows
            }
            Backend::Postgres => {
                sqlx::query_as(ENTRIES)
                    .bind(room.0)
                    .bind(after.0)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(s, u, k, at)| (Seq(s), UserId(u), k, at))
            .collect())
    }

    pub async fn member_ids(&self, room: RoomId) -> AppResult<Vec<UserId>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("select user_id from memberships where room_id = $1")
                .bind(room.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| UserId(r.0)).collect())
    }

    /// In one transaction: records (or extends) pending notifications and moves the room's
    /// cursor to `upto`, so a restart neither loses nor repeats them. Each pending entry is
    /// `(user, newest seq, its time, due at, latest allowed due)`; an existing one keeps its
    /// `first_at` and moves its due time later (debounce) but never past `first_at + max_wait`.
    pub async fn record_pending(
        &self,
        room: RoomId,
        upto: Seq,
        pending: &[(UserId, Seq, i64, i64)],
        max_wait: i64,
    ) -> AppResult<()> {
        let mut tx = self.begin_write().await?;
        for (user, seq, at, due) in pending {
            upsert_pending(&mut tx.tx, *user, room, *seq, *at, *due, max_wait).await?;
        }
        sqlx::query(
            "insert into push_cursors (room_id, seq) values ($1, $2)
             on conflict (room_id) do update set seq = excluded.seq",
        )
        .bind(room.0)
        .bind(upto.0)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn due_pending(&self, now: i64, limit: i64) -> AppResult<Vec<Due>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "select user_id, room_id, last_seq from push_pending
             where due_at <= $1 order by due_at limit $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(u, r, s)| Due {
                user: UserId(u),
                room: RoomId(r),
                last_seq: Seq(s),
            })
            .collect())
    }

    /// Removes a pending notification once sent, unless newer messages joined it meanwhile.
    pub async fn finish_pending(&self, due: &Due) -> AppResult<()> {
        sqlx::query(
            "delete from push_pending where user_id = $1 and room_id = $2 and last_seq = $3",
        )
        .bind(due.user.0)
        .bind(due.room.0)
        .bind(due.last_seq.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What the notification about `due` says, and whether it is still wanted; `None` when
    /// the user is no longer a member or the message is gone.
    pub async fn notification_facts(&self, due: &Due) -> AppResult<Option<NotificationFacts>> {
        type Row = (
            i64,
            i64,
            Option<i64>,
            String,
            String,
            i64,
            String,
            String,
            Option<i64>,
        );
        let row: Option<Row> = sqlx::query_as(
            "select m.delivered_seq,
                    (select count(*) from messages x
                     where x.room_id = m.room_id and x.seq > m.read_seq and x.sender_id <> m.user_id
                       and x.kind in ('text', 'system')),
                    (select coalesce(mu.until, -1) from room_mutes mu
                     where mu.user_id = m.user_id and mu.room_id = m.room_id),
                    r.kind, r.name, msg.sender_id, u.display_name, msg.body, msg.deleted_at
             from memberships m
             join rooms r on r.id = m.room_id
             join messages msg on msg.room_id = m.room_id and msg.seq = $3
             join users u on u.id = msg.sender_id
             where m.room_id = $1 and m.user_id = $2",
        )
        .bind(due.room.0)
        .bind(due.user.0)
        .bind(due.last_seq.0)
        .fetch_optional(&self.pool)
        .await?;
        let now = now_ms();
        Ok(row.map(
            |(delivered, unread, mute, kind, name, sender, sender_name, body, deleted)| {
                NotificationFacts {
                    delivered_seq: Seq(delivered),
                    unread,
                    // -1 stands for a mute without end (`until` null).
                    muted: matches!(mute, Some(until) if until == -1 || until > now),
                    room_kind: kind,
                    room_name: name,
                    sender_id: UserId(sender),
                    sender_name,
                    body: if deleted.is_some() {
                        String::new()
                    } else {
                        body
                    },
                }
            },
        ))
    }
}

async fn upsert_pending(
    conn: &mut AnyConnection,
    user: UserId,
    room: RoomId,
    seq: Seq,
    at: i64,
    due: i64,
    max_wait: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into push_pending (user_id, room_id, last_seq, first_at, due_at)
         values ($1, $2, $3, $4, $5)
         on conflict (user_id, room_id) do update set
             last_seq = excluded.last_seq,
             due_at = case when excluded.due_at < push_pending.first_at + $6
                           then excluded.due_at else push_pending.first_at + $6 end",
    )
    .bind(user.0)
    .bind(room.0)
    .bind(seq.0)
    .bind(at)
    .bind(due)
    .bind(max_wait)
    .execute(conn)
    .await?;
    Ok(())
}
