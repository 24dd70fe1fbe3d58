// @ts-check
// docs/protocol.md §3 "Reading history": the `history` event and `GET /api/rooms/{id}/messages`
// paging (before_seq / after_seq / limit: default 50, clamped to 200, has_more).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server');
const c = require('../lib/client');

let server;
let url;
/** A direct room holding messages 1..250, shared read-only by every test in this file. */
let alice;
let bob;
let room;
let socket;
let stored;

before(async () => {
  server = await startServer();
  url = server.url;
  [alice, bob] = await c.users(url, 2);
  room = await c.directRoom(url, alice, bob);
  const sender = await c.connect(url, { token: alice.token });
  stored = await c.sendMany(sender, room.id, 250, { parallel: 50 });
  sender.close();
  socket = await c.connect(url, { token: bob.token });
});
after(async () => {
  c.disconnectAll();
  if (server) await server.stop();
});

/** The same page both ways: the `history` event and the REST endpoint must agree. */
async function page(query) {
  const ack = await c.emitOk(socket, 'history', { room_id: room.id, ...query });
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  const rest = await c.api(url, 'GET', `/api/rooms/${room.id}/messages${qs ? `?${qs}` : ''}`, bob.token);
  assert.equal(rest.status, 200, JSON.stringify(rest.body));
  assert.deepEqual(rest.body.messages, ack.messages, 'REST and the history event return the same page');
  assert.equal(rest.body.has_more, ack.has_more, 'REST and the history event agree on has_more');
  return { seqs: ack.messages.map((m) => m.seq), messages: ack.messages, has_more: ack.has_more };
}

describe('history paging', () => {
  it('with no cursor, history returns the latest 50 messages ascending and has_more', async () => {
    const p = await page({});

    c.assertSeqRange(p.seqs, 201, 250);
    assert.equal(p.has_more, true);
    assert.deepEqual(p.messages, stored.slice(200), 'history returns the stored messages');
  });

  it('before_seq pages backwards until has_more is false', async () => {
    const p1 = await page({ before_seq: 201, limit: 100 });
    const p2 = await page({ before_seq: 101, limit: 100 });
    const p3 = await page({ before_seq: 1, limit: 100 });

    c.assertSeqRange(p1.seqs, 101, 200);
    assert.equal(p1.has_more, true);
    c.assertSeqRange(p2.seqs, 1, 100);
    assert.equal(p2.has_more, false);
    assert.deepEqual(p3.seqs, []);
    assert.equal(p3.has_more, false);
  });

  it('after_seq pages forwards until has_more is false', async () => {
    const p1 = await page({ after_seq: 0, limit: 5 });
    const p2 = await page({ after_seq: 240, limit: 5 });
    const p3 = await page({ after_seq: 245, limit: 5 });
    const p4 = await page({ after_seq: 246, limit: 50 });
    const p5 = await page({ after_seq: 250 });

    c.assertSeqRange(p1.seqs, 1, 5);
    assert.equal(p1.has_more, true);
    c.assertSeqRange(p2.seqs, 241, 245);
    assert.equal(p2.has_more, true);
    c.assertSeqRange(p3.seqs, 246, 250);
    assert.equal(p3.has_more, false);
    c.assertSeqRange(p4.seqs, 247, 250);
    assert.equal(p4.has_more, false);
    assert.deepEqual(p5.seqs, []);
    assert.equal(p5.has_more, false);
  });

  it('the default limit is 50 for before_seq and after_seq pages too', async () => {
    const back = await page({ before_seq: 101 });
    const fwd = await page({ after_seq: 100 });

    c.assertSeqRange(back.seqs, 51, 100);
    c.assertSeqRange(fwd.seqs, 101, 150);
  });

  it('a limit above 200 is clamped to 200', async () => {
    const latest = await page({ limit: 1000 });
    const fwd = await page({ after_seq: 0, limit: 500 });

    c.assertSeqRange(latest.seqs, 51, 250);
    assert.equal(latest.has_more, true);
    c.assertSeqRange(fwd.seqs, 1, 200);
    assert.equal(fwd.has_more, true);
  });

  it('a limit that covers the whole room says has_more false', async () => {
    const [carol, dave] = await c.users(url, 2);
    const small = await c.directRoom(url, carol, dave);
    for (let i = 1; i <= 3; i++) await c.postMessage(url, carol, small.id, `s${i}`);

    const res = await c.api(url, 'GET', `/api/rooms/${small.id}/messages?limit=3`, dave.token);
    const all = await c.api(url, 'GET', `/api/rooms/${small.id}/messages`, dave.token);

    c.assertSeqRange(res.body.messages.map((m) => m.seq), 1, 3);
    assert.equal(res.body.has_more, false);
    c.assertSeqRange(all.body.messages.map((m) => m.seq), 1, 3);
    assert.equal(all.body.has_more, false);
  });

  it('the sender sees the same history as the recipient', async () => {
    const res = await c.api(url, 'GET', `/api/rooms/${room.id}/messages?before_seq=11&limit=10`, alice.token);

    assert.deepEqual(res.body.messages, stored.slice(0, 10));
  });
});
