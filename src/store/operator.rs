//! The operator's console: the `nodes` table (each node's latest figures, for the cluster view),
//! the account and room look-ups of `/api/admin/...`, and the account actions that are not
//! already elsewhere (logout everywhere and a password reset, each with its audit record).

use super::Store;
use super::privacy::{AuditRecord, audit};
use crate::domain::operator::{AdminMember, AdminRoom, AdminUser, NodeStats};
use crate::domain::{RoomId, UserId, now_ms};
use crate::error::{AppError, AppResult};

/// `LIKE` pattern for "contains `q`", its wildcards escaped (with `escape '\'`).
fn contains_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

type UserRow = (i64, String, String, i64, Option<i64>);

fn admin_user((id, username, display_name, created_at, banned_at): UserRow) -> AdminUser {
    AdminUser {
        id: UserId(id),
        username,
        display_name,
        created_at,
        banned_at,
    }
}

type RoomRow = (i64, String, String, i64, i64, i64, Option<i64>);

fn admin_room(
    (id, kind, name, members_count, last_seq, last_activity_at, closed_at): RoomRow,
) -> AdminRoom {
    AdminRoom {
        id: RoomId(id),
        kind,
        name,
        members_count,
        last_seq,
        last_activity_at,
        closed_at,
    }
}

/// The columns of `RoomRow` (rooms `r`); a macro so that `concat!` keeps each query a literal.
macro_rules! room_columns {
    () => {
        "select r.id, r.kind, r.name,
                (select count(*) from memberships m where m.room_id = r.id),
                r.last_seq, r.last_activity_at, r.closed_at from rooms r "
    };
}

impl Store {
    /// Stores this node's latest report (its heartbeat), and forgets nodes silent for longer
    /// than `forget_before`.
    pub async fn heartbeat(&self, node: &NodeStats, forget_before: i64) -> AppResult<()> {
        let json = serde_json::to_string(node).map_err(|e| AppError::Internal(e.into()))?;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "insert into nodes (id, heartbeat_at, stats) values ($1, $2, $3)
             on conflict (id) do update set heartbeat_at = excluded.heartbeat_at, stats = excluded.stats",
        )
        .bind(&node.id)
        .bind(node.heartbeat_at)
        .bind(json)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query("delete from nodes where heartbeat_at < $1")
            .bind(forget_before)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(())
    }

    /// Every node's latest report (a row that does not parse is skipped).
    pub async fn node_reports(&self) -> AppResult<Vec<NodeStats>> {
        let rows: Vec<String> = sqlx::query_scalar("select stats from nodes")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect())
    }

    /// Accounts whose username or display name contains `q` (any case), by username.
    pub async fn admin_users(&self, q: &str, limit: i64) -> AppResult<Vec<AdminUser>> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "select id, username, display_name, created_at, banned_at from users
             where lower(username) like $1 escape '\\' or lower(display_name) like $1 escape '\\'
             order by username limit $2",
        )
        .bind(contains_pattern(q))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(admin_user).collect())
    }

    /// One account, the reason of its ban (through the API) and how many rooms it is in.
    pub async fn admin_user(
        &self,
        id: UserId,
    ) -> AppResult<Option<(AdminUser, Option<String>, i64)>> {
        let row: Option<UserRow> = sqlx::query_as(
            "select id, username, display_name, created_at, banned_at from users where id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let reason: Option<String> =
            sqlx::query_scalar("select reason from user_bans where user_id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        let rooms: i64 = sqlx::query_scalar("select count(*) from memberships where user_id = $1")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((admin_user(row), reason, rooms)))
    }

    /// Writes one operator action on an account to the audit log (actions whose effect is not
    /// stored, such as closing a device's socket).
    pub async fn audit_action(&self, by: UserId, action: &str, target: UserId) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        audit(
            &mut w.tx,
            by,
            AuditRecord {
                action,
                target_user: Some(target),
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Logout everywhere by an operator: every token of `user` revoked, with the audit record.
    pub async fn logout_everywhere(&self, user: UserId, by: UserId) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        super::users::revoke_all(&mut w.tx, user, now_ms()).await?;
        audit(
            &mut w.tx,
            by,
            AuditRecord {
                action: "logout_everywhere",
                target_user: Some(user),
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// A password set by an operator: the new hash, every token revoked, the audit record.
    pub async fn operator_reset_password(
        &self,
        user: UserId,
        hash: &str,
        by: UserId,
    ) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("update users set password_hash = $1 where id = $2")
            .bind(hash)
            .bind(user.0)
            .execute(&mut *w.tx)
            .await?;
        super::users::revoke_all(&mut w.tx, user, now_ms()).await?;
        audit(
            &mut w.tx,
            by,
            AuditRecord {
                action: "reset_password",
                target_user: Some(user),
                ..AuditRecord::default()
            },
        )
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Groups and channels whose name contains `q` (any case), largest first.
    pub async fn admin_rooms(&self, q: &str, limit: i64) -> AppResult<Vec<AdminRoom>> {
        let rows: Vec<RoomRow> = sqlx::query_as(concat!(
            room_columns!(),
            "where r.kind <> 'direct' and lower(r.name) like $1 escape '\\'
             order by 4 desc, r.id limit $2"
        ))
        .bind(contains_pattern(q))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(admin_room).collect())
    }

    /// One group or channel (direct rooms are `None`, as if absent).
    pub async fn admin_room(&self, id: RoomId) -> AppResult<Option<AdminRoom>> {
        let row: Option<RoomRow> = sqlx::query_as(concat!(
            room_columns!(),
            "where r.id = $1 and r.kind <> 'direct'"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(admin_room))
    }

    /// The room's first `limit` members, owners first, then by username.
    pub async fn admin_members(&self, id: RoomId, limit: i64) -> AppResult<Vec<AdminMember>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "select u.id, u.username, m.role from memberships m join users u on u.id = m.user_id
             where m.room_id = $1
             order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, u.username
             limit $2",
        )
        .bind(id.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, username, role)| AdminMember {
                user_id: UserId(id),
                username,
                role,
            })
            .collect())
    }

    /// How many messages the room stored since `since` (ms).
    pub async fn messages_since(&self, room: RoomId, since: i64) -> AppResult<i64> {
        Ok(sqlx::query_scalar(
            "select count(*) from messages where room_id = $1 and created_at >= $2",
        )
        .bind(room.0)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_the_text_literally() {
        let table = [
            ("", "%%"),
            ("Ann", "%ann%"),
            ("50%_off", "%50\\%\\_off%"),
            ("a\\b", "%a\\\\b%"),
        ];
        for (q, pattern) in table {
            assert_eq!(contains_pattern(q), pattern, "{q}");
        }
    }
}
