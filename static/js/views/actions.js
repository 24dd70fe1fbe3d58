// The "⋯" menu of a message and what it leads to: react (a row of emoji), reply, edit, delete for
// everyone (after a confirmation dialog), delete for me, forward (a dialog to choose the chat).
// One menu element (#msg-menu) is rebuilt for the message it is opened on; it works with a mouse,
// a finger, and the keyboard (arrows move, Esc closes and gives focus back to the "⋯" button).

import { $, h, replaceChildren } from '../dom.js';
import { ui, toast, showError, formError } from '../ui.js';
import { canDeleteForAll, currentRoom, quoteText } from './conversation.js';
import { startEdit, startReply } from './composer.js';
import { canReport, openReport } from './report.js';

export const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

let trigger = null; // the "⋯" button the menu was opened from

export function openActions(button, seq) {
  const c = ui.client;
  const roomId = ui.openRoomId;
  const m = c && roomId ? c.roomMessages(roomId).get(seq) : null;
  if (!m) return;
  if (trigger === button && !$('#msg-menu').hidden) {
    closeActions();
    return;
  }
  closeActions(false);
  const room = currentRoom();
  const own = m.sender_id === c.me.id;
  const text = m.kind === 'text' && !m.deleted_at;
  const canPost = !(room && room.closed_at) && !(room && room.kind === 'channel' && room.my_role === 'member');
  const item = (label, testid, fn, cls = '') => h('button', {
    type: 'button', role: 'menuitem', class: cls, testid, tabindex: '-1', text: label,
    onclick: () => {
      closeActions();
      fn();
    },
  });
  const items = [];
  if (text && !(room && room.closed_at)) {
    items.push(h('div', { role: 'group', class: 'react-row', 'aria-label': 'React' },
      REACTIONS.map((emoji) => {
        const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.me);
        return h('button', {
          type: 'button', role: 'menuitem', class: `react-option${mine ? ' mine' : ''}`, testid: 'react-option',
          tabindex: '-1', dataset: { emoji }, text: emoji,
          'aria-label': mine ? `Remove your ${emoji}` : `React with ${emoji}`,
          onclick: () => {
            closeActions();
            react(roomId, seq, emoji);
          },
        });
      })));
  }
  if (text && canPost) items.push(item('Reply', 'menu-reply', () => startReply(seq)));
  if (text && own && canPost) items.push(item('Edit', 'menu-edit', () => startEdit(seq)));
  if (text) items.push(item('Forward…', 'menu-forward', () => showForward(m)));
  if (canDeleteForAll(c, room, m)) items.push(item('Delete for everyone…', 'menu-delete-all', () => confirmDelete(m), 'danger'));
  items.push(item('Delete for me', 'menu-delete-me', () => hide(roomId, seq), 'danger'));
  if (canReport(c, m)) items.push(item('Report…', 'menu-report', () => openReport({ message: m }), 'danger'));

  const menu = $('#msg-menu');
  replaceChildren(menu, items);
  menu.hidden = false;
  trigger = button;
  ui.menuSeq = seq; // so a re-render of the list keeps aria-expanded on the "⋯" button
  button.setAttribute('aria-expanded', 'true');
  // Next to the button, kept inside the window.
  const r = button.getBoundingClientRect();
  const w = menu.offsetWidth;
  const hgt = menu.offsetHeight;
  const left = Math.max(8, Math.min(window.innerWidth - w - 8, r.right - w));
  const top = r.bottom + hgt + 8 > window.innerHeight ? Math.max(8, r.top - hgt - 4) : r.bottom + 4;
  menu.style.left = `${left}px`;
  menu.style.top = `${top}px`;
  menuItems()[0]?.focus();
}

function menuItems() {
  return [...$('#msg-menu').querySelectorAll('[role="menuitem"]')];
}

/** Closes the menu; `refocus` gives the focus back to its "⋯" button. */
export function closeActions(refocus = true) {
  const menu = $('#msg-menu');
  if (menu.hidden) return;
  menu.hidden = true;
  ui.menuSeq = null;
  replaceChildren(menu);
  if (trigger) {
    trigger.setAttribute('aria-expanded', 'false');
    if (refocus && trigger.isConnected) trigger.focus();
  }
  trigger = null;
}

async function react(roomId, seq, emoji) {
  try {
    await ui.client.react(roomId, seq, emoji);
  } catch (err) {
    showError(err, 'Reacting');
  }
}

async function hide(roomId, seq) {
  try {
    await ui.client.hideMessage(roomId, seq);
    toast('Deleted for you. The others still see it.', 'info');
    $('#composer-input').focus();
  } catch (err) {
    showError(err, 'Deleting for you');
  }
}

let deleting = null; // the message the confirmation dialog is about

function confirmDelete(m) {
  deleting = m;
  $('#delete-quote').textContent = quoteText(ui.client, m);
  formError($('#delete-error'), null);
  $('#dlg-delete').showModal();
  $('#delete-cancel').focus();
}

let forwarding = null; // the message the forward dialog is about

function showForward(m) {
  const c = ui.client;
  forwarding = m;
  $('#forward-quote').textContent = m.body;
  formError($('#forward-error'), null);
  const rooms = c.sortedRooms().filter((r) => r.id !== m.room_id && !(r.kind === 'channel' && r.my_role === 'member'));
  replaceChildren($('#forward-rooms'), rooms.length
    ? rooms.map((r) => h('li', {}, h('button', {
      type: 'button', class: 'user-result', testid: 'forward-room', dataset: { roomId: r.id },
      onclick: (e) => forward(e.currentTarget, r),
    },
    h('span', { class: 'user-result-name', text: c.roomTitle(r) }),
    h('span', { class: 'hint', text: r.kind === 'direct' ? 'direct chat' : r.kind }))))
    : [h('li', { class: 'hint', text: 'No other chat to forward to.' })]);
  $('#dlg-forward').showModal();
}

async function forward(button, room) {
  const c = ui.client;
  const m = forwarding;
  if (!m) return;
  button.disabled = true;
  try {
    await c.forward(m.room_id, m.seq, room.id);
    $('#dlg-forward').close();
    toast(`Forwarded to ${c.roomTitle(room)}.`, 'info');
  } catch (err) {
    formError($('#forward-error'), err);
    button.disabled = false;
  }
}

export function wireActions() {
  const menu = $('#msg-menu');
  menu.addEventListener('keydown', (e) => {
    const items = menuItems();
    const i = items.indexOf(document.activeElement);
    const go = (j) => {
      e.preventDefault();
      items[(j + items.length) % items.length].focus();
    };
    if (e.key === 'ArrowDown' || e.key === 'ArrowRight') go(i + 1);
    else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') go(i - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(items.length - 1);
    else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closeActions();
    } else if (e.key === 'Tab') closeActions(false);
  });
  document.addEventListener('pointerdown', (e) => {
    if (!menu.hidden && !menu.contains(e.target) && e.target !== trigger) closeActions(false);
  });
  $('#messages').addEventListener('scroll', () => closeActions(false));

  $('#delete-cancel').addEventListener('click', () => $('#dlg-delete').close());
  $('#delete-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const m = deleting;
    const button = $('#delete-confirm');
    if (!m) return;
    formError($('#delete-error'), null);
    button.disabled = true;
    try {
      await ui.client.deleteMessage(m.room_id, m.seq);
      $('#dlg-delete').close();
      $('#composer-input').focus();
    } catch (err) {
      formError($('#delete-error'), err);
    } finally {
      button.disabled = false;
    }
  });
}
