// Files in the composer (docs/protocol.md §15): the 📎 button's file picker, pasting and
// dropping files on the conversation put them in a tray above the composer (a preview or an
// icon, the name and size, ✕ to remove; at most 10). Send moves them, with the text as the
// caption, into an upload batch: each file is uploaded with its own progress bar, then the
// message goes to the client library's outbox with the attachment ids. The batch keeps one
// client_id and the ids already uploaded, so Retry after a failure uploads only what is missing
// and never sends the message twice. A refused file (`too_large`, `quota_exceeded`, …) is
// shown on its chip; Edit gives the files and caption back to the composer.

import { $, uid } from '../dom.js';
import { patch, v } from '../view.js';
import { ui, toast } from '../ui.js';
import { describeError } from '../api.js';
import { humanSize } from './attachments.js';
import { cancelReply, autoGrow, stopTyping } from './composer.js';

/** Most files in one message (the server's limit). */
export const MAX_FILES = 10;

/** room_id → the files chosen and not sent yet. */
const chosen = new Map();
/** Upload batches being sent (or failed), oldest first. */
const batches = [];

function itemFor(file) {
  const item = { key: uid(), file, name: file.name || 'file', size: file.size, loaded: 0, attachment: null, error: null, preview: null };
  if (/^image\//.test(file.type) && typeof createImageBitmap === 'function') {
    // A small preview drawn on a canvas (the page's CSP allows data: images, not blob: ones).
    createImageBitmap(file).then((bmp) => {
      const scale = Math.min(1, 112 / bmp.width, 112 / bmp.height);
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(bmp.width * scale));
      canvas.height = Math.max(1, Math.round(bmp.height * scale));
      canvas.getContext('2d').drawImage(bmp, 0, 0, canvas.width, canvas.height);
      bmp.close();
      item.preview = canvas.toDataURL('image/png');
      renderTray();
    }).catch(() => {}); // not an image the browser decodes: the icon stays
  }
  return item;
}

/** Whether the open chat takes files now (a composer is shown, not editing). */
function accepting() {
  return Boolean(ui.client && ui.openRoomId && !$('#composer').hidden && !ui.editing);
}

/** Adds files (picked, pasted or dropped) to the open chat's tray. */
export function addFiles(files) {
  if (!accepting()) return;
  const list = chosen.get(ui.openRoomId) || [];
  let skipped = 0;
  for (const file of files) {
    if (list.length >= MAX_FILES) {
      skipped += 1;
      continue;
    }
    if (!file.size) {
      toast(`invalid: ${file.name || 'That file'} is empty.`, 'error');
      continue;
    }
    list.push(itemFor(file));
  }
  if (skipped) toast(`At most ${MAX_FILES} files go in one message; ${skipped} left out.`, 'error');
  if (list.length) chosen.set(ui.openRoomId, list);
  renderTray();
}

/** Whether the open chat has files waiting to be sent. */
export function hasChosenFiles() {
  return Boolean(ui.openRoomId && (chosen.get(ui.openRoomId) || []).length);
}

/** Sends the open chat's files with `caption` (the composer calls this on Send). */
export function sendChosen(caption) {
  const roomId = ui.openRoomId;
  const items = chosen.get(roomId) || [];
  if (!items.length) return;
  chosen.delete(roomId);
  const batch = { key: uid(), roomId, items, caption, replyTo: ui.replyTo, clientId: uid(), state: 'uploading' };
  batches.push(batch);
  const input = $('#composer-input');
  input.value = '';
  ui.drafts.delete(roomId);
  autoGrow();
  cancelReply();
  stopTyping();
  run(batch);
}

/** Sends a file (a voice note) on its own, with the same progress and errors as the tray. */
export function sendFile(roomId, file) {
  const batch = { key: uid(), roomId, items: [itemFor(file)], caption: '', replyTo: null, clientId: uid(), state: 'uploading' };
  batches.push(batch);
  run(batch);
}

async function run(batch) {
  const c = ui.client;
  batch.state = 'uploading';
  batch.error = null;
  renderTray();
  for (const item of batch.items) {
    if (item.attachment) continue;
    item.error = null;
    try {
      item.attachment = await c.net.rest.uploadAttachment(item.file, {
        name: item.name,
        onProgress: (p) => {
          item.loaded = p.loaded;
          renderTray();
        },
      });
      item.loaded = item.size;
    } catch (err) {
      if (ui.client !== c) return;
      item.error = err;
      item.loaded = 0;
      batch.state = 'failed';
      batch.error = err;
      renderTray();
      return;
    }
    renderTray();
  }
  if (ui.client !== c) return;
  // Into the outbox: sent now or on reconnect, always under this client_id.
  c.net.send({ room_id: batch.roomId }, batch.caption, {
    reply_to: batch.replyTo ?? null,
    client_id: batch.clientId,
    attachments: batch.items.map((i) => i.attachment.id),
  });
  batches.splice(batches.indexOf(batch), 1);
  renderTray();
}

/** Forgets every file (logging out). */
export function clearUploads() {
  chosen.clear();
  batches.length = 0;
  renderTray();
}

function chipView(item, { removable, progress }) {
  const failed = Boolean(item.error);
  return v('li', { key: item.key, class: `att-chip${failed ? ' failed' : ''}`, testid: 'attachment-chip', dataset: { name: item.name } },
    item.preview
      ? v('img', { class: 'att-chip-preview', src: item.preview, alt: '', 'aria-hidden': 'true' })
      : v('img', { class: 'att-chip-icon', src: /^audio\//.test(item.file.type) ? '/img/mic.svg' : '/img/file.svg', alt: '', width: '28', height: '28' }),
    v('span', { class: 'att-chip-text' },
      v('span', { class: 'att-chip-name', testid: 'attachment-chip-name', text: item.name }),
      v('span', { class: 'att-chip-size', text: humanSize(item.size) }),
      progress && !failed ? v('progress', {
        class: 'att-progress', testid: 'upload-progress', max: String(item.size), value: String(Math.min(item.loaded, item.size)),
        'aria-label': `Uploading ${item.name}`,
      }) : null,
      failed ? v('span', { class: 'att-chip-error', testid: 'upload-error', text: describeError(item.error) }) : null),
    removable ? v('button', {
      type: 'button', class: 'icon att-chip-remove', testid: 'attachment-remove', dataset: { key: item.key },
      'aria-label': `Remove ${item.name}`, title: `Remove ${item.name}`, text: '✕', onclick: onRemoveClick,
    }) : null);
}

/** Makes the tray show the open chat's chosen files and upload batches. */
export function renderTray() {
  const tray = $('#attach-tray');
  const roomId = ui.openRoomId;
  const items = [];
  for (const batch of batches) {
    if (batch.roomId !== roomId) continue;
    const failed = batch.state === 'failed';
    items.push(v('li', { key: batch.key, class: `att-batch ${batch.state}`, testid: 'upload-batch', dataset: { state: batch.state }, 'aria-busy': failed ? 'false' : 'true' },
      v('ul', { class: 'att-chips', 'aria-label': failed ? 'Files not sent' : 'Sending files' },
        batch.items.map((item) => chipView(item, { removable: false, progress: true }))),
      failed ? v('div', { class: 'att-batch-error', role: 'alert', testid: 'upload-failed' },
        v('span', { text: `Not sent — ${describeError(batch.error)}` }),
        v('button', { type: 'button', class: 'link', testid: 'upload-retry', dataset: { key: batch.key }, text: 'Retry', onclick: onRetryClick }),
        v('button', { type: 'button', class: 'link', testid: 'upload-edit', dataset: { key: batch.key }, text: 'Edit', onclick: onEditClick })) : null));
  }
  const mine = roomId ? chosen.get(roomId) || [] : [];
  if (mine.length) {
    items.push(v('li', { key: 'chosen', class: 'att-batch chosen' },
      v('ul', { class: 'att-chips', testid: 'attachment-chips', 'aria-label': `Files to send (${mine.length} of ${MAX_FILES})` },
        mine.map((item) => chipView(item, { removable: true, progress: false })))));
  }
  patch(tray, items);
  tray.hidden = !items.length || $('#composer').hidden;
}

function onRemoveClick(e) {
  const key = e.currentTarget.dataset.key;
  const list = (chosen.get(ui.openRoomId) || []).filter((i) => i.key !== key);
  if (list.length) chosen.set(ui.openRoomId, list);
  else chosen.delete(ui.openRoomId);
  renderTray();
  $('#composer-input').focus();
}

function batchOf(e) {
  return batches.find((b) => b.key === e.currentTarget.dataset.key);
}

function onRetryClick(e) {
  const batch = batchOf(e);
  if (batch && batch.state === 'failed') run(batch);
}

/** Gives a failed batch's files (and caption, if the box is empty) back to the composer. */
function onEditClick(e) {
  const batch = batchOf(e);
  if (!batch) return;
  batches.splice(batches.indexOf(batch), 1);
  const list = chosen.get(batch.roomId) || [];
  for (const item of batch.items) {
    item.error = null;
    item.loaded = 0;
    if (list.length < MAX_FILES) list.push(item);
  }
  chosen.set(batch.roomId, list);
  const input = $('#composer-input');
  if (!input.value && batch.caption) {
    input.value = batch.caption;
    autoGrow();
  }
  renderTray();
  input.focus();
}

/** The 📎 button, pasting into the composer and dropping files on the conversation. */
export function wireUploads() {
  const picker = $('#attach-input');
  $('#attach-button').addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    addFiles([...picker.files]);
    picker.value = '';
    $('#composer-input').focus();
  });
  $('#composer-input').addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return;
    e.preventDefault();
    addFiles(files);
  });
  const zone = $('#room-view');
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  let depth = 0;
  zone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e) || !accepting()) return;
    depth += 1;
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || !accepting()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dropping');
  });
  zone.addEventListener('drop', (e) => {
    depth = 0;
    zone.classList.remove('dropping');
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    addFiles([...e.dataTransfer.files]);
    $('#composer-input').focus();
  });
}
