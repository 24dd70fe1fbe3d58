// What every screen of the web app shares: the UI state (open chat, reply, drafts, …), the
// phone-layout query, toasts and error display, and the connection status line.

import { describeError } from './api.js';
import { $, h } from './dom.js';

export const ui = {
  client: null,
  openRoomId: null,
  replyTo: null, // seq
  menuSeq: null, // the message whose "⋯" menu is open
  flashSeq: null, // the message just jumped to, highlighted for a moment
  editing: null, // {seq, stash}: the message being edited, and what the composer held before
  panelOpen: false,
  unreadAfter: null, // read_seq when the open chat was opened with unread messages: the divider goes after it
  quoteCache: new Map(), // `${room}:${seq}` -> Message | 'loading' | null
  typingSent: 0,
  typingStop: null,
  registering: false,
  drafts: new Map(), // room_id -> the text typed in that chat and not sent
  followersTimer: null,
};

export const narrow = window.matchMedia('(max-width: 760px)');

export function toast(text, kind = 'error') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', testid: kind === 'error' ? 'error-toast' : 'info-toast' },
    h('span', { class: 'toast-text', text }),
    h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', text: '✕', onclick: () => el.remove() }));
  $('#toasts').appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 9000 : 4000);
}

export function showError(err, context) {
  toast(context ? `${context} failed — ${describeError(err)}` : describeError(err));
}

export function formError(el, err) {
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.hidden = false;
  el.textContent = typeof err === 'string' ? err : describeError(err);
}

export const STATUS_TEXT = {
  connecting: 'Connecting…',
  syncing: 'Catching up…',
  reconnecting: 'Disconnected — reconnecting…',
  offline: 'Offline — messages you send will go out when you reconnect',
  online: 'Connected',
};

export function renderStatus() {
  const el = $('#connection-status');
  const status = ui.client ? ui.client.status : 'connecting';
  el.dataset.state = status;
  el.textContent = STATUS_TEXT[status] || status;
  el.hidden = !ui.client || status === 'online';
}
