// The image viewer: a modal dialog with the full-size image (its signed link), the file's name
// as its title and alt text, a download link, ✕ and Escape to close; the focus goes back to the
// image that opened it.

import { $ } from '../dom.js';
import { showError } from '../ui.js';
import { attachmentLinks, humanSize } from './attachments.js';

let opener = null;

export function wireViewer() {
  const dlg = $('#dlg-viewer');
  $('#viewer-close').addEventListener('click', () => dlg.close());
  // A click on the backdrop (outside the image and the bar) closes it too.
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) dlg.close();
  });
  dlg.addEventListener('close', () => {
    $('#viewer-img').removeAttribute('src');
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
}

/** Opens the viewer on an image attachment; `from` gets the focus back on closing. */
export async function openViewer(a, from) {
  const dlg = $('#dlg-viewer');
  const img = $('#viewer-img');
  opener = from || null;
  $('#viewer-title').textContent = a.name;
  $('#viewer-size').textContent = `${a.width} × ${a.height} · ${humanSize(a.size)}`;
  img.alt = a.name;
  img.width = a.width;
  img.height = a.height;
  img.removeAttribute('src');
  const download = $('#viewer-download');
  download.removeAttribute('href');
  download.setAttribute('download', a.name);
  if (!dlg.open) dlg.showModal();
  try {
    const url = await attachmentLinks().url(a.id);
    if (!url) throw Object.assign(new Error('This file is no longer available.'), { code: 'not_found' });
    if (!dlg.open || img.alt !== a.name) return;
    img.src = url;
    download.href = url;
  } catch (err) {
    dlg.close();
    showError(err, 'Opening the image');
  }
}
