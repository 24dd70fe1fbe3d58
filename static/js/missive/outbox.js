// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module outbox
 * The outbox: messages the user wrote that the server has not acknowledged yet, persisted so they
 * survive a reload, each with a `client_id` chosen once so a resend after a dropped connection is
 * stored once (§7). Pure bookkeeping; `MissiveClient` drives the sending.
 *
 * Failure isolation: an item the server refuses (or one that cannot be sent at all, e.g. over the
 * 64 KiB packet limit) is marked `failed` with the error, and the items behind it go on; the user
 * retries or discards it. Order is kept among the items that are sent.
 */

import { readJSON, writeJSON } from './storage.js';

/** @typedef {import('./storage.js').KeyValueStorage} KeyValueStorage */

/**
 * @typedef {object} OutboxItem
 * @property {string} client_id
 * @property {string} [room_id]
 * @property {string} [to] a user id: a direct message, creating the room on first use
 * @property {string} body
 * @property {number | null} reply_to
 * @property {string[]} [attachments] ids of the sender's uploads it carries
 * @property {string} created_at
 * @property {'queued' | 'failed'} state
 * @property {{code: string, message: string} | null} error
 * @property {number} drops how many times the connection dropped while this item was in flight
 */

/** A random client id (crypto.randomUUID where available). */
export function newClientId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

export class Outbox {
  /**
   * @param {KeyValueStorage} storage
   * @param {string} key
   */
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    /** @type {OutboxItem[]} */
    this.items = readJSON(storage, key, []).filter(
      /** @param {any} i */ (i) => i && typeof i.client_id === 'string' && typeof i.body === 'string',
    );
    for (const i of this.items) {
      // Items stored before states existed carry only their error.
      i.state = i.state === 'failed' || i.error ? 'failed' : 'queued';
      i.error = i.error || null;
      i.drops = i.drops || 0;
    }
  }

  save() {
    writeJSON(this.storage, this.key, this.items);
  }

  /**
   * @param {{room_id?: string, to?: string, body: string, reply_to?: number | null, client_id?: string, attachments?: string[]}} msg
   * @returns {OutboxItem}
   */
  add(msg) {
    /** @type {OutboxItem} */
    const item = {
      client_id: msg.client_id || newClientId(),
      body: msg.body,
      reply_to: msg.reply_to ?? null,
      created_at: new Date().toISOString(),
      state: 'queued',
      error: null,
      drops: 0,
    };
    if (msg.room_id) item.room_id = msg.room_id;
    else if (msg.to) item.to = msg.to;
    if (msg.attachments && msg.attachments.length) item.attachments = [...msg.attachments];
    this.items.push(item);
    this.save();
    return item;
  }

  /** The next item to send: the oldest one not failed. */
  next() {
    return this.items.find((i) => i.state === 'queued');
  }

  /** @param {string} clientId */
  get(clientId) {
    return this.items.find((i) => i.client_id === clientId);
  }

  /** Removes an item (acknowledged, or discarded). @param {string} clientId */
  remove(clientId) {
    const i = this.items.findIndex((x) => x.client_id === clientId);
    if (i < 0) return undefined;
    const [item] = this.items.splice(i, 1);
    this.save();
    return item;
  }

  /** @param {string} clientId @param {{code: string, message: string}} error */
  fail(clientId, error) {
    const item = this.get(clientId);
    if (!item) return undefined;
    item.state = 'failed';
    item.error = { code: error.code, message: error.message };
    this.save();
    return item;
  }

  /** Puts a failed item back in the queue, at its place. @param {string} clientId */
  retry(clientId) {
    const item = this.get(clientId);
    if (!item) return undefined;
    item.state = 'queued';
    item.error = null;
    item.drops = 0;
    this.save();
    return item;
  }

  /** @param {string} [roomId] @returns {OutboxItem[]} */
  list(roomId) {
    return roomId === undefined ? [...this.items] : this.items.filter((i) => i.room_id === roomId);
  }

  /** Drops every item of a room (the user left it). @param {string} roomId */
  dropRoom(roomId) {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.room_id !== roomId);
    if (this.items.length !== before) this.save();
  }
}

/** The Socket.IO packet limit (§9): a bigger packet makes the server close the connection. */
export const MAX_PACKET_BYTES = 64 * 1024;

/**
 * Bytes of the Socket.IO packet that would carry this send: `42<ack id>["message:send",{...}]`,
 * with a margin for the ack id and framing.
 * @param {object} payload
 */
export function packetBytes(payload) {
  const json = JSON.stringify(['message:send', payload]);
  return new TextEncoder().encode(json).length + 16;
}
