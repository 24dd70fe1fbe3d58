// The operator's console (/admin/, docs/protocol.md §14) in Chromium: an operator sees the
// charts move while messages are sent, acts on a user's sockets, works the moderation queue,
// finds rooms and closes (and reopens) a channel while its owner's web app and a follower's
// socket watch; a non-operator is sent back to the app. axe checks every tab. With
// MISSIVE_SCREENSHOTS_DIR=docs/img it refreshes docs/img/admin-console.png.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const c = require('../lib/client.js');
const b = require('./browser.js');

const { tid } = b;
const OPERATOR = 'oper';

describe('web client: the operator\'s console', { timeout: 180_000 }, () => {
  let server;
  let browser;
  let oper;
  let alice;
  let bob;
  let room;
  let sending;

  before(async () => {
    server = await startServer({ env: { MISSIVE_ADMINS: OPERATOR } });
    browser = await b.launch();
    oper = await b.openUser(browser, server.url);
    await b.register(oper, OPERATOR, 'The Operator');
    [alice, bob] = await c.users(server.url, 2);
    room = await c.createRoom(server.url, alice, { name: 'Busy lobby', members: [bob.id] });
  });

  after(async () => {
    if (sending) clearInterval(sending);
    c.disconnectAll();
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('sends a user who is not an operator back to the app', async () => {
    const mallory = await b.openUser(browser, server.url);
    await b.register(mallory, 'mallory', 'Mallory');
    await mallory.page.goto('/admin/');
    await mallory.page.waitForURL((u) => u.pathname === '/', { timeout: 10_000 });
    assert.equal(await mallory.page.locator('body[data-ready]').count(), 0);
    await mallory.context.close();
  });

  it('shows the charts moving while messages are sent', async () => {
    const { page } = oper;
    await page.goto('/admin/');
    await page.locator('body[data-ready]').waitFor();
    await page.locator(tid('node-row')).first().waitFor();
    const sender = await c.connect(server.url, { token: alice.token });
    await c.connect(server.url, { token: bob.token });
    let n = 0;
    sending = setInterval(() => {
      n += 1;
      c.send(sender, { room_id: room.id, body: `load ${n}` }).catch(() => {});
    }, 100);

    const stored = page.locator(tid('chart-messages-value-0'));
    await page.waitForFunction(
      (el) => parseFloat(el.textContent) > 0, await stored.elementHandle(), { timeout: 10_000 });
    const line = page.locator(tid('chart-messages-line-0'));
    const before = await line.getAttribute('points');
    await page.waitForFunction(
      ([el, was]) => el.getAttribute('points') !== was, [await line.elementHandle(), before], { timeout: 5000 });
    await page.waitForFunction(
      (el) => el.textContent.endsWith(' ms'), await page.locator(tid('chart-latency-value-0')).elementHandle(), { timeout: 10_000 });
    const sockets = Number(await page.locator(tid('chart-connections-value-0')).textContent());
    assert.ok(sockets >= 2, `sockets: ${sockets} (alice and bob)`);
    clearInterval(sending);
    sending = null;
    await b.screenshot(page, 'admin-console');
  });

  it('finds a user, disconnects a device, bans and unbans, resets the password', async () => {
    const { page } = oper;
    const bobSocket = await c.connect(server.url, { token: bob.token });
    await page.locator(tid('tab-people')).click();
    await page.locator(tid('people-q')).fill(bob.username);
    await page.locator(tid('people-q')).press('Enter');
    await page.locator(tid('person-result')).click();
    await page.locator(tid('device-row')).first().waitFor();
    await b.checkA11y(page, 'admin-people');

    const gone = c.waitDisconnect(bobSocket);
    await page.locator(`${tid('device-row')}:has-text("${bobSocket.id}") ${tid('device-disconnect')}`).click();
    assert.equal(await gone, 'io server disconnect');

    const again = await c.connect(server.url, { token: bob.token });
    const banned = c.waitDisconnect(again);
    await page.locator(tid('ban-reason')).fill('spam');
    await page.locator(tid('person-ban')).click();
    await page.locator(tid('person-status')).filter({ hasText: 'banned' }).waitFor();
    assert.equal(await banned, 'io server disconnect');
    await page.locator(tid('person-unban')).click();
    await page.locator(tid('person-status')).filter({ hasText: 'active' }).waitFor();

    await page.locator(tid('person-reset')).click();
    const temporary = await page.locator(tid('temporary-password')).textContent();
    const login = await c.api(server.url, 'POST', '/api/auth/login', null, { username: bob.username, password: temporary });
    c.assertOk(login, 200);
    bob.token = login.body.access_token;
  });

  it('works the moderation queue: context, delete, and the audit log', async () => {
    const { page } = oper;
    const sender = await c.connect(server.url, { token: alice.token });
    const bad = await c.send(sender, { room_id: room.id, body: 'a very rude message' });
    const report = await c.api(server.url, 'POST', '/api/reports', bob.token, { room_id: room.id, seq: bad.seq, reason: 'rude' });
    c.assertOk(report, 201);

    await page.locator(tid('tab-moderation')).click();
    const card = page.locator(tid('report')).filter({ hasText: 'a very rude message' });
    await card.waitFor();
    await card.locator(tid('report-context')).click();
    await card.locator('li.reported').filter({ hasText: 'a very rude message' }).waitFor();
    await b.checkA11y(page, 'admin-moderation');
    await card.locator(tid('report-delete')).click();
    await card.waitFor({ state: 'detached' });
    await page.locator(tid('audit-row')).filter({ hasText: 'delete_message' }).waitFor();
    const msg = await c.api(server.url, 'GET', `/api/rooms/${room.id}/messages?limit=50`, alice.token);
    const stored = msg.body.messages.find((m) => m.seq === bad.seq);
    assert.ok(stored.deleted_at, 'the message is deleted for everyone');
  });

  it('finds a room with its members and message rate', async () => {
    const { page } = oper;
    await page.locator(tid('tab-rooms')).click();
    await page.locator(tid('rooms-q')).fill('busy');
    await page.locator(tid('rooms-q')).press('Enter');
    await page.locator(tid('room-result')).filter({ hasText: 'Busy lobby' }).click();
    await page.locator(tid('room-figures')).filter({ hasText: '2 members' }).waitFor();
    assert.match(await page.locator(tid('room-figures')).textContent(), /[1-9]\d* messages in the last minute/);
    await b.checkA11y(page, 'admin-rooms');
  });

  it('closes a channel from the Rooms tab: the owner’s app turns read-only and a follower sees the close live', async () => {
    const { page } = oper;
    const dave = await c.register(server.url, { display_name: 'Dave' });
    const channel = await c.createRoom(server.url, dave, { kind: 'channel', name: 'Noisy news' });
    await c.postMessage(server.url, dave, channel.id, 'the last news');
    const carol = await c.register(server.url);
    c.assertOk(await c.api(server.url, 'POST', `/api/rooms/${channel.id}/members`, carol.token, { user_id: carol.id }), 201);
    const follower = await c.connect(server.url, { token: carol.token });
    const owner = await b.openUser(browser, server.url);
    await b.login(owner, dave.username, dave.password);
    await b.openRoom(owner.page, 'Noisy news');
    await owner.page.locator(tid('composer-input')).waitFor();

    if (!page.url().endsWith('/admin/')) await page.goto('/admin/');
    await page.locator('body[data-ready]').waitFor();
    await page.locator(tid('tab-rooms')).click();
    await page.locator(tid('rooms-q')).fill('noisy');
    await page.locator(tid('rooms-q')).press('Enter');
    await page.locator(tid('room-result')).filter({ hasText: 'Noisy news' }).click();
    await page.locator(tid('room-state')).filter({ hasText: 'open' }).waitFor();
    await page.locator(tid('room-close')).click();
    // Nothing happens before the confirmation; Cancel gives the button back.
    await page.locator(tid('room-close-cancel')).click();
    await page.locator(tid('room-close')).click();
    await page.locator(tid('close-reason')).fill('spam outlet');
    await b.screenshot(page, 'admin-close-channel');
    await page.locator(tid('room-close-confirm')).click();

    // The console shows the new state; the follower's socket got the close live, as the
    // stream's next entry; the owner's app shows the notice instead of the composer.
    await page.locator(tid('room-state')).filter({ hasText: 'closed' }).waitFor();
    const entry = await c.waitFor(follower, 'message', (m) => m.room_id === channel.id && m.kind === 'system');
    assert.equal(entry.seq, 2);
    assert.deepEqual(JSON.parse(entry.body), { event: 'room_closed', user_id: entry.sender_id, reason: 'spam outlet' });
    const note = owner.page.locator(tid('composer-note'));
    await note.filter({ hasText: 'This channel was closed' }).waitFor();
    assert.equal(await owner.page.locator(tid('composer')).isHidden(), true, 'no composer in a closed channel');
    await owner.page.locator(`${tid('messages')} ${tid('system-message')}`).filter({ hasText: 'closed by an operator: spam outlet' }).waitFor();
    await b.screenshot(owner.page, 'closed-channel');
    const refused = await c.api(server.url, 'POST', `/api/rooms/${channel.id}/messages`, dave.token, { body: 'one more' });
    c.assertRestError(refused, 403, 'forbidden');
    const listed = await c.api(server.url, 'GET', '/api/channels?q=noisy', carol.token);
    assert.deepEqual(listed.body, [], 'out of the directory');

    // Reopened: the owner writes again.
    await page.locator(tid('room-reopen')).click();
    await page.locator(tid('room-reopen-confirm')).click();
    await page.locator(tid('room-state')).filter({ hasText: 'open' }).waitFor();
    await c.waitFor(follower, 'message', (m) => m.room_id === channel.id && m.kind === 'system' && m.body.includes('room_reopened'));
    await owner.page.locator(tid('composer-input')).waitFor();
    await b.send(owner.page, 'back on air');
    b.assertClean(owner);
    await owner.context.close();
  });

  it('works on a phone in dark mode', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 800 }, colorScheme: 'dark', baseURL: server.url });
    const page = await context.newPage();
    await page.goto('/');
    await page.evaluate((s) => localStorage.setItem('missive.session', s), await oper.page.evaluate(() => localStorage.getItem('missive.session')));
    await page.goto('/admin/');
    await page.locator('body[data-ready]').waitFor();
    await page.locator(tid('node-row')).first().waitFor();
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    assert.equal(wide, false, 'nothing wider than the phone');
    await b.checkA11y(page, 'admin-dark-phone');
    await context.close();
    b.assertClean(oper);
  });
});
