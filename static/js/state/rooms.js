// The page's rooms: the list with the caller's own fields, each room's members, and the room
// actions (create, direct, join, rename, members, roles, receipts) over the library's REST client.
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient.

import { rest } from '../api.js';

export const roomState = {
  async loadRoomsRest() {
    const rooms = await rest.rooms();
    this.setRooms(rooms || []);
  },

  setRooms(list) {
    const seen = new Set();
    for (const r of list) {
      seen.add(r.id);
      const old = this.rooms.get(r.id);
      // Keep a newer last message we already hold (a live one that beat the snapshot).
      if (old && (old.last_seq || 0) > (r.last_seq || 0)) {
        r.last_seq = old.last_seq;
        r.last_message = old.last_message;
      }
      this.rooms.set(r.id, r);
      if (r.kind === 'direct' && !this.members.has(r.id)) this.refreshRoom(r.id, 0);
    }
    for (const id of [...this.rooms.keys()]) if (!seen.has(id)) this.rooms.delete(id);
    this.emit('rooms');
  },

  /** Rooms, most recent activity first. */
  sortedRooms() {
    const t = (r) => Date.parse((r.last_message && r.last_message.created_at) || r.created_at) || 0;
    return [...this.rooms.values()].sort((a, b) => t(b) - t(a));
  },

  onRoomUpdated(room) {
    if (!room || !room.id) return;
    const old = this.rooms.get(room.id);
    if (old) {
      for (const [k, v] of Object.entries(room)) {
        if (['my_role', 'delivered_seq', 'read_seq', 'unread_count'].includes(k)) continue;
        if (k === 'last_message' || k === 'last_seq') {
          if ((room.last_seq || 0) < (old.last_seq || 0)) continue;
        }
        old[k] = v;
      }
      this.emit('rooms');
    }
    // Roles, membership or our own role may have changed: reload the room with its members.
    this.refreshRoom(room.id, old ? 150 : 0);
  },

  /** Reloads a room with its members over REST (debounced per room). */
  refreshRoom(roomId, delay = 250) {
    clearTimeout(this.refreshTimers.get(roomId));
    this.refreshTimers.set(roomId, setTimeout(async () => {
      this.refreshTimers.delete(roomId);
      try {
        await this.fetchRoom(roomId);
      } catch (err) {
        if (err.code === 'not_found') this.dropRoom(roomId);
        else if (err.code !== 'network') this.fail(err, 'Loading a chat');
      }
    }, delay));
  },

  async fetchRoom(roomId) {
    const full = await rest.room(roomId);
    if (this.stopped) return full;
    const { members = [], ...room } = full;
    const old = this.rooms.get(roomId);
    if (old && (old.last_seq || 0) > (room.last_seq || 0)) {
      room.last_seq = old.last_seq;
      room.last_message = old.last_message;
    }
    this.rooms.set(roomId, room);
    const map = new Map();
    for (const m of members) {
      const prev = this.members.get(roomId)?.get(m.user_id);
      if (prev) {
        m.delivered_seq = Math.max(m.delivered_seq || 0, prev.delivered_seq || 0);
        m.read_seq = Math.max(m.read_seq || 0, prev.read_seq || 0);
      }
      map.set(m.user_id, m);
      if (!this.users.has(m.user_id) || this.users.get(m.user_id).display_name !== m.display_name) {
        this.users.set(m.user_id, { id: m.user_id, username: m.username, display_name: m.display_name });
      }
      if (!this.presence.has(m.user_id)) this.presence.set(m.user_id, { user_id: m.user_id, online: Boolean(m.online), last_seen_at: null });
    }
    this.members.set(roomId, map);
    this.emit('users');
    this.emit('rooms');
    this.emit('members', { room_id: roomId });
    return full;
  },

  dropRoom(roomId) {
    if (!roomId) return;
    const had = this.rooms.delete(roomId);
    this.members.delete(roomId);
    this.messages.delete(roomId);
    this.older.delete(roomId);
    this.net.forgetRoom(roomId);
    this.emit('rooms');
    if (had) this.emit('removed', { room_id: roomId });
  },

  /** The other member of a direct room, if known. */
  peer(room) {
    const members = this.members.get(room.id);
    if (!members) return null;
    for (const m of members.values()) if (m.user_id !== this.me.id) return m;
    return null;
  },

  roomTitle(room) {
    if (room.kind === 'direct') {
      const p = this.peer(room);
      if (p) return this.displayName(p.user_id);
      return room.name || 'Direct chat';
    }
    return room.name || 'Untitled';
  },

  async openDirect(userId) {
    const room = await rest.direct(userId);
    this.rooms.set(room.id, { ...this.rooms.get(room.id), ...room });
    await this.fetchRoom(room.id);
    return room;
  },

  async createRoom(kind, name, memberIds, description) {
    const body = { kind, name };
    if (memberIds && memberIds.length) body.members = memberIds;
    if (description) body.description = description;
    const room = await rest.createRoom(body);
    this.rooms.set(room.id, room);
    await this.fetchRoom(room.id);
    return room;
  },

  async joinChannel(roomId) {
    await rest.addMember(roomId, this.me.id);
    return this.fetchRoom(roomId);
  },

  async rename(roomId, name) {
    const room = await rest.rename(roomId, name);
    await this.fetchRoom(roomId);
    return room;
  },

  async addMember(roomId, userId) {
    await rest.addMember(roomId, userId);
    await this.fetchRoom(roomId);
  },

  async removeMember(roomId, userId) {
    await rest.removeMember(roomId, userId);
    if (userId === this.me.id) this.dropRoom(roomId);
    else await this.fetchRoom(roomId);
  },

  async setRole(roomId, userId, role) {
    await rest.setRole(roomId, userId, role);
    await this.fetchRoom(roomId);
  },

  async receipts(roomId, seq) {
    return rest.receipts(roomId, seq);
  },
};
