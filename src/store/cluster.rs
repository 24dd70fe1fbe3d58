//! The shared state of a cluster on `MISSIVE_BUS=postgres` (`cluster::state` says what it
//! means; `cluster::state::Book` is the model these statements follow): node leases, sockets
//! per user and node, and failed logins. Postgres only: each change is one statement (its
//! CTEs run atomically), so concurrent nodes need no transaction of their own, and none of
//! the statements a heartbeat runs reads more than its own node's users or the rows it changes.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::Store;
use crate::cluster::state::Counted;
use crate::domain::UserId;
use crate::error::AppResult;

impl Store {
    pub async fn register_node(&self, node: &str, now: i64, expires: i64) -> AppResult<()> {
        sqlx::query(
            "insert into node_leases (node_id, heartbeat_at, expires_at) values ($1, $2, $3)
             on conflict (node_id) do update
             set heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
        )
        .bind(node)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Renews the lease; false when it was reaped. Also forgets this node's rows at 0.
    pub async fn renew_node(&self, node: &str, now: i64, expires: i64) -> AppResult<bool> {
        let renewed = sqlx::query(
            "update node_leases set heartbeat_at = $2, expires_at = $3 where node_id = $1",
        )
        .bind(node)
        .bind(now)
        .bind(expires)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        sqlx::query("delete from presence_sockets where node_id = $1 and sockets <= 0")
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(renewed)
    }

    pub async fn presence_up(&self, node: &str, user: UserId, now: i64) -> AppResult<Counted> {
        let (sockets, version): (i64, i64) = sqlx::query_as(
            "with s as (
                 insert into presence_sockets (node_id, user_id, sockets) values ($1, $2, 1)
                 on conflict (node_id, user_id) do update
                 set sockets = presence_sockets.sockets + 1
                 returning sockets)
             insert into presence_users (user_id, sockets, version, changed_at, nodes)
             values ($2, 1, 1, $3, 1)
             on conflict (user_id) do update
             set sockets = presence_users.sockets + 1, version = presence_users.version + 1,
                 changed_at = excluded.changed_at,
                 nodes = presence_users.nodes + (select case when s.sockets = 1 then 1 else 0 end from s)
             returning sockets, version",
        )
        .bind(node)
        .bind(user.0)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Counted { sockets, version })
    }

    pub async fn presence_down(
        &self,
        node: &str,
        user: UserId,
        now: i64,
    ) -> AppResult<Option<Counted>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "with s as (
                 update presence_sockets set sockets = sockets - 1
                 where node_id = $1 and user_id = $2 and sockets > 0 returning user_id, sockets)
             update presence_users set sockets = sockets - 1, version = version + 1, changed_at = $3,
                 nodes = nodes - (select case when s.sockets = 0 then 1 else 0 end from s)
             where user_id = (select user_id from s)
             returning sockets, version",
        )
        .bind(node)
        .bind(user.0)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(sockets, version)| Counted { sockets, version }))
    }

    pub async fn presence_claim(&self, user: UserId, version: i64) -> AppResult<Option<i64>> {
        let at: Option<(i64,)> = sqlx::query_as(
            "delete from presence_users where user_id = $1 and sockets <= 0 and version = $2
             returning changed_at",
        )
        .bind(user.0)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(at.map(|(at,)| at))
    }

    pub async fn presence_sweep(&self, cutoff: i64) -> AppResult<Vec<(UserId, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "delete from presence_users where sockets <= 0 and changed_at <= $1
             returning user_id, changed_at",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(u, at)| (UserId(u), at)).collect())
    }

    /// Which of `users` have a socket (the ids travel as one text, Postgres splits them).
    pub async fn presence_online(&self, users: &[UserId]) -> AppResult<HashSet<UserId>> {
        let ids = users
            .iter()
            .map(|u| u.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let rows: Vec<(i64,)> = sqlx::query_as(
            "select user_id from presence_users
             where sockets > 0 and user_id = any(string_to_array($1, ',')::bigint[])",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(u,)| UserId(u)).collect())
    }

    pub async fn presence_sockets(&self, user: UserId) -> AppResult<i64> {
        let n: Option<(i64,)> =
            sqlx::query_as("select sockets from presence_users where user_id = $1")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(n.map_or(0, |(n,)| n.max(0)))
    }

    /// Reaps every lapsed lease, with its node's sockets, in one statement; returns the nodes
    /// reaped.
    pub async fn reap_nodes(&self, now: i64) -> AppResult<Vec<String>> {
        let dead: Vec<(String,)> = sqlx::query_as(
            "with dead as (
                 delete from node_leases where expires_at < $1 returning node_id, heartbeat_at),
             gone as (
                 delete from presence_sockets p using dead d where p.node_id = d.node_id
                 returning p.user_id, p.sockets, d.heartbeat_at),
             per_user as (
                 select user_id, sum(sockets) as sockets, max(heartbeat_at) as beat,
                        count(*) filter (where sockets > 0) as nodes
                 from gone group by user_id),
             changed as (
                 update presence_users u
                 set sockets = u.sockets - g.sockets, version = u.version + 1,
                     changed_at = greatest(u.changed_at, g.beat), nodes = u.nodes - g.nodes
                 from per_user g where u.user_id = g.user_id
                 returning 1)
             select node_id from dead",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(dead.into_iter().map(|(n,)| n).collect())
    }

    /// A graceful stop: the lease and the sockets of `node`, now.
    pub async fn goodbye_node(&self, node: &str, now: i64) -> AppResult<()> {
        sqlx::query("delete from node_leases where node_id = $1")
            .bind(node)
            .execute(&self.pool)
            .await?;
        self.remove_node_sockets(node, now).await
    }

    /// Takes `node`'s sockets off every count (a goodbye, or a node whose lease was reaped
    /// while it was alive, before it counts its sockets again).
    pub async fn remove_node_sockets(&self, node: &str, last_seen: i64) -> AppResult<()> {
        sqlx::query(
            "with gone as (delete from presence_sockets where node_id = $1 returning user_id, sockets)
             update presence_users u
             set sockets = u.sockets - g.sockets, version = u.version + 1,
                 changed_at = greatest(u.changed_at, $2),
                 nodes = u.nodes - (case when g.sockets > 0 then 1 else 0 end)
             from gone g where u.user_id = g.user_id",
        )
        .bind(node)
        .bind(last_seen)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `node`'s users with sockets on other nodes too, and on how many nodes.
    pub async fn presence_spread(&self, node: &str) -> AppResult<HashMap<UserId, u32>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "select u.user_id, u.nodes from presence_users u
             where u.nodes > 1 and exists (
                 select 1 from presence_sockets p
                 where p.node_id = $1 and p.user_id = u.user_id and p.sockets > 0)",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(u, n)| (UserId(u), n as u32))
            .collect())
    }

    pub async fn live_nodes(&self) -> AppResult<usize> {
        let (n,): (i64,) = sqlx::query_as("select count(*) from node_leases")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    /// Failures of `username` from `addr` after `since`, and the oldest of them.
    pub async fn login_failures(
        &self,
        username: &str,
        addr: IpAddr,
        since: i64,
    ) -> AppResult<(usize, Option<i64>)> {
        let (n, oldest): (i64, Option<i64>) = sqlx::query_as(
            "select count(*), min(failed_at) from login_failures
             where username = $1 and addr = $2 and failed_at > $3",
        )
        .bind(username)
        .bind(addr.to_string())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((n as usize, oldest))
    }

    pub async fn record_login_failure(
        &self,
        username: &str,
        addr: IpAddr,
        now: i64,
    ) -> AppResult<()> {
        sqlx::query("insert into login_failures (username, addr, failed_at) values ($1, $2, $3)")
            .bind(username)
            .bind(addr.to_string())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn forget_login(&self, username: &str, addr: IpAddr) -> AppResult<()> {
        sqlx::query("delete from login_failures where username = $1 and addr = $2")
            .bind(username)
            .bind(addr.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops failures older than the throttle's window.
    pub async fn forget_login_failures(&self, before: i64) -> AppResult<()> {
        sqlx::query("delete from login_failures where failed_at <= $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
