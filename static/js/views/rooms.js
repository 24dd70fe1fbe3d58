// The room list and the signed-in user's own header.

import { $, hue, initials, shortTime } from '../dom.js';
import { patch, v } from '../view.js';
import { ui } from '../ui.js';
import { openRoom, quoteText, renderHeader, systemText } from './conversation.js';
import { renderComposerState } from './composer.js';
import { muteLabel } from './notifications.js';
import { attachmentsSummary } from './attachments.js';
import { avatarContent, paintAvatar, roomPicture } from './pictures.js';

export function renderMe() {
  const c = ui.client;
  if (!c) return;
  const name = c.me.display_name || c.me.username;
  $('#me-name').textContent = name;
  paintAvatar($('#me-avatar'), name, c.me.id, c.me.avatar);
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
  if (m.deleted_at || m.hidden) return quoteText(c, m);
  const who = m.sender_id === c.me.id ? 'You: ' : room.kind === 'direct' ? '' : `${c.displayName(m.sender_id)}: `;
  return who + (m.body || attachmentsSummary(m));
}

export function renderRooms() {
  const c = ui.client;
  if (!c) return;
  const list = $('#room-list');
  const rooms = c.sortedRooms();
  // Declarative (view.js): rows are kept by room id, so focus and hover survive every update.
  patch(list, rooms.map((room) => {
    const title = c.roomTitle(room);
    const peer = room.kind === 'direct' ? c.peer(room) : null;
    const online = peer ? c.isOnline(peer.user_id) : false;
    const unread = room.unread_count || 0;
    return v('li', { key: room.id },
      v('button', {
        type: 'button',
        class: `room-item${room.id === ui.openRoomId ? ' active' : ''}${unread ? ' unread' : ''}`,
        testid: 'room-item',
        dataset: { roomId: room.id, kind: room.kind },
        'aria-current': room.id === ui.openRoomId ? 'true' : null,
        onclick: onRoomClick,
      },
      v('span', { class: 'avatar-wrap' },
        v('span', { class: `avatar c${hue(room.id)}`, testid: 'room-avatar', 'aria-hidden': 'true' }, avatarContent(title, roomPicture(c, room))),
        peer ? v('span', { class: `presence-dot${online ? ' online' : ''}`, testid: 'presence-dot', dataset: { online: String(online) }, title: online ? 'Online' : 'Offline' }) : null),
      v('span', { class: 'room-item-main' },
        v('span', { class: 'room-item-top' },
          v('span', { class: 'room-item-name', testid: 'room-name', text: title }),
          c.isMuted(room.id) ? v('img', { class: 'muted-icon', testid: 'muted-icon', src: '/img/bell-off.svg', alt: 'Muted', title: muteLabel(c, room.id), width: '16', height: '16' }) : null,
          room.kind !== 'direct' ? v('span', { class: 'kind-tag', text: room.kind }) : null,
          v('span', { class: 'room-item-time', text: shortTime(room.last_message?.created_at) })),
        v('span', { class: 'room-item-bottom' },
          v('span', { class: `room-item-preview${c.typingUsers(room.id).length ? ' typing' : ''}`, testid: 'room-preview', text: roomPreview(c, room) }),
          unread ? v('span', { class: 'badge', testid: 'unread-badge', 'aria-label': `${unread} unread`, text: unread > 99 ? '99+' : String(unread) }) : null))));
  }));
  $('#room-list-empty').hidden = rooms.length > 0;
  const total = rooms.reduce((n, r) => n + (r.unread_count || 0), 0);
  document.title = total ? `(${total}) Missive` : 'Missive';
  if (ui.openRoomId && !c.rooms.has(ui.openRoomId)) {
    // Left, removed or not yet known: keep the view until room:removed says otherwise.
  } else if (ui.openRoomId) {
    renderHeader();
    renderComposerState();
  }
}

function onRoomClick(e) {
  openRoom(e.currentTarget.dataset.roomId);
}
