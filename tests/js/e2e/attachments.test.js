// Attachments in the web client (docs/protocol.md §15), two people in two browser contexts: a
// photo with a caption (upload progress, BlurHash placeholder, the thumbnail through a signed
// link, the viewer), a file card whose link downloads the exact bytes, files pasted and dropped
// into the composer, a voice note recorded from Chromium's fake microphone, and a file past
// MISSIVE_MAX_UPLOAD refused with `too_large`. axe checks the composer with files and the viewer.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
const { startServer } = require('../lib/server.js');
const b = require('./browser.js');

const { tid } = b;

/** Largest upload the server takes in this file (bytes). */
const MAX_UPLOAD = 300_000;

// ------------------------------------------------------------------ a tiny PNG encoder

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An RGB PNG of `width` × `height` whose pixel (x, y) is `pixel(x, y)` → [r, g, b]. */
function png(width, height, pixel) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** 400 × 300: red on the left, blue on the right (a thumbnail is made past 320 a side). */
const PHOTO = png(400, 300, (x) => (x < 200 ? [220, 20, 20] : [20, 40, 220]));
/** 40 × 30, green: small enough to have no thumbnail. */
const SMALL = png(40, 30, () => [20, 180, 60]);

/** Records every upload progress bar's value and max the page shows (they can be brief). */
async function watchProgress(page) {
  await page.evaluate(() => {
    window.__progress = [];
    const seen = (el) => window.__progress.push({ value: Number(el.getAttribute('value')), max: Number(el.getAttribute('max')) });
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes' && r.target.matches('[data-testid="upload-progress"]')) seen(r.target);
        for (const n of r.addedNodes) {
          if (n.nodeType !== 1) continue;
          for (const el of n.matches('[data-testid="upload-progress"]') ? [n] : n.querySelectorAll('[data-testid="upload-progress"]')) seen(el);
        }
      }
    }).observe(document.querySelector('#attach-tray'), { subtree: true, childList: true, attributes: true, attributeFilter: ['value', 'max'] });
  });
}

/** Puts files in the composer through the 📎 button's file input. */
async function attach(page, files) {
  await page.locator(tid('attach-input')).setInputFiles(files);
}

/** The message (stored, with a seq) that carries attachments and has `caption` (or none). */
function fileMessage(page, caption) {
  const all = page.locator(`${tid('messages')} ${tid('message')}[data-seq]`).filter({ has: page.locator(tid('attachments')) });
  return caption === null
    ? all.filter({ hasNot: page.locator(tid('message-body')) })
    : all.filter({ has: page.locator(tid('message-body'), { hasText: b.exact(caption) }) });
}

describe('web client: attachments', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;

  before(async () => {
    server = await startServer({ env: { MISSIVE_MAX_UPLOAD: String(MAX_UPLOAD) } });
    // A fake microphone that needs no permission prompt, for the voice note.
    browser = await b.launch({ args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] });
    alice = await b.openUser(browser, server.url);
    bob = await b.openUser(browser, server.url);
    await b.register(alice, 'alice', 'Alice Liddell');
    await b.register(bob, 'bob', 'Bob Builder');
    await b.startDirect(alice, 'bob');
    await b.assertRoomOpen(alice.page, 'Bob Builder');
    await b.send(alice.page, 'Files coming');
    await b.openRoom(bob.page, 'Alice Liddell');
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('sends a photo with a caption: progress, placeholder, thumbnail, and the viewer', async () => {
    const { page } = alice;
    await watchProgress(page);
    await attach(page, [{ name: 'sunset.png', mimeType: 'image/png', buffer: PHOTO }]);
    const chip = page.locator(`${tid('attachment-chips')} ${tid('attachment-chip')}[data-name="sunset.png"]`);
    await chip.waitFor();
    await chip.locator('img').waitFor(); // the local preview
    await page.locator(tid('composer-input')).fill('Look at this');
    await b.screenshot(page, 'attachments-composer');
    await page.locator(tid('composer-input')).press('Enter');

    // The tray empties once the upload is done and the message is handed to the outbox.
    await fileMessage(page, 'Look at this').waitFor();
    await page.locator(tid('upload-batch')).waitFor({ state: 'detached' });
    const progress = await page.evaluate(() => window.__progress);
    assert.ok(progress.length > 0, 'an upload progress bar was shown');
    assert.ok(progress.every((p) => p.max === PHOTO_SIZE), JSON.stringify(progress));
    assert.equal(progress.at(-1).value, PHOTO_SIZE, 'the progress bar completed');

    // Bob: the thumbnail from a signed link, over a BlurHash placeholder in a 4:3 box.
    const msg = fileMessage(bob.page, 'Look at this');
    await msg.waitFor();
    const thumb = msg.locator(tid('attachment-thumb'));
    await bob.page.waitForFunction((el) => el && el.complete && el.naturalWidth > 0, await thumb.elementHandle());
    const info = await thumb.evaluate((el) => ({ src: el.getAttribute('src'), alt: el.alt, natural: el.naturalWidth }));
    assert.match(info.src, /\/api\/attachments\/[^/]+\/thumbnail\?u=.+&exp=\d+&sig=/);
    assert.equal(info.alt, 'sunset.png');
    assert.ok(info.natural > 0 && info.natural <= 320);
    const box = await msg.locator(tid('attachment-image')).boundingBox();
    assert.ok(Math.abs(box.width / box.height - 4 / 3) < 0.03, `box ${box.width}×${box.height}`);
    // The placeholder is the server's BlurHash decoded in the page: red on the left, blue on the right.
    const sides = await msg.locator(tid('attachment-placeholder')).evaluate(async (img) => {
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const px = (x) => Array.from(ctx.getImageData(x, Math.floor(c.height / 2), 1, 1).data);
      return { left: px(1), right: px(c.width - 2), src: img.getAttribute('src').slice(0, 22) };
    });
    assert.equal(sides.src, 'data:image/png;base64,');
    assert.ok(sides.left[0] > 150 && sides.left[2] < 100, `left ${sides.left}`);
    assert.ok(sides.right[2] > 150 && sides.right[0] < 100, `right ${sides.right}`);

    // The viewer: the full image, named; Escape closes it and gives the focus back.
    await msg.locator(tid('attachment-image')).click();
    const viewer = bob.page.locator(tid('viewer'));
    await viewer.waitFor();
    const full = viewer.locator(tid('viewer-image'));
    await bob.page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await full.elementHandle());
    assert.deepEqual(await full.evaluate((el) => [el.naturalWidth, el.naturalHeight, el.alt]), [400, 300, 'sunset.png']);
    assert.match(await full.getAttribute('src'), /\/api\/attachments\/[^/?]+\?u=/);
    assert.equal(await viewer.locator(tid('viewer-title')).textContent(), 'sunset.png');
    await b.screenshot(bob.page, 'image-viewer');
    await bob.page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'hidden' });
    assert.equal(await bob.page.evaluate(() => document.activeElement.dataset.testid), 'attachment-image');
  });

  it('sends a file: a card with name and size whose link downloads the exact bytes', async () => {
    const bytes = Buffer.from('Meeting notes\n'.repeat(200) + 'çà → ✓\n');
    await attach(alice.page, [{ name: 'notes.txt', mimeType: 'text/plain', buffer: bytes }]);
    await alice.page.locator(`${tid('attachment-chip')}[data-name="notes.txt"]`).waitFor();
    await alice.page.locator(tid('composer-input')).fill('The notes');
    await alice.page.locator(tid('send')).click();

    const card = fileMessage(bob.page, 'The notes').locator(tid('attachment-file'));
    await card.locator(tid('attachment-name')).filter({ hasText: 'notes.txt' }).waitFor();
    assert.equal(await card.locator(tid('attachment-size')).textContent(), '2.8 KB');
    await bob.page.waitForFunction((el) => el.hasAttribute('href'), await card.elementHandle());
    assert.equal(await card.getAttribute('download'), 'notes.txt');
    const got = await card.evaluate(async (a) => {
      const res = await fetch(a.href);
      return { status: res.status, disposition: res.headers.get('content-disposition'), bytes: Array.from(new Uint8Array(await res.arrayBuffer())) };
    });
    assert.equal(got.status, 200);
    assert.match(got.disposition, /^attachment; filename="notes.txt"/);
    assert.deepEqual(Buffer.from(got.bytes), bytes);
  });

  it('takes files pasted into the composer or dropped on the chat; ✕ removes one', async () => {
    const { page } = alice;
    const input = [...SMALL];
    await page.evaluate((data) => {
      const file = (name) => new File([new Uint8Array(data)], name, { type: 'image/png' });
      const paste = new DataTransfer();
      paste.items.add(file('pasted.png'));
      document.querySelector('[data-testid="composer-input"]').dispatchEvent(
        new ClipboardEvent('paste', { clipboardData: paste, bubbles: true, cancelable: true }));
      const drop = new DataTransfer();
      drop.items.add(file('dropped.png'));
      const target = document.querySelector('[data-testid="messages"]');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: drop, bubbles: true, cancelable: true }));
      }
    }, input);
    const chips = page.locator(`${tid('attachment-chips')} ${tid('attachment-chip')}`);
    await chips.filter({ hasText: 'dropped.png' }).waitFor();
    assert.deepEqual(await chips.locator(tid('attachment-chip-name')).allTextContents(), ['pasted.png', 'dropped.png']);
    await page.locator(tid('attachment-remove')).and(page.getByLabel('Remove pasted.png')).click();
    assert.deepEqual(await chips.locator(tid('attachment-chip-name')).allTextContents(), ['dropped.png']);
    // No caption: the message is the image alone, and the chat list says "Photo".
    await page.locator(tid('send')).click();
    const msg = fileMessage(bob.page, null).filter({ has: bob.page.getByRole('img', { name: 'dropped.png' }) });
    await msg.waitFor();
    const img = msg.locator(tid('attachment-thumb'));
    await bob.page.waitForFunction((el) => el.complete && el.naturalWidth === 40, await img.elementHandle());
    // Small images have no thumbnail: the file itself is shown.
    assert.doesNotMatch(await img.getAttribute('src'), /thumbnail/);
    await bob.page.locator(tid('room-item')).filter({ hasText: 'Alice Liddell' }).locator(tid('room-preview'))
      .filter({ hasText: '📷 Photo' }).waitFor();
  });

  it('records a voice note from the microphone and plays it on the other side', async () => {
    const { page } = alice;
    await page.locator(tid('mic-button')).click();
    await page.locator(tid('recorder')).waitFor();
    await page.locator(tid('recorder-time')).filter({ hasText: '0:01' }).waitFor({ timeout: 5000 });
    await page.locator(tid('recorder-send')).click();
    await page.locator(tid('recorder')).waitFor({ state: 'hidden' });

    const player = bob.page.locator(`${tid('messages')} ${tid('attachment-audio')} audio`).last();
    await player.waitFor({ state: 'attached' });
    await bob.page.waitForFunction((el) => el.getAttribute('src') && (el.readyState > 0 || el.duration > 0), await player.elementHandle(), { timeout: 15000 });
    const src = await player.getAttribute('src');
    assert.match(src, /\/api\/attachments\/[^/?]+\?u=.+&sig=/);
    assert.match(await bob.page.locator(tid('attachment-audio')).last().textContent(), /voice-note-\d{8}-\d{6}\.weba/);
    // A photo, a file card and a voice note in the conversation (also checked with axe).
    await b.screenshot(bob.page, 'attachments');
    // Dark mode and a phone's width keep it readable (axe checks the contrast).
    await bob.page.emulateMedia({ colorScheme: 'dark' });
    await bob.page.setViewportSize({ width: 390, height: 780 });
    await b.screenshot(bob.page, 'phone-attachments-dark');
    await bob.page.emulateMedia({ colorScheme: 'light' });
    await bob.page.setViewportSize({ width: 1280, height: 800 });
  });

  it('sets a profile picture and a group picture and description, shown to the other person', async () => {
    // Alice's picture, from the Profile dialog: her own header, and Bob's chat list.
    await alice.page.locator(tid('me-button')).click();
    await alice.page.locator(tid('profile-picture-input')).setInputFiles([{ name: 'me.png', mimeType: 'image/png', buffer: SMALL }]);
    await alice.page.locator(`${tid('profile-picture')} img`).waitFor();
    await alice.page.locator(tid('profile-picture-remove')).waitFor();
    await b.checkA11y(alice.page, 'profile with a picture');
    await alice.page.keyboard.press('Escape');
    await alice.page.locator('#me-avatar img').waitFor();
    const bobRow = bob.page.locator(tid('room-item')).filter({ hasText: 'Alice Liddell' });
    const loaded = (el) => el.complete && el.naturalWidth === 40;
    await bob.page.waitForFunction(loaded, await bobRow.locator(`${tid('room-avatar')} img`).elementHandle({ timeout: 10000 }));

    // A group's picture and description, set by its owner in the details panel.
    await b.createGroup(alice, 'Photo club', ['bob']);
    await alice.page.locator(tid('members-toggle')).click();
    const panel = alice.page.locator(tid('members-panel'));
    await panel.locator(tid('room-picture-input')).setInputFiles([{ name: 'club.png', mimeType: 'image/png', buffer: SMALL }]);
    await panel.locator(tid('room-picture-remove')).waitFor();
    await panel.locator(tid('description-input')).fill('Pictures of birds');
    await panel.locator(tid('description-submit')).click();
    const groupRow = bob.page.locator(tid('room-item')).filter({ hasText: 'Photo club' });
    await bob.page.waitForFunction(loaded, await groupRow.locator(`${tid('room-avatar')} img`).elementHandle({ timeout: 10000 }));
    await b.openRoom(bob.page, 'Photo club');
    await bob.page.locator(tid('members-toggle')).click();
    await bob.page.locator(tid('room-description')).filter({ hasText: 'Pictures of birds' }).waitFor();
    await bob.page.locator(`${tid('room-picture')} img`).waitFor();
    await b.checkA11y(bob.page, 'group panel with a picture');
    await bob.page.locator(tid('panel-close')).click();
    await alice.page.locator(tid('panel-close')).click();
    await b.openRoom(alice.page, 'Bob Builder');
    await b.openRoom(bob.page, 'Alice Liddell');
  });

  it('shows a file past the upload limit as too_large, and Edit gives it back to the composer', async () => {
    const { page } = alice;
    const big = crypto.randomBytes(MAX_UPLOAD + 100_000);
    await attach(page, [{ name: 'big.bin', mimeType: 'application/octet-stream', buffer: big }]);
    await page.locator(`${tid('attachment-chip')}[data-name="big.bin"]`).waitFor();
    await page.locator(tid('composer-input')).fill('Too big?');
    await page.locator(tid('composer-input')).press('Enter');
    const failed = page.locator(`${tid('upload-batch')}[data-state="failed"]`);
    await failed.locator(tid('upload-error')).filter({ hasText: 'too_large' }).waitFor({ timeout: 15000 });
    await failed.locator(tid('upload-failed')).filter({ hasText: 'too_large' }).waitFor();
    await b.checkA11y(page, 'a refused upload');
    await failed.locator(tid('upload-edit')).click();
    await page.locator(`${tid('attachment-chips')} ${tid('attachment-chip')}[data-name="big.bin"]`).waitFor();
    assert.equal(await page.locator(tid('composer-input')).inputValue(), 'Too big?');
    await page.locator(tid('attachment-remove')).click();
    await page.locator(tid('attach-tray')).waitFor({ state: 'hidden' });
    // Nothing was sent.
    assert.equal(await fileMessage(bob.page, 'Too big?').count(), 0);
    b.assertClean(alice);
    b.assertClean(bob);
  });
});

const PHOTO_SIZE = PHOTO.length;
