// README "Postgres and several nodes" and docs/protocol.md §6: two server processes on one
// Postgres database, joined by the socketioxide-postgres adapter. Runs in the Postgres run of the
// suite (the adapter is Postgres).
'use strict';

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, testDb } = require('../lib/server');
const c = require('../lib/client');

if (testDb() === 'postgres') {
  let nodeA;
  let nodeB;

  before(async () => {
    const base = process.env.MISSIVE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432';
    const env = {
      DATABASE_URL: `${base}/missive_cluster_${crypto.randomBytes(5).toString('hex')}`,
      MISSIVE_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
      MISSIVE_PRESENCE_GRACE: '200ms',
    };
    nodeA = await startServer({ env, dropDatabase: true });
    nodeB = await startServer({ env });
  });
  after(async () => {
    c.disconnectAll();
    if (nodeB) await nodeB.stop();
    if (nodeA) await nodeA.stop();
  });
  afterEach(() => c.disconnectAll());

  describe('two nodes on one database', () => {
    it('a message sent on one node reaches the recipient on the other, live', async () => {
      const [alice, bob] = await c.users(nodeA.url, 2);
      const room = await c.directRoom(nodeA.url, alice, bob);
      const aliceOnA = await c.connect(nodeA.url, { token: alice.token });
      const bobOnB = await c.connect(nodeB.url, { token: bob.token });
      // The adapter's LISTEN is set up asynchronously at start; give it a beat.
      await new Promise((r) => setTimeout(r, 500));

      const sent = await c.send(aliceOnA, { room_id: room.id, body: 'across nodes' });

      const got = await c.waitFor(bobOnB, 'message', (m) => m.id === sent.id, 5000);
      assert.equal(got.body, 'across nodes');
    });

    it('a member added on one node has its sockets on the other node joined to the room', async () => {
      const [owner, late] = await c.users(nodeA.url, 2);
      const group = await c.createRoom(nodeA.url, owner, { name: 'cluster group' });
      const ownerOnA = await c.connect(nodeA.url, { token: owner.token });
      const lateOnB = await c.connect(nodeB.url, { token: late.token });
      await new Promise((r) => setTimeout(r, 500));

      await c.emitOk(ownerOnA, 'room:add', { room_id: group.id, user_id: late.id });
      await c.waitFor(lateOnB, 'room:updated', (r) => r.id === group.id, 5000);
      const sent = await c.send(ownerOnA, { room_id: group.id, body: 'welcome' });

      const got = await c.waitFor(lateOnB, 'message', (m) => m.id === sent.id, 5000);
      assert.equal(got.body, 'welcome');
    });

    it('presence counts sockets on every node: closing one node\'s socket keeps the user online', async () => {
      const [alice, bob] = await c.users(nodeA.url, 2);
      await c.directRoom(nodeA.url, alice, bob);
      const watcher = await c.connect(nodeA.url, { token: bob.token });
      const aliceOnA = await c.connect(nodeA.url, { token: alice.token });
      await c.connect(nodeB.url, { token: alice.token });
      await new Promise((r) => setTimeout(r, 500));

      aliceOnA.disconnect();

      await c.expectNone(watcher, 'presence', (p) => p.user_id === alice.id && p.online === false, 1200);
      const res = await c.api(nodeA.url, 'GET', `/api/users/${alice.id}`, bob.token);
      assert.equal(res.body.online, true);
    });
  });
}
