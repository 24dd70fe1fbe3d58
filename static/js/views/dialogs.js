// Dialogs (new chat, new group or channel, join channel, profile, message info) and the user
// search they share with the details panel.

import { api, describeError, updateSessionUser } from '../api.js';
import { $, debounce, h, replaceChildren } from '../dom.js';
import { ui, formError } from '../ui.js';
import { renderMe, renderRooms } from './rooms.js';
import { openRoom } from './conversation.js';

export async function showReceipts(m) {
  const c = ui.client;
  const dlg = $('#dlg-receipts');
  const body = $('#receipts-body');
  replaceChildren(body, h('p', { class: 'hint', text: 'Loading…' }));
  dlg.showModal();
  try {
    const r = await c.receipts(m.room_id, m.seq);
    const section = (title, ids, testid) => h('section', { class: 'receipt-section', testid },
      h('h3', { text: `${title} (${ids.length})` }),
      ids.length ? h('ul', {}, ids.map((id) => h('li', { text: c.displayName(id) }))) : h('p', { class: 'hint', text: 'Nobody' }));
    replaceChildren(body,
      h('blockquote', { class: 'receipt-quote', text: m.body }),
      section('Read by', r.read || [], 'receipts-read'),
      section('Delivered to', r.delivered || [], 'receipts-delivered'),
      section('Not yet delivered', r.pending || [], 'receipts-pending'));
  } catch (err) {
    replaceChildren(body, h('p', { class: 'form-error', role: 'alert', text: describeError(err) }));
  }
}

/**
 * Wires a username search box. `actionFor(user)` returns a click handler, or null to show the
 * user as unavailable.
 */
export function wireUserSearch(input, results, actionFor, testid = 'user-result', errorEl = null) {
  let seq = 0;
  const run = debounce(async () => {
    const q = input.value.trim().toLowerCase();
    const mine = ++seq;
    if (!q) {
      replaceChildren(results);
      return;
    }
    try {
      const users = await ui.client.searchUsers(q);
      if (mine !== seq) return;
      if (errorEl) formError(errorEl, null);
      replaceChildren(results, users.length
        ? users.map((u) => {
          const onclick = actionFor(u);
          return h('li', {}, h('button', {
            type: 'button', class: 'user-result', testid, dataset: { username: u.username, userId: u.id },
            disabled: !onclick, onclick: onclick || undefined,
          },
          h('span', { class: 'user-result-name', text: u.display_name || u.username }),
          h('span', { class: 'hint', text: `@${u.username}` })));
        })
        : [h('li', { class: 'hint', text: 'No users found.' })]);
    } catch (err) {
      if (mine !== seq) return;
      if (errorEl) formError(errorEl, err);
      else replaceChildren(results, h('li', { class: 'form-error', text: describeError(err) }));
    }
  }, 200);
  input.addEventListener('input', run);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      results.querySelector('button:not([disabled])')?.click();
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      results.querySelector('button:not([disabled])')?.focus();
    }
  });
  results.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...results.querySelectorAll('button:not([disabled])')];
    const i = buttons.indexOf(document.activeElement);
    e.preventDefault();
    if (e.key === 'ArrowDown' && i < buttons.length - 1) buttons[i + 1].focus();
    else if (e.key === 'ArrowUp') (i > 0 ? buttons[i - 1] : input).focus();
  });
}

export const groupPicks = new Map(); // user_id -> user

export function renderChips() {
  replaceChildren($('#new-group-chips'), [...groupPicks.values()].map((u) => h('li', { class: 'chip', testid: 'chosen-member', dataset: { username: u.username } },
    h('span', { text: u.display_name || u.username }),
    h('button', {
      type: 'button', class: 'icon', 'aria-label': `Remove ${u.username}`, text: '✕',
      onclick: () => {
        groupPicks.delete(u.id);
        renderChips();
        $('#new-group-search').focus();
      },
    }))));
}

export function wireDialogs() {
  // New direct chat.
  const ncInput = $('#new-chat-search');
  wireUserSearch(ncInput, $('#new-chat-results'), (u) => async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const room = await ui.client.openDirect(u.id);
      $('#dlg-new-chat').close();
      openRoom(room.id);
    } catch (err) {
      formError($('#new-chat-error'), err);
      button.disabled = false;
    }
  }, 'user-result', $('#new-chat-error'));

  // New group / channel.
  wireUserSearch($('#new-group-search'), $('#new-group-results'), (u) => groupPicks.has(u.id) ? null : () => {
    groupPicks.set(u.id, u);
    renderChips();
    $('#new-group-search').value = '';
    replaceChildren($('#new-group-results'));
    $('#new-group-search').focus();
  }, 'group-member-result', $('#new-group-error'));
  $('#new-group-cancel').addEventListener('click', () => $('#dlg-new-group').close());
  $('#new-group-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const kind = new FormData(e.currentTarget).get('kind') || 'group';
    const name = $('#new-group-name').value.trim();
    const button = e.submitter || e.currentTarget.querySelector('[type=submit]');
    formError($('#new-group-error'), null);
    button.disabled = true;
    try {
      const description = kind === 'channel' ? $('#new-group-description').value.trim() : '';
      const room = await ui.client.createRoom(kind, name, [...groupPicks.keys()], description);
      $('#dlg-new-group').close();
      openRoom(room.id);
    } catch (err) {
      formError($('#new-group-error'), err);
    } finally {
      button.disabled = false;
    }
  });

  // Join a channel by id.
  $('#join-cancel').addEventListener('click', () => $('#dlg-join').close());
  $('#join-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = $('#join-id').value.trim();
    const button = e.submitter || e.currentTarget.querySelector('[type=submit]');
    formError($('#join-error'), null);
    if (!id) {
      formError($('#join-error'), 'invalid: enter a channel id.');
      return;
    }
    button.disabled = true;
    try {
      await ui.client.joinChannel(id);
      $('#dlg-join').close();
      openRoom(id);
    } catch (err) {
      formError($('#join-error'), err);
    } finally {
      button.disabled = false;
    }
  });

  // Profile.
  $('#profile-cancel').addEventListener('click', () => $('#dlg-profile').close());
  $('#profile-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = e.submitter || e.currentTarget.querySelector('[type=submit]');
    formError($('#profile-error'), null);
    button.disabled = true;
    try {
      const me = await api('PATCH', '/api/me', { display_name: $('#profile-display-name').value.trim() });
      ui.client.me = me;
      ui.client.users.set(me.id, me);
      updateSessionUser(me);
      renderMe();
      renderRooms();
      $('#dlg-profile').close();
    } catch (err) {
      formError($('#profile-error'), err);
    } finally {
      button.disabled = false;
    }
  });
}

export function openDialog(id, setup) {
  const dlg = $(id);
  setup();
  dlg.showModal();
}
