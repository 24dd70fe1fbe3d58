// @ts-check
// A stand-in for a socket.io-client Socket, for the unit tests of pure client logic (what the
// client does with events it receives, and what it emits). The integration tests use the real
// server and the real socket.io-client.

/**
 * @typedef {{event: string, payload: any, ack: (err: unknown, res?: any) => void}} Emitted
 */

export class FakeSocket {
  /** @param {Record<string, unknown>} opts */
  constructor(opts) {
    this.opts = opts;
    this.connected = false;
    this.active = true;
    /** @type {Map<string, ((...args: any[]) => void)[]>} */
    this.handlers = new Map();
    /** @type {Emitted[]} */
    this.emitted = [];
    /** Answers emits at once when set: (event, payload) => ack body, or undefined to leave pending. */
    /** @type {((event: string, payload: any) => any) | null} */
    this.responder = null;
    /** @type {any} */
    this.handshakeAuth = null;
    this.io = { on: () => {} };
  }

  connect() {
    const auth = /** @type {any} */ (this.opts.auth);
    auth((/** @type {any} */ a) => {
      this.handshakeAuth = a;
      this.connected = true;
      this.fire('connect');
      // As the server does after a handshake with a token (§4).
      this.fire('session', { user: { id: 'me', username: 'me', display_name: 'Me', created_at: '' } });
    });
  }

  disconnect() {
    const was = this.connected;
    this.connected = false;
    if (was) this.fire('disconnect', 'io client disconnect');
  }

  /** The server dropped the transport. */
  drop() {
    this.connected = false;
    this.fire('disconnect', 'transport close');
  }

  /** @param {string} event @param {(...args: any[]) => void} fn */
  on(event, fn) {
    const list = this.handlers.get(event) || [];
    list.push(fn);
    this.handlers.set(event, list);
  }

  removeAllListeners() {
    this.handlers.clear();
  }

  /** @param {string} event @param {...any} args */
  fire(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }

  /** @param {number} _ms */
  timeout(_ms) {
    return {
      emit: (/** @type {string} */ event, /** @type {any} */ payload, /** @type {any} */ ack) => {
        const entry = { event, payload, ack };
        this.emitted.push(entry);
        if (this.responder) {
          const res = this.responder(event, payload);
          if (res !== undefined) queueMicrotask(() => ack(null, res));
        }
      },
    };
  }

  /** @param {string} event */
  sent(event) {
    return this.emitted.filter((e) => e.event === event);
  }
}
