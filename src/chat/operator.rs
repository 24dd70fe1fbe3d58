//! The operator's console (`/api/admin/...` besides reports, bans, deletes and the audit log,
//! which are `safety`'s): the cluster's figures, accounts and their devices on every node,
//! logout everywhere, password resets, rooms, and closing and reopening channels. Every
//! function checks the caller is an operator (`safety::require_operator`) before anything else.

use std::sync::Mutex;

use serde_json::json;

use crate::app::App;
use crate::auth::tokens::random_id;
use crate::chat::safety::require_operator;
use crate::domain::operator::{
    AdminRoomDetail, AdminUser, AdminUserDetail, ClusterStats, FORGET_AFTER_MS, NodeStats,
    TemporaryPassword, cluster,
};
use crate::domain::{Message, RoomId, RoomKind, Seq, UserId, now_ms, rules};
use crate::error::{AppError, AppResult};

/// Most accounts or rooms one search returns.
const SEARCH_LIMIT: i64 = 50;
/// Most members a room's detail lists.
const MEMBERS_LIMIT: i64 = 500;
/// Messages shown on each side of a reported one.
const CONTEXT: i64 = 5;

/// This node's id in the console (random at each start), and the latest `stats` it computed,
/// for `GET /api/admin/stats`.
pub struct Latest {
    pub node_id: String,
    stats: Mutex<Option<ClusterStats>>,
}

impl Latest {
    pub fn new(node_id: String) -> Self {
        Self {
            node_id,
            stats: Mutex::default(),
        }
    }

    /// A new node id (random at each start).
    pub fn new_node_id() -> String {
        random_id().chars().take(10).collect()
    }
}

/// Stores this node's report and returns the cluster's figures: every node's latest report
/// from the database, or this node's alone when the database does not answer (its report then
/// says so).
pub async fn heartbeat(app: &App, me: NodeStats) -> ClusterStats {
    let now = me.heartbeat_at;
    let reports = match app.store.heartbeat(&me, now - FORGET_AFTER_MS).await {
        Ok(()) => app.store.node_reports().await,
        Err(e) => Err(e),
    };
    let reports = match reports {
        Ok(mut all) => {
            // This node's own figures are the freshest, whatever the read saw.
            all.retain(|n| n.id != me.id);
            all.push(me);
            all
        }
        Err(e) => {
            tracing::warn!(error = %e, "stats: the nodes table is out of reach");
            vec![NodeStats {
                database_up: false,
                ..me
            }]
        }
    };
    let stats = cluster(reports, now);
    *app.operator_stats.stats.lock().unwrap() = Some(stats.clone());
    stats
}

/// `GET /api/admin/stats`: the latest figures (`unavailable` before the first second).
pub async fn stats(app: &App, operator: UserId) -> AppResult<ClusterStats> {
    require_operator(app, operator).await?;
    app.operator_stats
        .stats
        .lock()
        .unwrap()
        .clone()
        .ok_or(AppError::Unavailable)
}

/// A search text: at most 100 characters, no NUL.
fn parse_query(q: Option<&str>) -> AppResult<&str> {
    let q = q.unwrap_or("").trim();
    if q.chars().count() > 100 || q.contains('\0') {
        return Err(AppError::invalid("q must be at most 100 characters"));
    }
    Ok(q)
}

/// `GET /api/admin/users?q=`: accounts whose username or display name contains `q`.
pub async fn users(app: &App, operator: UserId, q: Option<&str>) -> AppResult<Vec<AdminUser>> {
    require_operator(app, operator).await?;
    app.store.admin_users(parse_query(q)?, SEARCH_LIMIT).await
}

/// `GET /api/admin/users/{id}`: the account and its sockets on every node.
pub async fn user(app: &App, operator: UserId, id: UserId) -> AppResult<AdminUserDetail> {
    require_operator(app, operator).await?;
    let (user, ban_reason, rooms) = app.store.admin_user(id).await?.ok_or(AppError::NotFound)?;
    let mut devices = app.delivery().devices(id).await;
    devices.sort_by(|a, b| a.connected_at.cmp(&b.connected_at).then(a.sid.cmp(&b.sid)));
    Ok(AdminUserDetail {
        user,
        ban_reason,
        rooms,
        devices,
    })
}

/// `DELETE /api/admin/users/{id}/devices/{sid}`: closes one socket of the user, on whichever
/// node it is (its client is told `io server disconnect` and does not reconnect by itself).
pub async fn disconnect_device(
    app: &App,
    operator: UserId,
    id: UserId,
    sid: &str,
) -> AppResult<()> {
    require_operator(app, operator).await?;
    crate::chat::user(app, id).await?;
    if sid.is_empty() || sid.len() > 64 || !app.delivery().disconnect_device(id, sid).await {
        return Err(AppError::NotFound);
    }
    app.store
        .audit_action(operator, "disconnect_device", id)
        .await
}

/// `POST /api/admin/users/{id}/logout`: every token revoked and every socket closed, on every
/// node.
pub async fn logout_everywhere(app: &App, operator: UserId, id: UserId) -> AppResult<()> {
    require_operator(app, operator).await?;
    crate::chat::user(app, id).await?;
    app.store.logout_everywhere(id, operator).await?;
    app.delivery().disconnect_user(id).await;
    Ok(())
}

/// `POST /api/admin/users/{id}/password`: a new random password, returned once and stored only
/// hashed; the account is logged out everywhere.
pub async fn reset_password(
    app: &App,
    operator: UserId,
    id: UserId,
) -> AppResult<TemporaryPassword> {
    require_operator(app, operator).await?;
    crate::chat::user(app, id).await?;
    // 256 random bits, URL-safe base64.
    let password = format!("{}{}", random_id(), random_id());
    let hash = app.hasher.hash(password.clone()).await?;
    app.store
        .operator_reset_password(id, &hash, operator)
        .await?;
    app.delivery().disconnect_user(id).await;
    Ok(TemporaryPassword {
        temporary_password: password,
    })
}

/// `GET /api/admin/rooms?q=`: groups and channels whose name contains `q`.
pub async fn rooms(
    app: &App,
    operator: UserId,
    q: Option<&str>,
) -> AppResult<Vec<crate::domain::operator::AdminRoom>> {
    require_operator(app, operator).await?;
    app.store.admin_rooms(parse_query(q)?, SEARCH_LIMIT).await
}

/// `GET /api/admin/rooms/{id}`: a group or channel, its members and its message rate.
pub async fn room(app: &App, operator: UserId, id: RoomId) -> AppResult<AdminRoomDetail> {
    require_operator(app, operator).await?;
    let room = app.store.admin_room(id).await?.ok_or(AppError::NotFound)?;
    let now = now_ms();
    Ok(AdminRoomDetail {
        room,
        messages_last_minute: app.store.messages_since(id, now - 60_000).await?,
        messages_last_hour: app.store.messages_since(id, now - 3_600_000).await?,
        members: app.store.admin_members(id, MEMBERS_LIMIT).await?,
    })
}

/// An operator's reason for an action: at most 500 characters after trimming, no control
/// character but newlines; empty when none is given.
pub fn parse_reason(raw: &str) -> AppResult<String> {
    let r = raw.trim();
    if r.chars().count() > 500 || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            "reason must be at most 500 characters, no control characters",
        ));
    }
    Ok(r.to_owned())
}

/// `POST /api/admin/rooms/{id}/close` (`close`) and `…/reopen`: a channel made read-only, or
/// writable again. In one transaction, under the room's lock (so no send, follow or edit
/// slips past it): the room's `closed_at`, a `system` entry `room_closed` / `room_reopened`
/// (followers see it live and in catch-up, in seq order; it carries the reason, if any) and the
/// audit record. Then `room:updated`, with `closed_at`, to the followers' devices.
pub async fn close_room(
    app: &App,
    operator: UserId,
    id: RoomId,
    close: bool,
    reason: &str,
) -> AppResult<AdminRoomDetail> {
    require_operator(app, operator).await?;
    let reason = parse_reason(reason)?;
    let mut w = app.store.begin_write().await?;
    crate::store::rooms::lock_room(&mut w.tx, id).await?;
    let meta = crate::store::rooms::room_meta(&mut w.tx, id)
        .await?
        // Direct rooms are not the console's, as in `GET /api/admin/rooms/{id}`.
        .filter(|m| m.kind != RoomKind::Direct)
        .ok_or(AppError::NotFound)?;
    rules::may_close(meta.kind, meta.closed_at.is_some(), close)?;
    crate::store::rooms::set_closed(&mut w.tx, id, close.then(now_ms)).await?;
    let (event, action) = if close {
        ("room_closed", "close_room")
    } else {
        ("room_reopened", "reopen_room")
    };
    let mut body = json!({"event": event, "user_id": operator});
    if !reason.is_empty() {
        body["reason"] = json!(reason);
    }
    let entry = crate::chat::messages::append_system(&mut w, id, operator, body).await?;
    crate::store::privacy::audit(
        &mut w.tx,
        operator,
        crate::store::privacy::AuditRecord {
            action,
            room: Some(id),
            seq: Some(entry.seq),
            detail: &reason,
            ..Default::default()
        },
    )
    .await?;
    w.commit().await?;
    crate::chat::rooms::announce_room(app, id).await;
    room(app, operator, id).await
}

/// `GET /api/admin/rooms/{id}/messages/{seq}/context`: a reported message with the five
/// entries before and after it, for an operator deciding on a report about it.
pub async fn message_context(
    app: &App,
    operator: UserId,
    room: RoomId,
    seq: Seq,
) -> AppResult<Vec<Message>> {
    require_operator(app, operator).await?;
    let mut before = app
        .store
        .messages_before(room, Seq(seq.0 + 1), CONTEXT + 1, Seq(0))
        .await?
        .messages;
    if !before.iter().any(|m| m.seq == seq) {
        return Err(AppError::NotFound);
    }
    before.extend(app.store.messages_after(room, seq, CONTEXT).await?.messages);
    Ok(before)
}
