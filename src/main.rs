//! The `missive` binary: reads configuration, then either serves (no command, or `serve`) until
//! Ctrl-C/SIGTERM, or runs one operator command (`user`, `backup`, `migrate`, `check`; see
//! `missive::admin`) and exits.

use anyhow::Context;

/// The global allocator: the system's unless built with `--features jemalloc` or `mimalloc`.
/// Measured under the same benchmark (docs/benchmarks.md, "Allocator"): jemalloc gave 16 % more
/// durable msgs/s than glibc's malloc, but its debug build held 100.8 MiB after the security
/// suite's 300 cancelled logins under CI load (limit 100), so it is not yet the default.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use clap::Parser;
use missive::admin::Command;
use missive::config::Config;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "missive",
    version,
    about = "A persistent private-messaging server"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    init_logs(&cli.config, serving);
    let result = match cli.command {
        None | Some(Command::Serve) => serve(cli.config).await,
        Some(command) => missive::admin::run(cli.config, command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("missive: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` filters (default `info,sqlx=warn` when serving, `warn` for a command, whose
/// output is its own); `MISSIVE_LOG_FORMAT=json` writes one JSON object a line, with the
/// fields of the enclosing spans (request id, user id) in each.
fn init_logs(config: &Config, serving: bool) {
    let default = if serving { "info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        logs.json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        logs.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    // Printed (not logged) so scripts and tests can read the port when MISSIVE_ADDR ends in :0.
    println!("missive listening on http://{}", listener.local_addr()?);
    missive::run(config, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
