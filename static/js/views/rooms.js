// The room list and the signed-in user's own header.

import { $, h, hue, initials, replaceChildren, shortTime } from '../dom.js';
import { ui } from '../ui.js';
import { openRoom, renderHeader, systemText } from './conversation.js';
import { renderComposerState } from './composer.js';

export function renderMe() {
  const c = ui.client;
  if (!c) return;
  const name = c.me.display_name || c.me.username;
  $('#me-name').textContent = name;
  avatar($('#me-avatar'), name, c.me.id);
  $('#me-button').title = `@${c.me.username}`;
}

export function avatar(el, name, id) {
  el.className = `avatar c${hue(id)}`;
  el.textContent = initials(name);
  el.setAttribute('aria-hidden', 'true');
}

export function roomPreview(c, room) {
  const typing = c.typingUsers(room.id);
  if (typing.length) {
    return room.kind === 'direct' ? 'typing…' : `${c.displayName(typing[0])} is typing…`;
  }
  const m = room.last_message;
  if (!m) return room.kind === 'channel' ? 'Channel' : 'No messages yet';
  if (m.kind === 'system') return systemText(c, m);
  const who = m.sender_id === c.me.id ? 'You: ' : room.kind === 'direct' ? '' : `${c.displayName(m.sender_id)}: `;
  return who + m.body;
}

export function renderRooms() {
  const c = ui.client;
  if (!c) return;
  const list = $('#room-list');
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest('#room-list [data-room-id]')?.dataset.roomId;
  const rooms = c.sortedRooms();
  const items = rooms.map((room) => {
    const title = c.roomTitle(room);
    const peer = room.kind === 'direct' ? c.peer(room) : null;
    const online = peer ? c.isOnline(peer.user_id) : false;
    const unread = room.unread_count || 0;
    const av = h('span', {});
    avatar(av, title, room.id);
    const badge = unread ? h('span', { class: 'badge', testid: 'unread-badge', 'aria-label': `${unread} unread`, text: unread > 99 ? '99+' : String(unread) }) : null;
    const button = h('button', {
      type: 'button',
      class: `room-item${room.id === ui.openRoomId ? ' active' : ''}${unread ? ' unread' : ''}`,
      testid: 'room-item',
      dataset: { roomId: room.id, kind: room.kind },
      'aria-current': room.id === ui.openRoomId ? 'true' : null,
      onclick: () => openRoom(room.id),
    },
    h('span', { class: 'avatar-wrap' }, av,
      peer ? h('span', { class: `presence-dot${online ? ' online' : ''}`, testid: 'presence-dot', dataset: { online: String(online) }, title: online ? 'Online' : 'Offline' }) : null),
    h('span', { class: 'room-item-main' },
      h('span', { class: 'room-item-top' },
        h('span', { class: 'room-item-name', testid: 'room-name', text: title }),
        room.kind !== 'direct' ? h('span', { class: 'kind-tag', text: room.kind }) : null,
        h('span', { class: 'room-item-time', text: shortTime(room.last_message?.created_at) })),
      h('span', { class: 'room-item-bottom' },
        h('span', { class: `room-item-preview${c.typingUsers(room.id).length ? ' typing' : ''}`, testid: 'room-preview', text: roomPreview(c, room) }),
        badge)));
    return h('li', {}, button);
  });
  replaceChildren(list, items);
  $('#room-list-empty').hidden = rooms.length > 0;
  if (focusedId) list.querySelector(`[data-room-id="${CSS.escape(focusedId)}"]`)?.focus();
  const total = rooms.reduce((n, r) => n + (r.unread_count || 0), 0);
  document.title = total ? `(${total}) Missive` : 'Missive';
  if (ui.openRoomId && !c.rooms.has(ui.openRoomId)) {
    // Left, removed or not yet known: keep the view until room:removed says otherwise.
  } else if (ui.openRoomId) {
    renderHeader();
    renderComposerState();
  }
}
