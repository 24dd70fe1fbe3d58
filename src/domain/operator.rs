//! The operator's console (`/admin/` in the web client): the figures each node reports every
//! second, read from the same Prometheus counters `/metrics` exposes, the cluster's totals over
//! the nodes that are alive, and the objects the `/api/admin/...` endpoints return.
//!
//! Everything here is pure: [`parse_exposition`] reads the text `/metrics` serves, a
//! [`Sampler`] turns two readings into per-second rates, [`cluster`] adds up the nodes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{RoomId, UserId, time_ms};

/// A node whose last heartbeat is older than this is shown stale and left out of the totals.
pub const STALE_AFTER_MS: i64 = 5_000;

/// A stale node is still listed (with its last heartbeat) for this long, then forgotten.
pub const FORGET_AFTER_MS: i64 = 3_600_000;

/// The readings of one `/metrics` exposition: `name` or `name{labels}` to value.
pub type Readings = HashMap<String, f64>;

/// Parses Prometheus' text format (what `/metrics` serves): comment lines are skipped, every
/// other line is `name[{labels}] value`. Unparsable lines are skipped too.
pub fn parse_exposition(text: &str) -> Readings {
    let mut out = Readings::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The value is the last field (labels may hold spaces inside quotes).
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if let Ok(v) = value.parse::<f64>()
            && v.is_finite()
        {
            out.insert(key.trim().to_owned(), v);
        }
    }
    out
}

fn read(r: &Readings, key: &str) -> f64 {
    r.get(key).copied().unwrap_or(0.0)
}

/// A summary's quantile over the exporter's rolling window, `None` when it holds no sample.
fn quantile(r: &Readings, name: &str, q: &str) -> Option<f64> {
    if read(r, &format!("{name}_count")) == 0.0 {
        return None;
    }
    r.get(&format!("{name}{{quantile=\"{q}\"}}")).copied()
}

/// The figures of one node, or of the whole cluster (then sums, and for the latency
/// percentiles the worst node's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Figures {
    /// Socket.IO sockets connected (`missive_sockets`).
    pub sockets: u64,
    /// Distinct users with a socket (`missive_users_connected`; in the totals, a user on two
    /// nodes counts twice).
    pub users: u64,
    /// Messages committed to the database per second (`missive_messages_stored_total`).
    pub messages_stored_per_second: f64,
    /// Stream entries delivered live per second (`missive_messages_total`).
    pub messages_delivered_per_second: f64,
    /// `message:send` to its ack, milliseconds (`missive_send_ack_seconds`, over the last
    /// minute); `None` without a send in that time.
    pub ack_ms_p50: Option<f64>,
    pub ack_ms_p90: Option<f64>,
    pub ack_ms_p99: Option<f64>,
    /// Group commits per second and their mean size in the last second
    /// (`missive_commit_batch_size`); the largest batch of the last minute.
    pub commits_per_second: f64,
    pub commit_batch_mean: Option<f64>,
    pub commit_batch_max: Option<f64>,
    /// Catch-ups queued or running (`missive_catch_up_backlog`).
    pub catch_up_backlog: i64,
    /// Sockets closed for not reading, per second and since start
    /// (`missive_slow_socket_disconnects_total`).
    pub slow_socket_closes_per_second: f64,
    pub slow_socket_closes_total: u64,
}

/// Turns successive readings of one node's counters into [`Figures`].
#[derive(Default)]
pub struct Sampler {
    last: Option<(Readings, i64)>,
}

impl Sampler {
    /// The figures at `now_ms` from `readings`; rates are over the time since the previous
    /// sample (zero at the first).
    pub fn sample(&mut self, readings: Readings, now_ms: i64) -> Figures {
        let rate = |prev: &Option<(Readings, i64)>, key: &str| -> f64 {
            match prev {
                Some((p, at)) if now_ms > *at => {
                    let delta = (read(&readings, key) - read(p, key)).max(0.0);
                    delta * 1000.0 / (now_ms - at) as f64
                }
                _ => 0.0,
            }
        };
        let batch_count = rate(&self.last, "missive_commit_batch_size_count");
        let batch_sum = rate(&self.last, "missive_commit_batch_size_sum");
        let ms = |q| quantile(&readings, "missive_send_ack_seconds", q).map(|s| s * 1000.0);
        let figures = Figures {
            sockets: read(&readings, "missive_sockets") as u64,
            users: read(&readings, "missive_users_connected") as u64,
            messages_stored_per_second: rate(&self.last, "missive_messages_stored_total"),
            messages_delivered_per_second: rate(&self.last, "missive_messages_total"),
            ack_ms_p50: ms("0.5"),
            ack_ms_p90: ms("0.9"),
            ack_ms_p99: ms("0.99"),
            commits_per_second: batch_count,
            commit_batch_mean: (batch_count > 0.0).then(|| batch_sum / batch_count),
            commit_batch_max: quantile(&readings, "missive_commit_batch_size", "1"),
            catch_up_backlog: read(&readings, "missive_catch_up_backlog") as i64,
            slow_socket_closes_per_second: rate(
                &self.last,
                "missive_slow_socket_disconnects_total",
            ),
            slow_socket_closes_total: read(&readings, "missive_slow_socket_disconnects_total")
                as u64,
        };
        self.last = Some((readings, now_ms));
        figures
    }
}

/// One node's latest report: who it is, its heartbeat, its dependencies, its figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeStats {
    /// Random at each start of the process.
    pub id: String,
    /// The address it listens on.
    pub addr: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: i64,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub heartbeat_at: i64,
    /// No heartbeat for `STALE_AFTER_MS`: the node has stopped or lost the database.
    #[serde(default)]
    pub stale: bool,
    /// Whether its database answered its last ping.
    pub database_up: bool,
    /// Whether it hears the other nodes' commits (always on SQLite).
    pub bus_up: bool,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The `stats` event on `/admin` and `GET /api/admin/stats`: the cluster's totals over the live
/// nodes, and every node's latest report.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterStats {
    /// Live nodes.
    pub nodes: u32,
    /// The totals' sockets, users, delivered messages per second and catch-up backlog (these
    /// four fields predate `totals` and are kept).
    pub sockets: u64,
    pub users_online: u64,
    pub messages_per_second: u64,
    pub catch_up_backlog: i64,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    pub totals: Figures,
    /// Every node heard from in the last hour, stale ones flagged.
    pub per_node: Vec<NodeStats>,
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Adds up the live nodes of `reports` as of `now_ms` (stale ones are flagged, listed, and left
/// out of the totals); nodes are listed by address.
pub fn cluster(mut reports: Vec<NodeStats>, now_ms: i64) -> ClusterStats {
    reports.retain(|n| now_ms - n.heartbeat_at < FORGET_AFTER_MS);
    reports.sort_by(|a, b| a.addr.cmp(&b.addr).then(a.id.cmp(&b.id)));
    let mut t = Figures::default();
    let mut live = 0;
    for n in &mut reports {
        n.stale = now_ms - n.heartbeat_at >= STALE_AFTER_MS;
        if n.stale {
            continue;
        }
        live += 1;
        let f = &n.figures;
        t.sockets += f.sockets;
        t.users += f.users;
        t.messages_stored_per_second += f.messages_stored_per_second;
        t.messages_delivered_per_second += f.messages_delivered_per_second;
        t.ack_ms_p50 = max_opt(t.ack_ms_p50, f.ack_ms_p50);
        t.ack_ms_p90 = max_opt(t.ack_ms_p90, f.ack_ms_p90);
        t.ack_ms_p99 = max_opt(t.ack_ms_p99, f.ack_ms_p99);
        let batched = t.commit_batch_mean.unwrap_or(0.0) * t.commits_per_second
            + f.commit_batch_mean.unwrap_or(0.0) * f.commits_per_second;
        t.commits_per_second += f.commits_per_second;
        t.commit_batch_mean = (t.commits_per_second > 0.0).then(|| batched / t.commits_per_second);
        t.commit_batch_max = max_opt(t.commit_batch_max, f.commit_batch_max);
        t.catch_up_backlog += f.catch_up_backlog;
        t.slow_socket_closes_per_second += f.slow_socket_closes_per_second;
        t.slow_socket_closes_total += f.slow_socket_closes_total;
    }
    ClusterStats {
        nodes: live,
        sockets: t.sockets,
        users_online: t.users,
        messages_per_second: t.messages_delivered_per_second.round() as u64,
        catch_up_backlog: t.catch_up_backlog,
        at: now_ms,
        totals: t,
        per_node: reports,
    }
}

/// One connected socket of a user, on any node (`GET /api/admin/users/{id}`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    /// The Socket.IO socket id (`DELETE /api/admin/users/{id}/devices/{sid}` closes it).
    pub sid: String,
    /// The node it is connected to (a node id of `stats`), when known.
    pub node: Option<String>,
    /// `polling` or `websocket`.
    pub transport: Option<String>,
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub connected_at: Option<i64>,
}

/// Prefix of the Socket.IO rooms that describe a socket to operators on every node.
pub const DEVICE_ROOM: &str = "device:";

/// The Socket.IO room naming a socket's transport.
pub fn transport_room(transport: &str) -> String {
    format!("{DEVICE_ROOM}transport:{transport}")
}

/// The Socket.IO room naming when a socket connected.
pub fn since_room(at_ms: i64) -> String {
    format!("{DEVICE_ROOM}since:{at_ms}")
}

/// The Socket.IO room naming the node (`NodeStats::id`) a socket is connected to.
pub fn node_room(node: &str) -> String {
    format!("{DEVICE_ROOM}node:{node}")
}

/// A device as its rooms describe it.
pub fn device_from_rooms<'a>(sid: String, rooms: impl IntoIterator<Item = &'a str>) -> Device {
    let mut d = Device {
        sid,
        node: None,
        transport: None,
        connected_at: None,
    };
    for room in rooms {
        let Some(rest) = room.strip_prefix(DEVICE_ROOM) else {
            continue;
        };
        match rest.split_once(':') {
            Some(("transport", t)) => d.transport = Some(t.to_owned()),
            Some(("since", at)) => d.connected_at = at.parse().ok(),
            Some(("node", n)) => d.node = Some(n.to_owned()),
            _ => {}
        }
    }
    d
}

/// An account as operators see it (`GET /api/admin/users`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub banned_at: Option<i64>,
}

/// One account in detail (`GET /api/admin/users/{id}`): its connected devices on every node.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    pub user: AdminUser,
    /// Why it was banned, when an operator banned it through the API.
    pub ban_reason: Option<String>,
    pub rooms: i64,
    pub devices: Vec<Device>,
}

/// `POST /api/admin/users/{id}/password`: the temporary password, shown once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TemporaryPassword {
    pub temporary_password: String,
}

/// A group or channel as operators see it (`GET /api/admin/rooms`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminRoom {
    pub id: RoomId,
    /// `group` or `channel` (direct rooms are never listed).
    pub kind: String,
    pub name: String,
    pub members_count: i64,
    /// The stream's length.
    pub last_seq: i64,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: i64,
    /// When an operator closed the channel; `null` while open.
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<i64>,
}

/// A room's member, for operators.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminMember {
    pub user_id: UserId,
    pub username: String,
    pub role: String,
}

/// One room in detail (`GET /api/admin/rooms/{id}`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AdminRoomDetail {
    #[serde(flatten)]
    pub room: AdminRoom,
    /// Messages stored in the last minute and the last hour.
    pub messages_last_minute: i64,
    pub messages_last_hour: i64,
    /// The first 500 members, by role then username.
    pub members: Vec<AdminMember>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE missive_messages_total counter
missive_messages_total 10
missive_messages_stored_total 4
missive_sockets 3
missive_users_connected 2
missive_catch_up_backlog 1
missive_slow_socket_disconnects_total 0
# TYPE missive_send_ack_seconds summary
missive_send_ack_seconds{quantile=\"0.5\"} 0.002
missive_send_ack_seconds{quantile=\"0.9\"} 0.004
missive_send_ack_seconds{quantile=\"0.99\"} 0.01
missive_send_ack_seconds_sum 0.02
missive_send_ack_seconds_count 5
missive_commit_batch_size{quantile=\"1\"} 7
missive_commit_batch_size_sum 10
missive_commit_batch_size_count 4
missive_push_total{outcome=\"sent ok\"} 2
garbage line without value x
";

    #[test]
    fn an_exposition_reads_as_name_and_labels_to_value() {
        let r = parse_exposition(TEXT);
        assert_eq!(r["missive_messages_total"], 10.0);
        assert_eq!(r["missive_send_ack_seconds{quantile=\"0.99\"}"], 0.01);
        assert_eq!(r["missive_push_total{outcome=\"sent ok\"}"], 2.0);
        assert!(
            !r.keys()
                .any(|k| k.starts_with('#') || k.starts_with("garbage"))
        );
    }

    #[test]
    fn rates_are_deltas_over_the_time_between_samples() {
        let mut s = Sampler::default();
        let first = s.sample(parse_exposition(TEXT), 1_000);
        assert_eq!(
            first.messages_stored_per_second, 0.0,
            "no rate at the first sample"
        );
        assert_eq!(first.sockets, 3);
        assert_eq!(first.ack_ms_p99, Some(10.0));
        let later = TEXT
            .replace("missive_messages_total 10", "missive_messages_total 30")
            .replace(
                "missive_messages_stored_total 4",
                "missive_messages_stored_total 8",
            )
            .replace("batch_size_sum 10", "batch_size_sum 16")
            .replace("batch_size_count 4", "batch_size_count 6");
        let second = s.sample(parse_exposition(&later), 3_000);
        assert_eq!(second.messages_delivered_per_second, 10.0);
        assert_eq!(second.messages_stored_per_second, 2.0);
        assert_eq!(second.commits_per_second, 1.0);
        assert_eq!(second.commit_batch_mean, Some(3.0));
        assert_eq!(second.commit_batch_max, Some(7.0));
        assert_eq!(second.catch_up_backlog, 1);
    }

    #[test]
    fn a_summary_without_samples_has_no_percentiles() {
        let mut s = Sampler::default();
        let f = s.sample(parse_exposition("missive_send_ack_seconds_count 0\n"), 0);
        assert_eq!(f.ack_ms_p50, None);
        assert_eq!(f.commit_batch_mean, None);
    }

    fn node(id: &str, heartbeat_at: i64, sockets: u64, p99: Option<f64>) -> NodeStats {
        NodeStats {
            id: id.into(),
            addr: format!("10.0.0.{id}:80"),
            started_at: 0,
            heartbeat_at,
            stale: false,
            database_up: true,
            bus_up: true,
            figures: Figures {
                sockets,
                users: sockets,
                messages_delivered_per_second: 2.4,
                commits_per_second: 1.0,
                commit_batch_mean: Some(sockets as f64),
                ack_ms_p99: p99,
                ..Figures::default()
            },
        }
    }

    #[test]
    fn the_cluster_adds_up_live_nodes_and_flags_stale_ones() {
        let now = 100_000;
        let table = [
            // (nodes, live, sockets, p99, listed)
            (vec![], 0, 0, None, 0),
            (vec![node("1", now, 3, Some(5.0))], 1, 3, Some(5.0), 1),
            (
                vec![node("2", now - 1000, 2, None), node("1", now, 3, Some(5.0))],
                2,
                5,
                Some(5.0),
                2,
            ),
            (
                vec![
                    node("1", now, 3, Some(5.0)),
                    node("2", now - STALE_AFTER_MS, 4, Some(9.0)),
                ],
                1,
                3,
                Some(5.0),
                2,
            ),
            (
                vec![
                    node("1", now, 3, None),
                    node("3", now - FORGET_AFTER_MS, 4, None),
                ],
                1,
                3,
                None,
                1,
            ),
        ];
        for (nodes, live, sockets, p99, listed) in table {
            let c = cluster(nodes, now);
            assert_eq!(c.nodes, live);
            assert_eq!(c.sockets, sockets);
            assert_eq!(c.totals.ack_ms_p99, p99);
            assert_eq!(c.per_node.len(), listed);
            assert_eq!(
                c.per_node.iter().filter(|n| n.stale).count() as u32,
                listed as u32 - live
            );
        }
        let two = cluster(vec![node("2", now, 2, None), node("1", now, 4, None)], now);
        assert_eq!(two.per_node[0].id, "1", "listed by address");
        assert_eq!(
            two.totals.commit_batch_mean,
            Some(3.0),
            "weighted by commits"
        );
        assert_eq!(two.messages_per_second, 5);
    }

    #[test]
    fn a_device_is_read_back_from_its_rooms() {
        let rooms = [
            "user:4".to_string(),
            transport_room("websocket"),
            since_room(1234),
            node_room("abc"),
            "device:unknown:x".into(),
        ];
        let d = device_from_rooms("sid1".into(), rooms.iter().map(String::as_str));
        assert_eq!(d.transport.as_deref(), Some("websocket"));
        assert_eq!(d.connected_at, Some(1234));
        assert_eq!(d.node.as_deref(), Some("abc"));
        let bare = device_from_rooms("sid2".into(), ["room:1"]);
        assert_eq!(
            (bare.transport, bare.connected_at, bare.node),
            (None, None, None)
        );
    }
}
