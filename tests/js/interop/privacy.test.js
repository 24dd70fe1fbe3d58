// docs/protocol.md §13: blocks, privacy settings and who sees presence, last seen, typing,
// receipts and profile changes — through every path a stranger or a blocked user could use.
'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');

let url;
c.useServer((s) => {
  url = s.url;
});

const hidden = { online: false, last_seen_at: null };

async function userView(viewer, subject) {
  return c.assertOk(await c.api(url, 'GET', `/api/users/${subject.id}`, viewer.token), 200);
}

async function block(blocker, target) {
  c.assertOk(await c.api(url, 'PUT', `/api/me/blocks/${target.id}`, blocker.token), 204);
}

describe('presence is visible only to people who share a direct room or group', () => {
  it('a stranger reads an online user as offline and never seen over REST and presence:query; a contact sees them online', async () => {
    const [alice, bob, stranger] = await c.users(url, 3);
    await c.directRoom(url, alice, bob);
    await c.connect(url, { token: alice.token });
    const strangerSocket = await c.connect(url, { token: stranger.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    c.assertFields(await userView(stranger, alice), { id: alice.id, ...hidden }, 'stranger REST');
    c.assertFields(await userView(bob, alice), { id: alice.id, online: true }, 'contact REST');
    const forStranger = await c.emitOk(strangerSocket, 'presence:query', { user_ids: [alice.id] });
    const forBob = await c.emitOk(bobSocket, 'presence:query', { user_ids: [alice.id] });

    assert.deepEqual(forStranger.presence, [{ user_id: alice.id, ...hidden }]);
    assert.equal(forBob.presence[0].online, true);
  });

  it('sharing only a channel shows nothing: no presence events, and queries read offline', async () => {
    const [owner, alice, bob] = await c.users(url, 3);
    const channel = await c.createRoom(url, owner, { kind: 'channel' });
    for (const u of [alice, bob]) {
      c.assertOk(await c.api(url, 'POST', `/api/rooms/${channel.id}/members`, u.token, { user_id: u.id }), 201);
    }
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.connect(url, { token: alice.token });

    await c.expectNone(bobSocket, 'presence', (p) => p.user_id === alice.id);
    const ack = await c.emitOk(bobSocket, 'presence:query', { user_ids: [alice.id] });
    assert.deepEqual(ack.presence, [{ user_id: alice.id, ...hidden }]);
    c.assertFields(await userView(bob, alice), hidden, 'REST');
  });

  it('user search needs 3 characters: an empty or short query returns nothing, and a page holds at most 50', async () => {
    const [alice] = await c.users(url, 1);
    const prefix = `zq${c.hex(3)}`;
    for (let i = 0; i < 3; i++) await c.register(url, { username: `${prefix}${i}` });

    for (const q of ['', 'z', 'zq', '  zq ']) {
      const res = await c.api(url, 'GET', `/api/users?q=${encodeURIComponent(q)}`, alice.token);
      assert.deepEqual(c.assertOk(res, 200), [], `q=${JSON.stringify(q)}`);
    }
    const found = c.assertOk(await c.api(url, 'GET', `/api/users?q=${prefix}`, alice.token), 200);
    assert.equal(found.length, 3);
    const big = c.assertOk(await c.api(url, 'GET', '/api/users?q=u_0&limit=1000', alice.token), 200);
    assert.ok(big.length <= 50, `page of ${big.length}`);
    c.assertRestError(await c.api(url, 'GET', `/api/users?q=${prefix}&limit=0`, alice.token), 400, 'invalid');
  });
});

describe('blocking', () => {
  it('block, list and unblock over REST and sockets, synced to the blocker\'s other devices', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const phone = await c.connect(url, { token: alice.token });
    const laptop = await c.connect(url, { token: alice.token });

    await block(alice, bob);
    await c.emitOk(phone, 'block', { user_id: carol.id });

    c.assertFields(await c.waitFor(laptop, 'block:updated', (b) => b.user_id === bob.id), { user_id: bob.id, blocked: true });
    c.assertFields(await c.waitFor(laptop, 'block:updated', (b) => b.user_id === carol.id), { blocked: true });
    const listed = c.assertOk(await c.api(url, 'GET', '/api/me/blocks', alice.token), 200);
    assert.deepEqual(listed.map((u) => u.id).sort(), [bob.id, carol.id].sort());
    await c.emitOk(laptop, 'unblock', { user_id: bob.id });
    c.assertFields(await c.waitFor(phone, 'block:updated', (b) => b.user_id === bob.id && !b.blocked), { blocked: false });
    const ack = await c.emitOk(phone, 'blocks:list', {});
    assert.deepEqual(ack.users.map((u) => u.id), [carol.id]);
    await c.emitErr(phone, 'block', { user_id: alice.id }, 'invalid');
    c.assertRestError(await c.api(url, 'PUT', `/api/me/blocks/${c.unknownIdLike(bob.id)}`, alice.token), 404, 'not_found');
  });

  it('a blocked user cannot message the blocker directly (nor the blocker them) until unblocked; group messages still flow', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const dm = await c.directRoom(url, alice, bob);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const bobSocket = await c.connect(url, { token: bob.token });
    const aliceSocket = await c.connect(url, { token: alice.token });

    await block(alice, bob);

    await c.emitErr(bobSocket, 'message:send', { to: alice.id, body: 'hi' }, 'forbidden');
    await c.emitErr(bobSocket, 'message:send', { room_id: dm.id, body: 'hi' }, 'forbidden');
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${dm.id}/messages`, bob.token, { body: 'hi' }), 403, 'forbidden');
    await c.emitErr(aliceSocket, 'message:send', { to: bob.id, body: 'hi' }, 'forbidden');
    const inGroup = await c.emitOk(bobSocket, 'message:send', { room_id: group.id, body: 'group hi' });
    await c.waitFor(aliceSocket, 'message', (m) => m.room_id === group.id && m.seq === inGroup.message.seq);
    await c.expectNone(aliceSocket, 'message', (m) => m.room_id === dm.id);
    const history = c.assertOk(await c.api(url, 'GET', `/api/rooms/${dm.id}/messages`, alice.token), 200);
    assert.equal(history.messages.filter((m) => m.kind === 'text').length, 0, 'nothing half-stored');

    c.assertOk(await c.api(url, 'DELETE', `/api/me/blocks/${bob.id}`, alice.token), 204);
    await c.emitOk(bobSocket, 'message:send', { to: alice.id, body: 'hi again' });
  });

  it('a pair already messaged by `to` is checked again on every send: a block after it refuses, an unblock lets through', async () => {
    // The server remembers each pair's direct room after the first `to` send (no database
    // look-up before queueing); a block must still be enforced for the sends that follow.
    const [alice, bob] = await c.users(url, 2);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const first = await c.emitOk(bobSocket, 'message:send', { to: alice.id, body: 'first contact' });
    await c.waitFor(aliceSocket, 'message', (m) => m.seq === first.message.seq && m.room_id === first.message.room_id);
    await c.emitOk(bobSocket, 'message:send', { to: alice.id, body: 'second' });

    await block(alice, bob);
    await c.emitErr(bobSocket, 'message:send', { to: alice.id, body: 'after the block' }, 'forbidden');
    await c.emitErr(aliceSocket, 'message:send', { to: bob.id, body: 'blocker writes' }, 'forbidden');
    await c.expectNone(aliceSocket, 'message', (m) => m.body === 'after the block');
    const history = c.assertOk(await c.api(url, 'GET', `/api/rooms/${first.message.room_id}/messages`, alice.token), 200);
    assert.deepEqual(history.messages.filter((m) => m.kind === 'text').map((m) => m.body), ['first contact', 'second']);

    c.assertOk(await c.api(url, 'DELETE', `/api/me/blocks/${bob.id}`, alice.token), 204);
    const again = await c.emitOk(bobSocket, 'message:send', { to: alice.id, body: 'after the unblock' });
    assert.equal(again.message.room_id, first.message.room_id, 'the same direct room');
    await c.waitFor(aliceSocket, 'message', (m) => m.seq === again.message.seq && m.body === 'after the unblock');
  });

  it('a blocked user cannot add the blocker to a group, at creation or later', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    await block(alice, bob);
    const bobSocket = await c.connect(url, { token: bob.token });
    const group = await c.createRoom(url, bob, { members: [carol] });

    await c.emitErr(bobSocket, 'room:add', { room_id: group.id, user_id: alice.id }, 'forbidden');
    c.assertRestError(await c.api(url, 'POST', '/api/rooms', bob.token, { kind: 'group', name: 'g', members: [alice.id] }), 403, 'forbidden');
    // The blocker may still add the person they block: it is their choice.
    const own = await c.createRoom(url, alice, { members: [carol] });
    c.assertOk(await c.api(url, 'POST', `/api/rooms/${own.id}/members`, alice.token, { user_id: bob.id }), 201);
  });

  it('after a block no presence, last seen, typing, receipt or profile change flows between the two, either way; others still get them', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    await c.directRoom(url, alice, bob);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const carolSocket = await c.connect(url, { token: carol.token });
    await block(alice, bob);

    const bobSocket = await c.connect(url, { token: bob.token });
    await c.waitFor(carolSocket, 'presence', (p) => p.user_id === bob.id && p.online);
    await c.expectNone(aliceSocket, 'presence', (p) => p.user_id === bob.id);

    // REST and presence:query, both ways.
    c.assertFields(await userView(alice, bob), hidden, 'blocker reads the blocked');
    c.assertFields(await userView(bob, alice), hidden, 'blocked reads the blocker');
    assert.deepEqual((await c.emitOk(bobSocket, 'presence:query', { user_ids: [alice.id] })).presence, [{ user_id: alice.id, ...hidden }]);
    const roomPresence = await c.emitOk(bobSocket, 'presence:query', { room_id: group.id });
    assert.deepEqual(roomPresence.presence.find((p) => p.user_id === alice.id), { user_id: alice.id, ...hidden });
    const members = c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}`, bob.token), 200).members;
    assert.equal(members.find((m) => m.user_id === alice.id).online, false, 'member list');

    // typing, both ways.
    await c.emitOk(bobSocket, 'typing', { room_id: group.id, typing: true });
    await c.waitFor(carolSocket, 'typing', (t) => t.user_id === bob.id);
    await c.emitOk(aliceSocket, 'typing', { room_id: group.id, typing: true });
    await c.waitFor(carolSocket, 'typing', (t) => t.user_id === alice.id);
    await c.expectNone(aliceSocket, 'typing');
    await c.expectNone(bobSocket, 'typing');

    // receipts, both ways.
    const sent = await c.emitOk(carolSocket, 'message:send', { room_id: group.id, body: 'read me' });
    await c.emitOk(bobSocket, 'message:read', { room_id: group.id, seq: sent.message.seq });
    await c.waitFor(carolSocket, 'receipt', (r) => r.user_id === bob.id && r.read_seq === sent.message.seq);
    await c.emitOk(aliceSocket, 'message:read', { room_id: group.id, seq: sent.message.seq });
    await c.waitFor(carolSocket, 'receipt', (r) => r.user_id === alice.id && r.read_seq === sent.message.seq);
    await c.expectNone(aliceSocket, 'receipt', (r) => r.user_id === bob.id);
    await c.expectNone(bobSocket, 'receipt', (r) => r.user_id === alice.id);

    // profile changes, both ways.
    await c.emitOk(bobSocket, 'profile:update', { display_name: 'Bob B.' });
    await c.waitFor(carolSocket, 'user:updated', (u) => u.id === bob.id);
    await c.emitOk(aliceSocket, 'profile:update', { display_name: 'Alice A.' });
    await c.waitFor(carolSocket, 'user:updated', (u) => u.id === alice.id);
    await c.expectNone(aliceSocket, 'user:updated', (u) => u.id === bob.id);
    await c.expectNone(bobSocket, 'user:updated', (u) => u.id === alice.id);
  });
});

describe('privacy settings', () => {
  it('privacy:get gives the defaults; privacy:set and PATCH /api/me/privacy change them, synced to the other devices', async () => {
    const [alice] = await c.users(url, 1);
    const phone = await c.connect(url, { token: alice.token });
    const laptop = await c.connect(url, { token: alice.token });

    const defaults = await c.emitOk(phone, 'privacy:get', {});
    const set = await c.emitOk(phone, 'privacy:set', { last_seen: 'nobody', read_receipts: false });
    const synced = await c.waitFor(laptop, 'privacy:updated');
    const patched = c.assertOk(await c.api(url, 'PATCH', '/api/me/privacy', alice.token, { group_add: 'contacts' }), 200);

    assert.deepEqual(defaults.privacy, { last_seen: 'contacts', read_receipts: true, group_add: 'everyone' });
    assert.deepEqual(set.privacy, { last_seen: 'nobody', read_receipts: false, group_add: 'everyone' });
    assert.deepEqual(synced, set.privacy);
    assert.deepEqual(patched, { last_seen: 'nobody', read_receipts: false, group_add: 'contacts' });
    assert.deepEqual(c.assertOk(await c.api(url, 'GET', '/api/me/privacy', alice.token), 200), patched);
    await c.emitErr(phone, 'privacy:set', { last_seen: 'friends' }, 'invalid');
    await c.emitErr(phone, 'privacy:set', { read_receipts: 'no' }, 'invalid');
    c.assertRestError(await c.api(url, 'PATCH', '/api/me/privacy', alice.token, { colour: 'red' }), 400, 'invalid');
  });

  it('last seen "nobody" hides presence from contacts too (REST, queries, member lists and events); "everyone" shows it to strangers', async () => {
    const [alice, bob, stranger] = await c.users(url, 3);
    await c.directRoom(url, alice, bob);
    const group = await c.createRoom(url, bob, { members: [alice] });
    c.assertOk(await c.api(url, 'PATCH', '/api/me/privacy', alice.token, { last_seen: 'nobody' }), 200);
    const bobSocket = await c.connect(url, { token: bob.token });

    await c.connect(url, { token: alice.token });

    await c.expectNone(bobSocket, 'presence', (p) => p.user_id === alice.id);
    c.assertFields(await userView(bob, alice), hidden, 'REST');
    assert.deepEqual((await c.emitOk(bobSocket, 'presence:query', { user_ids: [alice.id] })).presence, [{ user_id: alice.id, ...hidden }]);
    const members = c.assertOk(await c.api(url, 'GET', `/api/rooms/${group.id}`, bob.token), 200).members;
    assert.equal(members.find((m) => m.user_id === alice.id).online, false);
    c.assertFields(await userView(alice, alice), { online: true }, 'oneself');

    c.assertOk(await c.api(url, 'PATCH', '/api/me/privacy', alice.token, { last_seen: 'everyone' }), 200);
    c.assertFields(await userView(stranger, alice), { online: true }, 'everyone');
  });

  it('read receipts off in a direct room hide read positions both ways; delivery still shows, and groups keep them', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const dm = await c.directRoom(url, alice, bob);
    const group = await c.createRoom(url, alice, { members: [bob, carol] });
    c.assertOk(await c.api(url, 'PATCH', '/api/me/privacy', bob.token, { read_receipts: false }), 200);
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });

    const fromAlice = await c.emitOk(aliceSocket, 'message:send', { room_id: dm.id, body: 'a' });
    await c.emitOk(bobSocket, 'message:read', { room_id: dm.id, seq: fromAlice.message.seq });
    const seenByAlice = await c.waitFor(aliceSocket, 'receipt', (r) => r.room_id === dm.id && r.user_id === bob.id);
    const fromBob = await c.emitOk(bobSocket, 'message:send', { room_id: dm.id, body: 'b' });
    await c.emitOk(aliceSocket, 'message:read', { room_id: dm.id, seq: fromBob.message.seq });
    const seenByBob = await c.waitFor(bobSocket, 'receipt', (r) => r.room_id === dm.id && r.user_id === alice.id);
    const receipts = c.assertOk(await c.api(url, 'GET', `/api/rooms/${dm.id}/messages/${fromAlice.message.seq}/receipts`, alice.token), 200);
    const members = c.assertOk(await c.api(url, 'GET', `/api/rooms/${dm.id}`, alice.token), 200).members;

    assert.equal(seenByAlice.delivered_seq, fromAlice.message.seq);
    assert.equal(seenByAlice.read_seq, 0, 'Bob turned receipts off');
    assert.equal(seenByBob.read_seq, 0, 'off works both ways');
    assert.deepEqual(receipts, { read: [], delivered: [bob.id], pending: [] });
    assert.equal(members.find((m) => m.user_id === bob.id).read_seq, 0);
    const inGroup = await c.emitOk(aliceSocket, 'message:send', { room_id: group.id, body: 'g' });
    await c.emitOk(bobSocket, 'message:read', { room_id: group.id, seq: inGroup.message.seq });
    await c.waitFor(aliceSocket, 'receipt', (r) => r.room_id === group.id && r.user_id === bob.id && r.read_seq === inGroup.message.seq);
  });

  it('group adds "contacts" refuses strangers and accepts people the user shares a conversation with', async () => {
    const [alice, friend, stranger] = await c.users(url, 3);
    await c.directRoom(url, alice, friend);
    c.assertOk(await c.api(url, 'PATCH', '/api/me/privacy', alice.token, { group_add: 'contacts' }), 200);

    c.assertRestError(await c.api(url, 'POST', '/api/rooms', stranger.token, { kind: 'group', name: 'spam', members: [alice.id] }), 403, 'forbidden');
    const strangers = await c.createRoom(url, stranger);
    c.assertRestError(await c.api(url, 'POST', `/api/rooms/${strangers.id}/members`, stranger.token, { user_id: alice.id }), 403, 'forbidden');
    const ok = await c.createRoom(url, friend, { members: [alice] });
    assert.equal(ok.members_count, 2);
  });
});
