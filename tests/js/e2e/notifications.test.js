// Notifications in the web client (docs/protocol.md §13): the "Notifications" switch asks
// permission only when turned on, subscribes the browser with the server's VAPID key and
// registers the pusher; the service worker shows what a push carries, one notification per room,
// and a click opens that chat; the mute menu mutes a chat on every device of the person; turning
// notifications off removes the pusher.
//
// Chromium's PushManager needs Google's GCM to subscribe: lib/gcm.js stands in for its check-in
// and registration endpoints (Chromium's --gcm-* test switches). Pushes are delivered to the
// service worker with the DevTools protocol (ServiceWorker.deliverPushMessage); their payloads
// are the server's own, captured and decrypted by lib/pushservice.js from a real Web Push.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const c = require('../lib/client.js');
const { newSubscription, startPushService } = require('../lib/pushservice.js');
const { startGcm } = require('../lib/gcm.js');
const b = require('./browser.js');

const { tid } = b;
const HOUR = 3600_000;

describe('web client: notifications and mutes', { timeout: 180_000 }, () => {
  let server;
  let gcm;
  let svc;
  let vapidKey;
  let alice; // the browser user
  let bob; // a REST user who writes to her
  let direct;
  let group;
  const payloads = {}; // what the server pushed, decrypted: direct1, direct2, group

  before(async () => {
    server = await startServer({ env: { MISSIVE_PUSH_DELAY: '200ms', MISSIVE_PUSH_ALLOW_PRIVATE: 'true', MISSIVE_PUSH_TIMEOUT: '1s' } });
    gcm = await startGcm();
    vapidKey = c.assertOk(await c.api(server.url, 'GET', '/api/push/vapid-key'), 200).public_key;
    svc = await startPushService(() => vapidKey);
    alice = await c.register(server.url, { display_name: 'Alice' });
    bob = await c.register(server.url, { display_name: 'Bob' });
    direct = await c.directRoom(server.url, bob, alice);
    group = await c.createRoom(server.url, bob, { name: 'Trip planning', members: [alice] });
  });

  after(async () => {
    if (alice && alice.close) await alice.close();
    if (svc) await svc.close();
    if (gcm) await gcm.close();
    if (server) await server.stop();
  });

  /** Waits for the n-th Web Push at `path` and decrypts it as the browser would. */
  async function pushAt(sub, n) {
    const deadline = Date.now() + 8000;
    while (svc.at(sub.path).length < n) {
      if (Date.now() > deadline) assert.fail(`expected ${n} push(es) at ${sub.path}`);
      await c.sleep(25);
    }
    svc.check();
    return sub.decrypt(svc.at(sub.path)[n - 1].body);
  }

  it('captures what the server pushes while none of Alice\'s devices is connected', async () => {
    // Another login of Alice's (a phone) with a push service of this test: the server's real
    // payloads, encrypted for that subscription, are what the browser's service worker gets below.
    const phone = await c.login(server.url, alice);
    const sub = newSubscription(`${svc.base}/wp/${c.hex()}`);
    sub.path = new URL(sub.endpoint).pathname;
    const pusher = c.assertOk(await c.api(server.url, 'POST', '/api/pushers', phone.access_token, { kind: 'webpush', endpoint: sub.endpoint, keys: sub.keys }), 201);
    await c.postMessage(server.url, bob, direct.id, 'Are you there?');
    payloads.direct1 = await pushAt(sub, 1);
    await c.postMessage(server.url, bob, direct.id, 'Call me when you land');
    payloads.direct2 = await pushAt(sub, 2);
    await c.postMessage(server.url, bob, group.id, 'Tickets are booked');
    payloads.group = await pushAt(sub, 3);
    assert.deepEqual(payloads.direct2, { room_id: direct.id, seq: 2, unread: 2, sender_id: bob.id, sender_name: 'Bob', body: 'Call me when you land' });
    assert.equal(payloads.group.room_name, 'Trip planning');
    c.assertOk(await c.api(server.url, 'DELETE', `/api/pushers/${pusher.id}`, phone.access_token), 204);
  });

  it('asks permission only when notifications are turned on, then subscribes and registers the pusher', async () => {
    const user = await b.openPersistentUser(server.url, { args: gcm.args });
    Object.assign(alice, user);
    const { page, context } = alice;
    await b.login(alice, alice.username, alice.password);

    // Loading and logging in asked nothing and registered no service worker.
    assert.equal(await page.evaluate(() => Notification.permission), 'default');
    assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0);
    await page.locator(tid('account-menu')).click();
    const toggle = page.locator(tid('notifications-toggle'));
    assert.equal(await toggle.getAttribute('aria-checked'), 'false');
    await b.checkA11y(page, 'account menu with the notifications switch');

    // Blocked in the browser: the switch says so and nothing is registered.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Browser.setPermission', { origin: server.url, permission: { name: 'notifications' }, setting: 'denied' });
    await toggle.click();
    await page.locator(tid('notifications-note')).filter({ hasText: 'blocked' }).waitFor();
    assert.equal(await toggle.getAttribute('aria-checked'), 'false');
    assert.deepEqual(c.assertOk(await c.api(server.url, 'GET', '/api/pushers', alice.token), 200).pushers, []);

    // Granted (Browser.grantPermissions): turning it on subscribes with the server's key.
    await cdp.send('Browser.grantPermissions', { origin: server.url, permissions: ['notifications'] });
    await toggle.click();
    await page.locator(`${tid('notifications-toggle')}[aria-checked="true"]`).waitFor({ timeout: 20000 });
    assert.equal(await page.locator(tid('notifications-note')).isVisible(), false);
    const sub = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return (await reg.pushManager.getSubscription()).toJSON();
    });
    assert.match(sub.endpoint, /^https:\/\/.+\/fcm\/send\/e2e-/);
    assert.equal(Buffer.from(sub.keys.p256dh, 'base64url').length, 65);
    const webpush = gcm.registrations.filter((r) => r.form.sender === vapidKey);
    assert.equal(webpush.length, 1, 'the browser subscribed with the VAPID key the server serves');
    const { pushers } = c.assertOk(await c.api(server.url, 'GET', '/api/pushers', alice.token), 200);
    assert.deepEqual(pushers.map((p) => [p.kind, p.url]), [['webpush', sub.endpoint]]);

    // A reload keeps it on, and registers the same subscription again (no second pusher).
    await page.reload();
    await b.waitConnected(page);
    await page.locator(tid('account-menu')).click();
    await page.locator(`${tid('notifications-toggle')}[aria-checked="true"]`).waitFor();
    await page.keyboard.press('Escape');
    const again = c.assertOk(await c.api(server.url, 'GET', '/api/pushers', alice.token), 200).pushers;
    assert.deepEqual(again.map((p) => p.url), [sub.endpoint]);
  });

  /** The service worker's registration id, from the DevTools protocol. */
  async function registrationId(cdp) {
    const found = new Promise((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const r = registrations.find((x) => x.scopeURL === `${server.url}/` && !x.isDeleted);
        if (r) resolve(r.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    return found;
  }

  async function notifications(page) {
    return page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
    });
  }

  // Chromium's getNotifications() drops from its list any notification the platform has not
  // finished displaying, so reading while a push is being shown can lose that one: each read
  // comes a while after the delivery (showing one takes ~20 ms here).
  const SETTLE_MS = 1000;

  async function waitNotifications(page, pred, what) {
    await c.sleep(SETTLE_MS);
    const deadline = Date.now() + 10000;
    for (;;) {
      const list = await notifications(page);
      if (pred(list)) return list;
      if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(list)}`);
      await c.sleep(250);
    }
  }

  it('shows a pushed notification per room, replaced by the next one, and a click opens that chat', async () => {
    const { page, context } = alice;
    const cdp = await context.newCDPSession(page);
    const id = await registrationId(cdp);
    const deliver = (data) => cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId: id, data: JSON.stringify(data) });

    await deliver(payloads.direct1);
    let list = await waitNotifications(page, (l) => l.length === 1, 'the first notification');
    assert.deepEqual(list[0], { title: 'Bob', body: 'Are you there?', tag: `room:${direct.id}`, data: { room_id: direct.id, seq: 1 } });

    // The next push about the same room replaces it; another room gets its own.
    await deliver(payloads.direct2);
    await deliver(payloads.group);
    list = await waitNotifications(page, (l) => l.length === 2 && l.some((n) => n.body.startsWith('Call me')), 'one notification per room');
    const byTag = Object.fromEntries(list.map((n) => [n.tag, n]));
    assert.deepEqual([byTag[`room:${direct.id}`].title, byTag[`room:${direct.id}`].body], ['Bob', 'Call me when you land (2 unread)']);
    assert.deepEqual([byTag[`room:${group.id}`].title, byTag[`room:${group.id}`].body], ['Trip planning', 'Bob: Tickets are booked']);

    // MISSIVE_PUSH_CONTENT=none sends only room_id, seq and unread: nothing more is shown.
    const { room_id, seq, unread } = payloads.group;
    await deliver({ room_id, seq, unread });
    await waitNotifications(page, (l) => l.some((n) => n.tag === `room:${group.id}` && n.title === 'Missive' && n.body === 'New message'), 'a notification without sender or text');

    // A click on the direct chat's notification (its real handler, on the real notification)
    // tells this open window to open that chat, and closes the notification.
    assert.equal(await page.locator(`${tid('conversation')} ${tid('room-name')}`).isVisible(), false);
    const [worker] = context.serviceWorkers();
    assert.ok(worker, 'the service worker is running');
    await worker.evaluate(async (tag) => {
      const [n] = await self.registration.getNotifications({ tag });
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    }, `room:${direct.id}`);
    await b.assertRoomOpen(page, 'Bob');
    await waitNotifications(page, (l) => l.length === 1 && l[0].tag === `room:${group.id}`, 'the clicked notification closed');

    // With no window open, the service worker opens /#room=<id>: that address opens the chat.
    const other = await context.newPage();
    b.attach(alice, other);
    await other.goto(`/#room=${encodeURIComponent(group.id)}`);
    await b.assertRoomOpen(other, 'Trip planning');
    assert.equal(new URL(other.url()).hash, '', 'the address is cleaned');
    // Reading the chat closes its notification.
    await waitNotifications(other, (l) => l.length === 0, 'the group notification closed once read');
    await other.close();
    b.assertClean(alice);
  });

  it('mutes a chat from its header on every device of the person, with the icon in the room list, and unmutes', async () => {
    const { page, context } = alice;
    const second = await context.newPage(); // another tab: another device of Alice's, same login
    b.attach(alice, second);
    await second.goto('/');
    await b.waitConnected(second);
    await b.openRoom(page, 'Bob');
    const mutedIcon = (p) => p.locator(tid('room-item')).filter({ has: p.locator(tid('room-name'), { hasText: 'Bob' }) }).locator(tid('muted-icon'));
    const mutes = async () => c.assertOk(await c.api(server.url, 'GET', '/api/me/mutes', alice.token), 200).mutes;
    assert.equal(await mutedIcon(second).count(), 0);

    await page.locator(tid('mute-menu')).click();
    await page.locator(tid('mute-8h')).waitFor();
    await b.checkA11y(page, 'mute menu');
    const before8h = Date.now();
    await page.locator(tid('mute-8h')).click();
    await mutedIcon(second).waitFor();
    await mutedIcon(page).waitFor();
    let [m] = await mutes();
    assert.equal(m.room_id, direct.id);
    assert.ok(m.until >= before8h + 8 * HOUR - 1000 && m.until <= Date.now() + 8 * HOUR, `muted for 8 hours: ${m.until}`);
    assert.match(await mutedIcon(second).getAttribute('title'), /^Muted until /);
    assert.equal(await page.locator(`${tid('mute-menu')}[data-muted="true"]`).count(), 1);

    await page.locator(tid('mute-menu')).click();
    await page.locator(tid('mute-state')).filter({ hasText: 'Muted until' }).waitFor();
    await page.locator(tid('mute-always')).click();
    await mutedIcon(second).and(second.locator('[title="Muted"]')).waitFor();
    [m] = await mutes();
    assert.deepEqual(m, { room_id: direct.id, until: null });

    // Unmuted from the other tab, by keyboard: the first one follows.
    await b.openRoom(second, 'Bob');
    await second.locator(tid('mute-menu')).focus();
    await second.keyboard.press('Enter');
    await second.locator(tid('unmute')).waitFor();
    await second.locator(tid('unmute')).click();
    await mutedIcon(page).waitFor({ state: 'detached' });
    assert.equal(await mutedIcon(second).count(), 0);
    assert.deepEqual(await mutes(), []);
    assert.equal(await page.locator(`${tid('mute-menu')}[data-muted="false"]`).count(), 1);

    // The one-week mute from the menu, and Escape closes the menu without leaving the chat.
    await page.locator(tid('mute-menu')).click();
    await page.locator(tid('mute-1w')).click();
    await mutedIcon(second).waitFor();
    [m] = await mutes();
    assert.ok(Math.abs(m.until - (Date.now() + 7 * 24 * HOUR)) < 60_000, `muted for a week: ${m.until}`);
    await page.locator(tid('mute-menu')).click();
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#mute-menu[open]').count(), 0);
    await b.assertRoomOpen(page, 'Bob');
    await second.close();
    b.assertClean(alice);
  });

  it('turning notifications off removes the pusher and the subscription', async () => {
    const { page } = alice;
    await page.locator(tid('account-menu')).click();
    const toggle = page.locator(tid('notifications-toggle'));
    assert.equal(await toggle.getAttribute('aria-checked'), 'true');
    await toggle.click();
    await page.locator(`${tid('notifications-toggle')}[aria-checked="false"]`).waitFor();
    assert.deepEqual(c.assertOk(await c.api(server.url, 'GET', '/api/pushers', alice.token), 200).pushers, []);
    assert.equal(await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration('/');
      return reg.pushManager.getSubscription();
    }), null);
    b.assertClean(alice);
  });
});
