// The chat details panel: members (or followers) with roles and presence, admin actions, rename,
// leave; a channel's follower list is reloaded while the panel is open.

import { $, fullTime, h, replaceChildren } from '../dom.js';
import { ui, toast, showError } from '../ui.js';
import { avatar } from './rooms.js';
import { currentRoom, renderHeader } from './conversation.js';
import { wireUserSearch } from './dialogs.js';
import { contactActions } from './privacy.js';
import { invitesSection } from './invites.js';
import { pictureSection } from './pictures.js';

export function openPanel() {
  ui.panelOpen = true;
  $('#members-panel').hidden = false;
  document.body.classList.add('panel-open');
  renderPanel();
  renderHeader();
  $('#panel-close').focus();
  refreshFollowers();
}

// Following a channel writes no entry and tells only the follower (docs/protocol.md §2), so an
// owner's follower list cannot be kept live by events: it is reloaded when the panel opens and
// every few seconds while it stays open on a channel.
export function refreshFollowers() {
  clearTimeout(ui.followersTimer);
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId || !ui.panelOpen) return;
  const room = c.rooms.get(roomId);
  if (room && room.kind === 'channel') {
    c.fetchRoom(roomId).catch(() => {});
    ui.followersTimer = setTimeout(refreshFollowers, 5000);
  }
}

export function closePanel() {
  const wasOpen = ui.panelOpen;
  ui.panelOpen = false;
  clearTimeout(ui.followersTimer);
  $('#members-panel').hidden = true;
  document.body.classList.remove('panel-open');
  if (ui.openRoomId) renderHeader();
  if (wasOpen && ui.openRoomId) $('#members-toggle').focus();
}

export const ROLE_RANK = { owner: 3, admin: 2, member: 1 };

export async function act(button, label, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (err) {
    showError(err, label);
  } finally {
    if (button) button.disabled = false;
  }
}

export function renderPanel() {
  const c = ui.client;
  const room = currentRoom();
  const body = $('#panel-body');
  if (!c || !room) return;
  const members = [...(c.members.get(room.id) || new Map()).values()]
    .sort((a, b) => (ROLE_RANK[b.role] || 0) - (ROLE_RANK[a.role] || 0) || c.displayName(a.user_id).localeCompare(c.displayName(b.user_id)));
  const myRole = room.my_role || 'member';
  const isAdmin = myRole === 'owner' || myRole === 'admin';
  const isOwner = myRole === 'owner';
  $('#panel-title').textContent = room.kind === 'direct' ? 'Contact' : room.kind === 'channel' ? 'Channel' : 'Group';
  const parts = [];

  if (room.kind === 'direct') {
    const peer = c.peer(room);
    if (peer) {
      const p = c.presence.get(peer.user_id);
      parts.push(h('div', { class: 'profile-card' },
        h('p', { class: 'profile-name', text: c.displayName(peer.user_id) }),
        h('p', { class: 'hint', text: `@${peer.username}` }),
        h('p', { class: 'hint', text: c.isOnline(peer.user_id) ? 'Online' : p && p.last_seen_at ? `Last seen ${fullTime(p.last_seen_at)}` : 'Offline' }),
        contactActions(peer)));
    }
  } else {
    // Name (renamable by admins).
    if (isAdmin) {
      const input = h('input', { id: 'rename-input', testid: 'rename-input', value: room.name || '', 'aria-label': 'Chat name', autocomplete: 'off' });
      input.value = room.name || '';
      const form = h('form', { class: 'rename-form', novalidate: true },
        h('label', { for: 'rename-input', text: 'Name' }),
        h('div', { class: 'row' }, input, h('button', { type: 'submit', testid: 'rename-submit', text: 'Rename' })));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        act(form.querySelector('button'), 'Renaming', async () => {
          await c.rename(room.id, input.value.trim());
          const current = $('#rename-input');
          if (current) delete current.dataset.dirty;
        });
      });
      parts.push(form);
    } else {
      parts.push(h('p', { class: 'profile-name', text: room.name || '' }));
    }
    parts.push(pictureSection(c, room, isAdmin));
    parts.push(h('p', { class: 'hint' }, 'Your role: ', h('b', { testid: 'my-role', text: myRole })));
    if (room.kind === 'channel') {
      parts.push(h('div', { class: 'room-id' },
        h('span', { class: 'hint', text: 'Channel id (share it so others can join): ' }),
        h('code', { testid: 'room-id', text: room.id }),
        h('button', {
          type: 'button', class: 'link', text: 'Copy',
          onclick: () => navigator.clipboard?.writeText(room.id).then(() => toast('Copied.', 'info'), () => toast('Copy failed: select the id and copy it.')),
        })));
    }
  }

  // Members.
  const items = members.map((m) => {
    const online = c.isOnline(m.user_id);
    const actions = [];
    const self = m.user_id === c.me.id;
    if (!self && room.kind !== 'direct') {
      if (isOwner && m.role !== 'owner') {
        const promote = m.role === 'member';
        actions.push(h('button', {
          type: 'button', class: 'small', testid: promote ? 'promote' : 'demote',
          text: promote ? 'Make admin' : 'Remove admin',
          onclick: (e) => act(e.currentTarget, promote ? 'Making admin' : 'Removing admin', () => c.setRole(room.id, m.user_id, promote ? 'admin' : 'member')),
        }));
      }
      if (isAdmin && (ROLE_RANK[m.role] || 0) < (ROLE_RANK[myRole] || 0) || isOwner && m.role !== 'owner') {
        actions.push(h('button', {
          type: 'button', class: 'small danger', testid: 'remove-member', text: 'Remove',
          onclick: (e) => act(e.currentTarget, 'Removing member', () => c.removeMember(room.id, m.user_id)),
        }));
      }
    }
    const av = h('span', {});
    avatar(av, c.displayName(m.user_id), m.user_id);
    return h('li', { class: 'member', testid: 'member', dataset: { userId: m.user_id, role: m.role } },
      h('span', { class: 'avatar-wrap' }, av, h('span', { class: `presence-dot${online ? ' online' : ''}`, title: online ? 'Online' : 'Offline' })),
      h('span', { class: 'member-main' },
        h('span', { class: 'member-name', testid: 'member-name', text: self ? `${c.displayName(m.user_id)} (you)` : c.displayName(m.user_id) }),
        h('span', { class: 'hint', text: `@${m.username}` })),
      m.role !== 'member' ? h('span', { class: `role ${m.role}`, testid: 'member-role', text: m.role }) : h('span', { class: 'role member', testid: 'member-role', text: 'member' }),
      actions.length ? h('span', { class: 'member-actions' }, actions) : null);
  });
  if (room.kind !== 'direct') {
    parts.push(h('h3', { text: `${members.length} ${room.kind === 'channel' ? 'followers' : 'members'}` }));
  }
  parts.push(h('ul', { class: 'member-list', testid: 'member-list' }, items));

  // Add members (admins of groups and channels).
  if (isAdmin && room.kind !== 'direct') {
    const input = h('input', { id: 'add-member-search', testid: 'add-member-search', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
    const results = h('ul', { class: 'search-results', testid: 'add-member-results' });
    const present = new Set(members.map((m) => m.user_id));
    wireUserSearch(input, results, (u) => present.has(u.id) ? null : (e) => act(e.currentTarget, 'Adding member', async () => {
      await c.addMember(room.id, u.id);
      toast(`${u.display_name || u.username} added.`, 'info');
    }), 'add-member-result');
    parts.push(h('div', { class: 'add-member' }, h('label', { for: 'add-member-search', text: 'Add a member' }), input, results));
  }

  parts.push(invitesSection(room));

  if (room.kind !== 'direct') {
    parts.push(h('button', {
      type: 'button', class: 'danger leave', testid: 'leave-room', text: room.kind === 'channel' ? 'Leave channel' : 'Leave group',
      onclick: (e) => act(e.currentTarget, 'Leaving', async () => {
        await c.removeMember(room.id, c.me.id);
      }),
    }));
  }

  // Rebuilding must not lose what the user is doing: keep typed drafts, focus and search results.
  const active = document.activeElement;
  const inPanel = active && body.contains(active);
  const focusKey = inPanel ? active.dataset.testid : null;
  const focusMember = inPanel ? active.closest('[data-user-id]')?.dataset.userId : null;
  const drafts = {};
  for (const el of body.querySelectorAll('input[data-testid]')) {
    if (el.dataset.dirty) drafts[el.dataset.testid] = { value: el.value, start: el.selectionStart, end: el.selectionEnd };
  }
  replaceChildren(body, parts);
  for (const el of body.querySelectorAll('input[data-testid]')) {
    el.addEventListener('input', () => { el.dataset.dirty = '1'; });
    const d = drafts[el.dataset.testid];
    if (!d) continue;
    el.value = d.value;
    el.dataset.dirty = '1';
    if (el.dataset.testid === 'add-member-search' && d.value) el.dispatchEvent(new Event('input'));
  }
  if (focusKey) {
    const sel = focusMember ? `[data-user-id="${CSS.escape(focusMember)}"] [data-testid="${focusKey}"]` : `[data-testid="${focusKey}"]`;
    const target = body.querySelector(sel) || $('#panel-close');
    target.focus();
    const d = drafts[focusKey];
    if (d && target.setSelectionRange && d.start !== null) target.setSelectionRange(d.start, d.end);
  }
}
