// Privacy and safety as the page holds them (docs/protocol.md §14): whom the user blocks, their
// privacy settings (both kept in step with their other devices by `block:updated` and
// `privacy:updated`), and the calls of invite links, join requests, the channel directory and
// reports, over the library's REST client. Emits on the ChatClient:
//   'blocks'                    the blocked list changed
//   'privacy'  {privacy}        the settings changed (here or on another device)
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient.

import { rest } from '../api.js';

export const privacyState = {
  /** Wires the library's events; called once from `start()`. */
  startPrivacy(on) {
    this.blocked = new Map(); // user_id -> User
    this.privacy = null; // PrivacySettings, once loaded
    on('block:updated', ({ user_id, blocked }) => {
      if (blocked && !this.blocked.has(user_id)) this.blocked.set(user_id, this.users.get(user_id) || { id: user_id });
      if (!blocked) this.blocked.delete(user_id);
      this.presenceAcrossBlock(user_id, blocked);
      this.emit('blocks');
      // The list carries names and the order; a change from another device may name a stranger.
      this.loadBlocks();
    });
    on('privacy:updated', (p) => this.setPrivacyState(p));
    // A device that was away missed the events: read both again after every catch-up.
    on('synced', () => {
      this.loadBlocks();
      this.loadPrivacy();
    });
  },

  async loadBlocks() {
    try {
      const users = await rest.blocks();
      if (this.stopped) return;
      this.blocked = new Map((users || []).map((u) => [u.id, u]));
      for (const u of users || []) if (!this.users.has(u.id)) this.users.set(u.id, u);
      this.emit('blocks');
    } catch (err) {
      if (err.code !== 'network') this.fail(err, 'Loading blocked people');
    }
  },

  async loadPrivacy() {
    try {
      this.setPrivacyState(await rest.privacy());
    } catch (err) {
      if (err.code !== 'network') this.fail(err, 'Loading privacy settings');
    }
  },

  setPrivacyState(p) {
    if (!p || this.stopped) return;
    this.privacy = p;
    this.emit('privacy', { privacy: p });
  },

  isBlocked(userId) {
    return Boolean(userId && this.blocked && this.blocked.has(userId));
  },

  /** Blocked users, latest first (the server's order). */
  blockedUsers() {
    return [...(this.blocked || new Map()).values()];
  },

  async block(userId) {
    await rest.block(userId);
    if (!this.blocked.has(userId)) {
      this.blocked = new Map([[userId, this.users.get(userId) || { id: userId }], ...this.blocked]);
      this.presenceAcrossBlock(userId, true);
      this.emit('blocks');
    }
  },

  async unblock(userId) {
    await rest.unblock(userId);
    if (this.blocked.delete(userId)) {
      this.presenceAcrossBlock(userId, false);
      this.emit('blocks');
    }
  },

  /**
   * No presence crosses a block (§14): what is held about a blocked person is stale, so they show
   * as offline, never seen; after an unblock their presence is asked again.
   */
  presenceAcrossBlock(userId, blocked) {
    if (blocked) this.onPresence({ user_id: userId, online: false, last_seen_at: null });
    else this.queryPresence();
  },

  async savePrivacy(change) {
    const p = await rest.setPrivacy(change);
    this.setPrivacyState(p);
    return p;
  },

  // ---------------------------------------------------------------- invite links (groups)

  createInvite(roomId, opts) {
    return rest.createInvite(roomId, opts);
  },

  invites(roomId) {
    return rest.invites(roomId);
  },

  revokeInvite(token) {
    return rest.revokeInvite(token);
  },

  joinRequests(roomId) {
    return rest.joinRequests(roomId);
  },

  async approveJoin(roomId, userId) {
    await rest.approveJoin(roomId, userId);
    await this.fetchRoom(roomId);
  },

  denyJoin(roomId, userId) {
    return rest.denyJoin(roomId, userId);
  },

  invitePreview(token) {
    return rest.invitePreview(token);
  },

  /** Joins by a link: the room (now held and listed), or `{pending: true, room_id}`. */
  async joinByInvite(token) {
    const res = await rest.joinByInvite(token);
    if (res && res.room) await this.fetchRoom(res.room.id);
    return res;
  },

  // ---------------------------------------------------------------- directory and reports

  searchChannels(q) {
    return rest.channels(q ? { q, limit: 30 } : { limit: 30 });
  },

  report(body) {
    return rest.report(body);
  },
};
