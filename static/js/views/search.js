// Message search in the sidebar: while the box holds a query, the room list gives way to the hits
// (chat, sender, snippet, time), newest first, with "More results" for the next page. Opening a
// hit opens its chat at that message (conversation.js `openAt`).

import { $, debounce, h, replaceChildren, shortTime } from '../dom.js';
import { describeError } from '../api.js';
import { ui } from '../ui.js';
import { openAt } from './conversation.js';

let generation = 0;
let state = { q: '', hits: [], hasMore: false };

function snippet(body) {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > 140 ? `${one.slice(0, 139)}…` : one;
}

function showing(on) {
  $('#search-results').hidden = !on;
  $('#room-list').hidden = on;
  if (on) $('#room-list-empty').hidden = true;
}

function render(error) {
  const c = ui.client;
  const list = $('#search-results');
  if (!c) return;
  const items = state.hits.map((m) => {
    const room = c.rooms.get(m.room_id);
    const chat = room ? c.roomTitle(room) : 'A chat';
    const who = m.sender_id === c.me.id ? 'You' : c.displayName(m.sender_id);
    return h('li', {}, h('button', {
      type: 'button', class: 'search-hit', testid: 'search-result', dataset: { roomId: m.room_id, seq: m.seq },
      onclick: () => openAt(m.room_id, m.seq),
    },
    h('span', { class: 'search-hit-top' },
      h('span', { class: 'search-hit-chat', testid: 'search-result-chat', text: chat }),
      h('span', { class: 'room-item-time', text: shortTime(m.created_at) })),
    h('span', { class: 'search-hit-sender', testid: 'search-result-sender', text: who }),
    h('span', { class: 'search-hit-body', testid: 'search-result-body', text: snippet(m.body) })));
  });
  if (error) items.push(h('li', { class: 'form-error', role: 'alert', testid: 'search-error', text: describeError(error) }));
  else if (!state.hits.length) items.push(h('li', { class: 'empty-note', testid: 'search-empty', text: 'No messages found.' }));
  if (state.hasMore && !error) {
    items.push(h('li', { class: 'load-older' }, h('button', { type: 'button', class: 'link', testid: 'search-more', text: 'More results', onclick: more })));
  }
  replaceChildren(list, items);
}

async function run() {
  const q = $('#search-input').value.trim();
  const mine = ++generation;
  if (!q) {
    state = { q: '', hits: [], hasMore: false };
    replaceChildren($('#search-results'));
    showing(false);
    return;
  }
  showing(true);
  try {
    const res = await ui.client.search(q);
    if (mine !== generation) return;
    state = { q, hits: res.messages, hasMore: res.has_more };
    render();
  } catch (err) {
    if (mine !== generation) return;
    state = { q, hits: [], hasMore: false };
    render(err);
  }
}

async function more() {
  const mine = generation;
  const last = state.hits[state.hits.length - 1];
  if (!last) return;
  try {
    const res = await ui.client.search(state.q, last.id);
    if (mine !== generation) return;
    state = { q: state.q, hits: [...state.hits, ...res.messages], hasMore: res.has_more };
    render();
  } catch (err) {
    if (mine === generation) render(err);
  }
}

/** Empties the box and brings the room list back. */
export function clearSearch() {
  $('#search-input').value = '';
  generation++;
  state = { q: '', hits: [], hasMore: false };
  replaceChildren($('#search-results'));
  showing(false);
}

export function wireSearch() {
  const input = $('#search-input');
  const results = $('#search-results');
  const go = debounce(run, 250);
  input.addEventListener('input', go);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && input.value) {
      e.preventDefault();
      e.stopPropagation();
      clearSearch();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      go.cancel();
      run();
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      results.querySelector('button')?.focus();
    }
  });
  results.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...results.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    e.preventDefault();
    if (e.key === 'ArrowDown' && i < buttons.length - 1) buttons[i + 1].focus();
    else if (e.key === 'ArrowUp') (i > 0 ? buttons[i - 1] : input).focus();
  });
}
