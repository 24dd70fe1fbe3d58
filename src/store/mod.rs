//! All SQL lives here. One `Store` serves SQLite and Postgres through sqlx's `Any` driver with the
//! same statements (`$N` placeholders, `returning`, integer milliseconds for times), so both
//! databases behave identically and one test suite runs against both. The writer's batch is the
//! exception where it pays: on SQLite it binds `values` lists (`?` placeholders), on Postgres one
//! JSON array.
//!
//! Layout: `users` (accounts, refresh tokens, presence), `rooms` (rooms and memberships),
//! `direct_rooms` (the in-memory map of pairs of users to their direct room), `messages` (the
//! per-room streams and cursors), `writer` (the group-commit write path), `values` (many rows
//! bound to one SQLite statement as `values` lists), `privacy` (blocks, privacy settings, invite
//! links, the channel directory, reports, bans and the audit log), `operator` (the operator's
//! console: node heartbeats, account and room look-ups). SQLite's WAL is checkpointed beside the
//! writer (`checkpointer`).
//!
//! Every write that appends stream entries goes through a [`WriteTx`], whose `commit` is the one
//! door from the database to live delivery: it announces the new entries to the other nodes
//! inside the transaction (Postgres `NOTIFY`, delivered only if the COMMIT succeeds) and, after
//! COMMIT, hands them to this node's publisher in commit order.

/// The columns of `rooms::MembershipRow` (memberships `m` joined with rooms `r`); a macro so
/// that `concat!` keeps each query a literal.
macro_rules! membership_columns {
    () => {
        "select m.room_id, m.user_id, r.kind, m.role, m.delivered_seq, m.read_seq, r.last_seq, m.joined_seq,
                r.closed_at
         "
    };
}

/// The columns of `messages::MessageRow` (messages `m`); a macro so that `concat!` keeps each
/// query a literal.
macro_rules! message_columns {
    () => {
        "select m.id, m.room_id, m.seq, m.sender_id, m.kind, m.body, m.client_id, m.reply_to,
                m.created_at, m.target_seq, m.changed_seq, m.edited_at, m.deleted_at, m.deleted_by,
                m.forwarded, m.attachments
         "
    };
}

pub mod attachments;
pub mod cluster;
pub mod direct_rooms;
pub mod messages;
pub mod operator;
pub mod ops;
pub mod privacy;
pub mod pushers;
pub mod rooms;
pub mod users;
mod values;
pub mod writer;

#[cfg(test)]
mod append_batch_tests;
pub mod lifecycle;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc};

use crate::config::Config;
use crate::domain::{Message, RoomId, Seq, UserId};

/// The Postgres channel on which committed stream entries are announced to every node, as
/// `room:from:to` ranges separated by commas.
pub const STREAM_CHANNEL: &str = "missive_stream";

/// Largest announcement payload sent (a Postgres `NOTIFY` takes less than 8,000 bytes).
const MAX_NOTIFY: usize = 7_000;

/// Newly committed stream entries of this node, each batch in commit order, for the publisher.
pub type Committed = mpsc::UnboundedReceiver<Vec<Message>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by every request and socket.
#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    /// Where write transactions run: on SQLite one connection of its own, on Postgres `pool`.
    write_pool: AnyPool,
    pub backend: Backend,
    /// SQLite has one writer at a time; taking this lock before `BEGIN` makes writers queue in
    /// the process instead of failing with `SQLITE_BUSY`. `None` on Postgres.
    write_lock: Option<Arc<Mutex<()>>>,
    /// The group-commit write path for messages.
    writer: writer::WriterHandle,
    /// Where committed entries go: the publisher.
    committed: mpsc::UnboundedSender<Vec<Message>>,
    /// Whether commits announce their entries with a `NOTIFY` inside the transaction (the
    /// Postgres bus); on the Redis bus the publisher announces them after COMMIT.
    notify_in_tx: bool,
    /// Pairs of users → their direct room, filled by `direct_room`.
    direct_rooms: Arc<direct_rooms::DirectRooms>,
}

/// A write transaction, holding SQLite's writer lock for its life, and the stream entries it
/// appended.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    notify_in_tx: bool,
    appended: Vec<Message>,
    committed: mpsc::UnboundedSender<Vec<Message>>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Appends one entry to its room's stream (see `messages::append`).
    pub async fn append(&mut self, entry: &messages::NewMessage) -> Result<Message, sqlx::Error> {
        let stored = messages::append(&mut self.tx, entry).await?;
        self.appended.push(stored.clone());
        Ok(stored)
    }

    /// Records entries this transaction stored by other means (the writer's batch insert).
    pub(crate) fn record(&mut self, entries: impl IntoIterator<Item = Message>) {
        self.appended.extend(entries);
    }

    /// Commits. Appended entries are announced to other nodes atomically with the COMMIT and
    /// handed to this node's publisher right after it (still under SQLite's writer lock, so in
    /// commit order).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if self.notify_in_tx {
            for payload in notify_payloads(&self.appended) {
                metrics::counter!("missive_bus_bytes_sent_total").increment(payload.len() as u64);
                sqlx::query("select pg_notify($1, $2)")
                    .bind(STREAM_CHANNEL)
                    .bind(payload)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        self.tx.commit().await?;
        metrics::counter!("missive_messages_stored_total").increment(self.appended.len() as u64);
        if !self.appended.is_empty() {
            // The publisher only stops when the server does.
            let _ = self.committed.send(std::mem::take(&mut self.appended));
        }
        Ok(())
    }
}

/// `room:from:to` for each room's run of `entries`, comma-separated, split into payloads that
/// `NOTIFY` accepts.
pub fn notify_payloads(entries: &[Message]) -> Vec<String> {
    let mut ranges: Vec<(RoomId, Seq, Seq)> = Vec::new();
    for e in entries {
        match ranges.iter_mut().find(|(room, _, _)| *room == e.room_id) {
            Some((_, from, to)) => {
                *from = (*from).min(e.seq);
                *to = (*to).max(e.seq);
            }
            None => ranges.push((e.room_id, e.seq, e.seq)),
        }
    }
    let mut payloads = Vec::new();
    let mut current = String::new();
    for (room, from, to) in ranges {
        let range = format!("{room}:{from}:{to}");
        if !current.is_empty() && current.len() + 1 + range.len() > MAX_NOTIFY {
            payloads.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&range);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// Reads a `notify_payloads` payload back; malformed ranges are skipped.
pub fn parse_notify_payload(payload: &str) -> Vec<(RoomId, Seq, Seq)> {
    payload
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(':').map(|p| p.parse::<i64>().ok());
            match (parts.next()??, parts.next()??, parts.next()??) {
                (room, from, to) if from <= to => Some((RoomId(room), Seq(from), Seq(to))),
                _ => None,
            }
        })
        .collect()
}

/// How often SQLite's WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies SQLite's WAL back into the database file every `CHECKPOINT_EVERY`, on a connection of
/// its own, until the pool closes. A passive checkpoint never blocks the writer, so the copy and
/// its fsyncs no longer stall the commit that happened to fill the WAL (SQLite's automatic
/// checkpoint, turned off on every connection). A WAL the checkpoint could not finish (a reader
/// was still on it) is finished by a later one.
async fn checkpointer(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)")
            .execute(&pool)
            .await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "checkpointing the WAL failed");
        }
    }
}

/// The migrations embedded in this binary for `backend`.
pub fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    }
}

impl Store {
    /// Connects (creating the database if missing), applies migrations and starts the writer.
    /// Also returns the stream of committed messages, for the fan-out task.
    /// Flushes and closes the pool at shutdown: on SQLite the WAL is checkpointed into the
    /// database file, so a copy of that one file (or the next start) needs no recovery.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            self.write_pool.close().await;
        }
        if self.backend == Backend::Sqlite
            && let Err(e) = sqlx::query("pragma wal_checkpoint(truncate)")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "checkpointing the WAL failed");
        }
        self.pool.close().await;
    }

    pub async fn connect(config: &Config) -> anyhow::Result<(Self, Committed)> {
        sqlx::any::install_default_drivers();
        let url = config.database_url.as_str();
        let backend = if config.is_postgres() {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://");
        };
        if !Any::database_exists(url).await.unwrap_or(false)
            && let Err(e) = Any::create_database(url).await
        {
            // Another node starting at the same moment may have created it first.
            if !Any::database_exists(url).await.unwrap_or(false) {
                return Err(e).context("creating the database");
            }
        }
        let synchronous = match config.sqlite_synchronous.as_str() {
            "off" => "pragma synchronous = off",
            "normal" => "pragma synchronous = normal",
            "extra" => "pragma synchronous = extra",
            _ => "pragma synchronous = full",
        };
        let options: AnyConnectOptions = url.parse().context("parsing DATABASE_URL")?;
        let pool_options = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(10))
                // A SQLite connection lives in this process: a ping before each use would only
                // cost a round trip to its thread.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            for pragma in [
                                "pragma journal_mode = wal",
                                synchronous,
                                "pragma foreign_keys = on",
                                "pragma busy_timeout = 10000",
                                // Checkpoints run beside the writer (`checkpointer`), not
                                // inside whichever commit crosses the WAL's size limit.
                                "pragma wal_autocheckpoint = 0",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_options(config.db_pool.max(2))
            .connect_with(options.clone())
            .await
            .context("connecting to the database")?;
        let mut attempts = 0;
        while let Err(e) = migrator(backend).run(&pool).await {
            // sqlx takes no migration lock on SQLite: of two processes migrating one new file
            // at once (a server starting while the operator creates the first account), the
            // later fails on tables the earlier just made (each migration is one transaction,
            // so nothing is half-applied). Once the earlier is done, nothing is left to apply.
            attempts += 1;
            if backend == Backend::Postgres || attempts == 5 {
                return Err(e).context("applying migrations");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        // SQLite writes one transaction at a time (`write_lock`), always on the same connection:
        // its page cache then stays valid from one commit to the next, where a connection
        // taken from the shared pool would first re-read what another one wrote.
        let write_pool = match backend {
            Backend::Sqlite => pool_options(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .context("connecting the writer to the database")?,
            Backend::Postgres => pool.clone(),
        };
        let (committed_tx, committed) = mpsc::unbounded_channel();
        let mut store = Self {
            pool,
            write_pool,
            backend,
            write_lock,
            writer: writer::WriterHandle::detached(),
            committed: committed_tx,
            notify_in_tx: backend == Backend::Postgres
                && config.bus_kind()? == Some(crate::config::BusKind::Postgres),
            direct_rooms: Arc::default(),
        };
        store.writer = writer::spawn(store.clone(), config.group_commit);
        if backend == Backend::Sqlite {
            tokio::spawn(checkpointer(store.pool.clone()));
        }
        Ok((store, committed))
    }

    /// Begins a write transaction (queued behind the SQLite writer lock).
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        // On SQLite the write lock is taken at BEGIN: a deferred transaction that reads first
        // and then writes fails with SQLITE_BUSY_SNAPSHOT (517) when a write outside this
        // lock (the push queue, single statements) committed in between, and busy_timeout
        // cannot help it; IMMEDIATE waits for that write instead.
        let tx = match self.backend {
            Backend::Sqlite => self.write_pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write_pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            notify_in_tx: self.notify_in_tx,
            appended: Vec::new(),
            committed: self.committed.clone(),
            _guard: guard,
        })
    }

    /// `readyz`: is the database answering?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub fn writer(&self) -> &writer::WriterHandle {
        &self.writer
    }

    /// The direct room of `a` and `b` if this node has seen it, without asking the database
    /// (see `direct_rooms` for why it never goes stale).
    pub fn known_direct_room(&self, a: UserId, b: UserId) -> Option<RoomId> {
        self.direct_rooms.get(a, b)
    }
}

/// True when the error is a unique-constraint violation (either database).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, MessageKind};

    fn entry(room: i64, seq: i64) -> Message {
        Message {
            id: MessageId(1),
            room_id: RoomId(room),
            seq: Seq(seq),
            sender_id: UserId(1),
            kind: MessageKind::Text,
            body: String::new(),
            created_at: 0,
            ..Message::default()
        }
    }

    #[test]
    fn stream_announcements_carry_one_range_per_room_and_read_back() {
        let entries = [entry(1, 5), entry(2, 9), entry(1, 6), entry(1, 7)];
        let payloads = notify_payloads(&entries);
        assert_eq!(payloads, vec!["1:5:7,2:9:9".to_owned()]);
        assert_eq!(
            parse_notify_payload(&payloads[0]),
            vec![(RoomId(1), Seq(5), Seq(7)), (RoomId(2), Seq(9), Seq(9))]
        );
        assert!(parse_notify_payload("x:1:2,3:4").is_empty());
    }

    #[test]
    fn large_announcements_are_split_under_the_notify_limit() {
        let entries: Vec<Message> = (1..=2_000).map(|room| entry(room, room)).collect();
        let payloads = notify_payloads(&entries);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= MAX_NOTIFY));
        let back: Vec<_> = payloads
            .iter()
            .flat_map(|p| parse_notify_payload(p))
            .collect();
        assert_eq!(back.len(), 2_000);
    }

    /// A write transaction reads before it writes (access, blocks); a single statement written
    /// outside the in-process lock (the push queue does this) between the two must make it
    /// wait, not fail with SQLITE_BUSY_SNAPSHOT.
    #[tokio::test]
    async fn a_write_outside_the_lock_does_not_fail_a_write_transaction_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::defaults();
        config.database_url = format!("sqlite://{}/t.db", dir.path().display());
        let (store, _committed) = Store::connect(&config).await.unwrap();
        let mut w = store.begin_write().await.unwrap();
        let before: i64 = sqlx::query_scalar("select count(*) from nodes")
            .fetch_one(&mut *w.tx)
            .await
            .unwrap();
        let outside = {
            let pool = store.pool.clone();
            tokio::spawn(async move {
                sqlx::query("insert into nodes (id, heartbeat_at, stats) values ('b', 1, '{}')")
                    .execute(&pool)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("insert into nodes (id, heartbeat_at, stats) values ('a', 1, '{}')")
            .execute(&mut *w.tx)
            .await
            .expect("the transaction's write after its read");
        w.commit().await.unwrap();
        outside
            .await
            .unwrap()
            .expect("the outside write, after the commit");
        let after: i64 = sqlx::query_scalar("select count(*) from nodes")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(after, before + 2);
    }
}
