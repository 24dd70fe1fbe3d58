// docs/protocol.md §1 error codes: no existence leak (`not_found` for rooms the caller may not see),
// `invalid` payloads, message body and client_id limits.
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

/** Every room-scoped socket event, as a non-member would send it for `roomId`. */
function roomEvents(roomId, someone) {
  return [
    ['message:send', { room_id: roomId, body: 'hi' }],
    ['message:ack', { room_id: roomId, seq: 1 }],
    ['message:read', { room_id: roomId, seq: 1 }],
    ['typing', { room_id: roomId, typing: true }],
    ['history', { room_id: roomId }],
    ['room:leave', { room_id: roomId }],
    ['room:add', { room_id: roomId, user_id: someone }],
    ['room:remove', { room_id: roomId, user_id: someone }],
    ['presence:query', { room_id: roomId }],
  ];
}

describe('rooms the caller may not see', () => {
  it('a non-member is answered not_found on every room event of a group', async () => {
    const [alice, bob, outsider] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob] });
    await c.postMessage(url, alice, group.id, 'private');
    const socket = await c.connect(url, { token: outsider.token });

    for (const [event, payload] of [...roomEvents(group.id, bob.id), ['room:join', { room_id: group.id }]]) {
      await c.emitErr(socket, event, payload, 'not_found');
    }
  });

  it('a non-member is answered not_found on every room event of a direct room', async () => {
    const [alice, bob, outsider] = await c.users(url, 3);
    const room = await c.directRoom(url, alice, bob);
    await c.postMessage(url, alice, room.id, 'private');
    const socket = await c.connect(url, { token: outsider.token });

    for (const [event, payload] of [...roomEvents(room.id, bob.id), ['room:join', { room_id: room.id }]]) {
      await c.emitErr(socket, event, payload, 'not_found');
    }
  });

  it('a room id that does not exist is answered not_found alike', async () => {
    const [alice, bob] = await c.users(url, 2);
    const real = await c.directRoom(url, alice, bob);
    const unknown = c.unknownIdLike(real.id);
    const socket = await c.connect(url, { token: alice.token });

    for (const [event, payload] of [...roomEvents(unknown, bob.id), ['room:join', { room_id: unknown }]]) {
      await c.emitErr(socket, event, payload, 'not_found');
    }
    c.assertRestError(await c.api(url, 'GET', `/api/rooms/${unknown}`, alice.token), 404, 'not_found');
  });

  it('a room id of any opaque form that names no room is not_found, never a hint about the id format', async () => {
    const alice = await c.register(url);
    const socket = await c.connect(url, { token: alice.token });

    for (const [event, payload] of [...roomEvents('no-such-room', alice.id), ['room:join', { room_id: 'no-such-room' }]]) {
      await c.emitErr(socket, event, payload, 'not_found');
    }
    c.assertRestError(await c.api(url, 'GET', '/api/rooms/no-such-room', alice.token), 404, 'not_found');
  });

  it('every REST room endpoint answers 404 not_found to a non-member', async () => {
    const [alice, bob, outsider] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { members: [bob] });
    await c.postMessage(url, alice, group.id, 'private');
    const id = group.id;

    const calls = [
      ['GET', `/api/rooms/${id}`],
      ['PATCH', `/api/rooms/${id}`, { name: 'mine now' }],
      ['GET', `/api/rooms/${id}/messages`],
      ['POST', `/api/rooms/${id}/messages`, { body: 'hi' }],
      ['GET', `/api/rooms/${id}/messages/1/receipts`],
      ['POST', `/api/rooms/${id}/read`, { seq: 1 }],
      ['POST', `/api/rooms/${id}/members`, { user_id: outsider.id }],
      ['PATCH', `/api/rooms/${id}/members/${bob.id}`, { role: 'admin' }],
      ['DELETE', `/api/rooms/${id}/members/${bob.id}`],
    ];
    for (const [method, path, body] of calls) {
      const res = await c.api(url, method, path, outsider.token, body);
      assert.equal(res.status, 404, `${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
      c.assertRestError(res, 404, 'not_found');
    }
    const page = await c.api(url, 'GET', `/api/rooms/${id}/messages`, alice.token);
    assert.equal(page.body.messages.filter((m) => m.kind === 'text').length, 1, 'nothing was posted by the outsider');
  });
});

describe('invalid messages', () => {
  it('an empty message body is invalid', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { room_id: room.id, body: '' }, 'invalid');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: '' }), 400, 'invalid');
  });

  it('a missing body is invalid', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { room_id: room.id }, 'invalid');
  });

  it('message:send with neither room_id nor to is invalid', async () => {
    const alice = await c.register(url);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { body: 'to whom?' }, 'invalid');
  });

  it('a body of MISSIVE_MAX_MESSAGE_CHARS characters is accepted and one more is invalid, counting characters not bytes', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });
    const longest = '😀'.repeat(4096);

    const ok = await c.send(socket, { room_id: room.id, body: longest });
    await c.emitErr(socket, 'message:send', { room_id: room.id, body: `${longest}x` }, 'invalid');
    const rest = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'a'.repeat(4097) });

    assert.equal(ok.body, longest);
    c.assertRestError(rest, 400, 'invalid');
  });

  it('a client_id of 64 characters is accepted and 65 is invalid', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    const ok = await c.send(socket, { room_id: room.id, body: 'a', client_id: 'c'.repeat(64) });
    await c.emitErr(socket, 'message:send', { room_id: room.id, body: 'b', client_id: 'c'.repeat(65) }, 'invalid');
    const rest = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'c', client_id: 'd'.repeat(65) });

    assert.equal(ok.client_id, 'c'.repeat(64));
    c.assertRestError(rest, 400, 'invalid');
    const page = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, alice.token);
    assert.equal(page.body.messages.length, 1, 'the invalid sends stored nothing');
  });

  it('an invalid message is not delivered to anyone', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.emitErr(aliceSocket, 'message:send', { room_id: room.id, body: '' }, 'invalid');

    await c.expectNone(bobSocket, 'message');
  });

  it('a malformed REST body is 400 invalid with the error shape', async () => {
    const alice = await c.register(url);

    const res = await c.api(url, 'POST', '/api/rooms', alice.token, '{"kind": "group", "name": ');

    c.assertRestError(res, 400, 'invalid');
  });

  it('a REST call without a bearer token is 401 unauthenticated', async () => {
    const res = await c.api(url, 'GET', '/api/rooms', null);

    c.assertRestError(res, 401, 'unauthenticated');
  });
});
