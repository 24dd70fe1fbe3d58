//! Configuration: the environment variables of `docs/protocol.md`, each also a CLI flag of the same name in
//! kebab case (`MISSIVE_ADDR` → `--missive-addr`), with `.env` read first by `main`.
//!
//! `Config::jwt_secret_bytes` resolves the signing key: the configured one, else (SQLite only) a
//! key generated once and kept beside the database file with mode 0600.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser};

#[derive(Parser, Clone, Debug)]
#[command(
    name = "missive",
    version,
    about = "A persistent private-messaging server"
)]
pub struct Config {
    /// Listen address.
    #[arg(
        long = "missive-addr",
        alias = "addr",
        env = "MISSIVE_ADDR",
        default_value = "127.0.0.1:4000"
    )]
    pub addr: String,

    /// `sqlite://…` or `postgres://…`; a SQLite file (and a missing Postgres database) is created.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "sqlite://missive.db"
    )]
    pub database_url: String,

    /// HS256 key, at least 32 bytes; generated and kept beside the SQLite file when unset.
    #[arg(
        long = "missive-jwt-secret",
        env = "MISSIVE_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,

    /// Web client folder served at `/`.
    #[arg(
        long = "missive-static-dir",
        env = "MISSIVE_STATIC_DIR",
        default_value = "static"
    )]
    pub static_dir: PathBuf,

    /// Comma-separated allowed origins, `*` for any; unset means same origin only.
    #[arg(long = "missive-cors-origins", env = "MISSIVE_CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Access token lifetime (`15m`, `30s`, …).
    #[arg(long = "missive-access-ttl", env = "MISSIVE_ACCESS_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_ttl: Duration,

    /// Refresh token lifetime.
    #[arg(long = "missive-refresh-ttl", env = "MISSIVE_REFRESH_TTL", default_value = "30d", value_parser = humantime::parse_duration)]
    pub refresh_ttl: Duration,

    /// Longest message body, in characters.
    #[arg(
        long = "missive-max-message-chars",
        env = "MISSIVE_MAX_MESSAGE_CHARS",
        default_value_t = 4096
    )]
    pub max_message_chars: usize,

    /// Usernames allowed on the `/admin` namespace (comma-separated).
    #[arg(
        long = "missive-admins",
        env = "MISSIVE_ADMINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub admins: Vec<String>,

    /// Messages per second per user (bursts of twice that); 0 = unlimited.
    #[arg(
        long = "missive-send-rate",
        env = "MISSIVE_SEND_RATE",
        default_value_t = 20
    )]
    pub send_rate: u32,

    /// SQLite `synchronous` level: `normal` survives a process crash (WAL), `full` also power loss.
    #[arg(long = "missive-sqlite-synchronous", env = "MISSIVE_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["off", "normal", "full", "extra"])]
    pub sqlite_synchronous: String,

    /// Batch concurrent sends into one transaction (group commit). Off only to measure its effect.
    #[arg(long = "missive-group-commit", env = "MISSIVE_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub group_commit: bool,

    /// How long a user stays "online" after their last socket closes, so that reconnect bursts
    /// do not flood contacts with presence events.
    #[arg(long = "missive-presence-grace", env = "MISSIVE_PRESENCE_GRACE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub presence_grace: Duration,

    /// How often a node renews its lease in the shared state (and reaps the leases of nodes that
    /// stopped renewing theirs). Several times shorter than `MISSIVE_NODE_LEASE`, so that a
    /// slow renewal or two do not make a live node look dead.
    #[arg(long = "missive-node-heartbeat", env = "MISSIVE_NODE_HEARTBEAT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub node_heartbeat: Duration,

    /// How long a node counts as alive after its last heartbeat. When it lapses, the surviving
    /// nodes remove the dead node's sockets from presence, and its users with no socket left
    /// elsewhere are announced offline. Longer means fewer false deaths (a node stalled by a
    /// long pause), shorter means users of a crashed node go offline sooner.
    #[arg(long = "missive-node-lease", env = "MISSIVE_NODE_LEASE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub node_lease: Duration,

    /// Database connection pool size.
    #[arg(long = "missive-db-pool", env = "MISSIVE_DB_POOL", default_value_t = 8)]
    pub db_pool: u32,

    /// The cluster bus between nodes: `postgres` (LISTEN/NOTIFY on the database, the default on
    /// Postgres) or `redis` (`MISSIVE_REDIS_URL`). Unset on SQLite: one node, in-process only.
    #[arg(long = "missive-bus", env = "MISSIVE_BUS", value_enum)]
    pub bus: Option<BusKind>,

    /// The Redis server of `MISSIVE_BUS=redis`.
    #[arg(
        long = "missive-redis-url",
        env = "MISSIVE_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Prefix of every Redis channel and key of this cluster (several clusters may share one
    /// Redis).
    #[arg(
        long = "missive-redis-prefix",
        env = "MISSIVE_REDIS_PREFIX",
        default_value = "missive"
    )]
    pub redis_prefix: String,

    /// How long after sending a message its sender may edit it.
    #[arg(long = "missive-edit-window", env = "MISSIVE_EDIT_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub edit_window: Duration,

    /// How long after sending a message its sender may delete it for everyone (a group's owner
    /// and admins may at any time).
    #[arg(long = "missive-delete-window", env = "MISSIVE_DELETE_WINDOW", default_value = "48h", value_parser = humantime::parse_duration)]
    pub delete_window: Duration,

    /// How long after a message a person with no connected device is notified (a device that
    /// reconnects meanwhile catches up instead); messages in that window are coalesced.
    #[arg(long = "missive-push-delay", env = "MISSIVE_PUSH_DELAY", default_value = "3s", value_parser = humantime::parse_duration)]
    pub push_delay: Duration,

    /// What a notification carries: `full` (sender and text), `sender` (only who wrote) or
    /// `none` (only that something arrived).
    #[arg(long = "missive-push-content", env = "MISSIVE_PUSH_CONTENT", default_value = "full", value_parser = ["full", "sender", "none"])]
    pub push_content: String,

    /// Allow pusher URLs on loopback and private addresses, and plain `http` (for tests and
    /// private deployments); otherwise only `https` to public addresses.
    #[arg(long = "missive-push-allow-private", env = "MISSIVE_PUSH_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub push_allow_private: bool,

    /// The VAPID (RFC 8292) private key: a P-256 scalar, 32 bytes in base64url. Unset: generated
    /// once and kept beside the SQLite file, or in the database on Postgres.
    #[arg(
        long = "missive-vapid-private-key",
        env = "MISSIVE_VAPID_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub vapid_private_key: Option<String>,

    /// The contact push services may reach (VAPID `sub`): a `mailto:` or `https:` URL.
    #[arg(
        long = "missive-push-subject",
        env = "MISSIVE_PUSH_SUBJECT",
        default_value = "mailto:postmaster@localhost"
    )]
    pub push_subject: String,

    /// How long a push service keeps a notification for a device that is offline (Web Push TTL).
    #[arg(long = "missive-push-ttl", env = "MISSIVE_PUSH_TTL", default_value = "1d", value_parser = humantime::parse_duration)]
    pub push_ttl: Duration,

    /// Timeout of every request to a push service or gateway.
    #[arg(long = "missive-push-timeout", env = "MISSIVE_PUSH_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub push_timeout: Duration,
    /// How long a shutdown (SIGTERM, Ctrl-C) may take: in-flight sends commit and are acked,
    /// every socket is closed, then the process exits, at the latest after this.
    #[arg(long = "missive-shutdown-grace", env = "MISSIVE_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Log format: `text` for people, `json` (one object a line) for log systems.
    #[arg(long = "missive-log-format", env = "MISSIVE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Logins and registrations per second from one IP address (bursts of three times that);
    /// 0 = unlimited.
    #[arg(
        long = "missive-auth-rate",
        env = "MISSIVE_AUTH_RATE",
        default_value_t = 10
    )]
    pub auth_rate: u32,

    /// Password hashes waiting for a hashing thread; past it, logins and registrations answer
    /// `unavailable` at once.
    #[arg(
        long = "missive-hash-queue",
        env = "MISSIVE_HASH_QUEUE",
        default_value_t = 32
    )]
    pub hash_queue: usize,

    /// New Socket.IO (Engine.IO) sessions per second from one IP address (bursts of five times
    /// that); 0 = unlimited.
    #[arg(
        long = "missive-handshake-rate",
        env = "MISSIVE_HANDSHAKE_RATE",
        default_value_t = 20
    )]
    pub handshake_rate: u32,

    /// Open TCP connections from one IP address; further ones are closed on accept. 0 = unlimited.
    #[arg(
        long = "missive-max-conns-per-addr",
        env = "MISSIVE_MAX_CONNS_PER_ADDR",
        default_value_t = 256
    )]
    pub max_conns_per_addr: usize,

    /// Bytes that may wait in the process to be sent to one socket (live entries, answers,
    /// catch-up batches); a packet that would go over closes the socket, which catches up when
    /// it reconnects. 0 = unlimited.
    #[arg(
        long = "missive-max-outbound-bytes",
        env = "MISSIVE_MAX_OUTBOUND_BYTES",
        default_value_t = 4 << 20
    )]
    pub max_outbound_bytes: u64,

    /// Unauthenticated (guest) sockets from one IP address. 0 = unlimited.
    #[arg(
        long = "missive-max-guests-per-addr",
        env = "MISSIVE_MAX_GUESTS_PER_ADDR",
        default_value_t = 64
    )]
    pub max_guests_per_addr: usize,

    /// Client events per second per socket (bursts of twice that); 0 = unlimited.
    #[arg(
        long = "missive-event-rate",
        env = "MISSIVE_EVENT_RATE",
        default_value_t = 50
    )]
    pub event_rate: u32,

    /// How long a new connection may take to send its first request's headers. An open
    /// connection silent both ways for 60 s is closed regardless (Engine.IO's heartbeat keeps
    /// a live socket busier than that).
    #[arg(long = "missive-http-header-timeout", env = "MISSIVE_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_timeout: Duration,

    /// Longest time one REST request may take, body included.
    #[arg(long = "missive-http-request-timeout", env = "MISSIVE_HTTP_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub http_request_timeout: Duration,

    /// Largest upload (`POST /api/attachments`), in bytes; enforced while the body streams in.
    #[arg(
        long = "missive-max-upload",
        env = "MISSIVE_MAX_UPLOAD",
        default_value_t = 25 * 1024 * 1024
    )]
    pub max_upload: u64,

    /// Longest time one upload may take, body included (instead of MISSIVE_HTTP_REQUEST_TIMEOUT).
    #[arg(long = "missive-upload-timeout", env = "MISSIVE_UPLOAD_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    pub upload_timeout: Duration,

    /// How long an upload may wait for a message, profile or room to take it before it is
    /// removed.
    #[arg(long = "missive-upload-ttl", env = "MISSIVE_UPLOAD_TTL", default_value = "1d", value_parser = humantime::parse_duration)]
    pub upload_ttl: Duration,

    /// Bytes of distinct files each user may have uploaded; 0 = unlimited.
    #[arg(
        long = "missive-media-quota",
        env = "MISSIVE_MEDIA_QUOTA",
        default_value_t = 1024 * 1024 * 1024
    )]
    pub media_quota: u64,

    /// Folder of the media store on local disk (and of uploads being received, whatever the
    /// store). Unset: `<db>.media` beside the SQLite file, else `media`.
    #[arg(long = "missive-media-dir", env = "MISSIVE_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,

    /// `s3://bucket` (or `s3://bucket/prefix`) to keep media in S3-compatible object storage
    /// instead of on local disk.
    #[arg(long = "missive-media-url", env = "MISSIVE_MEDIA_URL")]
    pub media_url: Option<String>,

    /// The S3 endpoint, for S3-compatible services other than AWS (`http://` is allowed).
    #[arg(long = "missive-s3-endpoint", env = "MISSIVE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The S3 region.
    #[arg(
        long = "missive-s3-region",
        env = "MISSIVE_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,

    /// The S3 access key id (else the usual `AWS_*` variables and instance credentials).
    #[arg(long = "missive-s3-access-key-id", env = "MISSIVE_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// The S3 secret access key.
    #[arg(
        long = "missive-s3-secret-access-key",
        env = "MISSIVE_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
}

/// Which cluster bus carries what crosses nodes (`MISSIVE_BUS`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusKind {
    /// LISTEN/NOTIFY on the Postgres database.
    Postgres,
    /// Redis pub/sub (`MISSIVE_REDIS_URL`).
    Redis,
}

impl Config {
    /// The bus this node runs: `None` on SQLite (a single node, nothing crosses processes).
    /// Refuses a bus that cannot work with the database: on SQLite nodes cannot share a
    /// database, so a bus would join nodes that do not share their streams.
    pub fn bus_kind(&self) -> anyhow::Result<Option<BusKind>> {
        match (self.is_postgres(), self.bus) {
            (true, None) => Ok(Some(BusKind::Postgres)),
            (true, Some(kind)) => {
                if kind == BusKind::Redis {
                    let prefix = &self.redis_prefix;
                    if prefix.is_empty()
                        || prefix.len() > 64
                        || !prefix.chars().all(|c| c.is_ascii_graphic())
                    {
                        bail!("MISSIVE_REDIS_PREFIX must be 1 to 64 visible ASCII characters");
                    }
                }
                Ok(Some(kind))
            }
            (false, None) => Ok(None),
            (false, Some(kind)) => bail!(
                "MISSIVE_BUS={} needs a Postgres DATABASE_URL: on SQLite Missive runs one node and \
                 its bus is in-process (unset MISSIVE_BUS)",
                match kind {
                    BusKind::Postgres => "postgres",
                    BusKind::Redis => "redis",
                }
            ),
        }
    }

    /// The documented defaults, whatever the environment holds (for tests and tools): the
    /// command is parsed with every argument's `env` removed, so no `MISSIVE_*` or
    /// `DATABASE_URL` variable applies. `Config::parse` still reads them.
    pub fn defaults() -> Self {
        let matches = Self::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["missive"])
            .expect("the defaults parse");
        Self::from_arg_matches(&matches).expect("the defaults make a Config")
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres:") || self.database_url.starts_with("postgresql:")
    }

    /// The SQLite database file, if the URL names one (not `:memory:`).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let rest = rest.trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            return None;
        }
        Some(PathBuf::from(path))
    }

    /// The local media folder: `MISSIVE_MEDIA_DIR`, else `<db>.media` beside the SQLite file,
    /// else `media`.
    pub fn media_dir(&self) -> PathBuf {
        if let Some(dir) = &self.media_dir {
            return dir.clone();
        }
        match self.sqlite_path() {
            Some(db) => {
                let mut name = db.file_name().unwrap_or_default().to_os_string();
                name.push(".media");
                db.with_file_name(name)
            }
            None => PathBuf::from("media"),
        }
    }

    /// The HS256 key. Refuses a short key, and Postgres without an explicit key (every node of
    /// a cluster must share it, so a generated one would be wrong).
    pub fn jwt_secret_bytes(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                bail!(
                    "MISSIVE_JWT_SECRET must be at least 32 bytes (got {})",
                    secret.len()
                );
            }
            return Ok(secret.as_bytes().to_vec());
        }
        if self.is_postgres() {
            bail!(
                "MISSIVE_JWT_SECRET is required with Postgres: every node must share the same key"
            );
        }
        match self.sqlite_path() {
            Some(db) => load_or_create_secret(&secret_path_for(&db)),
            None => Ok(random_secret()),
        }
    }
}

fn secret_path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".jwt-secret");
    db.with_file_name(name)
}

fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut key = vec![0u8; 64];
    rand::rng().fill_bytes(&mut key);
    key
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = b64
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()))?;
        if key.len() < 32 {
            bail!("{} holds a key shorter than 32 bytes", path.display());
        }
        return Ok(key);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = random_secret();
    write_private(path, b64.encode(&key).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(key)
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_protocol() {
        let c = Config::defaults();
        assert_eq!(c.addr, "127.0.0.1:4000");
        assert_eq!(c.database_url, "sqlite://missive.db");
        assert_eq!(c.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(c.refresh_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(c.max_message_chars, 4096);
        assert_eq!(c.send_rate, 20);
        assert_eq!(c.edit_window, Duration::from_secs(15 * 60));
        assert_eq!(c.delete_window, Duration::from_secs(48 * 3600));
        assert_eq!(c.push_delay, Duration::from_secs(3));
        assert_eq!(c.push_content, "full");
        assert!(!c.push_allow_private);
        assert_eq!(c.push_ttl, Duration::from_secs(86400));
        assert_eq!(c.push_timeout, Duration::from_secs(10));
        assert_eq!(c.sqlite_path(), Some(PathBuf::from("missive.db")));
        assert_eq!(c.max_upload, 25 * 1024 * 1024);
        assert_eq!(c.media_dir(), PathBuf::from("missive.db.media"));
        assert!(c.media_url.is_none());
        assert_eq!(c.bus, None);
        assert_eq!(c.node_heartbeat, Duration::from_secs(2));
        assert_eq!(c.node_lease, Duration::from_secs(10));
    }

    #[test]
    fn the_bus_follows_the_database_and_redis_needs_postgres() {
        let mut c = Config::defaults();
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(c.redis_prefix, "missive");
        assert_eq!(c.bus_kind().unwrap(), None, "SQLite: in-process");
        c.bus = Some(BusKind::Redis);
        let refused = c.bus_kind().unwrap_err().to_string();
        assert!(refused.contains("MISSIVE_BUS=redis"), "{refused}");
        c.bus = Some(BusKind::Postgres);
        assert!(c.bus_kind().is_err());
        c.database_url = "postgres://localhost/x".into();
        c.bus = None;
        assert_eq!(c.bus_kind().unwrap(), Some(BusKind::Postgres));
        c.bus = Some(BusKind::Redis);
        assert_eq!(c.bus_kind().unwrap(), Some(BusKind::Redis));
        c.redis_prefix = "two words".into();
        assert!(c.bus_kind().is_err());
    }

    /// The environment is process-wide (and mutating it is `unsafe`), so this test runs itself
    /// again as a child process whose environment sets a few variables, and checks there that
    /// `Config::parse` sees them while `Config::defaults` does not.
    #[test]
    fn defaults_ignore_the_environment() {
        const CHILD: &str = "MISSIVE_CONFIG_TEST_CHILD";
        const NAME: &str = "config::tests::defaults_ignore_the_environment";
        let vars = [
            ("MISSIVE_SEND_RATE", "3"),
            ("DATABASE_URL", "postgres://elsewhere/db"),
            ("MISSIVE_ADDR", "0.0.0.0:9"),
            ("MISSIVE_ADMINS", "root"),
            ("MISSIVE_GROUP_COMMIT", "false"),
        ];
        if std::env::var_os(CHILD).is_some() {
            let parsed = Config::parse_from(["missive"]);
            assert_eq!(parsed.send_rate, 3, "the environment reaches Config::parse");
            assert_eq!(parsed.database_url, "postgres://elsewhere/db");
            assert_eq!(parsed.addr, "0.0.0.0:9");
            assert_eq!(parsed.admins, ["root"]);
            assert!(!parsed.group_commit);

            let d = Config::defaults();
            assert_eq!(d.send_rate, 20);
            assert_eq!(d.database_url, "sqlite://missive.db");
            assert_eq!(d.addr, "127.0.0.1:4000");
            assert!(!d.admins.iter().any(|a| a == "root"));
            assert!(d.group_commit);
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .envs(vars)
            .output()
            .expect("running the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the child run failed:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("test result: ok. 1 passed"),
            "the child run did not run the test:\n{stdout}\n{stderr}"
        );
    }

    #[test]
    fn short_secrets_and_keyless_postgres_are_refused() {
        let mut c = Config::defaults();
        c.jwt_secret = Some("short".into());
        assert!(c.jwt_secret_bytes().is_err());
        c.jwt_secret = None;
        c.database_url = "postgres://localhost/x".into();
        assert!(c.jwt_secret_bytes().is_err());
    }

    #[test]
    fn a_generated_secret_is_kept_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::defaults();
        c.database_url = format!("sqlite://{}", dir.path().join("m.db").display());
        let first = c.jwt_secret_bytes().unwrap();
        assert_eq!(first, c.jwt_secret_bytes().unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join("m.db.jwt-secret")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }
}
