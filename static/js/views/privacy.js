// Blocking and privacy settings (docs/protocol.md §14): the direct chat's "⋮" menu (Block… /
// Unblock, Report…), the block confirmation, the note that replaces the composer in a chat with
// someone you block, the contact panel's buttons, and the "Privacy and safety" dialog (who sees
// last seen and online, read receipts, who may add me to groups, the blocked people), kept in
// step with the user's other devices by `privacy:updated` and `block:updated`.

import { $, h, replaceChildren } from '../dom.js';
import { ui, toast, formError, showError } from '../ui.js';
import { currentRoom } from './conversation.js';
import { openReport } from './report.js';

const LAST_SEEN = [
  ['everyone', 'Everyone'],
  ['contacts', 'People I have a chat or group with'],
  ['nobody', 'Nobody'],
];
const GROUP_ADD = [
  ['everyone', 'Everyone'],
  ['contacts', 'Only people I have a chat or group with'],
];

/** The other member of the open direct chat, or null. */
function openPeer() {
  const c = ui.client;
  const room = currentRoom();
  return c && room && room.kind === 'direct' ? c.peer(room) : null;
}

// ---------------------------------------------------------------- the chat header's menu

/** Shows the direct chat's "⋮" menu with Block or Unblock; hidden elsewhere. */
export function renderChatMenu() {
  const menu = $('#chat-menu');
  if (!menu) return;
  const peer = openPeer();
  menu.hidden = !peer;
  if (!peer) {
    menu.open = false;
    return;
  }
  const blocked = ui.client.isBlocked(peer.user_id);
  $('#chat-block').hidden = blocked;
  $('#chat-unblock').hidden = !blocked;
}

/**
 * The note that replaces the composer while the user blocks the other member of the open
 * direct chat. Returns whether it is shown (the composer is then hidden).
 */
export function renderBlockedNote() {
  const note = $('#blocked-note');
  const peer = openPeer();
  const blocked = Boolean(peer && ui.client.isBlocked(peer.user_id));
  note.hidden = !blocked;
  if (blocked) {
    $('#blocked-note-text').textContent = `You blocked ${ui.client.displayName(peer.user_id)}. Neither of you can send the other messages here.`;
  }
  return blocked;
}

/** Block and Report buttons for the contact card of a direct chat's details panel. */
export function contactActions(peer) {
  const c = ui.client;
  const blocked = c.isBlocked(peer.user_id);
  return h('div', { class: 'contact-actions' },
    blocked
      ? h('button', { type: 'button', class: 'small', testid: 'panel-unblock', text: 'Unblock', onclick: (e) => unblock(peer.user_id, e.currentTarget) })
      : h('button', { type: 'button', class: 'small danger', testid: 'panel-block', text: 'Block…', onclick: () => confirmBlock(peer.user_id) }),
    h('button', { type: 'button', class: 'small danger', testid: 'panel-report', text: 'Report…', onclick: () => openReport({ userId: peer.user_id }) }));
}

// ---------------------------------------------------------------- block and unblock

let blocking = null; // the user the confirmation is about

export function confirmBlock(userId) {
  const c = ui.client;
  if (!c) return;
  blocking = userId;
  const name = c.displayName(userId);
  $('#dlg-block-title').textContent = `Block ${name}?`;
  formError($('#block-error'), null);
  $('#dlg-block').showModal();
  $('#block-cancel').focus();
}

export async function unblock(userId, button) {
  const c = ui.client;
  if (!c) return;
  if (button) button.disabled = true;
  try {
    await c.unblock(userId);
    toast(`${c.displayName(userId)} is unblocked.`, 'info');
  } catch (err) {
    showError(err, 'Unblocking');
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

// ---------------------------------------------------------------- the settings dialog

function radios(name, choices, legend) {
  return h('fieldset', { class: 'kind choices' },
    h('legend', { text: legend }),
    choices.map(([value, label]) => h('label', {},
      h('input', { type: 'radio', name, value, testid: `${name.replace('_', '-')}-${value}` }), ` ${label}`)));
}

function buildDialogs() {
  const privacy = h('dialog', { id: 'dlg-privacy', testid: 'dialog-privacy', 'aria-labelledby': 'dlg-privacy-title' },
    h('form', { class: 'dialog-form', id: 'privacy-form', novalidate: true },
      h('h2', { id: 'dlg-privacy-title', text: 'Privacy and safety' }),
      radios('last_seen', LAST_SEEN, 'Who sees when I am online and my last seen'),
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'read_receipts', testid: 'read-receipts', 'aria-describedby': 'read-receipts-hint' }),
        ' Read receipts in direct chats'),
      h('p', { class: 'hint', id: 'read-receipts-hint', text: 'Off: people you chat with do not see when you read their messages, and you do not see when they read yours. Groups always show them.' }),
      radios('group_add', GROUP_ADD, 'Who may add me to groups'),
      h('p', { class: 'hint', id: 'privacy-status', testid: 'privacy-status', role: 'status' }),
      h('p', { class: 'form-error', id: 'privacy-error', testid: 'privacy-error', role: 'alert', hidden: true }),
      h('h3', { class: 'dialog-subtitle', id: 'blocked-title', text: 'Blocked people' }),
      h('ul', { class: 'search-results blocked-list', id: 'blocked-list', testid: 'blocked-list', 'aria-labelledby': 'blocked-title' }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', id: 'privacy-close', testid: 'privacy-close', text: 'Close' }))));
  const block = h('dialog', { id: 'dlg-block', testid: 'dialog-block', 'aria-labelledby': 'dlg-block-title', 'aria-describedby': 'dlg-block-hint' },
    h('form', { class: 'dialog-form', id: 'block-form', novalidate: true },
      h('h2', { id: 'dlg-block-title', text: 'Block?' }),
      h('p', { class: 'hint', id: 'dlg-block-hint', text: 'Neither of you will be able to send the other direct messages, they cannot add you to groups, and neither sees the other’s online status, last seen, typing or read receipts. They are not told. Messages in groups you share still show. You can unblock them at any time.' }),
      h('p', { class: 'form-error', id: 'block-error', testid: 'block-error', role: 'alert', hidden: true }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', id: 'block-cancel', testid: 'block-cancel', text: 'Cancel' }),
        h('button', { type: 'submit', class: 'danger', id: 'block-confirm', testid: 'block-confirm', text: 'Block' }))));
  document.body.append(privacy, block);
}

/** Makes the settings dialog show the settings held (the server's, as last heard). */
export function renderPrivacy() {
  const c = ui.client;
  const form = $('#privacy-form');
  if (!c || !form) return;
  const p = c.privacy;
  for (const el of form.querySelectorAll('input')) el.disabled = !p;
  if (!p) return;
  for (const el of form.querySelectorAll('input[name="last_seen"], input[name="group_add"]')) el.checked = p[el.name] === el.value;
  form.querySelector('input[name="read_receipts"]').checked = Boolean(p.read_receipts);
}

/** The blocked people, with Unblock. */
export function renderBlocked() {
  const c = ui.client;
  const list = $('#blocked-list');
  if (!c || !list) return;
  const users = c.blockedUsers();
  replaceChildren(list, users.length
    ? users.map((u) => h('li', { class: 'blocked-user', testid: 'blocked-user', dataset: { userId: u.id, username: u.username || '' } },
      h('span', { class: 'member-main' },
        h('span', { class: 'user-result-name', text: u.display_name || u.username || c.displayName(u.id) }),
        u.username ? h('span', { class: 'hint', text: `@${u.username}` }) : null),
      h('button', { type: 'button', class: 'small', testid: 'unblock-button', text: 'Unblock', 'aria-label': `Unblock ${u.display_name || u.username || ''}`.trim(), onclick: (e) => unblock(u.id, e.currentTarget) })))
    : [h('li', { class: 'hint', text: 'You have not blocked anyone.' })]);
}

function openPrivacy() {
  const c = ui.client;
  if (!c) return;
  $('#account-menu').open = false;
  $('#privacy-status').textContent = c.privacy ? '' : 'Loading…';
  formError($('#privacy-error'), null);
  renderPrivacy();
  renderBlocked();
  $('#dlg-privacy').showModal();
  // Fresh from the server: another device may have changed them while this one was away.
  c.loadPrivacy().then(() => {
    if ($('#privacy-status').textContent === 'Loading…') $('#privacy-status').textContent = '';
  });
  c.loadBlocks();
}

async function savePrivacy(change) {
  const c = ui.client;
  if (!c) return;
  const status = $('#privacy-status');
  formError($('#privacy-error'), null);
  status.textContent = 'Saving…';
  try {
    await c.savePrivacy(change);
    status.textContent = 'Saved.';
  } catch (err) {
    status.textContent = '';
    formError($('#privacy-error'), err);
    renderPrivacy(); // back to what the server holds
  }
}

export function wirePrivacy() {
  buildDialogs();
  $('#privacy-open').addEventListener('click', openPrivacy);
  $('#privacy-close').addEventListener('click', () => $('#dlg-privacy').close());
  $('#privacy-form').addEventListener('submit', (e) => e.preventDefault());
  $('#privacy-form').addEventListener('change', (e) => {
    const el = e.target;
    if (el.name === 'read_receipts') savePrivacy({ read_receipts: el.checked });
    else if (el.name === 'last_seen' || el.name === 'group_add') savePrivacy({ [el.name]: el.value });
  });

  $('#block-cancel').addEventListener('click', () => $('#dlg-block').close());
  $('#block-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const c = ui.client;
    const userId = blocking;
    if (!c || !userId) return;
    const button = $('#block-confirm');
    formError($('#block-error'), null);
    button.disabled = true;
    try {
      await c.block(userId);
      $('#dlg-block').close();
      toast(`${c.displayName(userId)} is blocked.`, 'info');
    } catch (err) {
      formError($('#block-error'), err);
    } finally {
      button.disabled = false;
    }
  });

  // The direct chat's "⋮" menu.
  const menu = $('#chat-menu');
  const pick = (fn) => () => {
    menu.open = false;
    const peer = openPeer();
    if (peer) fn(peer.user_id);
  };
  $('#chat-block').addEventListener('click', pick((id) => confirmBlock(id)));
  $('#chat-unblock').addEventListener('click', pick((id) => unblock(id)));
  $('#chat-report').addEventListener('click', pick((id) => openReport({ userId: id })));
  $('#blocked-unblock').addEventListener('click', (e) => {
    const peer = openPeer();
    if (peer) unblock(peer.user_id, e.currentTarget);
  });
  menu.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && menu.open) {
      e.stopPropagation();
      menu.open = false;
      menu.querySelector('summary').focus();
    }
  });
  document.addEventListener('click', (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
}
