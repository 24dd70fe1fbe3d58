// Shared helpers for the browser end-to-end tests: launch Debian's Chromium through
// playwright-core, open one browser context per user, and drive the web client through its
// data-testid attributes.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { ROOT } = require('../lib/server.js');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Screenshots go to a scratch folder unless MISSIVE_SCREENSHOTS_DIR names one (the docs' are
// refreshed with MISSIVE_SCREENSHOTS_DIR=docs/screenshots), so a test run leaves the tree clean.
const SCREENSHOTS = process.env.MISSIVE_SCREENSHOTS_DIR
  ? path.resolve(ROOT, process.env.MISSIVE_SCREENSHOTS_DIR)
  : path.join(require('node:os').tmpdir(), 'missive-screenshots');

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function checkChromium() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  }
}

/** Launches Chromium; `args` are extra switches (e.g. a fake microphone for voice notes). */
async function launch({ args = [] } = {}) {
  checkChromium();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...ARGS, ...args] });
}

/**
 * Opens a user in a browser with a profile on disk (`launchPersistentContext`): the contexts of
 * `launch()` are off the record, and Chromium refuses push subscriptions there. `args` are
 * extra switches (e.g. lib/gcm.js's). The user gets `close()`.
 */
async function openPersistentUser(url, { viewport = { width: 1280, height: 800 }, args = [] } = {}) {
  checkChromium();
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'missive-profile-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, viewport, baseURL: url, args: [...ARGS, ...args],
  });
  const page = context.pages()[0] || await context.newPage();
  const user = { context, page, url, errors: [], dialogs: [] };
  attach(user, page);
  await page.goto('/');
  user.close = async () => {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return user;
}

/**
 * Opens a new context + page for one user. Collects console errors, page errors, CSP violations
 * and native dialogs (alert/confirm) so tests can assert none happened.
 */
async function openUser(browser, url, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport, baseURL: url });
  const page = await context.newPage();
  const user = { context, page, url, errors: [], dialogs: [] };
  attach(user, page);
  await page.goto('/');
  return user;
}

function attach(user, page) {
  page.on('pageerror', (e) => user.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') user.errors.push(`console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    user.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
}

/** Opens a fresh page in the user's context (the old one closed): a "reload" that keeps storage. */
async function reopen(user) {
  if (!user.page.isClosed()) await user.page.close();
  user.page = await user.context.newPage();
  attach(user, user.page);
  await user.page.goto('/');
  return user.page;
}

const tid = (id) => `[data-testid="${id}"]`;

async function register(user, username, displayName, password = 'correct horse battery') {
  const { page } = user;
  await page.locator(tid('auth-toggle')).click();
  await page.locator(tid('auth-username')).fill(username);
  if (displayName) await page.locator(tid('auth-display-name')).fill(displayName);
  await page.locator(tid('auth-password')).fill(password);
  await page.locator(tid('auth-submit')).click();
  await waitConnected(page);
  user.username = username;
  user.displayName = displayName || username;
}

async function login(user, username, password = 'correct horse battery') {
  const { page } = user;
  await page.locator(tid('auth-username')).fill(username);
  await page.locator(tid('auth-password')).fill(password);
  await page.locator(tid('auth-submit')).click();
  await waitConnected(page);
}

/** Waits until the chat screen is shown and the socket has caught up. */
async function waitConnected(page, timeout = 15000) {
  await page.locator(tid('me-name')).waitFor({ state: 'visible', timeout });
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-testid="connection-status"]');
    return el && el.dataset.state === 'online';
  }, null, { timeout });
}

async function startDirect(user, username) {
  const { page } = user;
  await page.locator(tid('new-chat')).click();
  await page.locator(tid('user-search')).fill(username);
  await page.locator(`${tid('user-result')}[data-username="${username}"]`).click();
  await page.locator(tid('dialog-new-chat')).waitFor({ state: 'hidden' });
}

async function createGroup(user, name, usernames) {
  const { page } = user;
  await page.locator(tid('new-group')).click();
  await page.locator(tid('group-name')).fill(name);
  for (const u of usernames) {
    await page.locator(tid('group-member-search')).fill(u);
    await page.locator(`${tid('group-member-result')}[data-username="${u}"]`).click();
    await page.locator(`${tid('chosen-member')}[data-username="${u}"]`).waitFor();
  }
  await page.locator(tid('group-create')).click();
  await page.locator(tid('dialog-new-group')).waitFor({ state: 'hidden' });
  await assertRoomOpen(page, name);
}

async function assertRoomOpen(page, name) {
  await page.locator(`${tid('conversation')} ${tid('room-name')}`).filter({ hasText: name }).waitFor();
}

/** Clicks a room in the list by its shown name. */
async function openRoom(page, name) {
  await page.locator(tid('room-item')).filter({ has: page.locator(tid('room-name'), { hasText: name }) }).first().click();
  await assertRoomOpen(page, name);
}

/** Types a message in the composer and sends it with Enter; waits until the server stored it. */
async function send(page, text, { wait = true } = {}) {
  const input = page.locator(tid('composer-input'));
  await input.fill(text);
  await input.press('Enter');
  if (wait) {
    await page.locator(`${tid('messages')} ${tid('message')}[data-seq]`)
      .filter({ has: page.locator(tid('message-body'), { hasText: exact(text) }) })
      .first().waitFor();
  }
}

/** A message locator by exact body text. */
function message(page, text) {
  return page.locator(`${tid('messages')} ${tid('message')}`)
    .filter({ has: page.locator(tid('message-body'), { hasText: exact(text) }) });
}

function exact(text) {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** Bodies of all messages shown in the open conversation, in order. */
async function bodies(page) {
  return page.locator(`${tid('messages')} ${tid('message-body')}`).allTextContents();
}

async function tickState(page, text) {
  return message(page, text).locator(tid('tick')).getAttribute('data-state');
}

async function waitTick(page, text, state, timeout = 10000) {
  await message(page, text).locator(`${tid('tick')}[data-state="${state}"]`).waitFor({ timeout });
}

/**
 * Runs axe-core on the page as it is and fails on any serious or critical violation (WCAG 2.2
 * A/AA rules and best practices). The source is evaluated through the DevTools protocol, which
 * the page's CSP does not govern, so the app's own CSP stays strict and its checks meaningful.
 */
async function checkA11y(page, screen) {
  const source = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` — ${n.failureSummary.split('\n').slice(1).join(' ')}` : ''}`).join('; ')}`);
  });
  assert.deepEqual(violations, [], `axe: serious or critical accessibility violations on the ${screen} screen`);
}

/** Every screen the suite photographs is also checked with axe. */
async function screenshot(page, name) {
  await checkA11y(page, name);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

function assertClean(user) {
  assert.deepEqual(user.dialogs, [], 'no native dialogs opened');
  const serious = user.errors.filter((e) => !/Failed to load resource|ERR_INTERNET_DISCONNECTED|net::ERR_|WebSocket connection to/.test(e));
  assert.deepEqual(serious, [], 'no page errors or CSP violations');
}

module.exports = {
  launch, openUser, openPersistentUser, attach, reopen, register, login, waitConnected, startDirect, createGroup, openRoom,
  assertRoomOpen, send, message, bodies, tickState, waitTick, screenshot, checkA11y, assertClean, tid, exact,
};
