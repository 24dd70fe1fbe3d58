//! All SQL lives here. One `Store` serves SQLite and Postgres through sqlx's `Any` driver with the
//! same statements (`$N` placeholders, `returning`, integer milliseconds for times), so both
//! databases behave identically and one test suite runs against both.
//!
//! Layout: `users` (accounts, refresh tokens, presence), `rooms` (rooms and memberships),
//! `messages` (the per-room streams and cursors), `writer` (the group-commit write path).

pub mod messages;
pub mod rooms;
pub mod users;
pub mod writer;

#[cfg(test)]
mod append_batch_tests;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database handle shared by every request and socket.
#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite has one writer at a time; taking this lock before `BEGIN` makes writers queue in
    /// the process instead of failing with `SQLITE_BUSY`. `None` on Postgres.
    write_lock: Option<Arc<Mutex<()>>>,
    /// The group-commit write path for messages.
    writer: writer::WriterHandle,
}

/// A write transaction, holding SQLite's writer lock for its life.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Store {
    /// Connects (creating the database if missing), applies migrations and starts the writer.
    /// Also returns the stream of committed messages, for the fan-out task.
    pub async fn connect(config: &Config) -> anyhow::Result<(Self, writer::Committed)> {
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
            "full" => "pragma synchronous = full",
            "extra" => "pragma synchronous = extra",
            _ => "pragma synchronous = normal",
        };
        let options: AnyConnectOptions = url.parse().context("parsing DATABASE_URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.db_pool.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "pragma journal_mode = wal",
                            synchronous,
                            "pragma foreign_keys = on",
                            "pragma busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to the database")?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&pool).await.context("applying migrations")?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let mut store = Self {
            pool,
            backend,
            write_lock,
            writer: writer::WriterHandle::detached(),
        };
        let (handle, committed) = writer::spawn(store.clone(), config.group_commit);
        store.writer = handle;
        Ok((store, committed))
    }

    /// Begins a write transaction (queued behind the SQLite writer lock).
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _guard: guard })
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
