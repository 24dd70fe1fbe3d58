// The composer: drafts per chat, replies, sending through the client's outbox, typing notices, and
// edit mode (the menu's Edit, or Up in an empty composer: the message's text in the box, Enter
// saves, Esc cancels and gives back what was typed before).

import { $ } from '../dom.js';
import { ui, toast, showError } from '../ui.js';
import { currentRoom, quoteText } from './conversation.js';
import { renderBlockedNote } from './privacy.js';
import { hasChosenFiles, renderTray, sendChosen } from './uploads.js';

export function renderComposerState() {
  const c = ui.client;
  const room = currentRoom();
  const note = $('#composer-note');
  const input = $('#composer-input');
  // An operator closed the channel (docs/protocol.md §14): read-only for everyone.
  const closed = Boolean(room && room.closed_at);
  const readOnly = closed || (room && room.kind === 'channel' && room.my_role === 'member');
  const blocked = renderBlockedNote();
  $('#composer').hidden = Boolean(readOnly || blocked);
  note.hidden = !readOnly;
  note.textContent = closed
    ? 'This channel was closed. You can still read it.'
    : readOnly ? 'Only the channel’s admins can post. You are following it.' : '';
  if ((readOnly || blocked) && document.activeElement === input) $('#messages').focus();
  renderTray();
  if (!c) return;
}

export function startReply(seq) {
  endEdit();
  ui.replyTo = seq;
  renderReply();
  $('#composer-input').focus();
}

export function renderReply() {
  const c = ui.client;
  const box = $('#reply-preview');
  if (!c || ui.replyTo === null || !ui.openRoomId) {
    box.hidden = true;
    return;
  }
  const m = c.roomMessages(ui.openRoomId).get(ui.replyTo);
  $('#reply-to-name').textContent = m ? `Replying to ${c.displayName(m.sender_id)}` : `Replying to #${ui.replyTo}`;
  $('#reply-to-body').textContent = m ? quoteText(c, m) : '';
  box.hidden = false;
}

export function cancelReply() {
  ui.replyTo = null;
  renderReply();
}

/** Puts one of the user's own text messages in the composer to edit it. */
export function startEdit(seq) {
  const c = ui.client;
  const m = c && ui.openRoomId ? c.roomMessages(ui.openRoomId).get(seq) : null;
  if (!m || m.kind !== 'text' || m.deleted_at || m.sender_id !== c.me.id) return;
  const input = $('#composer-input');
  if (!ui.editing) ui.editing = { seq, stash: input.value };
  else ui.editing.seq = seq;
  cancelReply();
  input.value = m.body;
  autoGrow();
  renderEdit();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/** The newest message of the open chat the user may edit, for Up in an empty composer. */
export function lastOwnEditable() {
  const c = ui.client;
  if (!c || !ui.openRoomId) return null;
  const list = c.visibleMessages(ui.openRoomId);
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i];
    if (m.sender_id === c.me.id && m.kind === 'text' && !m.deleted_at) return m;
  }
  return null;
}

/** Leaves edit mode, giving the composer back what was typed before. */
export function endEdit() {
  if (!ui.editing) return;
  $('#composer-input').value = ui.editing.stash;
  ui.editing = null;
  autoGrow();
  renderEdit();
}

export function renderEdit() {
  const c = ui.client;
  const box = $('#edit-preview');
  if (!c || !ui.editing || !ui.openRoomId) {
    box.hidden = true;
    $('#send').setAttribute('aria-label', 'Send');
    return;
  }
  const m = c.roomMessages(ui.openRoomId).get(ui.editing.seq);
  $('#edit-body').textContent = m ? m.body : '';
  box.hidden = false;
  $('#send').setAttribute('aria-label', 'Save edit');
}

async function submitEdit() {
  const c = ui.client;
  const input = $('#composer-input');
  const { seq } = ui.editing;
  const roomId = ui.openRoomId;
  const body = input.value;
  const held = c.roomMessages(roomId).get(seq);
  if (!body.trim()) {
    toast('invalid: a message cannot be empty. To remove it, use Delete in its ⋯ menu.', 'error');
    return;
  }
  endEdit();
  input.focus();
  if (held && held.body === body) return;
  try {
    await c.editMessage(roomId, seq, body);
  } catch (err) {
    showError(err, 'Editing the message');
  }
}

export function submitComposer() {
  const c = ui.client;
  const input = $('#composer-input');
  const body = input.value;
  if (!c || !ui.openRoomId) return;
  if (ui.editing) {
    submitEdit();
    return;
  }
  if (hasChosenFiles()) {
    // The text is the files' caption (views/uploads.js).
    sendChosen(body);
    input.focus();
    return;
  }
  if (!body.trim()) {
    toast('invalid: a message cannot be empty.', 'error');
    return;
  }
  c.send(ui.openRoomId, body, ui.replyTo);
  input.value = '';
  ui.drafts.delete(ui.openRoomId);
  autoGrow();
  cancelReply();
  stopTyping();
  input.focus();
}

/** Keeps the composer's text as the draft of the open chat. */
export function saveDraft() {
  if (!ui.openRoomId) return;
  const value = $('#composer-input').value;
  if (value) ui.drafts.set(ui.openRoomId, value);
  else ui.drafts.delete(ui.openRoomId);
}

/** Puts the open chat's own draft (or nothing) in the composer. */
export function restoreDraft() {
  $('#composer-input').value = (ui.openRoomId && ui.drafts.get(ui.openRoomId)) || '';
  autoGrow();
}

export function autoGrow() {
  const input = $('#composer-input');
  input.classList.toggle('multi', input.value.includes('\n') || input.value.length > 80);
}

export function noteTyping() {
  const c = ui.client;
  if (!c || !ui.openRoomId) return;
  const now = Date.now();
  if (!$('#composer-input').value) {
    stopTyping();
    return;
  }
  // At most one "typing: true" every 3 s (the server allows 5 a second).
  if (now - ui.typingSent > 3000) {
    ui.typingSent = now;
    ui.typingRoom = ui.openRoomId;
    c.sendTyping(ui.openRoomId, true);
  }
  clearTimeout(ui.typingStop);
  ui.typingStop = setTimeout(stopTyping, 4000);
}

export function stopTyping() {
  clearTimeout(ui.typingStop);
  if (ui.typingSent && ui.client && ui.typingRoom) ui.client.sendTyping(ui.typingRoom, false);
  ui.typingSent = 0;
  ui.typingRoom = null;
}
