// Notifications in the page: the "Notifications" switch of the account menu (Web Push through
// push.js: permission is asked only when it is turned on), the mute menu of the open chat
// (8 hours, 1 week, always, unmute; shared by all the person's devices), and opening a chat
// from a notification (the service worker's message, or `/#room=<id>` in a new window).

import { $ } from '../dom.js';
import { ui, showError, toast } from '../ui.js';
import { closeRoomNotifications, disablePush, enablePush, forgetPush, onOpenRoomRequest, pushState, resumePush } from '../push.js';
import { openRoom } from './conversation.js';
import { renderRooms } from './rooms.js';

const HOUR = 3600_000;
const NOTE = {
  unsupported: 'This browser cannot show notifications from Missive.',
  denied: 'Notifications are blocked for this site. Allow them in the browser’s site settings, then turn them on here.',
};

let pushBusy = false;
let pendingRoom = null; // a room to open once it is known (from `#room=` or a notification)
let shownRoom = null;

/** Wires the static controls (once, at boot). */
export function wireNotifications() {
  const toggle = $('#notifications-toggle');
  toggle.addEventListener('click', () => togglePush());
  $('#account-menu').addEventListener('toggle', () => {
    if ($('#account-menu').open) renderPushSwitch();
  });

  const menu = $('#mute-menu');
  menu.addEventListener('toggle', () => {
    if (menu.open) {
      renderMuteMenu();
      menu.querySelector('.menu-items button:not([hidden])')?.focus();
    }
  });
  menu.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !menu.open) return;
    e.stopPropagation(); // the page's own Escape (close the panel or the chat) must not run too
    menu.open = false;
    menu.querySelector('summary').focus();
  });
  document.addEventListener('click', (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  for (const btn of menu.querySelectorAll('button[data-mute]')) {
    btn.addEventListener('click', () => muteOpenRoom(btn.dataset.mute));
  }

  onOpenRoomRequest((roomId) => openWhenKnown(roomId));
  const m = /^#room=([^&]+)$/.exec(location.hash);
  if (m) {
    pendingRoom = decodeURIComponent(m[1]);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

/** A chat client started: follow its mutes and rooms, re-register push, open a pending room. */
export function attachNotifications(client) {
  client.addEventListener('mutes', () => {
    renderRooms();
    renderMuteMenu();
  });
  client.addEventListener('rooms', () => {
    if (pendingRoom && client.rooms.has(pendingRoom)) openWhenKnown(pendingRoom);
  });
  resumePush(client.me.id);
}

/** The chat ended (logout): this browser stops receiving the user's notifications. */
export function detachNotifications(userId) {
  pendingRoom = null;
  shownRoom = null;
  $('#mute-menu').open = false;
  if (userId) forgetPush(userId);
}

function openWhenKnown(roomId) {
  const c = ui.client;
  if (c && c.rooms.has(roomId)) {
    pendingRoom = null;
    openRoom(roomId);
  } else {
    pendingRoom = roomId;
  }
}

// ---------------------------------------------------------------- the switch

async function renderPushSwitch(state) {
  const c = ui.client;
  if (!c) return;
  const s = state || await pushState(c.me.id);
  const toggle = $('#notifications-toggle');
  toggle.setAttribute('aria-checked', String(s === 'on'));
  toggle.dataset.state = s;
  // Not disabled while busy (that would drop the keyboard focus); clicks then are ignored.
  toggle.disabled = s === 'unsupported';
  toggle.setAttribute('aria-busy', String(pushBusy));
  $('#notifications-state').textContent = pushBusy ? '…' : s === 'on' ? 'On' : 'Off';
  const note = $('#notifications-note');
  note.textContent = NOTE[s] || '';
  note.hidden = !NOTE[s];
}

async function togglePush() {
  const c = ui.client;
  if (!c || pushBusy) return;
  const userId = c.me.id;
  pushBusy = true;
  let state;
  let wasOn = false;
  try {
    wasOn = (await pushState(userId)) === 'on';
    renderPushSwitch(wasOn ? 'on' : 'off');
    state = wasOn ? await disablePush(userId) : await enablePush(userId);
    if (!wasOn && state === 'on') toast('Notifications are on for this browser.', 'info');
  } catch (err) {
    showError(err, wasOn ? 'Turning notifications off' : 'Turning notifications on');
  } finally {
    pushBusy = false;
    if (ui.client === c) renderPushSwitch(state);
  }
}

// ---------------------------------------------------------------- muting a chat

function muteText(mute) {
  if (!mute) return 'Notifications on';
  if (mute.until === null) return 'Muted';
  const d = new Date(mute.until);
  const sameDay = d.toDateString() === new Date().toDateString();
  const when = sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return `Muted until ${when}`;
}

/** The room list's label for a muted room (its tooltip). */
export function muteLabel(c, roomId) {
  return muteText(c.muteOf(roomId));
}

/** The open chat's mute button and menu (called whenever its header is drawn). */
export function renderMuteMenu() {
  const c = ui.client;
  const roomId = ui.openRoomId;
  const menu = $('#mute-menu');
  if (!c || !roomId) {
    menu.open = false;
    return;
  }
  if (shownRoom !== roomId) {
    shownRoom = roomId;
    menu.open = false;
    // Reading the chat: its notifications are no longer news.
    closeRoomNotifications(roomId).catch(() => {});
  }
  const mute = c.muteOf(roomId);
  const summary = menu.querySelector('summary');
  summary.dataset.muted = String(Boolean(mute));
  summary.setAttribute('aria-label', `Mute notifications: ${muteText(mute).toLowerCase()}`);
  summary.title = muteText(mute);
  $('#mute-icon').src = mute ? '/img/bell-off.svg' : '/img/bell.svg';
  $('#mute-state').textContent = muteText(mute);
  $('#unmute').hidden = !mute;
}

async function muteOpenRoom(choice) {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  const menu = $('#mute-menu');
  menu.open = false;
  menu.querySelector('summary').focus();
  try {
    if (choice === 'off') await c.unmuteRoom(roomId);
    else await c.muteRoom(roomId, choice === '8h' ? Date.now() + 8 * HOUR : choice === '1w' ? Date.now() + 7 * 24 * HOUR : null);
  } catch (err) {
    showError(err, choice === 'off' ? 'Unmuting' : 'Muting');
  }
}
