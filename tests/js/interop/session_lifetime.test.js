// docs/protocol.md §4 "Socket.IO authentication": guests have 10 s to authenticate, and a socket is disconnected
// within 10 s of its access token's expiry unless a fresh token arrived by `auth`.
// These tests wait for real time, so they run concurrently.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer } = require('../lib/server');
const c = require('../lib/client');

const SECRET = crypto.randomBytes(32).toString('hex');
let server;
let url;

before(async () => {
  server = await startServer({ env: { MISSIVE_JWT_SECRET: SECRET } });
  url = server.url;
});
after(async () => {
  c.disconnectAll();
  if (server) await server.stop();
});

/** An access token of `user` that expires `seconds` from now. */
function expiringIn(user, seconds) {
  const now = Math.floor(Date.now() / 1000);
  return c.resignToken(url, SECRET, user.token, { iat: now, exp: now + seconds });
}

describe('socket lifetime', { concurrency: true }, () => {
  it('a guest that does not authenticate within 10 s is disconnected', async () => {
    const guest = await c.connect(url, {});

    await c.sleep(3000);
    assert.equal(guest.connected, true, 'a guest has time to authenticate');
    await c.waitDisconnect(guest, 9000);
  });

  it("a socket is disconnected within 10 s of its access token's expiry", async () => {
    const alice = await c.register(url);
    const token = await expiringIn(alice, 3);
    const socket = await c.connect(url, { token });

    await c.sleep(1000);
    assert.equal(socket.connected, true, 'connected while the token is valid');
    await c.waitDisconnect(socket, 2000 + 10000 + 1500);
  });

  it('a fresh token sent with auth before expiry keeps the socket connected', async () => {
    const alice = await c.register(url);
    const token = await expiringIn(alice, 3);
    const socket = await c.connect(url, { token });

    await c.emitOk(socket, 'auth', { token: alice.token });
    await c.sleep(3000 + 10000 + 1500);

    assert.equal(socket.connected, true);
    await c.emitOk(socket, 'rooms:list', {});
  });
});
