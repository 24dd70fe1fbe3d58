// docs/protocol.md §7–§8: `typing`, `presence`, `presence:query`, `profile:update` → `user:updated`.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

let server;
let url;
c.useServer((s) => {
  server = s;
  url = s.url;
});

describe('typing', () => {
  it('typing is relayed to the other members of the room, and not to outsiders', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.directRoom(url, alice, bob);
    await c.directRoom(url, alice, carol);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });

    await c.emitOk(aliceSocket, 'typing', { room_id: room.id, typing: true });

    const got = await c.waitFor(bobSocket, 'typing');
    c.assertFields(got, { room_id: room.id, user_id: alice.id, typing: true }, 'typing');
    await c.expectNone(carolSocket, 'typing');
    await c.expectNone(aliceSocket, 'typing', () => true, 0);
  });

  it("typing is not echoed to the typist's own other devices (only other members' sockets)", async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const alicePhone = await c.connect(url, { token: alice.token });
    const aliceLaptop = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.emitOk(alicePhone, 'typing', { room_id: room.id, typing: true });

    await c.waitFor(bobSocket, 'typing');
    await c.expectNone(aliceLaptop, 'typing');
  });

  it('typing stopped (typing: false) is relayed to every other member of a group', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });

    await c.emitOk(aliceSocket, 'typing', { room_id: group.id, typing: false });

    for (const s of [bobSocket, carolSocket]) {
      c.assertFields(await c.waitFor(s, 'typing'), { room_id: group.id, user_id: alice.id, typing: false }, 'typing');
    }
  });
});

describe('presence', () => {
  it("presence goes online at a user's first connection and offline only when the last device disconnects", async () => {
    const [alice, bob] = await c.users(url, 2);
    await c.directRoom(url, alice, bob);
    const bobSocket = await c.connect(url, { token: bob.token });
    const isAlice = (p) => p.user_id === alice.id;

    const phone = await c.connect(url, { token: alice.token });
    const online = await c.waitFor(bobSocket, 'presence', isAlice);
    const laptop = await c.connect(url, { token: alice.token });
    await c.expectNone(bobSocket, 'presence', isAlice);
    phone.close();
    await c.expectNone(bobSocket, 'presence', isAlice);
    laptop.close();
    const offline = await c.waitFor(bobSocket, 'presence', isAlice);

    assert.equal(online.online, true);
    assert.equal(offline.online, false);
    assert.match(offline.last_seen_at, c.RFC3339_MS);
  });

  it('a flapping connection (quick reconnects) does not flood contacts with presence events', async () => {
    const [alice, bob] = await c.users(url, 2);
    await c.directRoom(url, alice, bob);
    const bobSocket = await c.connect(url, { token: bob.token });
    const isAlice = (p) => p.user_id === alice.id;
    let socket = await c.connect(url, { token: alice.token });
    await c.waitFor(bobSocket, 'presence', isAlice);

    for (let i = 0; i < 5; i++) {
      socket.close();
      socket = await c.connect(url, { token: alice.token });
    }
    await c.sleep(500);

    const seen = c.received(bobSocket, 'presence', isAlice);
    assert.deepEqual(seen.map((p) => p.online), [true], 'only the first online: no offline/online pair per reconnect');
    socket.close();
    const offline = await c.waitFor(bobSocket, 'presence', isAlice, 5000);
    assert.equal(offline.online, false, 'one offline once the user is really gone');
  });

  it('presence is not sent to users who share no room with that user', async () => {
    const [alice, stranger] = await c.users(url, 2);
    const strangerSocket = await c.connect(url, { token: stranger.token });

    const aliceSocket = await c.connect(url, { token: alice.token });
    aliceSocket.close();

    await c.expectNone(strangerSocket, 'presence', (p) => p.user_id === alice.id);
  });

  it('presence:query by user_ids tells contacts who is online and when the others were last seen', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    // Presence is for contacts (§13): strangers read offline, never seen (privacy.test.js).
    await c.directRoom(url, alice, bob);
    await c.directRoom(url, alice, carol);
    const aliceSocket = await c.connect(url, { token: alice.token });
    await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });
    carolSocket.close();
    await c.sleep(200);

    const { presence } = await c.emitOk(aliceSocket, 'presence:query', { user_ids: [bob.id, carol.id] });

    const byId = Object.fromEntries(presence.map((p) => [p.user_id, p]));
    assert.equal(byId[bob.id].online, true);
    assert.equal(byId[carol.id].online, false);
    assert.equal(typeof byId[carol.id].last_seen_at, 'string', `an offline user who was seen has a last_seen_at: ${JSON.stringify(byId[carol.id])}`);
    assert.match(byId[carol.id].last_seen_at, c.RFC3339_MS);
  });

  it('presence:query by room_id answers for the members of that room', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    await c.connect(url, { token: bob.token });

    const { presence } = await c.emitOk(aliceSocket, 'presence:query', { room_id: group.id });

    const byId = Object.fromEntries(presence.map((p) => [p.user_id, p]));
    assert.equal(byId[bob.id].online, true);
    assert.equal(byId[carol.id].online, false);
    assert.ok(Object.keys(byId).every((id) => [alice.id, bob.id, carol.id].includes(id)), 'only members');
  });

  it('GET /api/users/{id} includes the presence fields for someone who shares a room', async () => {
    const [alice, bob] = await c.users(url, 2);
    await c.directRoom(url, alice, bob);
    await c.connect(url, { token: bob.token });

    const res = await c.api(url, 'GET', `/api/users/${bob.id}`, alice.token);

    assert.equal(res.status, 200);
    c.assertFields(res.body, { id: bob.id, username: bob.username, online: true }, 'user');
  });
});

describe('profile', () => {
  it('profile:update changes the display name and emits user:updated to users sharing a room, not to others', async () => {
    const [alice, bob, stranger] = await c.users(url, 3);
    await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const strangerSocket = await c.connect(url, { token: stranger.token });

    const ack = await c.emitOk(aliceSocket, 'profile:update', { display_name: 'Alice A.' });

    c.assertFields(ack.user, { id: alice.id, username: alice.username, display_name: 'Alice A.' }, 'ack user');
    const update = await c.waitFor(bobSocket, 'user:updated', (u) => u.id === alice.id);
    assert.equal(update.display_name, 'Alice A.');
    await c.expectNone(strangerSocket, 'user:updated');
    const me = await c.api(url, 'GET', '/api/me', alice.token);
    assert.equal(me.body.display_name, 'Alice A.');
  });

  it('PATCH /api/me also emits user:updated', async () => {
    const [alice, bob] = await c.users(url, 2);
    await c.createRoom(url, alice, { members: [bob] });
    const bobSocket = await c.connect(url, { token: bob.token });

    const res = await c.api(url, 'PATCH', '/api/me', alice.token, { display_name: 'Via REST' });

    assert.equal(res.status, 200);
    const update = await c.waitFor(bobSocket, 'user:updated', (u) => u.id === alice.id);
    assert.equal(update.display_name, 'Via REST');
  });
});
