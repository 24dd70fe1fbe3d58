//! The Postgres bus: LISTEN/NOTIFY on the database itself, so a cluster needs nothing but
//! Postgres.
//!
//! - Receiving: one LISTEN connection (its `application_name` is `missive-bus-{name}`) on both
//!   channels, [`STREAM_CHANNEL`] (announcements, sent by the store inside each committing
//!   transaction) and [`OPS_CHANNEL`] (envelopes). It is supervised: when it ends or fails, the
//!   node is marked cut off, and it reconnects with backoff.
//! - Sending: envelopes queued by [`super::Bus::publish`] are sent in batches from the store's
//!   pool, one transaction per batch (`select pg_notify(…)` per frame), so an envelope split
//!   into chunks ([`super::frame`]) arrives whole and in order. Nothing is written to a table.

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use super::frame::{MAX_NOTIFY_BYTES, split};
use super::{Channel, Dispatch, Outgoing, backoff, publish_failed};
use crate::store::STREAM_CHANNEL;

/// The channel of envelopes between nodes.
pub const OPS_CHANNEL: &str = "missive_ops";

/// Envelopes sent in one transaction at most.
const BATCH: usize = 128;

/// Sends queued envelopes until the bus handle is dropped.
pub(crate) fn spawn_writer(pool: AnyPool, node: String, mut rx: mpsc::Receiver<Outgoing>) {
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            let mut frames = Vec::new();
            for out in batch.drain(..) {
                match out {
                    Outgoing::Op { id, json } => match split(&node, id, &json, MAX_NOTIFY_BYTES) {
                        Some(f) => frames.extend(f.into_iter().map(|f| (OPS_CHANNEL, f))),
                        None => publish_failed(1, &"an envelope too large for the bus"),
                    },
                    // Announcements go inside the committing transaction on Postgres.
                    Outgoing::Stream(payload) => frames.push((STREAM_CHANNEL, payload)),
                }
            }
            if frames.is_empty() {
                continue;
            }
            let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
            match send(&pool, &frames).await {
                Ok(()) => metrics::counter!("missive_bus_bytes_sent_total").increment(bytes as u64),
                Err(e) => publish_failed(frames.len(), &e),
            }
        }
    });
}

async fn send(pool: &AnyPool, frames: &[(&str, String)]) -> Result<(), sqlx::Error> {
    if let [(channel, payload)] = frames {
        sqlx::query("select pg_notify($1, $2)")
            .bind(*channel)
            .bind(payload.as_str())
            .execute(pool)
            .await?;
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for (channel, payload) in frames {
        sqlx::query("select pg_notify($1, $2)")
            .bind(*channel)
            .bind(payload.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Starts the supervised LISTEN connection.
pub(crate) fn spawn_listener(
    url: String,
    application_name: String,
    mut dispatch: Dispatch,
) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(&url)?.application_name(&application_name);
    tokio::spawn(async move {
        let mut first = true;
        let mut failures = 0;
        loop {
            match listen(options.clone()).await {
                Ok(mut listener) => {
                    failures = 0;
                    dispatch.connected(first);
                    first = false;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                let channel = if n.channel() == OPS_CHANNEL {
                                    Channel::Ops
                                } else {
                                    Channel::Stream
                                };
                                dispatch.received(channel, n.payload());
                                if dispatch.is_closed() {
                                    return;
                                }
                            }
                            Ok(None) => {
                                tracing::warn!("cluster bus: the LISTEN connection was lost");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "cluster bus: the LISTEN connection failed");
                                break;
                            }
                        }
                    }
                    dispatch.disconnected();
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "cluster bus: cannot LISTEN; retrying");
                }
            }
            if dispatch.is_closed() {
                return;
            }
            tokio::time::sleep(backoff(failures)).await;
        }
    });
    Ok(())
}

async fn listen(options: PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    // A lost connection is reported at once (and this task reconnects), never quietly redone.
    listener.eager_reconnect(false);
    listener.listen_all([STREAM_CHANNEL, OPS_CHANNEL]).await?;
    Ok(listener)
}
