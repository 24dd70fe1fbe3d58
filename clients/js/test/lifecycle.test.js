// @ts-check
// Unit tests of applying change entries (docs/protocol.md §7 "Message lifecycle") to the message
// they target: the changed_seq rule, edits, tombstones, and reactions moved for their sender.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChange, applyHidden, isChange, newer, parseReaction } from '../src/index.js';

/** @typedef {import('../src/index.js').Message} Message */

/** @param {number} seq @param {Partial<Message>} [extra] @returns {Message} */
function msg(seq, extra = {}) {
  return { id: `m${seq}`, room_id: 'r', seq, sender_id: 'ann', kind: 'text', body: `m${seq}`, client_id: null, reply_to: null, created_at: '2026-01-01T00:00:00.000Z', ...extra };
}

/** @param {number} seq @param {'edit' | 'delete' | 'reaction'} kind @param {number} target @param {string} body @param {string} [sender] */
function change(seq, kind, target, body, sender = 'ann') {
  return msg(seq, { kind, target_seq: target, body, sender_id: sender, created_at: `2026-01-01T00:00:0${seq % 10}.000Z` });
}

const react = (/** @type {string | null} */ emoji, /** @type {string | null} */ previous) => JSON.stringify({ emoji, previous });

test('edit, delete and reaction entries are changes; text and system messages are not', () => {
  assert.deepEqual(['text', 'system', 'edit', 'delete', 'reaction'].map((kind) => isChange({ kind: /** @type {any} */ (kind) })), [false, false, true, true, true]);
});

test('an edit replaces the body, sets edited_at and changed_seq, and leaves the original untouched', () => {
  const target = msg(1);
  const out = applyChange(target, change(2, 'edit', 1, 'fixed'));
  assert.equal(out.body, 'fixed');
  assert.equal(out.edited_at, '2026-01-01T00:00:02.000Z');
  assert.equal(out.changed_seq, 2);
  assert.equal(target.body, 'm1');
});

test('a change at or below changed_seq is already included and is not applied again', () => {
  const held = msg(1, { body: 'newest', changed_seq: 5, edited_at: 'x' });
  assert.equal(applyChange(held, change(3, 'edit', 1, 'older')), held);
  assert.equal(applyChange(held, change(5, 'edit', 1, 'same')), held);
  assert.equal(applyChange(held, change(6, 'edit', 1, 'later')).body, 'later');
});

test('concurrent edits end with the highest seq whatever order they arrive in', () => {
  let a = msg(1);
  for (const e of [change(3, 'edit', 1, 'three'), change(2, 'edit', 1, 'two')]) a = applyChange(a, e);
  assert.equal(a.body, 'three');
});

test('an entry for another message or another room changes nothing', () => {
  const held = msg(1);
  assert.equal(applyChange(held, change(2, 'edit', 7, 'x')), held);
  assert.equal(applyChange(held, { ...change(2, 'edit', 1, 'x'), room_id: 'other' }), held);
  assert.equal(applyChange(held, msg(2)), held);
});

test('a delete makes a tombstone: no body, no reactions, deleted_by its sender; later edits do not revive it', () => {
  const held = msg(1, { reactions: [{ emoji: '👍', count: 1, me: true }] });
  const dead = applyChange(held, change(2, 'delete', 1, '', 'owner'));
  assert.equal(dead.body, '');
  assert.equal(dead.deleted_by, 'owner');
  assert.ok(dead.deleted_at);
  assert.deepEqual(dead.reactions, []);
  const still = applyChange(dead, change(3, 'edit', 1, 'back'));
  assert.equal(still.body, '');
  assert.equal(still.changed_seq, 3);
});

test('a reaction entry moves one reaction of its sender from previous to emoji', () => {
  let m = msg(1);
  m = applyChange(m, change(2, 'reaction', 1, react('👍', null), 'ben'), { me: 'ann', userIds: true });
  assert.deepEqual(m.reactions, [{ emoji: '👍', count: 1, me: false, user_ids: ['ben'] }]);
  m = applyChange(m, change(3, 'reaction', 1, react('👍', null), 'ann'), { me: 'ann', userIds: true });
  assert.deepEqual(m.reactions, [{ emoji: '👍', count: 2, me: true, user_ids: ['ben', 'ann'] }]);
  m = applyChange(m, change(4, 'reaction', 1, react('❤️', '👍'), 'ann'), { me: 'ann', userIds: true });
  assert.deepEqual(m.reactions, [{ emoji: '👍', count: 1, me: false, user_ids: ['ben'] }, { emoji: '❤️', count: 1, me: true, user_ids: ['ann'] }]);
  m = applyChange(m, change(5, 'reaction', 1, react(null, '👍'), 'ben'), { me: 'ann', userIds: true });
  assert.deepEqual(m.reactions, [{ emoji: '❤️', count: 1, me: true, user_ids: ['ann'] }]);
  assert.equal(m.changed_seq, 5);
});

test('in a channel reactions carry counts without user ids', () => {
  const m = applyChange(msg(1), change(2, 'reaction', 1, react('🚀', null), 'fan'), { me: 'ann', userIds: false });
  assert.deepEqual(m.reactions, [{ emoji: '🚀', count: 1, me: false }]);
});

test('a reaction body that is not JSON is ignored but still counted as applied', () => {
  assert.equal(parseReaction('nope'), null);
  const m = applyChange(msg(1), change(2, 'reaction', 1, 'nope'));
  assert.equal(m.reactions, undefined);
  assert.equal(m.changed_seq, 2);
});

test('newer keeps the version with more changes, and a hidden message stays hidden', () => {
  const held = msg(1, { changed_seq: 4, body: 'held' });
  assert.equal(newer(held, msg(1, { changed_seq: 3, body: 'stale' })), held);
  assert.equal(newer(held, msg(1, { changed_seq: 4, body: 'ack' })).body, 'ack');
  const hidden = applyHidden(msg(1));
  assert.equal(hidden.hidden, true);
  assert.equal(hidden.body, '');
  assert.equal(newer(hidden, msg(1, { changed_seq: 2, body: 'edited' })).body, '');
});
