// Web Push in this browser (docs/protocol.md §13 "Pushers"): the service worker (/sw.js), the
// browser's push subscription, and this login's pusher on the server. No DOM here; the switch
// that drives it is views/notifications.js.
//
// Permission is asked only in `enablePush`, i.e. when the person turns notifications on. What was
// turned on is remembered per user in localStorage (`missive.push.<user_id>`: the pusher's id and
// endpoint), so `resumePush` can re-register the subscription at each start (the browser may have
// renewed it, and registering the same endpoint again only replaces the pusher).

import { ApiError, rest } from './api.js';

const SW_URL = '/sw.js';
const key = (userId) => `missive.push.${userId}`;

/** Whether this browser can receive Web Push at all (secure context, service workers, push). */
export function pushSupported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function remembered(userId) {
  try {
    const r = JSON.parse(localStorage.getItem(key(userId)) || 'null');
    return r && typeof r.endpoint === 'string' ? r : null;
  } catch {
    return null;
  }
}

async function subscription() {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return reg ? reg.pushManager.getSubscription() : null;
}

/**
 * Where notifications stand for `userId` on this browser: `unsupported`, `denied` (blocked in
 * the browser's settings), `on` (permission, a subscription, and it is this user's), or `off`.
 * @returns {Promise<'unsupported' | 'denied' | 'on' | 'off'>}
 */
export async function pushState(userId) {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const r = remembered(userId);
  if (Notification.permission !== 'granted' || !r) return 'off';
  const sub = await subscription();
  return sub && sub.endpoint === r.endpoint ? 'on' : 'off';
}

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  return a.length === bytes.length && a.every((x, i) => x === bytes[i]);
}

async function register(userId, sub) {
  const { endpoint, keys } = sub.toJSON();
  const pusher = await rest.addPusher({ kind: 'webpush', endpoint, keys });
  localStorage.setItem(key(userId), JSON.stringify({ id: pusher.id, endpoint }));
  return pusher;
}

/**
 * Turns notifications on: asks permission, registers the service worker, subscribes with the
 * server's VAPID key and registers the subscription as this login's pusher. Resolves the state
 * it ends in (`denied` or `off` if permission was not given); rejects with an ApiError.
 */
export async function enablePush(userId) {
  if (!pushSupported()) return 'unsupported';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  await navigator.serviceWorker.register(SW_URL, { scope: '/' });
  const reg = await navigator.serviceWorker.ready;
  const serverKey = keyBytes((await rest.vapidKey()).public_key);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options && sub.options.applicationServerKey, serverKey)) {
    // Subscribed with another key (the server's changed): that subscription is useless now.
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    try {
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
    } catch (err) {
      throw new ApiError('unavailable', `The browser's push service refused the subscription (${err.message || err.name}).`);
    }
  }
  await register(userId, sub);
  return 'on';
}

/**
 * Turns notifications off: removes this browser's pusher from the server, then unsubscribes.
 * Rejects (and changes nothing locally) if the server cannot be told.
 */
export async function disablePush(userId) {
  const r = remembered(userId);
  const sub = pushSupported() ? await subscription() : null;
  const endpoint = sub ? sub.endpoint : r && r.endpoint;
  if (endpoint) {
    const { pushers } = await rest.pushers();
    const ids = new Set(pushers.filter((p) => p.url === endpoint).map((p) => p.id));
    if (r && r.endpoint === endpoint && pushers.some((p) => p.id === r.id)) ids.add(r.id);
    for (const id of ids) {
      try {
        await rest.removePusher(id);
      } catch (err) {
        if (err.code !== 'not_found') throw err;
      }
    }
  }
  localStorage.removeItem(key(userId));
  if (sub) await sub.unsubscribe().catch(() => {});
  return pushSupported() && Notification.permission === 'denied' ? 'denied' : 'off';
}

/**
 * At each start: if this user turned notifications on here, register the current subscription
 * again (it may have been renewed by the browser); if permission or the subscription is gone,
 * remove the pusher. Quiet: failures leave things as they were for the next start.
 */
export async function resumePush(userId) {
  const r = remembered(userId);
  if (!r) return;
  try {
    const sub = pushSupported() && Notification.permission === 'granted' ? await subscription() : null;
    if (sub) await register(userId, sub);
    else await disablePush(userId);
  } catch {
    // Offline or the server is down: try again next time.
  }
}

/**
 * On logout: this browser must stop showing the user's messages. The server has removed the
 * login's pushers (or will, when the push service answers 410 for the dropped subscription).
 */
export async function forgetPush(userId) {
  if (!remembered(userId)) return;
  localStorage.removeItem(key(userId));
  if (!pushSupported()) return;
  try {
    const sub = await subscription();
    if (sub) await sub.unsubscribe();
  } catch {
    // Nothing more can be done without the session.
  }
}

/** Closes the notifications shown for a room (it is being read). */
export async function closeRoomNotifications(roomId) {
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration('/');
  if (!reg) return;
  for (const n of await reg.getNotifications({ tag: `room:${roomId}` })) n.close();
}

/** Calls `fn(roomId)` when the service worker asks the page to open a room (a notification click). */
export function onOpenRoomRequest(fn) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (e) => {
    const d = e.data;
    if (d && d.type === 'missive:open-room' && typeof d.room_id === 'string') fn(d.room_id);
  });
  navigator.serviceWorker.startMessages();
}
