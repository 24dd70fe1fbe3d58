//! `loadgen`: Missive's load generator. Each scenario of issues 6 and 12 is a subcommand (`dm`,
//! `fanout`, `catchup`, `idle`, `connect`, `storm`); `users` registers a reusable user pool and `report`
//! turns the JSON lines of a benchmark run into the Markdown table of `docs/benchmarks.md`.
//!
//! This module owns the command line and the runtime; `sio` is the Socket.IO client, `api` the
//! REST client and user pool, `stats` the clock, histograms and output, `scenarios` the
//! workloads and `report` the table.

mod api;
mod report;
mod scenarios;
mod sio;
mod stats;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator for the Missive messaging server"
)]
struct Cli {
    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

/// Options every scenario shares.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Base URL of a running server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:4000")]
    pub url: String,
    /// Print one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Free text copied into the JSON line (e.g. the database), for `report`.
    #[arg(long, default_value = "")]
    pub label: String,
    /// A short key of the server's setup copied into the JSON line (`sqlite-full`,
    /// `sqlite-normal`, `postgres`, `peer-full`, …): `report` finds the headline figures by it.
    #[arg(long, default_value = "")]
    pub setup: String,
    /// A user pool written by `loadgen users`; without it the run registers its own users.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Concurrent registrations when the run registers its own users.
    #[arg(long, default_value_t = 16)]
    pub register_concurrency: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Register a pool of users and write them (ids and access tokens) to a file.
    Users {
        #[arg(long, default_value = "http://127.0.0.1:4000")]
        url: String,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// N pairs exchanging direct messages, open loop (--rate) or closed loop (--window).
    Dm(scenarios::dm::Opts),
    /// One sender into a group of M online members.
    Fanout(scenarios::fanout::Opts),
    /// K messages queued for an offline user, then connect and time the catch-up.
    Catchup(scenarios::catchup::Opts),
    /// C idle authenticated connections; server memory per connection.
    Idle(scenarios::idle::Opts),
    /// Authenticated connections per second.
    Connect(scenarios::connect::Opts),
    /// N registrations then N logins at once; server memory after each wave.
    Storm(scenarios::storm::Opts),
    /// Render the JSON lines of a run as a Markdown table.
    Report {
        /// File of JSON lines written by the scenarios' `--json`.
        results: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let threads = cli.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    stats::epoch();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Users {
                url,
                count,
                out,
                concurrency,
            } => {
                let api = api::Api::new(&url)?;
                let users = api.register_many(count, concurrency).await?;
                api::save_users(&out, &users)
            }
            Command::Dm(o) => scenarios::dm::run(o).await,
            Command::Fanout(o) => scenarios::fanout::run(o).await,
            Command::Catchup(o) => scenarios::catchup::run(o).await,
            Command::Idle(o) => scenarios::idle::run(o).await,
            Command::Connect(o) => scenarios::connect::run(o).await,
            Command::Storm(o) => scenarios::storm::run(o).await,
            Command::Report { results } => report::run(&results),
        }
    })
}
