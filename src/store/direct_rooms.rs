//! The direct room of each pair of users, remembered in a bounded in-memory map, so that a
//! `message:send` addressed by `to` (a user id) is queued without a database look-up.
//!
//! Only a fact that never changes is kept: **pair of users → their direct room**. A direct room,
//! once created, is never deleted, never changes kind and always has exactly its two members
//! (`rules::may_remove` and `rules::may_add` refuse leaving, removing and adding in direct
//! rooms), and accounts are never deleted. So an entry never goes stale and no event has to
//! invalidate it; every node of a cluster may cache it independently.
//!
//! Everything about a send that *can* change is not cached and is checked where it was
//! before, by the writer in the transaction that stores the message
//! (`messages::append_batch`): the sender's membership, a block either way between the two
//! people, a ban (a banned sender has no valid token; a banned recipient receives as before).
//! A pair that is not cached (first contact, or evicted) takes the database path
//! (`chat::rooms::direct`), which checks that the other user exists and fills the entry.

use quick_cache::sync::Cache;

use crate::domain::{RoomId, UserId};

/// Pairs remembered: about 1.5 MiB at most.
pub const CAPACITY: usize = 16_384;

/// The bounded map (least recently and least frequently used pairs are evicted first).
pub struct DirectRooms(Cache<(i64, i64), i64>);

/// The map's key for a pair: the same whichever of the two asks; `None` for a user and
/// themselves, which has no direct room.
pub fn pair_key(a: UserId, b: UserId) -> Option<(i64, i64)> {
    (a != b).then(|| (a.0.min(b.0), a.0.max(b.0)))
}

impl DirectRooms {
    pub fn new(capacity: usize) -> Self {
        Self(Cache::new(capacity.max(1)))
    }

    /// The direct room of `a` and `b`, if remembered.
    pub fn get(&self, a: UserId, b: UserId) -> Option<RoomId> {
        pair_key(a, b).and_then(|k| self.0.get(&k)).map(RoomId)
    }

    /// Remembers that `room` is the direct room of `a` and `b` (read from or just committed to
    /// the database).
    pub fn insert(&self, a: UserId, b: UserId, room: RoomId) {
        if let Some(k) = pair_key(a, b) {
            self.0.insert(k, room.0);
        }
    }

    /// Pairs currently remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for DirectRooms {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_the_same_whichever_user_asks() {
        let rooms = DirectRooms::new(8);
        rooms.insert(UserId(7), UserId(3), RoomId(42));
        assert_eq!(rooms.get(UserId(3), UserId(7)), Some(RoomId(42)));
        assert_eq!(rooms.get(UserId(7), UserId(3)), Some(RoomId(42)));
        assert_eq!(
            pair_key(UserId(7), UserId(3)),
            pair_key(UserId(3), UserId(7))
        );
    }

    #[test]
    fn a_user_and_themselves_are_never_a_pair() {
        let rooms = DirectRooms::new(8);
        rooms.insert(UserId(5), UserId(5), RoomId(1));
        assert!(rooms.is_empty());
        assert_eq!(rooms.get(UserId(5), UserId(5)), None);
        assert_eq!(pair_key(UserId(5), UserId(5)), None);
    }

    #[test]
    fn pairs_sharing_a_user_do_not_answer_for_each_other() {
        let rooms = DirectRooms::new(8);
        rooms.insert(UserId(1), UserId(2), RoomId(10));
        rooms.insert(UserId(1), UserId(3), RoomId(11));
        assert_eq!(rooms.get(UserId(2), UserId(1)), Some(RoomId(10)));
        assert_eq!(rooms.get(UserId(3), UserId(1)), Some(RoomId(11)));
        assert_eq!(rooms.get(UserId(2), UserId(3)), None);
    }

    #[test]
    fn memory_stays_bounded_and_an_evicted_pair_is_a_miss_not_a_wrong_room() {
        let rooms = DirectRooms::new(100);
        for i in 0..10_000 {
            rooms.insert(UserId(i), UserId(i + 1_000_000), RoomId(i));
        }
        assert!(rooms.len() <= 100, "{} pairs kept", rooms.len());
        for i in 0..10_000 {
            if let Some(room) = rooms.get(UserId(i + 1_000_000), UserId(i)) {
                assert_eq!(room, RoomId(i));
            }
        }
    }
}
