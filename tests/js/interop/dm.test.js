// @ts-check
// docs/protocol.md §7 `message:send` and live `message` delivery in direct rooms.
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

describe('live direct messages', () => {
  it("a direct message reaches both of the recipient's devices and the sender's other device", async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const alicePhone = await c.connect(url, { token: alice.token });
    const aliceLaptop = await c.connect(url, { token: alice.token });
    const bobPhone = await c.connect(url, { token: bob.token });
    const bobLaptop = await c.connect(url, { token: bob.token });

    const sent = await c.send(alicePhone, { room_id: room.id, body: 'hello bob' });

    for (const device of [bobPhone, bobLaptop, aliceLaptop]) {
      const got = await c.waitFor(device, 'message', (m) => m.id === sent.id);
      assert.deepEqual(got, sent);
    }
    for (const device of [bobPhone, bobLaptop, aliceLaptop]) {
      await c.expectNone(device, 'message', (m) => m.id === sent.id, 100);
    }
  });

  it('the send ack comes with the stored message: id, room, seq, sender, kind, body, client_id, created_at', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    const ack = await c.emitOk(socket, 'message:send', { room_id: room.id, body: 'stored?', client_id: 'c-1' });

    const m = ack.message;
    c.assertMessage(m);
    assert.equal(m.room_id, room.id);
    assert.equal(m.seq, 1);
    assert.equal(m.sender_id, alice.id);
    assert.equal(m.kind, 'text');
    assert.equal(m.body, 'stored?');
    assert.equal(m.client_id, 'c-1');
    assert.equal(m.reply_to, null);
    const page = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, bob.token);
    assert.deepEqual(page.body.messages, [m], 'the acked message is the stored one');
  });

  it('message:send with "to" creates the direct room on first use and reuses it both ways', async () => {
    const [alice, bob] = await c.users(url, 2);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const first = await c.send(aliceSocket, { to: bob.id, body: 'first contact' });
    const second = await c.send(aliceSocket, { to: bob.id, body: 'again' });
    const reply = await c.send(bobSocket, { to: alice.id, body: 'hi alice' });

    assert.equal(second.room_id, first.room_id);
    assert.equal(reply.room_id, first.room_id);
    assert.deepEqual([first.seq, second.seq, reply.seq], [1, 2, 3]);
    await c.waitFor(bobSocket, 'message', (m) => m.id === first.id);
    const direct = await c.directRoom(url, bob, alice);
    assert.equal(direct.id, first.room_id, 'POST /api/rooms/direct finds the same room');
    assert.equal(direct.kind, 'direct');
    assert.equal(direct.members_count, 2);
    const bobsRooms = await c.api(url, 'GET', '/api/rooms', bob.token);
    assert.deepEqual(bobsRooms.body.map((r) => r.id), [first.room_id]);
    assert.equal(bobsRooms.body[0].my_role, 'member');
  });

  it('message:send with "to" an unknown user is not_found', async () => {
    const alice = await c.register(url);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { to: c.unknownIdLike(alice.id), body: 'hello?' }, 'not_found');
  });

  it('message:send with "to" a user id of any opaque form that names nobody is not_found', async () => {
    const alice = await c.register(url);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { to: 'no-such-user', body: 'hello?' }, 'not_found');
  });

  it('five concurrent sends with the same client_id store and deliver exactly one message', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const acks = await Promise.all(
      Array.from({ length: 5 }, () => c.emitAck(aliceSocket, 'message:send', { room_id: room.id, body: 'once', client_id: 'retry-me' })),
    );

    for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
    const ids = new Set(acks.map((a) => a.message.id));
    const seqs = new Set(acks.map((a) => a.message.seq));
    assert.equal(ids.size, 1, `all acks carry one id: ${[...ids]}`);
    assert.deepEqual([...seqs], [1]);
    await c.waitFor(bobSocket, 'message', (m) => m.client_id === 'retry-me');
    await c.expectNone(bobSocket, 'message', (m) => m.client_id === 'retry-me');
    const page = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, alice.token);
    assert.equal(page.body.messages.length, 1);
  });

  it('resending a client_id later returns the original message and delivers nothing again', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const original = await c.send(aliceSocket, { room_id: room.id, body: 'v1', client_id: 'same' });
    await c.waitFor(bobSocket, 'message', (m) => m.id === original.id);

    const again = await c.send(aliceSocket, { room_id: room.id, body: 'v2', client_id: 'same' });
    const viaRest = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'v3', client_id: 'same' });

    assert.deepEqual(again, original);
    assert.ok(viaRest.status === 200 || viaRest.status === 201, `REST retry: ${viaRest.status}`);
    assert.deepEqual(viaRest.body, original);
    await c.expectNone(bobSocket, 'message');
  });

  it('the same client_id from two different senders makes two messages', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const a = await c.send(aliceSocket, { room_id: room.id, body: 'from alice', client_id: 'shared-id' });
    const b = await c.send(bobSocket, { room_id: room.id, body: 'from bob', client_id: 'shared-id' });

    assert.notEqual(a.id, b.id);
    assert.equal(b.sender_id, bob.id);
    assert.equal(b.body, 'from bob');
  });

  it('sender_id is taken from the token even when the payload claims another sender', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    // Not a field of the contract: the server must ignore it (hence the cast).
    const ack = await c.emitAck(aliceSocket, 'message:send', /** @type {any} */ ({ room_id: room.id, body: 'I am bob', sender_id: bob.id }));
    const rest = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'me too', sender_id: bob.id });

    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.message.sender_id, alice.id);
    assert.equal(rest.status, 201);
    assert.equal(rest.body.sender_id, alice.id);
    const live = await c.waitFor(bobSocket, 'message', (m) => m.id === ack.message.id);
    assert.equal(live.sender_id, alice.id);
  });

  it('seq numbers a room 1..N without gaps or repeats under concurrent sends from both members', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const sends = [];
    for (let i = 0; i < 20; i++) {
      sends.push(c.send(i % 2 ? bobSocket : aliceSocket, { room_id: room.id, body: `n${i}` }));
    }
    const stored = await Promise.all(sends);

    c.assertSeqRange(stored.map((m) => m.seq).sort((a, b) => a - b), 1, 20, 'acked seqs');
    const page = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, alice.token);
    c.assertSeqRange(page.body.messages.map((m) => m.seq), 1, 20, 'stored seqs');
    const room2 = await c.myRoom(url, alice, room.id);
    assert.equal(room2.last_seq, 20);
  });

  it('live messages arrive at a member in seq order', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.sendMany(aliceSocket, room.id, 30, { parallel: 10 });

    await c.waitFor(bobSocket, 'message', (m) => m.seq === 30);
    const seqs = c.received(bobSocket, 'message', (m) => m.room_id === room.id).map((m) => m.seq);
    c.assertSeqRange(seqs, 1, 30, 'live delivery order');
  });

  it('a message:send emitted without an ack callback is still processed', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    aliceSocket.emit('message:send', { room_id: room.id, body: 'fire and forget' });

    const got = await c.waitFor(bobSocket, 'message', (m) => m.body === 'fire and forget');
    assert.equal(got.sender_id, alice.id);
  });

  it('reply_to is stored and delivered', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const first = await c.send(aliceSocket, { room_id: room.id, body: 'question?' });

    const reply = await c.send(bobSocket, { room_id: room.id, body: 'answer', reply_to: first.seq });

    assert.equal(reply.reply_to, first.seq);
    const live = await c.waitFor(aliceSocket, 'message', (m) => m.id === reply.id);
    assert.equal(live.reply_to, first.seq);
  });

  it('REST POST /api/rooms/{id}/messages is delivered live exactly like a socket send', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const res = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'via REST', client_id: 'r1' });

    assert.equal(res.status, 201);
    c.assertMessage(res.body);
    assert.equal(res.body.seq, 1);
    assert.equal(res.body.sender_id, alice.id);
    assert.deepEqual(await c.waitFor(bobSocket, 'message', (m) => m.id === res.body.id), res.body);
    assert.deepEqual(await c.waitFor(aliceSocket, 'message', (m) => m.id === res.body.id), res.body);
  });

  it('rooms:list over the socket matches GET /api/rooms', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });
    await c.send(socket, { room_id: room.id, body: 'x' });

    const ack = await c.emitOk(socket, 'rooms:list', {});
    const rest = await c.api(url, 'GET', '/api/rooms', alice.token);

    assert.deepEqual(ack.rooms, rest.body);
    assert.equal(ack.rooms[0].id, room.id);
  });
});
