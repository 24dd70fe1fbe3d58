//! A minimal Engine.IO v4 / Socket.IO v5 client over WebSocket, just enough for load: the
//! WebSocket upgrade at `/socket.io/?EIO=4&transport=websocket` (optionally from a chosen
//! 127.0.0.x source address), the Engine.IO open packet and ping/pong, the Socket.IO connect to
//! `/` with an auth payload, events with and without ack ids, and acks in both directions.
//!
//! Frames are parsed lazily: `Packet` keeps the frame's text and only the parts a scenario asks
//! for (event name, data) are decoded, so the client costs little per message.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::Serialize;
use serde::de::IgnoredAny;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's socket address (only 127.0.0.0/8 in practice).
    pub addr: SocketAddr,
    /// `host:port` for the request line.
    pub host: String,
}

impl Target {
    /// From `http://127.0.0.1:4000` (a trailing slash or path is ignored).
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got {url})"))?;
        let host = rest.split('/').next().unwrap_or_default().to_string();
        let addr: SocketAddr = host
            .parse()
            .with_context(|| format!("--url must name an ip:port (got {host})"))?;
        if !addr.ip().is_loopback() {
            bail!("refusing to load a non-loopback address {addr}");
        }
        Ok(Self { addr, host })
    }
}

/// Kind of a Socket.IO packet (the digit after Engine.IO's `4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    Other,
}

/// One Socket.IO packet on namespace `/` (packets for other namespaces are skipped).
pub struct Packet {
    pub kind: Kind,
    /// The ack id of an event that wants an ack, or of an ack.
    pub id: Option<u64>,
    text: Utf8Bytes,
    start: usize,
}

impl Packet {
    /// The JSON after the header: `["name",data]` for events, `[data]` for acks.
    pub fn payload(&self) -> &str {
        &self.text[self.start..]
    }

    /// An event's name, read without parsing the data (names never contain escapes here).
    pub fn event_name(&self) -> Option<&str> {
        let p = self.payload().strip_prefix("[\"")?;
        let end = p.find('"')?;
        Some(&p[..end])
    }

    /// An event's first argument.
    pub fn event_data<'a, T: Deserialize<'a>>(&'a self) -> anyhow::Result<T> {
        let (_, data): (IgnoredAny, T) = serde_json::from_str(self.payload())?;
        Ok(data)
    }

    /// An ack's first argument.
    pub fn ack_data<'a, T: Deserialize<'a>>(&'a self) -> anyhow::Result<T> {
        let (data,): (T,) = serde_json::from_str(self.payload())?;
        Ok(data)
    }
}

/// An open, authenticated Socket.IO connection.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    pong_owed: bool,
}

/// Small WebSocket buffers: thousands of idle client connections must not cost the machine
/// the memory the server is being measured for.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(16 << 20))
}

/// Timings of one connection's handshake, from the start of the TCP connect.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectTimes {
    /// Until the Socket.IO connect was accepted (`40{sid}`).
    pub connected: Duration,
}

impl Conn {
    /// Connects and authenticates with `token` in the handshake (`40{"token":…}`).
    /// `source` binds the local end to that address (for more than one ephemeral port range).
    pub async fn connect(
        target: &Target,
        token: &str,
        source: Option<Ipv4Addr>,
    ) -> anyhow::Result<(Self, ConnectTimes)> {
        let t0 = std::time::Instant::now();
        let stream = match (source, target.addr) {
            (Some(ip), SocketAddr::V4(_)) => {
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
                socket.connect(target.addr).await
            }
            _ => TcpStream::connect(target.addr).await,
        }
        .with_context(|| format!("tcp connect to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", target.host);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config()))
                .await
                .context("websocket upgrade")?;
        let mut conn = Self {
            ws,
            pong_owed: false,
        };
        // Engine.IO open packet.
        match conn.next_text().await? {
            Some(t) if t.starts_with('0') => {}
            Some(t) => bail!("expected the Engine.IO open packet, got {t:?}"),
            None => bail!("closed before the Engine.IO open packet"),
        }
        let auth = serde_json::json!({ "token": token });
        conn.send_raw(format!("40{auth}")).await?;
        loop {
            match conn.recv().await? {
                Some(p) if p.kind == Kind::Connect => break,
                Some(p) if p.kind == Kind::ConnectError => {
                    bail!("connect refused: {}", p.payload())
                }
                Some(_) => continue,
                None => bail!("closed during the Socket.IO connect"),
            }
        }
        let times = ConnectTimes {
            connected: t0.elapsed(),
        };
        Ok((conn, times))
    }

    /// `connect`, retried while the server refuses with `rate_limited` (a user's sockets from a
    /// previous run may not all be closed yet) or closes the connection before CONNECT is
    /// answered (a server still busy with the previous run's 19,000 disconnects lets the
    /// handshake time out), as socket.io-client reconnects: up to 60 times, 500 ms apart.
    pub async fn connect_retry(
        target: &Target,
        token: &str,
        source: Option<Ipv4Addr>,
    ) -> anyhow::Result<(Self, ConnectTimes)> {
        let mut tries = 0;
        loop {
            match Self::connect(target, token, source).await {
                Err(e)
                    if tries < 60
                        && (format!("{e:#}").contains("rate_limited")
                            || format!("{e:#}")
                                .contains("closed during the Socket.IO connect")) =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    async fn send_raw(&mut self, text: String) -> anyhow::Result<()> {
        if self.pong_owed {
            self.pong_owed = false;
            self.ws.send(WsMessage::text("3")).await?;
        }
        self.ws.send(WsMessage::text(text)).await?;
        Ok(())
    }

    /// The next Engine.IO text packet, answering nothing (used during the handshake).
    async fn next_text(&mut self) -> anyhow::Result<Option<Utf8Bytes>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(WsMessage::Text(t))) => return Ok(Some(t)),
                Some(Ok(WsMessage::Close(_))) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next Socket.IO packet for `/`; answers Engine.IO pings on the way. `None` when the
    /// connection closed. Cancel-safe: a pong interrupted mid-send is sent before the next write.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Packet>> {
        loop {
            if self.pong_owed {
                self.ws.send(WsMessage::text("3")).await?;
                self.pong_owed = false;
            }
            let Some(text) = self.next_text().await? else {
                return Ok(None);
            };
            let bytes = text.as_bytes();
            match bytes.first() {
                Some(b'2') => {
                    self.pong_owed = true;
                    continue;
                }
                Some(b'1') => return Ok(None),
                Some(b'4') => {
                    if let Some(p) = parse_packet(text) {
                        return Ok(Some(p));
                    }
                }
                _ => continue,
            }
        }
    }

    /// Emits `event` with `data`; with `ack = Some(id)` the server answers `43<id>[…]`.
    pub async fn emit<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        data: &T,
        ack: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut text = String::with_capacity(64);
        text.push_str("42");
        if let Some(id) = ack {
            text.push_str(&id.to_string());
        }
        text.push_str("[\"");
        text.push_str(event);
        text.push_str("\",");
        text.push_str(&serde_json::to_string(data)?);
        text.push(']');
        self.send_raw(text).await
    }

    /// Emits an event whose JSON data is already encoded.
    pub async fn emit_raw(
        &mut self,
        event: &str,
        json: &str,
        ack: Option<u64>,
    ) -> anyhow::Result<()> {
        let id = ack.map(|i| i.to_string()).unwrap_or_default();
        self.send_raw(format!("42{id}[\"{event}\",{json}]")).await
    }

    /// Acks a server event that asked for one (`sync`), with no arguments.
    pub async fn ack(&mut self, id: u64) -> anyhow::Result<()> {
        self.send_raw(format!("43{id}[]")).await
    }

    /// Handles what every scenario must: acks `sync` batches (returning how many messages the
    /// batch held) so a leftover catch-up never stalls. `Some(n)` for a `sync`, else `None`.
    pub async fn ack_sync(&mut self, p: &Packet) -> anyhow::Result<Option<usize>> {
        if p.kind == Kind::Event && p.event_name() == Some("sync") {
            #[derive(serde::Deserialize)]
            struct Sync {
                messages: Vec<IgnoredAny>,
            }
            let n = p
                .event_data::<Sync>()
                .map(|s| s.messages.len())
                .unwrap_or(0);
            if let Some(id) = p.id {
                self.ack(id).await?;
            }
            return Ok(Some(n));
        }
        Ok(None)
    }

    /// Waits for `synced` (the end of catch-up), acking any `sync` batches before it.
    pub async fn wait_synced(&mut self, timeout: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(timeout, async {
            loop {
                let Some(p) = self.recv().await? else {
                    bail!("closed before synced");
                };
                self.ack_sync(&p).await?;
                if p.kind == Kind::Event && p.event_name() == Some("synced") {
                    return Ok(());
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no synced within {timeout:?}"))?
    }

    /// Closes the WebSocket politely (errors ignored: the peer may already be gone).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// Parses `4<type>[/nsp,][id]<payload>`; `None` for another namespace or a malformed frame.
fn parse_packet(text: Utf8Bytes) -> Option<Packet> {
    let b = text.as_bytes();
    let kind = match b.get(1)? {
        b'0' => Kind::Connect,
        b'1' => Kind::Disconnect,
        b'2' => Kind::Event,
        b'3' => Kind::Ack,
        b'4' => Kind::ConnectError,
        _ => Kind::Other,
    };
    let mut i = 2;
    if b.get(i) == Some(&b'/') {
        // Namespace other than `/`: `/admin,…`.
        let comma = b.iter().position(|&c| c == b',')?;
        if &b[i..comma] != b"/" {
            return None;
        }
        i = comma + 1;
    }
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let id = if digits > 0 {
        std::str::from_utf8(&b[i..i + digits]).ok()?.parse().ok()
    } else {
        None
    };
    Some(Packet {
        kind,
        id,
        start: i + digits,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Packet {
        parse_packet(Utf8Bytes::from(s.to_string())).unwrap()
    }

    #[test]
    fn parses_events_acks_and_connects() {
        let e = p(r#"42["message",{"body":"x"}]"#);
        assert_eq!(e.kind, Kind::Event);
        assert_eq!(e.id, None);
        assert_eq!(e.event_name(), Some("message"));
        let v: serde_json::Value = e.event_data().unwrap();
        assert_eq!(v["body"], "x");

        let s = p(r#"4217["sync",{"messages":[1,2]}]"#);
        assert_eq!(s.id, Some(17));
        assert_eq!(s.event_name(), Some("sync"));

        let a = p(r#"43123[{"ok":true}]"#);
        assert_eq!(a.kind, Kind::Ack);
        assert_eq!(a.id, Some(123));
        let v: serde_json::Value = a.ack_data().unwrap();
        assert_eq!(v["ok"], true);

        assert_eq!(p(r#"40{"sid":"abc"}"#).kind, Kind::Connect);
        assert_eq!(
            p(r#"44{"message":"unauthenticated"}"#).kind,
            Kind::ConnectError
        );
        assert!(parse_packet(Utf8Bytes::from("42/admin,[\"stats\",{}]".to_string())).is_none());
    }

    #[test]
    fn reads_only_loopback_urls() {
        assert!(Target::from_url("http://127.0.0.1:4000").is_ok());
        assert!(Target::from_url("http://127.0.0.5:4000/").is_ok());
        assert!(Target::from_url("http://10.0.0.1:4000").is_err());
        assert!(Target::from_url("https://127.0.0.1:4000").is_err());
    }
}
