//! The state every node of a cluster shares: node leases, how many sockets each user has on
//! each node (cluster-wide presence), and the failed-login throttle. Three backends, one
//! behaviour: in this process on SQLite (one node), tables in Postgres (`MISSIVE_BUS=postgres`),
//! or a Redis server (`MISSIVE_BUS=redis`).
//!
//! The model, kept by [`Book`] (which is also the in-process backend, and the executable
//! specification the SQL of `store::cluster` and the Lua below follow):
//! - A node holds a **lease** it renews every `MISSIVE_NODE_HEARTBEAT`; a lease not renewed for
//!   `MISSIVE_NODE_LEASE` has lapsed, and the first node to remove it (**reaps** it) takes the
//!   dead node's sockets off every user's count, with the dead node's last heartbeat as the
//!   time they were last seen.
//! - A user's entry counts their sockets over every live node, with a version bumped on every
//!   change. A socket that makes a new entry (version 1) makes the user online; a count that
//!   falls to 0 leaves the entry **idle**. After the presence grace, the node that saw it fall
//!   **claims** the idle entry if its version did not change (nobody came back); every node also
//!   **sweeps** entries idle for longer than the grace (those whose node died or stopped before
//!   its claim). Claiming deletes the entry, so exactly one node announces each offline.
//! - A graceful stop **says goodbye**: the node removes its lease and its remaining sockets
//!   right away, as a reaping would, but the users it leaves at 0 are only announced offline
//!   after the grace, by whichever node sweeps first, so that the clients of a node restarting
//!   in a rolling deploy reconnect elsewhere without their contacts seeing them flap.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use anyhow::Context;
use redis::aio::ConnectionManager;

use crate::auth::throttle::{self, LoginThrottle};
use crate::config::{BusKind, Config};
use crate::domain::UserId;
use crate::error::{AppError, AppResult};
use crate::store::{Backend as Db, Store};

/// A user's count after a socket came or went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Sockets of the user over every live node.
    pub sockets: i64,
    /// Bumped on every change; 1 for a new entry.
    pub version: i64,
}

impl Counted {
    /// The socket that made this count made its user online (a new entry: the user had been
    /// announced offline, or never online).
    pub fn came_online(self) -> bool {
        self.version == 1
    }

    /// The version an offline announcement must find unchanged, when this count left the user
    /// with no socket.
    pub fn went_idle(self) -> Option<i64> {
        (self.sockets <= 0).then_some(self.version)
    }
}

/// When a lease renewed at `now` lapses.
pub fn lease_expiry(now: i64, lease: Duration) -> i64 {
    now + lease.as_millis() as i64
}

/// Whether a lease that lapses at `expires_at` has lapsed at `now`.
pub fn lapsed(expires_at: i64, now: i64) -> bool {
    expires_at < now
}

/// A user's entry: see the module's doc.
#[derive(Clone, Copy, Debug)]
struct Entry {
    sockets: i64,
    version: i64,
    changed_at: i64,
}

/// The model of the shared state, in memory: the in-process backend, and the specification of
/// the other two (its unit tests are the rules' tests).
#[derive(Default)]
pub struct Book {
    /// Node → (last heartbeat, lease lapses at).
    leases: HashMap<String, (i64, i64)>,
    /// (node, user) → sockets.
    per_node: HashMap<(String, UserId), i64>,
    users: HashMap<UserId, Entry>,
}

impl Book {
    pub fn register(&mut self, node: &str, now: i64, lease: Duration) {
        self.leases
            .insert(node.to_owned(), (now, lease_expiry(now, lease)));
    }

    /// Renews `node`'s lease; false when it is gone (reaped: the node must register again and
    /// count its sockets anew).
    pub fn renew(&mut self, node: &str, now: i64, lease: Duration) -> bool {
        match self.leases.get_mut(node) {
            Some(l) => {
                *l = (now, lease_expiry(now, lease));
                true
            }
            None => false,
        }
    }

    pub fn up(&mut self, node: &str, user: UserId, now: i64) -> Counted {
        *self.per_node.entry((node.to_owned(), user)).or_insert(0) += 1;
        let e = self.users.entry(user).or_insert(Entry {
            sockets: 0,
            version: 0,
            changed_at: now,
        });
        e.sockets += 1;
        e.version += 1;
        e.changed_at = now;
        Counted {
            sockets: e.sockets,
            version: e.version,
        }
    }

    /// `None` when `node` counted no socket of `user` (nothing changes).
    pub fn down(&mut self, node: &str, user: UserId, now: i64) -> Option<Counted> {
        let key = (node.to_owned(), user);
        let n = self.per_node.get_mut(&key).filter(|n| **n > 0)?;
        *n -= 1;
        if *n == 0 {
            self.per_node.remove(&key);
        }
        let e = self.users.get_mut(&user)?;
        e.sockets -= 1;
        e.version += 1;
        e.changed_at = now;
        Some(Counted {
            sockets: e.sockets,
            version: e.version,
        })
    }

    /// Takes `user`'s idle entry if its version is still `version`: the caller announces them
    /// offline, last seen at the returned time.
    pub fn claim(&mut self, user: UserId, version: i64) -> Option<i64> {
        let e = *self.users.get(&user)?;
        if e.sockets > 0 || e.version != version {
            return None;
        }
        self.users.remove(&user);
        Some(e.changed_at)
    }

    /// Takes every entry idle since `cutoff` or before.
    pub fn sweep(&mut self, cutoff: i64) -> Vec<(UserId, i64)> {
        let idle: Vec<(UserId, i64)> = self
            .users
            .iter()
            .filter(|(_, e)| e.sockets <= 0 && e.changed_at <= cutoff)
            .map(|(u, e)| (*u, e.changed_at))
            .collect();
        for (u, _) in &idle {
            self.users.remove(u);
        }
        idle
    }

    /// Removes the leases lapsed at `now`, and their nodes' sockets; returns the dead nodes.
    pub fn reap(&mut self, now: i64) -> Vec<String> {
        let dead: Vec<(String, i64)> = self
            .leases
            .iter()
            .filter(|(_, (_, expires))| lapsed(*expires, now))
            .map(|(n, (beat, _))| (n.clone(), *beat))
            .collect();
        for (node, beat) in &dead {
            self.leases.remove(node);
            self.remove_node(node, *beat);
        }
        dead.into_iter().map(|(n, _)| n).collect()
    }

    /// A graceful stop: the lease and the sockets of `node` go now.
    pub fn goodbye(&mut self, node: &str, now: i64) {
        self.leases.remove(node);
        self.remove_node(node, now);
    }

    fn remove_node(&mut self, node: &str, last_seen: i64) {
        let gone: Vec<(UserId, i64)> = self
            .per_node
            .iter()
            .filter(|((n, _), _)| n == node)
            .map(|((_, u), s)| (*u, *s))
            .collect();
        for (user, sockets) in gone {
            self.per_node.remove(&(node.to_owned(), user));
            if let Some(e) = self.users.get_mut(&user) {
                e.sockets -= sockets;
                e.version += 1;
                e.changed_at = e.changed_at.max(last_seen);
            }
        }
    }

    pub fn online(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|e| e.sockets > 0)
    }

    /// Sockets of `user` over every node.
    pub fn sockets(&self, user: UserId) -> i64 {
        self.users.get(&user).map_or(0, |e| e.sockets.max(0))
    }

    /// `node`'s users that have sockets on other nodes too, with how many nodes they are on.
    pub fn spread(&self, node: &str) -> HashMap<UserId, u32> {
        let mut nodes: HashMap<UserId, u32> = HashMap::new();
        for ((_, user), n) in &self.per_node {
            if *n > 0 {
                *nodes.entry(*user).or_default() += 1;
            }
        }
        nodes.retain(|user, n| {
            *n > 1
                && self
                    .per_node
                    .get(&(node.to_owned(), *user))
                    .is_some_and(|s| *s > 0)
        });
        nodes
    }

    pub fn live_nodes(&self) -> usize {
        self.leases.len()
    }
}

/// What one heartbeat found.
#[derive(Default)]
pub struct Beat {
    /// Users to announce offline (taken from the shared state by this node), last seen when.
    pub offline: Vec<(UserId, i64)>,
    /// Users this node counted again after its lease had been reaped, who came online again.
    pub online: Vec<UserId>,
    /// This node's users that have sockets on other nodes too, and on how many nodes.
    pub spread: HashMap<UserId, u32>,
    /// Nodes holding a live lease (at least 1: this one).
    pub live_nodes: usize,
    /// Nodes whose lapsed lease this node reaped.
    pub reaped: Vec<String>,
}

enum Backend {
    Local {
        book: Mutex<Book>,
        throttle: LoginThrottle,
    },
    Postgres(Store),
    Redis(Redis),
}

/// The shared state, as this node sees it.
pub struct Shared {
    node: String,
    lease: Duration,
    grace: Duration,
    backend: Backend,
    /// Set by `goodbye`: no heartbeat may take the lease again.
    stopped: std::sync::atomic::AtomicBool,
}

fn redis_error(e: redis::RedisError) -> AppError {
    tracing::warn!(error = %e, "redis");
    AppError::Unavailable
}

impl Shared {
    /// The backend `config` and the database call for, with this node's lease taken.
    pub async fn connect(config: &Config, store: &Store, node: String) -> anyhow::Result<Self> {
        let backend = match (store.backend, config.bus_kind()?) {
            (Db::Sqlite, _) | (Db::Postgres, None) => Backend::Local {
                book: Mutex::default(),
                throttle: LoginThrottle::default(),
            },
            (Db::Postgres, Some(BusKind::Postgres)) => Backend::Postgres(store.clone()),
            (Db::Postgres, Some(BusKind::Redis)) => {
                Backend::Redis(Redis::connect(&config.redis_url, &config.redis_prefix).await?)
            }
        };
        anyhow::ensure!(
            config.node_heartbeat < config.node_lease,
            "MISSIVE_NODE_HEARTBEAT must be shorter than MISSIVE_NODE_LEASE"
        );
        let shared = Self {
            node,
            lease: config.node_lease,
            grace: config.presence_grace,
            backend,
            stopped: Default::default(),
        };
        shared
            .register()
            .await
            .context("taking this node's lease in the shared state")?;
        Ok(shared)
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    async fn register(&self) -> AppResult<()> {
        let now = crate::domain::now_ms();
        let expires = lease_expiry(now, self.lease);
        match &self.backend {
            Backend::Local { book, .. } => {
                book.lock().unwrap().register(&self.node, now, self.lease)
            }
            Backend::Postgres(store) => store.register_node(&self.node, now, expires).await?,
            Backend::Redis(r) => r.register(&self.node, now, expires).await?,
        }
        Ok(())
    }

    /// One socket of `user` more on this node.
    pub async fn up(&self, user: UserId) -> AppResult<Counted> {
        let now = crate::domain::now_ms();
        match &self.backend {
            Backend::Local { book, .. } => Ok(book.lock().unwrap().up(&self.node, user, now)),
            Backend::Postgres(store) => store.presence_up(&self.node, user, now).await,
            Backend::Redis(r) => r.up(&self.node, user, now).await,
        }
    }

    /// One socket of `user` fewer on this node (`None`: this node counted none).
    pub async fn down(&self, user: UserId) -> AppResult<Option<Counted>> {
        let now = crate::domain::now_ms();
        match &self.backend {
            Backend::Local { book, .. } => Ok(book.lock().unwrap().down(&self.node, user, now)),
            Backend::Postgres(store) => store.presence_down(&self.node, user, now).await,
            Backend::Redis(r) => r.down(&self.node, user, now).await,
        }
    }

    /// See [`Book::claim`].
    pub async fn claim(&self, user: UserId, version: i64) -> AppResult<Option<i64>> {
        match &self.backend {
            Backend::Local { book, .. } => Ok(book.lock().unwrap().claim(user, version)),
            Backend::Postgres(store) => store.presence_claim(user, version).await,
            Backend::Redis(r) => r.claim(user, version).await,
        }
    }

    /// Which of `users` have a socket on a live node (or on a dead node whose lease has not
    /// lapsed yet).
    pub async fn online(&self, users: &[UserId]) -> AppResult<HashSet<UserId>> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        match &self.backend {
            Backend::Local { book, .. } => {
                let book = book.lock().unwrap();
                Ok(users.iter().copied().filter(|u| book.online(*u)).collect())
            }
            Backend::Postgres(store) => store.presence_online(users).await,
            Backend::Redis(r) => r.online(users).await,
        }
    }

    /// Sockets of `user` over every node.
    pub async fn sockets(&self, user: UserId) -> AppResult<i64> {
        match &self.backend {
            Backend::Local { book, .. } => Ok(book.lock().unwrap().sockets(user)),
            Backend::Postgres(store) => store.presence_sockets(user).await,
            Backend::Redis(r) => r.sockets(user).await,
        }
    }

    /// Renews this node's lease (registering again, and counting `local` — this node's sockets
    /// per user — anew, if it had been reaped), reaps lapsed leases, and takes the users idle
    /// for longer than the grace.
    pub async fn heartbeat(&self, local: &[(UserId, usize)]) -> AppResult<Beat> {
        let now = crate::domain::now_ms();
        let cutoff = now - self.grace.as_millis() as i64;
        let mut beat = Beat::default();
        let renewed = match &self.backend {
            Backend::Local { book, .. } => book.lock().unwrap().renew(&self.node, now, self.lease),
            Backend::Postgres(store) => {
                store
                    .renew_node(&self.node, now, lease_expiry(now, self.lease))
                    .await?
            }
            Backend::Redis(r) => {
                r.renew(&self.node, now, lease_expiry(now, self.lease))
                    .await?
            }
        };
        if !renewed {
            tracing::warn!(
                node = %self.node,
                "this node's lease had lapsed and was reaped; taking a new one and counting its sockets again"
            );
            // Whatever this node counted after the reaping goes too, so that the count below
            // is the whole truth.
            match &self.backend {
                Backend::Local { book, .. } => book.lock().unwrap().goodbye(&self.node, now),
                Backend::Postgres(store) => store.remove_node_sockets(&self.node, now).await?,
                Backend::Redis(r) => {
                    r.reap(now, Some(&self.node)).await?;
                }
            }
            self.register().await?;
            for &(user, n) in local {
                for _ in 0..n {
                    if self.up(user).await?.came_online() {
                        beat.online.push(user);
                    }
                }
            }
        }
        match &self.backend {
            Backend::Local { book, .. } => {
                let mut book = book.lock().unwrap();
                beat.reaped = book.reap(now);
                beat.offline = book.sweep(cutoff);
                beat.spread = book.spread(&self.node);
                beat.live_nodes = book.live_nodes();
            }
            Backend::Postgres(store) => {
                beat.reaped = store.reap_nodes(now).await?;
                beat.offline = store.presence_sweep(cutoff).await?;
                beat.spread = store.presence_spread(&self.node).await?;
                beat.live_nodes = store.live_nodes().await?;
                store
                    .forget_login_failures(now - throttle::WINDOW.as_millis() as i64)
                    .await?;
            }
            Backend::Redis(r) => {
                beat.reaped = r.reap(now, None).await?;
                beat.offline = r.sweep(cutoff).await?;
                beat.spread = r.spread(&self.node).await?;
                beat.live_nodes = r.live_nodes().await?;
            }
        }
        beat.live_nodes = beat.live_nodes.max(1);
        Ok(beat)
    }

    /// Whether this node said goodbye.
    pub fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A graceful stop: see the module's doc.
    pub async fn goodbye(&self) -> AppResult<()> {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let now = crate::domain::now_ms();
        match &self.backend {
            Backend::Local { book, .. } => book.lock().unwrap().goodbye(&self.node, now),
            Backend::Postgres(store) => store.goodbye_node(&self.node, now).await?,
            Backend::Redis(r) => {
                r.reap(now, Some(&self.node)).await?;
            }
        }
        Ok(())
    }

    /// `Err(retry_after)` when `username` has used up its failed logins from `addr`.
    pub async fn login_allowed(
        &self,
        username: &str,
        addr: IpAddr,
    ) -> AppResult<Result<(), Duration>> {
        let now = crate::domain::now_ms();
        let since = now - throttle::WINDOW.as_millis() as i64;
        let (count, oldest) = match &self.backend {
            Backend::Local { throttle, .. } => return Ok(throttle.check(username, addr)),
            Backend::Postgres(store) => store.login_failures(username, addr, since).await?,
            Backend::Redis(r) => r.login_failures(username, addr, since).await?,
        };
        Ok(throttle::verdict(count, oldest, now))
    }

    /// Counts a wrong password for `username` from `addr`.
    pub async fn login_failed(&self, username: &str, addr: IpAddr) -> AppResult<()> {
        let now = crate::domain::now_ms();
        match &self.backend {
            Backend::Local { throttle, .. } => throttle.record_failure(username, addr),
            Backend::Postgres(store) => store.record_login_failure(username, addr, now).await?,
            Backend::Redis(r) => r.record_login_failure(username, addr, now).await?,
        }
        Ok(())
    }

    /// Forgets `username`'s failures from `addr`.
    pub async fn login_succeeded(&self, username: &str, addr: IpAddr) -> AppResult<()> {
        match &self.backend {
            Backend::Local { throttle, .. } => throttle.record_success(username, addr),
            Backend::Postgres(store) => store.forget_login(username, addr).await?,
            Backend::Redis(r) => r.forget_login(username, addr).await?,
        }
        Ok(())
    }
}

/// The Redis backend: the keys of one cluster, all under its prefix `{p}`:
/// `{p}:leases` (sorted set: node → lease lapses at), `{p}:beats` (hash: node → last heartbeat),
/// `{p}:node:{node}` (hash: user → sockets on that node), `{p}:user:{id}` (hash: `s` sockets,
/// `v` version, `at` changed at, `n` nodes with a socket), `{p}:idle` (sorted set: user →
/// idle since), `{p}:multi` (set: users on more than one node), `{p}:login:{addr}:{username}`
/// (sorted set of failure times). Each change is one
/// Lua script, so it is atomic; the scripts name keys they build, so this needs one Redis
/// server (or a primary with replicas), not Redis Cluster.
struct Redis {
    conn: ConnectionManager,
    prefix: String,
}

static UP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then
  if redis.call('HINCRBY', KEYS[2], 'n', 1) == 2 then redis.call('SADD', KEYS[4], ARGV[1]) end
end
local s = redis.call('HINCRBY', KEYS[2], 's', 1)
local v = redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('HSET', KEYS[2], 'at', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return {s, v}",
    )
});

static DOWN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 0 then return false end
if n == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HINCRBY', KEYS[2], 'n', -1) <= 1 then redis.call('SREM', KEYS[4], ARGV[1]) end
else
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
local s = redis.call('HINCRBY', KEYS[2], 's', -1)
local v = redis.call('HINCRBY', KEYS[2], 'v', 1)
redis.call('HSET', KEYS[2], 'at', ARGV[2])
if s <= 0 then redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1]) end
return {s, v}",
    )
});

static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local h = redis.call('HMGET', KEYS[1], 's', 'v', 'at')
if h[1] and tonumber(h[1]) <= 0 and h[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return h[3]
end
return false",
    )
});

static SWEEP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 1000)) do
  redis.call('ZREM', KEYS[1], u)
  local k = ARGV[1] .. ':user:' .. u
  local h = redis.call('HMGET', k, 's', 'at')
  if h[1] and tonumber(h[1]) <= 0 then
    redis.call('DEL', k)
    table.insert(out, u)
    table.insert(out, h[2])
  end
end
return out",
    )
});

static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 1
end
return 0",
    )
});

/// Reaps the lapsed leases (or, with ARGV[3], says goodbye for that node).
static REAP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local dead
if ARGV[3] ~= '' then dead = {ARGV[3]} else dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2]) end
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  local beat = tonumber(redis.call('HGET', KEYS[2], node) or ARGV[2])
  if ARGV[3] ~= '' then beat = tonumber(ARGV[2]) end
  redis.call('HDEL', KEYS[2], node)
  local nk = ARGV[1] .. ':node:' .. node
  local counts = redis.call('HGETALL', nk)
  for i = 1, #counts, 2 do
    local uk = ARGV[1] .. ':user:' .. counts[i]
    if redis.call('EXISTS', uk) == 1 then
      if redis.call('HINCRBY', uk, 'n', -1) <= 1 then redis.call('SREM', KEYS[4], counts[i]) end
      local s = redis.call('HINCRBY', uk, 's', -tonumber(counts[i + 1]))
      redis.call('HINCRBY', uk, 'v', 1)
      local at = math.max(tonumber(redis.call('HGET', uk, 'at') or '0'), beat)
      redis.call('HSET', uk, 'at', string.format('%.0f', at))
      if s <= 0 then redis.call('ZADD', KEYS[3], string.format('%.0f', at), counts[i]) end
    end
  end
  redis.call('DEL', nk)
end
return dead",
    )
});

static SPREAD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HEXISTS', KEYS[1], u) == 1 then
    local n = tonumber(redis.call('HGET', ARGV[1] .. ':user:' .. u, 'n') or '0')
    if n > 1 then
      table.insert(out, u)
      table.insert(out, tostring(n))
    end
  end
end
return out",
    )
});

impl Redis {
    async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("MISSIVE_REDIS_URL")?;
        let conn = tokio::time::timeout(Duration::from_secs(10), ConnectionManager::new(client))
            .await
            .context("connecting to Redis timed out")?
            .context("connecting to Redis")?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn user_key(&self, user: UserId) -> String {
        self.key(&format!("user:{}", user.0))
    }

    fn node_key(&self, node: &str) -> String {
        self.key(&format!("node:{node}"))
    }

    fn login_key(&self, username: &str, addr: IpAddr) -> String {
        self.key(&format!("login:{addr}:{username}"))
    }

    async fn register(&self, node: &str, now: i64, expires: i64) -> AppResult<()> {
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .zadd(self.key("leases"), node, expires)
            .hset(self.key("beats"), node, now)
            .exec_async(&mut c)
            .await
            .map_err(redis_error)
    }

    async fn renew(&self, node: &str, now: i64, expires: i64) -> AppResult<bool> {
        let mut c = self.conn.clone();
        let renewed: i64 = RENEW
            .key(self.key("leases"))
            .key(self.key("beats"))
            .arg(node)
            .arg(now)
            .arg(expires)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(renewed == 1)
    }

    async fn up(&self, node: &str, user: UserId, now: i64) -> AppResult<Counted> {
        let mut c = self.conn.clone();
        let (sockets, version): (i64, i64) = UP
            .key(self.node_key(node))
            .key(self.user_key(user))
            .key(self.key("idle"))
            .key(self.key("multi"))
            .arg(user.0)
            .arg(now)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(Counted { sockets, version })
    }

    async fn down(&self, node: &str, user: UserId, now: i64) -> AppResult<Option<Counted>> {
        let mut c = self.conn.clone();
        let counted: Option<(i64, i64)> = DOWN
            .key(self.node_key(node))
            .key(self.user_key(user))
            .key(self.key("idle"))
            .key(self.key("multi"))
            .arg(user.0)
            .arg(now)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(counted.map(|(sockets, version)| Counted { sockets, version }))
    }

    async fn claim(&self, user: UserId, version: i64) -> AppResult<Option<i64>> {
        let mut c = self.conn.clone();
        let at: Option<i64> = CLAIM
            .key(self.user_key(user))
            .key(self.key("idle"))
            .arg(user.0)
            .arg(version)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(at)
    }

    async fn sweep(&self, cutoff: i64) -> AppResult<Vec<(UserId, i64)>> {
        let mut c = self.conn.clone();
        let flat: Vec<String> = SWEEP
            .key(self.key("idle"))
            .arg(&self.prefix)
            .arg(cutoff)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(flat
            .chunks(2)
            .filter_map(|p| Some((UserId(p.first()?.parse().ok()?), p.get(1)?.parse().ok()?)))
            .collect())
    }

    async fn reap(&self, now: i64, goodbye: Option<&str>) -> AppResult<Vec<String>> {
        let mut c = self.conn.clone();
        REAP.key(self.key("leases"))
            .key(self.key("beats"))
            .key(self.key("idle"))
            .key(self.key("multi"))
            .arg(&self.prefix)
            .arg(now)
            .arg(goodbye.unwrap_or(""))
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)
    }

    async fn spread(&self, node: &str) -> AppResult<HashMap<UserId, u32>> {
        let mut c = self.conn.clone();
        let flat: Vec<String> = SPREAD
            .key(self.node_key(node))
            .key(self.key("multi"))
            .arg(&self.prefix)
            .invoke_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(flat
            .chunks(2)
            .filter_map(|p| Some((UserId(p.first()?.parse().ok()?), p.get(1)?.parse().ok()?)))
            .collect())
    }

    async fn live_nodes(&self) -> AppResult<usize> {
        let mut c = self.conn.clone();
        redis::cmd("ZCARD")
            .arg(self.key("leases"))
            .query_async(&mut c)
            .await
            .map_err(redis_error)
    }

    async fn online(&self, users: &[UserId]) -> AppResult<HashSet<UserId>> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        for u in users {
            pipe.hget(self.user_key(*u), "s");
        }
        let counts: Vec<Option<i64>> = pipe.query_async(&mut c).await.map_err(redis_error)?;
        Ok(users
            .iter()
            .zip(counts)
            .filter(|(_, n)| n.is_some_and(|n| n > 0))
            .map(|(u, _)| *u)
            .collect())
    }

    async fn sockets(&self, user: UserId) -> AppResult<i64> {
        let mut c = self.conn.clone();
        let n: Option<i64> = redis::cmd("HGET")
            .arg(self.user_key(user))
            .arg("s")
            .query_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok(n.unwrap_or(0).max(0))
    }

    async fn login_failures(
        &self,
        username: &str,
        addr: IpAddr,
        since: i64,
    ) -> AppResult<(usize, Option<i64>)> {
        let mut c = self.conn.clone();
        let key = self.login_key(username, addr);
        let (count, oldest): (usize, Vec<(String, i64)>) = redis::pipe()
            .cmd("ZCOUNT")
            .arg(&key)
            .arg(format!("({since}"))
            .arg("+inf")
            .cmd("ZRANGEBYSCORE")
            .arg(&key)
            .arg(format!("({since}"))
            .arg("+inf")
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(1)
            .query_async(&mut c)
            .await
            .map_err(redis_error)?;
        Ok((count, oldest.first().map(|(_, at)| *at)))
    }

    async fn record_login_failure(&self, username: &str, addr: IpAddr, now: i64) -> AppResult<()> {
        let mut c = self.conn.clone();
        let key = self.login_key(username, addr);
        let member = format!("{now}:{}", crate::auth::tokens::random_id());
        let since = now - throttle::WINDOW.as_millis() as i64;
        redis::pipe()
            .atomic()
            .zadd(&key, member, now)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(since)
            .pexpire(&key, throttle::WINDOW.as_millis() as i64)
            .exec_async(&mut c)
            .await
            .map_err(redis_error)
    }

    async fn forget_login(&self, username: &str, addr: IpAddr) -> AppResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.login_key(username, addr))
            .exec_async(&mut c)
            .await
            .map_err(redis_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(10);
    const ALICE: UserId = UserId(1);
    const BOB: UserId = UserId(2);

    #[test]
    fn a_lease_lapses_only_after_its_whole_length_without_renewal() {
        let expires = lease_expiry(1_000, LEASE);
        assert_eq!(expires, 11_000);
        assert!(!lapsed(expires, 11_000), "still alive at the last instant");
        assert!(lapsed(expires, 11_001));
        let mut book = Book::default();
        book.register("a", 0, LEASE);
        book.register("b", 0, LEASE);
        assert!(book.renew("a", 9_000, LEASE));
        assert_eq!(
            book.reap(10_001),
            ["b"],
            "only the node that stopped renewing"
        );
        assert!(
            !book.renew("b", 10_002, LEASE),
            "a reaped node must register again"
        );
        assert_eq!(book.live_nodes(), 1);
    }

    #[test]
    fn the_first_socket_anywhere_makes_a_user_online_and_only_the_first() {
        let mut book = Book::default();
        assert!(book.up("a", ALICE, 0).came_online());
        assert!(
            !book.up("b", ALICE, 1).came_online(),
            "a second node, same user"
        );
        assert!(!book.up("a", ALICE, 2).came_online());
        assert_eq!(book.sockets(ALICE), 3);
        assert!(book.online(ALICE) && !book.online(BOB));
    }

    #[test]
    fn the_last_socket_going_leaves_the_user_idle_and_one_claim_announces_them_offline() {
        let mut book = Book::default();
        book.up("a", ALICE, 0);
        book.up("b", ALICE, 0);
        let left = book.down("b", ALICE, 5).unwrap();
        assert_eq!(left.went_idle(), None, "a device stays on node a");
        let gone = book.down("a", ALICE, 7).unwrap();
        let version = gone.went_idle().expect("no socket left");
        assert!(!book.online(ALICE));
        assert_eq!(
            book.claim(ALICE, version),
            Some(7),
            "last seen when the count fell"
        );
        assert_eq!(
            book.claim(ALICE, version),
            None,
            "exactly one offline announcement"
        );
        assert!(
            book.down("a", ALICE, 8).is_none(),
            "nothing left to count down"
        );
        assert!(
            book.up("b", ALICE, 9).came_online(),
            "back after being announced offline"
        );
    }

    #[test]
    fn a_socket_back_within_the_grace_makes_the_pending_claim_stale() {
        let mut book = Book::default();
        book.up("a", ALICE, 0);
        let version = book.down("a", ALICE, 1).unwrap().went_idle().unwrap();
        let back = book.up("b", ALICE, 2);
        assert!(
            !back.came_online(),
            "never announced offline, so not online again"
        );
        assert_eq!(book.claim(ALICE, version), None);
        let again = book.down("b", ALICE, 3).unwrap().went_idle().unwrap();
        assert_eq!(book.sweep(2), [], "idle for less than the grace");
        assert_eq!(book.claim(ALICE, again), Some(3));
    }

    #[test]
    fn reaping_a_dead_node_leaves_its_only_users_idle_since_its_last_heartbeat() {
        let mut book = Book::default();
        book.register("a", 0, LEASE);
        book.register("b", 0, LEASE);
        book.up("a", ALICE, 1);
        book.up("b", ALICE, 1);
        book.up("b", BOB, 1);
        assert_eq!(book.spread("a"), HashMap::from([(ALICE, 2)]));
        assert!(book.renew("a", 4_000, LEASE));
        assert!(book.renew("b", 3_000, LEASE));
        assert_eq!(book.reap(13_001), ["b"]);
        assert!(book.online(ALICE), "alice is still on node a");
        assert!(!book.online(BOB));
        assert_eq!(
            book.sweep(13_001),
            [(BOB, 3_000)],
            "bob was last seen at b's last heartbeat"
        );
        assert_eq!(book.spread("a"), HashMap::new());
    }

    #[test]
    fn a_goodbye_removes_the_node_at_once_but_its_users_go_offline_after_the_grace() {
        let mut book = Book::default();
        book.register("a", 0, LEASE);
        book.register("b", 0, LEASE);
        book.up("b", ALICE, 1);
        book.goodbye("b", 100);
        assert_eq!(book.live_nodes(), 1);
        assert!(!book.online(ALICE));
        assert_eq!(
            book.sweep(99),
            [],
            "within the grace a reconnect elsewhere keeps her online"
        );
        assert!(
            !book.up("a", ALICE, 150).came_online(),
            "no flap in a rolling restart"
        );
        book.down("a", ALICE, 200);
        assert_eq!(book.sweep(200), [(ALICE, 200)]);
    }
}
