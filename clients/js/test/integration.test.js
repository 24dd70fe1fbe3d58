// @ts-check
// The library against the real server (started like the interop suite does: port 0, a fresh
// SQLite or Postgres database per MISSIVE_TEST_DB) with the real socket.io-client.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { io } from 'socket.io-client';
import { AttachmentLinks, MemoryStorage, MissiveClient, MissiveError, applyChange, isChange } from '../src/index.js';

const require = createRequire(import.meta.url);
// The interop suite's launcher (a path in a variable: tsc checks this package, not that file).
const launcher = '../../../tests/js/lib/server.js';
/** @type {{startServer: (opts?: object) => Promise<{url: string, stop: () => Promise<void>}>}} */
const { startServer } = require(launcher);

/** @type {{url: string, stop: () => Promise<void>}} */
let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

const hex = () => Math.random().toString(16).slice(2, 10);

/** A client over the real socket.io-client; `register` logs a fresh user in. @param {MemoryStorage} [storage] */
function newClient(storage = new MemoryStorage()) {
  return new MissiveClient({ url: server.url, io: /** @type {any} */ (io), storage, socketOptions: { transports: ['websocket'] } });
}

/** @param {MissiveClient} c @param {'synced' | 'status'} event */
function once(c, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} in ${ms} ms`)), ms);
    const off = c.on(event, (d) => {
      clearTimeout(t);
      off();
      resolve(d);
    });
  });
}

/** Waits until `cond()` holds. @param {() => boolean} cond */
async function until(cond, what = 'condition', ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** @param {MissiveClient} c */
function collect(c) {
  /** @type {import('../src/index.js').Message[]} */
  const got = [];
  c.on('messages', (e) => got.push(...e.messages));
  return got;
}

test('a device that was away catches up from its stored cursor, acks the batches, and gets each message once', async () => {
  const alice = newClient();
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const bobStorage = new MemoryStorage();
  const bob = newClient(bobStorage);
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const room = await alice.rest.direct(bobUser.id);

  alice.connect();
  await once(alice, 'synced');
  for (let i = 1; i <= 120; i++) await alice.sendAndWait({ room_id: room.id }, `m${i}`);

  const got = collect(bob);
  bob.connect();
  await once(bob, 'synced');
  assert.equal(got.length, 120, 'two sync batches (100 + 20), every message once');
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 120 }, (_, i) => i + 1));
  assert.equal(bob.cursor(room.id), 120);
  // The batches were acked: the server's delivered cursor moved.
  const seen = (await bob.rest.rooms()).find((r) => r.id === room.id);
  assert.equal(seen?.delivered_seq, 120);
  bob.close();

  // Away again; two more messages; a new client over the same storage resumes from 120.
  await alice.sendAndWait({ room_id: room.id }, 'late 1');
  await alice.sendAndWait({ room_id: room.id }, 'late 2');
  const bob2 = newClient(bobStorage);
  const got2 = collect(bob2);
  bob2.connect();
  await once(bob2, 'synced');
  assert.deepEqual(got2.map((m) => m.body), ['late 1', 'late 2']);
  bob2.close();
  alice.close();
});

test('sends reach the other side live in order; a refused and an oversized message fail without blocking the rest', async () => {
  const alice = newClient();
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  alice.connect();
  bob.connect();
  await Promise.all([once(alice, 'synced'), once(bob, 'synced')]);
  const got = collect(bob);

  // The first message creates the direct room (`to`).
  const first = await alice.sendAndWait({ to: bobUser.id }, 'hello');
  const roomId = first.room_id;
  /** @type {string[]} */
  const disconnects = [];
  alice.on('status', (s) => disconnects.push(s.status));
  const huge = alice.send({ room_id: roomId }, 'x'.repeat(70 * 1024));
  const bad = alice.send({ room_id: roomId }, 'a\u0000b'); // NUL: the server refuses it (invalid)
  const after1 = alice.send({ room_id: roomId }, 'after 1');
  const after2 = alice.send({ room_id: roomId }, 'after 2');
  await until(() => got.some((m) => m.client_id === after2.client_id), 'the last message at bob');
  assert.deepEqual(got.map((m) => m.body), ['hello', 'after 1', 'after 2']);
  assert.equal(alice.outbox.get(huge.client_id)?.error?.code, 'too_large');
  assert.equal(alice.outbox.get(bad.client_id)?.error?.code, 'invalid');
  assert.equal(alice.outbox.get(after1.client_id), undefined);
  assert.ok(!disconnects.includes('reconnecting'), 'the oversized message never went on the wire');
  alice.discard(huge.client_id);
  alice.discard(bad.client_id);
  assert.equal(alice.outbox.list().length, 0);
  alice.close();
  bob.close();
});

test('a message queued while offline is sent once on connect, with its client_id, and survives a restart of the client', async () => {
  const storage = new MemoryStorage();
  const alice = newClient(storage);
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const room = await alice.rest.direct(bobUser.id);
  const item = alice.send({ room_id: room.id }, 'written offline');
  alice.close();

  const again = newClient(storage);
  assert.equal(again.outbox.list().length, 1);
  again.connect();
  await until(() => again.outbox.list().length === 0, 'the outbox to drain');
  const page = await again.rest.messages(room.id);
  const mine = page.messages.filter((m) => m.client_id === item.client_id);
  assert.equal(mine.length, 1);
  again.close();
});

test('a gap in live delivery is filled with history from the cursor', async () => {
  const alice = newClient();
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const room = await alice.rest.direct(bobUser.id);
  await alice.rest.postMessage(room.id, { body: 'one' });
  bob.connect();
  await once(bob, 'synced');
  const got = collect(bob);
  assert.equal(bob.cursor(room.id), 1);
  // Two messages whose live events this device misses (as if lost between nodes): its socket
  // drops them, then the third arrives live and reveals the hole.
  const socket = /** @type {any} */ (bob.socket);
  const listeners = socket.listeners('message');
  socket.off('message');
  await alice.rest.postMessage(room.id, { body: 'two' });
  await alice.rest.postMessage(room.id, { body: 'three' });
  await new Promise((r) => setTimeout(r, 100));
  for (const l of listeners) socket.on('message', l);
  await alice.rest.postMessage(room.id, { body: 'four' });
  await until(() => got.length === 3, 'the gap to be filled');
  assert.deepEqual(got.map((m) => m.body).sort(), ['four', 'three', 'two']);
  assert.equal(bob.cursor(room.id), 4);
  await new Promise((r) => setTimeout(r, 300));
  const seen = (await bob.rest.rooms()).find((r) => r.id === room.id);
  assert.equal(seen?.delivered_seq, 4, 'acked up to the end once the gap was filled');
  bob.close();
});

test('an expired access token is refreshed: REST retries after a 401 and the socket re-authenticates', async () => {
  const alice = newClient();
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const s = /** @type {import('../src/session.js').StoredSession} */ (alice.session.get());
  const oldRefresh = s.refresh_token;
  // A token the server refuses (as if expired): the next call gets 401, refreshes, retries.
  alice.session.set({ ...s, access_token: 'not-a-token' });
  const me = await alice.rest.me();
  assert.equal(me.id, s.user.id);
  assert.notEqual(alice.session.get()?.refresh_token, oldRefresh, 'rotated');
  // A refused handshake: the client refreshes and reconnects by itself.
  const cur = /** @type {import('../src/session.js').StoredSession} */ (alice.session.get());
  alice.session.current = { ...cur, access_token: 'not-a-token' };
  alice.connect();
  await once(alice, 'synced');
  assert.equal(alice.status, 'online');
  alice.close();
});

test('edits, reactions, deletions, hides, forwards and searches reach both devices and fold into the held message', async () => {
  const alice = newClient();
  const aliceUser = (await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' })).user;
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const room = await alice.rest.direct(bobUser.id);
  const other = await alice.rest.createRoom({ kind: 'group', name: 'elsewhere', members: [bobUser.id] });
  alice.connect();
  bob.connect();
  await Promise.all([once(alice, 'synced'), once(bob, 'synced')]);

  // Bob holds what he is delivered, folding change entries in as the web app does.
  /** @type {Map<number, import('../src/index.js').Message>} */
  const held = new Map();
  /** @type {import('../src/index.js').Hidden[]} */
  const hiddenEvents = [];
  bob.on('message:hidden', (h) => hiddenEvents.push(h));
  bob.on('messages', ({ room_id, messages }) => {
    if (room_id !== room.id) return;
    for (const m of messages) {
      if (isChange(m)) {
        const t = held.get(/** @type {number} */ (m.target_seq));
        if (t) held.set(t.seq, applyChange(t, m, { me: bobUser.id, userIds: true }));
      } else held.set(m.seq, m);
    }
  });

  const sent = await alice.sendAndWait({ room_id: room.id }, 'the quick brown fox');
  await until(() => held.has(sent.seq), 'the message at bob');
  const edited = await alice.edit(room.id, sent.seq, 'the quick red fox');
  assert.equal(edited.body, 'the quick red fox');
  await until(() => held.get(sent.seq)?.body === 'the quick red fox', 'the edit at bob');
  assert.ok(held.get(sent.seq)?.edited_at);

  const reacted = await bob.react(room.id, sent.seq, '👍');
  assert.deepEqual(reacted.reactions, [{ emoji: '👍', count: 1, me: true, user_ids: [bobUser.id] }]);
  await until(() => (held.get(sent.seq)?.reactions || []).length === 1, 'the reaction folded in');
  assert.deepEqual(held.get(sent.seq)?.reactions, reacted.reactions, 'the folded entry equals the server state');

  const found = await bob.search({ q: 'red fox' });
  assert.deepEqual(found.messages.map((m) => m.seq), [sent.seq]);

  const copy = await alice.forward(room.id, sent.seq, other.id);
  assert.equal(copy.room_id, other.id);
  assert.equal(copy.forwarded, true);

  const second = await alice.sendAndWait({ room_id: room.id }, 'to be hidden');
  await bob.hide(room.id, second.seq);
  await until(() => hiddenEvents.length === 1, 'message:hidden on bob');
  assert.deepEqual(hiddenEvents.map((h) => h.seq), [second.seq]);
  assert.deepEqual((await bob.hiddenSince()).map((h) => h.seq), [second.seq]);

  await alice.deleteMessage(room.id, sent.seq);
  await until(() => Boolean(held.get(sent.seq)?.deleted_at), 'the tombstone at bob');
  assert.equal(held.get(sent.seq)?.body, '');
  assert.equal(held.get(sent.seq)?.deleted_by, aliceUser.id);
  alice.close();
  bob.close();
});

test('a Web Push pusher is registered, listed, replaced by its endpoint and removed; mutes reach the other device live', async () => {
  const phone = newClient();
  const creds = { username: `a_${hex()}`, password: 'password-1' };
  await phone.rest.register(creds);
  const laptop = newClient();
  await laptop.rest.login(creds);
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const room = await phone.rest.direct(bobUser.id);

  // The key a browser subscribes with: an uncompressed P-256 point, base64url.
  const { public_key } = await phone.rest.vapidKey();
  assert.equal(Buffer.from(public_key, 'base64url').length, 65);

  // What `PushSubscription.toJSON()` gives: the endpoint, the browser's P-256 key and auth secret.
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const endpoint = `https://push.example.com/wp/${hex()}`;
  const keys = { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
  const pusher = await phone.rest.addPusher({ kind: 'webpush', endpoint, keys });
  assert.equal(pusher.kind, 'webpush');
  assert.equal(pusher.url, endpoint);
  assert.equal(/** @type {any} */ (pusher).keys, undefined, 'subscription keys are never returned');
  const again = await phone.rest.addPusher({ kind: 'webpush', endpoint, keys });
  const listed = (await laptop.rest.pushers()).pushers;
  assert.deepEqual(listed.map((p) => p.url), [endpoint], 'the same endpoint again replaces the pusher');
  assert.equal(listed[0].id, again.id);
  await assert.rejects(phone.rest.addPusher({ kind: 'webpush', endpoint: 'http://127.0.0.1/wp', keys }), { code: 'invalid' });
  await phone.rest.removePusher(again.id);
  assert.deepEqual((await phone.rest.pushers()).pushers, []);
  await assert.rejects(phone.rest.removePusher(again.id), { code: 'not_found' });

  // A mute from the phone reaches the laptop's socket and is listed; unmuting too.
  /** @type {any[]} */
  const events = [];
  laptop.on('room:muted', (m) => events.push(['muted', m]));
  laptop.on('room:unmuted', (m) => events.push(['unmuted', m]));
  laptop.connect();
  await once(laptop, 'synced');
  const until8h = Date.now() + 8 * 3600_000;
  assert.deepEqual(await phone.rest.mute(room.id, until8h), { room_id: room.id, until: until8h });
  await until(() => events.length === 1, 'room:muted on the other device');
  assert.deepEqual(events[0], ['muted', { room_id: room.id, until: until8h }]);
  assert.deepEqual((await laptop.rest.mutes()).mutes, [{ room_id: room.id, until: until8h }]);
  assert.deepEqual(await phone.rest.mute(room.id), { room_id: room.id, until: null }, 'for good');
  await until(() => events.length === 2, 'the second room:muted');
  assert.deepEqual(events[1], ['muted', { room_id: room.id, until: null }]);
  await phone.rest.unmute(room.id);
  await until(() => events.length === 3, 'room:unmuted on the other device');
  assert.deepEqual(events[2], ['unmuted', { room_id: room.id }]);
  assert.deepEqual((await laptop.rest.mutes()).mutes, []);
  await assert.rejects(phone.rest.mute(room.id, Date.now() - 1000), { code: 'invalid' }, 'a time in the past');
  const solo = await phone.rest.createRoom({ kind: 'group', name: 'not for bob' });
  await assert.rejects(bob.rest.mute(solo.id), { code: 'not_found' }, 'not a member');
  laptop.close();
});

test('attachments: an upload reports progress, travels with a send, and its signed link serves it to the room only', async () => {
  const alice = newClient();
  await alice.rest.register({ username: `a_${hex()}`, password: 'password-1' });
  const bob = newClient();
  const bobUser = (await bob.rest.register({ username: `b_${hex()}`, password: 'password-1' })).user;
  const stranger = newClient();
  await stranger.rest.register({ username: `s_${hex()}`, password: 'password-1' });
  const room = await alice.rest.direct(bobUser.id);
  alice.connect();
  bob.connect();
  await Promise.all([once(alice, 'synced'), once(bob, 'synced')]);
  const got = collect(bob);

  const bytes = new TextEncoder().encode('a report, in plain text\n'.repeat(40));
  /** @type {{loaded: number, total: number}[]} */
  const progress = [];
  const file = await alice.rest.uploadAttachment(new Blob([bytes]), { name: 'report.txt', onProgress: (p) => progress.push(p) });
  assert.equal(file.name, 'report.txt');
  assert.equal(file.size, bytes.length);
  assert.deepEqual(progress.at(-1), { loaded: bytes.length, total: bytes.length });

  const sent = await alice.sendAndWait({ room_id: room.id }, '', { attachments: [file.id] });
  assert.deepEqual(sent.attachments, [file]);
  await until(() => got.some((m) => m.seq === sent.seq), 'live delivery to bob');
  assert.deepEqual(got.find((m) => m.seq === sent.seq)?.attachments, [file]);

  const links = new AttachmentLinks({ rest: bob.rest });
  const [url, thumb] = await Promise.all([links.url(file.id), links.url(file.id, { thumbnail: true })]);
  assert.ok(url && url.startsWith(server.url), String(url));
  assert.equal(thumb, null, 'a text file has no thumbnail');
  const res = await fetch(/** @type {string} */ (url));
  assert.equal(res.status, 200);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  assert.equal(await new AttachmentLinks({ rest: stranger.rest }).url(file.id), null);

  // A picture: a 1×1 PNG as the profile picture, seen by whoever sees the user.
  const png = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='), (ch) => ch.charCodeAt(0));
  const picture = await alice.rest.uploadAttachment(png, { name: 'me.png' });
  assert.equal(picture.content_type, 'image/png');
  const me = await alice.rest.setAvatar(picture.id);
  assert.equal(me.avatar?.id, picture.id);
  assert.equal((await bob.rest.user(me.id)).avatar?.id, picture.id);
  assert.equal((await alice.rest.clearAvatar()).avatar, null);

  await assert.rejects(alice.rest.uploadAttachment(new Uint8Array(0)), (e) => e instanceof MissiveError && e.code === 'invalid');
  alice.close();
  bob.close();
});
