// The person's room mutes (docs/protocol.md §13 "Mutes"): shared by all their devices, loaded
// after every catch-up (a device that was away missed the events) and kept current by
// `room:muted` / `room:unmuted`. A timed mute stops counting when its time comes.
//
// Methods of ChatClient (client.js), which mixes them in; `this` is the ChatClient. Emits
// 'mutes' {room_id?} when they change.

import { rest } from '../api.js';

// setTimeout takes at most 2^31 - 1 ms; a later expiry is looked at again then.
const MAX_TIMER = 2 ** 31 - 1;

export const muteState = {
  /** Follows the library's mute events. Called once from `start`. */
  wireMutes(on) {
    this.mutes = this.mutes || new Map(); // room_id -> until (Unix ms) | null (for good)
    on('room:muted', (m) => this.setMute(m.room_id, m.until));
    on('room:unmuted', (m) => this.setMute(m.room_id, undefined));
    on('synced', () => this.loadMutes());
  },

  async loadMutes() {
    try {
      const { mutes } = await rest.mutes();
      if (this.stopped) return;
      this.mutes = new Map(mutes.map((m) => [m.room_id, m.until]));
      this.expireMutes();
      this.emit('mutes', {});
    } catch (err) {
      if (err.code !== 'network') this.fail(err, 'Loading muted chats');
    }
  },

  /** Records a mute (`until` a time or null) or its end (`undefined`). */
  setMute(roomId, until) {
    this.mutes = this.mutes || new Map();
    if (until === undefined) this.mutes.delete(roomId);
    else this.mutes.set(roomId, until);
    this.expireMutes();
    this.emit('mutes', { room_id: roomId });
  },

  /** The mute in force for a room: `{until}` (null: for good), or null when not muted. */
  muteOf(roomId) {
    if (!this.mutes || !this.mutes.has(roomId)) return null;
    const until = this.mutes.get(roomId);
    return until === null || until > Date.now() ? { until } : null;
  },

  isMuted(roomId) {
    return this.muteOf(roomId) !== null;
  },

  /** Drops expired mutes and wakes up at the next expiry. */
  expireMutes() {
    clearTimeout(this.muteTimer);
    const now = Date.now();
    let next = Infinity;
    for (const [id, until] of this.mutes) {
      if (until === null) continue;
      if (until <= now) this.mutes.delete(id);
      else next = Math.min(next, until);
    }
    if (next !== Infinity && !this.stopped) {
      this.muteTimer = setTimeout(() => {
        this.expireMutes();
        this.emit('mutes', {});
      }, Math.min(next - now + 50, MAX_TIMER));
    }
  },

  /** Mutes a room on all the person's devices: until `until` (Unix ms) or for good (null). */
  async muteRoom(roomId, until) {
    const m = await rest.mute(roomId, until);
    this.setMute(m.room_id, m.until);
  },

  async unmuteRoom(roomId) {
    await rest.unmute(roomId);
    this.setMute(roomId, undefined);
  },
};
