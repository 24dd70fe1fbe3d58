// @ts-check
// docs/protocol.md §5 "Catch-up (offline delivery)": `sync` batches, acks, `synced`, cursors.
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

/**
 * Alice sends `n` messages to Bob in their direct room while Bob has no socket.
 * @param {number} n
 * @param {{alice?: any, bob?: any}} [who]
 */
async function backlog(n, { alice, bob } = {}) {
  alice = alice || (await c.register(url));
  bob = bob || (await c.register(url));
  const room = await c.directRoom(url, alice, bob);
  const socket = await c.connect(url, { token: alice.token });
  const sent = await c.sendMany(socket, room.id, n, { parallel: 50 });
  socket.close();
  return { alice, bob, room, sent };
}

/** Waits for `synced`, then returns every `sync` payload received, in order. */
async function syncUntilDone(socket) {
  const synced = await c.waitFor(socket, 'synced', () => true, 10000);
  return { synced, batches: c.received(socket, 'sync') };
}

describe('catch-up', () => {
  it('250 messages sent while a device was offline arrive in sync batches of at most 100, in order, without gap or duplicate, then synced', async () => {
    const { bob, room, sent } = await backlog(250);

    const socket = await c.connect(url, { token: bob.token });
    const { synced, batches } = await syncUntilDone(socket);

    assert.ok(batches.length >= 3, `250 messages need at least 3 batches, got ${batches.length}`);
    for (const [i, b] of batches.entries()) {
      assert.equal(b.room_id, room.id);
      assert.ok(b.messages.length >= 1 && b.messages.length <= 100, `batch ${i} has ${b.messages.length} messages`);
      assert.equal(b.has_more, i < batches.length - 1, `has_more of batch ${i} of ${batches.length}`);
      for (const m of b.messages) c.assertMessage(m);
    }
    const all = batches.flatMap((b) => b.messages);
    c.assertSeqRange(all.map((m) => m.seq), 1, 250, 'caught-up seqs');
    assert.deepEqual(all, sent, 'caught-up messages equal the stored ones');
    c.assertFields(synced, { rooms: 1, messages: 250 }, 'synced');
  });

  it('catch-up covers every room with a backlog and synced counts rooms and messages', async () => {
    const [alice, carol, bob] = await c.users(url, 3);
    await backlog(3, { alice, bob });
    await backlog(2, { alice: carol, bob });

    const socket = await c.connect(url, { token: bob.token });
    const { synced, batches } = await syncUntilDone(socket);

    c.assertFields(synced, { rooms: 2, messages: 5 }, 'synced');
    const switches = batches.filter((b, i) => i > 0 && b.room_id !== batches[i - 1].room_id).length;
    assert.equal(switches, 1, 'rooms are caught up one after the other, not interleaved');
    const byRoom = {};
    for (const b of batches) (byRoom[b.room_id] = byRoom[b.room_id] || []).push(...b.messages.map((m) => m.seq));
    assert.deepEqual(Object.values(byRoom).sort((x, y) => x.length - y.length), [[1, 2], [1, 2, 3]]);
  });

  it('a device with nothing to catch up gets synced {rooms: 0, messages: 0} and no sync', async () => {
    const alice = await c.register(url);

    const socket = await c.connect(url, { token: alice.token });
    const synced = await c.waitFor(socket, 'synced');

    c.assertFields(synced, { rooms: 0, messages: 0 }, 'synced');
    assert.deepEqual(c.received(socket, 'sync'), []);
  });

  it('the next batch is sent only after the previous one is acked', async () => {
    const { bob } = await backlog(150);
    const socket = await c.connect(url, { token: bob.token, autoAckSync: false });

    const first = await c.waitForEntry(socket, 'sync');
    await c.expectNone(socket, 'sync');
    first.ack();
    const second = await c.waitForEntry(socket, 'sync');
    second.ack();

    assert.equal(first.data.messages.length, 100);
    assert.equal(first.data.has_more, true);
    c.assertSeqRange(second.data.messages.map((m) => m.seq), 101, 150);
    assert.equal(second.data.has_more, false);
    c.assertFields(await c.waitFor(socket, 'synced'), { rooms: 1, messages: 150 }, 'synced');
  });

  it('a client that never acks a sync batch gets that batch again on its next connection', async () => {
    const { bob } = await backlog(150);
    const first = await c.connect(url, { token: bob.token, autoAckSync: false });
    const unacked = await c.waitFor(first, 'sync');
    await c.expectNone(first, 'synced');
    first.close();

    const second = await c.connect(url, { token: bob.token });
    const { synced, batches } = await syncUntilDone(second);

    c.assertSeqRange(unacked.messages.map((m) => m.seq), 1, 100, 'first, unacked batch');
    c.assertSeqRange(batches.flatMap((b) => b.messages).map((m) => m.seq), 1, 150, 'after reconnecting');
    c.assertFields(synced, { rooms: 1, messages: 150 }, 'synced');
  });

  it('acked batches are not sent again: a later connection without cursors gets nothing old', async () => {
    const { bob, alice, room } = await backlog(120);
    const first = await c.connect(url, { token: bob.token });
    await syncUntilDone(first);
    first.close();
    const aliceSocket = await c.connect(url, { token: alice.token });
    await c.send(aliceSocket, { room_id: room.id, body: 'new one' });

    const second = await c.connect(url, { token: bob.token });
    const { synced, batches } = await syncUntilDone(second);

    c.assertFields(synced, { rooms: 1, messages: 1 }, 'synced');
    assert.deepEqual(batches.flatMap((b) => b.messages).map((m) => m.seq), [121]);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.delivered_seq, 121, 'acking the sync batches moved delivered_seq');
  });

  it('cursors in the handshake skip what the device already holds', async () => {
    const { bob, room } = await backlog(10);

    const socket = await c.connect(url, { token: bob.token, cursors: { [room.id]: 7 } });
    const { synced, batches } = await syncUntilDone(socket);

    assert.deepEqual(batches.flatMap((b) => b.messages).map((m) => m.seq), [8, 9, 10]);
    c.assertFields(synced, { rooms: 1, messages: 3 }, 'synced');
  });

  it('a cursor at the head of a room means nothing is sent for it', async () => {
    const { bob, room } = await backlog(5);

    const socket = await c.connect(url, { token: bob.token, cursors: { [room.id]: 5 } });
    const { synced, batches } = await syncUntilDone(socket);

    assert.deepEqual(batches, []);
    c.assertFields(synced, { rooms: 0, messages: 0 }, 'synced');
  });

  it('a cursor behind delivered_seq is honoured: a new device gets what it lacks even if another device confirmed it', async () => {
    const { bob, room } = await backlog(10);
    const phone = await c.connect(url, { token: bob.token });
    await syncUntilDone(phone);

    const laptop = await c.connect(url, { token: bob.token, cursors: { [room.id]: 4 } });
    const { synced, batches } = await syncUntilDone(laptop);

    c.assertSeqRange(batches.flatMap((b) => b.messages).map((m) => m.seq), 5, 10);
    c.assertFields(synced, { rooms: 1, messages: 6 }, 'synced');
  });

  it('cursors given with the auth event on a guest socket are honoured', async () => {
    const { bob, room } = await backlog(6);
    const guest = await c.connect(url, {});

    await c.emitOk(guest, 'auth', { token: bob.token, cursors: { [room.id]: 4 } });
    const { synced, batches } = await syncUntilDone(guest);

    assert.deepEqual(batches.flatMap((b) => b.messages).map((m) => m.seq), [5, 6]);
    c.assertFields(synced, { rooms: 1, messages: 2 }, 'synced');
  });

  it('message:ack from one device means a device without cursors is not sent those messages', async () => {
    const { bob, room } = await backlog(8);
    const phone = await c.connect(url, { token: bob.token, autoAckSync: false });
    await c.waitFor(phone, 'sync');
    await c.emitOk(phone, 'message:ack', { room_id: room.id, seq: 6 });
    phone.close();

    const laptop = await c.connect(url, { token: bob.token });
    const { synced, batches } = await syncUntilDone(laptop);

    assert.deepEqual(batches.flatMap((b) => b.messages).map((m) => m.seq), [7, 8]);
    c.assertFields(synced, { rooms: 1, messages: 2 }, 'synced');
  });

  it('a message sent during catch-up reaches the catching-up device, live or in a batch', async () => {
    const { alice, bob, room } = await backlog(150);
    const bobSocket = await c.connect(url, { token: bob.token, autoAckSync: false });
    const first = await c.waitForEntry(bobSocket, 'sync');
    const aliceSocket = await c.connect(url, { token: alice.token });

    const live = await c.send(aliceSocket, { room_id: room.id, body: 'during catch-up' });
    bobSocket.autoAckSync = true;
    first.ack();
    const { batches } = await syncUntilDone(bobSocket);

    const seen = new Set([
      ...batches.flatMap((b) => b.messages).map((m) => m.seq),
      ...c.received(bobSocket, 'message', (m) => m.room_id === room.id).map((m) => m.seq),
    ]);
    c.assertSeqRange([...seen].sort((a, b) => a - b), 1, live.seq, 'union of sync and live');
  });
});
