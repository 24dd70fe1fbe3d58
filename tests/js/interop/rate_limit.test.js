// docs/protocol.md §9 "Limits": sends per user limited by MISSIVE_SEND_RATE (bursts of twice that).
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

const RATE = 5;
let server;
let url;
c.useServer({ env: { MISSIVE_SEND_RATE: String(RATE) } }, (s) => {
  server = s;
  url = s.url;
});

/** Fires `n` sends at once and splits the acks into accepted and refused. */
async function burst(socket, roomId, n) {
  const acks = await Promise.all(
    Array.from({ length: n }, (_, i) => c.emitAck(socket, 'message:send', { room_id: roomId, body: `b${i}` })),
  );
  return { ok: acks.filter((a) => a.ok === true), refused: acks.filter((a) => a.ok !== true) };
}

describe('send rate limit', () => {
  it('sends past the burst are rate_limited with retry_after_ms and are not stored', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });

    const { ok, refused } = await burst(socket, room.id, 30);

    assert.ok(ok.length >= RATE, `at least ${RATE} sends pass (got ${ok.length})`);
    assert.ok(ok.length <= 2 * RATE + 2, `at most a burst of ${2 * RATE} (+ refill) passes (got ${ok.length})`);
    assert.equal(ok.length + refused.length, 30);
    for (const a of refused) {
      assert.equal(a.error.code, 'rate_limited', JSON.stringify(a));
      assert.ok(Number.isInteger(a.error.retry_after_ms) && a.error.retry_after_ms > 0, JSON.stringify(a));
    }
    const page = await c.api(url, 'GET', `/api/rooms/${room.id}/messages?limit=200`, alice.token);
    assert.equal(page.body.messages.length, ok.length, 'only accepted sends are stored');
  });

  it('after waiting retry_after_ms a send is accepted again', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });
    const { refused } = await burst(socket, room.id, 30);
    const wait = Math.max(...refused.map((a) => a.error.retry_after_ms));

    await c.sleep(wait + 50);
    const ack = await c.emitAck(socket, 'message:send', { room_id: room.id, body: 'patience' });

    assert.ok(wait <= 2000, `retry_after_ms is about one token's time, got ${wait}`);
    assert.equal(ack.ok, true, JSON.stringify(ack));
  });

  it('a REST send past the limit is 429 rate_limited with a Retry-After header and retry_after_ms', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const socket = await c.connect(url, { token: alice.token });
    await burst(socket, room.id, 30);

    // Fired together, more REST sends than a burst allows: however slowly the machine ran the
    // socket burst (the bucket refills meanwhile), some of these are past the limit.
    const all = await Promise.all(Array.from({ length: 3 * RATE }, (_, i) =>
      c.api(url, 'POST', `/api/rooms/${room.id}/messages`, alice.token, { body: `rest ${i}` })));
    const res = all.find((r) => r.status === 429);
    assert.ok(res, `no 429 among ${all.map((r) => r.status).join(',')}`);

    c.assertRestError(res, 429, 'rate_limited');
    assert.ok(Number.isInteger(res.body.error.retry_after_ms) && res.body.error.retry_after_ms > 0);
    assert.ok(Number(res.headers.get('retry-after')) >= 1, `Retry-After: ${res.headers.get('retry-after')}`);
  });

  it('the limit is per user: another user is not slowed by a flood', async () => {
    const [alice, bob] = await c.users(url, 2);
    const room = await c.directRoom(url, alice, bob);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    await burst(aliceSocket, room.id, 30);

    const { ok } = await burst(bobSocket, room.id, RATE);

    assert.equal(ok.length, RATE);
  });
});
