// docs/protocol.md §2 groups and §7–§8 room events: create, add, remove, roles, leave, owner hand-over,
// rename, max_members, system messages in the stream, `room:updated`, `room:removed`.
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

/** The parsed body of a system message, or null for a text message. */
function sys(m) {
  return m && m.kind === 'system' ? JSON.parse(m.body) : null;
}

/** A predicate for a system message with this event about this user. */
function isSystem(event, userId) {
  return (m) => m.kind === 'system' && sys(m).event === event && (userId === undefined || sys(m).user_id === userId);
}

/** Every message of a room, read over REST by `user`. */
async function stream(user, roomId) {
  const res = await c.api(url, 'GET', `/api/rooms/${roomId}/messages?limit=200`, user.token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.messages;
}

/** Adds users to a room one after another (so their joined_at order is the given order). */
async function addInOrder(socket, roomId, people) {
  for (const p of people) {
    await c.emitOk(socket, 'room:add', { room_id: roomId, user_id: p.id });
    await c.sleep(15);
  }
}

async function setRole(owner, roomId, user, role) {
  const res = await c.api(url, 'PATCH', `/api/rooms/${roomId}/members/${user.id}`, owner.token, { role });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

describe('groups', () => {
  it('room:create with members makes the creator owner and tells every member with room:updated', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });

    const ack = await c.emitOk(aliceSocket, 'room:create', { kind: 'group', name: 'Trip', members: [bob.id, carol.id] });

    const room = ack.room;
    c.assertFields(room, { kind: 'group', name: 'Trip', owner_id: alice.id, my_role: 'owner', members_count: 3 }, 'created room');
    assert.equal(typeof room.id, 'string');
    assert.match(room.created_at, c.RFC3339_MS);
    for (const s of [bobSocket, carolSocket]) {
      const update = await c.waitFor(s, 'room:updated', (r) => r.id === room.id);
      c.assertFields(update, { kind: 'group', name: 'Trip', owner_id: alice.id, members_count: 3 }, 'room:updated');
      for (const own of ['my_role', 'delivered_seq', 'read_seq', 'unread_count']) {
        assert.ok(!(own in update), `room:updated must not carry the caller's own field ${own}`);
      }
    }
    const bobView = await c.api(url, 'GET', `/api/rooms/${room.id}`, bob.token);
    assert.equal(bobView.body.my_role, 'member');
    const roles = Object.fromEntries(bobView.body.members.map((m) => [m.user_id, m.role]));
    assert.deepEqual(roles, { [alice.id]: 'owner', [bob.id]: 'member', [carol.id]: 'member' });
  });

  it('members of a just-created group receive its messages at once', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });
    const { room } = await c.emitOk(aliceSocket, 'room:create', { kind: 'group', name: 'now', members: [bob.id, carol.id] });

    const msg = await c.send(bobSocket, { room_id: room.id, body: 'first!' });

    await c.waitFor(aliceSocket, 'message', (m) => m.id === msg.id);
    await c.waitFor(carolSocket, 'message', (m) => m.id === msg.id);
  });

  it('POST /api/rooms creates a group with members, 201, and GET /api/rooms/{id} lists them', async () => {
    const [alice, bob] = await c.users(url, 2);

    const res = await c.api(url, 'POST', '/api/rooms', alice.token, { kind: 'group', name: 'rest group', members: [bob.id] });

    assert.equal(res.status, 201, JSON.stringify(res.body));
    c.assertFields(res.body, { kind: 'group', name: 'rest group', owner_id: alice.id, my_role: 'owner', members_count: 2, max_members: null }, 'room');
    const detail = await c.api(url, 'GET', `/api/rooms/${res.body.id}`, alice.token);
    const members = detail.body.members.map((m) => m.user_id).sort();
    assert.deepEqual(members, [alice.id, bob.id].sort());
    for (const m of detail.body.members) {
      assert.equal(typeof m.username, 'string');
      assert.equal(typeof m.online, 'boolean');
      assert.match(m.joined_at, c.RFC3339_MS);
    }
  });

  it('a member added to a group receives its messages at once on every device, and member_joined is in the stream', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, { members: [bob] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolPhone = await c.connect(url, { token: carol.token });
    const carolLaptop = await c.connect(url, { token: carol.token });

    await c.emitOk(aliceSocket, 'room:add', { room_id: room.id, user_id: carol.id });
    const msg = await c.send(aliceSocket, { room_id: room.id, body: 'welcome carol' });

    for (const s of [carolPhone, carolLaptop]) {
      await c.waitFor(s, 'room:updated', (r) => r.id === room.id);
      await c.waitFor(s, 'message', (m) => m.id === msg.id);
    }
    const joined = await c.waitFor(bobSocket, 'message', isSystem('member_joined', carol.id));
    c.assertMessage(joined);
    assert.equal(joined.sender_id, alice.id, 'the acting user is the sender of a system message');
    assert.ok(joined.seq < msg.seq);
    const update = await c.waitFor(bobSocket, 'room:updated', (r) => r.id === room.id && r.members_count === 3);
    assert.equal(update.members_count, 3);
    const all = await stream(alice, room.id);
    assert.ok(all.some(isSystem('member_joined', carol.id)), 'member_joined is stored in the stream');
  });

  it('adding a member over REST answers 201 with the Member', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.createRoom(url, alice, {});

    const res = await c.api(url, 'POST', `/api/rooms/${room.id}/members`, alice.token, { user_id: bob.id });

    assert.equal(res.status, 201, JSON.stringify(res.body));
    c.assertFields(res.body, { user_id: bob.id, username: bob.username, role: 'member' }, 'member');
  });

  it('a removed member gets room:removed on every device, stops receiving, and is answered not_found', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, { members: [bob, carol] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolPhone = await c.connect(url, { token: carol.token });
    const carolLaptop = await c.connect(url, { token: carol.token });

    await c.emitOk(aliceSocket, 'room:remove', { room_id: room.id, user_id: carol.id });

    for (const s of [carolPhone, carolLaptop]) {
      c.assertFields(await c.waitFor(s, 'room:removed'), { room_id: room.id }, 'room:removed');
    }
    const removed = await c.waitFor(bobSocket, 'message', isSystem('member_removed', carol.id));
    assert.equal(removed.sender_id, alice.id);
    await c.waitFor(bobSocket, 'room:updated', (r) => r.id === room.id && r.members_count === 2);
    const after = await c.send(aliceSocket, { room_id: room.id, body: 'carol is gone' });
    await c.waitFor(bobSocket, 'message', (m) => m.id === after.id);
    await c.expectNone(carolPhone, 'message', (m) => m.id === after.id);
    await c.expectNone(carolLaptop, 'message', (m) => m.id === after.id, 0);
    await c.emitErr(carolPhone, 'message:send', { room_id: room.id, body: 'let me in' }, 'not_found');
    await c.emitErr(carolPhone, 'history', { room_id: room.id }, 'not_found');
    c.assertRestError(await c.api(url, 'GET', `/api/rooms/${room.id}`, carol.token), 404, 'not_found');
    const carolRooms = await c.api(url, 'GET', '/api/rooms', carol.token);
    assert.ok(!carolRooms.body.some((r) => r.id === room.id));
  });

  it('a member who leaves gets room:removed on every device and the others see member_left', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.createRoom(url, alice, { members: [bob] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobPhone = await c.connect(url, { token: bob.token });
    const bobLaptop = await c.connect(url, { token: bob.token });

    await c.emitOk(bobPhone, 'room:leave', { room_id: room.id });

    await c.waitFor(bobPhone, 'room:removed', (r) => r.room_id === room.id);
    await c.waitFor(bobLaptop, 'room:removed', (r) => r.room_id === room.id);
    const left = await c.waitFor(aliceSocket, 'message', isSystem('member_left', bob.id));
    assert.equal(left.sender_id, bob.id);
    const msg = await c.send(aliceSocket, { room_id: room.id, body: 'bye bob' });
    await c.expectNone(bobLaptop, 'message', (m) => m.id === msg.id);
  });

  it('leaving over REST (DELETE own membership) answers 204', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.createRoom(url, alice, { members: [bob] });
    const bobSocket = await c.connect(url, { token: bob.token });

    const res = await c.api(url, 'DELETE', `/api/rooms/${room.id}/members/${bob.id}`, bob.token);

    assert.equal(res.status, 204);
    await c.waitFor(bobSocket, 'room:removed', (r) => r.room_id === room.id);
    c.assertRestError(await c.api(url, 'GET', `/api/rooms/${room.id}`, bob.token), 404, 'not_found');
  });

  it('a plain member may not add or remove others: forbidden', async () => {
    const [alice, bob, carol, dave] = await c.users(url, 4);
    const room = await c.createRoom(url, alice, { members: [bob, carol] });
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.emitErr(bobSocket, 'room:add', { room_id: room.id, user_id: dave.id }, 'forbidden');
    await c.emitErr(bobSocket, 'room:remove', { room_id: room.id, user_id: carol.id }, 'forbidden');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${room.id}/members`, bob.token, { user_id: dave.id }), 403, 'forbidden');
    c.assertRestError(await c.api(url, 'DELETE', `/api/rooms/${room.id}/members/${carol.id}`, bob.token), 403, 'forbidden');
  });

  it('the owner promotes a member to admin, who may then add and remove; role_changed is in the stream', async () => {
    const [alice, bob, carol, dave] = await c.users(url, 4);
    const room = await c.createRoom(url, alice, { members: [bob, carol] });
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token });

    const member = await setRole(alice, room.id, bob, 'admin');

    c.assertFields(member, { user_id: bob.id, role: 'admin' }, 'member');
    const changed = await c.waitFor(carolSocket, 'message', isSystem('role_changed', bob.id));
    assert.equal(changed.sender_id, alice.id);
    await c.waitFor(carolSocket, 'room:updated', (r) => r.id === room.id);
    await c.emitOk(bobSocket, 'room:add', { room_id: room.id, user_id: dave.id });
    await c.emitOk(bobSocket, 'room:remove', { room_id: room.id, user_id: carol.id });
    const view = await c.api(url, 'GET', `/api/rooms/${room.id}`, bob.token);
    assert.equal(view.body.my_role, 'admin');
    assert.deepEqual(view.body.members.map((m) => m.user_id).sort(), [alice.id, bob.id, dave.id].sort());
  });

  it('only the owner changes roles: an admin is forbidden', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, { members: [bob, carol] });
    await setRole(alice, room.id, bob, 'admin');

    const res = await c.api(url, 'PATCH', `/api/rooms/${room.id}/members/${carol.id}`, bob.token, { role: 'admin' });

    c.assertRestError(res, 403, 'forbidden');
  });

  it('when the owner leaves, the admin who joined earliest becomes owner and owner_changed is in the stream', async () => {
    const [alice, bob, carol, dave] = await c.users(url, 4);
    const room = await c.createRoom(url, alice, {});
    const aliceSocket = await c.connect(url, { token: alice.token });
    await addInOrder(aliceSocket, room.id, [bob, carol, dave]);
    await setRole(alice, room.id, dave, 'admin');
    await setRole(alice, room.id, carol, 'admin');
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.emitOk(aliceSocket, 'room:leave', { room_id: room.id });

    const changed = await c.waitFor(bobSocket, 'message', isSystem('owner_changed', carol.id));
    c.assertMessage(changed);
    const view = await c.api(url, 'GET', `/api/rooms/${room.id}`, carol.token);
    assert.equal(view.body.owner_id, carol.id);
    assert.equal(view.body.my_role, 'owner');
    const roles = Object.fromEntries(view.body.members.map((m) => [m.user_id, m.role]));
    assert.deepEqual(roles, { [bob.id]: 'member', [carol.id]: 'owner', [dave.id]: 'admin' });
    await c.waitFor(bobSocket, 'room:updated', (r) => r.id === room.id && r.owner_id === carol.id);
  });

  it('when the owner leaves and there is no admin, the member who joined earliest becomes owner', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, {});
    const aliceSocket = await c.connect(url, { token: alice.token });
    await addInOrder(aliceSocket, room.id, [bob, carol]);

    const res = await c.api(url, 'DELETE', `/api/rooms/${room.id}/members/${alice.id}`, alice.token);

    assert.equal(res.status, 204);
    const view = await c.api(url, 'GET', `/api/rooms/${room.id}`, carol.token);
    assert.equal(view.body.owner_id, bob.id);
    assert.ok((await stream(carol, room.id)).some(isSystem('owner_changed', bob.id)));
  });

  it('the owner and admins rename a group: room:updated and a room_renamed system message; a member is forbidden', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.createRoom(url, alice, { name: 'old name', members: [bob] });
    const bobSocket = await c.connect(url, { token: bob.token });

    const denied = await c.api(url, 'PATCH', `/api/rooms/${room.id}`, bob.token, { name: 'by bob' });
    const res = await c.api(url, 'PATCH', `/api/rooms/${room.id}`, alice.token, { name: 'new name' });

    c.assertRestError(denied, 403, 'forbidden');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    c.assertFields(res.body, { id: room.id, name: 'new name' }, 'renamed room');
    await c.waitFor(bobSocket, 'room:updated', (r) => r.id === room.id && r.name === 'new name');
    const renamed = await c.waitFor(bobSocket, 'message', isSystem('room_renamed', undefined));
    assert.equal(renamed.sender_id, alice.id);
  });

  it('adding a member past max_members is conflict', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, { members: [bob], max_members: 2 });
    const aliceSocket = await c.connect(url, { token: alice.token });

    await c.emitErr(aliceSocket, 'room:add', { room_id: room.id, user_id: carol.id }, 'conflict');
    const rest = await c.api(url, 'POST', `/api/rooms/${room.id}/members`, alice.token, { user_id: carol.id });

    assert.equal(room.max_members, 2);
    c.assertRestError(rest, 409, 'conflict');
    const view = await c.api(url, 'GET', `/api/rooms/${room.id}`, alice.token);
    assert.equal(view.body.members_count, 2);
  });

  it('system messages reach an offline member on catch-up like any message', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const room = await c.createRoom(url, alice, { members: [bob] });
    await c.api(url, 'PATCH', `/api/rooms/${room.id}`, alice.token, { name: 'renamed while away' });
    await c.api(url, 'POST', `/api/rooms/${room.id}/members`, alice.token, { user_id: carol.id });

    const bobSocket = await c.connect(url, { token: bob.token });
    await c.waitFor(bobSocket, 'synced');

    const caught = c.received(bobSocket, 'sync', (b) => b.room_id === room.id).flatMap((b) => b.messages);
    assert.ok(caught.some(isSystem('room_renamed')), 'room_renamed caught up');
    assert.ok(caught.some(isSystem('member_joined', carol.id)), 'member_joined caught up');
  });
});
