//! The wire objects of privacy and safety (`docs/protocol.md` §13): a user's privacy settings,
//! group invite links and join requests, channel directory entries, reports and the
//! moderation audit log. Who may do what with them is in `rules`.

use serde::{Deserialize, Serialize};

use super::rules::{Audience, GroupAdd};
use super::{RoomId, Seq, User, UserId, time_ms};

/// `PrivacySettings`: what a user shares; the defaults apply until they change one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PrivacySettings {
    pub last_seen: Audience,
    pub read_receipts: bool,
    pub group_add: GroupAdd,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            last_seen: Audience::Contacts,
            read_receipts: true,
            group_add: GroupAdd::Everyone,
        }
    }
}

/// `PATCH /api/me/privacy` and `privacy:set`: the fields to change.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyChange {
    pub last_seen: Option<Audience>,
    pub read_receipts: Option<bool>,
    pub group_add: Option<GroupAdd>,
}

impl PrivacySettings {
    pub fn apply(mut self, c: &PrivacyChange) -> Self {
        if let Some(v) = c.last_seen {
            self.last_seen = v;
        }
        if let Some(v) = c.read_receipts {
            self.read_receipts = v;
        }
        if let Some(v) = c.group_add {
            self.group_add = v;
        }
        self
    }
}

/// `block:updated`: the user's own devices learn of a block or unblock.
#[derive(Clone, Debug, Serialize)]
pub struct BlockChange {
    pub user_id: UserId,
    pub blocked: bool,
}

/// `Invite`: a group invite link, as its owners and admins see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Invite {
    pub token: String,
    pub room_id: RoomId,
    pub created_by: UserId,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub approval: bool,
}

/// `InvitePreview`: what anyone holding a live link sees before joining.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InvitePreview {
    pub room_id: RoomId,
    pub name: String,
    pub members_count: i64,
    pub approval: bool,
}

/// `JoinRequest`: someone asked to join by a link that needs approval.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct JoinRequest {
    pub room_id: RoomId,
    pub user: User,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// `Channel`: an entry of the public channel directory.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelEntry {
    pub id: RoomId,
    pub name: String,
    pub description: String,
    pub followers_count: i64,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// `Report`: a user's report of a message or a user, as operators see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub id: String,
    pub reporter_id: UserId,
    pub target_user_id: UserId,
    pub room_id: Option<RoomId>,
    pub seq: Option<Seq>,
    /// The message's body when it was reported (operators only).
    pub message_body: Option<String>,
    pub reason: String,
    pub status: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "time_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<UserId>,
}

/// `AuditEntry`: one moderation action.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: UserId,
    /// `ban`, `unban`, `delete_message`, `resolve_report`, `disconnect_device`,
    /// `logout_everywhere`, `reset_password`, `close_room`, `reopen_room`.
    pub action: String,
    pub target_user_id: Option<UserId>,
    pub room_id: Option<RoomId>,
    pub seq: Option<Seq>,
    pub report_id: Option<String>,
    pub detail: String,
    #[serde(with = "time_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}
