//! The REST side: registering users (concurrently, since each registration is an argon2id
//! hash), creating direct rooms and groups, and the user pool file that lets several scenario
//! runs against one server reuse the same registered users instead of paying argon2 again.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A registered user and a valid access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
}

/// REST client for one server.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Session {
    user: SessionUser,
    access_token: String,
}

#[derive(Deserialize)]
struct SessionUser {
    id: String,
    username: String,
}

#[derive(Deserialize)]
struct RoomReply {
    id: String,
}

pub const PASSWORD: &str = "loadgen-password";

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<T> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!("POST {path}: {status}: {text}");
        }
        Ok(resp.json().await?)
    }

    pub async fn register(&self, username: &str) -> anyhow::Result<User> {
        let s: Session = self
            .post(
                "/api/auth/register",
                None,
                json!({ "username": username, "password": PASSWORD }),
            )
            .await?;
        Ok(User {
            id: s.user.id,
            username: s.user.username,
            token: s.access_token,
        })
    }

    /// One registration (`login: false`) or login of `username` with the pool password:
    /// `Ok(true)` when it succeeded, `Ok(false)` when the server was busy (503 `unavailable`
    /// from a full hashing queue, or 429) and the caller may retry, else an error.
    pub async fn auth_attempt(&self, username: &str, login: bool) -> anyhow::Result<bool> {
        let path = if login {
            "/api/auth/login"
        } else {
            "/api/auth/register"
        };
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        if status.is_success() {
            let _: Session = resp.json().await?;
            return Ok(true);
        }
        if status.as_u16() == 503 || status.as_u16() == 429 {
            return Ok(false);
        }
        let text = resp.text().await.unwrap_or_default();
        bail!("POST {path}: {status}: {text}")
    }

    /// Registers `count` users named `lg<stamp>_<i>`, `concurrency` at a time.
    pub async fn register_many(
        &self,
        count: usize,
        concurrency: usize,
    ) -> anyhow::Result<Vec<User>> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            % 10_000_000_000;
        let started = Instant::now();
        let api = Arc::new(self.clone());
        let mut users: Vec<(usize, User)> = stream::iter(0..count)
            .map(|i| {
                let api = api.clone();
                async move {
                    let user = api.register(&format!("lg{stamp}_{i}")).await?;
                    anyhow::Ok((i, user))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        users.sort_by_key(|(i, _)| *i);
        if count > 0 {
            eprintln!(
                "registered {count} users in {:.1} s ({:.0}/s)",
                started.elapsed().as_secs_f64(),
                count as f64 / started.elapsed().as_secs_f64()
            );
        }
        Ok(users.into_iter().map(|(_, u)| u).collect())
    }

    /// The direct room of `a` and `b` (created on first use).
    pub async fn direct_room(&self, a: &User, b: &User) -> anyhow::Result<String> {
        let r: RoomReply = self
            .post(
                "/api/rooms/direct",
                Some(&a.token),
                json!({ "user_id": b.id }),
            )
            .await?;
        Ok(r.id)
    }

    /// A group owned by `owner` with `members` (added after creation past the first 1000).
    pub async fn group(
        &self,
        owner: &User,
        name: &str,
        members: &[User],
    ) -> anyhow::Result<String> {
        let (first, rest) = members.split_at(members.len().min(1000));
        let ids: Vec<&str> = first.iter().map(|u| u.id.as_str()).collect();
        let r: RoomReply = self
            .post(
                "/api/rooms",
                Some(&owner.token),
                json!({ "kind": "group", "name": name, "members": ids }),
            )
            .await?;
        for m in rest {
            let _: serde_json::Value = self
                .post(
                    &format!("/api/rooms/{}/members", r.id),
                    Some(&owner.token),
                    json!({ "user_id": m.id }),
                )
                .await?;
        }
        Ok(r.id)
    }
}

/// The users a scenario runs as: the first `need` of `--users FILE` if given, else freshly
/// registered ones.
pub async fn users(
    api: &Api,
    file: Option<&Path>,
    need: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<User>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut all: Vec<User> = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            if all.len() < need {
                bail!(
                    "{} holds {} users; this run needs {need}",
                    path.display(),
                    all.len()
                );
            }
            all.truncate(need);
            Ok(all)
        }
        None => api.register_many(need, concurrency).await,
    }
}

/// Writes a user pool file (`loadgen users`).
pub fn save_users(path: &Path, users: &[User]) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string(users)?)
        .with_context(|| format!("writing {}", path.display()))
}
