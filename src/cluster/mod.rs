//! The cluster bus: what crosses nodes besides the database. Each node runs Socket.IO's local
//! adapter; every operation that must reach sockets on other nodes (emit an event, join or
//! leave a user's sockets to a room, disconnect a user or one device, ask for a user's devices)
//! is applied by the sending node to its own sockets and published here as a typed
//! [`Envelope`] (JSON, with the sender's node id). Every node applies the envelopes of the
//! others to its own sockets and ignores its own when they come back.
//!
//! The same bus carries the stream announcements (`room:from:to` ranges of committed entries)
//! to the publisher: on Postgres they are NOTIFYs sent inside the committing transaction, on
//! Redis they are published right after COMMIT (and a node that dies in between is covered by
//! the publisher's periodic check against the database).
//!
//! - [`pg`]: LISTEN/NOTIFY on the database (one supervised LISTEN connection for both
//!   channels; envelopes over one NOTIFY are chunked, see [`frame`]).
//! - [`redis`]: Redis pub/sub (a connection manager publishes, a supervised pub/sub connection
//!   subscribes; channels are prefixed).
//! - On SQLite there is one node: nothing is published.
//!
//! Beside the bus, what the nodes share: node leases and cluster-wide presence ([`state`]), and
//! the rates that hold for the cluster ([`limits`]).
//!
//! Supervision: while the subscribing connection is down, `up` is false (`/readyz` answers 503,
//! `missive_bus_up` is 0); it reconnects with backoff, and once back the publisher is told
//! [`Incoming::Lost`] (it closes local sockets, which catch up).

pub mod frame;
pub mod limits;
pub mod pg;
pub mod redis;
pub mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::config::{BusKind, Config};
use crate::domain::{RoomId, Seq, UserId};
use crate::store::{Store, parse_notify_payload};

/// Who an emitted event is for: every socket of a user, or of a room's members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    User(UserId),
    Room(RoomId),
}

/// A question to every other node, answered by each with what its own sockets say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// The user's sockets on that node.
    Devices { user: UserId },
    /// Close the user's socket `sid` if it is on that node.
    DisconnectDevice { user: UserId, sid: String },
}

/// One node's answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Each socket's id and the rooms that describe it (`domain::operator::DEVICE_ROOM`).
    Devices(Vec<(String, Vec<String>)>),
    /// Whether the socket was there (and is now closed).
    Disconnected(bool),
}

/// An operation on sockets, carried between nodes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `event` to every socket in any of `targets` (each once) but `except`'s.
    Emit {
        targets: Vec<Target>,
        except: Option<UserId>,
        event: String,
        payload: Box<RawValue>,
    },
    /// `event` to every operator socket of the `/admin` namespace.
    EmitAdmins {
        event: String,
        payload: Box<RawValue>,
    },
    Join {
        user: UserId,
        room: RoomId,
    },
    Leave {
        user: UserId,
        room: RoomId,
    },
    DisconnectUser {
        user: UserId,
    },
    Request {
        id: u64,
        query: Query,
    },
    Response {
        id: u64,
        to: String,
        answer: Answer,
    },
}

/// What travels on the ops channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node.
    pub node: String,
    pub op: Op,
}

/// What the bus hands to this node's delivery.
#[derive(Debug)]
pub enum Incoming {
    /// Entries `from..=to` of each room were committed (on some node).
    Committed(Vec<(RoomId, Seq, Seq)>),
    /// The bus was cut off and is back: announcements and operations may have been missed.
    Lost,
    /// Another node's operation, to apply to this node's sockets (a `Request` is answered
    /// with [`Bus::respond`]).
    Op { from: String, op: Op },
}

/// Which channel a received payload came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Stream,
    Ops,
}

/// A message queued for the bus's writer.
pub(crate) enum Outgoing {
    /// An envelope's JSON, with its id for chunking.
    Op { id: u64, json: String },
    /// A stream announcement (Redis only: on Postgres it is sent inside the transaction).
    Stream(String),
}

/// Envelopes waiting to be published; past it a publish fails (counted).
const QUEUE: usize = 16_384;

/// The cluster bus handle: cheap to clone.
#[derive(Clone)]
pub struct Bus(Arc<Inner>);

struct Inner {
    node: String,
    kind: Option<BusKind>,
    out: Option<mpsc::Sender<Outgoing>>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, mpsc::UnboundedSender<Answer>>>,
}

/// A publish that did not go out: counted and logged, never with its content.
pub(crate) fn publish_failed(n: usize, error: &dyn std::fmt::Display) {
    metrics::counter!("missive_bus_publish_failures_total").increment(n as u64);
    tracing::warn!(envelopes = n, %error, "publishing on the cluster bus failed");
}

impl Bus {
    /// Starts this node's bus (none on SQLite) and waits until it is subscribed (at most 10 s).
    /// `name` identifies its connections to the database or Redis (`application_name`,
    /// `CLIENT SETINFO LIB-NAME`): `missive-bus-{name}` for the subscriber.
    pub async fn start(
        config: &Config,
        store: &Store,
        node: String,
        name: &str,
        up: Arc<AtomicBool>,
    ) -> anyhow::Result<(Self, Option<mpsc::UnboundedReceiver<Incoming>>)> {
        let kind = config.bus_kind()?;
        let Some(kind) = kind else {
            let bus = Self(Arc::new(Inner {
                node,
                kind: None,
                out: None,
                next_id: AtomicU64::new(1),
                pending: Mutex::default(),
            }));
            return Ok((bus, None));
        };
        let (out_tx, out_rx) = mpsc::channel(QUEUE);
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let bus = Self(Arc::new(Inner {
            node: node.clone(),
            kind: Some(kind),
            out: Some(out_tx),
            next_id: AtomicU64::new(1),
            pending: Mutex::default(),
        }));
        let dispatch = Dispatch {
            bus: bus.clone(),
            tx: in_tx,
            up: up.clone(),
            reassembler: frame::Reassembler::new(Duration::from_secs(5), 64 << 20),
        };
        up.store(false, Ordering::SeqCst);
        metrics::gauge!("missive_bus_up").set(0.0);
        let subscriber = format!("missive-bus-{name}");
        match kind {
            BusKind::Postgres => {
                pg::spawn_writer(store.pool.clone(), node, out_rx);
                pg::spawn_listener(config.database_url.clone(), subscriber, dispatch)?;
            }
            BusKind::Redis => {
                let r = redis::Redis::new(&config.redis_url, &config.redis_prefix, name)?;
                r.spawn_writer(out_rx).await?;
                r.spawn_subscriber(subscriber, dispatch)?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !up.load(Ordering::SeqCst) {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the cluster bus ({kind:?}) could not subscribe within 10 s; see the log"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(bus = ?kind, node = %bus.0.node, "cluster bus subscribed");
        Ok((bus, Some(in_rx)))
    }

    /// This node's id on the bus.
    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// Whether stream announcements are published after COMMIT by the publisher (Redis), not
    /// inside the transaction (Postgres) or not at all (SQLite).
    pub fn announces_after_commit(&self) -> bool {
        self.0.kind == Some(BusKind::Redis)
    }

    /// Whether other nodes may exist (a bus runs).
    pub fn is_clustered(&self) -> bool {
        self.0.kind.is_some()
    }

    /// Publishes `op` to the other nodes (in the order of calls); nothing on SQLite.
    pub fn publish(&self, op: Op) {
        let Some(out) = &self.0.out else { return };
        let envelope = Envelope {
            node: self.0.node.clone(),
            op,
        };
        let json = match serde_json::to_string(&envelope) {
            Ok(json) => json,
            Err(e) => return publish_failed(1, &e),
        };
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = out.try_send(Outgoing::Op { id, json }) {
            publish_failed(1, &e);
        }
    }

    /// Publishes a stream announcement (only where `announces_after_commit`).
    pub fn announce(&self, payload: String) {
        if !self.announces_after_commit() {
            return;
        }
        if let Some(out) = &self.0.out
            && let Err(e) = out.try_send(Outgoing::Stream(payload))
        {
            publish_failed(1, &e);
        }
    }

    /// Asks every other node; collects answers until `peers` have answered or `timeout`
    /// passes. Never used on a handshake: it waits on the slowest node.
    pub async fn request(&self, query: Query, peers: usize, timeout: Duration) -> Vec<Answer> {
        if self.0.out.is_none() || peers == 0 {
            return Vec::new();
        }
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.0.pending.lock().unwrap().insert(id, tx);
        self.publish(Op::Request { id, query });
        let mut answers = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while answers.len() < peers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(answer)) => answers.push(answer),
                _ => break,
            }
        }
        self.0.pending.lock().unwrap().remove(&id);
        answers
    }

    /// Answers another node's `Request`.
    pub fn respond(&self, to: String, id: u64, answer: Answer) {
        self.publish(Op::Response { id, to, answer });
    }

    fn answered(&self, id: u64, answer: Answer) {
        if let Some(tx) = self.0.pending.lock().unwrap().get(&id) {
            let _ = tx.send(answer);
        }
    }
}

/// Turns received payloads into [`Incoming`] items, and keeps `up` and the metrics; shared by
/// both buses' subscribers.
pub(crate) struct Dispatch {
    bus: Bus,
    tx: mpsc::UnboundedSender<Incoming>,
    up: Arc<AtomicBool>,
    reassembler: frame::Reassembler,
}

impl Dispatch {
    /// Whether anyone still listens (the server runs).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The subscription is (back) up; after the first time, what was missed is announced.
    pub(crate) fn connected(&mut self, first: bool) {
        self.up.store(true, Ordering::SeqCst);
        metrics::gauge!("missive_bus_up").set(1.0);
        if !first {
            tracing::info!("cluster bus back");
            let _ = self.tx.send(Incoming::Lost);
        }
    }

    /// The subscription ended.
    pub(crate) fn disconnected(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        metrics::gauge!("missive_bus_up").set(0.0);
        metrics::counter!("missive_bus_reconnects_total").increment(1);
    }

    /// One payload as received on `channel`.
    pub(crate) fn received(&mut self, channel: Channel, payload: &str) {
        metrics::counter!("missive_bus_bytes_received_total").increment(payload.len() as u64);
        match channel {
            Channel::Stream => {
                let ranges = parse_notify_payload(payload);
                if !ranges.is_empty() {
                    let _ = self.tx.send(Incoming::Committed(ranges));
                }
            }
            Channel::Ops => {
                let whole = match frame::parse(payload) {
                    Some(frame::Frame::Whole(text)) => text.to_owned(),
                    Some(frame::Frame::Chunk {
                        node,
                        id,
                        index,
                        count,
                        text,
                    }) => {
                        if node == self.bus.node() {
                            return; // our own, applied when sent
                        }
                        match self
                            .reassembler
                            .push(node, id, index, count, text, Instant::now())
                        {
                            Some(whole) => whole,
                            None => return,
                        }
                    }
                    None => {
                        tracing::warn!(bytes = payload.len(), "cluster bus: malformed frame");
                        return;
                    }
                };
                self.envelope(&whole);
            }
        }
    }

    fn envelope(&mut self, json: &str) {
        let envelope: Envelope = match serde_json::from_str(json) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, bytes = json.len(), "cluster bus: unreadable envelope");
                return;
            }
        };
        if envelope.node == self.bus.node() {
            return;
        }
        match envelope.op {
            Op::Response { id, to, answer } => {
                if to == self.bus.node() {
                    self.bus.answered(id, answer);
                }
            }
            op => {
                let _ = self.tx.send(Incoming::Op {
                    from: envelope.node,
                    op,
                });
            }
        }
    }
}

/// The wait before reconnecting after `failures` failures in a row: 250 ms doubling to 5 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)).min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_with_its_raw_payload_untouched() {
        let payload = RawValue::from_string(r#"{"room_id":"7","body":"hé \"x\""}"#.into()).unwrap();
        let env = Envelope {
            node: "n1".into(),
            op: Op::Emit {
                targets: vec![Target::Room(RoomId(7)), Target::User(UserId(3))],
                except: Some(UserId(3)),
                event: "room:updated".into(),
                payload,
            },
        };
        let json = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.node, "n1");
        match back.op {
            Op::Emit {
                targets,
                except,
                event,
                payload,
            } => {
                assert_eq!(
                    targets,
                    vec![Target::Room(RoomId(7)), Target::User(UserId(3))]
                );
                assert_eq!(except, Some(UserId(3)));
                assert_eq!(event, "room:updated");
                assert_eq!(payload.get(), r#"{"room_id":"7","body":"hé \"x\""}"#);
            }
            other => panic!("not an emit: {other:?}"),
        }
        for op in [
            Op::Join {
                user: UserId(1),
                room: RoomId(2),
            },
            Op::Request {
                id: 9,
                query: Query::DisconnectDevice {
                    user: UserId(1),
                    sid: "abc".into(),
                },
            },
            Op::Response {
                id: 9,
                to: "n2".into(),
                answer: Answer::Devices(vec![("s1".into(), vec!["device:since:1".into()])]),
            },
        ] {
            let json = serde_json::to_string(&Envelope {
                node: "n".into(),
                op,
            })
            .unwrap();
            let back: Envelope = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    #[test]
    fn a_node_ignores_its_own_envelopes_and_routes_answers_to_their_request() {
        let (bus, mut rx, mut d) = test_bus("me");
        let own = serde_json::to_string(&Envelope {
            node: "me".into(),
            op: Op::DisconnectUser { user: UserId(1) },
        })
        .unwrap();
        d.received(Channel::Ops, &own);
        assert!(
            rx.try_recv().is_err(),
            "its own envelope is not applied twice"
        );

        let other = serde_json::to_string(&Envelope {
            node: "other".into(),
            op: Op::DisconnectUser { user: UserId(1) },
        })
        .unwrap();
        d.received(Channel::Ops, &other);
        assert!(matches!(
            rx.try_recv(),
            Ok(Incoming::Op { from, op: Op::DisconnectUser { user: UserId(1) } }) if from == "other"
        ));

        let (tx, mut answers) = mpsc::unbounded_channel();
        bus.0.pending.lock().unwrap().insert(5, tx);
        for to in ["someone-else", "me"] {
            let answer = serde_json::to_string(&Envelope {
                node: "other".into(),
                op: Op::Response {
                    id: 5,
                    to: to.into(),
                    answer: Answer::Disconnected(to == "me"),
                },
            })
            .unwrap();
            d.received(Channel::Ops, &answer);
        }
        assert_eq!(answers.try_recv().unwrap(), Answer::Disconnected(true));
        assert!(
            answers.try_recv().is_err(),
            "an answer to another node is not ours"
        );
        assert!(rx.try_recv().is_err(), "answers are not operations");

        d.received(Channel::Stream, "3:4:5,x");
        assert!(
            matches!(rx.try_recv(), Ok(Incoming::Committed(r)) if r == vec![(RoomId(3), Seq(4), Seq(5))])
        );
    }

    #[test]
    fn a_chunked_envelope_is_applied_once_whole() {
        let (_bus, mut rx, mut d) = test_bus("me");
        let body = "€".repeat(5_000);
        let payload = RawValue::from_string(serde_json::to_string(&body).unwrap()).unwrap();
        let json = serde_json::to_string(&Envelope {
            node: "other".into(),
            op: Op::EmitAdmins {
                event: "report:new".into(),
                payload,
            },
        })
        .unwrap();
        let frames = frame::split("other", 1, &json, frame::MAX_NOTIFY_BYTES).unwrap();
        assert!(frames.len() >= 2);
        for f in &frames {
            d.received(Channel::Ops, f);
        }
        match rx.try_recv() {
            Ok(Incoming::Op {
                op: Op::EmitAdmins { payload, .. },
                ..
            }) => assert_eq!(serde_json::from_str::<String>(payload.get()).unwrap(), body),
            other => panic!("no emit: {other:?}"),
        }
        assert!(rx.try_recv().is_err());
        // Its own chunks are skipped without being held.
        let own = frame::split("me", 2, &json, frame::MAX_NOTIFY_BYTES).unwrap();
        for f in &own {
            d.received(Channel::Ops, f);
        }
        assert_eq!(d.reassembler.held(), 0);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn backoff_grows_to_five_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_millis(4_000));
        assert_eq!(backoff(9), Duration::from_millis(5_000));
    }

    fn test_bus(node: &str) -> (Bus, mpsc::UnboundedReceiver<Incoming>, Dispatch) {
        let bus = Bus(Arc::new(Inner {
            node: node.into(),
            kind: None,
            out: None,
            next_id: AtomicU64::new(1),
            pending: Mutex::default(),
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let d = Dispatch {
            bus: bus.clone(),
            tx,
            up: Arc::new(AtomicBool::new(false)),
            reassembler: frame::Reassembler::new(Duration::from_secs(5), 1 << 20),
        };
        (bus, rx, d)
    }
}
