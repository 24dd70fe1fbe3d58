// The web app's state: rooms, messages, members, presence and typing, as the page shows them. No
// DOM here; the UI listens to events:
//   'rooms'                         the room list or a room's summary changed
//   'messages'  {room_id, prepended} a room's messages (or its outbox) changed
//   'members'   {room_id}           members, roles or receipt cursors changed
//   'typing'    {room_id}
//   'presence'  {user_id}
//   'users'                         a display name became known or changed
//   'status'    {status}            connecting | syncing | online | reconnecting | offline
//   'removed'   {room_id}           we are no longer in that room
//   'error'     {error, context}    something failed; show error.code / error.message
//   'logout'    {reason}            the session is gone (refresh refused, logged out elsewhere)
//
// Talking to the server is the Missive client library's job (js/missive/, a copy of
// clients/js/src): `MissiveClient` owns the socket, the handshake with cursors, catch-up acks,
// dedupe by (room_id, seq), gap filling in every room, `message:ack`, token renewal and the
// outbox (in order, one client_id per message, a refused or oversized message marked failed
// without holding up the others). This class turns what it delivers into what the page shows.

import { rest, session } from './api.js';
import { MissiveClient } from './missive/index.js';

const PAGE = 50;
const TYPING_TTL = 8000;

/** Runs `fn` holding a lock shared by this origin's tabs (Web Locks), or just runs it. */
function lock(name, fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request(name, fn);
  return fn();
}

export class ChatClient extends EventTarget {
  constructor(user) {
    super();
    this.me = user;
    this.rooms = new Map(); // room_id -> Room (with the caller's own fields)
    this.members = new Map(); // room_id -> Map(user_id -> Member)
    this.messages = new Map(); // room_id -> Map(seq -> Message)
    this.older = new Map(); // room_id -> {hasMore, loading}
    this.users = new Map([[user.id, user]]);
    this.presence = new Map(); // user_id -> Presence
    this.typing = new Map(); // room_id -> Map(user_id -> timer)
    this.status = 'connecting';
    this.synced = false;
    this.openRoomId = null;
    this.readTimers = new Map();
    this.refreshTimers = new Map();
    this.fetchingUsers = new Set();
    this.stopped = false;
    this.net = new MissiveClient({ io: window.io, storage: localStorage, session, lock });
    this.offs = [];
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  fail(error, context) {
    this.emit('error', { error, context });
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', { status });
  }

  // ---------------------------------------------------------------- lifecycle

  async start() {
    const net = this.net;
    const on = (type, fn) => this.offs.push(net.on(type, fn));
    on('status', ({ status }) => {
      if (status === 'idle' || status === 'closed') return;
      if (status !== 'online') this.synced = false;
      this.setStatus(status);
    });
    on('session', ({ user }) => {
      if (user.id !== this.me.id) return;
      this.me = user;
      this.users.set(user.id, user);
      this.emit('users');
    });
    on('messages', ({ room_id, messages, source }) => this.ingest(room_id, messages, source));
    on('synced', () => this.onSynced());
    on('outbox', ({ room_id }) => {
      if (room_id) this.emit('messages', { room_id });
    });
    on('receipt', (r) => this.onReceipt(r));
    on('typing', (t) => this.onTyping(t));
    on('presence', (p) => this.onPresence(p));
    on('room:updated', (room) => this.onRoomUpdated(room));
    on('room:removed', ({ room_id }) => this.dropRoom(room_id));
    on('user:updated', (u) => {
      if (u && u.id) {
        this.users.set(u.id, u);
        if (u.id === this.me.id) this.me = u;
        this.emit('users');
      }
    });
    on('error', ({ error, context }) => this.fail(error, context));
    on('logout', ({ reason }) => this.emit('logout', { reason }));

    this.onOnline = () => net.resume();
    // The browser knows the network is gone: stop waiting for heartbeats to notice.
    this.onOffline = () => net.pause();
    this.onVisible = () => {
      if (document.visibilityState === 'visible' && this.openRoomId) this.markRead(this.openRoomId);
    };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);

    if (typeof window.io !== 'function') {
      this.setStatus('offline');
      this.fail({ code: 'unavailable', message: 'The Socket.IO client (/socket.io/socket.io.js) did not load.' }, 'Connecting');
    } else {
      net.connect();
      if (navigator.onLine === false) net.pause();
    }
    try {
      await this.loadRoomsRest();
    } catch (err) {
      if (err.code !== 'network') this.fail(err, 'Loading your chats');
    }
  }

  stop() {
    this.stopped = true;
    for (const off of this.offs) off();
    this.net.close();
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    for (const m of [this.readTimers, this.refreshTimers]) {
      for (const t of m.values()) clearTimeout(t);
    }
    for (const m of this.typing.values()) for (const t of m.values()) clearTimeout(t);
  }

  /** Forgets this user's local data (on logout): cursors and outbox. */
  wipe() {
    this.net.wipe();
  }

  async onSynced() {
    this.synced = true;
    try {
      const res = await this.request('rooms:list', {});
      this.setRooms(res.rooms || []);
    } catch (err) {
      if (err.code !== 'disconnected') this.fail(err, 'Loading your chats');
    }
    this.queryPresence();
    if (this.openRoomId) {
      this.fillGaps(this.openRoomId);
      this.markRead(this.openRoomId);
    }
  }

  /** Emits an event and resolves its `{ok: true, ...}` ack; rejects with a MissiveError. */
  request(event, payload, timeout) {
    return this.net.request(event, payload, timeout);
  }

  // ---------------------------------------------------------------- messages

  roomMessages(roomId) {
    let m = this.messages.get(roomId);
    if (!m) this.messages.set(roomId, (m = new Map()));
    return m;
  }

  /** Sorted messages of a room as currently held. */
  sortedMessages(roomId) {
    return [...this.roomMessages(roomId).values()].sort((a, b) => a.seq - b.seq);
  }

  isReading(roomId) {
    return this.openRoomId === roomId && document.visibilityState === 'visible';
  }

  /**
   * Takes in messages the library hands over once each ('sync', 'live', 'ack', 'gap') and REST
   * pages ('history'): updates the room summary, unread counts and the senders' cursors.
   */
  ingest(roomId, list, source) {
    if (!list.length) return;
    const map = this.roomMessages(roomId);
    const room = this.rooms.get(roomId);
    let changed = false;
    let roomChanged = false;
    let structural = false;
    let membersChanged = false;
    for (const m of list) {
      if (!Number.isInteger(m.seq)) continue;
      // Sending advances the sender's own cursors (docs/protocol.md §2): they have read everything
      // up to it.
      const sender = this.members.get(roomId)?.get(m.sender_id);
      if (sender && (sender.read_seq || 0) < m.seq) {
        sender.read_seq = m.seq;
        sender.delivered_seq = Math.max(sender.delivered_seq || 0, m.seq);
        membersChanged = true;
      }
      this.clearTyping(roomId, m.sender_id);
      if (map.has(m.seq)) continue;
      map.set(m.seq, m);
      changed = true;
      if (m.kind === 'system') structural = true;
      if (room && m.seq > (room.last_seq || 0)) {
        room.last_seq = m.seq;
        room.last_message = m;
        // Messages filled into a gap were never counted live: the server's count has them.
        if (m.sender_id !== this.me.id && (source === 'live' || source === 'sync') && !this.isReading(roomId)) {
          room.unread_count = (room.unread_count || 0) + 1;
        }
        if (m.sender_id === this.me.id) {
          room.read_seq = Math.max(room.read_seq || 0, m.seq);
          room.delivered_seq = Math.max(room.delivered_seq || 0, m.seq);
        }
        roomChanged = true;
      }
      if (!this.users.has(m.sender_id)) this.fetchUser(m.sender_id);
    }
    if (!room && source !== 'history') this.refreshRoom(roomId, 0);
    if (structural || (source === 'gap' && room && !this.isReading(roomId))) this.refreshRoom(roomId);
    if (changed) this.emit('messages', { room_id: roomId });
    if (membersChanged) this.emit('members', { room_id: roomId });
    if (roomChanged) this.emit('rooms');
    if (roomId === this.openRoomId) {
      this.markRead(roomId);
      if (source === 'live' || source === 'ack') this.fillGaps(roomId);
    }
  }

  /** Loads the latest page of a room (when it is opened). */
  async loadLatest(roomId) {
    const res = await this.net.history(roomId, { limit: PAGE });
    const list = res.messages || [];
    const map = this.roomMessages(roomId);
    // Keep one contiguous window: drop what is older than this page if the page is not the start.
    if (list.length && res.has_more) for (const s of [...map.keys()]) if (s < list[0].seq) map.delete(s);
    this.older.set(roomId, { hasMore: Boolean(res.has_more), loading: false });
    this.ingest(roomId, list, 'history');
    this.emit('messages', { room_id: roomId });
  }

  /** Loads the page before the oldest message held. Resolves true if something was added. */
  async loadOlder(roomId) {
    const state = this.older.get(roomId);
    if (!state || !state.hasMore || state.loading) return false;
    const first = this.sortedMessages(roomId)[0];
    if (!first) return false;
    state.loading = true;
    try {
      const res = await this.net.rest.messages(roomId, { before_seq: first.seq, limit: PAGE });
      state.hasMore = Boolean(res.has_more);
      const map = this.roomMessages(roomId);
      let added = false;
      for (const m of res.messages || []) {
        if (!map.has(m.seq)) {
          map.set(m.seq, m);
          added = true;
          if (!this.users.has(m.sender_id)) this.fetchUser(m.sender_id);
        }
      }
      this.emit('messages', { room_id: roomId, prepended: true });
      return added;
    } finally {
      state.loading = false;
    }
  }

  /** Fetches whatever is missing between the oldest and newest message held (once catch-up is done). */
  async fillGaps(roomId) {
    if (!this.synced || this.gapFilling) return;
    const seqs = this.sortedMessages(roomId).map((m) => m.seq);
    let after = null;
    for (let i = 1; i < seqs.length; i++) {
      if (seqs[i] !== seqs[i - 1] + 1) {
        after = seqs[i - 1];
        break;
      }
    }
    if (after === null) return;
    this.gapFilling = true;
    try {
      const res = await this.net.rest.messages(roomId, { after_seq: after, limit: 200 });
      this.ingest(roomId, res.messages || [], 'history');
    } catch (err) {
      this.fail(err, 'Loading missing messages');
    } finally {
      this.gapFilling = false;
    }
  }

  /**
   * Fetches what is missing between the room's cursor and the messages held above it, with the
   * socket's `history` from the cursor, page by page until `has_more` is false; `ingest` merges
   * the pages and advances the cursor over them. One fill per room at a time: a hole that opens
   * meanwhile gets another pass, as long as passes make progress. Waits for catch-up, which
   * fills holes itself; after a disconnect the next catch-up does.
   */

  async fetchMessage(roomId, seq) {
    const res = await this.net.rest.messages(roomId, { after_seq: seq - 1, limit: 1 });
    const m = (res.messages || []).find((x) => x.seq === seq);
    return m || null;
  }


  // ---------------------------------------------------------------- sending

  /** Queues a message in the library's outbox; it is sent now if connected, else on reconnect. */
  send(roomId, body, replyTo) {
    return this.net.send({ room_id: roomId }, body, { reply_to: replyTo ?? null });
  }

  /** Messages of a room not yet acknowledged (queued, or failed with `error`). */
  outboxFor(roomId) {
    return this.net.outbox.list(roomId);
  }

  retry(clientId) {
    this.net.retry(clientId);
  }

  discard(clientId) {
    this.net.discard(clientId);
  }

  // ---------------------------------------------------------------- read / typing

  /** Marks the open, visible room as read up to its newest message. */
  markRead(roomId) {
    if (!this.isReading(roomId) || this.readTimers.has(roomId)) return;
    this.readTimers.set(roomId, setTimeout(() => {
      this.readTimers.delete(roomId);
      if (!this.isReading(roomId)) return;
      const room = this.rooms.get(roomId);
      const list = this.sortedMessages(roomId);
      const last = list[list.length - 1];
      if (!room || !last) return;
      if (last.seq <= (room.read_seq || 0) && !room.unread_count) return;
      const seq = Math.max(last.seq, room.read_seq || 0);
      this.request('message:read', { room_id: roomId, seq })
        .then(() => {
          room.read_seq = Math.max(room.read_seq || 0, seq);
          if (room.read_seq >= (room.last_seq || 0)) room.unread_count = 0;
          this.emit('rooms');
        })
        .catch((err) => {
          if (err.code !== 'disconnected' && err.code !== 'timeout') this.fail(err, 'Marking as read');
        });
    }, 200));
  }

  sendTyping(roomId, typing) {
    this.net.setTyping(roomId, typing);
  }

  onTyping(t) {
    if (!t || !t.room_id || t.user_id === this.me.id) return;
    let m = this.typing.get(t.room_id);
    if (!m) this.typing.set(t.room_id, (m = new Map()));
    clearTimeout(m.get(t.user_id));
    if (t.typing) m.set(t.user_id, setTimeout(() => this.clearTyping(t.room_id, t.user_id), TYPING_TTL));
    else m.delete(t.user_id);
    if (!this.users.has(t.user_id)) this.fetchUser(t.user_id);
    this.emit('typing', { room_id: t.room_id });
  }

  clearTyping(roomId, userId) {
    const m = this.typing.get(roomId);
    if (!m || !m.has(userId)) return;
    clearTimeout(m.get(userId));
    m.delete(userId);
    this.emit('typing', { room_id: roomId });
  }

  typingUsers(roomId) {
    return [...(this.typing.get(roomId) || new Map()).keys()];
  }

  // ---------------------------------------------------------------- receipts / presence

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
  }

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
  }

  isOnline(userId) {
    // While we are disconnected, presence is unknown: show nobody as online.
    if (this.status !== 'online' && this.status !== 'syncing') return false;
    const p = this.presence.get(userId);
    return Boolean(p && p.online);
  }

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
  }

  // ---------------------------------------------------------------- rooms

  async loadRoomsRest() {
    const rooms = await rest.rooms();
    this.setRooms(rooms || []);
  }

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
  }

  /** Rooms, most recent activity first. */
  sortedRooms() {
    const t = (r) => Date.parse((r.last_message && r.last_message.created_at) || r.created_at) || 0;
    return [...this.rooms.values()].sort((a, b) => t(b) - t(a));
  }

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
  }

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
  }

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
  }

  dropRoom(roomId) {
    if (!roomId) return;
    const had = this.rooms.delete(roomId);
    this.members.delete(roomId);
    this.messages.delete(roomId);
    this.older.delete(roomId);
    this.net.forgetRoom(roomId);
    this.emit('rooms');
    if (had) this.emit('removed', { room_id: roomId });
  }

  /** The other member of a direct room, if known. */
  peer(room) {
    const members = this.members.get(room.id);
    if (!members) return null;
    for (const m of members.values()) if (m.user_id !== this.me.id) return m;
    return null;
  }

  roomTitle(room) {
    if (room.kind === 'direct') {
      const p = this.peer(room);
      if (p) return this.displayName(p.user_id);
      return room.name || 'Direct chat';
    }
    return room.name || 'Untitled';
  }

  // ---------------------------------------------------------------- users

  displayName(userId) {
    if (userId === this.me.id) return this.me.display_name || this.me.username;
    const u = this.users.get(userId);
    if (u) return u.display_name || u.username;
    this.fetchUser(userId);
    return 'Someone';
  }

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
  }

  async searchUsers(q) {
    const list = await rest.searchUsers(q, 10);
    for (const u of list || []) if (!this.users.has(u.id)) this.users.set(u.id, u);
    return (list || []).filter((u) => u.id !== this.me.id);
  }

  // ---------------------------------------------------------------- room actions (REST)

  async openDirect(userId) {
    const room = await rest.direct(userId);
    this.rooms.set(room.id, { ...this.rooms.get(room.id), ...room });
    await this.fetchRoom(room.id);
    return room;
  }

  async createRoom(kind, name, memberIds) {
    const body = { kind, name };
    if (memberIds && memberIds.length) body.members = memberIds;
    const room = await rest.createRoom(body);
    this.rooms.set(room.id, room);
    await this.fetchRoom(room.id);
    return room;
  }

  async joinChannel(roomId) {
    await rest.addMember(roomId, this.me.id);
    return this.fetchRoom(roomId);
  }

  async rename(roomId, name) {
    const room = await rest.rename(roomId, name);
    await this.fetchRoom(roomId);
    return room;
  }

  async addMember(roomId, userId) {
    await rest.addMember(roomId, userId);
    await this.fetchRoom(roomId);
  }

  async removeMember(roomId, userId) {
    await rest.removeMember(roomId, userId);
    if (userId === this.me.id) this.dropRoom(roomId);
    else await this.fetchRoom(roomId);
  }

  async setRole(roomId, userId, role) {
    await rest.setRole(roomId, userId, role);
    await this.fetchRoom(roomId);
  }

  async receipts(roomId, seq) {
    return rest.receipts(roomId, seq);
  }

  // ---------------------------------------------------------------- ticks

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
  }

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
  }
}
