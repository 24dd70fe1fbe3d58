//! The Redis bus (`MISSIVE_BUS=redis`): pub/sub on `{prefix}:stream` (announcements, published
//! after COMMIT) and `{prefix}:ops` (envelopes). Messages themselves stay in Postgres; Redis
//! only carries what crosses nodes, with no size window.
//!
//! - Sending: one `ConnectionManager` (multiplexed, reconnecting by itself); queued envelopes go
//!   out in pipelined batches, in order.
//! - Receiving: one RESP3 connection (Redis 6 or later) named `missive-bus-{name}`
//!   (`CLIENT SETNAME`) subscribed to both channels, pinged every 5 s. It is supervised: when
//!   it is closed, fails or does not answer, the node is marked cut off and it reconnects with
//!   backoff.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
};
use tokio::sync::mpsc;

use super::{Channel, Dispatch, Outgoing, backoff, publish_failed};

/// Envelopes published in one pipeline at most.
const BATCH: usize = 128;
/// How often the subscriber checks that Redis still answers.
const PING_EVERY: Duration = Duration::from_secs(5);

/// The Redis bus's clients and channel names.
pub(crate) struct Redis {
    publisher: Client,
    subscriber: Client,
    stream: String,
    ops: String,
}

impl Redis {
    pub(crate) fn new(url: &str, prefix: &str, name: &str) -> anyhow::Result<Self> {
        let info = url
            .into_connection_info()
            .context("MISSIVE_REDIS_URL is not a Redis URL")?;
        let version = env!("CARGO_PKG_VERSION");
        let publisher = info.clone().set_redis_settings(
            info.redis_settings()
                .clone()
                .set_lib_name(format!("missive-pub-{name}"), version),
        );
        let subscriber = info.clone().set_redis_settings(
            info.redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3),
        );
        Ok(Self {
            publisher: Client::open(publisher)?,
            subscriber: Client::open(subscriber)?,
            stream: format!("{prefix}:stream"),
            ops: format!("{prefix}:ops"),
        })
    }

    /// Connects the publishing connection and sends queued envelopes until the bus handle is
    /// dropped.
    pub(crate) async fn spawn_writer(
        &self,
        mut rx: mpsc::Receiver<Outgoing>,
    ) -> anyhow::Result<()> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(Duration::from_secs(5));
        let mut conn = ConnectionManager::new_with_config(self.publisher.clone(), config)
            .await
            .context("connecting to Redis (MISSIVE_REDIS_URL)")?;
        let (stream, ops) = (self.stream.clone(), self.ops.clone());
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let mut pipe = redis::pipe();
                let mut bytes = 0;
                let n = batch.len();
                for out in batch.drain(..) {
                    let (channel, payload) = match out {
                        Outgoing::Op { json, .. } => (&ops, json),
                        Outgoing::Stream(payload) => (&stream, payload),
                    };
                    bytes += payload.len();
                    pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                }
                match pipe.query_async::<()>(&mut conn).await {
                    Ok(()) => {
                        metrics::counter!("missive_bus_bytes_sent_total").increment(bytes as u64)
                    }
                    Err(e) => publish_failed(n, &e),
                }
            }
        });
        Ok(())
    }

    /// Starts the supervised subscriber.
    pub(crate) fn spawn_subscriber(
        &self,
        name: String,
        mut dispatch: Dispatch,
    ) -> anyhow::Result<()> {
        let client = self.subscriber.clone();
        let (stream, ops) = (self.stream.clone(), self.ops.clone());
        tokio::spawn(async move {
            let mut first = true;
            let mut failures = 0;
            loop {
                let (tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
                match subscribe(&client, &name, &[&stream, &ops], tx).await {
                    Ok(mut conn) => {
                        failures = 0;
                        dispatch.connected(first);
                        first = false;
                        let mut ping = tokio::time::interval(PING_EVERY);
                        ping.reset();
                        loop {
                            tokio::select! {
                                push = pushes.recv() => match push {
                                    Some(PushInfo { kind: PushKind::Message, data }) => {
                                        let (Some(channel), Some(payload)) = (data.first(), data.get(1)) else {
                                            continue;
                                        };
                                        let channel: String = redis::from_redis_value_ref(channel).unwrap_or_default();
                                        let channel = if channel == ops { Channel::Ops } else { Channel::Stream };
                                        match redis::from_redis_value_ref::<String>(payload) {
                                            Ok(text) => dispatch.received(channel, &text),
                                            Err(e) => tracing::warn!(error = %e, "cluster bus: a payload that is not text"),
                                        }
                                        if dispatch.is_closed() {
                                            return;
                                        }
                                    }
                                    Some(PushInfo { kind: PushKind::Disconnection, .. }) | None => {
                                        tracing::warn!("cluster bus: the Redis subscription was lost");
                                        break;
                                    }
                                    Some(_) => {}
                                },
                                _ = ping.tick() => {
                                    if dispatch.is_closed() {
                                        return; // the server stopped
                                    }
                                    let pong = tokio::time::timeout(
                                        Duration::from_secs(3),
                                        redis::cmd("PING").query_async::<redis::Value>(&mut conn),
                                    )
                                    .await;
                                    if !matches!(pong, Ok(Ok(_))) {
                                        tracing::warn!("cluster bus: Redis does not answer");
                                        break;
                                    }
                                }
                            }
                        }
                        dispatch.disconnected();
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, "cluster bus: cannot subscribe to Redis; retrying");
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
}

async fn subscribe(
    client: &Client,
    name: &str,
    channels: &[&String],
    pushes: mpsc::UnboundedSender<PushInfo>,
) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_push_sender(pushes);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .query_async::<()>(&mut conn)
        .await?;
    conn.subscribe(channels).await?;
    Ok(conn)
}
