//! The rules of attachments, as pure functions: who may read one, which attachment lists a
//! message may carry, the file name kept as metadata, the `Content-Disposition` a download gets,
//! which types are shown inline, and the `Range` header of a download.

use super::{AttachmentId, Membership, Seq, rules};
use crate::error::AppError;

/// Most attachments on one message.
pub const MAX_PER_MESSAGE: usize = 10;

/// Longest kept file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// What an attachment is used for, as far as reading it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// Uploaded, not (yet) used: only the uploader reads it.
    Unused,
    /// Carried by the message at `seq` of a room; `member` is the reader's membership of it.
    Message {
        seq: Seq,
        member: Option<Membership>,
    },
    /// A user's profile picture: every signed-in user sees profiles.
    Avatar,
    /// A group's or channel's picture: its members see it; a channel's is public.
    RoomPicture { member: bool, channel: bool },
}

/// May a reader read an attachment? The uploader always (until it is deleted); anyone else as
/// the message, profile or room that carries it allows — for a message, a member past their
/// joining floor (`rules::read_floor`). Everyone else gets `not_found`.
pub fn may_read(is_uploader: bool, carrier: Carrier) -> bool {
    if is_uploader {
        return true;
    }
    match carrier {
        Carrier::Unused => false,
        Carrier::Message { seq, member } => member.is_some_and(|m| seq > rules::read_floor(&m)),
        Carrier::Avatar => true,
        Carrier::RoomPicture { member, channel } => member || channel,
    }
}

/// A send's attachment list: at most `MAX_PER_MESSAGE`, no id twice. A message with
/// attachments may have an empty body (no caption).
pub fn check_attachment_ids(ids: &[AttachmentId]) -> Result<(), AppError> {
    if ids.len() > MAX_PER_MESSAGE {
        return Err(AppError::invalid(format!(
            "at most {MAX_PER_MESSAGE} attachments per message"
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(AppError::invalid("an attachment is listed twice"));
        }
    }
    Ok(())
}

/// The file name as metadata: the last path component of what the client gave, without
/// control characters, at most `MAX_NAME_CHARS` characters; `file` when nothing is left. It is
/// never used as a path: objects are stored under their sha256.
pub fn file_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// The content type of a file, from its first bytes (`head`), never from the client: a
/// known signature (`infer`: images, HTML, PDF, archives, audio, video …), else UTF-8 text
/// without control characters but white space is `text/plain; charset=utf-8`, else
/// `application/octet-stream`.
pub fn sniff(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    // The head may end inside a character: only the complete ones count.
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return "application/octet-stream".to_owned(),
    };
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'));
    if plain {
        "text/plain; charset=utf-8".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// Types shown inline (what the server itself re-encoded); anything else is a download.
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/jpeg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// `Content-Disposition` for a download of `name`: `inline` for images the server re-encoded,
/// `attachment` for everything else; an ASCII `filename` (anything else replaced by `_`,
/// quotes and backslashes too) and the exact name as RFC 5987 `filename*`.
pub fn content_disposition(name: &str, inline: bool) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The byte range a `Range` header asks of a `size`-byte object: `Ok(None)` for the whole
/// object (no header, or one we do not serve: several ranges, another unit), `Ok(Some((first,
/// last)))` inclusive, `Err(())` when it cannot be satisfied (416).
#[allow(clippy::result_unit_err)]
pub fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        // The last `end` bytes.
        let n: u64 = end.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let first: u64 = start.parse().map_err(|_| ())?;
        let last = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        if first >= size || last < first {
            return Err(());
        }
        (first, last)
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, RoomKind};

    fn member(kind: RoomKind, joined: i64) -> Membership {
        Membership {
            kind,
            role: Role::Member,
            delivered_seq: Seq(0),
            read_seq: Seq(0),
            last_seq: Seq(20),
            joined_seq: Seq(joined),
            closed: false,
        }
    }

    #[test]
    fn who_reads_an_attachment() {
        let msg = |seq, member| Carrier::Message {
            seq: Seq(seq),
            member,
        };
        let table = [
            (true, Carrier::Unused, true),
            (false, Carrier::Unused, false),
            (false, msg(5, None), false),
            (false, msg(5, Some(member(RoomKind::Group, 4))), true),
            (false, msg(4, Some(member(RoomKind::Group, 4))), false),
            (false, msg(3, Some(member(RoomKind::Direct, 4))), false),
            (false, msg(3, Some(member(RoomKind::Channel, 4))), true),
            (true, msg(3, None), true),
            (false, Carrier::Avatar, true),
            (
                false,
                Carrier::RoomPicture {
                    member: false,
                    channel: false,
                },
                false,
            ),
            (
                false,
                Carrier::RoomPicture {
                    member: true,
                    channel: false,
                },
                true,
            ),
            (
                false,
                Carrier::RoomPicture {
                    member: false,
                    channel: true,
                },
                true,
            ),
        ];
        for (uploader, carrier, want) in table {
            assert_eq!(may_read(uploader, carrier), want, "{uploader} {carrier:?}");
        }
    }

    #[test]
    fn attachment_lists_are_short_and_distinct() {
        let ids = |v: &[i64]| v.iter().map(|&i| AttachmentId(i)).collect::<Vec<_>>();
        assert!(check_attachment_ids(&ids(&[])).is_ok());
        assert!(check_attachment_ids(&ids(&[1, 2, 3])).is_ok());
        assert!(check_attachment_ids(&ids(&[1, 2, 1])).is_err());
        assert!(check_attachment_ids(&ids(&(1..=10).collect::<Vec<_>>())).is_ok());
        assert!(check_attachment_ids(&ids(&(1..=11).collect::<Vec<_>>())).is_err());
    }

    #[test]
    fn file_names_are_metadata_never_paths() {
        let long = "é".repeat(300);
        let table = [
            (None, "file"),
            (Some(""), "file"),
            (Some("../../etc/passwd"), "passwd"),
            (Some("C:\\Users\\me\\photo.jpg"), "photo.jpg"),
            (Some("a\u{0}b\nc.txt"), "abc.txt"),
            (Some(".."), "file"),
            (Some("  report final.pdf "), "report final.pdf"),
        ];
        for (raw, want) in table {
            assert_eq!(file_name(raw), want, "{raw:?}");
        }
        assert_eq!(file_name(Some(&long)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn types_come_from_the_bytes() {
        let table: [(&[u8], &str); 7] = [
            (b"hello\nworld", "text/plain; charset=utf-8"),
            ("h\u{e9}llo".as_bytes(), "text/plain; charset=utf-8"),
            (&[b'a', 0xc3], "text/plain; charset=utf-8"),
            (b"<!DOCTYPE html><html></html>", "text/html"),
            (b"%PDF-1.7\n", "application/pdf"),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
            (&[0, 1, 2, 0xff, 0xfe], "application/octet-stream"),
        ];
        for (head, want) in table {
            assert_eq!(sniff(head), want, "{head:?}");
        }
    }

    #[test]
    fn dispositions_have_an_ascii_name_and_the_exact_one() {
        assert_eq!(
            content_disposition("a b.txt", false),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("é\"\\;.png", true),
            "inline; filename=\"___;.png\"; filename*=UTF-8''%C3%A9%22%5C%3B.png"
        );
        assert!(!content_disposition("x\r\ny", false).contains('\n'));
    }

    #[test]
    fn ranges_of_a_download() {
        type Case<'a> = (Option<&'a str>, u64, Result<Option<(u64, u64)>, ()>);
        let table: [Case<'_>; 12] = [
            (None, 10, Ok(None)),
            (Some("bytes=0-3"), 10, Ok(Some((0, 3)))),
            (Some("bytes=5-"), 10, Ok(Some((5, 9)))),
            (Some("bytes=-4"), 10, Ok(Some((6, 9)))),
            (Some("bytes=-40"), 10, Ok(Some((0, 9)))),
            (Some("bytes=8-100"), 10, Ok(Some((8, 9)))),
            (Some("bytes=10-"), 10, Err(())),
            (Some("bytes=5-2"), 10, Err(())),
            (Some("bytes=x-2"), 10, Err(())),
            (Some("bytes=-0"), 10, Err(())),
            (Some("bytes=0-1,4-5"), 10, Ok(None)),
            (Some("items=0-1"), 10, Ok(None)),
        ];
        for (header, size, want) in table {
            assert_eq!(byte_range(header, size), want, "{header:?}");
        }
    }
}
