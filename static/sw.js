// Missive's service worker: it shows the Web Push notifications the server sends (docs/protocol.md
// §13 "What a push carries") and opens the chat when one is clicked. It lives at the site root so
// its scope is the whole app. It is registered only once someone turns notifications on
// (js/push.js); it caches nothing and never talks to the server.
'use strict';

/**
 * What a notification shows, from the server's `Notification` object `{room_id, seq, unread,
 * sender_id?, sender_name?, room_name?, body?}`: only what the server chose to reveal
 * (`MISSIVE_PUSH_CONTENT`), never more. One notification per room (`tag`), so a burst replaces it.
 */
function describe(n) {
  const sender = typeof n.sender_name === 'string' && n.sender_name ? n.sender_name : null;
  const group = typeof n.room_name === 'string' && n.room_name ? n.room_name : null;
  const text = typeof n.body === 'string' ? n.body : null;
  const unread = Number.isInteger(n.unread) ? n.unread : 0;
  const title = group || sender || 'Missive';
  let body;
  if (text !== null) body = group && sender ? `${sender}: ${text}` : text;
  else if (group && sender) body = `New message from ${sender}`;
  else body = 'New message';
  if (unread > 1) body += ` (${unread} unread)`;
  return {
    title,
    options: {
      body,
      tag: `room:${n.room_id}`,
      renotify: true,
      data: { room_id: n.room_id, seq: Number.isInteger(n.seq) ? n.seq : null },
    },
  };
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let n = null;
  try {
    n = event.data ? event.data.json() : null;
  } catch {
    n = null;
  }
  // A push the browser delivered must show something (userVisibleOnly), even an unreadable one.
  const { title, options } = n && typeof n.room_id === 'string'
    ? describe(n)
    : { title: 'Missive', options: { body: 'New message', tag: 'missive', data: {} } };
  event.waitUntil(self.registration.showNotification(title, options));
});

/**
 * Brings the app to the room: an open window of the app is told to switch to it (and focused),
 * else a new one opens at `/#room=<id>`.
 */
async function openRoom(roomId) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const client = windows.find((c) => c.focused) || windows.find((c) => c.visibilityState === 'visible') || windows[0];
  if (client) {
    if (roomId) client.postMessage({ type: 'missive:open-room', room_id: roomId });
    // Focusing needs the click's user activation; without it the message alone still switches.
    if ('focus' in client) await client.focus().catch(() => {});
    return;
  }
  await self.clients.openWindow(roomId ? `/#room=${encodeURIComponent(roomId)}` : '/');
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openRoom(typeof data.room_id === 'string' ? data.room_id : null));
});
