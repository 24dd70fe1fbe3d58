// The open conversation: header, typing line and the message list (rendered declaratively with
// view.js: day separators, the unread divider, replies, ticks, failed sends with Retry / Discard,
// "jump to latest"), and the message lifecycle as the reader sees it: "edited", tombstones,
// reaction chips, "Forwarded", the "⋯" actions button (its menu is views/actions.js), and
// opening a chat at a search hit.

import { patch, v } from '../view.js';
import { $, bubbleTime, fullTime, hue, replaceChildren } from '../dom.js';
import { ui, toast, showError } from '../ui.js';
import { renderRooms } from './rooms.js';
import { renderComposerState, startReply, renderReply, saveDraft, restoreDraft, stopTyping, endEdit } from './composer.js';
import { closePanel, renderPanel } from './panel.js';
import { showReceipts } from './dialogs.js';
import { openActions } from './actions.js';
import { renderChatMenu } from './privacy.js';
import { renderMuteMenu } from './notifications.js';
import { attachmentsView, pendingAttachmentsView } from './attachments.js';
import { paintAvatar, roomPicture } from './pictures.js';

export function showRoomView(open) {
  $('#no-room').hidden = open;
  $('#room-view').hidden = !open;
  document.body.classList.toggle('room-open', open);
}

export async function openRoom(roomId) {
  const c = ui.client;
  if (!c) return;
  if (ui.openRoomId !== roomId) {
    stopTyping();
    endEdit();
    saveDraft();
    ui.openRoomId = roomId;
    restoreDraft();
    const opening = c.rooms.get(roomId);
    ui.unreadAfter = opening && opening.unread_count > 0 ? opening.read_seq || 0 : null;
    c.openRoomId = roomId;
    ui.replyTo = null;
      replaceChildren($('#messages'));
    renderReply();
  }
  showRoomView(true);
  renderRooms();
  renderHeader();
  renderTyping();
  renderComposerState();
  renderMessages();
  if (ui.panelOpen) renderPanel();
  $('#composer-input').focus();
  try {
    await Promise.all([c.fetchRoom(roomId), c.loadLatest(roomId)]);
  } catch (err) {
    showError(err, 'Opening the chat');
    if (err.code === 'not_found') c.dropRoom(roomId);
    return;
  }
  if (ui.openRoomId !== roomId) return;
  renderMessages({ toBottom: true });
  c.markRead(roomId);
}

export function closeRoom() {
  stopTyping();
  endEdit();
  saveDraft();
  ui.openRoomId = null;
  ui.unreadAfter = null;
  restoreDraft();
  if (ui.client) ui.client.openRoomId = null;
  replaceChildren($('#messages'));
  closePanel();
  showRoomView(false);
  renderRooms();
  $('#room-list .room-item')?.focus();
}

export function currentRoom() {
  return ui.client && ui.openRoomId ? ui.client.rooms.get(ui.openRoomId) : null;
}

export function renderHeader() {
  const c = ui.client;
  const room = currentRoom();
  if (!c || !room) return;
  const title = c.roomTitle(room);
  $('#room-name').textContent = title;
  paintAvatar($('#room-avatar'), title, room.id, roomPicture(c, room));
  let sub = '';
  if (room.kind === 'direct') {
    const peer = c.peer(room);
    if (peer) {
      const p = c.presence.get(peer.user_id);
      const connected = c.status === 'online' || c.status === 'syncing';
      if (c.isOnline(peer.user_id)) sub = 'online';
      else if (connected && p && p.last_seen_at) sub = `last seen ${fullTime(p.last_seen_at)}`;
      else sub = `@${peer.username || c.users.get(peer.user_id)?.username || ''}`;
    }
  } else {
    const n = room.members_count ?? c.members.get(room.id)?.size ?? 0;
    sub = `${room.kind === 'channel' ? 'Channel' : 'Group'} · ${n} ${n === 1 ? 'member' : room.kind === 'channel' ? 'followers' : 'members'}`;
  }
  $('#room-sub').textContent = sub;
  $('#members-toggle').setAttribute('aria-expanded', String(ui.panelOpen));
  renderChatMenu();
  renderMuteMenu();
}

export function renderTyping() {
  const c = ui.client;
  const el = $('#typing-indicator');
  const ids = c && ui.openRoomId ? c.typingUsers(ui.openRoomId) : [];
  if (!ids.length) {
    el.hidden = true;
    el.textContent = '';
    $('#room-sub').hidden = false;
    return;
  }
  const names = ids.map((id) => c.displayName(id));
  el.textContent = names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  el.hidden = false;
  $('#room-sub').hidden = true;
}

export function systemText(c, m) {
  let d;
  try {
    d = JSON.parse(m.body);
  } catch {
    return m.body;
  }
  if (!d || typeof d !== 'object') return String(m.body);
  const actor = c.displayName(m.sender_id);
  const target = d.user_id ? c.displayName(d.user_id) : '';
  switch (d.event) {
    case 'member_joined':
      return d.user_id && d.user_id !== m.sender_id ? `${actor} added ${target}` : `${target || actor} joined`;
    case 'member_left':
      return `${target || actor} left`;
    case 'member_removed':
      return `${actor} removed ${target}`;
    case 'room_renamed':
      return `${actor} renamed the chat to “${d.name ?? d.new_name ?? ''}”`;
    case 'role_changed':
      return `${actor} made ${target} ${d.role === 'admin' ? 'an admin' : d.role === 'member' ? 'a member' : d.role || 'something else'}`;
    case 'owner_changed':
      return `${target} is now the owner`;
    case 'room_created':
      return `${actor} created the chat`;
    case 'room_closed':
      return `This channel was closed by an operator${d.reason ? `: ${d.reason}` : ''}`;
    case 'room_reopened':
      return `This channel was reopened by an operator${d.reason ? `: ${d.reason}` : ''}`;
    default:
      return String(d.event || 'update');
  }
}

export const TICK = { pending: '', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

export const TICK_LABEL = { pending: 'Waiting to send', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' };

export function quoteFor(c, roomId, seq) {
  const held = c.roomMessages(roomId).get(seq);
  if (held) return held;
  const key = `${roomId}:${seq}`;
  const cached = ui.quoteCache.get(key);
  if (cached !== undefined) return cached === 'loading' ? null : cached;
  ui.quoteCache.set(key, 'loading');
  c.fetchMessage(roomId, seq)
    .then((m) => {
      ui.quoteCache.set(key, m);
      if (roomId === ui.openRoomId) renderMessages();
    })
    .catch(() => ui.quoteCache.set(key, null));
  return null;
}

export const DELETED_TEXT = 'This message was deleted';
export const HIDDEN_TEXT = 'You deleted this message';

/** The text a message shows in a quote, a preview or a dialog. */
export function quoteText(c, m) {
  if (m.deleted_at) return DELETED_TEXT;
  if (m.hidden) return HIDDEN_TEXT;
  return m.kind === 'system' ? systemText(c, m) : m.body;
}

/** Whether the signed-in user may delete `m` for everyone (the server has the last word). */
export function canDeleteForAll(c, room, m) {
  if (m.kind !== 'text' || m.deleted_at) return false;
  if (m.sender_id === c.me.id) return true;
  return Boolean(room && room.kind !== 'direct' && (room.my_role === 'owner' || room.my_role === 'admin'));
}

function reactionLabel(c, r) {
  const names = (r.user_ids || []).map((id) => (id === c.me.id ? 'you' : c.displayName(id)));
  const who = names.length ? ` by ${names.join(', ')}` : r.me ? ', including you' : '';
  return `${r.emoji} ${r.count}${who}${r.me ? '. Press to remove yours' : ''}`;
}

/** The description of one message (see view.js); pending ones come from the outbox. */
export function messageView(c, room, m, pending) {
  const own = pending || m.sender_id === c.me.id;
  if (!pending && m.kind === 'system') {
    return v('li', { key: `s${m.seq}`, class: 'msg system', testid: 'system-message', dataset: { seq: m.seq } },
      v('span', { class: 'system-text', text: systemText(c, m) }));
  }
  const children = [];
  const deleted = !pending && Boolean(m.deleted_at);
  if (!pending && m.forwarded && !deleted) children.push(v('span', { class: 'forwarded', testid: 'forwarded-label', text: '↪ Forwarded' }));
  if (!own && room && room.kind !== 'direct') {
    children.push(v('span', { class: `sender c${hue(m.sender_id)}`, testid: 'message-sender', text: c.displayName(m.sender_id) }));
  }
  if (m.reply_to !== null && m.reply_to !== undefined) {
    const q = quoteFor(c, m.room_id, m.reply_to);
    children.push(v('button', {
      type: 'button', class: 'quote', testid: 'reply-quote', dataset: { replyTo: m.reply_to },
      title: 'Go to the quoted message',
      onclick: onQuoteClick,
    },
    v('span', { class: 'quote-name', text: q ? c.displayName(q.sender_id) : `Message #${m.reply_to}` }),
    v('span', { class: `quote-body${q && (q.deleted_at || q.hidden) ? ' tombstone' : ''}`, testid: 'quote-body', text: q ? quoteText(c, q) : '…' })));
  }
  if (!deleted) children.push(pending ? pendingAttachmentsView(m) : attachmentsView(m));
  const files = Array.isArray(m.attachments) && m.attachments.length > 0;
  if (deleted) children.push(v('div', { class: 'body tombstone', testid: 'message-body', text: DELETED_TEXT }));
  else if (m.body || !files) children.push(v('div', { class: 'body', testid: 'message-body', text: m.body }));
  if (!deleted && m.reactions && m.reactions.length) {
    children.push(v('div', { class: 'reactions', testid: 'reactions', role: 'group', 'aria-label': 'Reactions' },
      m.reactions.map((r) => v('button', {
        key: r.emoji, type: 'button', class: `reaction${r.me ? ' mine' : ''}`, testid: 'reaction',
        dataset: { emoji: r.emoji, seq: m.seq }, 'aria-pressed': r.me ? 'true' : 'false',
        'aria-label': reactionLabel(c, r), title: reactionLabel(c, r), onclick: onReactionClick,
      },
      v('span', { class: 'reaction-emoji', 'aria-hidden': 'true', text: r.emoji }),
      v('span', { class: 'reaction-count', testid: 'reaction-count', 'aria-hidden': 'true', text: String(r.count) })))));
  }
  let state;
  if (pending) state = m.error ? 'failed' : 'pending';
  else if (own) state = c.tickState(m);
  const meta = [];
  if (!pending && m.edited_at && !deleted) meta.push(v('span', { class: 'edited', testid: 'edited-label', title: `Edited ${fullTime(m.edited_at)}`, text: 'edited' }));
  meta.push(v('time', { datetime: m.created_at, title: fullTime(m.created_at), text: bubbleTime(m.created_at) }));
  if (own && !deleted) {
    const label = TICK_LABEL[state];
    const counts = !pending && room && room.kind === 'group' ? c.tickCounts(m) : null;
    const title = counts ? `${label} · read by ${counts.read} of ${counts.total}, delivered to ${counts.delivered}` : label;
    if (!pending && room && room.kind === 'group') {
      meta.push(v('button', { type: 'button', class: `tick ${state} tick-button`, testid: 'tick', dataset: { state, seq: m.seq }, title, 'aria-label': title, text: TICK[state], onclick: onTickClick }));
    } else meta.push(v('span', { class: `tick ${state}`, testid: 'tick', dataset: { state }, title, role: 'img', 'aria-label': title, text: TICK[state] }));
  }
  children.push(v('div', { class: 'meta' }, meta));
  if (pending && m.error) {
    children.push(v('div', { class: 'send-error', testid: 'send-error', role: 'alert' },
      v('span', { text: `${m.error.code}: ${m.error.message}` }),
      v('button', { type: 'button', class: 'link', testid: 'retry-send', text: 'Retry', dataset: { clientId: m.client_id }, onclick: onRetryClick }),
      v('button', { type: 'button', class: 'link', testid: 'discard-send', text: 'Discard', dataset: { clientId: m.client_id }, onclick: onDiscardClick })));
  }
  const canReply = !pending && !deleted && !(room && room.closed_at) && !(room && room.kind === 'channel' && room.my_role === 'member');
  return v('li', {
    key: pending ? `p${m.client_id}` : `s${m.seq}`,
    class: `msg ${own ? 'own' : 'other'}${pending ? ' pending' : ''}${deleted ? ' deleted' : ''}${!pending && ui.flashSeq === m.seq ? ' flash' : ''}`,
    testid: 'message',
    dataset: pending
      ? { clientId: m.client_id, pending: 'true' }
      : { seq: m.seq, sender: m.sender_id, clientId: m.client_id || '', canReply: canReply ? 'true' : 'false', deleted: deleted ? 'true' : 'false', edited: m.edited_at ? 'true' : 'false' },
  },
  v('div', { class: 'bubble' }, children),
  pending ? null : v('div', { class: 'msg-actions' },
    canReply ? v('button', { type: 'button', class: 'msg-action', testid: 'reply-button', 'aria-label': 'Reply', title: 'Reply (or long-press the message)', text: '↩', dataset: { seq: m.seq }, onclick: onReplyClick }) : null,
    v('button', { type: 'button', class: 'msg-action more', testid: 'message-actions', 'aria-label': 'Message actions', title: 'Message actions', 'aria-haspopup': 'menu', 'aria-expanded': ui.menuSeq === m.seq ? 'true' : 'false', text: '⋯', dataset: { seq: m.seq }, onclick: onActionsClick })));
}

// Stable handlers (the view layer re-binds a listener only when it changes); each reads what it
// needs from the element's data attributes.
export function onQuoteClick(e) {
  jumpTo(Number(e.currentTarget.dataset.replyTo));
}

export function onTickClick(e) {
  const seq = Number(e.currentTarget.dataset.seq);
  const m = ui.client && ui.client.roomMessages(ui.openRoomId).get(seq);
  if (m) showReceipts(m);
}

export function onRetryClick(e) {
  if (ui.client) ui.client.retry(e.currentTarget.dataset.clientId);
}

export function onDiscardClick(e) {
  if (ui.client) ui.client.discard(e.currentTarget.dataset.clientId);
}

export function onReplyClick(e) {
  startReply(Number(e.currentTarget.dataset.seq));
}

export function onActionsClick(e) {
  openActions(e.currentTarget, Number(e.currentTarget.dataset.seq));
}

/** A chip toggles the reader's own reaction with that emoji. */
export async function onReactionClick(e) {
  const c = ui.client;
  const { seq, emoji } = e.currentTarget.dataset;
  if (!c || !ui.openRoomId) return;
  try {
    await c.react(ui.openRoomId, Number(seq), emoji);
  } catch (err) {
    showError(err, 'Reacting');
  }
}

/** "Today", "Yesterday" or the date, for day separators. */
export function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  const sameYear = d.getFullYear() === today.getFullYear();
  return d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: sameYear ? undefined : 'numeric' });
}

/** Makes the message list show the client's state, keeping the scroll position sensible. */
export function renderMessages({ prepended = false, toBottom = false } = {}) {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  const room = c.rooms.get(roomId);
  const list = $('#messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const oldHeight = list.scrollHeight;
  const oldTop = list.scrollTop;

  const items = [];
  const older = c.older.get(roomId);
  if (older && older.hasMore) {
    items.push(v('li', { key: 'load-older', class: 'load-older' },
      v('button', { type: 'button', class: 'link', testid: 'load-older', text: 'Load older messages', onclick: loadOlder })));
  }
  let day = null;
  let dividerShown = false;
  const separate = (iso) => {
    const d = new Date(iso).toDateString();
    if (d === day) return;
    day = d;
    items.push(v('li', { key: `day-${d}`, class: 'day-separator', testid: 'day-separator' },
      v('span', { text: dayLabel(iso) })));
  };
  for (const m of c.visibleMessages(roomId)) {
    separate(m.created_at);
    if (!dividerShown && ui.unreadAfter !== null && m.seq > ui.unreadAfter && m.sender_id !== c.me.id && m.kind !== 'system') {
      dividerShown = true;
      items.push(v('li', { key: 'unread-divider', class: 'unread-divider', testid: 'unread-divider' },
        v('span', { text: 'Unread messages' })));
    }
    items.push(messageView(c, room, m, false));
  }
  const outbox = c.outboxFor(roomId);
  for (const m of outbox) {
    separate(m.created_at);
    items.push(messageView(c, room, m, true));
  }
  patch(list, items);

  const ownNew = outbox.some((m) => !m.error);
  if (prepended) list.scrollTop = list.scrollHeight - oldHeight + oldTop;
  else if (toBottom) scrollToFirstUnread();
  else if (nearBottom || ownNew) list.scrollTop = list.scrollHeight;
  renderJumpLatest();
}

/** On opening a chat: the unread divider in view if there is one, else the bottom. */
export function scrollToFirstUnread() {
  const list = $('#messages');
  const divider = list.querySelector('.unread-divider');
  // Scroll the list only (scrollIntoView would also scroll the page's own containers).
  if (divider) list.scrollTop += divider.getBoundingClientRect().top - list.getBoundingClientRect().top - 8;
  else list.scrollTop = list.scrollHeight;
}

/** "Jump to latest" shows while the newest messages are out of view. */
export function renderJumpLatest() {
  const list = $('#messages');
  const away = list.scrollHeight - list.scrollTop - list.clientHeight > 200;
  $('#jump-latest').hidden = !ui.openRoomId || (!away && !isDetached());
}

/** Whether the open chat shows an older stretch (opened at a search hit), not its newest page. */
export function isDetached() {
  const o = ui.client && ui.openRoomId ? ui.client.older.get(ui.openRoomId) : null;
  return Boolean(o && o.detached);
}

/** "Jump to latest": the newest page again if an older stretch is shown, then the bottom. */
export async function jumpLatest() {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  if (isDetached()) {
    try {
      await c.loadLatest(roomId);
    } catch (err) {
      showError(err, 'Loading the latest messages');
      return;
    }
  }
  const list = $('#messages');
  list.scrollTop = list.scrollHeight;
  renderJumpLatest();
  $('#composer-input').focus();
}

/**
 * Opens a chat at one message (a search hit): loads the history around it if it is not held,
 * then scrolls to it and flashes it.
 */
export async function openAt(roomId, seq) {
  const c = ui.client;
  if (!c) return;
  await openRoom(roomId);
  if (ui.openRoomId !== roomId) return;
  if (!c.roomMessages(roomId).has(seq)) {
    try {
      await c.loadAround(roomId, seq);
    } catch (err) {
      showError(err, 'Opening the message');
      return;
    }
    if (ui.openRoomId !== roomId) return;
    renderMessages();
  }
  jumpTo(seq);
}

export async function loadOlder() {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  try {
    await c.loadOlder(roomId);
  } catch (err) {
    showError(err, 'Loading older messages');
  }
}

export function jumpTo(seq) {
  const el = $('#messages').querySelector(`li[data-testid="message"][data-seq="${Number(seq)}"]`);
  if (!el) {
    toast('That message is further back; scroll up to load it.', 'info');
    return;
  }
  el.scrollIntoView({ block: 'center' });
  // Kept in the UI state too, so a re-render meanwhile does not drop the highlight.
  ui.flashSeq = Number(seq);
  el.classList.add('flash');
  setTimeout(() => {
    if (ui.flashSeq !== Number(seq)) return;
    ui.flashSeq = null;
    el.classList.remove('flash');
  }, 1500);
}
