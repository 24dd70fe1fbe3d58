//! # Missive
//!
//! A persistent private-messaging server: REST and standard Socket.IO on one listener, every
//! message stored before anyone hears of it, offline devices caught up from the database.
//!
//! ## Layout (a guided tour, in the order a message travels)
//! - [`config`]: every setting, from flags, environment and `.env`.
//! - [`http`]: the REST API, health, metrics, the web client; each resource has a `router()`.
//! - [`realtime`]: Socket.IO — authentication, one list of every event, catch-up.
//! - [`chat`]: the operations both transports share (send, history, rooms, membership,
//!   presence); it knows no transport and reaches sockets through its `Delivery` seam.
//! - [`cluster`]: what the nodes share besides the database — node leases, cluster-wide
//!   presence and the failed-login throttle (in process, Postgres tables or Redis) — and the
//!   send and typing rates that hold for the cluster.
//! - [`store`]: all SQL, for SQLite and Postgres alike, the group-commit writer, and the commit
//!   that hands new stream entries to delivery.
//! - [`delivery`]: the one publisher of stream entries (in `seq` order, closing any socket that
//!   falls behind) and the Socket.IO hub behind `chat::Delivery`.
//! - [`cluster`]: the bus between nodes (Postgres LISTEN/NOTIFY or Redis pub/sub), carrying
//!   stream announcements and typed operations on sockets.
//! - [`notify`]: notifications for people with no device connected — the notifier reading the
//!   streams past its own cursor, Web Push (VAPID, RFC 8291) and push gateways.
//! - [`media`]: attachment bytes — streamed in under a limit, sniffed, images re-encoded
//!   without metadata, stored by SHA-256 on local disk or S3, signed download links.
//! - [`auth`]: passwords, JWTs, the login throttle, access-token checks.
//! - [`domain`]: typed ids and seqs, validated inputs, the rules of who may do what, the wire
//!   objects and every server→client event of `docs/protocol.md`.
//! - [`error`]: the one error type, mapped to HTTP responses and socket acks.
//! - [`app`]: the shared state, the rate limiters, and the drain of sends at shutdown.
//! - [`admin`]: the operator's subcommands of the binary (accounts, backup, migrate, check).
//!
//! Dependencies point one way: `http` and `realtime` use `chat`, which uses `store`, `auth` and
//! `domain`; neither `chat` nor anything below it names axum, socketioxide, `http` or
//! `realtime`. [`run`] (the composition root) wires `delivery` in.
//!
//! [`run`] starts the whole server on a bound listener until `shutdown` resolves, which is how
//! `main`, the tests and the load generator all start it.

#![forbid(unsafe_code)]

/// The operator's commands: accounts, backup, migrate, check.
pub mod admin;
/// The state shared by every handler.
pub mod app;
/// Passwords, tokens and the login throttle.
pub mod auth;
/// The chat operations shared by REST and Socket.IO.
pub mod chat;
/// What crosses nodes: the cluster bus (Postgres LISTEN/NOTIFY or Redis pub/sub) and the shared
/// state (node leases, presence, failed logins, rates).
pub mod cluster;
/// Configuration.
pub mod config;
/// Live delivery: the publisher, the Socket.IO hub.
pub mod delivery;
/// Ids, validated inputs, wire objects.
pub mod domain;
/// The application error and its mappings.
pub mod error;
/// The REST API and static files.
pub mod http;
/// Attachment bytes: receiving, images, the object store, signed links.
pub mod media;
/// Notifications for devices that are not connected: Web Push and push gateways.
pub mod notify;
/// Socket.IO.
pub mod realtime;
/// The database.
pub mod store;

use std::future::{Future, IntoFuture};

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;
use socketioxide::handler::ConnectHandler;
use tokio::net::TcpListener;

use crate::app::App;
use crate::auth::tokens::Tokens;
use crate::config::Config;
use crate::delivery::conn::{ConnInfo, Connections, KillableListener};
use crate::delivery::hub::Hub;
use crate::store::Store;

pub use config::Config as MissiveConfig;

/// Runs Missive on `listener` until `shutdown` resolves, then closes every socket and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A bus that cannot work with this database is refused before anything is created.
    config.bus_kind()?;
    let secret = config.jwt_secret_bytes()?;
    let tokens = Tokens::new(&secret, config.access_ttl, config.refresh_ttl);
    let (store, committed) = Store::connect(&config).await?;
    let metrics = metrics_handle();
    let media = Arc::new(media::Media::from_config(&config, &secret)?);
    media.check().await?;
    tracing::info!(store = %media.location, "media store ready");
    media::spawn_sweeper(media.clone(), store.clone(), config.upload_ttl);
    let node_id = chat::operator::Latest::new_node_id();
    let shared = cluster::state::Shared::connect(&config, &store, node_id).await?;
    let app = App::new(
        config.clone(),
        store.clone(),
        tokens,
        metrics,
        media,
        shared,
    )?;

    let guard = (
        axum::middleware::from_fn(delivery::conn::guard),
        axum::middleware::from_fn_with_state(app.clone(), realtime::admission::admit),
    );
    // Every node runs Socket.IO's local adapter; what must reach other nodes' sockets goes on
    // the cluster bus (none on SQLite).
    let (layer, io) = realtime::builder(&app).build_layer();
    io.ns("/", realtime::on_connect.with(realtime::session::handshake));
    io.ns("/admin", realtime::admin_connect.with(realtime::admin_auth));
    let addr = listener.local_addr()?.to_string();
    let (bus, incoming) = cluster::Bus::start(
        &config,
        &store,
        app.operator_stats.node_id.clone(),
        &addr,
        app.bus_up.clone(),
    )
    .await?;
    let hub = Hub::new(io.clone(), bus.clone(), store.clone());
    app.set_delivery(Arc::new(hub.clone()));
    let announced = incoming.map(|incoming| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        hub.spawn_relay(incoming, tx);
        rx
    });
    delivery::publisher::spawn(app.clone(), io.clone(), committed, announced, bus);
    realtime::session::spawn_sweeper(io.clone());
    realtime::spawn_admin_stats(app.clone(), io, addr);
    let router = http::router(app.clone(), (guard, layer));
    spawn_limiter_cleanup(app.clone());
    chat::presence::spawn_upkeep(app.clone());
    let push = notify::start(app.clone()).await?;
    let _ = app.push.set(push);

    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = ?store.backend, "missive listening");
    delivery::conn::raise_fd_limit();
    let timeouts = delivery::conn::Timeouts {
        first_response: config.http_header_timeout,
        idle: delivery::conn::IDLE_TIMEOUT,
    };
    let conns = Connections::default();
    let listener =
        KillableListener::new(listener, conns.clone(), timeouts, config.max_conns_per_addr);
    let service = router.into_make_service_with_connect_info::<ConnInfo>();
    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    // On the signal axum stops accepting, finishes the requests in flight, and returns once
    // every connection has closed; `close` below makes sure they do, within the grace.
    let server = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signalled.send(tokio::time::Instant::now());
        })
        .into_future();
    let grace = config.shutdown_grace;
    // The last stretch of the grace is kept for flushing the database.
    let flush_time = (grace / 5).min(Duration::from_secs(1));
    // Returns the deadline once every connection is closed (or the grace is nearly spent).
    let close = async move {
        let started = match on_signal.await {
            Ok(started) => started,
            // The server ended without a signal: it failed, and says so below.
            Err(_) => tokio::time::Instant::now(),
        };
        tracing::info!(grace = ?grace, "shutting down");
        let deadline = started + grace - flush_time;
        // Leave half the grace at least for closing sockets and flushing.
        let _ = tokio::time::timeout_at(started + grace / 2, app.drain.drain()).await;
        // Closing the connections, not the Socket.IO sockets: a socket closed with a DISCONNECT
        // packet ("io server disconnect") is one a stock client does not reconnect, while a
        // closed transport makes every client reconnect (to another node) and catch up. This
        // also ends what is no socket: half-open engine.io sessions, long-polls, keep-alives.
        let killed = conns.kill_all();
        tracing::info!(connections = killed, "closed every connection");
        // The sockets' disconnect handlers store last_seen_at: a moment for them to run.
        let settle = (tokio::time::Instant::now() + Duration::from_millis(500)).min(deadline);
        while conns.open() > 0 && tokio::time::Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Goodbye: the lease and whatever sockets are still counted go now, and the other
        // nodes announce this node's users offline after the grace unless they reconnected
        // elsewhere (see `cluster::state`).
        match tokio::time::timeout_at(deadline, app.shared.goodbye()).await {
            Ok(Ok(())) => tracing::info!("said goodbye to the cluster"),
            Ok(Err(e)) => tracing::warn!(error = %e, "saying goodbye to the cluster failed"),
            Err(_) => tracing::warn!("saying goodbye to the cluster timed out"),
        }
        deadline
    };
    // The HTTP server may finish first: upgraded WebSockets are no longer its connections, so
    // with no HTTP request in flight it returns at the signal, while sends are still running
    // on sockets. The close sequence runs to its end either way, before the database closes.
    let mut server = std::pin::pin!(server);
    let mut close = std::pin::pin!(close);
    let deadline = tokio::select! {
        served = &mut server => {
            served.context("serving")?;
            close.await
        }
        deadline = &mut close => {
            if tokio::time::timeout_at(deadline, server).await.is_err() {
                tracing::warn!("shutdown grace elapsed with connections still open; exiting anyway");
            }
            deadline
        }
    };
    if tokio::time::timeout_at(deadline + flush_time, store.close())
        .await
        .is_err()
    {
        tracing::warn!("closing the database did not finish within the shutdown grace");
    }
    tracing::info!("missive stopped");
    Ok(())
}

/// Forgets rate-limiter state of users idle long enough to have a full bucket again, so the
/// limiters' memory follows active users, not every user ever seen.
fn spawn_limiter_cleanup(app: App) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Some(limiter) = &app.send_limiter {
                limiter.forget_idle();
            }
            app.typing_limiter.forget_idle();
            for limiter in [&app.auth_limiter, &app.handshake_limiter]
                .into_iter()
                .flatten()
            {
                limiter.forget_idle();
            }
        }
    });
}

/// The Prometheus recorder is process-wide; a second server in the same process (tests) shares
/// the first one's.
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

#[cfg(test)]
mod layering_tests {
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let skip = [".git", "target", "node_modules", "vendor"];
            if path.is_dir() {
                if !skip.iter().any(|s| name == *s) {
                    files(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// `chat` knows no transport: it reaches sockets only through its `Delivery` seam.
    #[test]
    fn the_chat_layer_names_no_transport() {
        let mut sources = Vec::new();
        files(&root().join("src/chat"), &mut sources);
        for file in sources {
            let text = std::fs::read_to_string(&file).unwrap();
            for forbidden in [
                "socketioxide",
                "axum",
                "crate::realtime",
                "crate::http",
                "crate::delivery",
                "Hub",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{} names {forbidden}",
                    file.display()
                );
            }
        }
    }

    /// `http` and `realtime` never import each other.
    #[test]
    fn http_and_realtime_do_not_import_each_other() {
        for (dir, other) in [
            ("src/http", "crate::realtime"),
            ("src/realtime", "crate::http"),
        ] {
            let mut sources = Vec::new();
            files(&root().join(dir), &mut sources);
            for file in sources {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(!text.contains(other), "{} names {other}", file.display());
            }
        }
    }

    /// A clone holds the whole contract: nothing points outside the repository.
    #[test]
    fn no_file_points_outside_the_repository() {
        let mut all = Vec::new();
        files(&root(), &mut all);
        let outside = ["..", "/shared"].concat();
        for file in all {
            if let Ok(text) = std::fs::read_to_string(&file) {
                assert!(
                    !text.contains(&outside),
                    "{} refers to {outside}",
                    file.display()
                );
            }
        }
    }
}
