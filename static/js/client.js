// The web app's state: rooms, messages, members, presence and typing, as the page shows them. No
// DOM here; the UI listens to events:
//   'rooms'                         the room list or a room's summary changed
//   'messages'  {room_id, prepended} a room's messages (or its outbox) changed
//   'changed'   {room_id, seq}      a change entry (edit, delete, reaction) targeted that message
//   'members'   {room_id}           members, roles or receipt cursors changed
//   'typing'    {room_id}
//   'presence'  {user_id}
//   'users'                         a display name became known or changed
//   'status'    {status}            connecting | syncing | online | reconnecting | offline
//   'removed'   {room_id}           we are no longer in that room
//   'mutes'     {room_id?}          a room was muted or unmuted (state/mutes.js)
//   'error'     {error, context}    something failed; show error.code / error.message
//   'logout'    {reason}            the session is gone (refresh refused, logged out elsewhere)
//   'blocks'                        whom the user blocks changed (state/privacy.js)
//   'privacy'   {privacy}           the user's privacy settings changed (state/privacy.js)
//
// Talking to the server is the Missive client library's job (js/missive/, a copy of
// clients/js/src): `MissiveClient` owns the socket, the handshake with cursors, catch-up acks,
// dedupe by (room_id, seq), gap filling in every room, `message:ack`, token renewal and the
// outbox (in order, one client_id per message, a refused or oversized message marked failed
// without holding up the others). This class turns what it delivers into what the page shows:
// it wires the library's events to the state modules, one per concern (state/messages.js,
// state/rooms.js, state/people.js), whose methods it carries.

import { session } from './api.js';
import { MissiveClient } from './missive/index.js';
import { messageState } from './state/messages.js';
import { peopleState } from './state/people.js';
import { privacyState } from './state/privacy.js';
import { roomState } from './state/rooms.js';
import { muteState } from './state/mutes.js';


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
    this.lastHiddenId = null; // the newest Hidden.id seen: where hidden:list resumes
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
    on('message:hidden', (h) => this.onHidden(h));
    this.wireMutes(on);
    on('error', ({ error, context }) => this.fail(error, context));
    on('logout', ({ reason }) => this.emit('logout', { reason }));
    this.startPrivacy(on);

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
    clearTimeout(this.muteTimer);
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
    this.syncHidden();
    if (this.openRoomId) {
      this.fillGaps(this.openRoomId);
      this.markRead(this.openRoomId);
    }
  }

  /** Emits an event and resolves its `{ok: true, ...}` ack; rejects with a MissiveError. */
  request(event, payload, timeout) {
    return this.net.request(event, payload, timeout);
  }
}

// The page's state, by concern (state/*.js), on the one object the views read.
Object.assign(ChatClient.prototype, messageState, roomState, peopleState, privacyState, muteState);
