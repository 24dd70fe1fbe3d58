// docs/protocol.md "Attachments" with the official socket.io-client: a message carrying an
// upload travels like any other — in the send ack, live to the other members' sockets, in
// catch-up to a device that was away, in history — while its bytes are served only to the
// room's members, by bearer token or signed link.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

let url;
c.useServer({ env: { MISSIVE_SEND_RATE: '0' } }, (s) => {
  url = s.url;
});

async function upload(user, name, bytes) {
  const res = await fetch(`${url}/api/attachments?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

describe('attachments', () => {
  it('travel with the message: ack, live delivery, catch-up and history; the bytes only to members', async () => {
    const [alice, bob, stranger] = await c.users(url, 3);
    const room = await c.directRoom(url, alice, bob);
    const bytes = Buffer.from('the minutes of the meeting\n'.repeat(50));
    const file = await upload(alice, 'minutes.txt', bytes);

    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const ack = await c.emitOk(aliceSocket, 'message:send', {
      room_id: room.id,
      body: 'notes attached',
      attachments: [file.id],
      client_id: 'att-1',
    });
    assert.deepEqual(ack.message.attachments, [file]);
    const live = await c.waitFor(bobSocket, 'message', (m) => m.seq === ack.message.seq);
    assert.deepEqual(live.attachments, [file], 'live delivery carries the attachment');
    assert.equal(live.body, 'notes attached');

    // A message of attachments alone: no caption.
    const photo = await upload(alice, 'second.bin', Buffer.from([1, 2, 3, 4, 5]));
    const second = await c.emitOk(aliceSocket, 'message:send', { room_id: room.id, attachments: [photo.id] });
    assert.equal(second.message.body, '');
    await c.waitFor(bobSocket, 'message', (m) => m.seq === second.message.seq);
    bobSocket.disconnect();

    // A device of Bob's that held nothing catches up with both, in `sync`.
    const device = await c.connect(url, { token: bob.token, cursors: { [room.id]: ack.message.seq - 1 } });
    const batches = c.received(device, 'sync');
    const synced = batches.flatMap((b) => b.messages);
    const caught = synced.find((m) => m.seq === ack.message.seq);
    assert.ok(caught, `caught up: ${JSON.stringify(batches)}`);
    assert.deepEqual(caught.attachments, [file]);
    assert.deepEqual(synced.find((m) => m.seq === second.message.seq).attachments, [photo]);
    device.disconnect();

    const history = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, bob.token);
    c.assertOk(history, 200);
    assert.deepEqual(history.body.messages.find((m) => m.seq === ack.message.seq).attachments, [file]);

    // Bob reads the bytes; a stranger is told nothing exists.
    const got = await fetch(`${url}/api/attachments/${file.id}`, { headers: { authorization: `Bearer ${bob.token}` } });
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes);
    const refused = await c.api(url, 'GET', `/api/attachments/${file.id}`, stranger.token);
    assert.equal(refused.status, 404);
    assert.equal(refused.body.error.code, 'not_found');

    // A signed link works without a token, for Bob only (it is bound to him).
    const links = await c.api(url, 'POST', '/api/attachments/links', bob.token, { ids: [file.id] });
    c.assertOk(links, 200);
    const link = links.body.links[0].url;
    const viaLink = await fetch(url + link);
    assert.equal(viaLink.status, 200);
    const other = link.replace(/u=\d+/, `u=${stranger.id}`);
    assert.equal((await fetch(url + other)).status, 401);
    aliceSocket.disconnect();
  });

  it('an upload is taken by one message only, and only by its uploader', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const file = await upload(alice, 'one.txt', Buffer.from('once'));
    const bobSocket = await c.connect(url, { token: bob.token });
    const res = await bobSocket.emitWithAck('message:send', { room_id: room.id, body: 'x', attachments: [file.id] });
    assert.equal(res.ok, false);
    assert.equal(res.error.code, 'invalid');
    const aliceSocket = await c.connect(url, { token: alice.token });
    await c.emitOk(aliceSocket, 'message:send', { room_id: room.id, body: 'first', attachments: [file.id] });
    const again = await aliceSocket.emitWithAck('message:send', { room_id: room.id, body: 'again', attachments: [file.id] });
    assert.equal(again.ok, false);
    assert.equal(again.error.code, 'invalid');
    aliceSocket.disconnect();
    bobSocket.disconnect();
  });
});
