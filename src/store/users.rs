//! Accounts, refresh-token families, and the presence facts kept in the database.

use sqlx::FromRow;

use super::{Store, is_unique_violation};
use crate::domain::{User, UserId, now_ms};
use crate::error::{AppError, AppResult};

#[derive(FromRow)]
pub(super) struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    avatar: Option<String>,
}

/// An attachment snapshot column (`users.avatar`, `rooms.picture`) read back.
pub(super) fn picture_of(json: Option<&str>) -> Option<Box<crate::domain::Attachment>> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId(r.id),
            username: r.username,
            display_name: r.display_name,
            created_at: r.created_at,
            avatar: picture_of(r.avatar.as_deref()),
        }
    }
}

/// What a refresh attempt found.
pub enum RefreshOutcome {
    /// The token was live; it is now used and the caller may mint the next one.
    Rotated { user: UserId, family: String },
    /// The token had been used already: the whole family is now revoked.
    Reused,
    /// Unknown, revoked or expired.
    Refused,
}

impl Store {
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        hash: &str,
    ) -> AppResult<User> {
        let mut w = self.begin_write().await?;
        let row: UserRow = sqlx::query_as(
            "insert into users (username, display_name, password_hash, created_at)
             values ($1, $2, $3, $4)
             returning id, username, display_name, created_at, avatar",
        )
        .bind(username)
        .bind(display_name)
        .bind(hash)
        .bind(now_ms())
        .fetch_one(&mut *w.tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict("username is taken")
            } else {
                e.into()
            }
        })?;
        w.commit().await?;
        Ok(row.into())
    }

    /// The user and their password hash, for login.
    pub async fn credentials(&self, username: &str) -> AppResult<Option<(User, String)>> {
        let row: Option<(i64, String, String, i64, String, Option<String>)> = sqlx::query_as(
            "select id, username, display_name, created_at, password_hash, avatar from users where username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(id, username, display_name, created_at, hash, avatar)| {
                (
                    User {
                        id: UserId(id),
                        username,
                        display_name,
                        created_at,
                        avatar: picture_of(avatar.as_deref()),
                    },
                    hash,
                )
            }),
        )
    }

    /// The user with this id, if there is one.
    pub async fn user(&self, id: UserId) -> AppResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "select id, username, display_name, created_at, avatar from users where id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn last_seen(&self, id: UserId) -> AppResult<Option<i64>> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("select last_seen_at from users where id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.flatten())
    }

    pub async fn set_last_seen(&self, id: UserId, at: i64) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("update users set last_seen_at = $1 where id = $2")
            .bind(at)
            .bind(id.0)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(())
    }

    /// Renames the user; `None` when there is no such user.
    pub async fn set_display_name(
        &self,
        id: UserId,
        display_name: &str,
    ) -> AppResult<Option<User>> {
        let mut w = self.begin_write().await?;
        let row: Option<UserRow> = sqlx::query_as(
            "update users set display_name = $1 where id = $2
             returning id, username, display_name, created_at, avatar",
        )
        .bind(display_name)
        .bind(id.0)
        .fetch_optional(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(row.map(Into::into))
    }

    /// Users whose username starts with `prefix`, alphabetically.
    pub async fn search_users(&self, prefix: &str, limit: i64) -> AppResult<Vec<User>> {
        let escaped: String = prefix
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows: Vec<UserRow> = sqlx::query_as(
            "select id, username, display_name, created_at, avatar from users
             where username like $1 escape '\\'
             order by username limit $2",
        )
        .bind(format!("{escaped}%"))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Access tokens issued (`Claims::ims`, milliseconds) at or before this are refused.
    pub async fn tokens_valid_after(&self, id: UserId) -> AppResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("select tokens_valid_after from users where id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn insert_refresh_token(
        &self,
        jti: &str,
        user: UserId,
        family: &str,
        expires_at: i64,
    ) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "insert into refresh_tokens (jti, user_id, family, expires_at, created_at)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(jti)
        .bind(user.0)
        .bind(family)
        .bind(expires_at)
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Marks a refresh token used, detecting reuse (which revokes its whole family). The
    /// conditional update makes two concurrent uses of one token resolve to one winner.
    pub async fn use_refresh_token(&self, jti: &str) -> AppResult<RefreshOutcome> {
        let now = now_ms();
        let mut w = self.begin_write().await?;
        let won: Option<(i64, String)> = sqlx::query_as(
            "update refresh_tokens set used_at = $1
             where jti = $2 and used_at is null and revoked_at is null and expires_at > $1
             returning user_id, family",
        )
        .bind(now)
        .bind(jti)
        .fetch_optional(&mut *w.tx)
        .await?;
        let outcome = match won {
            Some((user, family)) => RefreshOutcome::Rotated {
                user: UserId(user),
                family,
            },
            None => {
                let row: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "select family, used_at, revoked_at from refresh_tokens where jti = $1",
                )
                .bind(jti)
                .fetch_optional(&mut *w.tx)
                .await?;
                match row {
                    Some((family, Some(_), None)) => {
                        sqlx::query("update refresh_tokens set revoked_at = $1 where family = $2 and revoked_at is null")
                            .bind(now)
                            .bind(&family)
                            .execute(&mut *w.tx)
                            .await?;
                        RefreshOutcome::Reused
                    }
                    _ => RefreshOutcome::Refused,
                }
            }
        };
        w.commit().await?;
        Ok(outcome)
    }

    /// Logout: revokes every token of the login the given token belongs to.
    pub async fn revoke_family_of(&self, jti: &str) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "update refresh_tokens set revoked_at = $1
             where revoked_at is null
               and family = (select family from refresh_tokens where jti = $2)",
        )
        .bind(now_ms())
        .bind(jti)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    /// Logout everywhere: revokes all refresh tokens and every access token issued until now.
    pub async fn revoke_all_tokens(&self, user: UserId) -> AppResult<()> {
        let mut w = self.begin_write().await?;
        revoke_all(&mut w.tx, user, now_ms()).await?;
        w.commit().await?;
        Ok(())
    }

    /// Distinct users who share a direct room or group with `user` (not channels), `user` aside:
    /// the audience of presence and profile changes.
    pub async fn contacts(&self, user: UserId) -> AppResult<Vec<UserId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "select distinct other.user_id
             from memberships mine
             join rooms r on r.id = mine.room_id and r.kind <> 'channel'
             join memberships other on other.room_id = mine.room_id and other.user_id <> mine.user_id
             where mine.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }
}

/// One account as the operator's `missive user list` shows it.
pub struct Account {
    pub user: User,
    /// When an operator banned the account (ms), if it is banned.
    pub banned_at: Option<i64>,
}

impl Store {
    /// Every account, in id order (the operator's list).
    pub async fn accounts(&self) -> AppResult<Vec<Account>> {
        type AccountRow = (i64, String, String, i64, Option<i64>, Option<String>);
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select id, username, display_name, created_at, banned_at, avatar from users order by id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, username, display_name, created_at, banned_at, avatar)| Account {
                    user: User {
                        id: UserId(id),
                        username,
                        display_name,
                        created_at,
                        avatar: picture_of(avatar.as_deref()),
                    },
                    banned_at,
                },
            )
            .collect())
    }

    /// Whether an operator banned this user.
    pub async fn is_banned(&self, id: UserId) -> AppResult<bool> {
        let banned: Option<Option<i64>> =
            sqlx::query_scalar("select banned_at from users where id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(matches!(banned, Some(Some(_))))
    }

    /// Sets a new password hash and ends every session of the account (whoever knew the old
    /// password is logged out). `None` when there is no such user.
    pub async fn reset_password(&self, username: &str, hash: &str) -> AppResult<Option<UserId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "update users set password_hash = $1 where username = $2 returning id",
        )
        .bind(hash)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(id) = id.map(UserId) else {
            return Ok(None);
        };
        self.revoke_all_tokens(id).await?;
        Ok(Some(id))
    }

    /// Bans (and logs out everywhere) or unbans an account. `None` when there is no such user.
    pub async fn set_banned(&self, username: &str, banned: bool) -> AppResult<Option<UserId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "update users set banned_at = case when $1 then coalesce(banned_at, $2) end
             where username = $3 returning id",
        )
        .bind(banned)
        .bind(now_ms())
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(id) = id.map(UserId) else {
            return Ok(None);
        };
        if banned {
            self.revoke_all_tokens(id).await?;
        }
        Ok(Some(id))
    }
}

/// Revokes every refresh token of `user` and every access token issued until `now`.
pub(super) async fn revoke_all(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update refresh_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(user.0)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update users set tokens_valid_after = $1 where id = $2")
        .bind(now)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}
