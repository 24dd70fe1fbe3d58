//! The one publisher: every committed stream entry reaches this node's sockets through here, and
//! nothing else emits `message`.
//!
//! Its inputs are this node's own commits (from the store, each commit's entries in order) and,
//! in a cluster, the other nodes' commits announced on the bus as `room:from:to` ranges (on the
//! Redis bus this node publishes its own ranges after COMMIT, from here). For each
//! room it remembers the last `seq` it published and emits strictly the next ones: an entry that
//! arrives ahead of a missing one is preceded by the missing ones, read from the database (a
//! committed `seq` implies every smaller one is committed: writers of a room are serialised by
//! its `last_seq` row). Entries already published are skipped, so a commit seen both in-process
//! and on the bus goes out once.
//!
//! Each entry is emitted to each local socket of the room separately, so a socket whose send
//! buffer is full is known by name: it is closed at once (`delivery::close_socket`) and gets
//! nothing more, so no socket ever stays connected past a gap.
//!
//! In a cluster an announcement can be missed without the bus noticing (on Redis a node can die
//! between COMMIT and PUBLISH), so every [`CHECK_EVERY`] the publisher compares, in one query,
//! the committed `last_seq` of the rooms that have sockets here with what it published, and
//! fills any gap from the database.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::mpsc;

use super::hub::room_room;
use super::{Doomed, close_socket};
use crate::app::App;
use crate::cluster::Bus;
use crate::domain::events::ServerEvent;
use crate::domain::{Message, RoomId, Seq};
use crate::store::{Committed, notify_payloads};

/// What the bus tells the publisher.
pub enum Announcement {
    /// Entries `from..=to` of a room were committed (on some node).
    Committed(Vec<(RoomId, Seq, Seq)>),
    /// The bus connection was lost and is back: announcements may have been missed.
    Lost,
}

/// What to do with entries `from..=to` of a room whose last published entry is `published`.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// All of them went out already.
    Skip,
    /// Emit those after `after` (the ones up to it went out).
    Emit { after: Seq },
    /// Entries between `after` and `from` are missing: read them first, then emit.
    Fill { after: Seq },
}

/// Decides how a room's new entries go out so that its sockets see every `seq` once, in order.
/// A room never seen on this node starts at the first entry that arrives.
pub fn plan(published: Option<Seq>, from: Seq, to: Seq) -> Plan {
    match published {
        Some(p) if p >= to => Plan::Skip,
        Some(p) if p.next() < from => Plan::Fill { after: p },
        Some(p) => Plan::Emit { after: p },
        None => Plan::Emit {
            after: Seq(from.0 - 1),
        },
    }
}

/// How long a room's position is kept after its last entry.
const IDLE: Duration = Duration::from_secs(600);
/// Entries read per query when filling a gap.
const FILL_PAGE: i64 = 200;
/// How often, in a cluster, published positions are checked against the database.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

struct Publisher<A: Adapter> {
    app: App,
    io: SocketIo<A>,
    bus: Bus,
    /// Per room: the last published seq, and when.
    published: HashMap<RoomId, (Seq, Instant)>,
    /// Rooms with sockets here but no published position yet, with the `last_seq` the last
    /// check saw: a position unchanged over two checks is taken as this node's (whatever came
    /// before it, the sockets had from their catch-up or from an announcement still in flight
    /// at the first check).
    unseen: HashMap<RoomId, Seq>,
}

/// Starts the publisher over this node's commits and, in a cluster, the bus's announcements.
pub fn spawn<A: Adapter>(
    app: App,
    io: SocketIo<A>,
    committed: Committed,
    announced: Option<mpsc::UnboundedReceiver<Announcement>>,
    bus: Bus,
) {
    let mut announced = announced;
    let mut committed = committed;
    tokio::spawn(async move {
        let clustered = bus.is_clustered();
        let mut p = Publisher {
            app,
            io,
            bus,
            published: HashMap::new(),
            unseen: HashMap::new(),
        };
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !super::hub::is_open(&p.io) {
                return; // the server has stopped
            }
            tokio::select! {
                biased;
                entries = committed.recv() => match entries {
                    Some(entries) => p.on_committed(entries).await,
                    None => break, // the store is gone: the server is stopping
                },
                Some(a) = async { match announced.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                } } => p.on_announced(a).await,
                _ = check.tick(), if clustered => p.check().await,
                _ = sweep.tick() => p.forget_idle().await,
            }
        }
    });
}

impl<A: Adapter> Publisher<A> {
    async fn on_committed(&mut self, entries: Vec<Message>) {
        self.app.count_messages(entries.len() as u64);
        if self.bus.announces_after_commit() {
            for payload in notify_payloads(&entries) {
                self.bus.announce(payload);
            }
        }
        for (room, group) in by_room(entries) {
            let (from, to) = (group[0].seq, group[group.len() - 1].seq);
            let known = self.published.get(&room).map(|&(s, _)| s);
            let plan = plan(known, from, to);
            if plan == Plan::Skip {
                continue;
            }
            self.published.insert(room, (to, Instant::now()));
            let sockets = self.io.local().to(room_room(room)).sockets();
            if sockets.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            let after = match plan {
                Plan::Fill { after } => match self.read(room, after, Seq(from.0 - 1)).await {
                    Some(missing) => {
                        out.extend(missing);
                        Seq(from.0 - 1)
                    }
                    None => {
                        close_all(&sockets, "a gap could not be filled");
                        continue;
                    }
                },
                Plan::Emit { after } => after,
                Plan::Skip => unreachable!(),
            };
            out.extend(group.into_iter().filter(|m| m.seq > after));
            emit(&sockets, out, self.app.config.max_outbound_bytes);
        }
    }

    async fn on_announced(&mut self, announcement: Announcement) {
        let ranges = match announcement {
            Announcement::Committed(ranges) => ranges,
            Announcement::Lost => {
                // Entries committed elsewhere meanwhile were never announced here: every
                // socket of this node may have missed some, so each reconnects and catches up.
                self.published.clear();
                self.unseen.clear();
                let sockets = self.io.local().sockets();
                close_all(&sockets, "the bus was cut off");
                return;
            }
        };
        for (room, from, to) in ranges {
            let known = self.published.get(&room).map(|&(s, _)| s);
            let after = match plan(known, from, to) {
                Plan::Skip => continue,
                Plan::Emit { after } | Plan::Fill { after } => after,
            };
            self.published.insert(room, (to, Instant::now()));
            let sockets = self.io.local().to(room_room(room)).sockets();
            if sockets.is_empty() {
                continue;
            }
            match self.read(room, after, to).await {
                Some(entries) => emit(&sockets, entries, self.app.config.max_outbound_bytes),
                None => close_all(&sockets, "announced entries could not be read"),
            }
        }
    }

    /// Entries `after < seq <= upto` of a room, from the database; `None` if it failed.
    async fn read(&self, room: RoomId, mut after: Seq, upto: Seq) -> Option<Vec<Message>> {
        let mut out = Vec::new();
        while after < upto {
            let page = match self.app.store.messages_after(room, after, FILL_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, %room, "reading entries to publish failed");
                    return None;
                }
            };
            let Some(last) = page.messages.last().map(|m| m.seq) else {
                break;
            };
            out.extend(page.messages.into_iter().filter(|m| m.seq <= upto));
            after = last;
            if !page.has_more {
                break;
            }
        }
        Some(out)
    }

    /// The rooms with a socket on this node.
    async fn local_rooms(&self) -> HashSet<RoomId> {
        if !super::hub::is_open(&self.io) {
            return HashSet::new();
        }
        let rooms = self.io.rooms().await.unwrap_or_default();
        rooms
            .iter()
            .filter_map(|r| r.strip_prefix("room:")?.parse().ok().map(RoomId))
            .collect()
    }

    /// Compares what was published with what is committed, for the rooms with sockets here,
    /// and fills what an announcement never brought.
    async fn check(&mut self) {
        let rooms: Vec<RoomId> = self.local_rooms().await.into_iter().collect();
        if rooms.is_empty() {
            self.unseen.clear();
            return;
        }
        let committed = match self.app.store.last_seqs(&rooms).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "checking committed positions failed");
                return;
            }
        };
        let mut unseen = HashMap::new();
        for (room, last) in committed {
            match self.published.get(&room).map(|&(s, _)| s) {
                Some(published) if published < last => {
                    metrics::counter!("missive_publisher_gaps_filled_total").increment(1);
                    tracing::info!(%room, "entries never announced here: filling from the database");
                    self.published.insert(room, (last, Instant::now()));
                    let sockets = self.io.local().to(room_room(room)).sockets();
                    match self.read(room, published, last).await {
                        Some(entries) => {
                            emit(&sockets, entries, self.app.config.max_outbound_bytes)
                        }
                        None => close_all(&sockets, "missed entries could not be read"),
                    }
                }
                Some(_) => {}
                None if self.unseen.get(&room) == Some(&last) => {
                    self.published.insert(room, (last, Instant::now()));
                }
                None => {
                    unseen.insert(room, last);
                }
            }
        }
        self.unseen = unseen;
    }

    /// Forgets idle rooms that have no socket here any more.
    async fn forget_idle(&mut self) {
        let local = self.local_rooms().await;
        self.published
            .retain(|room, (_, at)| at.elapsed() < IDLE || local.contains(room));
        self.published.shrink_to_fit();
    }
}

/// A commit's entries grouped by room, each group in commit (= seq) order.
fn by_room(entries: Vec<Message>) -> Vec<(RoomId, Vec<Message>)> {
    let mut rooms: Vec<(RoomId, Vec<Message>)> = Vec::new();
    for m in entries {
        match rooms.iter_mut().find(|(room, _)| *room == m.room_id) {
            Some((_, group)) => group.push(m),
            None => rooms.push((m.room_id, vec![m])),
        }
    }
    rooms
}

/// Emits `entries` in order to each socket, serialising each entry once. A socket that cannot
/// take one (its send buffer is full, or it is over `max_outbound_bytes`) is closed and gets
/// none of the rest.
fn emit<A: Adapter>(
    sockets: &[socketioxide::extract::SocketRef<A>],
    entries: Vec<Message>,
    max_outbound_bytes: u64,
) {
    let events: Vec<(&'static str, Box<RawValue>)> = entries
        .into_iter()
        .filter_map(|m| {
            let event = ServerEvent::Message(m);
            match serde_json::value::to_raw_value(&event) {
                Ok(raw) => Some((event.name(), raw)),
                Err(e) => {
                    tracing::error!(error = %e, "serialising an entry failed");
                    None
                }
            }
        })
        .collect();
    for s in sockets {
        if s.extensions.get::<Doomed>().is_some() {
            continue;
        }
        for (name, raw) in &events {
            if !super::admit_outbound(s, raw.get().len(), max_outbound_bytes) {
                break;
            }
            match s.emit(*name, raw) {
                Ok(()) => {}
                Err(SendError::Socket(SocketError::Closed)) => break,
                Err(e) => {
                    metrics::counter!("missive_emit_failures_total").increment(1);
                    close_socket(s, &e.to_string());
                    break;
                }
            }
        }
    }
}

fn close_all<A: Adapter>(sockets: &[socketioxide::extract::SocketRef<A>], why: &str) {
    for s in sockets {
        close_socket(s, why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_room_goes_out_in_seq_order_once() {
        let table = [
            // (published, from, to, plan)
            (None, 5, 7, Plan::Emit { after: Seq(4) }),
            (Some(4), 5, 7, Plan::Emit { after: Seq(4) }),
            (Some(5), 5, 7, Plan::Emit { after: Seq(5) }), // overlaps: 6 and 7 only
            (Some(7), 5, 7, Plan::Skip),                   // seen already (in-process and bus)
            (Some(9), 5, 7, Plan::Skip),
            (Some(2), 5, 7, Plan::Fill { after: Seq(2) }), // 3 and 4 are missing: read first
            (Some(0), 1, 1, Plan::Emit { after: Seq(0) }),
        ];
        for (published, from, to, want) in table {
            assert_eq!(
                plan(published.map(Seq), Seq(from), Seq(to)),
                want,
                "published {published:?}, entries {from}..={to}"
            );
        }
    }

    #[test]
    fn a_commit_is_grouped_by_room_keeping_its_order() {
        let m = |room: i64, seq: i64| Message {
            id: crate::domain::MessageId(seq),
            room_id: RoomId(room),
            seq: Seq(seq),
            sender_id: crate::domain::UserId(1),
            kind: crate::domain::MessageKind::Text,
            body: String::new(),
            created_at: 0,
            ..Message::default()
        };
        let groups = by_room(vec![m(1, 3), m(2, 8), m(1, 4), m(2, 9), m(1, 5)]);
        let seqs: Vec<(i64, Vec<i64>)> = groups
            .iter()
            .map(|(r, g)| (r.0, g.iter().map(|m| m.seq.0).collect()))
            .collect();
        assert_eq!(seqs, vec![(1, vec![3, 4, 5]), (2, vec![8, 9])]);
    }
}
