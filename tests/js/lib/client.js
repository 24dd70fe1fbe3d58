//! Typed helpers for the interop suite: REST calls, users, rooms, and sockets of the official
//! `socket.io-client` that record every event they receive.
//!
//! Every socket made by `connect` keeps a log of all server→client events from the moment it is
//! created, so an event that arrives before a test starts waiting for it (e.g. `session`, which
//! follows the CONNECT packet at once) is never lost. `waitFor` takes events from that log in
//! arrival order and marks them taken, so waiting twice for `sync` yields the first and then the
//! second batch.
'use strict';

const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');

// The protocol's types come from the client library (clients/js/src/protocol.js): the helpers
// below take event names and payloads typed by them, so the interop files that opt in with
// `// @ts-check` (checked by `npm run typecheck:interop` in clients/js, in CI) fail to compile when
// the contract and the types part ways.
/** @typedef {import('../../../clients/js/src/protocol.js').ClientToServerEvents} ClientToServerEvents */
/** @typedef {import('../../../clients/js/src/protocol.js').ServerToClientEvents} ServerToClientEvents */
/** @typedef {import('../../../clients/js/src/protocol.js').ClientEvent} ClientEvent */
/** @typedef {import('../../../clients/js/src/protocol.js').Message} Message */
/** @typedef {import('../../../clients/js/src/protocol.js').SendPayload} SendPayload */
/**
 * @template {ClientEvent} E
 * @typedef {import('../../../clients/js/src/protocol.js').PayloadOf<E>} PayloadOf
 */
/**
 * @template {ClientEvent} E
 * @typedef {import('../../../clients/js/src/protocol.js').OkOf<E>} OkOf
 */
/** @typedef {keyof ServerToClientEvents} ServerEvent */
/**
 * The first argument of a server event.
 * @template {ServerEvent} E
 * @typedef {Parameters<ServerToClientEvents[E]>[0]} ServerPayload
 */
/**
 * A socket of the official client, typed by the protocol, with the event log of `connect`.
 * @typedef {import('socket.io-client').Socket<ServerToClientEvents, ClientToServerEvents> & {eventLog: any[], waiters?: any[], autoAckSync: boolean, disconnectReason: string | null}} TestSocket
 */

/** How long to wait for something that should happen. */
const WAIT_MS = 3000;
/** How long to watch for something that must not happen. */
const QUIET_MS = 300;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hex = (n = 6) => crypto.randomBytes(n).toString('hex');
const randomUsername = (prefix = 'u') => `${prefix}_${hex(6)}`;

// ---------------------------------------------------------------- REST

/**
 * One REST call.
 * @returns {Promise<{status: number, body: any, headers: Headers}>} `body` is parsed JSON when the
 *   response is JSON, the text otherwise, `null` when empty.
 */
async function api(url, method, path, token, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = headers['content-type'] || 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url + path, { method, headers, body: payload });
  const text = await res.text();
  let parsed = null;
  if (text.length > 0) {
    const ct = res.headers.get('content-type') || '';
    if (ct.includes('json')) {
      try { parsed = JSON.parse(text); } catch (_) { parsed = text; }
    } else {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Asserts a REST response is the documented error shape with this status and code. */
function assertRestError(res, status, code) {
  assert.equal(res.status, status, `expected HTTP ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.ok(res.body && res.body.error, `error body missing: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code, `error code: ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error.message, 'string');
}

/** Asserts a 2xx status, showing the body when it is not. */
function assertOk(res, status) {
  if (status !== undefined) {
    assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  } else {
    assert.ok(res.status >= 200 && res.status < 300, `expected 2xx, got ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

/**
 * Registers a fresh user with a random `u_<hex>` name.
 * @returns {Promise<{id, username, password, token, refresh, user, session}>}
 */
async function register(url, opts = {}) {
  const username = opts.username || randomUsername(opts.prefix);
  const password = opts.password || `pw-${hex(8)}`;
  const body = { username, password };
  if (opts.display_name !== undefined) body.display_name = opts.display_name;
  const res = await api(url, 'POST', '/api/auth/register', null, body);
  assert.equal(res.status, 201, `register ${username}: ${res.status} ${JSON.stringify(res.body)}`);
  const s = res.body;
  return {
    id: s.user.id,
    username: s.user.username,
    password,
    token: s.access_token,
    refresh: s.refresh_token,
    user: s.user,
    session: s,
  };
}

/** Registers `n` fresh users concurrently. */
function users(url, n, opts) {
  return Promise.all(Array.from({ length: n }, () => register(url, opts)));
}

/** Logs a user in again, returning a new session (another "device"). */
async function login(url, user) {
  const res = await api(url, 'POST', '/api/auth/login', null, { username: user.username, password: user.password });
  assert.equal(res.status, 200, `login: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The direct room between two users, via REST. */
async function directRoom(url, a, b) {
  const res = await api(url, 'POST', '/api/rooms/direct', a.token, { user_id: b.id });
  assert.ok(res.status === 200 || res.status === 201, `direct room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Creates a group (or channel) via REST; `members` are user objects or ids. */
async function createRoom(url, owner, { kind = 'group', name, members, max_members } = {}) {
  const body = { kind, name: name || `${kind}-${hex(3)}` };
  if (members) body.members = members.map((m) => (typeof m === 'string' ? m : m.id));
  if (max_members !== undefined) body.max_members = max_members;
  const res = await api(url, 'POST', '/api/rooms', owner.token, body);
  assert.equal(res.status, 201, `create room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Sends a message over REST; returns the stored Message. */
async function postMessage(url, user, roomId, body, extra = {}) {
  const res = await api(url, 'POST', `/api/rooms/${roomId}/messages`, user.token, { body, ...extra });
  assert.equal(res.status, 201, `post message: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The caller's view of one room from `GET /api/rooms`. */
async function myRoom(url, user, roomId) {
  const res = await api(url, 'GET', '/api/rooms', user.token);
  assert.equal(res.status, 200, `GET /api/rooms: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.find((r) => r.id === roomId);
}

// ---------------------------------------------------------------- sockets

const openSockets = new Set();

/**
 * Opens a socket of the official client and resolves once it is connected (and, when a token was
 * given, once `session` and then `synced` have arrived). Rejects with the `connect_error` error.
 *
 * @param {string} url server base URL
 * @param {object} [opts]
 * @param {string} [opts.token] access token for the handshake (omit for a guest socket)
 * @param {object} [opts.cursors] `{room_id: seq}` this device already holds
 * @param {object} [opts.auth] raw handshake auth object (overrides token/cursors)
 * @param {string} [opts.namespace] e.g. `/admin`; default `/`
 * @param {boolean} [opts.autoAckSync=true] ack every `sync` batch as it arrives, as a real client
 * @param {boolean} [opts.waitSession] wait for `session` (default: when a token is given)
 * @param {boolean} [opts.waitSynced] then wait for `synced`, so the device is caught up and later
 *   events are live ones (default: when waiting for `session` and acking sync batches)
 * @param {string[] | 'default'} [opts.transports] default `['websocket']`; `'default'` leaves the
 *   official client's own (long-polling first, then the upgrade to WebSocket)
 * @param {object} [opts.io] more `io()` options, applied last (e.g. `{agent, ca, reconnection: true}`)
 * @returns {Promise<TestSocket>}
 */
function connect(url, opts = {}) {
  const ns = opts.namespace || '/';
  let auth = opts.auth;
  if (!auth) {
    auth = {};
    if (opts.token !== undefined) auth.token = opts.token;
    if (opts.cursors !== undefined) auth.cursors = opts.cursors;
  }
  /** @type {any} */
  const ioOpts = { auth, forceNew: true, reconnection: false, timeout: WAIT_MS, ...(opts.io || {}) };
  if (opts.transports !== 'default') ioOpts.transports = opts.transports || ['websocket'];
  const socket = io(url + (ns === '/' ? '' : ns), ioOpts);
  openSockets.add(socket);
  socket.eventLog = [];
  socket.autoAckSync = opts.autoAckSync !== false;
  socket.onAny((event, ...args) => {
    let ack = null;
    if (args.length > 0 && typeof args[args.length - 1] === 'function') ack = args.pop();
    const entry = { event, data: args[0], args, ack, taken: false, at: Date.now() };
    socket.eventLog.push(entry);
    if (event === 'sync' && ack && socket.autoAckSync) ack();
    for (const w of [...(socket.waiters || [])]) w(entry);
  });
  socket.disconnectReason = null;
  socket.on('disconnect', (reason) => { socket.disconnectReason = reason; });
  const waitSession = opts.waitSession !== undefined ? opts.waitSession : opts.token !== undefined && ns === '/';
  const waitSynced = opts.waitSynced !== undefined ? opts.waitSynced : waitSession && socket.autoAckSync;

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect to ${ns} timed out`));
    }, WAIT_MS + 500);
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      openSockets.delete(socket);
      reject(err);
    });
    socket.once('connect', async () => {
      if (!waitSession) {
        clearTimeout(timer);
        resolve(socket);
        return;
      }
      clearTimeout(timer);
      try {
        await waitFor(socket, 'session', () => true, WAIT_MS, { take: false });
      } catch (e) {
        socket.close();
        reject(new Error(`connected but no 'session' event within ${WAIT_MS} ms`));
        return;
      }
      if (waitSynced) {
        try {
          await waitFor(socket, 'synced', () => true, 10000, { take: false });
        } catch (e) {
          socket.close();
          reject(new Error(`connected but no 'synced' event: ${e.message}`));
          return;
        }
      }
      resolve(socket);
    });
  });
}

/** Resolves with the `connect_error` of a connection attempt that must be refused. */
async function connectError(url, opts) {
  try {
    const s = await connect(url, { ...opts, waitSession: false });
    s.close();
  } catch (err) {
    return err;
  }
  assert.fail('connection was accepted but should have been refused');
}

/** Closes every socket opened by `connect` (call in afterEach). */
function disconnectAll() {
  for (const s of openSockets) s.close();
  openSockets.clear();
}

/**
 * Starts one server for the calling test file: before its tests, handing it to `onStart`;
 * stops it after them; closes the file's sockets after each test.
 * @param {object | ((server: any) => void)} opts `startServer` options (e.g. `{env: {...}}`), or `onStart`
 * @param {(server: any) => void} [onStart]
 */
function useServer(opts, onStart) {
  if (typeof opts === 'function') [opts, onStart] = [undefined, opts];
  const { before, after, afterEach } = require('node:test');
  const { startServer } = require('./server');
  let server;
  before(async () => {
    server = await startServer(opts);
    onStart(server);
  });
  after(async () => {
    disconnectAll();
    if (server) await server.stop();
  });
  afterEach(() => disconnectAll());
}

/**
 * Emits with an ack callback and resolves with the ack's first argument.
 * @template {ClientEvent} E
 * @param {TestSocket} socket
 * @param {E} event
 * @param {PayloadOf<E>} payload
 * @returns {Promise<any>}
 */
async function emitAck(socket, event, payload, timeoutMs = WAIT_MS) {
  try {
    return await socket.timeout(timeoutMs).emitWithAck(event, payload);
  } catch (err) {
    const state = socket.connected ? 'connected' : `disconnected: ${socket.disconnectReason}`;
    throw new Error(`no ack for '${event}' within ${timeoutMs} ms (socket ${state}): ${err.message}`);
  }
}

/**
 * Emits and asserts the ack is `{ok: true, ...}`; resolves with the ack.
 * @template {ClientEvent} E
 * @param {TestSocket} socket
 * @param {E} event
 * @param {PayloadOf<E>} payload
 * @returns {Promise<OkOf<E>>}
 */
async function emitOk(socket, event, payload, timeoutMs = WAIT_MS) {
  const ack = await emitAck(socket, event, payload, timeoutMs);
  assert.ok(ack && ack.ok === true, `${event} ${JSON.stringify(payload).slice(0, 200)} → ${JSON.stringify(ack)}`);
  return ack;
}

/** Emits and asserts the ack is the documented failure with this code; resolves with the ack. */
async function emitErr(socket, event, payload, code, timeoutMs = WAIT_MS) {
  const ack = await emitAck(socket, event, payload, timeoutMs);
  assert.ok(ack && ack.ok === false, `${event} should fail with ${code}, got ${JSON.stringify(ack)}`);
  assert.ok(ack.error, `failure ack without error: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `${event} error: ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, 'string', `error.message: ${JSON.stringify(ack)}`);
  return ack;
}

/**
 * Waits for the next not-yet-taken `event` matching `predicate` (already received or to come) and
 * resolves with the whole log entry `{event, data, args, ack}`.
 */
function waitForEntry(socket, event, predicate = () => true, timeoutMs = WAIT_MS, { take = true } = {}) {
  const matches = (e) => !e.taken && e.event === event && predicate(e.data, e);
  const found = socket.eventLog.find(matches);
  if (found) {
    if (take) found.taken = true;
    return Promise.resolve(found);
  }
  return new Promise((resolve, reject) => {
    socket.waiters = socket.waiters || [];
    const waiter = (entry) => {
      if (!matches(entry)) return;
      if (take) entry.taken = true;
      cleanup();
      resolve(entry);
    };
    const timer = setTimeout(() => {
      cleanup();
      const seen = socket.eventLog.map((e) => e.event).join(', ') || 'none';
      reject(new Error(`no '${event}' event within ${timeoutMs} ms (events received: ${seen})`));
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      socket.waiters = socket.waiters.filter((w) => w !== waiter);
    }
    socket.waiters.push(waiter);
  });
}

/**
 * Like `waitForEntry` but resolves with the event's payload.
 * @template {ServerEvent} E
 * @param {TestSocket} socket
 * @param {E} event
 * @param {(data: ServerPayload<E>, entry?: any) => boolean} [predicate]
 * @param {number} [timeoutMs]
 * @param {{take?: boolean}} [opts]
 * @returns {Promise<ServerPayload<E>>}
 */
async function waitFor(socket, event, predicate = () => true, timeoutMs = WAIT_MS, opts) {
  return (await waitForEntry(socket, event, predicate, timeoutMs, opts)).data;
}

/**
 * Asserts that no not-yet-taken `event` matching `predicate` is received within `ms`
 * (events already in the log count too).
 */
async function expectNone(socket, event, predicate = () => true, ms = QUIET_MS) {
  await sleep(ms);
  const hit = socket.eventLog.find((e) => !e.taken && e.event === event && predicate(e.data, e));
  assert.ok(!hit, `unexpected '${event}' event: ${hit && JSON.stringify(hit.data).slice(0, 300)}`);
}

/** All received `event` payloads matching `predicate`, taken or not. */
function received(socket, event, predicate = () => true) {
  return socket.eventLog.filter((e) => e.event === event && predicate(e.data, e)).map((e) => e.data);
}

/** Resolves when the socket is disconnected, with the reason. */
function waitDisconnect(socket, timeoutMs = WAIT_MS) {
  if (!socket.connected && socket.disconnectReason) return Promise.resolve(socket.disconnectReason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still connected after ${timeoutMs} ms`)), timeoutMs);
    socket.once('disconnect', (reason) => { clearTimeout(timer); resolve(reason); });
  });
}

/** Sends a text message over the socket and resolves with the stored Message from the ack. */
/**
 * Sends a message and resolves the stored one from the ack.
 * @param {TestSocket} socket
 * @param {SendPayload} payload
 * @returns {Promise<Message>}
 */
async function send(socket, payload) {
  const ack = await emitOk(socket, 'message:send', payload);
  assert.ok(ack.message, `ack without message: ${JSON.stringify(ack)}`);
  return ack.message;
}

/**
 * Sends `n` messages into a room from one socket, `parallel` at a time; resolves with the stored
 * messages in seq order.
 */
async function sendMany(socket, roomId, n, { parallel = 25, prefix = 'm' } = {}) {
  const out = [];
  for (let i = 0; i < n; i += parallel) {
    const chunk = [];
    for (let j = i; j < Math.min(n, i + parallel); j++) {
      chunk.push(send(socket, { room_id: roomId, body: `${prefix}${j + 1}`, client_id: `${prefix}-${hex(4)}-${j}` }));
    }
    out.push(...(await Promise.all(chunk)));
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Asserts `seqs` are exactly from..to, in order. */
function assertSeqRange(seqs, from, to, what = 'seqs') {
  const expected = [];
  for (let s = from; s <= to; s++) expected.push(s);
  assert.deepEqual(seqs, expected, `${what}: expected ${from}..${to}`);
}

/**
 * Asserts `actual` has each field of `expected` with an equal value (docs/protocol.md lets the server
 * add fields, so payloads are compared on the documented ones).
 */
function assertFields(actual, expected, what = 'payload') {
  assert.ok(actual && typeof actual === 'object', `${what} is not an object: ${JSON.stringify(actual)}`);
  const picked = {};
  for (const k of Object.keys(expected)) picked[k] = actual[k];
  assert.deepEqual(picked, expected, `${what}: ${JSON.stringify(actual).slice(0, 400)}`);
}

/** RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z */
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|\+00:00)$/;

/** Asserts the object has the documented Message shape. */
function assertMessage(m) {
  assert.ok(m && typeof m === 'object', `not a message: ${JSON.stringify(m)}`);
  assert.equal(typeof m.id, 'string', 'message.id is a string');
  assert.equal(typeof m.room_id, 'string', 'message.room_id is a string');
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, `message.seq: ${m.seq}`);
  assert.equal(typeof m.sender_id, 'string', 'message.sender_id is a string');
  assert.ok(m.kind === 'text' || m.kind === 'system', `message.kind: ${m.kind}`);
  assert.equal(typeof m.body, 'string', 'message.body is a string');
  assert.ok(m.client_id === null || typeof m.client_id === 'string', `message.client_id: ${m.client_id}`);
  assert.ok(m.reply_to === null || Number.isInteger(m.reply_to), `message.reply_to: ${m.reply_to}`);
  assert.match(m.created_at, RFC3339_MS, 'message.created_at is RFC 3339 UTC with ms');
}

/**
 * An id shaped like `realId` that names nothing: ids are opaque, but a test of "unknown id"
 * should not only send ids the server could reject on form alone.
 */
function unknownIdLike(realId) {
  return /^\d+$/.test(realId) ? String(BigInt(realId) + 1000000n) : `${realId}0`;
}

// ---------------------------------------------------------------- tokens

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** Decodes a JWT's header and claims without checking anything. */
function decodeJwt(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), claims: JSON.parse(Buffer.from(p, 'base64url')) };
}

/** Signs `claims` as an HS256 JWT with `key` (a Buffer or string), reusing `header`. */
function signJwt(header, claims, key) {
  const input = `${b64url(JSON.stringify({ ...header, alg: 'HS256' }))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.createHmac('sha256', key).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

/**
 * Re-signs a real access token with the server's own `secret` (the MISSIVE_JWT_SECRET the test
 * started it with) and `changes` applied to its claims. The secret may be used as its text or as
 * hex-decoded bytes; the one the server accepts for an unexpired copy is the one used.
 */
async function resignToken(url, secret, token, changes) {
  const { header, claims } = decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  for (const key of [Buffer.from(secret, 'utf8'), Buffer.from(secret, 'hex')]) {
    const probe = signJwt(header, { ...claims, iat: now, exp: now + 600 }, key);
    const res = await api(url, 'GET', '/api/me', probe);
    if (res.status === 200) return signJwt(header, { ...claims, ...changes }, key);
  }
  assert.fail('the server accepts no token re-signed with MISSIVE_JWT_SECRET (as text or as hex)');
}

module.exports = {
  useServer,
  WAIT_MS,
  QUIET_MS,
  sleep,
  hex,
  randomUsername,
  api,
  assertRestError,
  assertOk,
  register,
  users,
  login,
  directRoom,
  createRoom,
  postMessage,
  myRoom,
  connect,
  connectError,
  disconnectAll,
  emitAck,
  emitOk,
  emitErr,
  waitFor,
  waitForEntry,
  expectNone,
  received,
  waitDisconnect,
  send,
  sendMany,
  assertSeqRange,
  assertMessage,
  assertFields,
  RFC3339_MS,
  decodeJwt,
  signJwt,
  resignToken,
  unknownIdLike,
};
