// The page's messages: per room, keyed by seq (each (room_id, seq) arrives once from the
// library), history pages, the outbox as the page shows it, and read marks.
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient.
//
// Message lifecycle (docs/protocol.md §7): change entries (`edit`, `delete`, `reaction`) stay in
// the per-room map, because gap detection needs contiguous seqs, but they are folded into the
// message they target (library `applyChange`, which respects `changed_seq`) and are never shown,
// counted unread, or made the room's last message.

import { applyChange, applyHidden, isChange, newer } from '../missive/index.js';

const PAGE = 50;

export const messageState = {
  roomMessages(roomId) {
    let m = this.messages.get(roomId);
    if (!m) this.messages.set(roomId, (m = new Map()));
    return m;
  },

  /** What the page shows of a room: messages, not change entries nor those hidden for me. */
  visibleMessages(roomId) {
    return this.sortedMessages(roomId).filter((m) => !isChange(m) && !m.hidden);
  },

  /**
   * Folds a change entry into the message it targets, held in the room or as its last message.
   * Returns true when something shown changed.
   */
  applyEntry(roomId, entry) {
    const room = this.rooms.get(roomId);
    const opts = { me: this.me.id, userIds: room ? room.kind !== 'channel' : undefined };
    const fold = (m) => {
      const next = applyChange(m, entry, opts);
      return next !== m && m.hidden ? applyHidden(next) : next;
    };
    const map = this.roomMessages(roomId);
    let changed = false;
    const target = map.get(entry.target_seq);
    if (target) {
      const next = fold(target);
      if (next !== target) {
        map.set(target.seq, next);
        changed = true;
      }
    }
    // Views may keep a copy (a quoted message further back than what is held): it is stale now.
    this.emit('changed', { room_id: roomId, seq: entry.target_seq });
    if (room && room.last_message && room.last_message.seq === entry.target_seq) {
      const next = fold(room.last_message);
      if (next !== room.last_message) {
        room.last_message = next;
        this.emit('rooms');
      }
    }
    return changed;
  },

  /** Takes a message's current state (an edit's or a reaction's ack) unless a newer one is held. */
  putCurrent(roomId, m) {
    if (!m || !Number.isInteger(m.seq)) return;
    const map = this.roomMessages(roomId);
    const held = map.get(m.seq);
    if (held) {
      const next = newer(held, m);
      if (next !== held) {
        map.set(m.seq, next);
        this.emit('messages', { room_id: roomId });
      }
    }
    const room = this.rooms.get(roomId);
    if (room && room.last_message && room.last_message.seq === m.seq) {
      room.last_message = newer(room.last_message, m);
      this.emit('rooms');
    }
  },

  async editMessage(roomId, seq, body) {
    this.putCurrent(roomId, await this.net.edit(roomId, seq, body));
  },

  /** Deletes for everyone; the tombstone comes with the `delete` entry, on every device. */
  async deleteMessage(roomId, seq) {
    await this.net.deleteMessage(roomId, seq);
  },

  async react(roomId, seq, emoji) {
    this.putCurrent(roomId, await this.net.react(roomId, seq, emoji));
  },

  /** Deletes for me: gone from this page now; the user's other devices get `message:hidden`. */
  async hideMessage(roomId, seq) {
    await this.net.hide(roomId, seq);
    this.onHidden({ room_id: roomId, seq });
  },

  onHidden(h) {
    if (!h || !h.room_id) return;
    // Live events and hidden:list pages both come oldest first.
    if (h.id) this.lastHiddenId = h.id;
    const map = this.roomMessages(h.room_id);
    const held = map.get(h.seq);
    if (held && !held.hidden) {
      map.set(h.seq, applyHidden(held));
      this.emit('messages', { room_id: h.room_id });
    }
    const room = this.rooms.get(h.room_id);
    if (room && room.last_message && room.last_message.seq === h.seq && !room.last_message.hidden) {
      room.last_message = applyHidden(room.last_message);
      this.emit('rooms');
    }
  },

  /** After (re)connecting: what this user hid on other devices meanwhile (paged, bounded). */
  async syncHidden() {
    try {
      for (let page = 0; page < 20; page++) {
        const list = await this.net.hiddenSince(this.lastHiddenId || undefined);
        for (const h of list) this.onHidden(h);
        if (list.length < 1000) break;
      }
    } catch (err) {
      if (err.code !== 'disconnected' && err.code !== 'timeout') this.fail(err, 'Loading hidden messages');
    }
  },

  forward(roomId, seq, toRoomId) {
    return this.net.forward(roomId, seq, toRoomId);
  },

  search(q, before) {
    return this.net.search({ q, before, limit: 20 });
  },

  /**
   * Opens a room's history around `seq` (a search hit further back than what is held): the page
   * ending at it and the one after; "jump to latest" loads the newest page again.
   */
  async loadAround(roomId, seq) {
    const [back, ahead] = await Promise.all([
      this.net.history(roomId, { before_seq: seq + 1, limit: 25 }),
      this.net.history(roomId, { after_seq: seq, limit: 25 }),
    ]);
    const map = this.roomMessages(roomId);
    map.clear();
    this.older.set(roomId, { hasMore: back.has_more, loading: false, detached: ahead.has_more });
    this.ingest(roomId, [...back.messages, ...ahead.messages], 'history');
    this.emit('messages', { room_id: roomId });
  },

  /** Sorted messages of a room as currently held. */
  sortedMessages(roomId) {
    return [...this.roomMessages(roomId).values()].sort((a, b) => a.seq - b.seq);
  },

  isReading(roomId) {
    return this.openRoomId === roomId && document.visibilityState === 'visible';
  },

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
      if (isChange(m)) {
        // Held for seq bookkeeping only; it moves no cursor, no unread count, no last message.
        if (!map.has(m.seq)) map.set(m.seq, m);
        if (this.applyEntry(roomId, m)) changed = true;
        if (room && m.seq > (room.last_seq || 0)) room.last_seq = m.seq;
        continue;
      }
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
  },

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
  },

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
  },

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
  },

  async fetchMessage(roomId, seq) {
    const res = await this.net.rest.messages(roomId, { after_seq: seq - 1, limit: 1 });
    const m = (res.messages || []).find((x) => x.seq === seq);
    return m || null;
  },

  /** Queues a message in the library's outbox; it is sent now if connected, else on reconnect. */
  send(roomId, body, replyTo) {
    return this.net.send({ room_id: roomId }, body, { reply_to: replyTo ?? null });
  },

  /** Messages of a room not yet acknowledged (queued, or failed with `error`). */
  outboxFor(roomId) {
    return this.net.outbox.list(roomId);
  },

  retry(clientId) {
    this.net.retry(clientId);
  },

  discard(clientId) {
    this.net.discard(clientId);
  },

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
  },
};
