// Faults of the cluster bus (issue 13), once per bus (MISSIVE_BUS=postgres, then redis), on two
// nodes sharing one Postgres database. Postgres run of the suite only.
//
// - A TCP reset of a node's bus connection (`ss -K` on its client port when the kernel allows it,
//   as a NAT or balancer would) and a close by the server (`pg_terminate_backend`, `CLIENT KILL`):
//   the node answers /readyz 503 while cut off and 200 after, says so in /metrics, closes its
//   sockets so they catch up, and hears the other node again.
// - Body sizes across the old 8,000-byte NOTIFY window and the largest body, with multibyte text
//   around chunk boundaries: delivered live on both nodes, as messages and as the one ephemeral
//   event that carries a body (`report:new`, to operators).
'use strict';

const { afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, spawnSync } = require('node:child_process');
const { promisify } = require('node:util');
const { testDb } = require('../lib/server');
const { forEachBus, httpGet, metric, busName } = require('../lib/cluster');
const { redisClients, redisCommand } = require('../lib/redis');
const c = require('../lib/client');

const PG_BASE = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs SQL with psql, without blocking the event loop (the /readyz watcher runs meanwhile). */
async function psql(sql, url = `${PG_BASE}/postgres`) {
  const { stdout } = await promisify(execFile)('psql', [url, '-Atc', sql], { encoding: 'utf8' });
  return stdout.trim();
}

/** The node's subscribing bus connection: `{id, clientPort, serverPort}`, or null while it has none. */
async function busConnection(bus, node) {
  const name = busName(node);
  if (bus === 'postgres') {
    const row = await psql(`select pid, client_port from pg_stat_activity where application_name = '${name}'`);
    if (!row) return null;
    const [pid, port] = row.split('\n')[0].split('|');
    return { id: pid, clientPort: Number(port), serverPort: Number(new URL(PG_BASE).port || 5432) };
  }
  const client = (await redisClients()).find((cl) => cl.name === name);
  if (!client) return null;
  const port = Number(client.addr.slice(client.addr.lastIndexOf(':') + 1));
  return { id: client.id, clientPort: port, serverPort: Number(client.laddr.slice(client.laddr.lastIndexOf(':') + 1)) };
}

/** Resets the connection's TCP socket in the node (`ss -K`); false when the kernel does not allow it. */
function tcpReset(conn) {
  const r = spawnSync('ss', ['-K', `sport = :${conn.clientPort} and dport = :${conn.serverPort}`], { encoding: 'utf8' });
  return r.status !== null && !/not supported|Operation not permitted/i.test(r.stderr || '');
}

/** Closes the connection from the server's side. */
async function serverClose(bus, conn) {
  if (bus === 'postgres') await psql(`select pg_terminate_backend(${conn.id})`);
  else await redisCommand(['CLIENT', 'KILL', 'ID', conn.id]);
}

/** Waits until `check()` is truthy (polling every `every` ms); returns its value. */
async function until(what, check, timeoutMs = 10000, every = 10) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

if (testDb() === 'postgres') {
  afterEach(() => c.disconnectAll());

  const OPERATOR = c.randomUsername('op');

  forEachBus('cluster bus faults', { env: { MISSIVE_ADMINS: OPERATOR } }, (ctx) => {
    /**
     * Cuts node B's bus connection with `cut`, and checks what the node does about it: /readyz
     * 503 then 200, missive_bus_up back to 1, a reconnect counted, its sockets closed so they
     * catch up, and the other node heard again (a message and a typing event).
     */
    async function cutAndRecover(cut) {
      const [A, B] = ctx.nodes;
      const [alice, bob] = await c.users(A.url, 2);
      const room = await c.directRoom(A.url, alice, bob);
      const aliceOnA = await c.connect(A.url, { token: alice.token });
      const bobOnB = await c.connect(B.url, { token: bob.token });
      const before = await c.send(aliceOnA, { room_id: room.id, body: 'before the cut' });
      await c.waitFor(bobOnB, 'message', (m) => m.id === before.id, 5000);
      const closed = c.waitDisconnect(bobOnB, 15000);
      const reconnectsBefore = (await metric(B, 'missive_bus_reconnects_total')) || 0;
      assert.equal((await httpGet(B, '/readyz')).status, 200);
      assert.equal(await metric(B, 'missive_bus_up'), 1);

      const conn = await until('the bus connection of node B', () => busConnection(ctx.bus, B));
      // Watch /readyz from now on: the outage may last only the reconnect's backoff.
      let sawUnready = false;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          if ((await httpGet(B, '/readyz')).status === 503) sawUnready = true;
          await sleep(5);
        }
      })();
      const how = await cut(conn);
      // Sent during the outage (or right after it): bob's reconnected socket must catch it up.
      const during = await c.postMessage(A.url, alice, room.id, `during the cut (${how})`);

      await until('a new bus connection of node B', async () => {
        const now = await busConnection(ctx.bus, B);
        return now && now.clientPort !== conn.clientPort;
      });
      await until('/readyz 200 on node B', async () => (await httpGet(B, '/readyz')).status === 200);
      watching = false;
      await watcher;
      assert.ok(sawUnready, `/readyz answered 503 while node B was cut off (${how})`);
      assert.equal(await metric(B, 'missive_bus_up'), 1);
      assert.ok((await metric(B, 'missive_bus_reconnects_total')) > reconnectsBefore, 'the reconnect is counted');

      // The socket that may have missed announcements was closed; its client reconnects and
      // catches up from its cursor.
      await closed;
      const bobAgain = await c.connect(B.url, { token: bob.token, cursors: { [room.id]: before.seq } });
      const caughtUp = c.received(bobAgain, 'sync').flatMap((b) => b.messages)
        .concat(c.received(bobAgain, 'message'));
      assert.ok(caughtUp.some((m) => m.id === during.id), 'the message sent during the cut is caught up');

      // And the node hears the other one live again.
      const after = await c.send(aliceOnA, { room_id: room.id, body: 'after the cut' });
      assert.equal((await c.waitFor(bobAgain, 'message', (m) => m.id === after.id, 5000)).body, 'after the cut');
      await c.emitOk(aliceOnA, 'typing', { room_id: room.id, typing: true });
      await c.waitFor(bobAgain, 'typing', (t) => t.room_id === room.id && t.user_id === alice.id, 5000);
      // And the other way round.
      const back = await c.send(bobAgain, { room_id: room.id, body: 'from the reset node' });
      await c.waitFor(aliceOnA, 'message', (m) => m.id === back.id, 5000);
    }

    ctx.it('a TCP reset of the bus connection: 503 while cut off, then back, sockets caught up, live again', async (t) => {
      await cutAndRecover(async (conn) => {
        if (tcpReset(conn)) {
          // Reset if the connection is gone from the server's view soon after.
          const gone = await until('the reset', async () => {
            const now = await busConnection(ctx.bus, ctx.nodes[1]);
            return !now || now.clientPort !== conn.clientPort ? 'ss -K' : null;
          }, 3000).catch(() => null);
          if (gone) {
            t.diagnostic(`reset the client socket 127.0.0.1:${conn.clientPort} with ss -K`);
            return gone;
          }
        }
        if (process.env.CI === 'true' && process.getuid && process.getuid() === 0) {
          throw new Error('ss -K could not reset the connection (root, CI): the TCP reset is not tested');
        }
        t.diagnostic('*** ss -K is not available here: closing the connection from the server instead ***');
        await serverClose(ctx.bus, conn);
        return 'server close';
      });
    });

    ctx.it(`the server closes the bus connection (${'pg_terminate_backend or CLIENT KILL'}): the same recovery`, async () => {
      await cutAndRecover(async (conn) => {
        await serverClose(ctx.bus, conn);
        return 'server close';
      });
    });

    ctx.it('an entry committed but never announced (a node dying between COMMIT and publish) still reaches every node within seconds', async () => {
      const [A, B] = ctx.nodes;
      const [alice, bob] = await c.users(A.url, 2);
      const room = await c.directRoom(A.url, alice, bob);
      const aliceOnA = await c.connect(A.url, { token: alice.token });
      const bobOnB = await c.connect(B.url, { token: bob.token });
      const first = await c.send(aliceOnA, { room_id: room.id, body: 'announced' });
      await c.waitFor(bobOnB, 'message', (m) => m.id === first.id, 5000);

      // Committed by "a node" that announces nothing: straight into the database.
      const inserted = await psql(`with r as (update rooms set last_seq = last_seq + 1 where id = ${room.id} returning last_seq)
        insert into messages (room_id, seq, sender_id, kind, body, created_at)
        select ${room.id}, r.last_seq, ${alice.id}, 'text', 'never announced', (extract(epoch from now()) * 1000)::bigint from r
        returning seq`, ctx.env.DATABASE_URL);
      const seq = Number(inserted.split('\n')[0]);
      assert.equal(seq, first.seq + 1);

      for (const s of [bobOnB, aliceOnA]) {
        const got = await c.waitFor(s, 'message', (m) => m.seq === seq && m.room_id === room.id, 6000);
        assert.equal(got.body, 'never announced');
      }
      // The next announced entry follows it without a gap or a repeat.
      const next = await c.send(aliceOnA, { room_id: room.id, body: 'announced again' });
      assert.equal((await c.waitFor(bobOnB, 'message', (m) => m.room_id === room.id, 5000)).id, next.id);
      assert.ok(await metric(B, 'missive_publisher_gaps_filled_total') >= 1);
    });

    ctx.it('every body size across the old NOTIFY window and the largest body arrive live on both nodes, as messages and in report:new', async () => {
      const [A, B] = ctx.nodes;
      const op = await c.register(A.url, { username: OPERATOR });
      const [alice, bob] = await c.users(A.url, 2);
      const room = await c.directRoom(A.url, alice, bob);
      const aliceOnA = await c.connect(A.url, { token: alice.token });
      const bobOnA = await c.connect(A.url, { token: bob.token });
      const bobOnB = await c.connect(B.url, { token: bob.token });
      const adminOnA = await c.connect(A.url, { token: op.token, namespace: '/admin' });
      const adminOnB = await c.connect(B.url, { token: op.token, namespace: '/admin' });
      const max = 4096; // MISSIVE_MAX_MESSAGE_CHARS's default

      const receivedBefore = (await metric(B, 'missive_bus_bytes_received_total')) || 0;
      const bodies = [];
      for (let n = 1700; n <= 1850; n += 10) bodies.push('x'.repeat(n));
      bodies.push('y'.repeat(max));
      // Multibyte text whose envelope lands around one and two NOTIFY payloads (7,900 bytes).
      for (const [unit, n] of [['é', 3900], ['é', 3950], ['€', 2600], ['€', 2640], ['😀', 1950], ['😀', 1990], ['a😀é€', 900], ['😀', max]]) {
        bodies.push(unit.repeat(Math.floor(n / [...unit].length)).slice(0, 2 * max));
      }
      for (const body of bodies) {
        const what = `${[...body].length} characters, ${Buffer.byteLength(body)} bytes`;
        const sent = await c.send(aliceOnA, { room_id: room.id, body });
        for (const s of [bobOnA, bobOnB]) {
          const got = await c.waitFor(s, 'message', (m) => m.id === sent.id, 5000);
          assert.ok(got.body === body, `message of ${what}`);
        }
        const report = c.assertOk(await c.api(A.url, 'POST', '/api/reports', bob.token, { room_id: room.id, seq: sent.seq, reason: 'size scan' }), 201);
        for (const s of [adminOnA, adminOnB]) {
          const live = await c.waitFor(s, 'report:new', (r) => r.id === report.id, 5000);
          assert.ok(live.message_body === body, `report:new of ${what}`);
        }
      }
      // The bodies crossed on the bus (in report:new), at least once each.
      const crossed = (await metric(B, 'missive_bus_bytes_received_total')) - receivedBefore;
      const bodyBytes = bodies.reduce((n, body) => n + Buffer.byteLength(body), 0);
      assert.ok(crossed >= bodyBytes, `${crossed} bytes received on the bus, bodies hold ${bodyBytes}`);
      // No side table holds bodies in transit.
      const tables = await psql(`select count(*) from pg_tables where tablename like 'socket_io%'`, ctx.env.DATABASE_URL);
      assert.equal(tables, '0');
    });
  });
}
