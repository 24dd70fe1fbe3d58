//! The vocabulary of Missive: typed ids and stream positions (`Seq`), validated inputs
//! (`Username::parse`, `check_body`), a caller's `Membership`, and the wire objects of
//! `docs/protocol.md` exactly as clients see them.
//!
//! Ids are integers inside and opaque strings on the wire; times are milliseconds inside and
//! RFC 3339 strings with milliseconds on the wire. Submodules: `rules` (who may do what, as pure
//! functions over a `Membership`) and `events` (every server→client event and its payload).

pub mod events;
pub mod media;
pub mod operator;
pub mod privacy;
pub mod push;
pub mod rules;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::AppError;

/// The id no row ever has (rows are numbered from 1).
pub const NO_ID: i64 = -1;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// On the wire an id is a string of digits (the OpenAPI document says so).
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[0-9]+$"))
                    .examples([serde_json::json!("42")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// Accepts the string form (the contract) and, leniently, a bare integer. Ids are
            /// opaque strings to clients, so a string that is not one of ours names nothing:
            /// it becomes an id no row has, and the caller answers `not_found` as for any
            /// other unknown id, with no hint about the format.
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    S(String),
                    I(i64),
                }
                Ok(match Raw::deserialize(d)? {
                    Raw::I(i) => Self(i),
                    Raw::S(s) => s.parse().map(Self).unwrap_or(Self(NO_ID)),
                })
            }
        }

        impl std::str::FromStr for $name {
            type Err = AppError;
            fn from_str(s: &str) -> Result<Self, AppError> {
                // An id that cannot exist is simply not found: no hint about the id format.
                s.parse().map(Self).map_err(|_| AppError::NotFound)
            }
        }
    };
}

id_type!(
    /// A user's stable id.
    UserId
);
id_type!(
    /// A room's id (direct, group or channel).
    RoomId
);
id_type!(
    /// A stored message's id.
    MessageId
);
id_type!(
    /// An uploaded attachment's id.
    AttachmentId
);

/// A position in a room's stream: entries are numbered 1, 2, 3 … with no gap, in commit order;
/// 0 is "before the first entry". An integer on the wire.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Seq(pub i64);

impl Seq {
    /// Before the first entry.
    pub const ZERO: Seq = Seq(0);

    /// The entry after this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Serialises a millisecond timestamp as an RFC 3339 UTC string with milliseconds.
pub mod time_ms {
    use chrono::{DateTime, SecondsFormat};
    use serde::Serializer;

    pub fn format(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*ms))
    }

    /// Reads back what `serialize` wrote (the nodes' reports stored as JSON).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.timestamp_millis())
            .map_err(serde::de::Error::custom)
    }

    /// For `Option<i64>` fields.
    pub mod option {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::format(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}

/// A username: 3–32 of `a-z 0-9 _ . -`, upper case folded to lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim().to_lowercase();
        let len = name.chars().count();
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if !(3..=32).contains(&len) || !ok_chars {
            return Err(AppError::invalid(
                "username must be 3 to 32 characters of a-z, 0-9, '_', '.' or '-'",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a password's length in characters (8–1024).
pub fn check_password(password: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    if !(8..=1024).contains(&len) {
        return Err(AppError::invalid("password must be 8 to 1024 characters"));
    }
    Ok(())
}

/// A display name: 1–64 characters after trimming, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let len = name.chars().count();
    if !(1..=64).contains(&len) || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "display_name must be 1 to 64 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A room name: 1–100 characters after trimming, no control characters.
pub fn parse_room_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let len = name.chars().count();
    if !(1..=100).contains(&len) || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name must be 1 to 100 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks a message body: 1 to `max_chars` Unicode scalar values, not only white space.
pub fn check_body(body: &str, max_chars: usize) -> Result<(), AppError> {
    if body.trim().is_empty() {
        return Err(AppError::invalid("body must not be empty"));
    }
    if body.contains('\0') {
        return Err(AppError::invalid("body must not contain NUL characters"));
    }
    if body.chars().count() > max_chars {
        return Err(AppError::invalid(format!(
            "body is longer than {max_chars} characters"
        )));
    }
    Ok(())
}

/// Checks a client-chosen idempotency key: 1–64 characters.
pub fn check_client_id(client_id: &str) -> Result<(), AppError> {
    let len = client_id.chars().count();
    if !(1..=64).contains(&len) || client_id.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "client_id must be 1 to 64 characters, none a control character",
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Direct,
    Group,
    Channel,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
            Self::Channel => "channel",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "direct" => Self::Direct,
            "group" => Self::Group,
            _ => Self::Channel,
        }
    }

    /// Receipts, presence and typing go to members of direct rooms and groups, not channels:
    /// a channel costs O(1) per message however many follow it.
    pub fn is_conversation(self) -> bool {
        !matches!(self, Self::Channel)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }

    /// Owners and admins add, remove, rename and (in channels) post.
    pub fn is_admin(self) -> bool {
        self >= Self::Admin
    }
}

/// `docs/protocol.md` `User`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// The profile picture (an image attachment), if set.
    pub avatar: Option<Box<Attachment>>,
}

/// `docs/protocol.md` `Attachment`: an uploaded file as messages, profiles and rooms carry it.
/// The bytes are fetched with `GET /api/attachments/{id}` (see `docs/protocol.md`,
/// "Attachments"); this is only what describes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    /// The file name the uploader gave (metadata only).
    pub name: String,
    /// Sniffed from the bytes, never taken from the client.
    pub content_type: String,
    /// Bytes, as stored (an image re-encoded without its metadata).
    pub size: i64,
    /// Hex SHA-256 of the stored bytes: the download's `ETag`.
    pub sha256: String,
    /// Images only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Images only: a tiny placeholder to paint before the image arrives (blurhash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blurhash: Option<String>,
    /// Whether `GET /api/attachments/{id}/thumbnail` has a small version (images only).
    #[serde(default)]
    pub thumbnail: bool,
}

/// `docs/protocol.md` `Presence`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Presence {
    pub user_id: UserId,
    pub online: bool,
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<i64>,
}

/// `docs/protocol.md` `Message`: an entry of a room's stream. Messages people read (`text`,
/// `system`) show their current state (edited body, tombstone, reactions); change entries
/// (`edit`, `delete`, `reaction`) point at the message they changed with `target_seq`.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<Seq>,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// For change entries: the message they change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_seq: Option<Seq>,
    /// For a message: the seq of the last change entry applied to it. A client applies a change
    /// entry only when its seq is above this (the state it holds already includes the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_seq: Option<Seq>,
    #[serde(with = "time_ms::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<i64>,
    /// Deleted for everyone: the body is erased; this is a tombstone.
    #[serde(with = "time_ms::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<UserId>,
    /// Posted by `message:forward` (the original room is not revealed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
    /// A message's reactions as its reader sees them (in history, catch-up, the room list and
    /// search; not in live entries, which carry each change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Hidden by the reader ("delete for me"); only in what that reader is sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Files sent with the message (its `body` is then an optional caption).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A message hidden by its reader ("delete for me"), numbered so that a device can ask for the
/// ones it has not seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Hidden {
    pub id: i64,
    pub room_id: RoomId,
    pub seq: Seq,
}

/// One emoji's reactions to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Whether the reader is one of them.
    pub me: bool,
    /// Who reacted (direct rooms and groups only; a channel's followers stay private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ids: Option<Vec<UserId>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Text,
    System,
    Edit,
    Delete,
    Reaction,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::System => "system",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Reaction => "reaction",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "system" => Self::System,
            "edit" => Self::Edit,
            "delete" => Self::Delete,
            "reaction" => Self::Reaction,
            _ => Self::Text,
        }
    }

    /// A message people read, as opposed to an entry that changes one.
    pub fn is_message(self) -> bool {
        matches!(self, Self::Text | Self::System)
    }
}

/// The words full-text search indexes and looks for: lower case, split at anything that is not
/// a letter or digit, joined by single spaces. Both databases index this text, so both find the
/// same messages; a query is reduced the same way, so no search syntax ever reaches them.
pub fn search_words(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reaction: one emoji (👍, ❤️, 👨‍👩‍👧, 🇫🇷 …): at most 10 characters and 32 bytes, no
/// letters, digits, spaces or ASCII, and at least one pictograph.
pub fn check_emoji(emoji: &str) -> Result<(), AppError> {
    let ok = !emoji.is_empty()
        && emoji.len() <= 32
        && emoji.chars().count() <= 10
        && emoji.chars().all(|c| {
            !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control() && !c.is_ascii()
        })
        && emoji.chars().any(is_pictographic);
    if !ok {
        return Err(AppError::invalid("emoji must be one emoji"));
    }
    Ok(())
}

/// Characters of the Unicode blocks emoji come from (pictographs, symbols, dingbats, flags).
fn is_pictographic(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF | 0x2900..=0x297F | 0x25A0..=0x25FF | 0x3030 | 0x303D | 0x3297
        | 0x3299 | 0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x24C2)
}

/// A caller's membership of a room: what every rule in [`rules`] decides from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub kind: RoomKind,
    pub role: Role,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
    /// The room's stream end.
    pub last_seq: Seq,
    /// The room's stream end when this member joined (see [`rules::read_floor`]).
    pub joined_seq: Seq,
    /// An operator closed the room (see [`rules::may_post`] and [`rules::may_join`]).
    pub closed: bool,
}

/// The caller's own view of a room: role, cursors and unread count.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MyView {
    pub my_role: Role,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
    pub unread_count: i64,
}

/// `docs/protocol.md` `Room`. Without `me` it is the shared form sent in `room:updated`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    pub owner_id: Option<UserId>,
    pub max_members: Option<i64>,
    pub members_count: i64,
    pub last_seq: Seq,
    /// When an operator closed the channel (`null` while open): read-only from then on.
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<i64>,
    pub last_message: Option<Message>,
    /// Set by the owner and admins (groups and channels); empty when none.
    pub description: String,
    /// The group's or channel's picture (an image attachment), if set.
    pub picture: Option<Box<Attachment>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub me: Option<MyView>,
    /// Only in `GET /api/rooms/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

/// `docs/protocol.md` `Member`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: i64,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
    pub online: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_to_lower_case_and_reject_other_characters() {
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("a".repeat(33).as_str()).is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("élan").is_err());
        assert!(Username::parse("a.b-c_1").is_ok());
    }

    #[test]
    fn bodies_are_counted_in_characters_not_bytes() {
        assert!(check_body("ééé", 3).is_ok());
        assert!(check_body("éééé", 3).is_err());
        assert!(check_body("   ", 3).is_err());
    }

    #[test]
    fn ids_are_strings_on_the_wire() {
        assert_eq!(serde_json::to_string(&UserId(7)).unwrap(), "\"7\"");
        let id: RoomId = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(id, RoomId(42));
        assert_eq!(
            serde_json::from_str::<RoomId>("\"x\"").unwrap(),
            RoomId(NO_ID)
        );
        assert!(serde_json::from_str::<RoomId>("true").is_err());
    }

    #[test]
    fn search_words_are_lower_case_alphanumeric_runs() {
        let table = [
            ("Hello, World!", "hello world"),
            ("don't stop", "don t stop"),
            ("a.b@c.com  x", "a b c com x"),
            ("Ünïcode ÉCOLE 42", "ünïcode école 42"),
            ("  *** ", ""),
            ("日本語 text", "日本語 text"),
        ];
        for (text, want) in table {
            assert_eq!(search_words(text), want, "{text:?}");
        }
    }

    #[test]
    fn a_reaction_is_one_emoji() {
        for ok in ["👍", "❤️", "👨‍👩‍👧", "🇫🇷", "😂"] {
            assert!(check_emoji(ok).is_ok(), "{ok}");
        }
        let too_many = "👍".repeat(11);
        for bad in [
            "",
            "a",
            "ok",
            "👍 ",
            "<script>",
            too_many.as_str(),
            "\u{0}",
            "é",
        ] {
            assert!(check_emoji(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_have_milliseconds() {
        assert_eq!(
            time_ms::format(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
