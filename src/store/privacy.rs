//! Privacy and safety in the database: blocks, privacy settings, the facts presence
//! visibility needs, group invite links and join requests, the channel directory, reports,
//! bans and the moderation audit log.

use std::collections::HashSet;

use sqlx::{AnyConnection, FromRow};

use super::Store;
use crate::domain::privacy::{
    AuditEntry, ChannelEntry, Invite, JoinRequest, PrivacySettings, Report,
};
use crate::domain::rules::{Audience, GroupAdd};
use crate::domain::{RoomId, Seq, User, UserId, now_ms};
use crate::error::AppResult;

fn user_of(
    (id, username, display_name, created_at, avatar): (i64, String, String, i64, Option<String>),
) -> User {
    User {
        id: UserId(id),
        username,
        display_name,
        created_at,
        avatar: super::users::picture_of(avatar.as_deref()),
    }
}

/// `%…%` for LIKE, with the pattern characters of `q` escaped (`escape '\'`).
fn contains_pattern(q: &str) -> String {
    let escaped: String = q
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

#[derive(FromRow)]
struct InviteRow {
    token: String,
    room_id: i64,
    created_by: i64,
    created_at: i64,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
    uses: i64,
    approval: i64,
    revoked_at: Option<i64>,
}

impl From<InviteRow> for Invite {
    fn from(r: InviteRow) -> Self {
        Invite {
            token: r.token,
            room_id: RoomId(r.room_id),
            created_by: UserId(r.created_by),
            created_at: r.created_at,
            expires_at: r.expires_at,
            max_uses: r.max_uses,
            uses: r.uses,
            approval: r.approval != 0,
        }
    }
}

/// An invite link with whether it was revoked (revoked links are never shown).
pub struct StoredInvite {
    pub invite: Invite,
    pub revoked: bool,
}

#[derive(FromRow)]
struct ReportRow {
    id: i64,
    reporter_id: i64,
    target_user_id: i64,
    room_id: Option<i64>,
    seq: Option<i64>,
    message_body: Option<String>,
    reason: String,
    status: String,
    created_at: i64,
    resolved_at: Option<i64>,
    resolved_by: Option<i64>,
}

impl From<ReportRow> for Report {
    fn from(r: ReportRow) -> Self {
        Report {
            id: r.id.to_string(),
            reporter_id: UserId(r.reporter_id),
            target_user_id: UserId(r.target_user_id),
            room_id: r.room_id.map(RoomId),
            seq: r.seq.map(Seq),
            message_body: r.message_body,
            reason: r.reason,
            status: r.status,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by.map(UserId),
        }
    }
}

/// What a report is about.
pub struct NewReport {
    pub reporter: UserId,
    pub target_user: UserId,
    pub room: Option<RoomId>,
    pub seq: Option<Seq>,
    pub message_body: Option<String>,
    pub reason: String,
}

/// One moderation action for the audit log.
#[derive(Default)]
pub struct AuditRecord<'a> {
    pub action: &'a str,
    pub target_user: Option<UserId>,
    pub room: Option<RoomId>,
    pub seq: Option<Seq>,
    pub report: Option<i64>,
    pub detail: &'a str,
}

/// Appends to the audit log inside the action's own transaction: an action is never stored
/// without its record, nor the reverse.
pub async fn audit(
    conn: &mut AnyConnection,
    actor: UserId,
    r: AuditRecord<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into moderation_log (actor_id, action, target_user_id, room_id, seq, report_id, detail, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.0)
    .bind(r.action)
    .bind(r.target_user.map(|u| u.0))
    .bind(r.room.map(|r| r.0))
    .bind(r.seq.map(|s| s.0))
    .bind(r.report)
    .bind(r.detail)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses one of a link's places if it is live, atomically (concurrent joins cannot pass
/// `max_uses` together). Returns the room and whether joins need approval.
pub async fn use_invite(
    conn: &mut AnyConnection,
    token: &str,
    now: i64,
) -> Result<Option<(RoomId, bool)>, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "update room_invites set uses = uses + 1
         where token = $1 and revoked_at is null
           and (expires_at is null or expires_at > $2)
           and (max_uses is null or uses < max_uses)
         returning room_id, approval",
    )
    .bind(token)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(room, approval)| (RoomId(room), approval != 0)))
}

/// Takes a waiting join request away; whether there was one.
pub async fn take_join_request(
    conn: &mut AnyConnection,
    room: RoomId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from join_requests where room_id = $1 and user_id = $2")
        .bind(room.0)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

impl Store {
    /// `blocker` blocks `blocked` (again is a no-op). Whether it is new.
    pub async fn block(&self, blocker: UserId, blocked: UserId) -> AppResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "insert into blocks (blocker_id, blocked_id, created_at) values ($1, $2, $3)
             on conflict (blocker_id, blocked_id) do nothing",
        )
        .bind(blocker.0)
        .bind(blocked.0)
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether there was a block to lift.
    pub async fn unblock(&self, blocker: UserId, blocked: UserId) -> AppResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("delete from blocks where blocker_id = $1 and blocked_id = $2")
            .bind(blocker.0)
            .bind(blocked.0)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The users `user` blocks, most recent first.
    pub async fn blocked_users(&self, user: UserId) -> AppResult<Vec<User>> {
        let rows: Vec<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
            "select u.id, u.username, u.display_name, u.created_at, u.avatar
             from blocks b join users u on u.id = b.blocked_id
             where b.blocker_id = $1 order by b.created_at desc, u.id",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(user_of).collect())
    }

    /// Everyone `user` blocks or is blocked by: nothing of theirs flows to `user`, nor back.
    pub async fn block_relations(&self, user: UserId) -> AppResult<HashSet<UserId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "select blocked_id from blocks where blocker_id = $1
             union select blocker_id from blocks where blocked_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    /// `(a blocks b, b blocks a)`.
    pub async fn blocks_between(&self, a: UserId, b: UserId) -> AppResult<(bool, bool)> {
        let (ab, ba): (i64, i64) = sqlx::query_as(
            "select (select count(*) from blocks where blocker_id = $1 and blocked_id = $2),
                    (select count(*) from blocks where blocker_id = $2 and blocked_id = $1)",
        )
        .bind(a.0)
        .bind(b.0)
        .fetch_one(&self.pool)
        .await?;
        Ok((ab > 0, ba > 0))
    }

    /// The other member of a direct room, if `room` is one.
    pub async fn direct_peer(&self, room: RoomId, user: UserId) -> AppResult<Option<UserId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "select m.user_id from memberships m join rooms r on r.id = m.room_id and r.kind = 'direct'
             where m.room_id = $1 and m.user_id <> $2",
        )
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id.map(UserId))
    }

    pub async fn privacy(&self, user: UserId) -> AppResult<PrivacySettings> {
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "select last_seen, read_receipts, group_add from privacy_settings where user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some((last_seen, receipts, group_add)) => PrivacySettings {
                last_seen: Audience::from_db(&last_seen),
                read_receipts: receipts != 0,
                group_add: GroupAdd::from_db(&group_add),
            },
            None => PrivacySettings::default(),
        })
    }

    pub async fn set_privacy(&self, user: UserId, p: PrivacySettings) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "insert into privacy_settings (user_id, last_seen, read_receipts, group_add)
             values ($1, $2, $3, $4)
             on conflict (user_id) do update
             set last_seen = excluded.last_seen, read_receipts = excluded.read_receipts,
                 group_add = excluded.group_add",
        )
        .bind(user.0)
        .bind(p.last_seen.as_str())
        .bind(i64::from(p.read_receipts))
        .bind(p.group_add.as_str())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// A user's last seen and who may see it; `None` for an unknown user.
    pub async fn presence_facts(&self, user: UserId) -> AppResult<Option<(Option<i64>, Audience)>> {
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "select u.last_seen_at, p.last_seen
             from users u left join privacy_settings p on p.user_id = u.id
             where u.id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(at, audience)| {
            (
                at,
                audience.map_or(Audience::Contacts, |a| Audience::from_db(&a)),
            )
        }))
    }

    /// Whether `a` and `b` share a direct room or a group (channels do not count).
    pub async fn share_conversation(&self, a: UserId, b: UserId) -> AppResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from memberships mine
             join rooms r on r.id = mine.room_id and r.kind <> 'channel'
             join memberships other on other.room_id = mine.room_id and other.user_id = $2
             where mine.user_id = $1",
        )
        .bind(a.0)
        .bind(b.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Each member's last-seen audience, for a room's member list.
    pub async fn member_audiences(&self, room: RoomId) -> AppResult<Vec<(UserId, Audience)>> {
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
            "select m.user_id, p.last_seen from memberships m
             left join privacy_settings p on p.user_id = m.user_id
             where m.room_id = $1",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(u, a)| {
                (
                    UserId(u),
                    a.map_or(Audience::Contacts, |a| Audience::from_db(&a)),
                )
            })
            .collect())
    }

    // --- channel directory ---

    pub async fn set_description(&self, room: RoomId, description: &str) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("update rooms set description = $1 where id = $2")
            .bind(description)
            .bind(room.0)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(())
    }

    /// Channels whose name or description contains `q` (any case), most followed first.
    pub async fn search_channels(&self, q: &str, limit: i64) -> AppResult<Vec<ChannelEntry>> {
        let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
            "select r.id, r.name, r.description,
                    (select count(*) from memberships m where m.room_id = r.id) as followers,
                    r.created_at
             from rooms r
             where r.kind = 'channel' and r.closed_at is null
               and (lower(r.name) like $1 escape '\\' or lower(r.description) like $1 escape '\\')
             order by followers desc, r.id limit $2",
        )
        .bind(contains_pattern(&q.to_lowercase()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, description, followers_count, created_at)| ChannelEntry {
                    id: RoomId(id),
                    name,
                    description,
                    followers_count,
                    created_at,
                },
            )
            .collect())
    }

    // --- invite links ---

    pub async fn create_invite(&self, invite: &Invite) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "insert into room_invites (token, room_id, created_by, created_at, expires_at, max_uses, approval)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&invite.token)
        .bind(invite.room_id.0)
        .bind(invite.created_by.0)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .bind(invite.max_uses)
        .bind(i64::from(invite.approval))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    pub async fn invite(&self, token: &str) -> AppResult<Option<StoredInvite>> {
        let row: Option<InviteRow> = sqlx::query_as(
            "select token, room_id, created_by, created_at, expires_at, max_uses, uses, approval, revoked_at
             from room_invites where token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| StoredInvite {
            revoked: r.revoked_at.is_some(),
            invite: r.into(),
        }))
    }

    /// The room's links that are not revoked, newest first (expired ones included, marked by
    /// their `expires_at`).
    pub async fn invites(&self, room: RoomId) -> AppResult<Vec<Invite>> {
        let rows: Vec<InviteRow> = sqlx::query_as(
            "select token, room_id, created_by, created_at, expires_at, max_uses, uses, approval, revoked_at
             from room_invites where room_id = $1 and revoked_at is null
             order by created_at desc, token",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn revoke_invite(&self, token: &str) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "update room_invites set revoked_at = $1 where token = $2 and revoked_at is null",
        )
        .bind(now_ms())
        .bind(token)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    pub async fn invite_preview(&self, room: RoomId) -> AppResult<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "select r.name, (select count(*) from memberships m where m.room_id = r.id)
             from rooms r where r.id = $1",
        )
        .bind(room.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a join request (asking twice is one request).
    pub async fn request_join(&self, token: &str, user: UserId) -> AppResult<Option<RoomId>> {
        let mut w = self.begin_write().await?;
        let Some((room, _)) = use_invite(&mut w.tx, token, now_ms()).await? else {
            return Ok(None);
        };
        sqlx::query(
            "insert into join_requests (room_id, user_id, created_at) values ($1, $2, $3)
             on conflict (room_id, user_id) do nothing",
        )
        .bind(room.0)
        .bind(user.0)
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(Some(room))
    }

    pub async fn join_requests(&self, room: RoomId) -> AppResult<Vec<JoinRequest>> {
        let rows: Vec<(i64, String, String, i64, i64, Option<String>)> = sqlx::query_as(
            "select u.id, u.username, u.display_name, u.created_at, j.created_at, u.avatar
             from join_requests j join users u on u.id = j.user_id
             where j.room_id = $1 order by j.created_at, u.id",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, username, display_name, joined, at, avatar)| JoinRequest {
                    room_id: room,
                    user: user_of((id, username, display_name, joined, avatar)),
                    created_at: at,
                },
            )
            .collect())
    }

    pub async fn deny_join(&self, room: RoomId, user: UserId) -> AppResult<bool> {
        let mut w = self.begin_write().await?;
        let had = take_join_request(&mut w.tx, room, user).await?;
        w.commit().await?;
        Ok(had)
    }

    // --- reports, bans, audit ---

    pub async fn create_report(&self, r: NewReport) -> AppResult<Report> {
        let mut w = self.begin_write().await?;
        let row: ReportRow = sqlx::query_as(
            "insert into reports (reporter_id, target_user_id, room_id, seq, message_body, reason, created_at)
             values ($1, $2, $3, $4, $5, $6, $7)
             returning id, reporter_id, target_user_id, room_id, seq, message_body, reason, status, created_at, resolved_at, resolved_by",
        )
        .bind(r.reporter.0)
        .bind(r.target_user.0)
        .bind(r.room.map(|x| x.0))
        .bind(r.seq.map(|s| s.0))
        .bind(r.message_body)
        .bind(r.reason)
        .bind(now_ms())
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(row.into())
    }

    /// Reports with `status`, oldest first (a queue to work through).
    pub async fn reports(&self, status: &str, limit: i64) -> AppResult<Vec<Report>> {
        let rows: Vec<ReportRow> = sqlx::query_as(
            "select id, reporter_id, target_user_id, room_id, seq, message_body, reason, status, created_at, resolved_at, resolved_by
             from reports where status = $1 order by id limit $2",
        )
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Resolves an open report, with its audit record; `None` if there is no such report.
    pub async fn resolve_report(&self, id: i64, by: UserId) -> AppResult<Option<Report>> {
        let mut w = self.begin_write().await?;
        let row: Option<ReportRow> = sqlx::query_as(
            "update reports set status = 'resolved', resolved_at = $1, resolved_by = $2
             where id = $3
             returning id, reporter_id, target_user_id, room_id, seq, message_body, reason, status, created_at, resolved_at, resolved_by",
        )
        .bind(now_ms())
        .bind(by.0)
        .bind(id)
        .fetch_optional(&mut *w.tx)
        .await?;
        if row.is_some() {
            audit(
                &mut w.tx,
                by,
                AuditRecord {
                    action: "resolve_report",
                    report: Some(id),
                    ..AuditRecord::default()
                },
            )
            .await?;
        }
        w.commit().await?;
        Ok(row.map(Into::into))
    }

    /// Bans `user` (again is a no-op) and revokes every token of theirs, with the audit record.
    pub async fn ban(&self, user: UserId, by: UserId, reason: &str) -> AppResult<()> {
        let now = now_ms();
        let mut w = self.begin_write().await?;
        sqlx::query(
            "insert into user_bans (user_id, banned_by, reason, banned_at) values ($1, $2, $3, $4)
             on conflict (user_id) do nothing",
        )
        .bind(user.0)
        .bind(by.0)
        .bind(reason)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "update refresh_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null",
        )
        .bind(now)
        .bind(user.0)
        .execute(&mut *w.tx)
        .await?;
        // `users.banned_at` is the one flag logins and refreshes check (`missive user ban` sets it
        // too); `user_bans` keeps who banned and why.
        sqlx::query(
            "update users set tokens_valid_after = $1, banned_at = coalesce(banned_at, $1) where id = $2",
        )
        .bind(now)
        .bind(user.0)
        .execute(&mut *w.tx)
        .await?;
        audit(
            &mut w.tx,
            by,
            AuditRecord {
                action: "ban",
                target_user: Some(user),
                detail: reason,
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    pub async fn unban(&self, user: UserId, by: UserId) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("delete from user_bans where user_id = $1")
            .bind(user.0)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("update users set banned_at = null where id = $1")
            .bind(user.0)
            .execute(&mut *w.tx)
            .await?;
        audit(
            &mut w.tx,
            by,
            AuditRecord {
                action: "unban",
                target_user: Some(user),
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// The audit log, newest first.
    pub async fn audit_log(&self, limit: i64) -> AppResult<Vec<AuditEntry>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            i64,
            i64,
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            String,
            i64,
        )> = sqlx::query_as(
            "select id, actor_id, action, target_user_id, room_id, seq, report_id, detail, created_at
             from moderation_log order by id desc limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, actor, action, target, room, seq, report, detail, at)| AuditEntry {
                    id: id.to_string(),
                    actor_id: UserId(actor),
                    action,
                    target_user_id: target.map(UserId),
                    room_id: room.map(RoomId),
                    seq: seq.map(Seq),
                    report_id: report.map(|r| r.to_string()),
                    detail,
                    created_at: at,
                },
            )
            .collect())
    }
}
