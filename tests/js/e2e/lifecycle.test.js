// The message lifecycle in the web client (docs/protocol.md §7), two people in two browser
// contexts: edits (from the "⋯" menu and with Up in an empty composer) seen with "edited",
// reactions toggled from the menu (by keyboard) and from the chips, delete for everyone after a
// confirmation (a tombstone on both sides, and in a reply's quote), delete for me (gone only for
// the caller, also after a reload), forwarding to another chat, and search opening an older
// message the chat did not hold; on a touch phone the ⋯ menu needs no hover. The menu, the
// dialogs and the search results are checked with axe.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const c = require('../lib/client.js');
const b = require('./browser.js');

const { tid } = b;
const PASSWORD = 'correct horse battery';

describe('web client: edit, react, delete, forward and search messages', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let ann;
  let ben;

  before(async () => {
    server = await startServer();
    browser = await b.launch();
    ann = await b.openUser(browser, server.url);
    ben = await b.openUser(browser, server.url);
    await b.register(ann, 'ann', 'Ann Arbor', PASSWORD);
    await b.register(ben, 'ben', 'Ben Nevis', PASSWORD);
    await b.startDirect(ann, 'ben');
    await b.send(ann.page, 'hello ben');
    await b.send(ann.page, 'see you at 5');
    await b.openRoom(ben.page, 'Ann Arbor');
    await b.message(ben.page, 'see you at 5').waitFor();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  /** Opens the "⋯" menu of the message with that body. */
  async function menu(page, text) {
    const msg = b.message(page, text);
    await msg.hover();
    await msg.locator(tid('message-actions')).click();
    await page.locator(tid('message-menu')).waitFor();
  }

  const edited = (page, text) => b.message(page, text).locator(tid('edited-label'));

  it('edits a message from its menu; both sides show the new text marked "edited"', async () => {
    await menu(ann.page, 'see you at 5');
    await b.checkA11y(ann.page, 'message menu');
    await ann.page.locator(tid('menu-edit')).click();
    await ann.page.locator(tid('edit-preview')).waitFor();
    const input = ann.page.locator(tid('composer-input'));
    assert.equal(await input.inputValue(), 'see you at 5');
    await input.fill('see you at 6');
    await input.press('Enter');
    await edited(ann.page, 'see you at 6').waitFor();
    await edited(ben.page, 'see you at 6').waitFor();
    assert.equal(await b.message(ben.page, 'see you at 5').count(), 0);
    assert.equal(await input.inputValue(), '', 'the composer is empty again after saving');
    assert.ok(await ann.page.locator(tid('edit-preview')).isHidden());
  });

  it('Up in an empty composer edits the last own message; Esc cancels and keeps the draft', async () => {
    const input = ann.page.locator(tid('composer-input'));
    await input.focus();
    await input.press('ArrowUp');
    await ann.page.locator(tid('edit-preview')).waitFor();
    assert.equal(await input.inputValue(), 'see you at 6');
    await input.press('Escape');
    await ann.page.locator(tid('edit-preview')).waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), '');

    await input.press('ArrowUp');
    await input.fill('see you at 7');
    await input.press('Enter');
    await edited(ben.page, 'see you at 7').waitFor();
    assert.deepEqual(await b.bodies(ben.page), ['hello ben', 'see you at 7'], 'change entries are never shown');
  });

  it('reacts from the menu by keyboard and toggles with the chips; counts and pressed state on both sides', async () => {
    // Ben: focus the message's "⋯" button, open the menu with Enter, the first item is 👍.
    const actions = b.message(ben.page, 'hello ben').locator(tid('message-actions'));
    await actions.focus();
    await ben.page.keyboard.press('Enter');
    await ben.page.locator(`${tid('react-option')}[data-emoji="👍"]`).waitFor();
    assert.equal(await ben.page.evaluate(() => document.activeElement.dataset.emoji), '👍');
    await ben.page.keyboard.press('Enter');
    await ben.page.locator(tid('message-menu')).waitFor({ state: 'hidden' });

    const chip = (page) => b.message(page, 'hello ben').locator(`${tid('reaction')}[data-emoji="👍"]`);
    const count = async (page) => chip(page).locator(tid('reaction-count')).textContent();
    await chip(ben.page).and(ben.page.locator('[aria-pressed="true"]')).waitFor();
    await chip(ann.page).and(ann.page.locator('[aria-pressed="false"]')).waitFor();
    assert.equal(await count(ann.page), '1');

    // Ann adds hers with the chip: 2 on both sides.
    await chip(ann.page).click();
    await chip(ann.page).and(ann.page.locator('[aria-pressed="true"]')).waitFor();
    await b.message(ben.page, 'hello ben').locator(tid('reaction-count')).filter({ hasText: /^2$/ }).waitFor();
    assert.equal(await count(ann.page), '2');
    assert.match(await chip(ann.page).getAttribute('aria-label'), /Ben Nevis/);

    // And takes it back.
    await chip(ann.page).click();
    await chip(ann.page).and(ann.page.locator('[aria-pressed="false"]')).waitFor();
    await b.message(ben.page, 'hello ben').locator(tid('reaction-count')).filter({ hasText: /^1$/ }).waitFor();
  });

  it('deletes for everyone after a confirmation: a tombstone on both sides and in a reply quoting it', async () => {
    await b.send(ann.page, 'oops wrong chat');
    await b.message(ben.page, 'oops wrong chat').waitFor();
    // Ben replies to it first.
    await menu(ben.page, 'oops wrong chat');
    await ben.page.locator(tid('menu-reply')).click();
    await b.send(ben.page, 'what was that?');
    await b.message(ann.page, 'what was that?').waitFor();

    await menu(ann.page, 'oops wrong chat');
    await ann.page.locator(tid('menu-delete-all')).click();
    const dialog = ann.page.locator(tid('dialog-delete'));
    await dialog.waitFor();
    assert.equal(await dialog.locator(tid('delete-quote')).textContent(), 'oops wrong chat');
    await b.checkA11y(ann.page, 'delete confirmation');
    // Cancel first: nothing happens.
    await dialog.locator(tid('delete-cancel')).click();
    await dialog.waitFor({ state: 'hidden' });
    await b.message(ann.page, 'oops wrong chat').waitFor();

    await menu(ann.page, 'oops wrong chat');
    await ann.page.locator(tid('menu-delete-all')).click();
    await dialog.locator(tid('delete-confirm')).click();
    await dialog.waitFor({ state: 'hidden' });
    for (const page of [ann.page, ben.page]) {
      await b.message(page, 'This message was deleted').and(page.locator('[data-deleted="true"]')).waitFor();
      assert.equal(await b.message(page, 'oops wrong chat').count(), 0);
      const quote = b.message(page, 'what was that?').locator(tid('quote-body'));
      await quote.filter({ hasText: 'This message was deleted' }).waitFor();
    }
    // Only Ben's own messages can be deleted for everyone by Ben in a direct chat.
    await menu(ben.page, 'see you at 7');
    assert.equal(await ben.page.locator(tid('menu-delete-all')).count(), 0);
    assert.equal(await ben.page.locator(tid('menu-edit')).count(), 0);
    await ben.page.keyboard.press('Escape');
    await ben.page.locator(tid('message-menu')).waitFor({ state: 'hidden' });
    // An edited message, a reaction, a tombstone and a reply quoting it, as Ben sees them.
    await ben.page.evaluate(() => document.activeElement && document.activeElement.blur());
    await b.screenshot(ben.page, 'lifecycle');
  });

  it('deletes for me: gone for the caller (also after a reload), still there for the other', async () => {
    await b.send(ben.page, 'a note for ann');
    await b.message(ann.page, 'a note for ann').waitFor();
    await menu(ann.page, 'a note for ann');
    await ann.page.locator(tid('menu-delete-me')).click();
    await b.message(ann.page, 'a note for ann').waitFor({ state: 'detached' });
    await b.message(ben.page, 'a note for ann').waitFor();

    await b.reopen(ann);
    await b.waitConnected(ann.page);
    await b.openRoom(ann.page, 'Ben Nevis');
    await b.message(ann.page, 'what was that?').waitFor();
    assert.equal(await b.message(ann.page, 'a note for ann').count(), 0);
    assert.equal(await b.message(ben.page, 'a note for ann').count(), 1);
  });

  it('forwards a message to another chat chosen in a dialog', async () => {
    await b.createGroup(ann, 'Book club', ['ben']);
    await b.openRoom(ann.page, 'Ben Nevis');
    await menu(ann.page, 'see you at 7');
    await ann.page.locator(tid('menu-forward')).click();
    const dialog = ann.page.locator(tid('dialog-forward'));
    await dialog.waitFor();
    await b.checkA11y(ann.page, 'forward dialog');
    await dialog.locator(tid('forward-room')).filter({ hasText: 'Book club' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await b.openRoom(ben.page, 'Book club');
    const copy = b.message(ben.page, 'see you at 7');
    await copy.locator(tid('forwarded-label')).waitFor();
    assert.equal(await copy.locator(tid('edited-label')).count(), 0, 'a forward is a new message, not an edited one');
    await b.openRoom(ann.page, 'Book club');
    await b.message(ann.page, 'see you at 7').locator(tid('forwarded-label')).waitFor();
  });

  it('on a touch phone the ⋯ button shows without hover and a tap opens the menu, which stays on screen', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 780 }, hasTouch: true, isMobile: true, baseURL: server.url });
    try {
      const page = await context.newPage();
      const phone = { context, page, errors: [], dialogs: [] };
      page.on('pageerror', (e) => phone.errors.push(`pageerror: ${e.message}`));
      await page.goto('/');
      await b.login(phone, 'ben', PASSWORD);
      await b.openRoom(page, 'Ann Arbor');
      const actions = b.message(page, 'hello ben').locator(tid('message-actions'));
      assert.equal(await actions.evaluate((el) => getComputedStyle(el).opacity), '1');
      await actions.tap();
      const menuBox = await page.locator(tid('message-menu')).boundingBox();
      assert.ok(menuBox && menuBox.x >= 0 && menuBox.x + menuBox.width <= 390 && menuBox.y + menuBox.height <= 780, 'the menu fits the screen');
      await page.locator(tid('menu-reply')).tap();
      await page.locator(tid('reply-preview')).waitFor();
      assert.deepEqual(phone.errors, []);
    } finally {
      await context.close();
    }
  });

  it('searches messages; opening a hit far back loads the history around it and shows it', async () => {
    // Ben posts a needle in the group, then more than a page of other messages over REST.
    const session = await c.login(server.url, { username: 'ben', password: PASSWORD });
    const rooms = await c.api(server.url, 'GET', '/api/rooms', session.access_token);
    const club = rooms.body.find((r) => r.name === 'Book club');
    await c.api(server.url, 'POST', `/api/rooms/${club.id}/messages`, session.access_token, { body: 'the needle in the haystack' });
    for (let i = 0; i < 70; i++) {
      await c.api(server.url, 'POST', `/api/rooms/${club.id}/messages`, session.access_token, { body: `hay ${i}` });
    }
    await b.openRoom(ann.page, 'Ben Nevis');

    const { page } = ann;
    await page.locator(tid('message-search')).fill('needle');
    const hit = page.locator(tid('search-result')).filter({ hasText: 'the needle in the haystack' });
    await hit.waitFor();
    assert.equal(await hit.locator(tid('search-result-chat')).textContent(), 'Book club');
    assert.equal(await hit.locator(tid('search-result-sender')).textContent(), 'Ben Nevis');
    assert.ok(await page.locator(tid('room-list')).isHidden(), 'the hits replace the room list');
    await b.checkA11y(page, 'search results');

    await hit.click();
    await b.assertRoomOpen(page, 'Book club');
    const needle = b.message(page, 'the needle in the haystack');
    await needle.waitFor();
    await needle.and(page.locator('.flash')).waitFor();
    assert.ok(await needle.isVisible());
    assert.ok(await needle.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const box = document.querySelector('[data-testid="messages"]').getBoundingClientRect();
      return r.top >= box.top && r.bottom <= box.bottom;
    }), 'the hit is scrolled into view');
    // The newest messages are one click away.
    await page.locator(tid('jump-latest')).click();
    await b.message(page, 'hay 69').waitFor();

    // Esc in the box brings the room list back; a query with no word is the server's error.
    await page.locator(tid('message-search')).fill('!!!');
    await page.locator(tid('search-error')).filter({ hasText: 'invalid' }).waitFor();
    await page.locator(tid('message-search')).press('Escape');
    await page.locator(tid('room-list')).waitFor();

    b.assertClean(ann);
    b.assertClean(ben);
  });
});
