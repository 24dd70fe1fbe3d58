// The Missive web client: the composition root. It boots the screens and owns the chat lifecycle
// (start, end, logout). Views live in views/ (one module per screen), shared UI state in ui.js,
// the page's model in client.js, and all talk with the server in the client library (js/missive/,
// through client.js and api.js). All user-supplied text is set with textContent (dom.js, view.js).

import { api, clearSession, getSession, onSessionChange, updateSessionUser } from './api.js';
import { ChatClient } from './client.js';
import { $, replaceChildren } from './dom.js';
import { ui, narrow, toast, showError, formError, renderStatus } from './ui.js';
import { showAuth, wireAuth } from './views/auth.js';
import { renderMe, renderRooms } from './views/rooms.js';
import { showRoomView, closeRoom, renderHeader, renderTyping, renderMessages, renderJumpLatest, loadOlder, jumpLatest } from './views/conversation.js';
import { renderComposerState, startReply, cancelReply, submitComposer, autoGrow, noteTyping, stopTyping, startEdit, endEdit, lastOwnEditable } from './views/composer.js';
import { closeActions, wireActions } from './views/actions.js';
import { clearSearch, wireSearch } from './views/search.js';
import { openPanel, closePanel, renderPanel } from './views/panel.js';
import { groupPicks, renderChips, wireDialogs, openDialog } from './views/dialogs.js';
import { startSafety, wireSafety } from './views/safety.js';
import { attachNotifications, detachNotifications, wireNotifications } from './views/notifications.js';
import { clearUploads, wireUploads } from './views/uploads.js';
import { stop as stopRecording, wireRecorder } from './views/recorder.js';
import { wireViewer } from './views/viewer.js';
import { renderProfilePicture, wirePictures } from './views/pictures.js';

function boot() {
  wireAuth(startChat);
  wireChat();
  wireDialogs();
  wireActions();
  wireSearch();
  wireSafety();
  wireNotifications();
  wireUploads();
  wireRecorder();
  wireViewer();
  wirePictures();
  onSessionChange((s, { external }) => {
    if (!s && ui.client) endChat('You have been logged out.');
    else if (s && !ui.client && external) startChat(s.user);
  });
  const s = getSession();
  if (s) startChat(s.user);
  else showAuth();
}

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
  client.addEventListener('changed', (e) => {
    const key = `${e.detail.room_id}:${e.detail.seq}`;
    if (!ui.quoteCache.has(key)) return;
    ui.quoteCache.delete(key);
    if (e.detail.room_id === ui.openRoomId) renderMessages();
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
  startSafety(client);
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
  attachNotifications(client);
  client.start();
}

function endChat(message) {
  const client = ui.client;
  if (!client) return;
  ui.client = null;
  client.stop();
  detachNotifications(client.me.id);
  closeActions(false);
  stopRecording(false);
  clearUploads();
  endEdit();
  clearSearch();
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
    renderProfilePicture();
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
    } else if (e.key === 'Escape' && ui.editing) {
      e.preventDefault();
      endEdit();
    } else if (e.key === 'Escape' && ui.replyTo !== null) {
      e.preventDefault();
      cancelReply();
    } else if (e.key === 'ArrowUp' && !input.value && !ui.editing && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      // Up in an empty composer edits your last message, as in most chat apps.
      const m = lastOwnEditable();
      if (m) {
        e.preventDefault();
        startEdit(m.seq);
      }
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
  $('#jump-latest').addEventListener('click', () => jumpLatest());
  $('#edit-cancel').addEventListener('click', () => {
    endEdit();
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
    else if (ui.editing) endEdit();
    else if (ui.replyTo !== null) cancelReply();
    else if (ui.openRoomId && narrow.matches) closeRoom();
  });
  document.addEventListener('click', (e) => {
    const menu = $('#account-menu');
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
}

boot();
