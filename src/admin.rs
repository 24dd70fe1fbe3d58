//! The operator's commands of the `missive` binary besides serving: accounts (`user create |
//! reset-password | ban | unban | list`), `backup`, `migrate` and `check`. Each runs against the
//! configured database and exits; none needs the server stopped.
//!
//! Passwords are read from standard input (one line), never from arguments, which other users
//! of the machine can read in the process list.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::auth::password::Hasher;
use crate::config::Config;
use crate::domain::{Username, check_password, parse_display_name};
use crate::store::ops::{self, redacted_url};
use crate::store::{Backend, Store};

/// What `missive` does; without a command it serves.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Write a consistent copy of the SQLite database to FILE, while the server runs.
    Backup {
        /// The new file (it must not exist).
        file: PathBuf,
    },
    /// Create the database if needed, apply the migrations, and exit.
    Migrate,
    /// Validate the configuration and reach the database; exits non-zero saying what is wrong.
    Check,
}

#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        username: String,
        /// Shown name (default: the username).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a new password (read from standard input) and log the account out everywhere.
    ResetPassword { username: String },
    /// Refuse the account's logins and refreshes and revoke its tokens.
    Ban { username: String },
    /// Lift a ban.
    Unban { username: String },
    /// List every account.
    List,
}

/// Runs one operator command; the returned error is the message the operator reads.
pub async fn run(config: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => unreachable!("main serves"),
        Command::User(cmd) => user(&config, cmd).await,
        Command::Backup { file } => backup(&config, &file).await,
        Command::Migrate => migrate(&config).await,
        Command::Check => check(&config).await,
    }
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::connect(config).await?.0)
}

/// One line of standard input, prompting when it is a terminal.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    check_password(&password)?;
    Ok(password)
}

async fn user(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            username,
            display_name,
        } => {
            let name = Username::parse(&username)?;
            let display = match &display_name {
                Some(d) => parse_display_name(d)?,
                None => name.as_str().to_owned(),
            };
            let password = read_password("password")?;
            let store = connect(config).await?;
            let hash = Hasher::new(1)?.hash(password).await?;
            let user = store.create_user(name.as_str(), &display, &hash).await?;
            store.close().await;
            println!("created user {} (id {})", user.username, user.id.0);
        }
        UserCommand::ResetPassword { username } => {
            let name = Username::parse(&username)?;
            let password = read_password("new password")?;
            let store = connect(config).await?;
            let hash = Hasher::new(1)?.hash(password).await?;
            let found = store.reset_password(name.as_str(), &hash).await?;
            store.close().await;
            if found.is_none() {
                bail!("there is no user {}", name.as_str());
            }
            println!(
                "password of {} reset; every session of theirs is logged out",
                name.as_str()
            );
        }
        UserCommand::Ban { username } => set_banned(config, &username, true).await?,
        UserCommand::Unban { username } => set_banned(config, &username, false).await?,
        UserCommand::List => {
            let store = connect(config).await?;
            let accounts = store.accounts().await?;
            store.close().await;
            println!(
                "{:>8}  {:<32}  {:<10}  display name",
                "id", "username", "status"
            );
            for a in accounts {
                let status = if a.banned_at.is_some() {
                    "banned"
                } else {
                    "active"
                };
                println!(
                    "{:>8}  {:<32}  {:<10}  {}",
                    a.user.id.0, a.user.username, status, a.user.display_name
                );
            }
        }
    }
    Ok(())
}

async fn set_banned(config: &Config, username: &str, banned: bool) -> anyhow::Result<()> {
    let name = Username::parse(username)?;
    let store = connect(config).await?;
    let found = store.set_banned(name.as_str(), banned).await?;
    store.close().await;
    if found.is_none() {
        bail!("there is no user {}", name.as_str());
    }
    if banned {
        println!(
            "banned {}: logins and refreshes are refused and their tokens revoked; open sockets close when their access token expires (MISSIVE_ACCESS_TTL)",
            name.as_str()
        );
    } else {
        println!("unbanned {}: they can log in again", name.as_str());
    }
    Ok(())
}

async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    let bytes = ops::backup_sqlite(config, file).await?;
    println!("backed up to {} ({bytes} bytes)", file.display());
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let before = match ops::check(config).await {
        Ok(status) => status.applied,
        Err(_) => 0,
    };
    let store = connect(config).await?;
    store.close().await;
    let after = ops::check(config).await?;
    println!(
        "database {} is at migration {} ({} applied now)",
        redacted_url(&config.database_url),
        after.applied,
        after.applied.saturating_sub(before)
    );
    Ok(())
}

async fn check(config: &Config) -> anyhow::Result<()> {
    // Without a configured key, SQLite's is generated at the first start: nothing to check yet
    // (and `check` writes nothing).
    if config.jwt_secret.is_some() || config.is_postgres() {
        config.jwt_secret_bytes()?;
    }
    let mut warnings = Vec::new();
    if !config.static_dir.is_dir() {
        warnings.push(format!(
            "MISSIVE_STATIC_DIR: {} is not a directory, so the web client is not served (the API is)",
            config.static_dir.display()
        ));
    }
    let addr = config.addr.as_str();
    if tokio::net::lookup_host(addr).await.is_err() {
        bail!("MISSIVE_ADDR: {addr} is not a host:port to listen on");
    }
    let status = ops::check(config).await?;
    let backend = match status.backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "Postgres",
    };
    println!(
        "ok: configuration valid; {backend} database {} reachable, {} migrations applied",
        redacted_url(&config.database_url),
        status.applied
    );
    for w in &warnings {
        println!("warning: {w}");
    }
    for m in &status.pending {
        println!("pending migration (applied at the next start or by `missive migrate`): {m}");
    }
    Ok(())
}
