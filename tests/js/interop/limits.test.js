// docs/protocol.md §9 "Limits": 64 KiB socket packets and HTTP bodies, typing rate, sockets per user,
// failed logins. (The send rate is in rate_limit.test.js, on a server with a send rate set.)
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

describe('size limits', () => {
  it('a socket packet over 64 KiB closes the connection', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    socket.emit('message:send', { room_id: room.id, body: 'x'.repeat(70 * 1024) }, () => {});

    await c.waitDisconnect(socket);
    await c.expectNone(bobSocket, 'message');
    const again = await c.connect(url, { token: alice.token });
    await c.send(again, { room_id: room.id, body: 'the server is still fine' });
  });

  it('a socket packet just under 64 KiB keeps the connection (its over-long body is just invalid)', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    await c.emitErr(socket, 'message:send', { room_id: room.id, body: 'x'.repeat(60 * 1024) }, 'invalid');

    assert.equal(socket.connected, true);
    await c.send(socket, { room_id: room.id, body: 'still connected' });
  });

  it('an HTTP body over 64 KiB is 413 too_large', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);

    const res = await c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: 'x'.repeat(70 * 1024) });

    c.assertRestError(res, 413, 'too_large');
  });
});

describe('rate limits', () => {
  it('typing is limited to 5 a second per user: the excess is rate_limited with retry_after_ms', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    const acks = await Promise.all(
      Array.from({ length: 30 }, (_, i) => c.emitAck(socket, 'typing', { room_id: room.id, typing: i % 2 === 0 })),
    );

    const ok = acks.filter((a) => a.ok === true);
    const limited = acks.filter((a) => a.ok === false);
    assert.ok(ok.length >= 5, `at least 5 typing events pass (got ${ok.length})`);
    assert.ok(ok.length <= 11, `at most a burst of about 10 passes (got ${ok.length})`);
    for (const a of limited) {
      assert.equal(a.error.code, 'rate_limited', JSON.stringify(a));
      assert.ok(Number.isInteger(a.error.retry_after_ms) && a.error.retry_after_ms > 0, JSON.stringify(a));
    }
  });

  it('a user may hold 20 sockets; the 21st is refused with connect_error rate_limited', async () => {
    const alice = await c.register(url);
    const sockets = [];
    for (let i = 0; i < 20; i++) sockets.push(await c.connect(url, { token: alice.token }));

    const err = await c.connectError(url, { token: alice.token });

    assert.equal(err.message, 'rate_limited');
    assert.ok(sockets.every((s) => s.connected), 'the first 20 stay connected');
    sockets[0].close();
    await c.sleep(200);
    const replacement = await c.connect(url, { token: alice.token });
    assert.equal(replacement.connected, true, 'closing one frees a slot');
  });

  it('unknown user and wrong password are both 401 invalid_credentials', async () => {
    const alice = await c.register(url);

    const wrong = await c.api(url, 'POST', '/api/auth/login', null, { username: alice.username, password: 'wrong-password' });
    const unknown = await c.api(url, 'POST', '/api/auth/login', null, { username: c.randomUsername(), password: 'wrong-password' });

    c.assertRestError(wrong, 401, 'invalid_credentials');
    c.assertRestError(unknown, 401, 'invalid_credentials');
    assert.equal(wrong.body.error.message, unknown.body.error.message, 'no hint which one it was');
  });

  it('after 10 failed logins an account is rate_limited (429, Retry-After, retry_after_ms)', async () => {
    const alice = await c.register(url);
    const attempt = (password) => c.api(url, 'POST', '/api/auth/login', null, { username: alice.username, password });

    for (let i = 0; i < 10; i++) c.assertRestError(await attempt(`wrong-${i}-password`), 401, 'invalid_credentials');
    const eleventh = await attempt('wrong-again-password');

    c.assertRestError(eleventh, 429, 'rate_limited');
    assert.ok(Number.isInteger(eleventh.body.error.retry_after_ms) && eleventh.body.error.retry_after_ms > 0);
    assert.ok(Number(eleventh.headers.get('retry-after')) > 0, `Retry-After: ${eleventh.headers.get('retry-after')}`);
  });
});
