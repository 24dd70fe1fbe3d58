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
pub fn may_post(m: &Membership, kind: MessageKind) -> Result<(), AppError> {
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
}
