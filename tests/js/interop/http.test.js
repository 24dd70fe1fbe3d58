// docs/protocol.md §1 "Server" and §3: the browser client at /socket.io/socket.io.js, health checks.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const c = require('../lib/client');

let server;
let url;

before(async () => {
  server = await startServer();
  url = server.url;
});
after(async () => {
  if (server) await server.stop();
});

describe('HTTP endpoints', () => {
  it('/socket.io/socket.io.js serves the official Socket.IO browser client as JavaScript', async () => {
    const res = await fetch(`${url}/socket.io/socket.io.js`);
    const text = await res.text();

    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /javascript/);
    assert.match(text, /Socket\.IO v4\.8\.4/);
    assert.ok(text.length > 10000, `a real client build, got ${text.length} bytes`);
  });

  it('/healthz and /readyz answer 200 with a status', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await c.api(url, 'GET', path);

      assert.equal(res.status, 200, path);
      assert.equal(typeof res.body.status, 'string', `${path}: ${JSON.stringify(res.body)}`);
    }
  });

  it('usernames are folded to lower case at register and login', async () => {
    const name = c.randomUsername('U').toUpperCase();

    const reg = await c.api(url, 'POST', '/api/auth/register', null, { username: name, password: 'password-123' });
    const login = await c.api(url, 'POST', '/api/auth/login', null, { username: name.toLowerCase(), password: 'password-123' });

    assert.equal(reg.status, 201);
    assert.equal(reg.body.user.username, name.toLowerCase());
    assert.equal(login.status, 200);
    assert.equal(login.body.token_type, 'Bearer');
    assert.equal(typeof login.body.expires_in, 'number');
  });
});
