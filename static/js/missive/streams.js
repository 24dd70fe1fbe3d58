// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module streams
 * Per-room stream bookkeeping, pure logic with no I/O besides its storage (docs/protocol.md §5–§6):
 *
 * - the **cursor** of a room is the highest seq this device holds with nothing missing below it
 *   (down to where it started); it only advances over contiguous seqs, so a message that
 *   overtakes others never makes the device claim what it has not seen;
 * - seqs held **above** the cursor mark a gap: the client fetches from the cursor (`history`
 *   `after_seq`) until the gap closes;
 * - **dedupe**: a seq at or below the cursor, or already held above it, is not fresh; each
 *   `(room_id, seq)` is handed to the application once.
 *
 * Cursors are persisted (they are sent as `auth.cursors` on every connect); held seqs are not: a
 * restart simply re-fetches above the cursor.
 */

import { readJSON, writeJSON } from './storage.js';

/** @typedef {import('./protocol.js').Message} Message */
/** @typedef {import('./storage.js').KeyValueStorage} KeyValueStorage */

/**
 * @typedef {object} AcceptResult
 * @property {Message[]} fresh messages not held before, in ascending seq
 * @property {boolean} advanced whether the cursor moved
 * @property {boolean} gap whether seqs are now held above a hole
 */

export class RoomStreams {
  /**
   * @param {KeyValueStorage} storage
   * @param {string} key where the cursors live
   */
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    /** @type {Record<string, number>} */
    const saved = readJSON(storage, key, {});
    /** @type {Map<string, number>} */
    this.cursors = new Map();
    for (const [room, seq] of Object.entries(saved)) {
      if (Number.isInteger(seq) && seq >= 0) this.cursors.set(room, seq);
    }
    /** @type {Map<string, Set<number>>} room -> seqs held above the cursor */
    this.held = new Map();
  }

  /** The cursors to send at authentication. @returns {Record<string, number>} */
  snapshot() {
    return Object.fromEntries(this.cursors);
  }

  save() {
    writeJSON(this.storage, this.key, this.snapshot());
  }

  /** @param {string} roomId */
  cursor(roomId) {
    return this.cursors.get(roomId);
  }

  /** The highest seq held for the room, or undefined. @param {string} roomId */
  highest(roomId) {
    const c = this.cursors.get(roomId);
    const held = this.held.get(roomId);
    let top = c;
    for (const s of held || []) if (top === undefined || s > top) top = s;
    return top;
  }

  /** Whether seqs are held above a hole (and the start of the hole is known). @param {string} roomId */
  hasGap(roomId) {
    return this.cursors.has(roomId) && (this.held.get(roomId)?.size || 0) > 0;
  }

  /** Whether this (room, seq) is already held. @param {string} roomId @param {number} seq */
  has(roomId, seq) {
    const c = this.cursors.get(roomId);
    return (c !== undefined && seq <= c) || Boolean(this.held.get(roomId)?.has(seq));
  }

  /**
   * Takes in messages of one room. `baseline`, used only when the room has no cursor yet, is the
   * seq the device is known to hold everything up to (a `sync` batch starts right after it; a live
   * message after catch-up starts a room the device had nothing of).
   * @param {string} roomId
   * @param {Message[]} messages
   * @param {{baseline?: number}} [opts]
   * @returns {AcceptResult}
   */
  accept(roomId, messages, opts = {}) {
    const before = this.cursors.get(roomId);
    if (before === undefined && opts.baseline !== undefined && opts.baseline >= 0) {
      this.cursors.set(roomId, opts.baseline);
    }
    const sorted = [...messages].filter((m) => m && Number.isInteger(m.seq) && m.seq > 0).sort((a, b) => a.seq - b.seq);
    /** @type {Message[]} */
    const fresh = [];
    for (const m of sorted) {
      if (this.has(roomId, m.seq)) continue;
      let set = this.held.get(roomId);
      if (!set) this.held.set(roomId, (set = new Set()));
      set.add(m.seq);
      fresh.push(m);
    }
    this.advance(roomId);
    const after = this.cursors.get(roomId);
    if (after !== before) this.save();
    return { fresh, advanced: after !== before, gap: this.hasGap(roomId) };
  }

  /**
   * Starts rooms that only received seqs without a baseline (live messages that came before
   * catch-up said anything about the room) at just below their lowest held seq.
   */
  settle() {
    for (const [roomId, set] of this.held) {
      if (!this.cursors.has(roomId) && set.size) {
        this.cursors.set(roomId, Math.min(...set) - 1);
        this.advance(roomId);
      }
    }
    this.save();
  }

  /** @param {string} roomId */
  advance(roomId) {
    const set = this.held.get(roomId);
    let c = this.cursors.get(roomId);
    if (!set || c === undefined) return;
    while (set.has(c + 1)) {
      set.delete(c + 1);
      c += 1;
    }
    for (const s of set) if (s <= c) set.delete(s);
    this.cursors.set(roomId, c);
  }

  /** Forgets a room (left or removed). @param {string} roomId */
  forget(roomId) {
    this.held.delete(roomId);
    if (this.cursors.delete(roomId)) this.save();
  }

  /** Rooms with a gap. */
  gaps() {
    return [...this.held.keys()].filter((r) => this.hasGap(r));
  }
}
