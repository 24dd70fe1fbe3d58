//! Operator tasks on the database that need no running server: the online backup of a SQLite
//! database (`missive backup`) and the database half of `missive check`. Neither creates nor
//! migrates the database it opens.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool};

use super::{Backend, migrator};
use crate::config::Config;

/// The database URL without its password, fit for messages.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

pub fn backend_of(config: &Config) -> anyhow::Result<Backend> {
    if config.is_postgres() {
        Ok(Backend::Postgres)
    } else if config.database_url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        bail!("DATABASE_URL must start with sqlite:// or postgres://")
    }
}

/// One connection to an existing database, neither created nor migrated.
async fn open(config: &Config) -> anyhow::Result<(Backend, AnyPool)> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(config)?;
    let url = config.database_url.as_str();
    let shown = redacted_url(url);
    let exists = Any::database_exists(url)
        .await
        .with_context(|| format!("cannot reach the database at {shown}"))?;
    if !exists {
        bail!(
            "there is no database at {shown}: `missive migrate` (or starting the server) creates it"
        );
    }
    let options: AnyConnectOptions = url.parse().context("parsing DATABASE_URL")?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // The server may be writing: wait for its lock rather than fail.
                    sqlx::query("pragma busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to the database at {shown}"))?;
    Ok((backend, pool))
}

/// The `pg_dump` command that backs up a Postgres database (printed by `missive backup`).
pub const PG_DUMP: &str = "pg_dump --format=custom --file=FILE \"$DATABASE_URL\"";

/// Writes a consistent copy of the SQLite database to `dest` while the server may be running
/// (`VACUUM INTO` reads one snapshot; writers are not blocked by it in WAL mode). Returns the
/// size of the copy in bytes.
pub async fn backup_sqlite(config: &Config, dest: &Path) -> anyhow::Result<u64> {
    if backend_of(config)? == Backend::Postgres {
        bail!(
            "`missive backup` copies SQLite databases; back Postgres up with pg_dump:\n    {PG_DUMP}"
        );
    }
    if dest.exists() {
        bail!(
            "{} already exists: a backup is never written over a file",
            dest.display()
        );
    }
    let Some(dest_text) = dest.to_str() else {
        bail!("the backup path must be valid UTF-8");
    };
    let (_, pool) = open(config).await?;
    sqlx::query("vacuum into $1")
        .bind(dest_text)
        .execute(&pool)
        .await
        .with_context(|| format!("writing the backup to {}", dest.display()))?;
    pool.close().await;
    Ok(std::fs::metadata(dest)?.len())
}

/// What `missive check` found in the database.
pub struct Status {
    pub backend: Backend,
    /// Migrations of this binary the database has.
    pub applied: usize,
    /// Migrations of this binary the database lacks (the server applies them at start).
    pub pending: Vec<String>,
}

/// Reaches the database and compares its migrations with this binary's. A database migrated
/// by a newer release is an error: migrations are forward-only, so this binary cannot serve it.
pub async fn check(config: &Config) -> anyhow::Result<Status> {
    let (backend, pool) = open(config).await?;
    sqlx::query("select 1")
        .execute(&pool)
        .await
        .context("the database does not answer queries")?;
    let table_exists: bool = match backend {
        Backend::Sqlite => sqlx::query_scalar::<_, i64>(
            "select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'",
        ),
        Backend::Postgres => sqlx::query_scalar::<_, i64>(
            "select count(*) from information_schema.tables where table_name = '_sqlx_migrations'",
        ),
    }
    .fetch_one(&pool)
    .await?
        > 0;
    let done: Vec<i64> = if table_exists {
        sqlx::query_scalar("select version from _sqlx_migrations where success = $1")
            .bind(true)
            .fetch_all(&pool)
            .await?
    } else {
        Vec::new()
    };
    pool.close().await;
    let migrator = migrator(backend);
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    if let Some(newer) = done.iter().find(|v| !known.contains(v)) {
        bail!(
            "the database has migration {newer}, which this binary does not know: it was upgraded by a newer Missive, and migrations only go forward"
        );
    }
    let pending = migrator
        .iter()
        .filter(|m| !done.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    Ok(Status {
        backend,
        applied: done.len(),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn a_database_password_never_reaches_a_message() {
        assert_eq!(
            redacted_url("postgres://app:s3cret@db:5432/missive"),
            "postgres://app@db:5432/missive"
        );
        assert_eq!(redacted_url("sqlite://missive.db"), "sqlite://missive.db");
    }
}
