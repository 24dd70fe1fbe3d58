// README "Several nodes" and docs/protocol.md §6: two server processes on one Postgres database,
// joined by the cluster bus, once per bus (MISSIVE_BUS=postgres, then redis). Runs in the
// Postgres run of the suite (nodes share a Postgres database).
'use strict';

const { afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { testDb } = require('../lib/server');
const { forEachBus } = require('../lib/cluster');
const c = require('../lib/client');

if (testDb() === 'postgres') {
  afterEach(() => c.disconnectAll());

  const OPERATOR = c.randomUsername('op');

  forEachBus('two nodes on one database', { env: { MISSIVE_ADMINS: OPERATOR } }, (ctx) => {
    ctx.it('a message sent on one node reaches the recipient on the other, live', async () => {
      const [alice, bob] = await c.users(ctx.nodes[0].url, 2);
      const room = await c.directRoom(ctx.nodes[0].url, alice, bob);
      const aliceOnA = await c.connect(ctx.nodes[0].url, { token: alice.token });
      const bobOnB = await c.connect(ctx.nodes[1].url, { token: bob.token });

      const sent = await c.send(aliceOnA, { room_id: room.id, body: 'across nodes' });

      const got = await c.waitFor(bobOnB, 'message', (m) => m.id === sent.id, 5000);
      assert.equal(got.body, 'across nodes');
    });

    ctx.it('a member added on one node has its sockets on the other node joined to the room', async () => {
      const [owner, late] = await c.users(ctx.nodes[0].url, 2);
      const group = await c.createRoom(ctx.nodes[0].url, owner, { name: 'cluster group' });
      const ownerOnA = await c.connect(ctx.nodes[0].url, { token: owner.token });
      const lateOnB = await c.connect(ctx.nodes[1].url, { token: late.token });

      await c.emitOk(ownerOnA, 'room:add', { room_id: group.id, user_id: late.id });
      await c.waitFor(lateOnB, 'room:updated', (r) => r.id === group.id, 5000);
      const sent = await c.send(ownerOnA, { room_id: group.id, body: 'welcome' });

      const got = await c.waitFor(lateOnB, 'message', (m) => m.id === sent.id, 5000);
      assert.equal(got.body, 'welcome');
    });

    ctx.it('typing crosses nodes, and the typist\'s own devices do not hear it', async () => {
      const [alice, bob] = await c.users(ctx.nodes[0].url, 2);
      const room = await c.directRoom(ctx.nodes[0].url, alice, bob);
      const aliceOnA = await c.connect(ctx.nodes[0].url, { token: alice.token });
      const aliceOnB = await c.connect(ctx.nodes[1].url, { token: alice.token });
      const bobOnB = await c.connect(ctx.nodes[1].url, { token: bob.token });

      await c.emitOk(aliceOnA, 'typing', { room_id: room.id, typing: true });

      const typing = await c.waitFor(bobOnB, 'typing', (t) => t.room_id === room.id, 5000);
      assert.equal(typing.user_id, alice.id);
      await c.expectNone(aliceOnB, 'typing', () => true, 300);
      await c.expectNone(bobOnB, 'typing', () => true, 300);
    });

    ctx.it('logout-all on one node closes the user\'s sockets on the other', async () => {
      const [alice] = await c.users(ctx.nodes[0].url, 1);
      const onB = await c.connect(ctx.nodes[1].url, { token: alice.token });
      const gone = c.waitDisconnect(onB);

      const res = await c.api(ctx.nodes[0].url, 'POST', '/api/auth/logout-all', alice.token);

      assert.ok(res.status < 300, `logout-all: ${res.status}`);
      assert.equal(await gone, 'io server disconnect');
    });

    ctx.it('the operator sees and closes a device held by the other node', async () => {
      const op = await c.register(ctx.nodes[0].url, { username: OPERATOR });
      const [bob] = await c.users(ctx.nodes[0].url, 1);
      const onA = await c.connect(ctx.nodes[0].url, { token: bob.token });
      const onB = await c.connect(ctx.nodes[1].url, { token: bob.token });

      const res = await c.api(ctx.nodes[0].url, 'GET', `/api/admin/users/${bob.id}`, op.token);
      c.assertOk(res, 200);
      assert.deepEqual(res.body.devices.map((d) => d.sid).sort(), [onA.id, onB.id].sort());
      assert.notEqual(res.body.devices[0].node, res.body.devices[1].node, 'one socket on each node');

      const gone = c.waitDisconnect(onB);
      const del = await c.api(ctx.nodes[0].url, 'DELETE', `/api/admin/users/${bob.id}/devices/${onB.id}`, op.token);
      c.assertOk(del, 204);
      assert.equal(await gone, 'io server disconnect');
      assert.ok(onA.connected);
    });

    ctx.it('presence counts sockets on every node: closing one node\'s socket keeps the user online', async () => {
      const [alice, bob] = await c.users(ctx.nodes[0].url, 2);
      await c.directRoom(ctx.nodes[0].url, alice, bob);
      const watcher = await c.connect(ctx.nodes[0].url, { token: bob.token });
      const aliceOnA = await c.connect(ctx.nodes[0].url, { token: alice.token });
      await c.connect(ctx.nodes[1].url, { token: alice.token });

      aliceOnA.disconnect();

      await c.expectNone(watcher, 'presence', (p) => p.user_id === alice.id && p.online === false, 1200);
      const res = await c.api(ctx.nodes[0].url, 'GET', `/api/users/${alice.id}`, bob.token);
      assert.equal(res.body.online, true);
    });
  });
}
