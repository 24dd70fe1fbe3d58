// @ts-check
/**
 * @module attachments
 * `AttachmentLinks`: the URLs a view puts in `<img src>` or a download link. Browsers cannot
 * send a bearer token with `<img>`, so the server mints short-lived signed links
 * (`POST /api/attachments/links`, "Attachments" in docs/protocol.md). This cache asks for them
 * in batches (every id asked for in the same tick goes in one request), keeps each until a
 * minute before it expires, and answers `null` for an attachment the user may not read.
 */

/** @typedef {import('./protocol.js').AttachmentLink} AttachmentLink */
/** @typedef {import('./protocol.js').AttachmentLinks} Links */

/** Most ids in one request (the server's limit). */
const BATCH = 100;
/** Links are dropped this long before they expire (ms). */
const MARGIN_MS = 60_000;

export class AttachmentLinks {
  /**
   * @param {{rest: {baseUrl: string, attachmentLinks: (ids: string[]) => Promise<Links>}, now?: () => number}} opts
   */
  constructor(opts) {
    this.rest = opts.rest;
    this.now = opts.now || Date.now;
    /** @type {Map<string, {link: AttachmentLink | null, until: number}>} */
    this.cache = new Map();
    /** @type {Map<string, {resolve: (l: AttachmentLink | null) => void, reject: (e: unknown) => void}[]>} */
    this.waiting = new Map();
    /** @type {Promise<void> | null} */
    this.scheduled = null;
  }

  /**
   * The absolute URL of an attachment (or of its thumbnail; `null` when it has none), or
   * `null` when the user may not read it.
   * @param {string} id
   * @param {{thumbnail?: boolean}} [opts]
   * @returns {Promise<string | null>}
   */
  async url(id, opts = {}) {
    const link = await this.link(id);
    if (!link) return null;
    const path = opts.thumbnail ? link.thumbnail_url : link.url;
    return path ? this.rest.baseUrl + path : null;
  }

  /** @param {string} id @returns {Promise<AttachmentLink | null>} */
  link(id) {
    const hit = this.cache.get(id);
    if (hit && hit.until > this.now()) return Promise.resolve(hit.link);
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(id) || [];
      list.push({ resolve, reject });
      this.waiting.set(id, list);
      if (!this.scheduled) this.scheduled = Promise.resolve().then(() => this.fetchWaiting());
    });
  }

  /** Forgets every link (after logging out). */
  clear() {
    this.cache.clear();
  }

  async fetchWaiting() {
    this.scheduled = null;
    const waiting = this.waiting;
    this.waiting = new Map();
    const ids = [...waiting.keys()];
    for (let i = 0; i < ids.length; i += BATCH) {
      const chunk = ids.slice(i, i + BATCH);
      try {
        const res = await this.rest.attachmentLinks(chunk);
        const until = res.expires_at * 1000 - MARGIN_MS;
        for (const id of chunk) {
          const link = res.links.find((l) => l.id === id) || null;
          this.cache.set(id, { link, until: link ? until : this.now() + MARGIN_MS });
          for (const w of waiting.get(id) || []) w.resolve(link);
        }
      } catch (e) {
        for (const id of chunk) for (const w of waiting.get(id) || []) w.reject(e);
      }
    }
  }
}
