// docs/protocol.md §3: sessions over REST — register, login, refresh rotation with reuse detection,
// logout — and user look-ups.
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

const refresh = (token) => c.api(url, 'POST', '/api/auth/refresh', null, { refresh_token: token });

describe('REST sessions', () => {
  it('register answers 201 with a Session: user, access and refresh tokens, Bearer, expires_in', async () => {
    const username = c.randomUsername();

    const res = await c.api(url, 'POST', '/api/auth/register', null, { username, password: 'password-123', display_name: 'Zed' });

    assert.equal(res.status, 201, JSON.stringify(res.body));
    c.assertFields(res.body.user, { username, display_name: 'Zed' }, 'user');
    assert.equal(typeof res.body.user.id, 'string');
    assert.match(res.body.user.created_at, c.RFC3339_MS);
    assert.equal(res.body.token_type, 'Bearer');
    assert.ok(Number.isInteger(res.body.expires_in) && res.body.expires_in > 0);
    const claims = c.decodeJwt(res.body.access_token).claims;
    for (const k of ['sub', 'exp', 'iat', 'iss', 'aud', 'jti']) assert.ok(k in claims, `access token claim ${k}`);
  });

  it('registering a taken username is 409 conflict', async () => {
    const alice = await c.register(url);

    const res = await c.api(url, 'POST', '/api/auth/register', null, { username: alice.username.toUpperCase(), password: 'password-123' });

    c.assertRestError(res, 409, 'conflict');
  });

  it('a username or password outside the rules is 400 invalid', async () => {
    const bad = [
      { username: 'ab', password: 'password-123' },
      { username: 'has space', password: 'password-123' },
      { username: 'x'.repeat(33), password: 'password-123' },
      { username: c.randomUsername(), password: 'short' },
    ];
    for (const body of bad) {
      c.assertRestError(await c.api(url, 'POST', '/api/auth/register', null, body), 400, 'invalid');
    }
  });

  it('refresh rotates: the new session works and the old refresh token stops working', async () => {
    const alice = await c.register(url);

    const first = await refresh(alice.refresh);
    const reused = await refresh(alice.refresh);

    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.notEqual(first.body.refresh_token, alice.refresh);
    assert.equal((await c.api(url, 'GET', '/api/me', first.body.access_token)).status, 200);
    c.assertRestError(reused, 401, 'unauthenticated');
  });

  it('reusing a used refresh token revokes every refresh token descended from that login', async () => {
    const alice = await c.register(url);
    const second = await refresh(alice.refresh);
    const third = await refresh(second.body.refresh_token);

    const replay = await refresh(alice.refresh);
    const descendant = await refresh(third.body.refresh_token);

    c.assertRestError(replay, 401, 'unauthenticated');
    c.assertRestError(descendant, 401, 'unauthenticated');
  });

  it('reuse detection spares refresh tokens of another login of the same user', async () => {
    const alice = await c.register(url);
    const otherLogin = await c.login(url, alice);
    await refresh(alice.refresh);

    await refresh(alice.refresh);
    const other = await refresh(otherLogin.refresh_token);

    assert.equal(other.status, 200, JSON.stringify(other.body));
  });

  it('an access token is refused as a refresh token', async () => {
    const alice = await c.register(url);

    c.assertRestError(await refresh(alice.token), 401, 'unauthenticated');
  });

  it('logout (no bearer needed) answers 204 and the refresh token stops working', async () => {
    const alice = await c.register(url);

    const res = await c.api(url, 'POST', '/api/auth/logout', null, { refresh_token: alice.refresh });

    assert.equal(res.status, 204);
    c.assertRestError(await refresh(alice.refresh), 401, 'unauthenticated');
  });
});

describe('REST users', () => {
  it('GET /api/users?q= finds users by username prefix', async () => {
    const prefix = `p${c.hex(3)}`;
    const [a, b] = await Promise.all([
      c.register(url, { username: `${prefix}_one` }),
      c.register(url, { username: `${prefix}_two` }),
    ]);
    const other = await c.register(url);

    const res = await c.api(url, 'GET', `/api/users?q=${prefix}&limit=10`, other.token);

    assert.equal(res.status, 200);
    assert.deepEqual(res.body.map((u) => u.id).sort(), [a.id, b.id].sort());
  });

  it('GET /api/me and PATCH /api/me read and change the display name', async () => {
    const alice = await c.register(url);

    const patched = await c.api(url, 'PATCH', '/api/me', alice.token, { display_name: 'Alice' });
    const me = await c.api(url, 'GET', '/api/me', alice.token);

    assert.equal(patched.status, 200);
    c.assertFields(me.body, { id: alice.id, username: alice.username, display_name: 'Alice' }, 'me');
  });

  it('GET /metrics serves Prometheus text', async () => {
    const res = await fetch(`${url}/metrics`);
    const text = await res.text();

    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /text\/plain/);
    assert.match(text, /^# (HELP|TYPE) /m);
  });
});
