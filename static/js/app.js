// The Missive web client: screens, rendering and user actions. Protocol work lives in
// client.js (socket, cursors, outbox) and api.js (REST, tokens); this module only draws state
// and turns clicks and keys into calls. All user-supplied text is set with textContent (dom.js).

import { adoptSession, api, clearSession, describeError, getSession, onSessionChange, updateSessionUser } from './api.js';
import { ChatClient } from './client.js';
import { patch, v } from './view.js';
import { $, bubbleTime, debounce, fullTime, h, hue, initials, replaceChildren, shortTime } from './dom.js';

const ui = {
  client: null,
  openRoomId: null,
  replyTo: null, // seq
  panelOpen: false,
  unreadAfter: null, // read_seq when the open chat was opened with unread messages: the divider goes after it
  quoteCache: new Map(), // `${room}:${seq}` -> Message | 'loading' | null
  typingSent: 0,
  typingStop: null,
  registering: false,
  drafts: new Map(), // room_id -> the text typed in that chat and not sent
  followersTimer: null,
};

const narrow = window.matchMedia('(max-width: 760px)');

// ------------------------------------------------------------------ boot

function boot() {
  wireAuth();
  wireChat();
  wireDialogs();
  onSessionChange((s, { external }) => {
    if (!s && ui.client) endChat('You have been logged out.');
    else if (s && !ui.client && external) startChat(s.user);
  });
  const s = getSession();
  if (s) startChat(s.user);
  else showAuth();
}

// ------------------------------------------------------------------ toasts and status

function toast(text, kind = 'error') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', testid: kind === 'error' ? 'error-toast' : 'info-toast' },
    h('span', { class: 'toast-text', text }),
    h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', text: '✕', onclick: () => el.remove() }));
  $('#toasts').appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 9000 : 4000);
}

function showError(err, context) {
  toast(context ? `${context} failed — ${describeError(err)}` : describeError(err));
}

function formError(el, err) {
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.hidden = false;
  el.textContent = typeof err === 'string' ? err : describeError(err);
}

const STATUS_TEXT = {
  connecting: 'Connecting…',
  syncing: 'Catching up…',
  reconnecting: 'Disconnected — reconnecting…',
  offline: 'Offline — messages you send will go out when you reconnect',
  online: 'Connected',
};

function renderStatus() {
  const el = $('#connection-status');
  const status = ui.client ? ui.client.status : 'connecting';
  el.dataset.state = status;
  el.textContent = STATUS_TEXT[status] || status;
  el.hidden = !ui.client || status === 'online';
}

// ------------------------------------------------------------------ auth screen

function showAuth(message) {
  $('#chat-screen').hidden = true;
  $('#auth-screen').hidden = false;
  document.title = 'Missive';
  formError($('#auth-error'), message || null);
  setAuthMode(ui.registering);
  $('#auth-username').focus();
}

function setAuthMode(registering) {
  ui.registering = registering;
  $('#display-name-row').hidden = !registering;
  $('#auth-lead').textContent = registering ? 'Create your account' : 'Log in to your account';
  $('#auth-submit').textContent = registering ? 'Create account' : 'Log in';
  $('#auth-switch-text').textContent = registering ? 'Already have an account?' : 'New here?';
  $('#auth-toggle').textContent = registering ? 'Log in' : 'Create an account';
  $('#auth-password').autocomplete = registering ? 'new-password' : 'current-password';
}

function wireAuth() {
  $('#auth-toggle').addEventListener('click', () => {
    setAuthMode(!ui.registering);
    formError($('#auth-error'), null);
  });
  $('#auth-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = $('#auth-username').value.trim();
    const password = $('#auth-password').value;
    const displayName = $('#auth-display-name').value.trim();
    const button = $('#auth-submit');
    formError($('#auth-error'), null);
    button.disabled = true;
    try {
      const body = { username, password };
      if (ui.registering && displayName) body.display_name = displayName;
      const session = await api('POST', ui.registering ? '/api/auth/register' : '/api/auth/login', body, { auth: false });
      adoptSession(session);
      $('#auth-password').value = '';
      startChat(session.user);
    } catch (err) {
      formError($('#auth-error'), err);
    } finally {
      button.disabled = false;
    }
  });
}

// ------------------------------------------------------------------ chat lifecycle

async function startChat(user) {
  if (ui.client) return;
  $('#auth-screen').hidden = true;
  $('#chat-screen').hidden = false;
  const client = new ChatClient(user);
  ui.client = client;
  client.addEventListener('rooms', () => renderRooms());
  client.addEventListener('messages', (e) => {
    if (e.detail.room_id === ui.openRoomId) renderMessages({ prepended: e.detail.prepended });
  });
  client.addEventListener('members', (e) => {
    if (e.detail.room_id === ui.openRoomId) {
      renderHeader();
      renderMessages();
      renderComposerState();
      if (ui.panelOpen) renderPanel();
    }
    renderRooms();
  });
  client.addEventListener('typing', (e) => {
    if (e.detail.room_id === ui.openRoomId) renderTyping();
    renderRooms();
  });
  client.addEventListener('presence', () => {
    renderRooms();
    if (ui.openRoomId) {
      renderHeader();
      if (ui.panelOpen) renderPanel();
    }
  });
  client.addEventListener('users', () => {
    renderMe();
    renderRooms();
    if (ui.openRoomId) {
      renderHeader();
      renderMessages();
      if (ui.panelOpen) renderPanel();
    }
  });
  client.addEventListener('status', () => {
    renderStatus();
    renderRooms(); // presence dots depend on our own connection
  });
  client.addEventListener('error', (e) => showError(e.detail.error, e.detail.context));
  client.addEventListener('removed', (e) => {
    if (e.detail.room_id === ui.openRoomId) {
      closeRoom();
      toast('You are no longer a member of that chat.', 'info');
    }
  });
  client.addEventListener('logout', (e) => endChat(e.detail.reason));
  renderMe();
  renderRooms();
  renderStatus();
  showRoomView(false);
  // Check the stored session is still good (refreshing it if needed) before going on.
  try {
    const me = await api('GET', '/api/me');
    if (ui.client !== client) return;
    client.me = me;
    client.users.set(me.id, me);
    updateSessionUser(me);
    renderMe();
  } catch (err) {
    if (ui.client !== client) return;
    if (err.status === 401) {
      endChat('Your session has expired. Please log in again.');
      return;
    }
    // Offline or server down: carry on with what we have; the socket will retry.
  }
  client.start();
}

function endChat(message) {
  const client = ui.client;
  if (!client) return;
  ui.client = null;
  client.stop();
  client.wipe();
  ui.openRoomId = null;
  ui.quoteCache.clear();
  ui.drafts.clear();
  $('#composer-input').value = '';
  closePanel();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  if (getSession()) clearSession();
  replaceChildren($('#room-list'));
  replaceChildren($('#messages'));
  renderStatus();
  ui.registering = false;
  showAuth(message);
}

async function logout(everywhere) {
  const s = getSession();
  $('#account-menu').open = false;
  try {
    if (everywhere) await api('POST', '/api/auth/logout-all');
    else if (s) await api('POST', '/api/auth/logout', { refresh_token: s.refresh_token }, { auth: false });
  } catch (err) {
    if (everywhere) {
      showError(err, 'Logging out everywhere');
      return;
    }
    // A plain logout always clears this device, even if the server cannot be told.
  }
  endChat(everywhere ? 'Logged out on every device.' : null);
}

function renderMe() {
  const c = ui.client;
  if (!c) return;
  const name = c.me.display_name || c.me.username;
  $('#me-name').textContent = name;
  avatar($('#me-avatar'), name, c.me.id);
  $('#me-button').title = `@${c.me.username}`;
}

function avatar(el, name, id) {
  el.className = `avatar c${hue(id)}`;
  el.textContent = initials(name);
  el.setAttribute('aria-hidden', 'true');
}

// ------------------------------------------------------------------ room list

function roomPreview(c, room) {
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

function renderRooms() {
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

// ------------------------------------------------------------------ conversation

function showRoomView(open) {
  $('#no-room').hidden = open;
  $('#room-view').hidden = !open;
  document.body.classList.toggle('room-open', open);
}

async function openRoom(roomId) {
  const c = ui.client;
  if (!c) return;
  if (ui.openRoomId !== roomId) {
    stopTyping();
    saveDraft();
    ui.openRoomId = roomId;
    restoreDraft();
    const opening = c.rooms.get(roomId);
    ui.unreadAfter = opening && opening.unread_count > 0 ? opening.read_seq || 0 : null;
    c.openRoomId = roomId;
    ui.replyTo = null;
      replaceChildren($('#messages'));
    renderReply();
  }
  showRoomView(true);
  renderRooms();
  renderHeader();
  renderTyping();
  renderComposerState();
  renderMessages();
  if (ui.panelOpen) renderPanel();
  $('#composer-input').focus();
  try {
    await Promise.all([c.fetchRoom(roomId), c.loadLatest(roomId)]);
  } catch (err) {
    showError(err, 'Opening the chat');
    if (err.code === 'not_found') c.dropRoom(roomId);
    return;
  }
  if (ui.openRoomId !== roomId) return;
  renderMessages({ toBottom: true });
  c.markRead(roomId);
}

function closeRoom() {
  stopTyping();
  saveDraft();
  ui.openRoomId = null;
  ui.unreadAfter = null;
  restoreDraft();
  if (ui.client) ui.client.openRoomId = null;
  replaceChildren($('#messages'));
  closePanel();
  showRoomView(false);
  renderRooms();
  $('#room-list .room-item')?.focus();
}

function currentRoom() {
  return ui.client && ui.openRoomId ? ui.client.rooms.get(ui.openRoomId) : null;
}

function renderHeader() {
  const c = ui.client;
  const room = currentRoom();
  if (!c || !room) return;
  const title = c.roomTitle(room);
  $('#room-name').textContent = title;
  avatar($('#room-avatar'), title, room.id);
  let sub = '';
  if (room.kind === 'direct') {
    const peer = c.peer(room);
    if (peer) {
      const p = c.presence.get(peer.user_id);
      const connected = c.status === 'online' || c.status === 'syncing';
      if (c.isOnline(peer.user_id)) sub = 'online';
      else if (connected && p && p.last_seen_at) sub = `last seen ${fullTime(p.last_seen_at)}`;
      else sub = `@${peer.username || c.users.get(peer.user_id)?.username || ''}`;
    }
  } else {
    const n = room.members_count ?? c.members.get(room.id)?.size ?? 0;
    sub = `${room.kind === 'channel' ? 'Channel' : 'Group'} · ${n} ${n === 1 ? 'member' : room.kind === 'channel' ? 'followers' : 'members'}`;
  }
  $('#room-sub').textContent = sub;
  $('#members-toggle').setAttribute('aria-expanded', String(ui.panelOpen));
}

function renderTyping() {
  const c = ui.client;
  const el = $('#typing-indicator');
  const ids = c && ui.openRoomId ? c.typingUsers(ui.openRoomId) : [];
  if (!ids.length) {
    el.hidden = true;
    el.textContent = '';
    $('#room-sub').hidden = false;
    return;
  }
  const names = ids.map((id) => c.displayName(id));
  el.textContent = names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
  el.hidden = false;
  $('#room-sub').hidden = true;
}

function renderComposerState() {
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

function systemText(c, m) {
  let d;
  try {
    d = JSON.parse(m.body);
  } catch {
    return m.body;
  }
  if (!d || typeof d !== 'object') return String(m.body);
  const actor = c.displayName(m.sender_id);
  const target = d.user_id ? c.displayName(d.user_id) : '';
  switch (d.event) {
    case 'member_joined':
      return d.user_id && d.user_id !== m.sender_id ? `${actor} added ${target}` : `${target || actor} joined`;
    case 'member_left':
      return `${target || actor} left`;
    case 'member_removed':
      return `${actor} removed ${target}`;
    case 'room_renamed':
      return `${actor} renamed the chat to “${d.name ?? d.new_name ?? ''}”`;
    case 'role_changed':
      return `${actor} made ${target} ${d.role === 'admin' ? 'an admin' : d.role === 'member' ? 'a member' : d.role || 'something else'}`;
    case 'owner_changed':
      return `${target} is now the owner`;
    case 'room_created':
      return `${actor} created the chat`;
    default:
      return String(d.event || 'update');
  }
}

const TICK = { pending: '', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };
const TICK_LABEL = { pending: 'Waiting to send', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' };

function quoteFor(c, roomId, seq) {
  const held = c.roomMessages(roomId).get(seq);
  if (held) return held;
  const key = `${roomId}:${seq}`;
  const cached = ui.quoteCache.get(key);
  if (cached !== undefined) return cached === 'loading' ? null : cached;
  ui.quoteCache.set(key, 'loading');
  c.fetchMessage(roomId, seq)
    .then((m) => {
      ui.quoteCache.set(key, m);
      if (roomId === ui.openRoomId) renderMessages();
    })
    .catch(() => ui.quoteCache.set(key, null));
  return null;
}

function quoteText(c, m) {
  return m.kind === 'system' ? systemText(c, m) : m.body;
}

/** The description of one message (see view.js); pending ones come from the outbox. */
function messageView(c, room, m, pending) {
  const own = pending || m.sender_id === c.me.id;
  if (!pending && m.kind === 'system') {
    return v('li', { key: `s${m.seq}`, class: 'msg system', testid: 'system-message', dataset: { seq: m.seq } },
      v('span', { class: 'system-text', text: systemText(c, m) }));
  }
  const children = [];
  if (!own && room && room.kind !== 'direct') {
    children.push(v('span', { class: `sender c${hue(m.sender_id)}`, testid: 'message-sender', text: c.displayName(m.sender_id) }));
  }
  if (m.reply_to !== null && m.reply_to !== undefined) {
    const q = quoteFor(c, m.room_id, m.reply_to);
    children.push(v('button', {
      type: 'button', class: 'quote', testid: 'reply-quote', dataset: { replyTo: m.reply_to },
      title: 'Go to the quoted message',
      onclick: onQuoteClick,
    },
    v('span', { class: 'quote-name', text: q ? c.displayName(q.sender_id) : `Message #${m.reply_to}` }),
    v('span', { class: 'quote-body', text: q ? quoteText(c, q) : '…' })));
  }
  children.push(v('div', { class: 'body', testid: 'message-body', text: m.body }));
  let state;
  if (pending) state = m.error ? 'failed' : 'pending';
  else if (own) state = c.tickState(m);
  const meta = [v('time', { datetime: m.created_at, title: fullTime(m.created_at), text: bubbleTime(m.created_at) })];
  if (own) {
    const label = TICK_LABEL[state];
    const counts = !pending && room && room.kind === 'group' ? c.tickCounts(m) : null;
    const title = counts ? `${label} · read by ${counts.read} of ${counts.total}, delivered to ${counts.delivered}` : label;
    if (!pending && room && room.kind === 'group') {
      meta.push(v('button', { type: 'button', class: `tick ${state} tick-button`, testid: 'tick', dataset: { state, seq: m.seq }, title, 'aria-label': title, text: TICK[state], onclick: onTickClick }));
    } else meta.push(v('span', { class: `tick ${state}`, testid: 'tick', dataset: { state }, title, role: 'img', 'aria-label': title, text: TICK[state] }));
  }
  children.push(v('div', { class: 'meta' }, meta));
  if (pending && m.error) {
    children.push(v('div', { class: 'send-error', testid: 'send-error', role: 'alert' },
      v('span', { text: `${m.error.code}: ${m.error.message}` }),
      v('button', { type: 'button', class: 'link', testid: 'retry-send', text: 'Retry', dataset: { clientId: m.client_id }, onclick: onRetryClick }),
      v('button', { type: 'button', class: 'link', testid: 'discard-send', text: 'Discard', dataset: { clientId: m.client_id }, onclick: onDiscardClick })));
  }
  const canReply = !pending && !(room && room.kind === 'channel' && room.my_role === 'member');
  return v('li', {
    key: pending ? `p${m.client_id}` : `s${m.seq}`,
    class: `msg ${own ? 'own' : 'other'}${pending ? ' pending' : ''}`,
    testid: 'message',
    dataset: pending ? { clientId: m.client_id, pending: 'true' } : { seq: m.seq, sender: m.sender_id, clientId: m.client_id || '', canReply: canReply ? 'true' : 'false' },
  },
  v('div', { class: 'bubble' }, children),
  canReply ? v('button', { type: 'button', class: 'msg-action', testid: 'reply-button', 'aria-label': 'Reply', title: 'Reply (or long-press the message)', text: '↩', dataset: { seq: m.seq }, onclick: onReplyClick }) : null);
}

// Stable handlers (the view layer re-binds a listener only when it changes); each reads what it
// needs from the element's data attributes.
function onQuoteClick(e) {
  jumpTo(Number(e.currentTarget.dataset.replyTo));
}
function onTickClick(e) {
  const seq = Number(e.currentTarget.dataset.seq);
  const m = ui.client && ui.client.roomMessages(ui.openRoomId).get(seq);
  if (m) showReceipts(m);
}
function onRetryClick(e) {
  if (ui.client) ui.client.retry(e.currentTarget.dataset.clientId);
}
function onDiscardClick(e) {
  if (ui.client) ui.client.discard(e.currentTarget.dataset.clientId);
}
function onReplyClick(e) {
  startReply(Number(e.currentTarget.dataset.seq));
}

/** "Today", "Yesterday" or the date, for day separators. */
function dayLabel(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  const sameYear = d.getFullYear() === today.getFullYear();
  return d.toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: sameYear ? undefined : 'numeric' });
}

/** Makes the message list show the client's state, keeping the scroll position sensible. */
function renderMessages({ prepended = false, toBottom = false } = {}) {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  const room = c.rooms.get(roomId);
  const list = $('#messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const oldHeight = list.scrollHeight;
  const oldTop = list.scrollTop;

  const items = [];
  const older = c.older.get(roomId);
  if (older && older.hasMore) {
    items.push(v('li', { key: 'load-older', class: 'load-older' },
      v('button', { type: 'button', class: 'link', testid: 'load-older', text: 'Load older messages', onclick: loadOlder })));
  }
  let day = null;
  let dividerShown = false;
  const separate = (iso) => {
    const d = new Date(iso).toDateString();
    if (d === day) return;
    day = d;
    items.push(v('li', { key: `day-${d}`, class: 'day-separator', testid: 'day-separator' },
      v('span', { text: dayLabel(iso) })));
  };
  for (const m of c.sortedMessages(roomId)) {
    separate(m.created_at);
    if (!dividerShown && ui.unreadAfter !== null && m.seq > ui.unreadAfter && m.sender_id !== c.me.id && m.kind !== 'system') {
      dividerShown = true;
      items.push(v('li', { key: 'unread-divider', class: 'unread-divider', testid: 'unread-divider' },
        v('span', { text: 'Unread messages' })));
    }
    items.push(messageView(c, room, m, false));
  }
  const outbox = c.outboxFor(roomId);
  for (const m of outbox) {
    separate(m.created_at);
    items.push(messageView(c, room, m, true));
  }
  patch(list, items);

  const ownNew = outbox.some((m) => !m.error);
  if (prepended) list.scrollTop = list.scrollHeight - oldHeight + oldTop;
  else if (toBottom) scrollToFirstUnread();
  else if (nearBottom || ownNew) list.scrollTop = list.scrollHeight;
  renderJumpLatest();
}

/** On opening a chat: the unread divider in view if there is one, else the bottom. */
function scrollToFirstUnread() {
  const list = $('#messages');
  const divider = list.querySelector('.unread-divider');
  // Scroll the list only (scrollIntoView would also scroll the page's own containers).
  if (divider) list.scrollTop += divider.getBoundingClientRect().top - list.getBoundingClientRect().top - 8;
  else list.scrollTop = list.scrollHeight;
}

/** "Jump to latest" shows while the newest messages are out of view. */
function renderJumpLatest() {
  const list = $('#messages');
  const away = list.scrollHeight - list.scrollTop - list.clientHeight > 200;
  $('#jump-latest').hidden = !ui.openRoomId || !away;
}

async function loadOlder() {
  const c = ui.client;
  const roomId = ui.openRoomId;
  if (!c || !roomId) return;
  try {
    await c.loadOlder(roomId);
  } catch (err) {
    showError(err, 'Loading older messages');
  }
}

function jumpTo(seq) {
  const el = $('#messages').querySelector(`li[data-testid="message"][data-seq="${Number(seq)}"]`);
  if (!el) {
    toast('That message is further back; scroll up to load it.', 'info');
    return;
  }
  el.scrollIntoView({ block: 'center' });
  el.classList.add('flash');
  setTimeout(() => el.classList.remove('flash'), 1500);
}

// ------------------------------------------------------------------ replies, sending, typing

function startReply(seq) {
  ui.replyTo = seq;
  renderReply();
  $('#composer-input').focus();
}

function renderReply() {
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

function cancelReply() {
  ui.replyTo = null;
  renderReply();
}

function submitComposer() {
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
function saveDraft() {
  if (!ui.openRoomId) return;
  const value = $('#composer-input').value;
  if (value) ui.drafts.set(ui.openRoomId, value);
  else ui.drafts.delete(ui.openRoomId);
}

/** Puts the open chat's own draft (or nothing) in the composer. */
function restoreDraft() {
  $('#composer-input').value = (ui.openRoomId && ui.drafts.get(ui.openRoomId)) || '';
  autoGrow();
}

function autoGrow() {
  const input = $('#composer-input');
  input.classList.toggle('multi', input.value.includes('\n') || input.value.length > 80);
}

function noteTyping() {
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

function stopTyping() {
  clearTimeout(ui.typingStop);
  if (ui.typingSent && ui.client && ui.typingRoom) ui.client.sendTyping(ui.typingRoom, false);
  ui.typingSent = 0;
  ui.typingRoom = null;
}

// ------------------------------------------------------------------ receipts

async function showReceipts(m) {
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

// ------------------------------------------------------------------ members panel

function openPanel() {
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
function refreshFollowers() {
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

function closePanel() {
  const wasOpen = ui.panelOpen;
  ui.panelOpen = false;
  clearTimeout(ui.followersTimer);
  $('#members-panel').hidden = true;
  document.body.classList.remove('panel-open');
  if (ui.openRoomId) renderHeader();
  if (wasOpen && ui.openRoomId) $('#members-toggle').focus();
}

const ROLE_RANK = { owner: 3, admin: 2, member: 1 };

async function act(button, label, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (err) {
    showError(err, label);
  } finally {
    if (button) button.disabled = false;
  }
}

function renderPanel() {
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
        h('p', { class: 'hint', text: c.isOnline(peer.user_id) ? 'Online' : p && p.last_seen_at ? `Last seen ${fullTime(p.last_seen_at)}` : 'Offline' })));
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

// ------------------------------------------------------------------ user search (dialogs, panel)

/**
 * Wires a username search box. `actionFor(user)` returns a click handler, or null to show the
 * user as unavailable.
 */
function wireUserSearch(input, results, actionFor, testid = 'user-result', errorEl = null) {
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

// ------------------------------------------------------------------ dialogs

const groupPicks = new Map(); // user_id -> user

function renderChips() {
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

function wireDialogs() {
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
      const room = await ui.client.createRoom(kind, name, [...groupPicks.keys()]);
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

function openDialog(id, setup) {
  const dlg = $(id);
  setup();
  dlg.showModal();
}

// ------------------------------------------------------------------ chat screen wiring

function wireChat() {
  $('#new-chat').addEventListener('click', () => openDialog('#dlg-new-chat', () => {
    $('#new-chat-search').value = '';
    replaceChildren($('#new-chat-results'));
    formError($('#new-chat-error'), null);
  }));
  $('#new-group').addEventListener('click', () => openDialog('#dlg-new-group', () => {
    $('#new-group-name').value = '';
    $('#new-group-search').value = '';
    groupPicks.clear();
    renderChips();
    replaceChildren($('#new-group-results'));
    formError($('#new-group-error'), null);
  }));
  $('#join-channel').addEventListener('click', () => openDialog('#dlg-join', () => {
    $('#join-id').value = '';
    formError($('#join-error'), null);
  }));
  const profile = () => openDialog('#dlg-profile', () => {
    $('#account-menu').open = false;
    $('#profile-username').textContent = `@${ui.client.me.username}`;
    $('#profile-display-name').value = ui.client.me.display_name || '';
    formError($('#profile-error'), null);
  });
  $('#me-button').addEventListener('click', profile);
  $('#profile-open').addEventListener('click', profile);
  $('#logout').addEventListener('click', () => logout(false));
  $('#logout-all').addEventListener('click', () => logout(true));

  $('#back').addEventListener('click', () => closeRoom());
  $('#members-toggle').addEventListener('click', () => (ui.panelOpen ? closePanel() : openPanel()));
  $('#room-title-button').addEventListener('click', () => (ui.panelOpen ? closePanel() : openPanel()));
  $('#panel-close').addEventListener('click', () => closePanel());
  $('#reply-cancel').addEventListener('click', () => {
    cancelReply();
    $('#composer-input').focus();
  });

  const input = $('#composer-input');
  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    submitComposer();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitComposer();
    } else if (e.key === 'Escape' && ui.replyTo !== null) {
      e.preventDefault();
      cancelReply();
    }
  });
  input.addEventListener('input', () => {
    autoGrow();
    noteTyping();
  });
  input.addEventListener('blur', () => stopTyping());

  const list = $('#messages');
  list.addEventListener('scroll', () => {
    if (list.scrollTop < 80 && ui.client && ui.openRoomId) {
      const o = ui.client.older.get(ui.openRoomId);
      if (o && o.hasMore && !o.loading) loadOlder();
    }
    renderJumpLatest();
  });
  $('#jump-latest').addEventListener('click', () => {
    list.scrollTop = list.scrollHeight;
    renderJumpLatest();
    $('#composer-input').focus();
  });

  // Long-press a message (touch screens have no hover) to reply to it.
  let press = null;
  const cancelPress = () => {
    if (press) clearTimeout(press.timer);
    press = null;
  };
  list.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse') return;
    const li = e.target.closest('li[data-testid="message"][data-can-reply="true"]');
    if (!li || e.target.closest('button')) return;
    cancelPress();
    press = { x: e.clientX, y: e.clientY, timer: setTimeout(() => {
      press = null;
      startReply(Number(li.dataset.seq));
    }, 500) };
  });
  list.addEventListener('pointermove', (e) => {
    if (press && Math.hypot(e.clientX - press.x, e.clientY - press.y) > 10) cancelPress();
  });
  for (const type of ['pointerup', 'pointercancel', 'pointerleave']) list.addEventListener(type, cancelPress);
  // The long-press must not also open the browser's context menu on the message.
  list.addEventListener('contextmenu', (e) => {
    if (e.target.closest('li[data-testid="message"]') && matchMedia('(hover: none)').matches) e.preventDefault();
  });

  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || document.querySelector('dialog[open]')) return;
    if ($('#account-menu').open) {
      $('#account-menu').open = false;
      $('#account-menu summary').focus();
    } else if (ui.panelOpen) closePanel();
    else if (ui.replyTo !== null) cancelReply();
    else if (ui.openRoomId && narrow.matches) closeRoom();
  });
  document.addEventListener('click', (e) => {
    const menu = $('#account-menu');
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
}

boot();
