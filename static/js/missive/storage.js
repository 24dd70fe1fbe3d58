// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module storage
 * Where the library keeps what must survive a reload or a restart: the session, the per-room
 * cursors and the outbox. Any object with `getItem`/`setItem`/`removeItem` of strings will do:
 * `localStorage` in a browser, `MemoryStorage` for a process that starts fresh, or a few lines
 * over a file (see the README).
 */

/**
 * @typedef {object} KeyValueStorage
 * @property {(key: string) => string | null} getItem
 * @property {(key: string, value: string) => void} setItem
 * @property {(key: string) => void} removeItem
 */

/** @implements {KeyValueStorage} */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.map = new Map();
  }

  /** @param {string} key */
  getItem(key) {
    return this.map.has(key) ? /** @type {string} */ (this.map.get(key)) : null;
  }

  /** @param {string} key @param {string} value */
  setItem(key, value) {
    this.map.set(key, String(value));
  }

  /** @param {string} key */
  removeItem(key) {
    this.map.delete(key);
  }
}

/**
 * Reads JSON, or `fallback` when absent or unreadable.
 * @template T
 * @param {KeyValueStorage} storage
 * @param {string} key
 * @param {T} fallback
 * @returns {T}
 */
export function readJSON(storage, key, fallback) {
  try {
    const raw = storage.getItem(key);
    if (raw === null) return fallback;
    const v = JSON.parse(raw);
    return v === null || v === undefined ? fallback : v;
  } catch {
    return fallback;
  }
}

/**
 * Writes JSON; a full or disabled storage is not fatal (cursors then fall back to the server's
 * `delivered_seq`, §5), so it reports false instead of throwing.
 * @param {KeyValueStorage} storage
 * @param {string} key
 * @param {unknown} value
 */
export function writeJSON(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}
