// docs/protocol.md §4 "Socket.IO authentication" and §3 token rules, through the official
// socket.io-client.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { io } = require('socket.io-client');
const c = require('../lib/client');

const SECRET = crypto.randomBytes(32).toString('hex');
let server;
let url;
c.useServer({ env: { MISSIVE_JWT_SECRET: SECRET } }, (s) => {
  server = s;
  url = s.url;
});

const resign = (user, changes) => c.resignToken(url, SECRET, user.token, changes);

describe('handshake authentication', () => {
  it('a valid access token in the handshake connects and the server emits session with the user', async () => {
    const alice = await c.register(url);

    const socket = await c.connect(url, { token: alice.token });
    const session = await c.waitFor(socket, 'session');

    assert.equal(socket.connected, true);
    assert.equal(session.user.id, alice.id);
    assert.equal(session.user.username, alice.username);
  });

  it('a garbage token is refused with connect_error "unauthenticated"', async () => {
    const err = await c.connectError(url, { token: 'not-a-jwt' });

    assert.equal(err.message, 'unauthenticated');
  });

  it('a handshake with a token but a malformed payload is refused with connect_error, not made a guest', async () => {
    const alice = await c.register(url);

    const err = await c.connectError(url, { auth: { token: alice.token, cursors: ['not', 'a', 'map'] } });

    assert.equal(err.message, 'invalid');
  });

  it('a token signed with another key is refused with connect_error "unauthenticated"', async () => {
    const alice = await c.register(url);
    const { header, claims } = c.decodeJwt(alice.token);
    const forged = c.signJwt(header, claims, crypto.randomBytes(32));

    const err = await c.connectError(url, { token: forged });

    assert.equal(err.message, 'unauthenticated');
  });

  it('an expired access token is refused with connect_error "unauthenticated"', async () => {
    const alice = await c.register(url);
    const now = Math.floor(Date.now() / 1000);
    const expired = await resign(alice, { iat: now - 7200, exp: now - 3600 });

    const err = await c.connectError(url, { token: expired });

    assert.equal(err.message, 'unauthenticated');
  });

  it('a refresh token is refused as a handshake token', async () => {
    const alice = await c.register(url);

    const err = await c.connectError(url, { token: alice.refresh });

    assert.equal(err.message, 'unauthenticated');
  });

  it('a refresh token is refused as a REST access token with 401 unauthenticated', async () => {
    const alice = await c.register(url);

    const res = await c.api(url, 'GET', '/api/me', alice.refresh);

    c.assertRestError(res, 401, 'unauthenticated');
  });

  it('the handshake also works over HTTP long-polling', async () => {
    const [alice, bob] = await c.users(url, 2);
    const bobSocket = await c.connect(url, { token: bob.token });

    const socket = await c.connect(url, { token: alice.token, transports: ['polling'] });
    const msg = await c.send(socket, { to: bob.id, body: 'over polling' });

    assert.equal(msg.sender_id, alice.id);
    await c.waitFor(bobSocket, 'message', (m) => m.id === msg.id);
  });
});

describe('events right after connect', () => {
  /**
   * Opens a socket and, in the same tick as its `connect` event, emits `event` — what a stock
   * client does with `socket.on('connect', () => socket.emit(...))` — resolving with the ack.
   */
  function emitOnConnect(auth, event, payload) {
    const socket = io(url, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
    return new Promise((resolve, reject) => {
      socket.on('connect_error', reject);
      socket.on('connect', () => {
        socket.timeout(c.WAIT_MS).emit(event, payload, (err, ack) => {
          socket.close();
          if (err) reject(new Error(`'${event}' emitted at connect got no ack within ${c.WAIT_MS} ms`));
          else resolve(ack);
        });
      });
    });
  }

  it('a guest\'s event emitted in the connect callback is always answered (never dropped)', async () => {
    const acks = await Promise.all(Array.from({ length: 50 }, () => emitOnConnect({}, 'rooms:list', {})));

    for (const ack of acks) assert.equal(ack.error.code, 'unauthenticated', JSON.stringify(ack));
  });

  it('a guest\'s auth event emitted in the connect callback is answered {ok: true}', async () => {
    const alice = await c.register(url);

    const acks = await Promise.all(Array.from({ length: 15 }, () => emitOnConnect({}, 'auth', { token: alice.token })));

    for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
  });

  it('an authenticated socket\'s event emitted in the connect callback is always answered', async () => {
    const alice = await c.register(url);

    const acks = await Promise.all(Array.from({ length: 15 }, () => emitOnConnect({ token: alice.token }, 'rooms:list', {})));

    for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
  });
});

describe('auth event on a guest socket', () => {
  it('a guest socket authenticates with the auth event, gets {ok:true,user} and then session', async () => {
    const alice = await c.register(url);
    const guest = await c.connect(url, {});

    const ack = await c.emitOk(guest, 'auth', { token: alice.token });

    assert.equal(ack.user.id, alice.id);
    assert.equal(ack.user.username, alice.username);
    const session = await c.waitFor(guest, 'session');
    assert.equal(session.user.id, alice.id);
  });

  it('a guest is answered "unauthenticated" for every event other than auth', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const guest = await c.connect(url, {});

    const attempts = [
      ['message:send', { room_id: room.id, body: 'hi' }],
      ['message:send', { to: bob.id, body: 'hi' }],
      ['message:ack', { room_id: room.id, seq: 1 }],
      ['message:read', { room_id: room.id, seq: 1 }],
      ['typing', { room_id: room.id, typing: true }],
      ['history', { room_id: room.id }],
      ['rooms:list', {}],
      ['room:create', { kind: 'group', name: 'g' }],
      ['room:join', { room_id: room.id }],
      ['room:leave', { room_id: room.id }],
      ['room:add', { room_id: room.id, user_id: bob.id }],
      ['room:remove', { room_id: room.id, user_id: bob.id }],
      ['presence:query', { user_ids: [bob.id] }],
      ['profile:update', { display_name: 'x' }],
    ];
    for (const [event, payload] of attempts) {
      await c.emitErr(guest, event, payload, 'unauthenticated');
    }
    const hist = await c.api(url, 'GET', `/api/rooms/${room.id}/messages`, alice.token);
    assert.equal(hist.body.messages.length, 0, 'nothing was sent by the guest');
  });

  it('a guest that sends a bad token with auth is answered "unauthenticated" and stays a guest', async () => {
    const guest = await c.connect(url, {});

    await c.emitErr(guest, 'auth', { token: 'garbage' }, 'unauthenticated');

    await c.emitErr(guest, 'rooms:list', {}, 'unauthenticated');
  });

  it('a guest that sends a refresh token with auth is answered "unauthenticated"', async () => {
    const alice = await c.register(url);
    const guest = await c.connect(url, {});

    await c.emitErr(guest, 'auth', { token: alice.refresh }, 'unauthenticated');
  });
});

describe('auth event on an authenticated socket', () => {
  it('auth with a token of another user is forbidden and the socket stays bound to its user', async () => {
    const [alice, mallory] = await c.users(url, 2);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'auth', { token: mallory.token }, 'forbidden');

    const ack = await c.emitOk(socket, 'profile:update', { display_name: 'still alice' });
    assert.equal(ack.user.id, alice.id);
  });

  it('auth with a fresh token of the same user is accepted', async () => {
    const alice = await c.register(url);
    const socket = await c.connect(url, { token: alice.token });
    const fresh = await c.login(url, alice);

    const ack = await c.emitOk(socket, 'auth', { token: fresh.access_token });

    assert.equal(ack.user.id, alice.id);
    assert.equal(socket.connected, true);
  });

  it('logout-all disconnects every socket of the user and revokes the refresh token', async () => {
    const alice = await c.register(url);
    const s1 = await c.connect(url, { token: alice.token });
    const s2 = await c.connect(url, { token: alice.token });

    const res = await c.api(url, 'POST', '/api/auth/logout-all', alice.token);

    assert.equal(res.status, 204);
    await Promise.all([c.waitDisconnect(s1), c.waitDisconnect(s2)]);
    const refresh = await c.api(url, 'POST', '/api/auth/refresh', null, { refresh_token: alice.refresh });
    c.assertRestError(refresh, 401, 'unauthenticated');
  });
});
