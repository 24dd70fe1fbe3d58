//! Who may do what in a room, as pure functions over the caller's [`Membership`] (and, where it
//! matters, the other member's role). The store's batch check, the chat operations and the
//! socket handlers all ask these; none of them repeats a rule.
//!
//! A caller who is not a member gets `not_found` from the chat layer before any rule is asked
//! (no existence leak); these functions decide between members.

use super::{Membership, Message, MessageKind, Role, RoomKind, Seq, UserId};
use crate::error::AppError;

/// Entries up to this seq are not the member's to read: in direct rooms and groups a member
/// reads only what came after they joined (as in WhatsApp); channels are public.
pub fn read_floor(m: &Membership) -> Seq {
    if m.kind == RoomKind::Channel {
        Seq::ZERO
    } else {
        m.joined_seq
    }
}

/// May this member append an entry of `kind`? In a channel only the owner and admins write.
/// Nobody writes into a closed channel: no message, edit or reaction. Deletes stay possible
/// (its owner, admins and operators still clean up), and so do the system entries of leaving.
pub fn may_post(m: &Membership, kind: MessageKind) -> Result<(), AppError> {
    if m.closed
        && matches!(
            kind,
            MessageKind::Text | MessageKind::Edit | MessageKind::Reaction
        )
    {
        return Err(AppError::forbidden(
            "this channel was closed by an operator: nothing more can be posted",
        ));
    }
    if m.kind == RoomKind::Channel && !m.role.is_admin() && kind == MessageKind::Text {
        return Err(AppError::forbidden(
            "only the channel's owner and admins post",
        ));
    }
    Ok(())
}

/// A reply must point at an entry that exists in the room.
pub fn check_reply_to(m: &Membership, reply_to: Option<Seq>) -> Result<(), AppError> {
    match reply_to {
        Some(r) if !(1..=m.last_seq.0).contains(&r.0) => {
            Err(AppError::invalid("reply_to is not a message of this room"))
        }
        _ => Ok(()),
    }
}

/// Owners and admins rename groups and channels; a direct room has no name.
pub fn may_rename(m: &Membership) -> Result<(), AppError> {
    if m.kind == RoomKind::Direct {
        return Err(AppError::forbidden("a direct room has no name"));
    }
    if m.closed {
        return Err(AppError::forbidden(
            "this channel was closed by an operator: it cannot be renamed",
        ));
    }
    if !m.role.is_admin() {
        return Err(AppError::forbidden("only the owner and admins rename"));
    }
    Ok(())
}

/// May `actor` (None: not a member) add someone to a room of `kind`? Anyone follows a channel
/// (`adding_self`); otherwise owners and admins add, and a direct room never grows.
pub fn may_add(
    actor: Option<&Membership>,
    kind: RoomKind,
    adding_self: bool,
) -> Result<(), AppError> {
    if kind == RoomKind::Channel && adding_self {
        return Ok(());
    }
    let actor = actor.ok_or(AppError::NotFound)?;
    if actor.kind == RoomKind::Direct {
        return Err(AppError::forbidden("a direct room has exactly two members"));
    }
    if !actor.role.is_admin() {
        return Err(AppError::forbidden("only the owner and admins add members"));
    }
    Ok(())
}

/// May anyone join a room (follow it, be added, come in by a link or an approved request)?
/// Not once an operator closed it: its followers keep reading, nobody new arrives.
pub fn may_join(closed: bool) -> Result<(), AppError> {
    if closed {
        return Err(AppError::forbidden(
            "this channel was closed by an operator: it takes no new followers",
        ));
    }
    Ok(())
}

/// May an operator close (`close`) or reopen (`!close`) a room of `kind` that is `closed` now?
/// Only channels are closed (a group belongs to its members; an operator bans or deletes
/// there); closing a closed channel, or reopening an open one, is a `conflict`.
pub fn may_close(kind: RoomKind, closed: bool, close: bool) -> Result<(), AppError> {
    if kind != RoomKind::Channel {
        return Err(AppError::invalid("only channels can be closed"));
    }
    match (closed, close) {
        (true, true) => Err(AppError::conflict("the channel is already closed")),
        (false, false) => Err(AppError::conflict("the channel is not closed")),
        _ => Ok(()),
    }
}

/// Only a group's or channel's owner changes roles, never its own, and only to admin or member.
pub fn may_set_role(actor: &Membership, target: Role, new_role: Role) -> Result<(), AppError> {
    if new_role == Role::Owner {
        return Err(AppError::invalid("role must be admin or member"));
    }
    if actor.kind == RoomKind::Direct || actor.role != Role::Owner {
        return Err(AppError::forbidden("only the owner changes roles"));
    }
    if target == Role::Owner {
        return Err(AppError::forbidden("the owner's role cannot be changed"));
    }
    Ok(())
}

/// May `actor` remove a member whose role is `target` (`None`: the actor leaves)? Anyone leaves
/// a group or channel; the owner removes anyone; an admin removes plain members.
pub fn may_remove(actor: &Membership, target: Option<Role>) -> Result<(), AppError> {
    if actor.kind == RoomKind::Direct {
        return Err(AppError::forbidden("a direct room cannot be left"));
    }
    let Some(target) = target else {
        return Ok(());
    };
    let allowed =
        actor.role == Role::Owner || (actor.role == Role::Admin && target == Role::Member);
    if !allowed {
        return Err(AppError::forbidden(
            "only the owner removes admins; admins remove members",
        ));
    }
    Ok(())
}

/// Does joining or leaving write a system entry? Channels stay O(1) per follower: following
/// and unfollowing write none; an owner or admin leaving does.
pub fn membership_change_is_recorded(kind: RoomKind, role: Role) -> bool {
    kind != RoomKind::Channel || role.is_admin()
}

/// Does this member see the whole member list? Everyone in a conversation; in a channel only
/// its owner and admins (followers see who runs it, not who follows it).
pub fn sees_all_members(m: &Membership) -> bool {
    m.kind.is_conversation() || m.role.is_admin()
}

/// Are receipts, typing and presence shared in this room? Not in channels, where many read.
pub fn shares_activity(kind: RoomKind) -> bool {
    kind.is_conversation()
}

/// Where catch-up starts for a room: the device's own cursor if it gave one, else the user's
/// delivered cursor; never below what the member may read, never past the end.
pub fn catch_up_from(requested: Option<Seq>, m: &Membership) -> Seq {
    let start = requested.unwrap_or(m.delivered_seq);
    let floor = read_floor(m).min(m.last_seq);
    start.clamp(floor, m.last_seq)
}

/// May `user` change the body of `target` at `now` (milliseconds)? Only the sender, only a text
/// message that still exists, and only within `window_ms` of sending it.
pub fn may_edit(target: &Message, user: UserId, now: i64, window_ms: i64) -> Result<(), AppError> {
    if target.kind != MessageKind::Text {
        return Err(AppError::invalid("only text messages can be edited"));
    }
    if target.deleted_at.is_some() {
        return Err(AppError::invalid("the message was deleted"));
    }
    if target.sender_id != user {
        return Err(AppError::forbidden("only the sender edits a message"));
    }
    if now - target.created_at > window_ms {
        return Err(AppError::forbidden(
            "the time to edit this message has passed",
        ));
    }
    Ok(())
}

/// May this member delete `target` for everyone at `now`? The sender within `window_ms`; a
/// group's or channel's owner and admins at any time (moderation).
pub fn may_delete(
    m: &Membership,
    target: &Message,
    user: UserId,
    now: i64,
    window_ms: i64,
) -> Result<(), AppError> {
    if target.kind != MessageKind::Text {
        return Err(AppError::invalid("only text messages can be deleted"));
    }
    if m.kind != RoomKind::Direct && m.role.is_admin() {
        return Ok(());
    }
    if target.sender_id != user {
        return Err(AppError::forbidden(
            "only the sender, or the owner and admins of a group, delete a message",
        ));
    }
    if now - target.created_at > window_ms {
        return Err(AppError::forbidden(
            "the time to delete this message for everyone has passed",
        ));
    }
    Ok(())
}

/// May anyone react to `target`? Only to a text message that still exists (any member may
/// react, channel followers too).
pub fn may_react(target: &Message) -> Result<(), AppError> {
    if target.kind != MessageKind::Text {
        return Err(AppError::invalid(
            "only messages people wrote take reactions",
        ));
    }
    if target.deleted_at.is_some() {
        return Err(AppError::invalid("the message was deleted"));
    }
    Ok(())
}

/// One reaction per member per message: choosing another replaces it, the same one again
/// removes it. Returns the reaction after the choice.
pub fn next_reaction(current: Option<&str>, chosen: &str) -> Option<String> {
    match current {
        Some(c) if c == chosen => None,
        _ => Some(chosen.to_owned()),
    }
}

/// A page's size: `default` when not given, at most `max` (larger is clamped), at least 1.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, AppError> {
    match limit {
        None => Ok(default),
        Some(l) if l < 1 => Err(AppError::invalid("limit must be at least 1")),
        Some(l) => Ok(l.min(max)),
    }
}

/// Who sees a user's online status and last seen (`PrivacySettings::last_seen`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Anyone signed in, strangers included.
    Everyone,
    /// People who share a direct room or a group with the user (never a channel). The default.
    Contacts,
    Nobody,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::Contacts => "contacts",
            Self::Nobody => "nobody",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "everyone" => Self::Everyone,
            "nobody" => Self::Nobody,
            _ => Self::Contacts,
        }
    }
}

/// Who may add a user to groups (`PrivacySettings::group_add`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupAdd {
    Everyone,
    /// People who share a direct room or a group with the user.
    Contacts,
}

impl GroupAdd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::Contacts => "contacts",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "contacts" => Self::Contacts,
            _ => Self::Everyone,
        }
    }
}

/// May `viewer` see `subject`'s presence and last seen? Always their own; never across a block
/// (either way); otherwise as the subject chose. `shares_conversation`: they share a direct
/// room or a group (channels do not count).
pub fn sees_presence(
    subject_setting: Audience,
    is_self: bool,
    shares_conversation: bool,
    blocked_either_way: bool,
) -> bool {
    if is_self {
        return true;
    }
    if blocked_either_way {
        return false;
    }
    match subject_setting {
        Audience::Everyone => true,
        Audience::Contacts => shares_conversation,
        Audience::Nobody => false,
    }
}

/// Typing, receipts, presence events and profile changes: nothing flows between two users once
/// either blocks the other, in any room.
pub fn activity_flows(blocked_either_way: bool) -> bool {
    !blocked_either_way
}

/// May a direct message be sent between two users? Not once either blocks the other (as in
/// WhatsApp, the blocker unblocks first).
pub fn may_message_directly(blocked_by_other: bool, blocking_other: bool) -> Result<(), AppError> {
    if blocked_by_other {
        return Err(AppError::forbidden(
            "this user does not accept your messages",
        ));
    }
    if blocking_other {
        return Err(AppError::forbidden(
            "you block this user: unblock them first",
        ));
    }
    Ok(())
}

/// May `actor` add `target` to a group (at creation or later)? Not if `target` blocks the
/// actor, nor when `target` accepts only contacts and the actor is not one. Joining oneself
/// (a channel, an invite link) is the user's own choice.
pub fn may_add_to_group(
    target_setting: GroupAdd,
    adding_self: bool,
    actor_is_contact: bool,
    target_blocks_actor: bool,
) -> Result<(), AppError> {
    if adding_self {
        return Ok(());
    }
    if target_blocks_actor {
        return Err(AppError::forbidden("this user cannot be added by you"));
    }
    if target_setting == GroupAdd::Contacts && !actor_is_contact {
        return Err(AppError::forbidden(
            "this user accepts group invitations from contacts only",
        ));
    }
    Ok(())
}

/// Do read positions flow between the two members of a direct room? Off on either side turns
/// them off both ways (as in WhatsApp); groups always share them.
pub fn read_receipts_flow(kind: RoomKind, mine_on: bool, theirs_on: bool) -> bool {
    kind != RoomKind::Direct || (mine_on && theirs_on)
}

/// Shortest user-search query: shorter ones return nothing, so the user list cannot be walked.
pub const USER_SEARCH_MIN_CHARS: usize = 3;

/// The username prefix a user search looks for, or `None` (an empty answer) when the query is
/// shorter than [`USER_SEARCH_MIN_CHARS`] or longer than any username.
pub fn user_search_prefix(q: &str) -> Option<String> {
    let q = q.trim().to_lowercase();
    let n = q.chars().count();
    (USER_SEARCH_MIN_CHARS..=32).contains(&n).then_some(q)
}

/// A page size for user search and the channel directory: 20 by default, at most 50.
pub fn directory_limit(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(20),
        Some(l) if l < 1 => Err(AppError::invalid("limit must be at least 1")),
        Some(l) => Ok(l.min(50)),
    }
}

/// Owners and admins manage a group's invite links and join requests; channels are public and
/// direct rooms closed, so neither has links.
pub fn may_manage_invites(m: &Membership) -> Result<(), AppError> {
    if m.kind != RoomKind::Group {
        return Err(AppError::forbidden("invite links are for groups"));
    }
    if !m.role.is_admin() {
        return Err(AppError::forbidden(
            "only the owner and admins manage invite links",
        ));
    }
    Ok(())
}

/// Is an invite link usable at `now`? A revoked, expired or used-up link is `not_found`, like a
/// token that never existed.
pub fn invite_usable(
    revoked: bool,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
    uses: i64,
    now: i64,
) -> Result<(), AppError> {
    if revoked || expires_at.is_some_and(|e| e <= now) || max_uses.is_some_and(|m| uses >= m) {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// A report's reason: 1 to 500 characters after trimming, no control character.
pub fn report_reason(raw: &str) -> Result<String, AppError> {
    let r = raw.trim();
    if r.is_empty() || r.chars().count() > 500 || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            "reason must be 1 to 500 characters, no control characters",
        ));
    }
    Ok(r.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoomKind::{Channel, Direct, Group};

    fn m(kind: RoomKind, role: Role) -> Membership {
        Membership {
            kind,
            role,
            delivered_seq: Seq(3),
            read_seq: Seq(2),
            last_seq: Seq(10),
            joined_seq: Seq(4),
            closed: false,
        }
    }

    fn closed(kind: RoomKind, role: Role) -> Membership {
        Membership {
            closed: true,
            ..m(kind, role)
        }
    }

    fn code<T>(r: Result<T, AppError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn members_read_from_when_they_joined_except_in_channels() {
        for (kind, floor) in [(Direct, 4), (Group, 4), (Channel, 0)] {
            assert_eq!(read_floor(&m(kind, Role::Member)), Seq(floor), "{kind:?}");
        }
    }

    #[test]
    fn only_channel_admins_post_in_channels() {
        let table = [
            (Direct, Role::Member, MessageKind::Text, "ok"),
            (Group, Role::Member, MessageKind::Text, "ok"),
            (Channel, Role::Member, MessageKind::Text, "forbidden"),
            (Channel, Role::Member, MessageKind::System, "ok"),
            (Channel, Role::Admin, MessageKind::Text, "ok"),
            (Channel, Role::Owner, MessageKind::Text, "ok"),
        ];
        for (kind, role, entry, want) in table {
            assert_eq!(
                code(may_post(&m(kind, role), entry)),
                want,
                "{kind:?} {role:?} {entry:?}"
            );
        }
    }

    #[test]
    fn nobody_writes_into_a_closed_channel_but_deletes_and_leaving_remain() {
        use MessageKind::{Delete, Edit, Reaction, System, Text};
        let table = [
            (Role::Owner, Text, "forbidden"),
            (Role::Admin, Text, "forbidden"),
            (Role::Member, Text, "forbidden"),
            (Role::Owner, Edit, "forbidden"),
            (Role::Member, Reaction, "forbidden"),
            (Role::Admin, Reaction, "forbidden"),
            (Role::Owner, Delete, "ok"),
            (Role::Admin, Delete, "ok"),
            (Role::Owner, System, "ok"),
            (Role::Member, System, "ok"),
        ];
        for (role, entry, want) in table {
            assert_eq!(
                code(may_post(&closed(Channel, role), entry)),
                want,
                "{role:?} {entry:?}"
            );
            // The same entries in the open channel: only the follower's text is refused.
            let open = if role == Role::Member && entry == Text {
                "forbidden"
            } else {
                "ok"
            };
            assert_eq!(code(may_post(&m(Channel, role), entry)), open);
        }
        let refusal = may_post(&closed(Channel, Role::Owner), Text).unwrap_err();
        assert!(refusal.to_string().contains("closed"), "{refusal}");
    }

    #[test]
    fn a_closed_channel_takes_no_one_new_and_keeps_its_name() {
        assert_eq!(code(may_join(false)), "ok");
        assert_eq!(code(may_join(true)), "forbidden");
        assert_eq!(code(may_rename(&closed(Channel, Role::Owner))), "forbidden");
        assert_eq!(code(may_rename(&m(Channel, Role::Owner))), "ok");
    }

    #[test]
    fn operators_close_open_channels_and_reopen_closed_ones() {
        let table = [
            (Channel, false, true, "ok"),
            (Channel, true, false, "ok"),
            (Channel, true, true, "conflict"),
            (Channel, false, false, "conflict"),
            (Group, false, true, "invalid"),
            (Group, true, false, "invalid"),
            (Direct, false, true, "invalid"),
        ];
        for (kind, is_closed, close, want) in table {
            assert_eq!(
                code(may_close(kind, is_closed, close)),
                want,
                "{kind:?} closed={is_closed} close={close}"
            );
        }
    }

    #[test]
    fn replies_point_inside_the_stream() {
        let member = m(Group, Role::Member);
        for (reply, want) in [
            (None, "ok"),
            (Some(1), "ok"),
            (Some(10), "ok"),
            (Some(0), "invalid"),
            (Some(11), "invalid"),
            (Some(-3), "invalid"),
        ] {
            assert_eq!(
                code(check_reply_to(&member, reply.map(Seq))),
                want,
                "{reply:?}"
            );
        }
    }

    #[test]
    fn owners_and_admins_rename_groups_and_channels_only() {
        let table = [
            (Direct, Role::Member, "forbidden"),
            (Group, Role::Member, "forbidden"),
            (Group, Role::Admin, "ok"),
            (Group, Role::Owner, "ok"),
            (Channel, Role::Member, "forbidden"),
            (Channel, Role::Admin, "ok"),
        ];
        for (kind, role, want) in table {
            assert_eq!(code(may_rename(&m(kind, role))), want, "{kind:?} {role:?}");
        }
    }

    #[test]
    fn adding_members_is_for_admins_and_following_for_anyone() {
        let table: [(Option<Role>, RoomKind, bool, &str); 9] = [
            (None, Channel, true, "ok"),
            (Some(Role::Member), Channel, true, "ok"),
            (None, Channel, false, "not_found"),
            (None, Group, false, "not_found"),
            (None, Group, true, "not_found"),
            (Some(Role::Member), Group, false, "forbidden"),
            (Some(Role::Admin), Group, false, "ok"),
            (Some(Role::Owner), Channel, false, "ok"),
            (Some(Role::Member), Direct, false, "forbidden"),
        ];
        for (role, kind, adding_self, want) in table {
            let actor = role.map(|r| m(kind, r));
            assert_eq!(
                code(may_add(actor.as_ref(), kind, adding_self)),
                want,
                "{role:?} {kind:?} self={adding_self}"
            );
        }
    }

    #[test]
    fn only_the_owner_changes_roles_and_never_to_or_from_owner() {
        let table = [
            (Group, Role::Owner, Role::Member, Role::Admin, "ok"),
            (Group, Role::Owner, Role::Admin, Role::Member, "ok"),
            (Group, Role::Owner, Role::Member, Role::Owner, "invalid"),
            (Group, Role::Owner, Role::Owner, Role::Member, "forbidden"),
            (Group, Role::Admin, Role::Member, Role::Admin, "forbidden"),
            (Group, Role::Member, Role::Member, Role::Admin, "forbidden"),
            (Direct, Role::Member, Role::Member, Role::Admin, "forbidden"),
            (Channel, Role::Owner, Role::Member, Role::Admin, "ok"),
        ];
        for (kind, actor, target, new_role, want) in table {
            assert_eq!(
                code(may_set_role(&m(kind, actor), target, new_role)),
                want,
                "{kind:?} {actor:?} sets {target:?} to {new_role:?}"
            );
        }
    }

    #[test]
    fn owners_remove_anyone_admins_remove_members_and_anyone_leaves() {
        let table = [
            (Group, Role::Member, None, "ok"),
            (Group, Role::Owner, None, "ok"),
            (Channel, Role::Member, None, "ok"),
            (Direct, Role::Member, None, "forbidden"),
            (Group, Role::Owner, Some(Role::Admin), "ok"),
            (Group, Role::Owner, Some(Role::Member), "ok"),
            (Group, Role::Admin, Some(Role::Member), "ok"),
            (Group, Role::Admin, Some(Role::Admin), "forbidden"),
            (Group, Role::Admin, Some(Role::Owner), "forbidden"),
            (Group, Role::Member, Some(Role::Member), "forbidden"),
            (Direct, Role::Member, Some(Role::Member), "forbidden"),
        ];
        for (kind, actor, target, want) in table {
            assert_eq!(
                code(may_remove(&m(kind, actor), target)),
                want,
                "{kind:?} {actor:?} removes {target:?}"
            );
        }
    }

    #[test]
    fn channel_followers_come_and_go_without_a_system_entry() {
        let table = [
            (Channel, Role::Member, false),
            (Channel, Role::Admin, true),
            (Channel, Role::Owner, true),
            (Group, Role::Member, true),
            (Direct, Role::Member, true),
        ];
        for (kind, role, want) in table {
            assert_eq!(
                membership_change_is_recorded(kind, role),
                want,
                "{kind:?} {role:?}"
            );
        }
    }

    #[test]
    fn channel_followers_see_only_who_runs_the_channel() {
        let table = [
            (Channel, Role::Member, false),
            (Channel, Role::Admin, true),
            (Group, Role::Member, true),
            (Direct, Role::Member, true),
        ];
        for (kind, role, want) in table {
            assert_eq!(sees_all_members(&m(kind, role)), want, "{kind:?} {role:?}");
            assert_eq!(shares_activity(kind), kind != Channel);
        }
    }

    #[test]
    fn catch_up_starts_at_the_device_cursor_clamped_to_what_may_be_read() {
        let group = m(Group, Role::Member); // delivered 3, joined 4, last 10
        let channel = m(Channel, Role::Member);
        let table = [
            (&group, None, 4),      // delivered is below the joining floor
            (&group, Some(7), 7),   // the device's own cursor
            (&group, Some(1), 4),   // never before joining
            (&group, Some(99), 10), // never past the end
            (&channel, None, 3),    // channels have no floor
            (&channel, Some(0), 0),
        ];
        for (member, requested, want) in table {
            assert_eq!(
                catch_up_from(requested.map(Seq), member),
                Seq(want),
                "{:?} {requested:?}",
                member.kind
            );
        }
    }

    fn text(sender: i64, created_at: i64) -> Message {
        Message {
            seq: Seq(5),
            sender_id: UserId(sender),
            kind: MessageKind::Text,
            created_at,
            ..Message::default()
        }
    }

    #[test]
    fn only_the_sender_edits_a_text_message_within_the_window() {
        let system = Message {
            kind: MessageKind::System,
            ..text(1, 0)
        };
        let deleted = Message {
            deleted_at: Some(5),
            ..text(1, 0)
        };
        let table = [
            (text(1, 0), 1, 100, "ok"),
            (text(1, 0), 1, 1000, "ok"),
            (text(1, 0), 1, 1001, "forbidden"), // past the window
            (text(1, 0), 2, 100, "forbidden"),  // someone else's
            (system, 1, 100, "invalid"),
            (deleted, 1, 100, "invalid"),
        ];
        for (target, user, now, want) in table {
            assert_eq!(
                code(may_edit(&target, UserId(user), now, 1000)),
                want,
                "{:?} by {user} at {now}",
                target.kind
            );
        }
    }

    #[test]
    fn senders_delete_within_the_window_and_group_admins_at_any_time() {
        let table = [
            (Group, Role::Member, 1, 100, "ok"),
            (Group, Role::Member, 1, 5000, "forbidden"),
            (Group, Role::Member, 2, 100, "forbidden"),
            (Group, Role::Admin, 2, 5000, "ok"),
            (Group, Role::Owner, 2, 5000, "ok"),
            (Channel, Role::Admin, 2, 5000, "ok"),
            (Direct, Role::Member, 2, 100, "forbidden"),
            (Direct, Role::Member, 1, 100, "ok"),
        ];
        for (kind, role, user, now, want) in table {
            assert_eq!(
                code(may_delete(
                    &m(kind, role),
                    &text(1, 0),
                    UserId(user),
                    now,
                    1000
                )),
                want,
                "{kind:?} {role:?} user {user} at {now}"
            );
        }
        let system = Message {
            kind: MessageKind::System,
            ..text(1, 0)
        };
        assert_eq!(
            code(may_delete(
                &m(Group, Role::Owner),
                &system,
                UserId(1),
                0,
                1000
            )),
            "invalid"
        );
    }

    #[test]
    fn a_second_reaction_replaces_the_first_and_the_same_one_removes_it() {
        assert_eq!(next_reaction(None, "👍").as_deref(), Some("👍"));
        assert_eq!(next_reaction(Some("❤️"), "👍").as_deref(), Some("👍"));
        assert_eq!(next_reaction(Some("👍"), "👍"), None);
        assert_eq!(code(may_react(&text(1, 0))), "ok");
        let system = Message {
            kind: MessageKind::System,
            ..text(1, 0)
        };
        assert_eq!(code(may_react(&system)), "invalid");
    }

    #[test]
    fn pages_hold_1_to_max_entries() {
        for (asked, want) in [
            (None, "50"),
            (Some(1), "1"),
            (Some(200), "200"),
            (Some(500), "200"),
            (Some(0), "invalid"),
        ] {
            let got = match page_limit(asked, 50, 200) {
                Ok(n) => n.to_string(),
                Err(e) => e.code().to_owned(),
            };
            assert_eq!(got, want, "{asked:?}");
        }
    }

    #[test]
    fn presence_is_seen_by_oneself_by_contacts_by_default_and_never_across_a_block() {
        use Audience::{Contacts, Everyone, Nobody};
        // (setting, is_self, shares_conversation, blocked) → sees
        let table = [
            (Contacts, true, false, false, true),
            (Nobody, true, false, true, true),
            (Contacts, false, true, false, true),
            (Contacts, false, false, false, false),
            (Everyone, false, false, false, true),
            (Everyone, false, true, true, false),
            (Contacts, false, true, true, false),
            (Nobody, false, true, false, false),
            (Nobody, false, false, false, false),
        ];
        for (setting, me, shares, blocked, want) in table {
            assert_eq!(
                sees_presence(setting, me, shares, blocked),
                want,
                "{setting:?} self={me} shares={shares} blocked={blocked}"
            );
        }
        assert!(activity_flows(false));
        assert!(!activity_flows(true));
    }

    #[test]
    fn a_block_either_way_stops_direct_messages() {
        assert_eq!(code(may_message_directly(false, false)), "ok");
        assert_eq!(code(may_message_directly(true, false)), "forbidden");
        assert_eq!(code(may_message_directly(false, true)), "forbidden");
    }

    #[test]
    fn group_adds_respect_blocks_and_the_contacts_only_setting() {
        use GroupAdd::{Contacts, Everyone};
        // (setting, adding_self, actor_is_contact, target_blocks_actor) → outcome
        let table = [
            (Everyone, false, false, false, "ok"),
            (Everyone, false, true, true, "forbidden"),
            (Contacts, false, true, false, "ok"),
            (Contacts, false, false, false, "forbidden"),
            (Contacts, true, false, true, "ok"),
        ];
        for (setting, me, contact, blocks, want) in table {
            assert_eq!(
                code(may_add_to_group(setting, me, contact, blocks)),
                want,
                "{setting:?} self={me} contact={contact} blocks={blocks}"
            );
        }
    }

    #[test]
    fn read_receipts_off_on_either_side_stop_them_both_ways_in_direct_rooms_only() {
        for (kind, mine, theirs, want) in [
            (Direct, true, true, true),
            (Direct, false, true, false),
            (Direct, true, false, false),
            (Group, false, false, true),
        ] {
            assert_eq!(
                read_receipts_flow(kind, mine, theirs),
                want,
                "{kind:?} {mine} {theirs}"
            );
        }
    }

    #[test]
    fn user_search_needs_three_characters_and_pages_are_bounded() {
        for (q, want) in [
            ("", None),
            ("  ", None),
            ("ab", None),
            ("  Abc ", Some("abc")),
            ("alice", Some("alice")),
            (&"a".repeat(33), None),
        ] {
            assert_eq!(user_search_prefix(q).as_deref(), want, "{q:?}");
        }
        assert_eq!(directory_limit(None).unwrap(), 20);
        assert_eq!(directory_limit(Some(500)).unwrap(), 50);
        assert_eq!(code(directory_limit(Some(0))), "invalid");
    }

    #[test]
    fn only_group_owners_and_admins_manage_invite_links() {
        for (kind, role, want) in [
            (Group, Role::Owner, "ok"),
            (Group, Role::Admin, "ok"),
            (Group, Role::Member, "forbidden"),
            (Channel, Role::Owner, "forbidden"),
            (Direct, Role::Member, "forbidden"),
        ] {
            assert_eq!(
                code(may_manage_invites(&m(kind, role))),
                want,
                "{kind:?} {role:?}"
            );
        }
    }

    #[test]
    fn revoked_expired_or_used_up_invite_links_are_not_found() {
        for (revoked, expires, max, uses, want) in [
            (false, None, None, 100, "ok"),
            (true, None, None, 0, "not_found"),
            (false, Some(1_000), None, 0, "not_found"),
            (false, Some(2_000), None, 0, "ok"),
            (false, None, Some(2), 2, "not_found"),
            (false, None, Some(2), 1, "ok"),
        ] {
            assert_eq!(
                code(invite_usable(revoked, expires, max, uses, 1_000)),
                want,
                "{revoked} {expires:?} {max:?} {uses}"
            );
        }
    }

    #[test]
    fn report_reasons_are_short_printable_text() {
        assert_eq!(report_reason("  spam ").unwrap(), "spam");
        assert_eq!(code(report_reason("   ")), "invalid");
        assert_eq!(code(report_reason(&"x".repeat(501))), "invalid");
        assert_eq!(code(report_reason("a\u{0}b")), "invalid");
    }
}
