// Privacy and safety in the web client (docs/protocol.md §14): blocking from a direct chat's
// header and unblocking from the settings' blocked list; privacy settings saved, enforced on the
// server and followed live by the user's other page; group invite links created, opened, revoked
// and approved; the channel directory; reporting a message and a person to the operators.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../lib/server.js');
const b = require('./browser.js');

const { tid } = b;
const OPERATOR = 'operator';

/** The signed-in user's session as the page stores it. */
async function sessionOf(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('missive.session')));
}

async function rest(url, method, path, token, body) {
  const res = await fetch(url + path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function openPrivacy(page) {
  await page.locator(tid('account-menu')).click();
  await page.locator(tid('privacy-open')).click();
  await page.locator(tid('dialog-privacy')).waitFor();
}

async function closePrivacy(page) {
  await page.locator(tid('privacy-close')).click();
  await page.locator(tid('dialog-privacy')).waitFor({ state: 'hidden' });
}

describe('web client: privacy and safety', { timeout: 240_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;
  let carol;

  before(async () => {
    server = await startServer({ env: { MISSIVE_ADMINS: OPERATOR } });
    browser = await b.launch();
    [alice, bob, carol] = await Promise.all([1, 2, 3].map(() => b.openUser(browser, server.url)));
    await b.register(alice, 'alice', 'Alice');
    await b.register(bob, 'bob', 'Bob');
    await b.register(carol, 'carol', 'Carol');
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('blocks from the chat header: the blocked person’s message is refused; unblocking from the blocked list lets messages flow', async () => {
    await b.startDirect(alice, 'bob');
    await b.send(alice.page, 'hi bob');
    await b.openRoom(bob.page, 'Alice');
    await b.message(bob.page, 'hi bob').waitFor();

    // Block, with a confirmation.
    await alice.page.locator(tid('chat-menu')).click();
    await alice.page.locator(tid('block-user')).click();
    await alice.page.locator(tid('dialog-block')).getByText('Block Bob?').waitFor();
    await b.checkA11y(alice.page, 'block confirmation');
    await alice.page.locator(tid('block-confirm')).click();
    await alice.page.locator(tid('dialog-block')).waitFor({ state: 'hidden' });
    await alice.page.locator(tid('blocked-note')).getByText('You blocked Bob').waitFor();
    assert.equal(await alice.page.locator(tid('composer')).isVisible(), false, 'no composer in a blocked chat');
    await b.screenshot(alice.page, 'blocked-chat');

    // Bob's message is refused, and his page says so.
    await b.send(bob.page, 'are you there?', { wait: false });
    await bob.page.locator(`${tid('message')}[data-pending="true"] ${tid('send-error')}`).filter({ hasText: 'forbidden' }).waitFor();

    // The settings list Bob among the blocked; unblocking there removes him.
    await openPrivacy(alice.page);
    const listed = alice.page.locator(`${tid('blocked-user')}[data-username="bob"]`);
    await listed.waitFor();
    await b.screenshot(alice.page, 'privacy-settings');
    await listed.locator(tid('unblock-button')).click();
    await listed.waitFor({ state: 'detached' });
    await alice.page.locator(tid('blocked-list')).getByText('You have not blocked anyone.').waitFor();
    await closePrivacy(alice.page);
    await alice.page.locator(tid('blocked-note')).waitFor({ state: 'hidden' });
    await alice.page.locator(tid('composer')).waitFor();

    // Messages flow again: Bob's refused one, retried, and a new one from Alice.
    assert.equal(await b.message(alice.page, 'are you there?').count(), 0, 'the refused message never arrived');
    await bob.page.locator(tid('retry-send')).click();
    await b.message(alice.page, 'are you there?').waitFor();
    await b.send(alice.page, 'welcome back');
    await b.message(bob.page, 'welcome back').waitFor();
  });

  it('privacy settings: last seen "nobody" is saved, hides Alice’s presence from her contacts, and reaches her other page live', async () => {
    const aliceId = (await sessionOf(alice.page)).user.id;
    const bobToken = (await sessionOf(bob.page)).access_token;
    const before = await rest(server.url, 'GET', `/api/users/${aliceId}`, bobToken);
    assert.equal(before.body.online, true, 'a contact sees Alice online by default');

    const second = await alice.context.newPage();
    second.on('pageerror', (e) => alice.errors.push(`pageerror: ${e.message}`));
    await second.goto('/');
    await b.waitConnected(second);
    await openPrivacy(second);
    await second.locator(`${tid('last-seen-contacts')}:checked`).waitFor();

    await openPrivacy(alice.page);
    await alice.page.locator(tid('last-seen-nobody')).check();
    await alice.page.locator(tid('privacy-status')).filter({ hasText: 'Saved.' }).waitFor();
    // The other page follows, with the dialog open.
    await second.locator(`${tid('last-seen-nobody')}:checked`).waitFor();
    // And back the other way: read receipts turned off on the second page.
    await second.locator(tid('read-receipts')).uncheck();
    await second.locator(tid('privacy-status')).filter({ hasText: 'Saved.' }).waitFor();
    await alice.page.waitForFunction(() => !document.querySelector('[data-testid="read-receipts"]').checked);

    const after = await rest(server.url, 'GET', `/api/users/${aliceId}`, bobToken);
    assert.equal(after.body.online, false, 'Bob no longer sees Alice online');
    assert.equal(after.body.last_seen_at, null);
    const saved = await rest(server.url, 'GET', '/api/me/privacy', (await sessionOf(alice.page)).access_token);
    assert.deepEqual(saved.body, { last_seen: 'nobody', read_receipts: false, group_add: 'everyone' });

    await closePrivacy(alice.page);
    await second.close();
  });

  it('invite links: an admin makes one, another person opens it and joins; a revoked link says so; with approval the admin lets them in', async () => {
    await b.createGroup(carol, 'Book club', []);
    const { page } = carol;
    await page.locator(tid('members-toggle')).click();
    const section = page.locator(tid('invites-section'));
    await section.locator(tid('invite-create')).click();
    const link = section.locator(tid('invite-link')).first();
    await link.waitFor();
    const url = await link.locator(tid('invite-url')).inputValue();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/#invite=[\w-]{40,}$/);

    // Bob opens the link in a fresh page load: the group's name and a Join button.
    await bob.page.goto('about:blank');
    await bob.page.goto(url);
    await b.waitConnected(bob.page);
    await bob.page.locator(tid('invite-name')).filter({ hasText: 'Book club' }).waitFor();
    await b.screenshot(bob.page, 'invite-join');
    await bob.page.locator(tid('invite-join')).click();
    await b.assertRoomOpen(bob.page, 'Book club');
    assert.ok(!(await bob.page.evaluate(() => location.hash)), 'the token leaves the address bar');
    await link.locator(tid('invite-usage')).filter({ hasText: 'Used 1 time' }).waitFor();

    // Revoked: the link now shows the server's error.
    await link.locator(tid('invite-revoke')).click();
    await section.locator(tid('invite-link')).waitFor({ state: 'detached' });
    await alice.page.goto(url);
    await alice.page.locator(tid('invite-error')).filter({ hasText: 'not_found' }).waitFor();
    await alice.page.locator(tid('invite-close')).click();

    // With approval: Alice asks, Carol approves in the panel, Alice is in.
    await section.locator(tid('invite-approval')).check();
    await section.locator(tid('invite-max-uses')).fill('5');
    await section.locator(tid('invite-create')).click();
    const gated = section.locator(`${tid('invite-link')}[data-approval="true"]`);
    await gated.waitFor();
    await gated.locator(tid('invite-usage')).filter({ hasText: 'Used 0 of 5' }).waitFor();
    assert.equal(await section.locator(tid('invite-max-uses')).inputValue(), '', 'the form is cleared for the next link');
    assert.equal(await section.locator(tid('invite-approval')).isChecked(), false);
    const gatedUrl = await gated.locator(tid('invite-url')).inputValue();
    await alice.page.goto(gatedUrl);
    await alice.page.locator(tid('invite-join')).filter({ hasText: 'Ask to join' }).click();
    await alice.page.locator(tid('invite-pending')).waitFor();
    await alice.page.locator(tid('invite-close')).click();
    const request = section.locator(`${tid('join-request')}[data-username="alice"]`);
    await request.waitFor({ timeout: 15_000 });
    await b.screenshot(page, 'invite-links');
    await request.locator(tid('join-approve')).click();
    await request.waitFor({ state: 'detached' });
    await b.openRoom(alice.page, 'Book club');
    await page.locator(`${tid('member')}[data-role="member"]`).filter({ hasText: 'Alice' }).waitFor();
    await page.locator(tid('panel-close')).click();
  });

  it('the channel directory finds channels by part of a name or description, most followed first, and follows one', async () => {
    const { page } = carol;
    const createChannel = async (name, description) => {
      await page.locator(tid('new-group')).click();
      await page.locator(tid('kind-channel')).check();
      await page.locator(tid('group-name')).fill(name);
      if (description) await page.locator(tid('group-description')).fill(description);
      await page.locator(tid('group-create')).click();
      await b.assertRoomOpen(page, name);
    };
    await createChannel('Astronomy Weekly');
    await createChannel('Night sky', 'Astronomy for beginners');
    await createChannel('Gardening', 'Plants and soil');

    await alice.page.locator(tid('find-channels')).click();
    const dialog = alice.page.locator(tid('dialog-directory'));
    await dialog.getByText('Most followed channels').waitFor();
    await alice.page.locator(tid('directory-search')).fill('NOMY wee');
    await dialog.getByText('1 found').waitFor();
    const hit = dialog.locator(tid('directory-result'));
    assert.deepEqual(await hit.locator(tid('directory-name')).allTextContents(), ['Astronomy Weekly']);
    assert.equal(await hit.locator(tid('directory-followers')).textContent(), '1 follower');
    await b.screenshot(alice.page, 'channel-directory');
    await hit.locator(tid('directory-follow')).click();
    await b.assertRoomOpen(alice.page, 'Astronomy Weekly');
    await alice.page.locator(tid('composer-note')).waitFor();

    // By description too; the channel Alice now follows comes first, with its new count.
    await alice.page.locator(tid('find-channels')).click();
    await alice.page.locator(tid('directory-search')).fill('astro');
    await dialog.getByText('2 found').waitFor();
    const results = dialog.locator(tid('directory-result'));
    assert.deepEqual(await results.locator(tid('directory-name')).allTextContents(), ['Astronomy Weekly', 'Night sky']);
    assert.deepEqual(await results.locator(tid('directory-followers')).allTextContents(), ['2 followers', '1 follower']);
    await results.first().locator(tid('directory-open')).waitFor();
    await results.nth(1).locator(tid('directory-description')).filter({ hasText: 'Astronomy for beginners' }).waitFor();
    await alice.page.locator(tid('directory-close')).click();
  });

  it('reports a message from its menu and a person from the chat menu; the operator gets both', async () => {
    await b.openRoom(bob.page, 'Alice');
    await b.send(bob.page, 'buy cheap pills');
    await b.openRoom(alice.page, 'Bob');
    const msg = b.message(alice.page, 'buy cheap pills');
    await msg.waitFor();
    const seq = Number(await msg.getAttribute('data-seq'));

    await msg.hover();
    await msg.locator(tid('message-actions')).click();
    await alice.page.locator(tid('menu-report')).click();
    const dialog = alice.page.locator(tid('dialog-report'));
    await dialog.locator(tid('report-quote')).filter({ hasText: 'buy cheap pills' }).waitFor();
    await dialog.locator(tid('report-submit')).click();
    await dialog.locator(tid('report-error')).filter({ hasText: 'invalid' }).waitFor();
    await dialog.locator(tid('report-reason-spam')).check();
    await dialog.locator(tid('report-details')).fill('an advert');
    await b.screenshot(alice.page, 'report-message');
    await dialog.locator(tid('report-submit')).click();
    await dialog.waitFor({ state: 'hidden' });
    await alice.page.locator(tid('info-toast')).filter({ hasText: 'Report sent' }).first().waitFor();

    await alice.page.locator(tid('chat-menu')).click();
    await alice.page.locator(tid('report-user')).click();
    await dialog.locator(tid('report-reason-abuse')).check();
    await dialog.locator(tid('report-submit')).click();
    await dialog.waitFor({ state: 'hidden' });

    const reg = await fetch(`${server.url}/api/auth/register`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: OPERATOR, password: 'operator password' }),
    });
    const operator = await reg.json();
    const reports = await rest(server.url, 'GET', '/api/admin/reports', operator.access_token);
    assert.equal(reports.status, 200);
    const aliceId = (await sessionOf(alice.page)).user.id;
    const bobId = (await sessionOf(bob.page)).user.id;
    const mine = reports.body.map((r) => ({
      reporter_id: r.reporter_id, target_user_id: r.target_user_id, seq: r.seq, message_body: r.message_body, reason: r.reason,
    }));
    assert.deepEqual(mine, [
      { reporter_id: aliceId, target_user_id: bobId, seq, message_body: 'buy cheap pills', reason: 'Spam: an advert' },
      { reporter_id: aliceId, target_user_id: bobId, seq: null, message_body: null, reason: 'Harassment or abuse' },
    ]);
    for (const u of [alice, bob, carol]) b.assertClean(u);
  });
});
