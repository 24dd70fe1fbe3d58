// The composer: drafts per chat, replies, sending through the client's outbox, typing notices.

import { $ } from '../dom.js';
import { ui, toast } from '../ui.js';
import { currentRoom, quoteText } from './conversation.js';

export function renderComposerState() {
  const c = ui.client;
  const room = currentRoom();
  const note = $('#composer-note');
  const input = $('#composer-input');
  const readOnly = room && room.kind === 'channel' && room.my_role === 'member';
  $('#composer').hidden = Boolean(readOnly);
  note.hidden = !readOnly;
  note.textContent = readOnly ? 'Only the channel’s admins can post. You are following it.' : '';
  if (readOnly && document.activeElement === input) $('#messages').focus();
  if (!c) return;
}

export function startReply(seq) {
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

export function submitComposer() {
  const c = ui.client;
  const input = $('#composer-input');
  const body = input.value;
  if (!c || !ui.openRoomId) return;
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
