//! Envelopes larger than one Postgres `NOTIFY` payload (under 8,000 bytes) travel as chunks, all
//! sent in one transaction (Postgres delivers a transaction's notifications together and in
//! order), and are put back together here with bounded memory. Nothing is written anywhere else.
//!
//! A whole envelope is sent as its JSON text (which starts with `{`). A chunk is
//! `~{node}:{id}:{index}:{count}:{text}`, the text cut on a character boundary; `node` is the
//! sender (so a node skips its own chunks without reassembling them) and `id` numbers its
//! envelopes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Largest `NOTIFY` payload sent (Postgres refuses 8,000 bytes and more).
pub const MAX_NOTIFY_BYTES: usize = 7_900;

/// Most chunks one envelope may have (at 7,900 bytes each, about 2 MB).
pub const MAX_CHUNKS: usize = 256;

const CHUNK_MARK: char = '~';

/// `payload` as it goes on the wire: itself when it fits in `max` bytes, else chunks of at
/// most `max` bytes each, header included. `None` when it would take more than [`MAX_CHUNKS`].
pub fn split(node: &str, id: u64, payload: &str, max: usize) -> Option<Vec<String>> {
    if payload.len() <= max {
        return Some(vec![payload.to_owned()]);
    }
    // The header at its longest (index and count take at most as many digits as MAX_CHUNKS).
    let digits = MAX_CHUNKS.to_string().len();
    let header = format!("{CHUNK_MARK}{node}:{id}:").len() + 2 * digits + 2;
    let room = max.checked_sub(header).filter(|&r| r >= 4)?;
    let mut pieces = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if pieces.len() > MAX_CHUNKS {
        return None;
    }
    let count = pieces.len();
    Some(
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, text)| format!("{CHUNK_MARK}{node}:{id}:{i}:{count}:{text}"))
            .collect(),
    )
}

/// One received frame, read.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole envelope.
    Whole(&'a str),
    /// A piece of one.
    Chunk {
        node: &'a str,
        id: u64,
        index: usize,
        count: usize,
        text: &'a str,
    },
}

/// Reads a frame; `None` for a malformed chunk header.
pub fn parse(frame: &str) -> Option<Frame<'_>> {
    let Some(rest) = frame.strip_prefix(CHUNK_MARK) else {
        return Some(Frame::Whole(frame));
    };
    let mut parts = rest.splitn(5, ':');
    let node = parts.next()?;
    let id = parts.next()?.parse().ok()?;
    let index: usize = parts.next()?.parse().ok()?;
    let count: usize = parts.next()?.parse().ok()?;
    let text = parts.next()?;
    ((1..=MAX_CHUNKS).contains(&count) && index < count).then_some(Frame::Chunk {
        node,
        id,
        index,
        count,
        text,
    })
}

struct Partial {
    parts: Vec<Option<String>>,
    bytes: usize,
    started: Instant,
}

/// Puts chunked envelopes back together. A partial envelope is dropped after `ttl`, and when
/// the partial ones would hold more than `cap` bytes the oldest go first (so a sender that
/// dies mid-envelope, or a flood of chunks, costs bounded memory).
pub struct Reassembler {
    partial: HashMap<(String, u64), Partial>,
    bytes: usize,
    ttl: Duration,
    cap: usize,
}

impl Reassembler {
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            partial: HashMap::new(),
            bytes: 0,
            ttl,
            cap,
        }
    }

    /// Bytes held in partial envelopes.
    pub fn held(&self) -> usize {
        self.bytes
    }

    /// Takes one chunk; returns the envelope when it was the last missing piece.
    pub fn push(
        &mut self,
        node: &str,
        id: u64,
        index: usize,
        count: usize,
        text: &str,
        now: Instant,
    ) -> Option<String> {
        self.expire(now);
        if text.len() > self.cap {
            return None;
        }
        while self.bytes + text.len() > self.cap {
            let oldest = self
                .partial
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())?;
            self.drop_partial(&oldest);
        }
        let key = (node.to_owned(), id);
        let entry = self.partial.entry(key.clone()).or_insert_with(|| Partial {
            parts: vec![None; count],
            bytes: 0,
            started: now,
        });
        if entry.parts.len() != count || entry.parts[index].is_some() {
            // Not the envelope this key was started with: drop it whole.
            self.drop_partial(&key);
            return None;
        }
        entry.parts[index] = Some(text.to_owned());
        entry.bytes += text.len();
        self.bytes += text.len();
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.partial.remove(&key)?;
        self.bytes -= done.bytes;
        Some(done.parts.into_iter().flatten().collect())
    }

    fn drop_partial(&mut self, key: &(String, u64)) {
        if let Some(p) = self.partial.remove(key) {
            self.bytes -= p.bytes;
            metrics::counter!("missive_bus_partial_dropped_total").increment(1);
        }
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        let old: Vec<_> = self
            .partial
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        for key in old {
            self.drop_partial(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(frames: &[String]) -> Option<String> {
        let mut r = Reassembler::new(Duration::from_secs(5), 1 << 20);
        let now = Instant::now();
        let mut out = None;
        for f in frames {
            match parse(f).expect("a frame parses") {
                Frame::Whole(text) => out = Some(text.to_owned()),
                Frame::Chunk {
                    node,
                    id,
                    index,
                    count,
                    text,
                } => {
                    if let Some(done) = r.push(node, id, index, count, text, now) {
                        out = Some(done);
                    }
                }
            }
        }
        assert_eq!(r.held(), 0, "nothing is left behind");
        out
    }

    #[test]
    fn a_small_envelope_goes_whole() {
        let frames = split("n1", 1, r#"{"a":1}"#, MAX_NOTIFY_BYTES).unwrap();
        assert_eq!(frames, vec![r#"{"a":1}"#.to_owned()]);
        assert_eq!(parse(&frames[0]), Some(Frame::Whole(r#"{"a":1}"#)));
    }

    #[test]
    fn every_size_across_the_limit_fits_and_comes_back_whole() {
        // ASCII and multibyte text (2, 3 and 4 bytes a character) around every chunk boundary.
        for unit in ["a", "é", "€", "😀", "a😀é"] {
            for chars in (7_800 / unit.len())..(16_200 / unit.len()) {
                if chars % 7 != 0 {
                    continue; // a sample of lengths keeps the test fast
                }
                let payload = format!(
                    "{{\"b\":\"{}\"}}",
                    unit.repeat(chars / unit.chars().count().max(1))
                );
                let frames = split("node-x", 42, &payload, MAX_NOTIFY_BYTES).unwrap();
                assert!(frames.iter().all(|f| f.len() <= MAX_NOTIFY_BYTES));
                assert_eq!(reassemble(&frames).as_deref(), Some(payload.as_str()));
            }
        }
    }

    #[test]
    fn chunks_arrive_in_any_order_and_interleaved_with_another_envelope() {
        let a = "x".repeat(20_000);
        let b = "é".repeat(9_000);
        let fa = split("n1", 1, &a, 1_000).unwrap();
        let fb = split("n1", 2, &b, 1_000).unwrap();
        let mut r = Reassembler::new(Duration::from_secs(5), 1 << 20);
        let now = Instant::now();
        let mut done = Vec::new();
        let mut frames: Vec<&String> = fa.iter().rev().collect();
        frames.extend(fb.iter());
        frames.sort_by_key(|f| f.len() % 3);
        for f in frames {
            if let Some(Frame::Chunk {
                node,
                id,
                index,
                count,
                text,
            }) = parse(f)
                && let Some(envelope) = r.push(node, id, index, count, text, now)
            {
                done.push(envelope);
            }
        }
        done.sort_by_key(String::len);
        assert!(
            done == vec![b, a],
            "both envelopes come back whole, once each"
        );
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn partial_envelopes_expire_and_memory_stays_under_the_cap() {
        let mut r = Reassembler::new(Duration::from_secs(2), 5_000);
        let t0 = Instant::now();
        assert_eq!(r.push("n", 1, 0, 2, &"a".repeat(3_000), t0), None);
        assert_eq!(r.held(), 3_000);
        // Another partial would go over the cap: the oldest is dropped first.
        assert_eq!(r.push("n", 2, 0, 2, &"b".repeat(3_000), t0), None);
        assert_eq!(r.held(), 3_000);
        assert_eq!(
            r.push("n", 1, 1, 2, "z", t0),
            None,
            "envelope 1 was dropped"
        );
        // Past the ttl the rest goes.
        let later = t0 + Duration::from_secs(3);
        assert_eq!(r.push("n", 3, 0, 2, "c", later), None);
        assert_eq!(r.held(), 1);
        // A chunk larger than the cap is refused outright.
        assert_eq!(r.push("n", 4, 0, 1, &"d".repeat(6_000), later), None);
    }

    #[test]
    fn malformed_and_oversized_are_refused() {
        assert_eq!(parse("~n:1:2:2:x"), None, "index past count");
        assert_eq!(parse("~n:x:0:1:x"), None);
        assert_eq!(parse("~n:1:0:0:x"), None);
        assert_eq!(parse(&format!("~n:1:0:{}:x", MAX_CHUNKS + 1)), None);
        assert!(split("n", 1, &"x".repeat(MAX_CHUNKS * 100 + 1), 100).is_none());
        assert!(split("n", 1, "xxxxx", 3).is_none(), "no room for a header");
    }
}
