// @ts-check
// The library's privacy and safety calls (docs/protocol.md §14) against the real server: blocks and
// privacy settings reach the user's other devices as events; invite links with and without
// approval; the channel directory; reports.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { io } from 'socket.io-client';
import { MemoryStorage, MissiveClient, MissiveError } from '../src/index.js';

const require = createRequire(import.meta.url);
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

/** @param {import('../src/index.js').KeyValueStorage} [storage] */
function newClient(storage = new MemoryStorage()) {
  return new MissiveClient({ url: server.url, io: /** @type {any} */ (io), storage, socketOptions: { transports: ['websocket'] } });
}

/** A registered, connected and caught-up client. */
async function user() {
  const c = newClient();
  const { user: me } = await c.rest.register({ username: `p_${hex()}`, password: 'password-1' });
  c.connect();
  await next(c, 'synced');
  return { c, me };
}

/**
 * The next `event` the client emits (that `pred` accepts).
 * @template {keyof import('../src/index.js').ClientEvents} E
 * @param {MissiveClient} c @param {E} event
 * @param {(d: import('../src/index.js').ClientEvents[E]) => boolean} [pred]
 * @returns {Promise<import('../src/index.js').ClientEvents[E]>}
 */
function next(c, event, pred = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} in ${ms} ms`)), ms);
    const off = c.on(event, (d) => {
      if (!pred(d)) return;
      clearTimeout(t);
      off();
      resolve(d);
    });
  });
}

/** @param {Promise<unknown>} p @param {string} code */
async function rejectsWith(p, code) {
  await assert.rejects(p, (/** @type {unknown} */ e) => e instanceof MissiveError && e.code === code);
}

test('a block and a privacy change made on one device reach the other as events; a blocked user cannot message', async () => {
  const { c: phone, me } = await user();
  const laptop = newClient(phone.storage);
  laptop.connect();
  await next(laptop, 'synced');
  const { c: bob, me: bobUser } = await user();
  const room = await bob.rest.direct(me.id);

  const blocked = next(laptop, 'block:updated');
  await phone.rest.block(bobUser.id);
  assert.deepEqual(await blocked, { user_id: bobUser.id, blocked: true });
  assert.deepEqual((await phone.rest.blocks()).map((u) => u.id), [bobUser.id]);
  await rejectsWith(bob.sendAndWait({ room_id: room.id }, 'let me in'), 'forbidden');

  const settings = next(laptop, 'privacy:updated');
  const saved = await phone.rest.setPrivacy({ last_seen: 'nobody', read_receipts: false });
  assert.deepEqual(saved, { last_seen: 'nobody', read_receipts: false, group_add: 'everyone' });
  assert.deepEqual(await settings, saved);
  assert.deepEqual(await laptop.rest.privacy(), saved);
  await rejectsWith(phone.rest.setPrivacy(/** @type {any} */ ({ last_seen: 'friends' })), 'invalid');

  const unblocked = next(laptop, 'block:updated');
  await phone.rest.unblock(bobUser.id);
  assert.deepEqual(await unblocked, { user_id: bobUser.id, blocked: false });
  assert.deepEqual(await phone.rest.blocks(), []);
  const bobFailed = bob.outbox.list(room.id).find((i) => i.state === 'failed');
  assert.ok(bobFailed, 'the refused message is kept, failed');
  bob.retry(bobFailed.client_id);
  await next(phone, 'messages', (e) => e.messages.some((m) => m.body === 'let me in'));
  for (const c of [phone, laptop, bob]) c.close();
});

test('invite links: preview, join, approval, revoke; the directory; reports', async () => {
  const { c: owner } = await user();
  const { c: joiner, me: joinerUser } = await user();
  const { c: asker, me: askerUser } = await user();
  const group = await owner.rest.createRoom({ kind: 'group', name: `Club ${hex()}` });

  const open = await owner.rest.createInvite(group.id, { max_uses: 5 });
  assert.deepEqual(await joiner.rest.invitePreview(open.token), { room_id: group.id, name: group.name, members_count: 1, approval: false });
  const joined = await joiner.rest.joinByInvite(open.token);
  assert.ok('room' in joined && joined.room.id === group.id);
  await rejectsWith(joiner.rest.joinByInvite(open.token), 'conflict');

  const gated = await owner.rest.createInvite(group.id, { approval: true, expires_in: 3600 });
  assert.deepEqual(await asker.rest.joinByInvite(gated.token), { pending: true, room_id: group.id });
  assert.deepEqual((await owner.rest.joinRequests(group.id)).map((r) => r.user.id), [askerUser.id]);
  const admitted = next(asker, 'room:updated', (r) => r.id === group.id);
  assert.equal((await owner.rest.approveJoin(group.id, askerUser.id)).user_id, askerUser.id);
  await admitted;
  await rejectsWith(owner.rest.denyJoin(group.id, askerUser.id), 'not_found');

  const links = await owner.rest.invites(group.id);
  assert.deepEqual(links.map((i) => [i.token, i.uses, i.approval]).sort(), [[open.token, 1, false], [gated.token, 1, true]].sort());
  await owner.rest.revokeInvite(open.token);
  await rejectsWith(asker.rest.invitePreview(open.token), 'not_found');
  await rejectsWith(joiner.rest.createInvite(group.id), 'forbidden');

  const word = `sky${hex()}`;
  const channel = await owner.rest.createRoom({ kind: 'channel', name: 'Stars', description: `All about ${word}` });
  const found = await joiner.rest.channels({ q: word.slice(0, 9) });
  assert.deepEqual(found.map((ch) => [ch.id, ch.name, ch.followers_count]), [[channel.id, 'Stars', 1]]);

  const m = await owner.sendAndWait({ room_id: group.id }, 'report me');
  const onMessage = await joiner.rest.report({ room_id: group.id, seq: m.seq, reason: 'spam' });
  const onUser = await asker.rest.report({ user_id: joinerUser.id, reason: 'rude' });
  assert.equal(onMessage.status, 'open');
  assert.equal(onMessage.seq, m.seq);
  assert.equal(onUser.target_user_id, joinerUser.id);
  await rejectsWith(asker.rest.report({ user_id: joinerUser.id, reason: '   ' }), 'invalid');
  for (const c of [owner, joiner, asker]) c.close();
});
