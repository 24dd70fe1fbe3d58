// @ts-check
/**
 * @module lifecycle
 * Message lifecycle on the client side (docs/protocol.md §7 "Message lifecycle"): telling change
 * entries (`edit`, `delete`, `reaction`) from messages, and applying one to the message it
 * targets. Pure functions over plain objects, so an application keeps whatever store it likes.
 *
 * The rule that makes every device converge: a change entry is applied only when its `seq` is
 * above the `changed_seq` of the message held, because a message read from history, catch-up or
 * an ack already includes every change up to its `changed_seq`.
 */

/** @typedef {import('./protocol.js').Message} Message */
/** @typedef {import('./protocol.js').Reaction} Reaction */
/** @typedef {import('./protocol.js').Hidden} Hidden */

const CHANGE_KINDS = new Set(['edit', 'delete', 'reaction']);

/**
 * Whether a stream entry changes another message instead of being one (never shown, never
 * unread, never a room's last message).
 * @param {Pick<Message, 'kind'>} m
 */
export function isChange(m) {
  return CHANGE_KINDS.has(m.kind);
}

/**
 * The target as it is after `entry`, or the same object when the entry does not apply (another
 * message, or a change the target already includes).
 * @param {Message} target
 * @param {Message} entry an `edit`, `delete` or `reaction` entry
 * @param {{me?: string | null, userIds?: boolean}} [opts] `me`: the reader's user id (for
 *   `Reaction.me`); `userIds`: keep `user_ids` on reactions (false in channels, §2)
 * @returns {Message}
 */
export function applyChange(target, entry, opts = {}) {
  if (!isChange(entry) || entry.room_id !== target.room_id || entry.target_seq !== target.seq) return target;
  if (entry.seq <= (target.changed_seq || 0)) return target;
  if (target.deleted_at && entry.kind !== 'delete') return { ...target, changed_seq: entry.seq };
  switch (entry.kind) {
    case 'edit':
      return { ...target, body: entry.body, edited_at: entry.created_at, changed_seq: entry.seq };
    case 'delete':
      if (target.deleted_at) return { ...target, changed_seq: entry.seq };
      return {
        ...target,
        body: '',
        deleted_at: entry.created_at,
        deleted_by: entry.sender_id,
        reactions: [],
        changed_seq: entry.seq,
      };
    default: {
      const change = parseReaction(entry.body);
      if (!change) return { ...target, changed_seq: entry.seq };
      const reactions = moveReaction(target.reactions || [], entry.sender_id, change, opts);
      return { ...target, reactions, changed_seq: entry.seq };
    }
  }
}

/**
 * The `{emoji, previous}` of a reaction entry's body, or null if it is not one.
 * @param {string} body
 * @returns {import('./protocol.js').ReactionChange | null}
 */
export function parseReaction(body) {
  try {
    const d = JSON.parse(body);
    if (!d || typeof d !== 'object') return null;
    const str = (/** @type {unknown} */ x) => (typeof x === 'string' && x ? x : null);
    return { emoji: str(d.emoji), previous: str(d.previous) };
  } catch {
    return null;
  }
}

/**
 * Moves one reaction of `userId` from `previous` to `emoji` (either may be null), keeping the
 * order of the chips (a new emoji goes last) and dropping one whose count reaches zero.
 * @param {Reaction[]} reactions
 * @param {string} userId
 * @param {import('./protocol.js').ReactionChange} change
 * @param {{me?: string | null, userIds?: boolean}} opts
 * @returns {Reaction[]}
 */
function moveReaction(reactions, userId, change, opts) {
  const mine = opts.me !== undefined && opts.me !== null && opts.me === userId;
  const keepIds = opts.userIds ?? reactions.some((r) => Array.isArray(r.user_ids));
  /** @type {Reaction[]} */
  const out = [];
  for (const r of reactions) {
    if (change.previous !== null && r.emoji === change.previous) {
      const count = r.count - 1;
      if (count <= 0) continue;
      /** @type {Reaction} */
      const next = { ...r, count, me: mine ? false : r.me };
      if (r.user_ids) next.user_ids = r.user_ids.filter((id) => id !== userId);
      out.push(next);
    } else out.push({ ...r });
  }
  if (change.emoji !== null) {
    const held = out.find((r) => r.emoji === change.emoji);
    if (held) {
      held.count += 1;
      if (mine) held.me = true;
      if (held.user_ids && !held.user_ids.includes(userId)) held.user_ids = [...held.user_ids, userId];
    } else {
      /** @type {Reaction} */
      const r = { emoji: change.emoji, count: 1, me: mine };
      if (keepIds) r.user_ids = [userId];
      out.push(r);
    }
  }
  return out;
}

/**
 * The message as the reader sees it after "delete for me".
 * @param {Message} m
 * @returns {Message}
 */
export function applyHidden(m) {
  return { ...m, hidden: true, body: '', reactions: [] };
}

/**
 * Of two versions of one message (held, and e.g. an ack's), the one including more changes.
 * @param {Message | undefined} held
 * @param {Message} incoming
 * @returns {Message}
 */
export function newer(held, incoming) {
  if (!held) return incoming;
  if ((incoming.changed_seq || 0) < (held.changed_seq || 0)) return held;
  return held.hidden && !incoming.hidden ? applyHidden(incoming) : incoming;
}
