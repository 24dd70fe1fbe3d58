// docs/protocol.md: `message:ack` / `message:read`, `receipt` events, the caller's cursors and
// unread_count in `GET /api/rooms`, the receipts endpoint and `POST /api/rooms/{id}/read`.
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

/** Alice and Bob, both online, with `n` messages from Alice in their direct room. */
async function chat(n) {
  const [alice, bob] = await c.users(url, 2);
  const room = await c.directRoom(url, alice, bob);
  const aliceSocket = await c.connect(url, { token: alice.token });
  const bobSocket = await c.connect(url, { token: bob.token });
  const sent = await c.sendMany(aliceSocket, room.id, n, { parallel: 1 });
  await c.waitFor(bobSocket, 'message', (m) => m.seq === n);
  return { alice, bob, room, aliceSocket, bobSocket, sent };
}

describe('cursors and receipts', () => {
  it('message:ack moves delivered_seq and emits a receipt to the other member', async () => {
    const { alice, bob, room, aliceSocket, bobSocket } = await chat(3);

    await c.emitOk(bobSocket, 'message:ack', { room_id: room.id, seq: 2 });

    const receipt = await c.waitFor(aliceSocket, 'receipt', (r) => r.user_id === bob.id);
    c.assertFields(receipt, { room_id: room.id, user_id: bob.id, delivered_seq: 2, read_seq: 0 }, 'receipt');
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.delivered_seq, 2);
    assert.equal(view.read_seq, 0);
    assert.equal(view.unread_count, 3, 'delivery does not mark anything read');
    const aliceView = await c.api(url, 'GET', `/api/rooms/${room.id}`, alice.token);
    const bobMember = aliceView.body.members.find((m) => m.user_id === bob.id);
    assert.equal(bobMember.delivered_seq, 2);
  });

  it('message:read moves read_seq and emits a receipt to the other member', async () => {
    const { bob, room, aliceSocket, bobSocket } = await chat(3);

    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 3 });

    const receipt = await c.waitFor(aliceSocket, 'receipt', (r) => r.user_id === bob.id && r.read_seq === 3);
    assert.equal(receipt.room_id, room.id);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.read_seq, 3);
    assert.equal(view.unread_count, 0);
  });

  it('reading a message also counts as delivering it (delivered_seq >= read_seq)', async () => {
    const { bob, room, aliceSocket, bobSocket } = await chat(3);

    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 3 });

    const receipt = await c.waitFor(aliceSocket, 'receipt', (r) => r.user_id === bob.id && r.read_seq === 3);
    assert.equal(receipt.delivered_seq, 3);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.delivered_seq, 3);
  });

  it('cursors never move backwards', async () => {
    const { bob, room, bobSocket } = await chat(5);
    await c.emitOk(bobSocket, 'message:ack', { room_id: room.id, seq: 4 });
    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 3 });

    await c.emitOk(bobSocket, 'message:ack', { room_id: room.id, seq: 1 });
    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 1 });
    const rest = await c.api(url, 'POST', `/api/rooms/${room.id}/read`, bob.token, { seq: 2 });

    assert.equal(rest.status, 204);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.delivered_seq, 4);
    assert.equal(view.read_seq, 3);
    assert.equal(view.unread_count, 2);
  });

  it('receipts are not sent to users outside the room', async () => {
    const { room, bobSocket } = await chat(2);
    const [carol, dave] = await c.users(url, 2);
    const carolSocket = await c.connect(url, { token: carol.token });
    await c.directRoom(url, carol, dave);

    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 2 });

    await c.expectNone(carolSocket, 'receipt');
  });

  it('POST /api/rooms/{id}/read moves read_seq, answers 204 and emits a receipt', async () => {
    const { bob, room, aliceSocket } = await chat(4);

    const res = await c.api(url, 'POST', `/api/rooms/${room.id}/read`, bob.token, { seq: 2 });

    assert.equal(res.status, 204);
    const receipt = await c.waitFor(aliceSocket, 'receipt', (r) => r.user_id === bob.id && r.read_seq === 2);
    assert.equal(receipt.room_id, room.id);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.read_seq, 2);
    assert.equal(view.unread_count, 2);
  });

  it('GET /api/rooms reports unread_count, read_seq, delivered_seq and last_message for each side', async () => {
    const { alice, bob, room, bobSocket, sent } = await chat(3);

    const bobView = await c.myRoom(url, bob, room.id);
    const aliceView = await c.myRoom(url, alice, room.id);

    assert.equal(bobView.kind, 'direct');
    assert.equal(bobView.last_seq, 3);
    assert.equal(bobView.unread_count, 3);
    assert.equal(bobView.read_seq, 0);
    assert.equal(bobView.delivered_seq, 0);
    assert.deepEqual(bobView.last_message, sent[2]);
    assert.equal(aliceView.unread_count, 0, "the sender's own messages are never unread");
    assert.equal(aliceView.read_seq, 3, "sending advances the sender's read cursor");
    assert.equal(aliceView.delivered_seq, 3, "sending advances the sender's delivered cursor");

    await c.emitOk(bobSocket, 'message:read', { room_id: room.id, seq: 2 });
    const reply = await c.send(bobSocket, { room_id: room.id, body: 'reply' });

    const bobAfter = await c.myRoom(url, bob, room.id);
    const aliceAfter = await c.myRoom(url, alice, room.id);
    assert.equal(bobAfter.read_seq, 4, "bob's own send advanced his read cursor");
    assert.equal(bobAfter.unread_count, 0);
    assert.deepEqual(bobAfter.last_message, reply);
    assert.equal(aliceAfter.unread_count, 1);
    assert.equal(aliceAfter.read_seq, 3);
  });

  it('a room with no messages has last_message null and unread_count 0', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);

    const view = await c.myRoom(url, bob, room.id);

    assert.equal(view.last_message, null);
    assert.equal(view.unread_count, 0);
    assert.equal(view.last_seq, 0);
    assert.match(view.created_at, c.RFC3339_MS);
  });

  it('GET /api/rooms lists the most recently active room first', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const withBob = await c.directRoom(url, alice, bob);
    const withCarol = await c.directRoom(url, alice, carol);
    await c.postMessage(url, alice, withBob.id, 'older');
    await c.postMessage(url, alice, withCarol.id, 'newer');

    const before = await c.api(url, 'GET', '/api/rooms', alice.token);
    await c.postMessage(url, bob, withBob.id, 'newest');
    const afterwards = await c.api(url, 'GET', '/api/rooms', alice.token);

    assert.deepEqual(before.body.map((r) => r.id), [withCarol.id, withBob.id]);
    assert.deepEqual(afterwards.body.map((r) => r.id), [withBob.id, withCarol.id]);
  });

  it('the receipts endpoint lists read, delivered and pending members, never the sender', async () => {
    const [alice, bob, carol, dave] = await c.users(url, 4);
    const group = await c.createRoom(url, alice, { name: 'receipts', members: [bob, carol, dave] });
    const msg = await c.postMessage(url, alice, group.id, 'who has seen this?');
    const bobSocket = await c.connect(url, { token: bob.token });
    const carolSocket = await c.connect(url, { token: carol.token, autoAckSync: false });

    await c.emitOk(bobSocket, 'message:read', { room_id: group.id, seq: msg.seq });
    await c.emitOk(carolSocket, 'message:ack', { room_id: group.id, seq: msg.seq });
    const res = await c.api(url, 'GET', `/api/rooms/${group.id}/messages/${msg.seq}/receipts`, alice.token);

    assert.equal(res.status, 200, JSON.stringify(res.body));
    c.assertFields(res.body, { read: [bob.id], delivered: [carol.id], pending: [dave.id] }, 'receipts');
  });

  it('acking a sync batch counts as delivery in the receipts endpoint and emits a receipt', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const msg = await c.postMessage(url, alice, room.id, 'while you were away');
    const aliceSocket = await c.connect(url, { token: alice.token });
    const pending = await c.api(url, 'GET', `/api/rooms/${room.id}/messages/${msg.seq}/receipts`, alice.token);

    const bobSocket = await c.connect(url, { token: bob.token });
    await c.waitFor(bobSocket, 'synced');

    const receipt = await c.waitFor(aliceSocket, 'receipt', (r) => r.user_id === bob.id && r.delivered_seq === msg.seq);
    assert.equal(receipt.read_seq, 0);
    c.assertFields(pending.body, { read: [], delivered: [], pending: [bob.id] }, 'receipts before');
    const delivered = await c.api(url, 'GET', `/api/rooms/${room.id}/messages/${msg.seq}/receipts`, alice.token);
    c.assertFields(delivered.body, { read: [], delivered: [bob.id], pending: [] }, 'receipts after');
  });

  it('the receipts of a seq that does not exist are not_found', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    await c.postMessage(url, alice, room.id, 'one');

    const res = await c.api(url, 'GET', `/api/rooms/${room.id}/messages/99/receipts`, alice.token);

    c.assertRestError(res, 404, 'not_found');
  });
});
