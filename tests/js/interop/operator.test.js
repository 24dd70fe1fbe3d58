// docs/protocol.md §14 (the operator's console): what operators do to a user's live sockets
// reaches them on every node. On Postgres, two server processes share one database and bus and
// the operator acts through node A on sockets held by node B; on SQLite (one node) both
// "nodes" are the same server.
'use strict';

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, sharedDatabase, testDb } = require('../lib/server');
const c = require('../lib/client');

const OPERATOR = c.randomUsername('op');
let nodeA;
let nodeB;
let db;
let op;

before(async () => {
  db = sharedDatabase('missive_operator');
  const env = {
    DATABASE_URL: db.url,
    MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
    MISSIVE_ADMINS: OPERATOR,
  };
  nodeA = await startServer({ env });
  nodeB = testDb() === 'postgres' ? await startServer({ env }) : nodeA;
  op = await c.register(nodeA.url, { username: OPERATOR });
  // The adapter's LISTEN is set up asynchronously at start; give it a beat.
  await new Promise((r) => setTimeout(r, 500));
});
after(async () => {
  c.disconnectAll();
  if (nodeB && nodeB !== nodeA) await nodeB.stop();
  if (nodeA) await nodeA.stop();
  if (db) db.drop();
});
afterEach(() => c.disconnectAll());

/** The user's devices as node A reports them. */
async function devices(user) {
  const res = await c.api(nodeA.url, 'GET', `/api/admin/users/${user.id}`, op.token);
  c.assertOk(res, 200);
  return res.body.devices;
}

describe('operator actions on live sockets, across nodes', () => {
  it('lists a user\'s sockets on every node with their node, transport and start', async () => {
    const [bob] = await c.users(nodeA.url, 1);
    const onA = await c.connect(nodeA.url, { token: bob.token });
    const onB = await c.connect(nodeB.url, { token: bob.token });

    const list = await devices(bob);

    assert.deepEqual(list.map((d) => d.sid).sort(), [onA.id, onB.id].sort());
    for (const d of list) {
      assert.equal(d.transport, 'websocket');
      assert.ok(Date.now() - Date.parse(d.connected_at) < 60_000, JSON.stringify(d));
      assert.match(d.node, /^\S+$/);
    }
    if (nodeB !== nodeA) {
      assert.notEqual(list[0].node, list[1].node, 'one socket on each node');
    }
  });

  it('disconnecting one device closes that socket only, on the node that holds it', async () => {
    const [bob] = await c.users(nodeA.url, 1);
    const stays = await c.connect(nodeA.url, { token: bob.token });
    const goes = await c.connect(nodeB.url, { token: bob.token });
    const gone = c.waitDisconnect(goes);

    const res = await c.api(nodeA.url, 'DELETE', `/api/admin/users/${bob.id}/devices/${goes.id}`, op.token);

    c.assertOk(res, 204);
    assert.equal(await gone, 'io server disconnect');
    await c.expectNone(stays, 'disconnect');
    assert.ok(stays.connected);
    assert.deepEqual((await devices(bob)).map((d) => d.sid), [stays.id]);
    const again = await c.api(nodeA.url, 'DELETE', `/api/admin/users/${bob.id}/devices/${goes.id}`, op.token);
    c.assertRestError(again, 404, 'not_found');
  });

  it('logout everywhere closes every socket on every node and refuses the tokens', async () => {
    const [bob] = await c.users(nodeA.url, 1);
    const sockets = [await c.connect(nodeA.url, { token: bob.token }), await c.connect(nodeB.url, { token: bob.token })];
    const gone = sockets.map((s) => c.waitDisconnect(s));

    const res = await c.api(nodeA.url, 'POST', `/api/admin/users/${bob.id}/logout`, op.token);

    c.assertOk(res, 204);
    assert.deepEqual(await Promise.all(gone), ['io server disconnect', 'io server disconnect']);
    const err = await c.connectError(nodeB.url, { token: bob.token });
    assert.equal(err.message, 'unauthenticated');
  });

  it('a ban closes every socket on every node; an unban lets the user log in again', async () => {
    const [bob] = await c.users(nodeA.url, 1);
    const sockets = [await c.connect(nodeA.url, { token: bob.token }), await c.connect(nodeB.url, { token: bob.token })];
    const gone = sockets.map((s) => c.waitDisconnect(s));

    const res = await c.api(nodeA.url, 'POST', `/api/admin/users/${bob.id}/ban`, op.token, { reason: 'spam' });

    c.assertOk(res, 204);
    assert.deepEqual(await Promise.all(gone), ['io server disconnect', 'io server disconnect']);
    const login = await c.api(nodeB.url, 'POST', '/api/auth/login', null, { username: bob.username, password: bob.password });
    c.assertRestError(login, 403, 'forbidden');
    const detail = await c.api(nodeB.url, 'GET', `/api/admin/users/${bob.id}`, op.token);
    assert.equal(detail.body.ban_reason, 'spam');
    c.assertOk(await c.api(nodeB.url, 'DELETE', `/api/admin/users/${bob.id}/ban`, op.token), 204);
    c.assertOk(await c.api(nodeA.url, 'POST', '/api/auth/login', null, { username: bob.username, password: bob.password }), 200);
  });

  it('the stats on /admin carry every node, and sends show in the cluster totals', async () => {
    const [alice, bob] = await c.users(nodeA.url, 2);
    const room = await c.directRoom(nodeA.url, alice, bob);
    const sender = await c.connect(nodeB.url, { token: alice.token });
    await c.connect(nodeA.url, { token: bob.token });
    const admin = await c.connect(nodeA.url, { token: op.token, namespace: '/admin' });
    const wanted = nodeB === nodeA ? 1 : 2;
    await c.waitFor(admin, 'stats', (s) => s.nodes === wanted, 5000);

    const sending = setInterval(() => { c.send(sender, { room_id: room.id, body: 'tick' }).catch(() => {}); }, 50);
    let stats;
    try {
      stats = await c.waitFor(admin, 'stats', (s) => s.totals.messages_stored_per_second > 0 && s.totals.ack_ms_p50 !== null, 8000);
    } finally {
      clearInterval(sending);
    }

    assert.equal(stats.per_node.length, wanted);
    assert.ok(stats.per_node.every((n) => !n.stale && n.database_up && n.bus_up), JSON.stringify(stats.per_node));
    assert.ok(stats.totals.sockets >= 2);
    assert.equal(stats.sockets, stats.totals.sockets);
    const viaRest = await c.api(nodeB.url, 'GET', '/api/admin/stats', op.token);
    c.assertOk(viaRest, 200);
    assert.equal(viaRest.body.nodes, wanted);
  });
});
