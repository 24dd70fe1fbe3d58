// The web client's own behaviours beyond plain chatting: a message too big to send does not block
// the others (and survives a reload until discarded), drafts stay with their chat, day separators,
// the unread divider and "jump to latest", message actions on touch screens, a channel owner's
// follower list kept fresh, and accessibility (axe) of every dialog and of dark mode.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const c = require('../lib/client.js');
const b = require('./browser.js');

const { tid } = b;

describe('web client: outbox, drafts, reading aids, touch and accessibility', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let ann;
  let ben;
  /** A user driven over REST only, to post into Ann's chats. */
  let cat;

  before(async () => {
    server = await startServer();
    browser = await b.launch();
    ann = await b.openUser(browser, server.url);
    ben = await b.openUser(browser, server.url);
    await b.register(ann, 'ann', 'Ann Arbor');
    await b.register(ben, 'ben', 'Ben Nevis');
    cat = await c.register(server.url, { username: 'cat', display_name: 'Cat Stevens' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('a pasted message over 64 KiB is marked too_large with Retry and Discard, and every later message still goes', async () => {
    const { page } = ann;
    await b.startDirect(ann, 'ben');
    await b.assertRoomOpen(page, 'Ben Nevis');
    const huge = 'x'.repeat(70 * 1024);
    await b.send(page, huge, { wait: false });
    const failed = page.locator(`${tid('message')}[data-pending="true"]`);
    await failed.locator(tid('send-error')).filter({ hasText: 'too_large' }).waitFor();
    await failed.locator(tid('retry-send')).waitFor();
    // The socket never dropped: the message was not put on the wire.
    assert.equal(await page.locator(tid('connection-status')).getAttribute('data-state'), 'online');

    await b.send(page, 'after the big one');
    await b.openRoom(ben.page, 'Ann Arbor');
    await b.message(ben.page, 'after the big one').waitFor();
    // Another chat is not held up either.
    await b.startDirect(ann, 'cat');
    await b.send(page, 'hello cat');
    const room = await c.directRoom(server.url, cat, { id: ann.userId || (await annId()) });
    const page1 = await c.api(server.url, 'GET', `/api/rooms/${room.id}/messages`, cat.token);
    assert.deepEqual(page1.body.messages.map((m) => m.body), ['hello cat']);

    // After a reload the failed message is still there, failed, until discarded.
    await b.reopen(ann);
    await b.waitConnected(ann.page);
    await b.openRoom(ann.page, 'Ben Nevis');
    const again = ann.page.locator(`${tid('message')}[data-pending="true"]`);
    await again.locator(tid('send-error')).filter({ hasText: 'too_large' }).waitFor();
    await again.locator(tid('discard-send')).click();
    await again.waitFor({ state: 'detached' });
    assert.deepEqual(await b.bodies(ann.page), ['after the big one']);
    b.assertClean(ann);
    b.assertClean(ben);
  });

  /** Ann's user id, from a search as Cat. */
  async function annId() {
    const res = await c.api(server.url, 'GET', '/api/users?q=ann', cat.token);
    const u = res.body.find((x) => x.username === 'ann');
    ann.userId = u.id;
    return u.id;
  }

  it('keeps a draft per chat: text typed in one chat never shows up in another', async () => {
    const { page } = ann;
    const input = page.locator(tid('composer-input'));
    await b.openRoom(page, 'Ben Nevis');
    await input.fill('draft for ben');
    await b.openRoom(page, 'Cat Stevens');
    assert.equal(await input.inputValue(), '', 'the next chat starts empty');
    await input.fill('draft for cat');
    await b.openRoom(page, 'Ben Nevis');
    assert.equal(await input.inputValue(), 'draft for ben');
    await b.openRoom(page, 'Cat Stevens');
    assert.equal(await input.inputValue(), 'draft for cat');
    await input.fill('');
    await b.openRoom(page, 'Ben Nevis');
    await input.fill('');
  });

  it('shows day separators, an unread divider above what arrived unread, and "jump to latest" when scrolled up', async () => {
    const { page } = ann;
    await b.openRoom(page, 'Ben Nevis'); // not the chat that is about to get messages
    const room = await c.directRoom(server.url, cat, { id: await annId() });
    for (let i = 1; i <= 40; i++) await c.postMessage(server.url, cat, room.id, `unread ${i}`);
    await page.locator(tid('room-item')).filter({ hasText: 'Cat Stevens' }).locator(tid('unread-badge')).filter({ hasText: '40' }).waitFor();
    await b.openRoom(page, 'Cat Stevens');
    await b.message(page, 'unread 40').waitFor({ state: 'attached' });
    await page.locator(tid('day-separator')).filter({ hasText: 'Today' }).first().waitFor({ state: 'attached' });
    const divider = page.locator(tid('unread-divider'));
    await divider.waitFor();
    // The divider sits right before the first unread message.
    const next = await divider.evaluate((el) => el.nextElementSibling.querySelector('[data-testid="message-body"]').textContent);
    assert.equal(next, 'unread 1');
    await b.screenshot(page, 'unread-divider');

    await page.locator(tid('messages')).evaluate((el) => { el.scrollTop = 0; });
    const jump = page.locator(tid('jump-latest'));
    await jump.waitFor();
    await jump.click();
    await jump.waitFor({ state: 'hidden' });
    assert.ok(await b.message(page, 'unread 40').isVisible(), 'the newest message is in view');
    b.assertClean(ann);
  });

  it('on a touch screen, reply is reachable without hover: a visible button and a long-press', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 780 }, hasTouch: true, isMobile: true, baseURL: server.url });
    const page = await context.newPage();
    const phone = { context, page, errors: [], dialogs: [] };
    page.on('pageerror', (e) => phone.errors.push(`pageerror: ${e.message}`));
    await page.goto('/');
    await b.login(phone, 'ann');
    await b.openRoom(page, 'Cat Stevens');
    const msg = b.message(page, 'unread 40');
    await msg.waitFor();
    const opacity = await msg.locator(tid('reply-button')).evaluate((el) => getComputedStyle(el).opacity);
    assert.equal(opacity, '1', 'the reply button shows without hover');

    const body = msg.locator(tid('message-body'));
    const box = await body.boundingBox();
    const at = { pointerType: 'touch', isPrimary: true, bubbles: true, clientX: box.x + 5, clientY: box.y + 5 };
    await body.dispatchEvent('pointerdown', at);
    await page.waitForTimeout(700);
    await body.dispatchEvent('pointerup', at);
    await page.locator(tid('reply-preview')).waitFor();
    assert.match(await page.locator(tid('reply-preview')).textContent(), /unread 40/);
    await b.checkA11y(page, 'phone conversation with a reply');
    await context.close();
    assert.deepEqual(phone.errors, []);
  });

  it("keeps a channel owner's follower count and list fresh while the details panel is open", async () => {
    const { page } = ann;
    await page.locator(tid('new-group')).click();
    await page.locator(tid('kind-channel')).check();
    await page.locator(tid('group-name')).fill('Ann news');
    await page.locator(tid('group-create')).click();
    await b.assertRoomOpen(page, 'Ann news');
    await page.locator(tid('members-toggle')).click();
    const channelId = await page.locator(`${tid('members-panel')} ${tid('room-id')}`).textContent();
    await b.checkA11y(page, 'channel details panel');
    const res = await c.api(server.url, 'POST', `/api/rooms/${channelId}/members`, cat.token, { user_id: cat.id });
    assert.equal(res.status, 201);
    await page.locator(`${tid('members-panel')} ${tid('member')}`).filter({ hasText: '@cat' }).waitFor({ timeout: 10_000 });
    await page.locator(tid('room-sub')).filter({ hasText: '2 followers' }).waitFor({ timeout: 10_000 });
    await page.locator(tid('panel-close')).click();
    b.assertClean(ann);
  });

  it('has no serious accessibility violations in any dialog, nor in dark mode', async () => {
    const { page } = ann;
    for (const [button, dialog] of [['new-chat', 'dialog-new-chat'], ['new-group', 'dialog-new-group'], ['join-channel', 'dialog-join']]) {
      await page.locator(tid(button)).click();
      await page.locator(tid(dialog)).waitFor();
      await b.checkA11y(page, dialog);
      await page.keyboard.press('Escape');
      await page.locator(tid(dialog)).waitFor({ state: 'hidden' });
    }
    await page.locator(tid('me-button')).click();
    await page.locator(tid('dialog-profile')).waitFor();
    await b.checkA11y(page, 'dialog-profile');
    await page.keyboard.press('Escape');

    await page.emulateMedia({ colorScheme: 'dark' });
    await b.openRoom(page, 'Ben Nevis');
    await b.send(page, 'seen in the dark');
    await b.checkA11y(page, 'conversation in dark mode');
    await page.locator(tid('members-toggle')).click();
    await b.checkA11y(page, 'details panel in dark mode');
    await b.screenshot(page, 'dark-mode');
    await page.emulateMedia({ colorScheme: 'light' });
    b.assertClean(ann);
  });
});
