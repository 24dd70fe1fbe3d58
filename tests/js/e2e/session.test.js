// Sessions in the web client: access tokens renewed before they expire without dropping the
// socket, channels joined by id, error messages with their codes, logout and logout everywhere.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const b = require('./browser.js');

const { tid } = b;
const TTL_SECONDS = 12;

describe('web client: sessions, channels and errors', { timeout: 180_000 }, () => {
  let server;
  let browser;
  let dave;
  let erin;
  let channelId;

  before(async () => {
    server = await startServer({ env: { MISSIVE_ACCESS_TTL: `${TTL_SECONDS}s` } });
    browser = await b.launch();
    dave = await b.openUser(browser, server.url);
    erin = await b.openUser(browser, server.url);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('shows registration errors with their code', async () => {
    const { page } = dave;
    await page.locator(tid('auth-toggle')).click();
    await page.locator(tid('auth-username')).fill('dave');
    await page.locator(tid('auth-password')).fill('short');
    await page.locator(tid('auth-submit')).click();
    await page.locator(tid('auth-error')).filter({ hasText: 'invalid' }).waitFor();
    await page.locator(tid('auth-toggle')).click(); // back to log in; register() toggles again
    await b.register(dave, 'dave', 'Dave');
    await b.register(erin, 'erin', 'Erin');
  });

  it('creates a channel that others join by id and follow read-only', async () => {
    const { page } = dave;
    await page.locator(tid('new-group')).click();
    await page.locator(tid('kind-channel')).check();
    await page.locator(tid('group-name')).fill('Release notes');
    await page.locator(tid('group-create')).click();
    await b.assertRoomOpen(page, 'Release notes');
    await page.locator(tid('members-toggle')).click();
    channelId = await page.locator(`${tid('members-panel')} ${tid('room-id')}`).textContent();
    assert.ok(channelId);
    await page.locator(tid('panel-close')).click();

    // A wrong id is reported with its code.
    await erin.page.locator(tid('join-channel')).click();
    await erin.page.locator(tid('join-id')).fill('no-such-channel');
    await erin.page.locator(tid('join-submit')).click();
    await erin.page.locator(tid('join-error')).filter({ hasText: 'not_found' }).waitFor();
    await erin.page.locator(tid('join-id')).fill(channelId);
    await erin.page.locator(tid('join-submit')).click();
    await b.assertRoomOpen(erin.page, 'Release notes');
    // Followers cannot post: the composer is replaced by a note.
    await erin.page.locator(tid('composer-note')).waitFor();
    assert.equal(await erin.page.locator(tid('composer')).isVisible(), false);

    await b.send(page, 'v1.0 is out');
    await b.message(erin.page, 'v1.0 is out').waitFor();
  });

  it('loads older pages of history on scroll up', async () => {
    // Dave's web client keeps its access token fresh (12 s here); each post takes the one it
    // holds now, and a post that meets a token expiring as it is renewed is sent again (the
    // client_id makes the repeat harmless), so a slow machine cannot fail this test on a 401.
    const post = async (body, clientId) => {
      for (let attempt = 1; ; attempt++) {
        const token = await dave.page.evaluate(() => JSON.parse(localStorage.getItem('missive.session')).access_token);
        const res = await fetch(`${server.url}/api/rooms/${encodeURIComponent(channelId)}/messages`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: JSON.stringify({ body, client_id: clientId }),
        });
        if (res.status !== 401 || attempt === 3) return res.status;
        await dave.page.waitForTimeout(1000);
      }
    };
    const expected = [];
    for (let i = 1; i <= 70; i++) {
      const body = `note ${i}`;
      expected.push(body);
      assert.equal(await post(body, `note-${i}`), 201);
    }
    // A fresh page: the conversation opens on the latest page only.
    await b.reopen(erin);
    await b.waitConnected(erin.page);
    await b.openRoom(erin.page, 'Release notes');
    await b.message(erin.page, 'note 70').waitFor();
    const firstPage = (await b.bodies(erin.page)).filter((t) => t.startsWith('note '));
    assert.ok(firstPage.length < 70, `only the latest page at first (got ${firstPage.length})`);
    // Scroll to the top until the oldest message is there (each scroll asks for one older page;
    // give a loaded machine up to 15 s).
    for (let i = 0; i < 50 && !(await b.message(erin.page, 'v1.0 is out').count()); i++) {
      await erin.page.locator(tid('messages')).evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
      await erin.page.waitForTimeout(300);
    }
    await b.message(erin.page, 'v1.0 is out').waitFor();
    const all = await b.bodies(erin.page);
    assert.deepEqual(all.filter((t) => t.startsWith('note ')), expected);
    assert.equal(all.indexOf('v1.0 is out'), 0);
  });

  it('renews the access token before it expires and keeps the socket', async () => {
    const { page } = dave;
    const first = await page.evaluate(() => JSON.parse(localStorage.getItem('missive.session')).access_token);
    // Record every connection state the page goes through from now on.
    await page.evaluate(() => {
      window.__states = [];
      const el = document.querySelector('[data-testid="connection-status"]');
      new MutationObserver(() => window.__states.push(el.dataset.state)).observe(el, { attributes: true });
    });
    // Past the access token's lifetime plus the server's 10 s grace.
    await page.waitForTimeout((TTL_SECONDS + 11) * 1000);
    const now = await page.evaluate(() => JSON.parse(localStorage.getItem('missive.session')).access_token);
    assert.notEqual(now, first, 'token renewed');
    assert.deepEqual(await page.evaluate(() => window.__states), [], 'socket never dropped');
    await b.send(page, 'still here after renewal');
    await b.message(erin.page, 'still here after renewal').waitFor();
    b.assertClean(dave);
  });

  it('logs out this device; the session no longer works', async () => {
    const { page } = erin;
    const refreshToken = await page.evaluate(() => JSON.parse(localStorage.getItem('missive.session')).refresh_token);
    await page.locator(tid('account-menu')).click();
    await page.locator(tid('logout')).click();
    await page.locator(tid('auth-screen')).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('missive.session')), null);
    const res = await fetch(`${server.url}/api/auth/refresh`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: refreshToken }),
    });
    assert.equal(res.status, 401);
    await b.login(erin, 'erin');
  });

  it('logs out everywhere: the other device is sent to the login screen', async () => {
    const other = await b.openUser(browser, server.url);
    await b.login(other, 'dave');
    await dave.page.locator(tid('account-menu')).click();
    await dave.page.locator(tid('logout-all')).click();
    await dave.page.locator(tid('auth-screen')).waitFor();
    await other.page.locator(tid('auth-screen')).waitFor({ timeout: 20_000 });
    await other.page.locator(tid('auth-error')).waitFor();
    await other.context.close();
  });
});
