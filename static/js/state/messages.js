// The page's messages: per room, keyed by seq (each (room_id, seq) arrives once from the
// library), history pages, the outbox as the page shows it, and read marks.
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient.

const PAGE = 50;

export const messageState = {
  roomMessages(roomId) {
    let m = this.messages.get(roomId);
    if (!m) this.messages.set(roomId, (m = new Map()));
    return m;
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
