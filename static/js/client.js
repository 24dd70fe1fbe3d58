// The protocol client: everything the page knows about rooms, messages, members, presence and
// typing, kept in sync over Socket.IO and REST. No DOM here; the UI listens to events:
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
// Delivery, following docs/protocol.md §5–§6:
// - Per-room cursors ("this device holds every message up to seq") are kept in localStorage and
//   sent as `auth.cursors` on every (re)connect; the auth payload is a function so reconnects
//   always carry the latest cursors and a fresh token.
// - A cursor only advances over contiguous seqs, so a live message that overtakes catch-up
//   never makes the device claim messages it has not seen.
// - A live message more than one past the highest seq held for its room (any room, open or not)
//   shows that live delivery lost some: the missing ones are fetched with `history` from the
//   cursor, page by page, once caught up (during catch-up, catch-up fills the hole).
// - Each `sync` batch is stored, the cursors saved, then the batch's ack callback is called.
// - Live messages are confirmed with `message:ack` (debounced per room) once handled, and the
//   open, visible conversation is marked with `message:read`.
// - Messages are kept per room keyed by seq, so a message that arrives twice (catch-up and live,
//   or ack and live) is shown once.
// - Sends go through an outbox persisted in localStorage: one at a time, in order, each with a
//   client_id chosen once, so a send interrupted by a disconnect is resent after reconnecting
//   with the same client_id and the server stores it once.

import { api, ApiError, freshSession, getSession, onSessionChange, qs, refresh } from './api.js';
import { sleep, uid } from './dom.js';

const PAGE = 50;
const TYPING_TTL = 8000;

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
    this.held = new Map(); // room_id -> Set(seq) received above the cursor
    this.gapFills = new Set(); // room_ids whose hole above the cursor is being fetched
    this.cursorKey = `missive.cursors.${user.id}`;
    this.outboxKey = `missive.outbox.${user.id}`;
    this.cursors = readJSON(this.cursorKey, {});
    this.outbox = readJSON(this.outboxKey, []);
    this.status = 'connecting';
    this.synced = false;
    this.openRoomId = null;
    this.pendingRequests = new Set();
    this.ackTimers = new Map();
    this.acked = new Map();
    this.readTimers = new Map();
    this.refreshTimers = new Map();
    this.fetchingUsers = new Set();
    this.socket = null;
    this.stopped = false;
    this.flushing = false;
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
    this.unsubscribe = onSessionChange((s) => this.onSession(s));
    this.onOnline = () => {
      if (this.socket && !this.socket.connected) this.socket.connect();
    };
    this.onOffline = () => {
      // The browser knows the network is gone: stop waiting for heartbeats to notice.
      this.setStatus('offline');
      if (this.socket) {
        this.socket.disconnect();
        this.rejectPending('disconnected');
      }
    };
    this.onVisible = () => {
      if (document.visibilityState === 'visible' && this.openRoomId) this.markRead(this.openRoomId);
    };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);

    this.connectSocket();
    try {
      await this.loadRoomsRest();
    } catch (err) {
      if (err.code !== 'network') this.fail(err, 'Loading your chats');
    }
  }

  stop() {
    this.stopped = true;
    if (this.unsubscribe) this.unsubscribe();
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.io.removeAllListeners?.();
      this.socket.disconnect();
    }
    for (const m of [this.ackTimers, this.readTimers, this.refreshTimers]) {
      for (const t of m.values()) clearTimeout(t);
    }
    for (const m of this.typing.values()) for (const t of m.values()) clearTimeout(t);
  }

  /** Forgets this user's local data (on logout). */
  wipe() {
    localStorage.removeItem(this.cursorKey);
    localStorage.removeItem(this.outboxKey);
  }

  onSession(s) {
    if (this.stopped) return;
    if (!s || s.user.id !== this.me.id) {
      this.emit('logout', { reason: s ? 'Another account logged in in another tab.' : 'You have been logged out.' });
      return;
    }
    // A fresh access token: extend the socket's authentication (no cursors: catch-up is not
    // restarted on an already authenticated socket).
    if (this.socket && this.socket.connected) {
      this.request('auth', { token: s.access_token }).catch((err) => {
        if (err.code !== 'disconnected' && err.code !== 'timeout') this.fail(err, 'Renewing the connection');
      });
    }
  }

  // ---------------------------------------------------------------- socket

  connectSocket() {
    if (typeof window.io !== 'function') {
      this.setStatus('offline');
      this.fail(new ApiError(0, 'unavailable', 'The Socket.IO client (/socket.io/socket.io.js) did not load.'), 'Connecting');
      return;
    }
    const socket = window.io({
      autoConnect: false,
      // Called on every (re)connect: a token that is fresh and the cursors as they are now.
      auth: (cb) => {
        freshSession()
          .catch(() => getSession())
          .then((s) => cb({ token: s ? s.access_token : '', cursors: this.authCursors() }));
      },
    });
    this.socket = socket;

    socket.on('connect', () => {
      this.synced = false;
      this.setStatus('syncing');
      this.flush();
    });
    socket.on('connect_error', (err) => this.onConnectError(err));
    socket.on('disconnect', (reason) => this.onDisconnect(reason));
    socket.io.on('reconnect_attempt', () => {
      if (this.status !== 'offline') this.setStatus('reconnecting');
    });

    socket.on('session', ({ user } = {}) => {
      if (user && user.id === this.me.id) {
        this.me = user;
        this.users.set(user.id, user);
        this.emit('users');
      }
    });
    socket.on('sync', (batch, ack) => {
      try {
        if (batch && batch.room_id && Array.isArray(batch.messages)) {
          this.ingest(batch.room_id, batch.messages, 'sync');
        }
      } finally {
        if (typeof ack === 'function') ack();
      }
    });
    socket.on('synced', () => this.onSynced());
    socket.on('message', (m) => {
      if (m && m.room_id) this.ingest(m.room_id, [m], 'live');
    });
    socket.on('receipt', (r) => this.onReceipt(r));
    socket.on('typing', (t) => this.onTyping(t));
    socket.on('presence', (p) => this.onPresence(p));
    socket.on('room:updated', (room) => this.onRoomUpdated(room));
    socket.on('room:removed', ({ room_id } = {}) => this.dropRoom(room_id));
    socket.on('user:updated', (u) => {
      if (u && u.id) {
        this.users.set(u.id, u);
        if (u.id === this.me.id) this.me = u;
        this.emit('users');
      }
    });

    if (navigator.onLine === false) this.setStatus('offline');
    else socket.connect();
  }

  async onConnectError(err) {
    if (this.stopped) return;
    const message = err && err.message;
    if (message === 'unauthenticated') {
      // The handshake token was refused (expired while asleep, or revoked): renew and retry.
      try {
        await refresh();
      } catch (e) {
        if (e.status === 401) return; // the session listener logs out
      }
      await sleep(500);
      if (!this.stopped && !this.socket.connected) this.socket.connect();
      return;
    }
    this.setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
    if (!this.socket.active) {
      // Refused at the namespace level (rate limited, unavailable): the manager will not retry.
      await sleep(3000);
      if (!this.stopped && !this.socket.connected && navigator.onLine !== false) this.socket.connect();
    }
  }

  async onDisconnect(reason) {
    this.rejectPending('disconnected');
    this.synced = false;
    if (this.stopped) return;
    if (reason === 'io client disconnect') return; // we did it (offline)
    this.setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
    if (reason === 'io server disconnect') {
      // The server closed us (token expired, logout everywhere): renew, then reconnect.
      try {
        await refresh();
      } catch (e) {
        if (e.status === 401) return;
      }
      if (!this.stopped && !this.socket.connected) this.socket.connect();
    }
  }

  async onSynced() {
    this.synced = true;
    // Rooms whose only messages so far came live before catch-up finished: start them there.
    for (const [roomId, set] of this.held) {
      if (this.cursors[roomId] === undefined && set.size) {
        this.cursors[roomId] = Math.min(...set) - 1;
        this.advance(roomId);
      }
    }
    this.saveCursors();
    // Live messages that overtook catch-up with a hole below them: fetch what is missing.
    for (const roomId of this.held.keys()) this.fillLiveGap(roomId);
    this.setStatus('online');
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
    this.flush();
  }

  /** Renews the token if needed and re-sends `auth` on the connected socket. */
  async reauth() {
    try {
      const s = await freshSession();
      await this.request('auth', { token: s.access_token });
    } catch {
      await sleep(500);
    }
  }

  rejectPending(code) {
    for (const p of this.pendingRequests) p.reject(new ApiError(0, code, 'Not connected to the server.'));
    this.pendingRequests.clear();
  }

  /** Emits an event and resolves its `{ok: true, ...}` ack; rejects with ApiError. */
  request(event, payload, timeout = 10_000) {
    return new Promise((resolve, reject) => {
      if (!this.socket || !this.socket.connected) {
        reject(new ApiError(0, 'disconnected', 'Not connected to the server.'));
        return;
      }
      const entry = { reject };
      this.pendingRequests.add(entry);
      this.socket.timeout(timeout).emit(event, payload, (err, res) => {
        if (!this.pendingRequests.delete(entry)) return; // already rejected by a disconnect
        if (err) reject(new ApiError(0, 'timeout', 'The server did not answer in time.'));
        else if (!res || res.ok !== true) {
          const e = (res && res.error) || {};
          reject(new ApiError(0, e.code || 'internal', e.message || 'Unexpected answer from the server.', e));
        } else resolve(res);
      });
    });
  }

  // ---------------------------------------------------------------- cursors

  authCursors() {
    const out = {};
    for (const [k, v] of Object.entries(this.cursors)) if (Number.isInteger(v) && v >= 0) out[k] = v;
    return out;
  }

  saveCursors() {
    writeJSON(this.cursorKey, this.cursors);
  }

  /** Records that this device holds `seq` of `roomId`; advances the cursor over contiguous seqs. */
  hold(roomId, seq, baseline) {
    if (this.cursors[roomId] === undefined && baseline !== undefined) this.cursors[roomId] = baseline;
    const c = this.cursors[roomId];
    if (c !== undefined && seq <= c) return;
    let set = this.held.get(roomId);
    if (!set) this.held.set(roomId, (set = new Set()));
    set.add(seq);
    this.advance(roomId);
  }

  advance(roomId) {
    const set = this.held.get(roomId);
    let c = this.cursors[roomId];
    if (!set || c === undefined) return;
    while (set.has(c + 1)) {
      set.delete(c + 1);
      c += 1;
    }
    for (const s of set) if (s <= c) set.delete(s);
    this.cursors[roomId] = c;
  }

  /** The highest seq of `roomId` this device holds (undefined if it holds none). */
  highestHeld(roomId) {
    const c = this.cursors[roomId];
    if (c === undefined) return undefined;
    return Math.max(c, ...(this.held.get(roomId) || []));
  }

  /** Whether this device holds messages of `roomId` above a hole. */
  hasHole(roomId) {
    return this.cursors[roomId] !== undefined && (this.held.get(roomId)?.size || 0) > 0;
  }

  scheduleAck(roomId) {
    if (this.ackTimers.has(roomId)) return;
    this.ackTimers.set(roomId, setTimeout(() => {
      this.ackTimers.delete(roomId);
      const seq = this.cursors[roomId];
      if (seq === undefined || seq <= (this.acked.get(roomId) || 0)) return;
      this.request('message:ack', { room_id: roomId, seq })
        .then(() => this.acked.set(roomId, Math.max(seq, this.acked.get(roomId) || 0)))
        .catch(() => {}); // the cursor goes with the next connect anyway
    }, 150));
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
   * Takes in messages from any source: 'sync' (catch-up), 'live', 'ack' (our own send),
   * 'history' (REST pages), 'gap' (what live delivery lost, see `fillLiveGap`). Duplicates by
   * (room_id, seq) are dropped.
   */
  ingest(roomId, list, source) {
    if (!list.length) return;
    const top = this.highestHeld(roomId);
    const gap = source === 'live' && top !== undefined && list[0].seq > top + 1;
    const map = this.roomMessages(roomId);
    const room = this.rooms.get(roomId);
    let changed = false;
    let roomChanged = false;
    let structural = false;
    let membersChanged = false;
    let baseline;
    if (source === 'sync') baseline = list[0].seq - 1;
    else if ((source === 'live' || source === 'ack') && this.synced) baseline = list[0].seq - 1;
    for (const m of list) {
      if (!Number.isInteger(m.seq)) continue;
      if (source !== 'history') this.hold(roomId, m.seq, baseline);
      else if (this.cursors[roomId] !== undefined) this.hold(roomId, m.seq);
      if (m.sender_id === this.me.id && m.client_id) this.dropOutbox(m.client_id);
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
        if (m.sender_id !== this.me.id && source !== 'history' && !this.isReading(roomId)) {
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
    if (source !== 'history') this.saveCursors();
    if (!room && source !== 'history') this.refreshRoom(roomId, 0);
    if (structural) this.refreshRoom(roomId);
    if (changed) this.emit('messages', { room_id: roomId });
    if (membersChanged) this.emit('members', { room_id: roomId });
    if (roomChanged) this.emit('rooms');
    if (source === 'live' || source === 'gap') this.scheduleAck(roomId);
    if (gap) this.fillLiveGap(roomId);
    if (roomId === this.openRoomId) {
      this.markRead(roomId);
      if (source === 'live' || source === 'ack') this.fillGaps(roomId);
    }
  }

  /** Loads the latest page of a room (when it is opened). */
  async loadLatest(roomId) {
    const res = await api('GET', `/api/rooms/${enc(roomId)}/messages${qs({ limit: PAGE })}`);
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
      const res = await api('GET', `/api/rooms/${enc(roomId)}/messages${qs({ before_seq: first.seq, limit: PAGE })}`);
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
    if (!this.synced || this.gapFilling || this.gapFills.has(roomId)) return;
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
      const res = await api('GET', `/api/rooms/${enc(roomId)}/messages${qs({ after_seq: after, limit: 200 })}`);
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
  async fillLiveGap(roomId) {
    if (!this.synced || this.gapFills.has(roomId) || !this.hasHole(roomId)) return;
    this.gapFills.add(roomId);
    let added = false;
    try {
      for (;;) {
        const start = this.cursors[roomId];
        let after = start;
        let more = true;
        while (more && this.cursors[roomId] !== undefined) {
          const res = await this.request('history', { room_id: roomId, after_seq: after, limit: 200 });
          const list = res.messages || [];
          if (list.length) {
            added = true;
            this.ingest(roomId, list, 'gap');
            after = list[list.length - 1].seq;
          }
          more = Boolean(res.has_more) && list.length > 0;
        }
        if (this.stopped || !this.hasHole(roomId) || this.cursors[roomId] === start) break;
      }
    } catch (err) {
      if (!['disconnected', 'timeout', 'not_found'].includes(err.code)) this.fail(err, 'Loading missing messages');
    } finally {
      this.gapFills.delete(roomId);
    }
    // These were never counted as unread, having never come live: the server's count has them.
    if (added && !this.stopped && this.rooms.has(roomId) && !this.isReading(roomId)) this.refreshRoom(roomId);
  }

  /** A single message by seq (for reply quotes of messages not loaded). */
  async fetchMessage(roomId, seq) {
    const res = await api('GET', `/api/rooms/${enc(roomId)}/messages${qs({ after_seq: seq - 1, limit: 1 })}`);
    const m = (res.messages || []).find((x) => x.seq === seq);
    return m || null;
  }

  // ---------------------------------------------------------------- sending

  /** Queues a message; it is sent now if connected, else on reconnect. */
  send(roomId, body, replyTo) {
    const item = {
      client_id: uid(),
      room_id: roomId,
      body,
      reply_to: replyTo ?? null,
      created_at: new Date().toISOString(),
      error: null,
    };
    this.outbox.push(item);
    this.saveOutbox();
    this.emit('messages', { room_id: roomId });
    this.flush();
    return item;
  }

  outboxFor(roomId) {
    return this.outbox.filter((i) => i.room_id === roomId);
  }

  saveOutbox() {
    writeJSON(this.outboxKey, this.outbox);
  }

  dropOutbox(clientId) {
    const i = this.outbox.findIndex((x) => x.client_id === clientId);
    if (i < 0) return;
    const [item] = this.outbox.splice(i, 1);
    this.saveOutbox();
    this.emit('messages', { room_id: item.room_id });
  }

  retry(clientId) {
    const item = this.outbox.find((x) => x.client_id === clientId);
    if (!item) return;
    item.error = null;
    this.saveOutbox();
    this.emit('messages', { room_id: item.room_id });
    this.flush();
  }

  discard(clientId) {
    this.dropOutbox(clientId);
  }

  /** Sends queued messages one at a time, in order, while connected. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.stopped && this.socket && this.socket.connected) {
        const item = this.outbox.find((x) => !x.error);
        if (!item) break;
        const payload = { room_id: item.room_id, body: item.body, client_id: item.client_id };
        if (item.reply_to !== null && item.reply_to !== undefined) payload.reply_to = item.reply_to;
        try {
          const res = await this.request('message:send', payload, 15_000);
          this.dropOutbox(item.client_id);
          if (res.message) this.ingest(res.message.room_id || item.room_id, [res.message], 'ack');
        } catch (err) {
          if (err.code === 'disconnected') break; // resent with the same client_id on reconnect
          if (err.code === 'timeout') continue;
          if (err.code === 'unauthenticated' && (item.authRetries = (item.authRetries || 0) + 1) <= 3) {
            // The socket's token expired (or it is not bound yet): renew, re-auth, try again.
            await this.reauth();
            continue;
          }
          if (err.code === 'rate_limited') {
            await sleep(Math.max(200, err.retry_after_ms || 1000));
            continue;
          }
          item.error = { code: err.code, message: err.message };
          this.saveOutbox();
          this.emit('messages', { room_id: item.room_id });
          this.fail(err, 'Sending a message');
        }
      }
    } finally {
      this.flushing = false;
    }
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
    if (!this.socket || !this.socket.connected) return;
    this.request('typing', { room_id: roomId, typing }).catch(() => {});
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
    const rooms = await api('GET', '/api/rooms');
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
    const full = await api('GET', `/api/rooms/${enc(roomId)}`);
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
    this.held.delete(roomId);
    delete this.cursors[roomId];
    this.saveCursors();
    if (this.outbox.some((i) => i.room_id === roomId)) {
      this.outbox = this.outbox.filter((i) => i.room_id !== roomId);
      this.saveOutbox();
    }
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
      const u = await api('GET', `/api/users/${enc(userId)}`);
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
    const list = await api('GET', `/api/users${qs({ q, limit: 10 })}`);
    for (const u of list || []) if (!this.users.has(u.id)) this.users.set(u.id, u);
    return (list || []).filter((u) => u.id !== this.me.id);
  }

  // ---------------------------------------------------------------- room actions (REST)

  async openDirect(userId) {
    const room = await api('POST', '/api/rooms/direct', { user_id: userId });
    this.rooms.set(room.id, { ...this.rooms.get(room.id), ...room });
    await this.fetchRoom(room.id);
    return room;
  }

  async createRoom(kind, name, memberIds) {
    const body = { kind, name };
    if (memberIds && memberIds.length) body.members = memberIds;
    const room = await api('POST', '/api/rooms', body);
    this.rooms.set(room.id, room);
    await this.fetchRoom(room.id);
    return room;
  }

  async joinChannel(roomId) {
    await api('POST', `/api/rooms/${enc(roomId)}/members`, { user_id: this.me.id });
    return this.fetchRoom(roomId);
  }

  async rename(roomId, name) {
    const room = await api('PATCH', `/api/rooms/${enc(roomId)}`, { name });
    await this.fetchRoom(roomId);
    return room;
  }

  async addMember(roomId, userId) {
    await api('POST', `/api/rooms/${enc(roomId)}/members`, { user_id: userId });
    await this.fetchRoom(roomId);
  }

  async removeMember(roomId, userId) {
    await api('DELETE', `/api/rooms/${enc(roomId)}/members/${enc(userId)}`);
    if (userId === this.me.id) this.dropRoom(roomId);
    else await this.fetchRoom(roomId);
  }

  async setRole(roomId, userId, role) {
    await api('PATCH', `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, { role });
    await this.fetchRoom(roomId);
  }

  async receipts(roomId, seq) {
    return api('GET', `/api/rooms/${enc(roomId)}/messages/${seq}/receipts`);
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

function enc(s) {
  return encodeURIComponent(s);
}

function readJSON(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key) || 'null');
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

function writeJSON(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: cursors fall back to the server's delivered_seq */
  }
}
