// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module client
 * `MissiveClient`: one device's connection to Missive over the official Socket.IO client, owning
 * everything the contract asks of a client (docs/protocol.md §4–§7):
 *
 * - authentication in the handshake with a fresh token and this device's cursors, on every
 *   (re)connect; token refresh on expiry, on a refused handshake and on a server disconnect;
 *   re-`auth` on the live socket when the token is renewed;
 * - catch-up: each `sync` batch is taken in, the cursors saved, then acked;
 * - live delivery: dedupe by `(room_id, seq)`, cursors that advance only over contiguous seqs,
 *   gaps filled with `history` `after_seq` in every room, `message:ack` up to the start of a gap;
 * - the outbox (see outbox.js): sends one at a time in order with a stable `client_id`, resent
 *   after a reconnect; a refused or oversized message is marked failed and the rest go on.
 *
 * The Socket.IO factory is injected (`io` from `socket.io-client` in Node, `window.io` from
 * `/socket.io/socket.io.js` in a browser), so the library itself imports no transport.
 *
 * The application listens to events (`messages`, `outbox`, `status`, `receipt`, …) and keeps
 * whatever state it shows; each `(room_id, seq)` reaches it once through `messages`.
 */

import { Emitter } from './emitter.js';
import { MissiveError } from './errors.js';
import { MAX_PACKET_BYTES, Outbox, packetBytes } from './outbox.js';
import { RestClient } from './rest.js';
import { TokenSession } from './session.js';
import { MemoryStorage } from './storage.js';
import { RoomStreams } from './streams.js';

/** @typedef {import('./protocol.js').Message} Message */
/** @typedef {import('./protocol.js').User} User */
/** @typedef {import('./protocol.js').RoomInfo} RoomInfo */
/** @typedef {import('./protocol.js').Receipt} Receipt */
/** @typedef {import('./protocol.js').Typing} Typing */
/** @typedef {import('./protocol.js').Presence} Presence */
/** @typedef {import('./protocol.js').Synced} Synced */
/** @typedef {import('./protocol.js').HistoryPage} HistoryPage */
/** @typedef {import('./protocol.js').Hidden} Hidden */
/** @typedef {import('./protocol.js').BlockChange} BlockChange */
/** @typedef {import('./protocol.js').PrivacySettings} PrivacySettings */
/** @typedef {import('./protocol.js').Mute} Mute */
/** @typedef {import('./protocol.js').ClientEvent} ClientEvent */
/** @typedef {import('./outbox.js').OutboxItem} OutboxItem */
/** @typedef {import('./storage.js').KeyValueStorage} KeyValueStorage */
/**
 * @template {ClientEvent} E
 * @typedef {import('./protocol.js').PayloadOf<E>} PayloadOf
 */
/**
 * @template {ClientEvent} E
 * @typedef {import('./protocol.js').OkOf<E>} OkOf
 */

/**
 * The part of a socket.io-client `Socket` the library uses.
 * @typedef {object} SocketLike
 * @property {boolean} connected
 * @property {boolean} active
 * @property {() => unknown} connect
 * @property {() => unknown} disconnect
 * @property {(event: string, fn: (...args: any[]) => void) => unknown} on
 * @property {(ms: number) => {emit: (event: string, ...args: any[]) => unknown}} timeout
 * @property {() => unknown} removeAllListeners
 * @property {{on: (event: string, fn: (...args: any[]) => void) => unknown}} io
 */

/**
 * A Socket.IO factory: `io` of socket.io-client.
 * @typedef {(url: string, opts: Record<string, unknown>) => SocketLike} IoFactory
 */

/** @typedef {'idle' | 'connecting' | 'syncing' | 'online' | 'reconnecting' | 'offline' | 'closed'} Status */
/** @typedef {'sync' | 'live' | 'ack' | 'gap'} Source */

/**
 * @typedef {{
 *   status: {status: Status},
 *   session: {user: User},
 *   messages: {room_id: string, messages: Message[], source: Source},
 *   synced: Synced,
 *   outbox: {room_id?: string, client_id: string},
 *   receipt: Receipt,
 *   typing: Typing,
 *   presence: Presence,
 *   'room:updated': RoomInfo,
 *   'room:removed': {room_id: string},
 *   'user:updated': User,
 *   'message:hidden': Hidden,
 *   'block:updated': BlockChange,
 *   'privacy:updated': PrivacySettings,
 *   'room:muted': Mute,
 *   'room:unmuted': {room_id: string},
 *   error: {error: MissiveError, context: string},
 *   logout: {reason: string},
 * }} ClientEvents
 */

/**
 * @typedef {object} MissiveClientOptions
 * @property {IoFactory} io the Socket.IO factory
 * @property {string} [url] server base URL; empty = same origin (browser)
 * @property {KeyValueStorage} [storage] session, cursors and outbox (default: in memory)
 * @property {TokenSession} [session] share a session (default: one over `storage`)
 * @property {typeof fetch} [fetch]
 * @property {<T>(name: string, fn: () => Promise<T>) => Promise<T>} [lock] serialises token refreshes (e.g. Web Locks)
 * @property {Record<string, unknown>} [socketOptions] extra socket.io-client options
 * @property {number} [ackDelay] ms to gather live messages before one `message:ack` (default 150)
 * @property {number} [requestTimeout] ms to wait for an ack (default 10000)
 * @property {number} [maxDrops] connection drops during one send before it is marked failed (default 3)
 */

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @extends {Emitter<ClientEvents>} */
export class MissiveClient extends Emitter {
  /** @param {MissiveClientOptions} opts */
  constructor(opts) {
    super();
    this.opts = opts;
    this.url = (opts.url || '').replace(/\/$/, '');
    this.storage = opts.storage || new MemoryStorage();
    this.session =
      opts.session || new TokenSession({ storage: this.storage, baseUrl: this.url, fetch: opts.fetch, lock: opts.lock });
    this.rest = new RestClient({ session: this.session, baseUrl: this.url, fetch: opts.fetch });
    this.ackDelay = opts.ackDelay ?? 150;
    this.requestTimeout = opts.requestTimeout ?? 10_000;
    this.maxDrops = opts.maxDrops ?? 3;
    /** @type {Status} */
    this.status = 'idle';
    this.synced = false;
    this.closed = false;
    /** @type {SocketLike | null} */
    this.socket = null;
    /** @type {string | null} */
    this.userId = null;
    /** @type {RoomStreams} */
    this.streams = new RoomStreams(new MemoryStorage(), 'cursors');
    /** @type {Outbox} */
    this.outbox = new Outbox(new MemoryStorage(), 'outbox');
    /** @type {Set<{reject: (e: MissiveError) => void}>} */
    this.pending = new Set();
    /** @type {Map<string, ReturnType<typeof setTimeout>>} */
    this.ackTimers = new Map();
    /** @type {Map<string, number>} */
    this.acked = new Map();
    /** @type {Set<string>} */
    this.filling = new Set();
    this.flushing = false;
    const user = this.session.user;
    if (user) this.bind(user.id);
    this.unsubscribe = this.session.on('change', (s) => this.onSessionChange(s));
  }

  /** Loads this user's cursors and outbox. @param {string} userId */
  bind(userId) {
    if (this.userId === userId) return;
    this.userId = userId;
    this.streams = new RoomStreams(this.storage, `missive.cursors.${userId}`);
    this.outbox = new Outbox(this.storage, `missive.outbox.${userId}`);
  }

  /** @param {Status} status */
  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', { status });
  }

  /** @param {unknown} err @param {string} context */
  fail(err, context) {
    const error = err instanceof MissiveError ? err : new MissiveError('internal', String(err instanceof Error ? err.message : err));
    this.emit('error', { error, context });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Opens the socket (after login). Catch-up starts from this device's cursors. */
  connect() {
    const user = this.session.user;
    if (!user) throw new MissiveError('unauthenticated', 'Log in before connecting.');
    this.bind(user.id);
    this.closed = false;
    if (this.socket) {
      if (!this.socket.connected) this.socket.connect();
      return;
    }
    const socket = this.opts.io(this.url, {
      autoConnect: false,
      ...(this.opts.socketOptions || {}),
      // Called on every (re)connect: a fresh token and the cursors as they are now.
      auth: (/** @type {(auth: object) => void} */ cb) => {
        this.session
          .fresh()
          .catch(() => this.session.get())
          .then((s) => cb({ token: s ? s.access_token : '', cursors: this.streams.snapshot() }));
      },
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.synced = false;
      this.setStatus('syncing');
    });
    socket.on('connect_error', (/** @type {Error} */ err) => this.onConnectError(err));
    socket.on('disconnect', (/** @type {string} */ reason) => this.onDisconnect(reason));
    socket.io.on('reconnect_attempt', () => {
      if (this.status !== 'offline') this.setStatus('reconnecting');
    });
    socket.on('session', (/** @type {{user: User}} */ p) => {
      if (p && p.user) {
        this.session.updateUser(p.user);
        this.emit('session', { user: p.user });
      }
      // Authenticated: what waited in the outbox may go now.
      this.flush();
    });
    socket.on('sync', (/** @type {any} */ batch, /** @type {unknown} */ ack) => {
      try {
        if (batch && typeof batch.room_id === 'string' && Array.isArray(batch.messages) && batch.messages.length) {
          const first = Math.min(...batch.messages.map((/** @type {Message} */ m) => m.seq));
          this.take(batch.room_id, batch.messages, 'sync', first - 1);
        }
      } catch (err) {
        this.fail(err, 'Catching up');
      } finally {
        // Stored (and cursors saved) first, then acked: the ack confirms delivery (§5).
        if (typeof ack === 'function') ack();
      }
    });
    socket.on('synced', (/** @type {Synced} */ s) => this.onSynced(s));
    socket.on('message', (/** @type {Message} */ m) => {
      if (m && typeof m.room_id === 'string') this.take(m.room_id, [m], 'live', this.synced ? m.seq - 1 : undefined);
    });
    socket.on('receipt', (/** @type {Receipt} */ r) => this.emit('receipt', r));
    socket.on('typing', (/** @type {Typing} */ t) => this.emit('typing', t));
    socket.on('presence', (/** @type {Presence} */ p) => this.emit('presence', p));
    socket.on('room:updated', (/** @type {RoomInfo} */ r) => this.emit('room:updated', r));
    socket.on('room:removed', (/** @type {{room_id: string}} */ p) => {
      if (!p || !p.room_id) return;
      this.forgetRoom(p.room_id);
      this.emit('room:removed', p);
    });
    socket.on('user:updated', (/** @type {User} */ u) => {
      if (u && u.id === this.userId) this.session.updateUser(u);
      this.emit('user:updated', u);
    });
    socket.on('message:hidden', (/** @type {Hidden} */ h) => {
      if (h && typeof h.room_id === 'string') this.emit('message:hidden', h);
    });
    // Privacy and safety (§14): a block or a settings change made on another of the user's devices.
    socket.on('block:updated', (/** @type {BlockChange} */ b) => {
      if (b && typeof b.user_id === 'string') this.emit('block:updated', b);
    });
    socket.on('privacy:updated', (/** @type {PrivacySettings} */ p) => {
      if (p && typeof p.last_seen === 'string') this.emit('privacy:updated', p);
    });
    // Mutes are the person's: another device of theirs (or a REST call) changed one (§13).
    socket.on('room:muted', (/** @type {Mute} */ m) => {
      if (m && typeof m.room_id === 'string') this.emit('room:muted', { room_id: m.room_id, until: typeof m.until === 'number' ? m.until : null });
    });
    socket.on('room:unmuted', (/** @type {{room_id: string}} */ p) => {
      if (p && typeof p.room_id === 'string') this.emit('room:unmuted', { room_id: p.room_id });
    });
    this.setStatus('connecting');
    socket.connect();
  }

  /** Drops the connection until `resume()` (e.g. the browser says the network is gone). */
  pause() {
    this.setStatus('offline');
    if (this.socket) this.socket.disconnect();
    this.rejectPending('disconnected');
  }

  resume() {
    if (this.closed || !this.socket) return;
    if (!this.socket.connected) {
      this.setStatus('connecting');
      this.socket.connect();
    }
  }

  /** Closes the socket and stops every timer. Cursors and outbox stay stored. */
  close() {
    this.closed = true;
    this.unsubscribe();
    this.session.stop();
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
    this.rejectPending('disconnected');
    for (const t of this.ackTimers.values()) clearTimeout(t);
    this.ackTimers.clear();
    this.setStatus('closed');
  }

  /** Forgets this user's cursors and outbox (on logout). */
  wipe() {
    if (!this.userId) return;
    this.storage.removeItem(`missive.cursors.${this.userId}`);
    this.storage.removeItem(`missive.outbox.${this.userId}`);
    this.streams = new RoomStreams(new MemoryStorage(), 'cursors');
    this.outbox = new Outbox(new MemoryStorage(), 'outbox');
  }

  /** Logs out (revoking this login), closes and wipes local data. */
  async logout() {
    try {
      await this.rest.logout();
    } finally {
      this.wipe();
      this.close();
    }
  }

  /** @param {import('./session.js').StoredSession | null} s */
  onSessionChange(s) {
    if (this.closed) return;
    if (!this.userId) {
      // Logged in after construction: this user's cursors and outbox apply from now on.
      if (s) this.bind(s.user.id);
      return;
    }
    if (!s || s.user.id !== this.userId) {
      this.emit('logout', { reason: s ? 'Another account logged in.' : 'You have been logged out.' });
      return;
    }
    // A renewed access token extends the live socket's authentication (no cursors: catch-up is
    // not restarted on an authenticated socket, §4).
    if (this.socket && this.socket.connected) {
      this.request('auth', { token: s.access_token }).catch((err) => {
        if (err.code !== 'disconnected' && err.code !== 'timeout') this.fail(err, 'Renewing the connection');
      });
    }
  }

  /** @param {Error} err */
  async onConnectError(err) {
    if (this.closed || !this.socket) return;
    if (err && err.message === 'unauthenticated') {
      // The handshake token was refused (expired while asleep, or revoked): renew and retry.
      try {
        await this.session.refresh();
      } catch (e) {
        if (e instanceof MissiveError && e.status === 401) return; // the session listener reports logout
      }
      await sleep(300);
      if (!this.closed && this.socket && !this.socket.connected) this.socket.connect();
      return;
    }
    if (this.status !== 'offline') this.setStatus('reconnecting');
    if (!this.socket.active) {
      // Refused by the namespace (rate limited, unavailable): the manager will not retry itself.
      await sleep(3000);
      if (!this.closed && this.socket && !this.socket.connected && this.status !== 'offline') this.socket.connect();
    }
  }

  /** @param {string} reason */
  async onDisconnect(reason) {
    this.rejectPending('disconnected');
    this.synced = false;
    if (this.closed || reason === 'io client disconnect') return;
    this.setStatus('reconnecting');
    if (reason === 'io server disconnect') {
      // The server closed the namespace (token expired, logout everywhere): renew, reconnect.
      try {
        await this.session.refresh();
      } catch (e) {
        if (e instanceof MissiveError && e.status === 401) return;
      }
      if (!this.closed && this.socket && !this.socket.connected) this.socket.connect();
    }
  }

  /** @param {Synced} s */
  onSynced(s) {
    this.synced = true;
    this.streams.settle();
    this.setStatus('online');
    this.emit('synced', s || { rooms: 0, messages: 0 });
    // Live messages that overtook catch-up above a hole: fetch what is missing.
    for (const roomId of this.streams.gaps()) this.fillGap(roomId);
    this.flush();
  }

  // ------------------------------------------------------------------ requests

  /** @param {string} code */
  rejectPending(code) {
    for (const p of this.pending) p.reject(new MissiveError(code, 'Not connected to the server.'));
    this.pending.clear();
  }

  /**
   * Emits a client event and resolves its `{ok: true, ...}` ack; rejects with a `MissiveError`
   * (the ack's error, or `disconnected` / `timeout`).
   * @template {ClientEvent} E
   * @param {E} event
   * @param {PayloadOf<E>} payload
   * @param {number} [timeout]
   * @returns {Promise<OkOf<E>>}
   */
  request(event, payload, timeout = this.requestTimeout) {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      if (!socket || !socket.connected) {
        reject(new MissiveError('disconnected', 'Not connected to the server.'));
        return;
      }
      const entry = { reject };
      this.pending.add(entry);
      socket.timeout(timeout).emit(event, payload, (/** @type {unknown} */ err, /** @type {any} */ res) => {
        if (!this.pending.delete(entry)) return; // already rejected by a disconnect
        if (err) reject(new MissiveError('timeout', 'The server did not answer in time.'));
        else if (!res || res.ok !== true) reject(MissiveError.fromBody(res && res.error));
        else resolve(res);
      });
    });
  }

  // ------------------------------------------------------------------ delivery

  /**
   * Takes in messages from the stream; hands the fresh ones to the application.
   * @param {string} roomId
   * @param {Message[]} list
   * @param {Source} source
   * @param {number} [baseline]
   */
  take(roomId, list, source, baseline) {
    const { fresh, gap } = this.streams.accept(roomId, list, { baseline });
    for (const m of list) {
      if (m.sender_id === this.userId && m.client_id && this.outbox.get(m.client_id)) {
        this.outbox.remove(m.client_id);
        this.emit('outbox', { room_id: m.room_id, client_id: m.client_id });
      }
    }
    if (fresh.length) this.emit('messages', { room_id: roomId, messages: fresh, source });
    if (source !== 'sync') this.scheduleAck(roomId);
    if (gap && this.synced) this.fillGap(roomId);
  }

  /** Confirms live messages with one `message:ack` per room, up to the cursor. @param {string} roomId */
  scheduleAck(roomId) {
    if (this.ackTimers.has(roomId)) return;
    const timer = setTimeout(() => {
      this.ackTimers.delete(roomId);
      const seq = this.streams.cursor(roomId);
      if (seq === undefined || seq <= (this.acked.get(roomId) || 0)) return;
      this.request('message:ack', { room_id: roomId, seq })
        .then(() => this.acked.set(roomId, Math.max(seq, this.acked.get(roomId) || 0)))
        .catch(() => {}); // the cursor goes with the next connect anyway
    }, this.ackDelay);
    this.ackTimers.set(roomId, timer);
  }

  /**
   * Fetches what is missing between a room's cursor and what is held above it, with `history`
   * `after_seq`, page by page while `has_more`; one fill per room at a time, repeated while a
   * pass makes progress and a gap remains.
   * @param {string} roomId
   */
  async fillGap(roomId) {
    if (this.filling.has(roomId) || !this.streams.hasGap(roomId)) return;
    this.filling.add(roomId);
    try {
      for (;;) {
        const start = this.streams.cursor(roomId);
        let after = start;
        let more = true;
        while (more && after !== undefined) {
          const res = await this.request('history', { room_id: roomId, after_seq: after, limit: 200 });
          const list = res.messages || [];
          if (list.length) {
            this.take(roomId, list, 'gap');
            after = list[list.length - 1].seq;
          }
          more = Boolean(res.has_more) && list.length > 0;
        }
        if (this.closed || !this.streams.hasGap(roomId) || this.streams.cursor(roomId) === start) break;
      }
    } catch (err) {
      // Disconnected: the next catch-up fills it. Not found: we left the room.
      if (!(err instanceof MissiveError) || !['disconnected', 'timeout', 'not_found'].includes(err.code)) {
        this.fail(err, 'Loading missing messages');
      }
    } finally {
      this.filling.delete(roomId);
    }
  }

  /**
   * A page of a room's history, over the socket when connected, else REST. Seqs above the cursor
   * it brings are counted as held (and the cursor advances over them).
   * @param {string} roomId
   * @param {{before_seq?: number, after_seq?: number, limit?: number}} [page]
   * @returns {Promise<HistoryPage>}
   */
  async history(roomId, page = {}) {
    const res =
      this.socket && this.socket.connected
        ? await this.request('history', { room_id: roomId, ...page })
        : await this.rest.messages(roomId, page);
    const out = { messages: res.messages || [], has_more: Boolean(res.has_more) };
    if (this.streams.cursor(roomId) !== undefined && out.messages.length) this.streams.accept(roomId, out.messages);
    return out;
  }

  /** The cursor of a room: this device holds everything up to it. @param {string} roomId */
  cursor(roomId) {
    return this.streams.cursor(roomId);
  }

  /** Forgets a room's cursor and queued messages (left or removed). @param {string} roomId */
  forgetRoom(roomId) {
    this.streams.forget(roomId);
    if (this.outbox.list(roomId).length) {
      this.outbox.dropRoom(roomId);
      this.emit('outbox', { room_id: roomId, client_id: '' });
    }
  }

  /** Marks a room read up to `seq`. @param {string} roomId @param {number} seq */
  markRead(roomId, seq) {
    return this.request('message:read', { room_id: roomId, seq });
  }

  /** @param {string} roomId @param {boolean} typing */
  setTyping(roomId, typing) {
    if (!this.socket || !this.socket.connected) return Promise.resolve(null);
    return this.request('typing', { room_id: roomId, typing }).catch(() => null);
  }

  // ------------------------------------------------------------------ message lifecycle (§7)
  //
  // Over the socket when connected, else REST. What they change reaches every device (this one
  // included) as change entries of the stream, through `messages`; the acks' messages are the
  // current state, which `lifecycle.newer` reconciles with what is held.

  /** @returns {boolean} */
  get live() {
    return Boolean(this.socket && this.socket.connected);
  }

  /** Edits one's own text message. @param {string} roomId @param {number} seq @param {string} body @returns {Promise<Message>} */
  async edit(roomId, seq, body) {
    if (this.live) return (await this.request('message:edit', { room_id: roomId, seq, body })).message;
    return this.rest.editMessage(roomId, seq, body);
  }

  /** Deletes a message for everyone. @param {string} roomId @param {number} seq @returns {Promise<void>} */
  async deleteMessage(roomId, seq) {
    if (this.live) await this.request('message:delete', { room_id: roomId, seq });
    else await this.rest.deleteMessage(roomId, seq);
  }

  /**
   * Reacts with `emoji`; the same emoji again removes it, another replaces it.
   * @param {string} roomId @param {number} seq @param {string} emoji @returns {Promise<Message>}
   */
  async react(roomId, seq, emoji) {
    if (this.live) return (await this.request('message:react', { room_id: roomId, seq, emoji })).message;
    return this.rest.react(roomId, seq, emoji);
  }

  /** Deletes a message for this user only (their devices get `message:hidden`). @param {string} roomId @param {number} seq @returns {Promise<void>} */
  async hide(roomId, seq) {
    if (this.live) await this.request('message:hide', { room_id: roomId, seq });
    else await this.rest.hide(roomId, seq);
  }

  /**
   * The messages this user hid after the `Hidden.id` given (at most 1,000 a call), for a device
   * that was away when `message:hidden` went out.
   * @param {string} [after] @returns {Promise<Hidden[]>}
   */
  async hiddenSince(after) {
    const payload = after ? { after } : {};
    const res = this.live ? await this.request('hidden:list', payload) : await this.rest.hidden(after);
    return res.hidden || [];
  }

  /** Posts a copy of a text message into another room. @param {string} roomId @param {number} seq @param {string} toRoomId @returns {Promise<Message>} */
  async forward(roomId, seq, toRoomId) {
    const m = this.live
      ? (await this.request('message:forward', { room_id: roomId, seq, to_room_id: toRoomId })).message
      : await this.rest.forward(roomId, seq, toRoomId);
    // A send like any other: held at once, as `message:send`'s ack is (live delivery dedupes).
    if (m && typeof m.room_id === 'string') this.take(m.room_id, [m], 'ack', this.synced ? m.seq - 1 : undefined);
    return m;
  }

  /**
   * Full-text search over the messages this user may read, newest first.
   * @param {{q: string, room_id?: string, before?: string, limit?: number}} query
   * @returns {Promise<HistoryPage>}
   */
  async search(query) {
    const res = this.live ? await this.request('search', query) : await this.rest.search(query);
    return { messages: res.messages || [], has_more: Boolean(res.has_more) };
  }

  // ------------------------------------------------------------------ sending

  /**
   * Queues a message and sends it as soon as it can. Resolves nothing: follow it with the
   * `outbox` and `messages` events (or `sendAndWait`).
   * @param {{room_id: string} | {to: string}} target
   * @param {string} body may be empty when `opts.attachments` are given (a caption)
   * @param {{reply_to?: number | null, client_id?: string, attachments?: string[]}} [opts]
   *   `attachments`: ids of the user's uploads (`rest.uploadAttachment`), at most 10
   * @returns {OutboxItem}
   */
  send(target, body, opts = {}) {
    const item = this.outbox.add({
      ...target,
      body,
      reply_to: opts.reply_to,
      client_id: opts.client_id,
      attachments: opts.attachments,
    });
    this.emit('outbox', { room_id: item.room_id, client_id: item.client_id });
    this.flush();
    return item;
  }

  /**
   * Sends and resolves the stored message, or rejects with the error that made it fail (the
   * item then stays in the outbox, failed, for `retry` or `discard`).
   * @param {{room_id: string} | {to: string}} target
   * @param {string} body
   * @param {{reply_to?: number | null, client_id?: string, attachments?: string[]}} [opts]
   * @returns {Promise<Message>}
   */
  sendAndWait(target, body, opts = {}) {
    return new Promise((resolve, reject) => {
      /** @type {string} */
      let clientId = '';
      const offMsg = this.on('messages', ({ messages }) => {
        const m = messages.find((x) => x.client_id === clientId && x.sender_id === this.userId);
        if (m) done(() => resolve(m));
      });
      const offBox = this.on('outbox', (e) => {
        if (e.client_id !== clientId) return;
        const item = this.outbox.get(clientId);
        if (item && item.state === 'failed' && item.error) {
          const err = new MissiveError(item.error.code, item.error.message);
          done(() => reject(err));
        }
      });
      /** @param {() => void} fn */
      const done = (fn) => {
        offMsg();
        offBox();
        fn();
      };
      clientId = this.send(target, body, opts).client_id;
    });
  }

  /** Queues a failed message again. @param {string} clientId */
  retry(clientId) {
    const item = this.outbox.retry(clientId);
    if (!item) return;
    this.emit('outbox', { room_id: item.room_id, client_id: clientId });
    this.flush();
  }

  /** Drops a queued or failed message. @param {string} clientId */
  discard(clientId) {
    const item = this.outbox.remove(clientId);
    if (item) this.emit('outbox', { room_id: item.room_id, client_id: clientId });
  }

  /** @param {string} clientId @param {MissiveError} err */
  markFailed(clientId, err) {
    const item = this.outbox.fail(clientId, err);
    if (item) {
      this.emit('outbox', { room_id: item.room_id, client_id: clientId });
      this.fail(err, 'Sending a message');
    }
  }

  /** Sends queued messages one at a time, in order, while connected. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.closed && this.socket && this.socket.connected) {
        const item = this.outbox.next();
        if (!item) break;
        /** @type {import('./protocol.js').SendPayload} */
        const payload = item.room_id
          ? { room_id: item.room_id, body: item.body, client_id: item.client_id }
          : { to: /** @type {string} */ (item.to), body: item.body, client_id: item.client_id };
        if (item.reply_to !== null && item.reply_to !== undefined) payload.reply_to = item.reply_to;
        if (item.attachments && item.attachments.length) payload.attachments = item.attachments;
        // The server closes a connection whose packet exceeds 64 KiB (§9): such a message would
        // drop the socket on every attempt and hold up everything behind it.
        if (packetBytes(payload) > MAX_PACKET_BYTES) {
          this.markFailed(
            item.client_id,
            new MissiveError('too_large', `This message is too long to send (over ${MAX_PACKET_BYTES / 1024} KiB).`),
          );
          continue;
        }
        try {
          const res = await this.request('message:send', payload, 15_000);
          const m = res.message;
          if (this.outbox.remove(item.client_id)) this.emit('outbox', { room_id: item.room_id || m.room_id, client_id: item.client_id });
          this.take(m.room_id, [m], 'ack', this.synced ? m.seq - 1 : undefined);
        } catch (e) {
          const err = e instanceof MissiveError ? e : new MissiveError('internal', String(e));
          if (err.code === 'disconnected') {
            // Resent with the same client_id after reconnecting; but a message that keeps
            // dropping the connection is set aside so the others can go.
            const current = this.outbox.get(item.client_id);
            if (current && ++current.drops >= this.maxDrops) {
              this.markFailed(item.client_id, new MissiveError('disconnected', 'The connection dropped each time this message was sent.'));
            } else this.outbox.save();
            break;
          }
          if (err.code === 'timeout') continue;
          if (err.code === 'rate_limited') {
            await sleep(Math.max(200, err.retry_after_ms || 1000));
            continue;
          }
          if (err.code === 'unauthenticated' && this.outbox.get(item.client_id)) {
            const current = /** @type {OutboxItem & {authRetries?: number}} */ (this.outbox.get(item.client_id));
            current.authRetries = (current.authRetries || 0) + 1;
            if (current.authRetries <= 3) {
              await this.reauth();
              continue;
            }
          }
          this.markFailed(item.client_id, err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Renews the token if needed and re-sends `auth` on the connected socket. */
  async reauth() {
    try {
      const s = await this.session.fresh();
      await this.request('auth', { token: s.access_token });
    } catch {
      await sleep(500);
    }
  }
}
