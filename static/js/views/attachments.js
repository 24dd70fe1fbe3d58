// Attachments in the message list (docs/protocol.md §15): images inline (the BlurHash
// placeholder at once, in a box of the image's own proportions so the list does not jump, then
// the thumbnail through a signed link; a click opens views/viewer.js), audio and voice notes
// with an <audio> player, and any other file as a card with its name, size and a download link.
//
// Browsers cannot put a bearer token on <img src>, so every URL is a signed link from the client
// library's `AttachmentLinks` (batched, cached until it nears expiry). A link not yet known is
// asked for and the list re-rendered when it comes; the description here stays declarative.

import { v } from '../view.js';
import { ui } from '../ui.js';
import { AttachmentLinks } from '../missive/index.js';
import { blurhashDataUrl } from '../media/blurhash.js';
import { renderMessages } from './conversation.js';
import { renderRooms } from './rooms.js';
import { openViewer } from './viewer.js';

/** Largest box an inline image takes in a bubble, CSS pixels. */
const BOX = 320;

let links = null;
let linksOf = null;
/** id → {url, thumb} | null (not readable) | 'loading' */
const resolved = new Map();
let rerender = null;

/** The signed-link cache of the signed-in user (a new one after logging in again). */
export function attachmentLinks() {
  const c = ui.client;
  if (!c) return null;
  if (linksOf !== c) {
    links = new AttachmentLinks({ rest: c.net.rest });
    linksOf = c;
    resolved.clear();
  }
  return links;
}

/** The signed URLs of an attachment once known (`undefined` while being asked for). */
export function attachmentUrls(id) {
  const got = resolved.get(id);
  if (got === 'loading') return undefined;
  if (got !== undefined) return got;
  const l = attachmentLinks();
  if (!l) return undefined;
  resolved.set(id, 'loading');
  Promise.all([l.url(id), l.url(id, { thumbnail: true })])
    .then(([url, thumb]) => resolved.set(id, url ? { url, thumb } : null))
    .catch(() => {
      // Shown as unavailable for now; asked again a little later.
      resolved.set(id, null);
      setTimeout(() => resolved.delete(id), 30_000);
    })
    .finally(() => {
      // One re-render for all the links of a batch.
      clearTimeout(rerender);
      rerender = setTimeout(() => {
        if (ui.openRoomId) renderMessages();
        renderRooms(); // pictures in the chat list
      }, 0);
    });
  return undefined;
}

/** "12 KB", "3.4 MB". */
export function humanSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let u = -1;
  do {
    n /= 1000;
    u += 1;
  } while (n >= 1000 && u < units.length - 1);
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
}

/** Images the server re-encoded: shown inline. */
export function isImage(a) {
  return ['image/jpeg', 'image/png', 'image/gif', 'image/webp'].includes(a.content_type) && a.width > 0 && a.height > 0;
}

/**
 * Played with <audio>: audio types, and WebM/MP4/Ogg files named as audio (`.weba`, `.m4a`, …):
 * the server sniffs a recorded voice note (audio-only WebM) as `video/webm`, since the
 * container's signature does not say which tracks it holds.
 */
export function isAudio(a) {
  const type = a.content_type || '';
  if (type.startsWith('audio/')) return true;
  return /^video\/(webm|mp4|ogg)$/.test(type) && /\.(weba|m4a|opus|oga|ogg|mp3|aac|wav)$/i.test(a.name || '');
}

/** The image's box in the bubble: its own size, made to fit `BOX`, never enlarged. */
export function fitBox(w, h, box = BOX) {
  const scale = Math.min(1, box / w, box / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

function imageView(a) {
  const urls = attachmentUrls(a.id);
  const box = fitBox(a.width, a.height);
  // The placeholder's pixels: small (the browser scales it up), in the image's proportions.
  const ph = fitBox(a.width, a.height, 32);
  return v('button', {
    key: a.id, type: 'button', class: 'att-image', testid: 'attachment-image',
    dataset: { attId: a.id }, 'aria-label': `Open image ${a.name}`, title: a.name, onclick: onImageClick,
  },
  v('img', { class: 'att-placeholder', testid: 'attachment-placeholder', alt: '', 'aria-hidden': 'true', src: blurhashDataUrl(a.blurhash, ph.width, ph.height), width: box.width, height: box.height }),
  urls ? v('img', { class: 'att-thumb', testid: 'attachment-thumb', alt: a.name, src: a.thumbnail && urls.thumb ? urls.thumb : urls.url, width: box.width, height: box.height, decoding: 'async' }) : null);
}

function audioView(a) {
  const urls = attachmentUrls(a.id);
  return v('div', { key: a.id, class: 'att-audio', testid: 'attachment-audio', dataset: { attId: a.id } },
    v('audio', { controls: true, preload: 'metadata', src: urls ? urls.url : null, 'aria-label': a.name, testid: 'attachment-player' }),
    v('span', { class: 'att-meta' },
      v('span', { class: 'att-name', text: a.name }),
      v('span', { class: 'att-size', text: `· ${humanSize(a.size)}` })));
}

function fileView(a) {
  const urls = attachmentUrls(a.id);
  return v('a', {
    key: a.id, class: 'att-file', testid: 'attachment-file', dataset: { attId: a.id },
    href: urls ? urls.url : null, download: a.name, 'aria-disabled': urls ? null : 'true',
  },
  v('span', { class: 'visually-hidden', text: 'Download ' }),
  v('img', { class: 'att-icon', src: '/img/file.svg', alt: '', width: '28', height: '28' }),
  v('span', { class: 'att-meta' },
    v('span', { class: 'att-name', testid: 'attachment-name', text: a.name }),
    v('span', { class: 'att-size', testid: 'attachment-size', text: humanSize(a.size) })),
  v('span', { class: 'att-download', 'aria-hidden': 'true', text: '↓' }));
}

/** The attachments of a stored message, or null. */
export function attachmentsView(m) {
  const list = m.attachments;
  if (!Array.isArray(list) || !list.length) return null;
  return v('div', { class: `attachments${list.length > 1 ? ' several' : ''}`, testid: 'attachments' },
    list.map((a) => (isImage(a) ? imageView(a) : isAudio(a) ? audioView(a) : fileView(a))));
}

/** What a message still in the outbox shows of its files (they are uploaded already). */
export function pendingAttachmentsView(m) {
  const n = Array.isArray(m.attachments) ? m.attachments.length : 0;
  if (!n) return null;
  return v('div', { class: 'att-pending', testid: 'attachments-pending', text: `📎 ${n === 1 ? '1 file' : `${n} files`}` });
}

/** The room list's preview of a message that has files and no caption. */
export function attachmentsSummary(m) {
  const list = m.attachments || [];
  if (!list.length) return '';
  if (list.length > 1) return `📎 ${list.length} files`;
  const a = list[0];
  if (isImage(a)) return '📷 Photo';
  if (isAudio(a)) return /^voice-note-/.test(a.name) ? '🎤 Voice note' : `🎵 ${a.name}`;
  return `📎 ${a.name}`;
}

function onImageClick(e) {
  const id = e.currentTarget.dataset.attId;
  const c = ui.client;
  const li = e.currentTarget.closest('li[data-seq]');
  if (!c || !li || !ui.openRoomId) return;
  const m = c.roomMessages(ui.openRoomId).get(Number(li.dataset.seq));
  const a = m && (m.attachments || []).find((x) => x.id === id);
  if (a) openViewer(a, e.currentTarget);
}
