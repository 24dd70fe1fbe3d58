//! Safety: group invite links and join requests, the public channel directory, reports, and
//! what operators (`MISSIVE_ADMINS`) do about them: ban, delete any message, resolve reports,
//! every action in the audit log.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::auth::tokens::random_id;
use crate::chat::messages::require_member;
use crate::chat::rooms::{self, ByLink};
use crate::domain::events::ServerEvent;
use crate::domain::privacy::{
    AuditEntry, ChannelEntry, Invite, InvitePreview, JoinRequest, Report,
};
use crate::domain::{Member, MessageKind, Room, RoomId, Seq, UserId, now_ms, rules};
use crate::error::{AppError, AppResult};
use crate::store::privacy::NewReport;

/// A room description: at most 500 characters after trimming, no control character but
/// newlines.
pub fn parse_description(raw: &str) -> AppResult<String> {
    let d = raw.trim();
    if d.chars().count() > 500 || d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            "description must be at most 500 characters, no control characters",
        ));
    }
    Ok(d.to_owned())
}

/// `GET /api/channels` and `channels:search`: public channels whose name or description
/// contains `q`, most followed first. No `q` lists the most followed.
pub async fn search_channels(
    app: &App,
    q: Option<&str>,
    limit: Option<i64>,
) -> AppResult<Vec<ChannelEntry>> {
    let (q, limit) = channel_query(q, limit)?;
    app.store.search_channels(q, limit).await
}

/// A directory search's checks: the trimmed query (at most 100 characters, no NUL) and the
/// page size.
pub fn channel_query(q: Option<&str>, limit: Option<i64>) -> AppResult<(&str, i64)> {
    let limit = rules::directory_limit(limit)?;
    let q = q.unwrap_or("").trim();
    if q.chars().count() > 100 || q.contains('\0') {
        return Err(AppError::invalid("q must be at most 100 characters"));
    }
    Ok((q, limit))
}

/// `POST /api/rooms/{id}/invites` and `invite:create`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct InviteOptions {
    /// Seconds from now; none: the link does not expire.
    pub expires_in: Option<i64>,
    pub max_uses: Option<i64>,
    #[serde(default)]
    pub approval: bool,
}

/// Longest an invite link may live: a year.
const MAX_INVITE_SECS: i64 = 365 * 24 * 3600;

impl InviteOptions {
    /// A lifetime of one second to a year, one to a million uses.
    pub fn check(&self) -> AppResult<()> {
        if self
            .expires_in
            .is_some_and(|s| !(1..=MAX_INVITE_SECS).contains(&s))
        {
            return Err(AppError::invalid(format!(
                "expires_in must be 1 to {MAX_INVITE_SECS} seconds"
            )));
        }
        if self.max_uses.is_some_and(|m| !(1..=1_000_000).contains(&m)) {
            return Err(AppError::invalid("max_uses must be 1 to 1000000"));
        }
        Ok(())
    }
}

pub async fn create_invite(
    app: &App,
    user: UserId,
    room: RoomId,
    o: InviteOptions,
) -> AppResult<Invite> {
    let member = require_member(app, room, user).await?;
    rules::may_manage_invites(&member)?;
    o.check()?;
    let now = now_ms();
    // Two random 128-bit ids: the token is the only secret a link carries.
    let invite = Invite {
        token: format!("{}{}", random_id(), random_id()),
        room_id: room,
        created_by: user,
        created_at: now,
        expires_at: o.expires_in.map(|s| now + s * 1000),
        max_uses: o.max_uses,
        uses: 0,
        approval: o.approval,
    };
    app.store.create_invite(&invite).await?;
    Ok(invite)
}

/// The room's live links (owners and admins).
pub async fn invites(app: &App, user: UserId, room: RoomId) -> AppResult<Vec<Invite>> {
    let member = require_member(app, room, user).await?;
    rules::may_manage_invites(&member)?;
    app.store.invites(room).await
}

/// A usable link, or `not_found` (unknown, revoked, expired or used up alike).
async fn live_invite(app: &App, token: &str) -> AppResult<Invite> {
    if token.len() > 128 {
        return Err(AppError::NotFound);
    }
    let stored = app.store.invite(token).await?.ok_or(AppError::NotFound)?;
    let i = &stored.invite;
    rules::invite_usable(stored.revoked, i.expires_at, i.max_uses, i.uses, now_ms())?;
    Ok(stored.invite)
}

/// `DELETE /api/invites/{token}` and `invite:revoke` (owners and admins of its group).
pub async fn revoke_invite(app: &App, user: UserId, token: &str) -> AppResult<()> {
    let stored = app.store.invite(token).await?.ok_or(AppError::NotFound)?;
    let member = require_member(app, stored.invite.room_id, user).await?;
    rules::may_manage_invites(&member)?;
    app.store.revoke_invite(token).await
}

/// `GET /api/invites/{token}`: what the link leads to.
pub async fn preview(app: &App, token: &str) -> AppResult<InvitePreview> {
    let invite = live_invite(app, token).await?;
    let (name, members_count) = app
        .store
        .invite_preview(invite.room_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(InvitePreview {
        room_id: invite.room_id,
        name,
        members_count,
        approval: invite.approval,
    })
}

/// What joining by a link did.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum JoinOutcome {
    /// `{room}`: the caller is a member now.
    Joined { room: Box<Room> },
    /// `{pending: true, room_id}`: an owner or admin must approve.
    Pending { pending: bool, room_id: RoomId },
}

/// `POST /api/invites/{token}/join` and `invite:join`.
pub async fn join(app: &App, user: UserId, token: &str) -> AppResult<JoinOutcome> {
    let invite = live_invite(app, token).await?;
    let room = invite.room_id;
    if app.store.access(room, user).await?.is_some() {
        return Err(AppError::conflict("already a member"));
    }
    if invite.approval {
        app.store
            .request_join(token, user)
            .await?
            .ok_or(AppError::NotFound)?;
        return Ok(JoinOutcome::Pending {
            pending: true,
            room_id: room,
        });
    }
    rooms::admit(app, user, room, user, Some(ByLink::Token(token))).await?;
    Ok(JoinOutcome::Joined {
        room: Box::new(rooms::room_for(app, room, user).await?),
    })
}

/// `GET /api/rooms/{id}/join-requests` (owners and admins).
pub async fn join_requests(app: &App, user: UserId, room: RoomId) -> AppResult<Vec<JoinRequest>> {
    let member = require_member(app, room, user).await?;
    rules::may_manage_invites(&member)?;
    app.store.join_requests(room).await
}

/// `POST /api/rooms/{id}/join-requests/{user_id}`: an owner or admin lets them in.
pub async fn approve(app: &App, admin: UserId, room: RoomId, target: UserId) -> AppResult<Member> {
    let member = require_member(app, room, admin).await?;
    rules::may_manage_invites(&member)?;
    rooms::admit(app, admin, room, target, Some(ByLink::Approved)).await
}

/// `DELETE /api/rooms/{id}/join-requests/{user_id}`: turned down.
pub async fn deny(app: &App, admin: UserId, room: RoomId, target: UserId) -> AppResult<()> {
    let member = require_member(app, room, admin).await?;
    rules::may_manage_invites(&member)?;
    if !app.store.deny_join(room, target).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// `POST /api/reports` and `report`: a message (`room_id` + `seq`) or a user (`user_id`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReportInput {
    pub user_id: Option<UserId>,
    pub room_id: Option<RoomId>,
    pub seq: Option<Seq>,
    pub reason: String,
}

pub async fn report(app: &App, reporter: UserId, input: ReportInput) -> AppResult<Report> {
    let reason = rules::report_reason(&input.reason)?;
    let new = match (input.user_id, input.room_id, input.seq) {
        (Some(target), None, None) => {
            if target == reporter {
                return Err(AppError::invalid("you cannot report yourself"));
            }
            crate::chat::user(app, target).await?;
            NewReport {
                reporter,
                target_user: target,
                room: None,
                seq: None,
                message_body: None,
                reason,
            }
        }
        (None, Some(room), Some(seq)) => {
            // Only a message the reporter may read, as everywhere.
            let member = require_member(app, room, reporter).await?;
            if seq <= rules::read_floor(&member) {
                return Err(AppError::NotFound);
            }
            let message = app
                .store
                .message_by_seq(room, seq)
                .await?
                .ok_or(AppError::NotFound)?;
            if message.kind != MessageKind::Text {
                return Err(AppError::invalid("only text messages can be reported"));
            }
            NewReport {
                reporter,
                target_user: message.sender_id,
                room: Some(room),
                seq: Some(seq),
                message_body: Some(message.body),
                reason,
            }
        }
        _ => {
            return Err(AppError::invalid(
                "report either a user (user_id) or a message (room_id and seq)",
            ));
        }
    };
    let report = app.store.create_report(new).await?;
    app.delivery()
        .to_admins(ServerEvent::ReportNew(report.clone()))
        .await;
    Ok(report)
}

/// Operators are the usernames in `MISSIVE_ADMINS`.
pub async fn require_operator(app: &App, user: UserId) -> AppResult<()> {
    let u = crate::chat::user(app, user).await?;
    if app
        .config
        .admins
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(&u.username))
    {
        Ok(())
    } else {
        Err(AppError::forbidden("operators only"))
    }
}

/// `GET /api/admin/reports?status=`: `open` (default) or `resolved`, oldest first.
pub async fn reports(app: &App, operator: UserId, status: Option<&str>) -> AppResult<Vec<Report>> {
    require_operator(app, operator).await?;
    let status = match status.unwrap_or("open") {
        s @ ("open" | "resolved") => s,
        _ => return Err(AppError::invalid("status must be open or resolved")),
    };
    app.store.reports(status, 500).await
}

pub async fn resolve(app: &App, operator: UserId, id: &str) -> AppResult<Report> {
    require_operator(app, operator).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    app.store
        .resolve_report(id, operator)
        .await?
        .ok_or(AppError::NotFound)
}

/// Bans `target`: every token refused, every socket closed on every node, logins refused.
pub async fn ban(app: &App, operator: UserId, target: UserId, reason: &str) -> AppResult<()> {
    require_operator(app, operator).await?;
    if target == operator {
        return Err(AppError::invalid("you cannot ban yourself"));
    }
    crate::chat::user(app, target).await?;
    let reason = reason.trim();
    if reason.chars().count() > 500 {
        return Err(AppError::invalid("reason must be at most 500 characters"));
    }
    app.store.ban(target, operator, reason).await?;
    app.delivery().disconnect_user(target).await;
    Ok(())
}

pub async fn unban(app: &App, operator: UserId, target: UserId) -> AppResult<()> {
    require_operator(app, operator).await?;
    crate::chat::user(app, target).await?;
    app.store.unban(target, operator).await
}

pub async fn delete_message(app: &App, operator: UserId, room: RoomId, seq: Seq) -> AppResult<()> {
    require_operator(app, operator).await?;
    crate::chat::lifecycle::moderate_delete(app, operator, room, seq).await
}

pub async fn audit_log(app: &App, operator: UserId) -> AppResult<Vec<AuditEntry>> {
    require_operator(app, operator).await?;
    app.store.audit_log(500).await
}
