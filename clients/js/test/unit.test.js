// @ts-check
// Unit tests of the library's pure logic: cursors, gaps, dedupe, the outbox and token refresh.
// The socket is a fake (see fake-socket.js); REST is a fake `fetch`. Everything a user runs is
// also covered against the real server in integration.test.js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachmentLinks, MemoryStorage, MissiveClient, Outbox, RoomStreams, TokenSession } from '../src/index.js';
import { FakeSocket } from './fake-socket.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** @param {string} room @param {number} seq @param {Partial<import('../src/index.js').Message>} [extra] */
function msg(room, seq, extra = {}) {
  return { id: `${room}-${seq}`, room_id: room, seq, sender_id: 'other', kind: /** @type {const} */ ('text'), body: `m${seq}`, client_id: null, reply_to: null, created_at: new Date().toISOString(), ...extra };
}

/**
 * A logged-in client over a fake socket.
 * @param {{storage?: MemoryStorage, responder?: (event: string, payload: any) => any}} [o]
 */
function setup(o = {}) {
  const storage = o.storage || new MemoryStorage();
  const session = new TokenSession({ storage, autoRefresh: false, fetch: async () => { throw new Error('no network in unit tests'); } });
  session.adopt({ user: { id: 'me', username: 'me', display_name: 'Me', created_at: '' }, access_token: 'a1', refresh_token: 'r1', token_type: 'Bearer', expires_in: 900 });
  /** @type {FakeSocket[]} */
  const sockets = [];
  const client = new MissiveClient({
    storage,
    session,
    ackDelay: 0,
    io: (_url, opts) => {
      const s = new FakeSocket(opts);
      if (o.responder) s.responder = o.responder;
      sockets.push(s);
      return s;
    },
  });
  /** @type {{room_id: string, messages: import('../src/index.js').Message[], source: string}[]} */
  const delivered = [];
  client.on('messages', (e) => delivered.push(e));
  return { client, storage, session, sockets, delivered, seqs: (/** @type {string} */ room) => delivered.filter((d) => d.room_id === room).flatMap((d) => d.messages.map((m) => m.seq)) };
}

test('the cursor advances only over contiguous seqs and is persisted', () => {
  const storage = new MemoryStorage();
  const s = new RoomStreams(storage, 'c');
  s.accept('r', [msg('r', 1), msg('r', 2)], { baseline: 0 });
  assert.equal(s.cursor('r'), 2);
  s.accept('r', [msg('r', 5)]);
  assert.equal(s.cursor('r'), 2, 'a message above a hole does not move the cursor');
  assert.equal(s.hasGap('r'), true);
  s.accept('r', [msg('r', 3), msg('r', 4)]);
  assert.equal(s.cursor('r'), 5, 'filling the hole carries the cursor over what was held');
  assert.equal(s.hasGap('r'), false);
  assert.deepEqual(new RoomStreams(storage, 'c').snapshot(), { r: 5 }, 'a new instance reads the saved cursors');
});

test('each (room, seq) is fresh once, whatever path brings it', () => {
  const s = new RoomStreams(new MemoryStorage(), 'c');
  assert.equal(s.accept('r', [msg('r', 1), msg('r', 2)], { baseline: 0 }).fresh.length, 2);
  assert.equal(s.accept('r', [msg('r', 2), msg('r', 3)]).fresh.map((m) => m.seq).join(), '3');
  assert.equal(s.accept('r', [msg('r', 5)]).fresh.length, 1);
  assert.equal(s.accept('r', [msg('r', 5)]).fresh.length, 0, 'held above a hole still counts as held');
  assert.equal(s.accept('q', [msg('q', 2)], { baseline: 1 }).fresh.length, 1, 'another room has its own seqs');
});

test('catch-up batches are handed over, cursors saved, then acked; the handshake carries the cursors', async () => {
  const { client, sockets, storage, seqs } = setup();
  client.connect();
  await tick(1);
  const sock = sockets[0];
  assert.deepEqual(sock.handshakeAuth, { token: 'a1', cursors: {} });
  /** @type {string[]} */
  const order = [];
  client.on('messages', () => order.push('delivered'));
  sock.fire('sync', { room_id: 'r', messages: [msg('r', 4), msg('r', 5)], has_more: true }, () => {
    order.push('acked');
    assert.equal(JSON.parse(/** @type {string} */ (storage.getItem('missive.cursors.me'))).r, 5, 'saved before the ack');
  });
  assert.deepEqual(order, ['delivered', 'acked']);
  sock.fire('sync', { room_id: 'r', messages: [msg('r', 5), msg('r', 6)], has_more: false }, () => order.push('acked'));
  assert.deepEqual(seqs('r'), [4, 5, 6], 'the duplicate 5 is dropped');
  sock.fire('synced', { rooms: 1, messages: 3 });
  assert.equal(client.status, 'online');
  sock.drop();
  sock.connect();
  await tick(1);
  assert.deepEqual(sock.handshakeAuth.cursors, { r: 6 }, 'a reconnect sends the cursors as they are now');
  client.close();
});

test('a live gap is filled with history after_seq from the cursor, in every room, and acked only up to the gap', async () => {
  const { client, sockets, seqs } = setup();
  client.connect();
  await tick(1);
  const sock = sockets[0];
  /** @type {any[]} */
  const historyCalls = [];
  sock.responder = (event, p) => {
    if (event === 'history') {
      historyCalls.push(p);
      // Two pages: 3–4 then 5 (the 6 that revealed the gap comes again and is dropped).
      if (p.after_seq === 2) return { ok: true, messages: [msg(p.room_id, 3), msg(p.room_id, 4)], has_more: true };
      if (p.after_seq === 4) return { ok: true, messages: [msg(p.room_id, 5), msg(p.room_id, 6)], has_more: false };
    }
    if (event === 'message:ack') return { ok: true };
    return undefined;
  };
  sock.fire('sync', { room_id: 'bg', messages: [msg('bg', 1), msg('bg', 2)], has_more: false }, () => {});
  sock.fire('synced', { rooms: 1, messages: 2 });
  sock.fire('message', msg('bg', 6));
  await tick(5);
  assert.deepEqual(historyCalls.map((c) => [c.room_id, c.after_seq]), [['bg', 2], ['bg', 4]]);
  assert.deepEqual(seqs('bg'), [1, 2, 6, 3, 4, 5], 'every seq handed over once');
  assert.equal(client.cursor('bg'), 6);
  const acks = sock.sent('message:ack').map((e) => e.payload.seq);
  assert.ok(acks.length > 0 && acks.every((s) => s === 6 || s <= 2), `acks never claim the hole: ${acks}`);
  client.close();
});

test('an acked live message without catch-up baseline starts its room and is not counted twice', async () => {
  const { client, sockets, seqs } = setup();
  client.connect();
  await tick(1);
  const sock = sockets[0];
  sock.fire('message', msg('new', 7)); // before synced: no baseline yet
  sock.fire('synced', { rooms: 0, messages: 0 });
  assert.equal(client.cursor('new'), 7);
  sock.fire('message', msg('new', 7));
  sock.fire('message', msg('new', 8));
  assert.deepEqual(seqs('new'), [7, 8]);
  client.close();
});

test('the outbox sends in order with one client_id each, and a refused message does not block the next', async () => {
  let seq = 0;
  const { client, sockets } = setup({
    responder: (event, p) => {
      if (event !== 'message:send') return { ok: true };
      if (p.body === 'refused') return { ok: false, error: { code: 'invalid', message: 'no' } };
      seq += 1;
      return { ok: true, message: { ...msg('r', seq), sender_id: 'me', body: p.body, client_id: p.client_id } };
    },
  });
  const a = client.send({ room_id: 'r' }, 'first');
  const b = client.send({ room_id: 'r' }, 'refused');
  const c = client.send({ room_id: 'r' }, 'third');
  client.connect();
  const sock = sockets[0];
  await tick(5);
  const sends = sock.sent('message:send').map((e) => [e.payload.body, e.payload.client_id]);
  assert.deepEqual(sends, [['first', a.client_id], ['refused', b.client_id], ['third', c.client_id]]);
  const left = client.outbox.list();
  assert.equal(left.length, 1);
  assert.equal(left[0].client_id, b.client_id);
  assert.equal(left[0].state, 'failed');
  assert.equal(left[0].error?.code, 'invalid');
  client.retry(b.client_id);
  await tick(5);
  assert.equal(sock.sent('message:send').at(-1)?.payload.client_id, b.client_id, 'retry resends with the same client_id');
  client.discard(b.client_id);
  assert.equal(client.outbox.list().length, 0);
  client.close();
});

test('a message over the 64 KiB packet limit is failed at once, never emitted, and the rest are sent', async () => {
  const { client, sockets } = setup();
  client.connect();
  await tick(1);
  const sock = sockets[0];
  sock.responder = (event, p) => (event === 'message:send' ? { ok: true, message: { ...msg('r', 1), sender_id: 'me', body: p.body, client_id: p.client_id } } : { ok: true });
  const big = client.send({ room_id: 'r' }, 'x'.repeat(70 * 1024));
  const small = client.send({ room_id: 'r' }, 'small');
  await tick(5);
  assert.deepEqual(sock.sent('message:send').map((e) => e.payload.client_id), [small.client_id]);
  assert.equal(client.outbox.get(big.client_id)?.state, 'failed');
  assert.equal(client.outbox.get(big.client_id)?.error?.code, 'too_large');
  client.close();
});

test('the outbox survives a restart and an interrupted send is resent with the same client_id', async () => {
  const storage = new MemoryStorage();
  const first = setup({ storage });
  first.client.connect();
  await tick(1);
  const item = first.client.send({ to: 'bob' }, 'hello');
  await tick(1);
  assert.equal(first.sockets[0].sent('message:send').length, 1, 'sent, no ack yet');
  first.sockets[0].drop();
  first.client.close();
  const box = new Outbox(storage, 'missive.outbox.me');
  assert.equal(box.list().length, 1, 'still queued in storage');

  const second = setup({ storage });
  second.client.connect();
  const sock = second.sockets[0];
  sock.responder = (event, p) => (event === 'message:send' ? { ok: true, message: { ...msg('d', 1), sender_id: 'me', body: p.body, client_id: p.client_id } } : { ok: true });
  await tick(5);
  assert.deepEqual(sock.sent('message:send').map((e) => [e.payload.to, e.payload.client_id]), [['bob', item.client_id]]);
  assert.equal(second.client.outbox.list().length, 0);
  second.client.close();
});

test('a message that keeps dropping the connection is set aside after three tries', async () => {
  const { client, sockets } = setup();
  client.connect();
  await tick(1);
  const sock = sockets[0];
  const bad = client.send({ room_id: 'r' }, 'poison');
  for (let i = 0; i < 3; i++) {
    await tick(1);
    sock.drop();
    sock.connect();
    await tick(1);
  }
  await tick(1);
  assert.equal(client.outbox.get(bad.client_id)?.state, 'failed');
  assert.equal(client.outbox.get(bad.client_id)?.error?.code, 'disconnected');
  client.close();
});

test('the access token is refreshed before expiry, once for concurrent callers, and a rotated one from another holder is adopted', async () => {
  const storage = new MemoryStorage();
  let now = 1_000_000;
  let calls = 0;
  /** @type {(url: unknown, init?: RequestInit) => Promise<Response>} */
  const fetch = async (_url, init) => {
    calls += 1;
    const { refresh_token } = JSON.parse(String(init?.body));
    await tick(2);
    return new Response(JSON.stringify({ user: { id: 'me', username: 'me', display_name: 'Me', created_at: '' }, access_token: `a-${calls}`, refresh_token: `${refresh_token}+`, token_type: 'Bearer', expires_in: 60 }), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const s = new TokenSession({ storage, fetch, autoRefresh: false, now: () => now });
  s.adopt({ user: { id: 'me', username: 'me', display_name: 'Me', created_at: '' }, access_token: 'a0', refresh_token: 'r0', token_type: 'Bearer', expires_in: 60 });
  assert.equal((await s.fresh()).access_token, 'a0', 'not near expiry: no refresh');
  now += 50_000; // within the margin (a quarter of 60 s)
  const [x, y] = await Promise.all([s.fresh(), s.fresh()]);
  assert.equal(calls, 1, 'one refresh for both');
  assert.equal(x.access_token, 'a-1');
  assert.equal(y.refresh_token, 'r0+');

  // Another tab rotates first: its session is in storage; ours is not spent again.
  const other = new TokenSession({ storage, fetch, autoRefresh: false, now: () => now });
  await other.refresh();
  assert.equal(calls, 2);
  await s.refresh();
  assert.equal(calls, 2, 'adopted the rotated session instead of reusing r0+');
  assert.equal(s.get()?.refresh_token, 'r0++');
});

test('a refused refresh logs out: the session is cleared and the client says so', async () => {
  const storage = new MemoryStorage();
  const fetch = async () => new Response(JSON.stringify({ error: { code: 'unauthenticated', message: 'revoked' } }), { status: 401, headers: { 'content-type': 'application/json' } });
  const session = new TokenSession({ storage, fetch, autoRefresh: false });
  session.adopt({ user: { id: 'me', username: 'me', display_name: 'Me', created_at: '' }, access_token: 'a', refresh_token: 'r', token_type: 'Bearer', expires_in: 900 });
  const client = new MissiveClient({ storage, session, io: (_u, o) => new FakeSocket(o) });
  /** @type {string[]} */
  const reasons = [];
  client.on('logout', (e) => reasons.push(e.reason));
  await assert.rejects(session.refresh(), (/** @type {any} */ e) => e.code === 'unauthenticated');
  assert.equal(session.get(), null);
  assert.equal(reasons.length, 1);
  client.close();
});

test('room:muted and room:unmuted are passed on with `until` as a number or null; malformed ones are dropped', async () => {
  const { client, sockets } = setup();
  /** @type {any[]} */
  const got = [];
  client.on('room:muted', (m) => got.push(['muted', m]));
  client.on('room:unmuted', (m) => got.push(['unmuted', m]));
  client.connect();
  await tick(1);
  const sock = sockets[0];
  sock.fire('room:muted', { room_id: 'r', until: 1_900_000_000_000 });
  sock.fire('room:muted', { room_id: 'r', until: null });
  sock.fire('room:muted', { room_id: 'r' });
  sock.fire('room:muted', { until: 5 });
  sock.fire('room:muted', null);
  sock.fire('room:unmuted', { room_id: 'r' });
  sock.fire('room:unmuted', {});
  assert.deepEqual(got, [
    ['muted', { room_id: 'r', until: 1_900_000_000_000 }],
    ['muted', { room_id: 'r', until: null }],
    ['muted', { room_id: 'r', until: null }],
    ['unmuted', { room_id: 'r' }],
  ]);
  client.close();
});

test('attachment links are asked for in one batch per tick, cached until shortly before they expire', async () => {
  /** @type {string[][]} */
  const asked = [];
  let now = 1_000_000_000_000;
  const rest = {
    baseUrl: 'https://chat.example',
    /** @param {string[]} ids */
    attachmentLinks: async (ids) => {
      asked.push(ids);
      return {
        expires_at: Math.floor(now / 1000) + 3600,
        links: ids.filter((id) => id !== 'secret').map((id) => ({ id, url: `/api/attachments/${id}?sig=x`, thumbnail_url: id === 'img' ? `/api/attachments/${id}/thumbnail?sig=x` : null })),
      };
    },
  };
  const links = new AttachmentLinks({ rest, now: () => now });
  const [a, img, thumb, secret] = await Promise.all([links.url('a'), links.url('img'), links.url('img', { thumbnail: true }), links.url('secret')]);
  assert.deepEqual(asked, [['a', 'img', 'secret']], 'one request for everything asked in the same tick');
  assert.equal(a, 'https://chat.example/api/attachments/a?sig=x');
  assert.equal(img, 'https://chat.example/api/attachments/img?sig=x');
  assert.equal(thumb, 'https://chat.example/api/attachments/img/thumbnail?sig=x');
  assert.equal(secret, null, 'an attachment the user may not read');
  await links.url('a');
  assert.equal(asked.length, 1, 'cached');
  now += 3600_000;
  await links.url('a');
  assert.deepEqual(asked[1], ['a'], 'asked again once the link is about to expire');
});
