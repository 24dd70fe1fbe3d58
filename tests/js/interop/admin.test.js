// docs/protocol.md §10: the `/admin` namespace and its `stats` event.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

const ADMIN = c.randomUsername('admin');
let server;
let url;
c.useServer({ env: { MISSIVE_ADMINS: ADMIN } }, (s) => {
  server = s;
  url = s.url;
});

describe('/admin namespace', () => {
  it('a user named in MISSIVE_ADMINS connects to /admin and receives stats every second', async () => {
    const admin = await c.register(url, { username: ADMIN });
    await c.connect(url, { token: admin.token });

    const socket = await c.connect(url, { token: admin.token, namespace: '/admin' });
    const first = await c.waitFor(socket, 'stats', () => true, 2500);
    const second = await c.waitFor(socket, 'stats', () => true, 2500);

    for (const stats of [first, second]) {
      for (const field of ['nodes', 'sockets', 'users_online', 'messages_per_second', 'catch_up_backlog']) {
        assert.equal(typeof stats[field], 'number', `stats.${field}: ${JSON.stringify(stats)}`);
      }
    }
    assert.ok(first.nodes >= 1);
    assert.ok(first.users_online >= 1, 'the admin is online on /');
    assert.ok(first.sockets >= 1);
  });

  it('a user not named in MISSIVE_ADMINS is refused with connect_error forbidden', async () => {
    const user = await c.register(url);

    const err = await c.connectError(url, { token: user.token, namespace: '/admin' });

    assert.equal(err.message, 'forbidden');
  });

  it('a bad token on /admin is refused with connect_error unauthenticated', async () => {
    const err = await c.connectError(url, { token: 'garbage', namespace: '/admin' });

    assert.equal(err.message, 'unauthenticated');
  });

  it('a missing token on /admin is refused with connect_error unauthenticated', async () => {
    const err = await c.connectError(url, { namespace: '/admin' });

    assert.equal(err.message, 'unauthenticated');
  });
});
