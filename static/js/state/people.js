// People: display names, presence, typing, receipt cursors, and the ticks they add up to.
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient.

import { rest } from '../api.js';

const TYPING_TTL = 8000;

export const peopleState = {
  sendTyping(roomId, typing) {
    this.net.setTyping(roomId, typing);
  },

  onTyping(t) {
    if (!t || !t.room_id || t.user_id === this.me.id) return;
    let m = this.typing.get(t.room_id);
    if (!m) this.typing.set(t.room_id, (m = new Map()));
    clearTimeout(m.get(t.user_id));
    if (t.typing) m.set(t.user_id, setTimeout(() => this.clearTyping(t.room_id, t.user_id), TYPING_TTL));
    else m.delete(t.user_id);
    if (!this.users.has(t.user_id)) this.fetchUser(t.user_id);
    this.emit('typing', { room_id: t.room_id });
  },

  clearTyping(roomId, userId) {
    const m = this.typing.get(roomId);
    if (!m || !m.has(userId)) return;
    clearTimeout(m.get(userId));
    m.delete(userId);
    this.emit('typing', { room_id: roomId });
  },

  typingUsers(roomId) {
    return [...(this.typing.get(roomId) || new Map()).keys()];
  },

  onReceipt(r) {
    if (!r || !r.room_id) return;
    const members = this.members.get(r.room_id);
    const m = members && members.get(r.user_id);
    if (m) {
      m.delivered_seq = Math.max(m.delivered_seq || 0, r.delivered_seq || 0);
      m.read_seq = Math.max(m.read_seq || 0, r.read_seq || 0);
    }
    if (r.user_id === this.me.id) {
      // Our other device read or received something.
      const room = this.rooms.get(r.room_id);
      if (room) {
        room.read_seq = Math.max(room.read_seq || 0, r.read_seq || 0);
        room.delivered_seq = Math.max(room.delivered_seq || 0, r.delivered_seq || 0);
        if (room.read_seq >= (room.last_seq || 0)) room.unread_count = 0;
        this.emit('rooms');
      }
    }
    this.emit('members', { room_id: r.room_id });
  },

  onPresence(p) {
    if (!p || !p.user_id) return;
    this.presence.set(p.user_id, p);
    for (const [roomId, members] of this.members) {
      const m = members.get(p.user_id);
      if (m) {
        m.online = Boolean(p.online);
        this.emit('members', { room_id: roomId });
      }
    }
    this.emit('presence', { user_id: p.user_id });
  },

  isOnline(userId) {
    // While we are disconnected, presence is unknown: show nobody as online.
    if (this.status !== 'online' && this.status !== 'syncing') return false;
    const p = this.presence.get(userId);
    return Boolean(p && p.online);
  },

  async queryPresence() {
    const ids = new Set();
    for (const members of this.members.values()) for (const id of members.keys()) if (id !== this.me.id) ids.add(id);
    if (!ids.size) return;
    try {
      const res = await this.request('presence:query', { user_ids: [...ids] });
      for (const p of res.presence || []) this.onPresence(p);
    } catch {
      /* presence is best effort */
    }
  },

  displayName(userId) {
    if (userId === this.me.id) return this.me.display_name || this.me.username;
    const u = this.users.get(userId);
    if (u) return u.display_name || u.username;
    this.fetchUser(userId);
    return 'Someone';
  },

  async fetchUser(userId) {
    if (!userId || this.users.has(userId) || this.fetchingUsers.has(userId)) return;
    this.fetchingUsers.add(userId);
    try {
      const u = await rest.user(userId);
      this.users.set(userId, u);
      if ('online' in u && !this.presence.has(userId)) this.presence.set(userId, { user_id: userId, online: u.online, last_seen_at: u.last_seen_at });
      this.emit('users');
    } catch {
      /* names are cosmetic */
    } finally {
      this.fetchingUsers.delete(userId);
    }
  },

  async searchUsers(q) {
    const list = await rest.searchUsers(q, 10);
    for (const u of list || []) if (!this.users.has(u.id)) this.users.set(u.id, u);
    return (list || []).filter((u) => u.id !== this.me.id);
  },

  /**
   * State of one of our own messages: 'sent' (stored), 'delivered' (every other member's device
   * has it), 'read' (every other member read it). Channels have no receipts: always 'sent'.
   */
  tickState(msg) {
    const room = this.rooms.get(msg.room_id);
    if (!room || room.kind === 'channel') return 'sent';
    const members = this.members.get(msg.room_id);
    if (!members) return 'sent';
    const others = [...members.values()].filter((m) => m.user_id !== this.me.id);
    if (!others.length) return 'sent';
    if (others.every((m) => (m.read_seq || 0) >= msg.seq)) return 'read';
    if (others.every((m) => Math.max(m.delivered_seq || 0, m.read_seq || 0) >= msg.seq)) return 'delivered';
    return 'sent';
  },

  /** Counts for a group message: how many others read / received it. */
  tickCounts(msg) {
    const members = this.members.get(msg.room_id);
    if (!members) return null;
    const others = [...members.values()].filter((m) => m.user_id !== this.me.id);
    return {
      total: others.length,
      read: others.filter((m) => (m.read_seq || 0) >= msg.seq).length,
      delivered: others.filter((m) => Math.max(m.delivered_seq || 0, m.read_seq || 0) >= msg.seq).length,
    };
  },
};
