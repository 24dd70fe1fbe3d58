// Two people chat through the web client in two browser contexts: a direct chat with ticks,
// typing and replies, a group with per-member receipts and admin actions, going offline and
// coming back, and hostile message text.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const b = require('./browser.js');

const { tid } = b;

describe('web client: two users chatting', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;
  const XSS = '<img src=x onerror=alert(1)>';

  before(async () => {
    server = await startServer();
    browser = await b.launch();
    alice = await b.openUser(browser, server.url);
    bob = await b.openUser(browser, server.url);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('shows the login screen and reports a failed login with its error code', async () => {
    const { page } = alice;
    await page.locator(tid('auth-screen')).waitFor();
    await b.screenshot(page, 'login');
    await page.locator(tid('auth-username')).fill('nobody');
    await page.locator(tid('auth-password')).fill('wrong password');
    await page.locator(tid('auth-submit')).click();
    await page.locator(tid('auth-error')).filter({ hasText: 'invalid_credentials' }).waitFor();
  });

  it('registers two users, each logged in after a reload', async () => {
    await b.register(alice, 'alice', 'Alice Liddell');
    await b.register(bob, 'bob', 'Bob Builder');
    await alice.page.reload();
    await b.waitConnected(alice.page);
    assert.equal(await alice.page.locator(tid('me-name')).textContent(), 'Alice Liddell');
  });

  it('starts a direct chat; ticks go sent → delivered → read', async () => {
    await b.startDirect(alice, 'bob');
    await b.assertRoomOpen(alice.page, 'Bob Builder');
    // Bob is online: the room list shows his presence dot.
    await alice.page.locator(`${tid('room-item')} ${tid('presence-dot')}[data-online="true"]`).waitFor();

    await b.send(alice.page, 'Hi Bob!');
    // Bob's device receives it live and acks it (delivered) before he opens the chat.
    await b.waitTick(alice.page, 'Hi Bob!', 'delivered');
    const tickLook = () => b.message(alice.page, 'Hi Bob!').locator(tid('tick'))
      .evaluate((el) => ({ background: getComputedStyle(el).backgroundColor, label: el.getAttribute('aria-label') }));
    const delivered = await tickLook();
    const bobRoom = bob.page.locator(tid('room-item')).filter({ hasText: 'Alice Liddell' });
    await bobRoom.locator(tid('unread-badge')).filter({ hasText: '1' }).waitFor();
    assert.equal(await bobRoom.locator(tid('room-preview')).textContent(), 'Hi Bob!');

    await b.openRoom(bob.page, 'Alice Liddell');
    await b.message(bob.page, 'Hi Bob!').waitFor();
    await b.waitTick(alice.page, 'Hi Bob!', 'read');
    // Read differs from delivered by more than the ticks' colour: a filled pill behind them, and
    // its own accessible name.
    const read = await tickLook();
    assert.equal(delivered.background, 'rgba(0, 0, 0, 0)');
    assert.notEqual(read.background, delivered.background);
    assert.deepEqual([delivered.label, read.label], ['Delivered', 'Read']);
    await bobRoom.locator(tid('unread-badge')).waitFor({ state: 'detached' });
  });

  it('shows the other side typing', async () => {
    await bob.page.locator(tid('composer-input')).pressSequentially('Hello Al', { delay: 20 });
    await alice.page.locator(tid('typing-indicator')).filter({ hasText: 'Bob Builder is typing' }).waitFor();
    await bob.page.locator(tid('composer-input')).fill('');
    await bob.page.locator(tid('composer-input')).press('Backspace');
    await alice.page.locator(tid('typing-indicator')).waitFor({ state: 'hidden', timeout: 10_000 });
  });

  it('replies to a message, quoting it', async () => {
    await b.message(bob.page, 'Hi Bob!').hover();
    await b.message(bob.page, 'Hi Bob!').locator(tid('reply-button')).click();
    await bob.page.locator(tid('reply-preview')).filter({ hasText: 'Hi Bob!' }).waitFor();
    await b.send(bob.page, 'Hello Alice, nice to hear from you');
    const reply = b.message(alice.page, 'Hello Alice, nice to hear from you');
    await reply.locator(tid('reply-quote')).filter({ hasText: 'Hi Bob!' }).waitFor();
    assert.equal(await reply.locator(tid('reply-quote')).getAttribute('data-reply-to'), '1');
  });

  it('shows HTML in a message as text and runs nothing', async () => {
    await b.send(alice.page, XSS);
    await b.message(bob.page, XSS).waitFor();
    for (const u of [alice, bob]) {
      assert.equal(await u.page.locator(`${tid('messages')} img`).count(), 0, 'no img element in messages');
      assert.equal(await b.message(u.page, XSS).locator(tid('message-body')).textContent(), XSS);
    }
    // The room list preview is text too.
    assert.equal(await bob.page.locator(`${tid('room-list')} img`).count(), 0);
    await b.waitTick(alice.page, XSS, 'read');
    b.assertClean(alice);
    b.assertClean(bob);
  });

  it('creates a group; per-member receipts; admin actions in the members panel', async () => {
    // A third member who never opens the app: her receipts stay pending.
    const res = await fetch(`${server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'correct horse battery', display_name: 'Carol' }),
    });
    assert.equal(res.status, 201);

    await b.createGroup(alice, 'Weekend trip', ['bob', 'carol']);
    await b.send(alice.page, 'Who is driving?');
    await b.openRoom(bob.page, 'Weekend trip');
    await b.message(bob.page, 'Who is driving?').waitFor();
    await b.send(bob.page, 'I can drive');
    await b.message(alice.page, 'I can drive').locator(tid('message-sender')).filter({ hasText: 'Bob Builder' }).waitFor();
    // Bob read it, Carol has not even received it: not all read, so not "read".
    await alice.page.waitForTimeout(500);
    assert.equal(await b.tickState(alice.page, 'Who is driving?'), 'sent');

    // Per-member detail.
    await b.message(alice.page, 'Who is driving?').locator(tid('tick')).click();
    const dlg = alice.page.locator(tid('dialog-receipts'));
    await dlg.locator(tid('receipts-read')).filter({ hasText: 'Bob Builder' }).waitFor();
    await dlg.locator(tid('receipts-pending')).filter({ hasText: 'Carol' }).waitFor();
    await b.screenshot(alice.page, 'group-receipts');
    await alice.page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });

    // Members panel: promote Bob, rename, remove Carol.
    await alice.page.locator(tid('members-toggle')).click();
    const panel = alice.page.locator(tid('members-panel'));
    const bobRow = panel.locator(`${tid('member')}`).filter({ hasText: '@bob' });
    await bobRow.locator(tid('member-role')).filter({ hasText: 'member' }).waitFor();
    await bobRow.locator(tid('promote')).click();
    await bobRow.locator(tid('member-role')).filter({ hasText: 'admin' }).waitFor();
    await panel.locator(tid('rename-input')).fill('Weekend trip 2025');
    await panel.locator(tid('rename-submit')).click();
    await bob.page.locator(`${tid('conversation')} ${tid('room-name')}`).filter({ hasText: 'Weekend trip 2025' }).waitFor();
    await bob.page.locator(tid('system-message')).filter({ hasText: 'made Bob Builder an admin' }).waitFor();
    await alice.page.waitForTimeout(300);
    await b.screenshot(alice.page, 'group-members');

    const carolRow = panel.locator(`${tid('member')}`).filter({ hasText: '@carol' });
    await carolRow.locator(tid('remove-member')).click();
    await carolRow.waitFor({ state: 'detached' });
    assert.equal(await panel.locator(tid('member')).count(), 2);
    // Now everyone else (Bob) has read it: the tick turns read.
    await b.waitTick(alice.page, 'Who is driving?', 'read');

    // Errors are shown with their code: Bob (admin, not owner) may not change roles, so the
    // controls are not offered to him; a forbidden action surfaces as a toast when tried via API.
    await bob.page.locator(tid('members-toggle')).click();
    const bobPanel = bob.page.locator(tid('members-panel'));
    await bobPanel.locator(tid('my-role')).filter({ hasText: 'admin' }).waitFor();
    assert.equal(await bobPanel.locator(tid('promote')).count(), 0);
    await bob.page.locator(tid('panel-close')).click();
    await alice.page.locator(tid('panel-close')).click();
  });

  it('catches up after the page was closed: every message once, in order', async () => {
    await b.openRoom(alice.page, 'Bob Builder');
    await bob.page.close();
    const sent = ['offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5'];
    for (const t of sent) await b.send(alice.page, t);
    await b.waitTick(alice.page, 'offline 5', 'sent');

    await b.reopen(bob);
    await b.waitConnected(bob.page);
    const room = bob.page.locator(tid('room-item')).filter({ hasText: 'Alice Liddell' });
    await room.locator(tid('unread-badge')).filter({ hasText: '5' }).waitFor();
    await b.openRoom(bob.page, 'Alice Liddell');
    await b.message(bob.page, 'offline 5').waitFor();
    const all = await b.bodies(bob.page);
    assert.deepEqual(all.filter((t) => t.startsWith('offline')), sent);
    assert.equal(new Set(all).size, all.length, 'no duplicates');
    await b.waitTick(alice.page, 'offline 5', 'read');
  });

  it('goes offline with the chat open, queues a send, and catches up on reconnect', async () => {
    await bob.context.setOffline(true);
    await bob.page.locator(`${tid('connection-status')}[data-state="offline"]`).waitFor();
    // Bob sends while offline: it waits in the outbox.
    await b.send(bob.page, 'sent while offline', { wait: false });
    await bob.page.locator(`${tid('message')}[data-pending="true"] ${tid('tick')}[data-state="pending"]`).waitFor();
    await b.screenshot(bob.page, 'offline-queued');

    const sent = ['while away A', 'while away B', 'while away C'];
    for (const t of sent) await b.send(alice.page, t);

    await bob.context.setOffline(false);
    await b.waitConnected(bob.page);
    await b.message(bob.page, 'while away C').waitFor();
    await b.message(alice.page, 'sent while offline').waitFor();
    // Let any duplicate deliveries arrive before counting.
    await bob.page.waitForTimeout(500);
    const bobSees = await b.bodies(bob.page);
    const aliceSees = await b.bodies(alice.page);
    for (const list of [bobSees, aliceSees]) {
      const got = list.filter((t) => sent.includes(t));
      assert.deepEqual(got, sent, 'each message once, in order');
      assert.equal(list.filter((t) => t === 'sent while offline').length, 1, 'queued send delivered once');
    }
    assert.equal(await bob.page.locator(`${tid('message')}[data-pending="true"]`).count(), 0);

    // Bob writes in the group while Alice has the direct chat open: an unread badge for her.
    await b.openRoom(bob.page, 'Weekend trip 2025');
    await b.send(bob.page, 'See you on Saturday!');
    const group = alice.page.locator(tid('room-item')).filter({ hasText: 'Weekend trip 2025' });
    await group.locator(tid('unread-badge')).filter({ hasText: '1' }).waitFor();
    assert.equal(await alice.page.locator(tid('room-item')).first().getAttribute('data-kind'), 'group', 'most recent first');
    await b.waitTick(alice.page, 'while away C', 'read');
    await alice.page.waitForTimeout(300);
    await b.screenshot(alice.page, 'conversation');
    b.assertClean(alice);
  });

  it('works on a phone-sized screen', async () => {
    const phone = await b.openUser(browser, server.url, { viewport: { width: 390, height: 780 } });
    await b.login(phone, 'alice');
    await phone.page.locator(tid('room-list')).waitFor();
    assert.equal(await phone.page.locator(tid('conversation')).isVisible(), false, 'list only');
    await b.screenshot(phone.page, 'phone-rooms');
    await b.openRoom(phone.page, 'Bob Builder');
    await b.message(phone.page, 'while away C').waitFor();
    assert.equal(await phone.page.locator(tid('room-list')).isVisible(), false, 'conversation only');
    await phone.page.waitForTimeout(300);
    await b.screenshot(phone.page, 'phone-conversation');
    await phone.page.locator(tid('back')).click();
    await phone.page.locator(tid('room-list')).waitFor();
    await phone.context.close();
  });

  it('can be used with the keyboard alone', async () => {
    const { page } = alice;
    await b.openRoom(bob.page, 'Weekend trip 2025');
    // Focus the room list entry for the group, open it with Enter, type, send with Enter.
    const item = page.locator(tid('room-item')).filter({ hasText: 'Weekend trip' });
    await item.focus();
    await page.keyboard.press('Enter');
    await b.assertRoomOpen(page, 'Weekend trip');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'composer-input');
    await page.keyboard.type('typed with the keyboard');
    await page.keyboard.press('Enter');
    await b.message(bob.page, 'typed with the keyboard').waitFor();
    // Tab moves on from the composer to the send button; Escape-free focus is visible.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'send');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    b.assertClean(alice);
    b.assertClean(bob);
  });

  it('adds a member from the panel, and a member leaves', async () => {
    await b.openRoom(alice.page, 'Weekend trip 2025');
    await alice.page.locator(tid('members-toggle')).click();
    const panel = alice.page.locator(tid('members-panel'));
    await panel.locator(tid('add-member-search')).fill('car');
    await panel.locator(`${tid('add-member-result')}[data-username="carol"]`).click();
    await panel.locator(tid('member')).filter({ hasText: '@carol' }).waitFor();
    await bob.page.locator(tid('system-message')).filter({ hasText: 'Alice Liddell added Carol' }).waitFor();

    await bob.page.locator(tid('members-toggle')).click();
    await bob.page.locator(tid('leave-room')).click();
    await bob.page.locator(tid('room-item')).filter({ hasText: 'Weekend trip 2025' }).waitFor({ state: 'detached' });
    await panel.locator(tid('member')).filter({ hasText: '@bob' }).waitFor({ state: 'detached' });
    await alice.page.locator(tid('system-message')).filter({ hasText: 'Bob Builder left' }).waitFor();
    b.assertClean(alice);
    b.assertClean(bob);
  });
});
