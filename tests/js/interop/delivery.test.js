// @ts-check
// Delivery guarantees, as the official client sees them (the specification of the rebuilt
// delivery core):
//
// - A socket is never left connected with a hole in a room's stream. A socket that stops
//   reading either still gets every message, in seq order, once it reads again, or its transport
//   is closed (its client reconnects and catches up from its cursor, losing nothing).
// - Once a message is committed, every connected member gets it live, even if the node that
//   committed it dies before it has emitted it.
//
// The single-node test runs on whichever database MISSIVE_TEST_DB names; the two-node tests need
// Postgres (the nodes share its database and the cluster bus).
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const { startServer, testDb } = require('../lib/server');
const c = require('../lib/client');

const NEEDS_POSTGRES = testDb() === 'postgres'
  ? false
  : 'needs Postgres (MISSIVE_TEST_DB=postgres): two nodes share one database';

/** Messages in the burst a slow reader must survive, and their body size: ~9 MB in all, far
 * more than the server's per-socket send buffer and both ends' TCP buffers can hold. */
const BURST = 6000;
const BODY_CHARS = 1400;
/** After the reader resumes: no new message for this long means delivery has stopped. */
const SETTLE_QUIET_MS = 2000;
/** How long the reading device may take to get the whole burst after the last ack. The reader
 * stays paused meanwhile, so this plus the sending must stay well inside the Engine.IO heartbeat
 * (25 s ping interval + 20 s timeout), or the client would give up on its own. */
const FANOUT_CAP_MS = 25000;

/** A ~1.4 KB body that names its place in the burst. */
function burstBody(i) {
  const head = `burst ${i} `;
  return head + 'x'.repeat(BODY_CHARS - head.length);
}

/**
 * Starts node A and node B on a fresh Postgres database of their own (each test gets its own
 * pair: one of them kills a node), stopped and dropped after the test `t`.
 */
async function startCluster(t) {
  const base = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';
  const env = {
    DATABASE_URL: `${base}/missive_delivery_${crypto.randomBytes(5).toString('hex')}`,
    MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    MISSIVE_PRESENCE_GRACE: '200ms',
    MISSIVE_SEND_RATE: '0',
  };
  const nodes = [];
  t.after(async () => {
    c.disconnectAll();
    // B first: A drops the database as it stops.
    for (const node of nodes.reverse()) await node.stop();
  });
  nodes.push(await startServer({ env, dropDatabase: true }));
  nodes.push(await startServer({ env }));
  return nodes;
}

/**
 * Sends `n` messages into a room from one socket, keeping `window` sends in flight (each send
 * starts when an earlier one is answered), each with its own client_id. Stops starting new sends
 * once the socket is disconnected. `onAck(count)` runs after each successful ack.
 * @param {any} socket
 * @param {string} roomId
 * @param {number} n
 * @param {{window: number, timeoutMs?: number, onAck?: (count: number) => void}} opts
 * @returns {Promise<{acked: object[], failures: string[]}>} the stored messages, in ack order
 */
async function pump(socket, roomId, n, { window, timeoutMs = 30000, onAck = () => {} }) {
  const tag = c.hex(4);
  const acked = [];
  const failures = [];
  let next = 0;
  async function lane() {
    while (next < n && socket.connected) {
      const i = next++;
      const payload = { room_id: roomId, body: burstBody(i), client_id: `burst-${tag}-${i}` };
      try {
        const ack = await socket.timeout(timeoutMs).emitWithAck('message:send', payload);
        if (ack && ack.ok === true) {
          acked.push(ack.message);
          onAck(acked.length);
        } else {
          failures.push(`#${i}: ${JSON.stringify(ack)}`);
        }
      } catch (err) {
        failures.push(`#${i}: ${err.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: window }, lane));
  return { acked, failures };
}

/**
 * The `ws` WebSocket under engine.io-client's websocket transport (engine.io-client 6 in Node
 * uses the `ws` package: `socket.io.engine.transport.ws`, whose `_socket` is the net.Socket).
 */
function websocketOf(socket) {
  const transport = socket.io.engine.transport;
  assert.equal(transport.name, 'websocket', 'the reader is on the websocket transport');
  const ws = transport.ws;
  assert.ok(ws && ws._socket instanceof net.Socket, 'the websocket transport exposes its net.Socket');
  return ws;
}

/**
 * Stops reading the socket's TCP connection. `ws.pause()` pauses the net.Socket and also keeps
 * `ws` from resuming it by itself when its frame parser drains (which a bare `_socket.pause()`
 * would not).
 */
function stopReading(socket) {
  const ws = websocketOf(socket);
  ws.pause();
  assert.ok(ws._socket.isPaused(), 'the net.Socket is paused');
  return ws;
}

/** Live `message` events of `roomId` past `afterSeq`, in arrival order. */
function liveMessages(socket, roomId, afterSeq) {
  return c.received(socket, 'message', (m) => m.room_id === roomId && m.seq > afterSeq);
}

/**
 * Waits until the socket is disconnected, or holds `expected` messages (then a moment longer, so
 * a duplicate would show), or no new message has come for `quietMs`; at most `capMs`.
 */
async function settle(socket, count, expected, { quietMs = SETTLE_QUIET_MS, capMs = 15000 } = {}) {
  const start = Date.now();
  let seen = count();
  let changed = Date.now();
  for (;;) {
    if (!socket.connected) return;
    if (count() >= expected) {
      await c.sleep(c.QUIET_MS);
      return;
    }
    if (count() !== seen) {
      seen = count();
      changed = Date.now();
    }
    if (Date.now() - changed >= quietMs || Date.now() - start >= capMs) return;
    await c.sleep(50);
  }
}

/** Every stored message of the room past `afterSeq`, paged over REST. */
async function storedMessages(url, user, roomId, afterSeq) {
  const out = [];
  let after = afterSeq;
  for (;;) {
    const res = await c.api(url, 'GET', `/api/rooms/${roomId}/messages?after_seq=${after}&limit=200`, user.token);
    const page = c.assertOk(res, 200);
    out.push(...page.messages);
    if (!page.has_more || page.messages.length === 0) return out;
    after = page.messages[page.messages.length - 1].seq;
  }
}

/** `from..to` as an array. */
function range(from, to) {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/**
 * Asserts `actual` equals `expected` (arrays of seqs), reporting a difference in one line rather
 * than as a diff of thousands of elements.
 */
function assertSameSeqs(actual, expected, what) {
  const at = actual.findIndex((s, i) => s !== expected[i]);
  const differs = at !== -1 || actual.length !== expected.length;
  assert.ok(!differs, `${what}: got ${actual.length}, expected ${expected.length}`
    + (at === -1 ? '' : `; first difference at index ${at}: ${actual[at]} where ${expected[at]} was expected`));
}

/** A short description of which of `from..to` are missing from the increasing list `seqs`. */
function describeHoles(seqs, from, to) {
  const have = new Set(seqs);
  const missing = range(from, to).filter((s) => !have.has(s));
  if (missing.length === 0) return 'none missing';
  return `${missing.length} missing (first ${missing[0]}, last ${missing[missing.length - 1]})`;
}

/** Waits until `count()` reaches `expected`, at most `capMs`; resolves with the time taken. */
async function waitCount(count, expected, capMs) {
  const start = Date.now();
  while (count() < expected && Date.now() - start < capMs) await c.sleep(50);
  return Date.now() - start;
}

/**
 * Test 1, on one node or across two: Alice (on `senderUrl`) sends a burst into her direct room
 * with Bob, whose phone (on `readerUrl`) has stopped reading at the TCP level; then the phone
 * reads again. It must end up either disconnected or holding the whole burst in order, and what
 * it got before a disconnect must be in strictly increasing seq order.
 *
 * Bob's laptop, on the same node, keeps reading: the phone resumes only once the laptop holds
 * the whole burst, so the server has fanned every message out to that node's sockets while the
 * phone was not reading (acks alone would not show that: on Postgres the fan-out runs behind the
 * commits, and a phone resumed on the last ack is simply sent the rest as it reads).
 */
async function slowReaderBurst(t, { senderUrl, readerUrl }) {
  // Arrange
  const [alice, bob] = await c.users(senderUrl, 2);
  const room = await c.directRoom(senderUrl, alice, bob);
  const aliceSocket = await c.connect(senderUrl, { token: alice.token });
  const phone = await c.connect(readerUrl, { token: bob.token });
  const laptop = await c.connect(readerUrl, { token: bob.token });
  // One message seen live first: the path works (and, across nodes, the adapter is listening).
  const warm = await c.send(aliceSocket, { room_id: room.id, body: 'before the burst' });
  await c.waitFor(phone, 'message', (m) => m.id === warm.id, 5000);
  await c.waitFor(laptop, 'message', (m) => m.id === warm.id, 5000);
  const ws = stopReading(phone);

  // Act
  const started = Date.now();
  const { acked, failures } = await pump(aliceSocket, room.id, BURST, { window: 200 });
  const sendMs = Date.now() - started;
  const onLaptop = () => liveMessages(laptop, room.id, warm.seq).length;
  const fanoutMs = await waitCount(onLaptop, BURST, FANOUT_CAP_MS);
  const whilePaused = liveMessages(phone, room.id, warm.seq).length;
  ws.resume();
  const onPhone = () => liveMessages(phone, room.id, warm.seq).length;
  await settle(phone, onPhone, BURST);

  // Assert
  assert.equal(failures.length, 0, `every send of the burst is acked ok; ${failures.length} failed, e.g. ${failures.slice(0, 3).join('; ')}`);
  const first = warm.seq + 1;
  const last = warm.seq + BURST;
  assertSameSeqs(acked.map((m) => m.seq).sort((a, b) => a - b), range(first, last), 'the burst is stored as one run of seqs');
  assertSameSeqs(liveMessages(laptop, room.id, warm.seq).map((m) => m.seq), range(first, last),
    `Bob's laptop, which kept reading, got the whole burst in order within ${FANOUT_CAP_MS} ms of the last ack`);
  assert.equal(whilePaused, 0, 'nothing reached the phone while its TCP socket was paused (the pause took effect)');
  const seqs = liveMessages(phone, room.id, warm.seq).map((m) => m.seq);
  const connected = phone.connected;
  t.diagnostic(`burst acked in ${sendMs} ms, on the laptop ${fanoutMs} ms later; the phone `
    + `${connected ? 'stayed connected' : `was disconnected (${phone.disconnectReason})`} `
    + `and received ${seqs.length} of ${BURST}: ${describeHoles(seqs, first, last)}`);
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `the phone got seq ${seqs[i]} after seq ${seqs[i - 1]} (message ${i} of ${seqs.length})`);
  }
  if (!connected) {
    // The client never gives up on its own here (reconnection is off and Bob closes nothing):
    // a client-side ping timeout would mean the pause outlasted the heartbeat, not that the
    // server closed a socket it could not serve.
    assert.notEqual(phone.disconnectReason, 'ping timeout',
      `the pause (${sendMs + fanoutMs} ms) outlasted the client's heartbeat; the test proves nothing`);
    return;
  }
  const hole = seqs.findIndex((s, i) => s !== first + i);
  assert.ok(hole === -1 && seqs.length === BURST,
    `the phone is still connected but holds ${seqs.length} of ${BURST} messages: ${describeHoles(seqs, first, last)}`
    + (hole === -1 ? '' : `; the first hole is before seq ${seqs[hole]}, after ${hole} contiguous`));
}

describe('one node', () => {
  let url;
  c.useServer({ env: { MISSIVE_SEND_RATE: '0' } }, (s) => {
    url = s.url;
  });

  // On the server before the delivery rebuild (f113568) this fails: the phone stays connected
  // and holds only the start of the burst. A broadcast that finds its send buffer full drops the
  // packet and calls disconnect on the socket, which does not close the transport (the log
  // repeats "socket send buffer full: disconnecting it" for the same sid), so every later
  // message is dropped too. Measured over several runs: SQLite 3,562–3,678 of 6,000 held, so
  // ~2,400 missing while connected (as the issue reported); Postgres 3,531–3,546 held.
  it('a socket that stops reading during a burst is either closed or holds every message in order', { timeout: 60000 }, async (t) => {
    await slowReaderBurst(t, { senderUrl: url, readerUrl: url });
  });
});

describe('two nodes on one database', { skip: NEEDS_POSTGRES }, () => {
  // Before the rebuild (f113568) this fails as on one node: node B drops what does not fit in
  // the phone's send buffer and the phone stays connected. Measured: 3,543–3,555 of 6,000 held.
  it('a socket on one node that stops reading during a burst sent on another node is either closed or holds every message in order', { timeout: 60000 }, async (t) => {
    const [nodeA, nodeB] = await startCluster(t);
    await slowReaderBurst(t, { senderUrl: nodeA.url, readerUrl: nodeB.url });
  });

  // Node A answers a send only after COMMIT, and then emits it (a NOTIFY that carries it to node
  // B). Killed in between, A leaves messages stored that no node has emitted. Before the rebuild
  // (f113568) this fails: Bob, connected to B throughout, never gets those live. Measured over
  // eight runs: 501–519 stored, Bob got 52–96 of them live (A's NOTIFYs run ~430 behind its acks).
  it('a message committed on a node that dies before emitting it still reaches connected recipients on other nodes', { timeout: 60000 }, async (t) => {
    // Arrange
    const [doomed, survivor] = await startCluster(t);
    const [alice, bob] = await c.users(survivor.url, 2);
    const room = await c.directRoom(survivor.url, alice, bob);
    const bobSocket = await c.connect(survivor.url, { token: bob.token });
    const aliceSocket = await c.connect(doomed.url, { token: alice.token });
    const warm = await c.send(aliceSocket, { room_id: room.id, body: 'before the crash' });
    await c.waitFor(bobSocket, 'message', (m) => m.id === warm.id, 5000);

    // Act: a tight pipelined loop of sends on A; A is killed at the 500th ack.
    const count = () => liveMessages(bobSocket, room.id, warm.seq).length;
    let killed = null;
    let liveAtKill = 0;
    const { acked } = await pump(aliceSocket, room.id, 3000, {
      window: 100,
      timeoutMs: 10000,
      onAck: (n) => {
        if (n !== 500) return;
        liveAtKill = count();
        killed = doomed.kill('SIGKILL');
      },
    });
    assert.ok(killed, `node A was killed after 500 acks (only ${acked.length} came)`);
    await killed;
    const stored = await storedMessages(survivor.url, bob, room.id, warm.seq);
    const storedSeqs = stored.map((m) => m.seq);
    const deadline = Date.now() + 5000;
    while (bobSocket.connected && count() < stored.length && Date.now() < deadline) await c.sleep(50);
    await c.sleep(c.QUIET_MS);

    // Assert
    const got = liveMessages(bobSocket, room.id, warm.seq).map((m) => m.seq);
    const holes = describeHoles(got, warm.seq + 1, warm.seq + stored.length);
    t.diagnostic(`acked before the kill: ${acked.length} (Bob had ${liveAtKill} live at the 500th ack); `
      + `stored: ${stored.length} (seq ${warm.seq + 1}..${storedSeqs[storedSeqs.length - 1]}); `
      + `Bob got live: ${got.length}, ${holes}`);
    assert.equal(bobSocket.disconnectReason, null, 'Bob stayed connected to node B throughout');
    assert.ok(bobSocket.connected, 'Bob is connected to node B');
    assertSameSeqs(storedSeqs, range(warm.seq + 1, warm.seq + stored.length), 'the stored stream has no gap');
    const storedIds = new Set(stored.map((m) => m.id));
    const lost = acked.filter((m) => !storedIds.has(m.id)).map((m) => m.seq);
    assert.equal(lost.length, 0, `every acked message is stored; missing: ${lost.slice(0, 10).join(', ')}`);
    assert.ok(stored.length >= 500, `at least the 500 acked messages are stored (${stored.length})`);
    assertSameSeqs(got, storedSeqs, `Bob got live exactly the stored messages, in order (${holes})`);
  });
});
