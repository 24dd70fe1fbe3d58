// docs/protocol.md §7 "Message lifecycle": `message:edit`, `message:delete`, `message:react`,
// `message:hide` / `hidden:list` / `message:hidden`, `message:forward`, `search`, and their REST
// forms. Every change is an entry of the room's stream, so an offline device converges through
// catch-up alone.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const c = require('../lib/client');
const { startServer } = require('../lib/server');

let url;
c.useServer({ env: { MISSIVE_SEND_RATE: '0' } }, (s) => {
  url = s.url;
});

/** Alice and Bob online in their direct room; Alice has sent `bodies`. */
async function chat(bodies = ['hello']) {
  const [alice, bob] = await c.users(url, 2);
  const room = await c.directRoom(url, alice, bob);
  const aliceSocket = await c.connect(url, { token: alice.token });
  const bobSocket = await c.connect(url, { token: bob.token });
  const sent = [];
  for (const body of bodies) sent.push(await c.send(aliceSocket, { room_id: room.id, body }));
  await c.waitFor(bobSocket, 'message', (m) => m.seq === sent[sent.length - 1].seq);
  return { alice, bob, room, aliceSocket, bobSocket, sent };
}

async function history(user, roomId) {
  const res = await c.api(url, 'GET', `/api/rooms/${roomId}/messages?limit=200`, user.token);
  c.assertOk(res, 200);
  return res.body.messages;
}

describe('edit', () => {
  it('the sender edits a message; everyone sees the edit entry and history shows the new body', async () => {
    const { alice, bob, room, aliceSocket, bobSocket, sent } = await chat(['helo']);

    const ack = await c.emitOk(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'hello' });

    assert.equal(ack.message.body, 'hello');
    assert.equal(ack.message.seq, sent[0].seq);
    assert.equal(typeof ack.message.edited_at, 'string');
    const entry = await c.waitFor(bobSocket, 'message', (m) => m.kind === 'edit');
    c.assertFields(entry, { kind: 'edit', target_seq: sent[0].seq, body: 'hello', sender_id: alice.id, seq: sent[0].seq + 1 });
    const msgs = await history(bob, room.id);
    const original = msgs.find((m) => m.seq === sent[0].seq);
    assert.equal(original.body, 'hello');
    assert.equal(original.changed_seq, entry.seq);
    assert.ok(original.edited_at);
    const view = await c.myRoom(url, bob, room.id);
    assert.equal(view.last_message.body, 'hello', 'last_message shows the current body');
    assert.equal(view.last_message.seq, sent[0].seq, 'last_message is a message, not the edit entry');
    assert.equal(view.unread_count, 1, 'an edit is not a new unread message');
  });

  it('editing someone else\'s message is forbidden and a system message cannot be edited', async () => {
    const { alice, bob, room, bobSocket, sent } = await chat(['mine']);
    await c.emitErr(bobSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'yours' }, 'forbidden');

    const group = await c.createRoom(url, alice, { name: 'g', members: [bob.id] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const system = (await history(alice, group.id)).find((m) => m.kind === 'system');
    if (system) {
      await c.emitErr(aliceSocket, 'message:edit', { room_id: group.id, seq: system.seq, body: 'x' }, 'invalid');
    }
    const renamed = await c.api(url, 'PATCH', `/api/rooms/${group.id}`, alice.token, { name: 'g2' });
    c.assertOk(renamed, 200);
    const rename = (await history(alice, group.id)).find((m) => m.kind === 'system');
    await c.emitErr(aliceSocket, 'message:edit', { room_id: group.id, seq: rename.seq, body: 'x' }, 'invalid');
    await c.emitErr(aliceSocket, 'message:react', { room_id: group.id, seq: rename.seq, emoji: '👍' }, 'invalid');
  });

  it('an edit is validated like a send and a stranger gets not_found', async () => {
    const { room, aliceSocket, sent } = await chat(['x']);
    await c.emitErr(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: '   ' }, 'invalid');
    await c.emitErr(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'a\u0000b' }, 'invalid');
    await c.emitErr(aliceSocket, 'message:edit', { room_id: room.id, seq: 999, body: 'y' }, 'not_found');
    const [eve] = await c.users(url, 1);
    const eveSocket = await c.connect(url, { token: eve.token });
    await c.emitErr(eveSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'y' }, 'not_found');
    await c.emitErr(eveSocket, 'message:delete', { room_id: room.id, seq: sent[0].seq }, 'not_found');
    await c.emitErr(eveSocket, 'message:react', { room_id: room.id, seq: sent[0].seq, emoji: '👍' }, 'not_found');
  });

  it('concurrent edits end with one winner in seq order, the same on every device', async () => {
    const { bob, room, aliceSocket, bobSocket, sent } = await chat(['v0']);
    const edits = ['v1', 'v2', 'v3', 'v4', 'v5'];
    await Promise.all(edits.map((body) => c.emitOk(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body })));

    const entries = [];
    for (let i = 0; i < edits.length; i += 1) entries.push(await c.waitFor(bobSocket, 'message', (m) => m.kind === 'edit'));
    const last = entries.reduce((a, b) => (a.seq > b.seq ? a : b));
    const msgs = await history(bob, room.id);
    assert.equal(msgs.find((m) => m.seq === sent[0].seq).body, last.body, 'history agrees with the highest-seq edit');
  });
});

describe('edit and delete windows', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { MISSIVE_EDIT_WINDOW: '1s', MISSIVE_DELETE_WINDOW: '1s' } });
  });
  after(async () => server && server.stop());

  it('past the window the sender may no longer edit or delete, with a message saying so', async () => {
    const [alice, bob] = await c.users(server.url, 2);
    const room = await c.directRoom(server.url, alice, bob);
    const aliceSocket = await c.connect(server.url, { token: alice.token });
    const m = await c.send(aliceSocket, { room_id: room.id, body: 'quick' });
    await c.sleep(1300);

    const edit = await c.emitErr(aliceSocket, 'message:edit', { room_id: room.id, seq: m.seq, body: 'late' }, 'forbidden');
    assert.match(edit.error.message, /time to edit/);
    const del = await c.emitErr(aliceSocket, 'message:delete', { room_id: room.id, seq: m.seq }, 'forbidden');
    assert.match(del.error.message, /time to delete/);
  });
});

describe('delete', () => {
  it('deleting for everyone leaves a tombstone and erases the body and its earlier versions', async () => {
    const { alice, bob, room, aliceSocket, bobSocket, sent } = await chat(['secret one']);
    await c.emitOk(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'secret two' });

    await c.emitOk(aliceSocket, 'message:delete', { room_id: room.id, seq: sent[0].seq });

    const entry = await c.waitFor(bobSocket, 'message', (m) => m.kind === 'delete');
    c.assertFields(entry, { target_seq: sent[0].seq, sender_id: alice.id, body: '' });
    const msgs = await history(bob, room.id);
    const tomb = msgs.find((m) => m.seq === sent[0].seq);
    c.assertFields(tomb, { body: '', deleted_by: alice.id });
    assert.ok(tomb.deleted_at);
    assert.ok(!JSON.stringify(msgs).includes('secret'), 'no version of the body is left');
    await c.emitErr(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'back' }, 'invalid');
  });

  it('a group admin deletes anyone\'s message; a plain member may not', async () => {
    const [owner, member, other] = await c.users(url, 3);
    const group = await c.createRoom(url, owner, { name: 'mods', members: [member.id, other.id] });
    const memberSocket = await c.connect(url, { token: member.token });
    const otherSocket = await c.connect(url, { token: other.token });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const m = await c.send(memberSocket, { room_id: group.id, body: 'spam' });

    await c.emitErr(otherSocket, 'message:delete', { room_id: group.id, seq: m.seq }, 'forbidden');
    await c.emitOk(ownerSocket, 'message:delete', { room_id: group.id, seq: m.seq });

    const res = await c.api(url, 'DELETE', `/api/rooms/${group.id}/messages/${m.seq}`, member.token);
    assert.equal(res.status, 204, 'deleting a tombstone again changes nothing');
  });

  it('REST edits, deletes and reacts like the socket events', async () => {
    const { bob, room, alice, sent } = await chat(['rest']);
    const edited = await c.api(url, 'PATCH', `/api/rooms/${room.id}/messages/${sent[0].seq}`, alice.token, { body: 'rest!' });
    c.assertOk(edited, 200);
    assert.equal(edited.body.body, 'rest!');
    const reacted = await c.api(url, 'PUT', `/api/rooms/${room.id}/messages/${sent[0].seq}/reaction`, bob.token, { emoji: '🎉' });
    c.assertOk(reacted, 200);
    c.assertFields(reacted.body.reactions[0], { emoji: '🎉', count: 1, me: true });
    const bad = await c.api(url, 'PUT', `/api/rooms/${room.id}/messages/${sent[0].seq}/reaction`, bob.token, { emoji: 'lol' });
    c.assertRestError(bad, 400, 'invalid');
    const del = await c.api(url, 'DELETE', `/api/rooms/${room.id}/messages/${sent[0].seq}`, bob.token);
    c.assertRestError(del, 403, 'forbidden');
    const notSeq = await c.api(url, 'DELETE', `/api/rooms/${room.id}/messages/abc`, alice.token);
    c.assertRestError(notSeq, 404, 'not_found');
  });
});

describe('reactions', () => {
  it('one emoji per member: another replaces it, the same one removes it; no unread count moves', async () => {
    const { alice, bob, room, aliceSocket, bobSocket, sent } = await chat(['react to me']);
    const seq = sent[0].seq;

    let ack = await c.emitOk(bobSocket, 'message:react', { room_id: room.id, seq, emoji: '👍' });
    assert.deepEqual(ack.message.reactions, [{ emoji: '👍', count: 1, me: true, user_ids: [bob.id] }]);
    const entry = await c.waitFor(aliceSocket, 'message', (m) => m.kind === 'reaction');
    assert.equal(entry.target_seq, seq);
    assert.deepEqual(JSON.parse(entry.body), { emoji: '👍', previous: null });

    await c.emitOk(aliceSocket, 'message:react', { room_id: room.id, seq, emoji: '👍' });
    ack = await c.emitOk(bobSocket, 'message:react', { room_id: room.id, seq, emoji: '❤️' });
    const counts = Object.fromEntries(ack.message.reactions.map((r) => [r.emoji, r.count]));
    assert.deepEqual(counts, { '👍': 1, '❤️': 1 }, 'Bob\'s thumbs up was replaced');
    const replaced = await c.waitFor(aliceSocket, 'message', (m) => m.kind === 'reaction' && m.sender_id === bob.id && JSON.parse(m.body).previous === '👍');
    assert.equal(JSON.parse(replaced.body).emoji, '❤️');

    ack = await c.emitOk(bobSocket, 'message:react', { room_id: room.id, seq, emoji: '❤️' });
    assert.deepEqual(ack.message.reactions.map((r) => [r.emoji, r.count, r.me]), [['👍', 1, false]]);

    const aliceView = (await history(alice, room.id)).find((m) => m.seq === seq);
    assert.deepEqual(aliceView.reactions, [{ emoji: '👍', count: 1, me: true, user_ids: [alice.id] }]);
    const bobRoom = await c.myRoom(url, bob, room.id);
    assert.equal(bobRoom.unread_count, 1, 'reactions are not unread messages');
    assert.equal(bobRoom.last_message.seq, seq);
    assert.deepEqual(bobRoom.last_message.reactions.map((r) => r.emoji), ['👍'], 'last_message carries the aggregate');
  });

  it('channel followers react too, and nobody learns who they are', async () => {
    const [owner, follower] = await c.users(url, 2);
    const channel = await c.createRoom(url, owner, { kind: 'channel', name: 'news' });
    const ownerSocket = await c.connect(url, { token: owner.token });
    const followerSocket = await c.connect(url, { token: follower.token });
    await c.emitOk(followerSocket, 'room:join', { room_id: channel.id });
    const post = await c.send(ownerSocket, { room_id: channel.id, body: 'launch' });

    const ack = await c.emitOk(followerSocket, 'message:react', { room_id: channel.id, seq: post.seq, emoji: '🚀' });
    assert.deepEqual(ack.message.reactions, [{ emoji: '🚀', count: 1, me: true }]);
    const ownerView = (await history(owner, channel.id)).find((m) => m.seq === post.seq);
    assert.deepEqual(ownerView.reactions, [{ emoji: '🚀', count: 1, me: false }]);
  });

  it('anything but one emoji is invalid', async () => {
    const { room, bobSocket, sent } = await chat(['x']);
    for (const emoji of ['', 'a', '👍👍👍👍👍👍👍👍👍👍👍', '<b>', ' 👍']) {
      await c.emitErr(bobSocket, 'message:react', { room_id: room.id, seq: sent[0].seq, emoji }, 'invalid');
    }
  });
});

describe('delete for me', () => {
  it('hides a message on the caller\'s own devices only', async () => {
    const { alice, bob, room, bobSocket, sent } = await chat(['keep', 'hide me']);
    const bobPhone = await c.connect(url, { token: bob.token });

    await c.emitOk(bobSocket, 'message:hide', { room_id: room.id, seq: sent[1].seq });

    const hidden = await c.waitFor(bobPhone, 'message:hidden');
    c.assertFields(hidden, { room_id: room.id, seq: sent[1].seq });
    const bobView = (await history(bob, room.id)).find((m) => m.seq === sent[1].seq);
    c.assertFields(bobView, { hidden: true, body: '' });
    const aliceView = (await history(alice, room.id)).find((m) => m.seq === sent[1].seq);
    assert.equal(aliceView.body, 'hide me');
    assert.equal(aliceView.hidden, undefined);
    const list = await c.emitOk(bobPhone, 'hidden:list', {});
    assert.deepEqual(list.hidden.map((h) => h.seq), [sent[1].seq]);
    const later = await c.emitOk(bobPhone, 'hidden:list', { after: list.hidden[0].id });
    assert.deepEqual(later.hidden, []);
    const rest = await c.api(url, 'GET', '/api/me/hidden', bob.token);
    c.assertOk(rest, 200);
    assert.equal(rest.body.hidden.length, 1);
  });
});

describe('forward', () => {
  it('posts a copy marked forwarded into another room the caller may post in', async () => {
    const { alice, bob, room, aliceSocket, sent } = await chat(['worth sharing']);
    const [carol] = await c.users(url, 1);
    const other = await c.directRoom(url, alice, carol);
    const carolSocket = await c.connect(url, { token: carol.token });

    const ack = await c.emitOk(aliceSocket, 'message:forward', { room_id: room.id, seq: sent[0].seq, to_room_id: other.id });

    c.assertFields(ack.message, { room_id: other.id, body: 'worth sharing', forwarded: true, sender_id: alice.id });
    const got = await c.waitFor(carolSocket, 'message', (m) => m.room_id === other.id);
    assert.equal(got.forwarded, true);
    assert.ok(!Object.values(got).includes(room.id), 'the original room is not revealed');

    const carolRest = await c.api(url, 'POST', `/api/rooms/${room.id}/messages/${sent[0].seq}/forward`, carol.token, { room_id: other.id });
    c.assertRestError(carolRest, 404, 'not_found');
    const channel = await c.createRoom(url, carol, { kind: 'channel', name: 'c' });
    const bobSocket = await c.connect(url, { token: bob.token });
    await c.emitOk(bobSocket, 'room:join', { room_id: channel.id });
    await c.emitErr(bobSocket, 'message:forward', { room_id: room.id, seq: sent[0].seq, to_room_id: channel.id }, 'forbidden');
  });
});

describe('offline device', () => {
  it('converges on edits, deletions and reactions through catch-up alone', async () => {
    const { bob, room, aliceSocket, sent } = await chat(['one', 'two', 'three']);
    const cursors = { [room.id]: sent[2].seq };
    // Bob's tablet holds everything so far, then goes away.
    const more = await c.send(aliceSocket, { room_id: room.id, body: 'four' });
    await c.emitOk(aliceSocket, 'message:edit', { room_id: room.id, seq: sent[0].seq, body: 'one (edited)' });
    await c.emitOk(aliceSocket, 'message:delete', { room_id: room.id, seq: sent[1].seq });
    await c.emitOk(aliceSocket, 'message:react', { room_id: room.id, seq: sent[2].seq, emoji: '😂' });
    await c.emitOk(aliceSocket, 'message:edit', { room_id: room.id, seq: more.seq, body: 'four (edited)' });

    const tablet = await c.connect(url, { token: bob.token, cursors });

    const batches = c.received(tablet, 'sync').filter((b) => b.room_id === room.id);
    const entries = batches.flatMap((b) => b.messages);
    // Apply what arrived as a client does: messages by seq, change entries above changed_seq.
    const state = new Map([[sent[0].seq, { body: 'one' }], [sent[1].seq, { body: 'two' }], [sent[2].seq, { body: 'three', reactions: {} }]]);
    for (const e of entries) {
      if (e.kind === 'text') {
        state.set(e.seq, { body: e.body, changed: e.changed_seq || 0, reactions: Object.fromEntries((e.reactions || []).map((r) => [r.emoji, r.count])) });
        continue;
      }
      const t = state.get(e.target_seq);
      if (!t || (t.changed || 0) >= e.seq) continue;
      t.changed = e.seq;
      if (e.kind === 'edit') t.body = e.body;
      if (e.kind === 'delete') { t.body = ''; t.deleted = true; }
      if (e.kind === 'reaction') {
        const { emoji, previous } = JSON.parse(e.body);
        t.reactions = t.reactions || {};
        if (previous) t.reactions[previous] = (t.reactions[previous] || 1) - 1;
        if (emoji) t.reactions[emoji] = (t.reactions[emoji] || 0) + 1;
      }
    }
    assert.equal(state.get(sent[0].seq).body, 'one (edited)');
    assert.equal(state.get(sent[1].seq).deleted, true);
    assert.equal(state.get(sent[1].seq).body, '');
    assert.deepEqual(state.get(sent[2].seq).reactions, { '😂': 1 });
    assert.equal(state.get(more.seq).body, 'four (edited)');
    const four = entries.find((e) => e.seq === more.seq);
    assert.equal(four.body, 'four (edited)', 'a message first seen in catch-up comes in its current state');
    assert.ok(!JSON.stringify(entries).includes('"two"'), 'the deleted body is not sent');
  });
});

describe('search', () => {
  it('finds what the caller may read, newest first, and respects joining, deletions and hiding', async () => {
    const [alice, bob, carol] = await c.users(url, 3);
    const group = await c.createRoom(url, alice, { name: 'search', members: [bob.id] });
    const aliceSocket = await c.connect(url, { token: alice.token });
    const bobSocket = await c.connect(url, { token: bob.token });
    const early = await c.send(aliceSocket, { room_id: group.id, body: 'Zebra crossing at noon' });
    const deleted = await c.send(aliceSocket, { room_id: group.id, body: 'zebra secret' });
    const hidden = await c.send(bobSocket, { room_id: group.id, body: 'zebra hidden from bob' });
    await c.emitOk(aliceSocket, 'message:delete', { room_id: group.id, seq: deleted.seq });
    await c.emitOk(bobSocket, 'message:hide', { room_id: group.id, seq: hidden.seq });
    await c.api(url, 'POST', `/api/rooms/${group.id}/members`, alice.token, { user_id: carol.id });
    const late = await c.send(aliceSocket, { room_id: group.id, body: 'ZEBRA! crossing again' });
    const dm = await c.directRoom(url, alice, bob);
    const inDm = await c.send(aliceSocket, { room_id: dm.id, body: 'a zebra in private' });

    const bobHits = await c.emitOk(bobSocket, 'search', { q: 'zebra' });
    assert.deepEqual(bobHits.messages.map((m) => m.body), ['a zebra in private', 'ZEBRA! crossing again', 'Zebra crossing at noon']);
    assert.equal(bobHits.has_more, false);
    const both = await c.api(url, 'GET', `/api/search?q=${encodeURIComponent('crossing ZEBRA')}`, bob.token);
    c.assertOk(both, 200);
    assert.deepEqual(both.body.messages.map((m) => m.seq), [late.seq, early.seq], 'every word must match');
    const carolHits = await c.api(url, 'GET', '/api/search?q=zebra', carol.token);
    assert.deepEqual(carolHits.body.messages.map((m) => m.body), ['ZEBRA! crossing again'], 'nothing from before carol joined');
    const inRoom = await c.emitOk(bobSocket, 'search', { q: 'zebra', room_id: dm.id });
    assert.deepEqual(inRoom.messages.map((m) => m.seq), [inDm.seq]);
    const page1 = await c.emitOk(bobSocket, 'search', { q: 'zebra', limit: 2 });
    assert.equal(page1.has_more, true);
    const page2 = await c.emitOk(bobSocket, 'search', { q: 'zebra', limit: 2, before: page1.messages[1].id });
    assert.deepEqual(page2.messages.map((m) => m.seq), [early.seq]);
  });

  it('a query in any engine\'s syntax is just words; nothing searchable is invalid, never internal', async () => {
    const [alice] = await c.users(url, 1);
    const socket = await c.connect(url, { token: alice.token });
    for (const q of ['"unbalanced', 'a AND (b OR', 'NEAR(x y)', 'col:val*', '-not ^start', "'; drop table messages; --"]) {
      const ack = await c.emitOk(socket, 'search', { q });
      assert.ok(Array.isArray(ack.messages), q);
    }
    for (const q of ['', '   ', '!!!', '"*"']) await c.emitErr(socket, 'search', { q }, 'invalid');
    const rest = await c.api(url, 'GET', '/api/search?q=%22%28', alice.token);
    c.assertRestError(rest, 400, 'invalid');
    const stranger = await c.api(url, 'GET', '/api/search?q=x&room_id=999999', alice.token);
    c.assertRestError(stranger, 404, 'not_found');
  });
});
