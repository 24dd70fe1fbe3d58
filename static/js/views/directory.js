// "Find channels": the public channel directory (docs/protocol.md §14, `GET /api/channels`),
// searched by part of a channel's name or description, most followed first, with follower
// counts; Follow joins one and opens it (a channel already followed offers Open).

import { $, debounce, h, replaceChildren } from '../dom.js';
import { ui, formError } from '../ui.js';
import { openRoom } from './conversation.js';

let searchSeq = 0;

function buildDialog() {
  const dlg = h('dialog', { id: 'dlg-directory', testid: 'dialog-directory', 'aria-labelledby': 'dlg-directory-title' },
    h('form', { class: 'dialog-form', id: 'directory-form', novalidate: true },
      h('h2', { id: 'dlg-directory-title', text: 'Find channels' }),
      h('label', { for: 'directory-search', text: 'Search by name or description' }),
      h('input', { id: 'directory-search', testid: 'directory-search', type: 'search', autocomplete: 'off', spellcheck: 'false', 'aria-controls': 'directory-results' }),
      h('p', { class: 'hint', id: 'directory-status', role: 'status' }),
      h('ul', { class: 'search-results directory-results', id: 'directory-results', testid: 'directory-results', 'aria-label': 'Channels' }),
      h('p', { class: 'form-error', id: 'directory-error', testid: 'directory-error', role: 'alert', hidden: true }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', id: 'directory-close', testid: 'directory-close', text: 'Close' }))));
  document.body.append(dlg);
}

async function search() {
  const c = ui.client;
  if (!c) return;
  const q = $('#directory-search').value.trim();
  const mine = ++searchSeq;
  $('#directory-status').textContent = 'Searching…';
  try {
    const channels = await c.searchChannels(q);
    if (mine !== searchSeq) return;
    formError($('#directory-error'), null);
    $('#directory-status').textContent = channels.length
      ? (q ? `${channels.length} found` : 'Most followed channels')
      : q ? 'No channel matches.' : 'There are no channels yet.';
    replaceChildren($('#directory-results'), channels.map((ch) => result(c, ch)));
  } catch (err) {
    if (mine !== searchSeq) return;
    $('#directory-status').textContent = '';
    formError($('#directory-error'), err);
  }
}

function result(c, ch) {
  const following = c.rooms.has(ch.id);
  const n = ch.followers_count;
  return h('li', { class: 'directory-result', testid: 'directory-result', dataset: { roomId: ch.id } },
    h('span', { class: 'member-main' },
      h('span', { class: 'user-result-name', testid: 'directory-name', text: ch.name }),
      ch.description ? h('span', { class: 'hint directory-description', testid: 'directory-description', text: ch.description }) : null,
      h('span', { class: 'hint', testid: 'directory-followers', dataset: { count: n }, text: `${n} ${n === 1 ? 'follower' : 'followers'}` })),
    h('button', {
      type: 'button', class: `small${following ? '' : ' primary'}`, testid: following ? 'directory-open' : 'directory-follow',
      text: following ? 'Open' : 'Follow', 'aria-label': `${following ? 'Open' : 'Follow'} ${ch.name}`,
      onclick: (e) => follow(e.currentTarget, ch, following),
    }));
}

async function follow(button, ch, following) {
  const c = ui.client;
  button.disabled = true;
  try {
    if (!following) await c.joinChannel(ch.id);
    $('#dlg-directory').close();
    openRoom(ch.id);
  } catch (err) {
    formError($('#directory-error'), err);
    button.disabled = false;
  }
}

function openDirectory() {
  $('#directory-search').value = '';
  replaceChildren($('#directory-results'));
  formError($('#directory-error'), null);
  $('#dlg-directory').showModal();
  $('#directory-search').focus();
  search();
}

export function wireDirectory() {
  buildDialog();
  // A new channel may have a description, which the directory shows and searches.
  const row = $('#new-group-description-row');
  const kindChanged = () => {
    row.hidden = $('#new-group-form input[name="kind"]:checked')?.value !== 'channel';
  };
  $('#new-group-form').addEventListener('change', (e) => {
    if (e.target.name === 'kind') kindChanged();
  });
  $('#new-group').addEventListener('click', () => {
    $('#new-group-description').value = '';
    kindChanged();
  });
  $('#find-channels').addEventListener('click', openDirectory);
  $('#directory-close').addEventListener('click', () => $('#dlg-directory').close());
  const run = debounce(search, 250);
  $('#directory-search').addEventListener('input', run);
  $('#directory-form').addEventListener('submit', (e) => {
    e.preventDefault();
    run.cancel();
    search();
  });
  $('#directory-search').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      $('#directory-results button')?.focus();
    }
  });
}
