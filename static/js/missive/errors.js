// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module errors
 * One error type for everything the library rejects with: the protocol's `error.code` (§1) from a
 * REST response or a Socket.IO ack, or a local code: `network` (no answer from the server over
 * HTTP), `timeout` (no ack in time), `disconnected` (the socket is not connected, or dropped
 * before the ack), `too_large` (a message that cannot be sent because its packet would exceed the
 * 64 KiB Socket.IO limit, §9, after which the server would close the connection).
 */

export class MissiveError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {{status?: number, retry_after_ms?: number}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'MissiveError';
    /** @type {string} */
    this.code = code;
    /** HTTP status for REST errors, 0 otherwise. */
    this.status = extra.status || 0;
    /** @type {number | undefined} */
    this.retry_after_ms = extra.retry_after_ms;
  }

  /** @param {import('./protocol.js').ErrorBody | undefined | null} body */
  static fromBody(body, status = 0) {
    const b = body || { code: 'internal', message: 'Unexpected answer from the server.' };
    return new MissiveError(b.code || 'internal', b.message, { status, retry_after_ms: b.retry_after_ms });
  }
}

/** "code: message", for display. @param {unknown} err */
export function describeError(err) {
  if (err instanceof MissiveError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}
