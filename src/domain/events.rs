//! Every server→client Socket.IO event and its payload, in one typed list. Nothing emits an
//! event that is not a variant here, and `docs/protocol.md` documents each (a test checks).

use serde::Serialize;

use super::operator::ClusterStats;
use super::privacy::{BlockChange, PrivacySettings, Report};
use super::push::{Mute, Unmuted};
use super::{Hidden, Message, Presence, Room, RoomId, Seq, User, UserId};

/// Declares the event enum with each variant's wire name, so a name is written once.
macro_rules! server_events {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty) = $name:literal, )*) => {
        /// A server→client event; serialises as its payload alone.
        #[derive(Clone, Debug, Serialize)]
        #[serde(untagged)]
        pub enum ServerEvent {
            $( $(#[$doc])* $variant($payload), )*
        }

        impl ServerEvent {
            /// Every event name the server emits.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The Socket.IO event name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $name, )*
                }
            }
        }
    };
}

server_events! {
    /// To a socket once it is authenticated.
    Session(SessionInfo) = "session",
    /// A new entry of a room's stream, to every socket of every member.
    Message(Message) = "message",
    /// A catch-up batch (emitted with an ack callback).
    Sync(SyncBatch) = "sync",
    /// Catch-up finished.
    Synced(Synced) = "synced",
    /// A member's cursors moved (direct rooms and groups).
    Receipt(Receipt) = "receipt",
    /// A member started or stopped typing (to the other members).
    Typing(Typing) = "typing",
    /// A contact came online or went offline.
    Presence(Presence) = "presence",
    /// A room's shared state changed (no caller's own fields).
    RoomUpdated(Room) = "room:updated",
    /// The user left or was removed from a room.
    RoomRemoved(RoomRemoved) = "room:removed",
    /// A contact (or the user) changed their profile.
    UserUpdated(User) = "user:updated",
    /// The user hid a message ("delete for me"), to the user's own sockets.
    MessageHidden(Hidden) = "message:hidden",
    /// Once a second on `/admin`.
    Stats(ClusterStats) = "stats",
    /// The user muted a room, to the user's own sockets (mutes are shared by their devices).
    RoomMuted(Mute) = "room:muted",
    /// The user unmuted a room, to the user's own sockets.
    RoomUnmuted(Unmuted) = "room:unmuted",
    /// The user blocked or unblocked someone, to the user's own sockets.
    BlockUpdated(BlockChange) = "block:updated",
    /// The user changed their privacy settings, to the user's own sockets.
    PrivacyUpdated(PrivacySettings) = "privacy:updated",
    /// A new report, to operators on `/admin`.
    ReportNew(Report) = "report:new",
}

#[derive(Clone, Debug, Serialize)]
pub struct SessionInfo {
    pub user: User,
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncBatch {
    pub room_id: RoomId,
    pub messages: Vec<Message>,
    pub has_more: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Synced {
    /// Rooms that had entries to send.
    pub rooms: u64,
    /// Entries sent.
    pub messages: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Receipt {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub delivered_seq: Seq,
    pub read_seq: Seq,
}

#[derive(Clone, Debug, Serialize)]
pub struct Typing {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub typing: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoomRemoved {
    pub room_id: RoomId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serialises_as_its_payload_alone() {
        let e = ServerEvent::RoomRemoved(RoomRemoved { room_id: RoomId(7) });
        assert_eq!(e.name(), "room:removed");
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"room_id":"7"}"#);
    }

    #[test]
    fn event_names_are_unique() {
        let mut names = ServerEvent::NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ServerEvent::NAMES.len());
    }
}
