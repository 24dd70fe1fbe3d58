// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module session
 * The login session and its tokens (§3 "Accounts and tokens"): kept in the given storage so a
 * reload or restart stays logged in, refreshed a little before the access token expires, and on
 * demand after a 401 or a refused handshake.
 *
 * Refresh tokens rotate and the server revokes the whole login when a used one comes back, so
 * refreshes must never overlap: one at a time per `TokenSession`, and, when a `lock` is given
 * (e.g. the Web Locks API, shared by tabs), one at a time across everything holding that lock;
 * the storage is re-read under the lock, and a session another holder already rotated is adopted
 * instead of spending the old refresh token again.
 */

import { Emitter } from './emitter.js';
import { MissiveError } from './errors.js';
import { readJSON, writeJSON } from './storage.js';

/** @typedef {import('./protocol.js').SessionResponse} SessionResponse */
/** @typedef {import('./protocol.js').User} User */
/** @typedef {import('./storage.js').KeyValueStorage} KeyValueStorage */

/**
 * @typedef {object} StoredSession
 * @property {User} user
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {number} ttl access token lifetime, ms
 * @property {number} expires_at epoch ms
 */

/**
 * @typedef {object} TokenSessionOptions
 * @property {KeyValueStorage} storage
 * @property {string} [baseUrl] the server, e.g. `http://127.0.0.1:4000`; empty = same origin
 * @property {typeof fetch} [fetch]
 * @property {string} [key] storage key (default `missive.session`)
 * @property {<T>(name: string, fn: () => Promise<T>) => Promise<T>} [lock] serialises refreshes
 * @property {() => number} [now]
 * @property {boolean} [autoRefresh] refresh on a timer before expiry (default true)
 */

/** How long before expiry to refresh: a quarter of the lifetime, between 2 s and 1 min. @param {StoredSession} s */
export function refreshMargin(s) {
  return Math.min(60_000, Math.max(2_000, (s.ttl || 900_000) / 4));
}

/** @extends {Emitter<{change: StoredSession | null}>} */
export class TokenSession extends Emitter {
  /** @param {TokenSessionOptions} opts */
  constructor(opts) {
    super();
    this.storage = opts.storage;
    this.baseUrl = (opts.baseUrl || '').replace(/\/$/, '');
    this.fetch = opts.fetch || globalThis.fetch.bind(globalThis);
    this.key = opts.key || 'missive.session';
    this.lock = opts.lock;
    this.now = opts.now || Date.now;
    this.autoRefresh = opts.autoRefresh !== false;
    /** @type {StoredSession | null} */
    this.current = this.read();
    /** @type {Promise<StoredSession> | null} */
    this.refreshing = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.retryDelay = 5_000;
    this.schedule();
  }

  /** @returns {StoredSession | null} */
  read() {
    const s = readJSON(this.storage, this.key, /** @type {StoredSession | null} */ (null));
    return s && s.access_token && s.refresh_token && s.user ? s : null;
  }

  get() {
    return this.current;
  }

  get user() {
    return this.current ? this.current.user : null;
  }

  /** Stores a `Session` from register, login or refresh. @param {SessionResponse} resp */
  adopt(resp) {
    const ttl = Math.max(1, Number(resp.expires_in) || 900) * 1000;
    this.set({
      user: resp.user,
      access_token: resp.access_token,
      refresh_token: resp.refresh_token,
      ttl,
      expires_at: this.now() + ttl,
    });
    return /** @type {StoredSession} */ (this.current);
  }

  /** @param {StoredSession | null} s */
  set(s) {
    this.current = s;
    if (s) writeJSON(this.storage, this.key, s);
    else this.storage.removeItem(this.key);
    this.changed();
  }

  clear() {
    this.set(null);
  }

  /** Keeps a changed user (e.g. a new display name) in the stored session. @param {User} user */
  updateUser(user) {
    if (!this.current || this.current.user.id !== user.id) return;
    this.current = { ...this.current, user };
    writeJSON(this.storage, this.key, this.current);
  }

  /** Re-reads the storage (another tab refreshed, logged in or out). */
  reload() {
    this.current = this.read();
    this.changed();
  }

  changed() {
    this.schedule();
    this.emit('change', this.current);
  }

  /** @param {StoredSession} s */
  needsRefresh(s) {
    return s.expires_at - this.now() <= refreshMargin(s);
  }

  /** Refreshes the access token; concurrent callers share one refresh. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** @returns {Promise<StoredSession>} */
  async doRefresh() {
    const before = this.current;
    const run = async () => {
      const stored = this.read();
      if (!stored) {
        if (this.current) this.set(null);
        throw new MissiveError('unauthenticated', 'You have been logged out.', { status: 401 });
      }
      // Another holder already rotated the token: use its result rather than spend ours again.
      if (before && stored.refresh_token !== before.refresh_token && !this.needsRefresh(stored)) {
        this.current = stored;
        this.changed();
        return stored;
      }
      /** @type {Response} */
      let res;
      try {
        res = await this.fetch(`${this.baseUrl}/api/auth/refresh`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ refresh_token: stored.refresh_token }),
        });
      } catch {
        throw new MissiveError('network', 'Cannot reach the server to renew the session.');
      }
      if (!res.ok) {
        const err = await errorOf(res);
        if (res.status === 401) this.set(null);
        throw err;
      }
      return this.adopt(await res.json());
    };
    return this.lock ? this.lock('missive-token-refresh', run) : run();
  }

  /**
   * A session whose access token is not about to expire (refreshing first if needed). Network
   * trouble during the refresh leaves the old token: the server says if it is too old.
   * @returns {Promise<StoredSession>}
   */
  async fresh() {
    if (!this.current) throw new MissiveError('unauthenticated', 'Not logged in.', { status: 401 });
    if (this.needsRefresh(this.current)) {
      try {
        await this.refresh();
      } catch (err) {
        if (!this.current || (err instanceof MissiveError && err.status === 401)) throw err;
      }
    }
    return /** @type {StoredSession} */ (this.current);
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.current;
    if (!s || !this.autoRefresh) return;
    const wait = Math.max(0, s.expires_at - refreshMargin(s) - this.now());
    this.timer = setTimeout(() => {
      this.refresh().then(
        () => {
          this.retryDelay = 5_000;
        },
        (err) => {
          if (this.current && !(err instanceof MissiveError && err.status === 401)) {
            this.timer = setTimeout(() => this.schedule(), this.retryDelay);
            this.retryDelay = Math.min(this.retryDelay * 2, 60_000);
          }
        },
      );
    }, Math.min(wait, 2 ** 31 - 1));
    // In Node, a pending refresh must not keep the process alive.
    const t = /** @type {any} */ (this.timer);
    if (t && typeof t.unref === 'function') t.unref();
  }

  /** Stops the refresh timer. */
  stop() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.autoRefresh = false;
  }
}

/** The protocol error of a failed HTTP response. @param {Response} res */
export async function errorOf(res) {
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = body && body.error;
  let retry = e && e.retry_after_ms;
  const header = res.headers.get('Retry-After');
  if (retry === undefined && header) retry = Number(header) * 1000;
  return new MissiveError((e && e.code) || `http_${res.status}`, (e && e.message) || res.statusText || 'Request failed', {
    status: res.status,
    retry_after_ms: retry,
  });
}
