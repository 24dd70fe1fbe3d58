// The operator's console (/admin/): live health from the `/admin` namespace's `stats` event,
// people, moderation and rooms through /api/admin/... . The page is only a view: the server
// refuses every admin endpoint and the namespace to anyone not in MISSIVE_ADMINS, and the page
// sends such a visitor back to the app. It shares the app's session (js/api.js).

import { api, describeError, session } from '../api.js';
import { LineChart, fmt } from './chart.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Builds an element: h('button', {class: 'x', onclick}, 'text', child). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'testid') el.dataset.testid = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const ago = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return s < 90 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
};

function notify(err) {
  $('notice').textContent = err ? (err instanceof Error ? describeError(err) : String(err)) : '';
}

/** Runs an action, showing its failure; resolves its result or undefined. */
async function act(fn) {
  notify(null);
  try {
    return await fn();
  } catch (err) {
    notify(err);
    return undefined;
  }
}

// ---- Tabs (WAI-ARIA tabs: arrows move between them) ----
const tabs = [...document.querySelectorAll('[role="tab"]')];
const loaders = { people: () => {}, moderation: loadModeration, rooms: () => {}, health: () => {} };
function select(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  loaders[tab.id.slice(4)]();
}
tabs.forEach((t, i) => {
  t.addEventListener('click', () => select(t));
  t.addEventListener('keydown', (e) => {
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    const next = tabs[(i + d + tabs.length) % tabs.length];
    next.focus();
    select(next);
  });
});

// ---- Health ----
const charts = {
  conns: new LineChart($('charts'), { key: 'connections', title: 'Connected', series: ['sockets', 'users'] }),
  msgs: new LineChart($('charts'), { key: 'messages', title: 'Messages per second', series: ['stored', 'delivered'] }),
  ack: new LineChart($('charts'), { key: 'latency', title: 'Send → ack latency', unit: ' ms', series: ['p50', 'p90', 'p99'] }),
  commits: new LineChart($('charts'), { key: 'commits', title: 'Group commits', series: ['commits/s', 'mean batch', 'max batch'] }),
  backlog: new LineChart($('charts'), { key: 'backlog', title: 'Catch-up backlog and slow sockets', series: ['backlog', 'slow closes/s'] }),
};
const filter = /** @type {HTMLSelectElement} */ ($('node-filter'));
filter.addEventListener('change', () => Object.values(charts).forEach((c) => c.reset()));

function showStats(stats) {
  const node = filter.value ? stats.per_node.find((n) => n.id === filter.value) : null;
  const f = node || stats.totals;
  charts.conns.push([f.sockets, f.users]);
  charts.msgs.push([f.messages_stored_per_second, f.messages_delivered_per_second]);
  charts.ack.push([f.ack_ms_p50, f.ack_ms_p90, f.ack_ms_p99]);
  charts.commits.push([f.commits_per_second, f.commit_batch_mean, f.commit_batch_max]);
  charts.backlog.push([f.catch_up_backlog, f.slow_socket_closes_per_second]);
  const known = new Set([...filter.options].map((o) => o.value));
  for (const n of stats.per_node) {
    if (!known.has(n.id)) filter.append(h('option', { value: n.id }, `Node ${n.addr}`));
  }
  $('nodes').replaceChildren(...stats.per_node.map((n) => h('tr', { testid: 'node-row' },
    h('td', {}, n.id), h('td', {}, n.addr),
    h('td', { class: n.stale ? 'stale' : null }, `${ago(n.heartbeat_at)}${n.stale ? ' (stale)' : ''}`),
    h('td', {}, n.database_up ? 'up' : 'DOWN'), h('td', {}, n.bus_up ? 'up' : 'DOWN'),
    h('td', {}, fmt(n.sockets)))));
  $('conn').textContent = `Live: ${stats.nodes} node${stats.nodes === 1 ? '' : 's'}, ${stats.sockets} sockets, updated ${new Date(stats.at).toLocaleTimeString()}`;
}

// ---- People ----
let person = null;
$('people-form').addEventListener('submit', (e) => {
  e.preventDefault();
  searchPeople();
});
async function searchPeople() {
  const q = /** @type {HTMLInputElement} */ ($('people-q')).value;
  const users = await act(() => api('GET', `/api/admin/users?q=${encodeURIComponent(q)}`));
  if (!users) return;
  $('people-results').replaceChildren(...(users.length ? users.map((u) => h('li', {},
    h('button', { type: 'button', testid: 'person-result', 'aria-current': String(person === u.id), onclick: () => openPerson(u.id) },
      `${u.display_name} (@${u.username})${u.banned_at ? ' — banned' : ''}`))) : [h('li', { class: 'muted' }, 'Nobody matches.')]));
}
async function openPerson(id, secret) {
  person = id;
  const u = await act(() => api('GET', `/api/admin/users/${id}`));
  if (!u) return;
  const reason = h('input', { id: 'ban-reason', testid: 'ban-reason', maxlength: '500' });
  const refresh = () => openPerson(id).then(searchPeople);
  $('person').replaceChildren(
    h('h3', {}, `${u.display_name} (@${u.username})`),
    h('p', {}, `Joined ${when(u.created_at)} · in ${u.rooms} room${u.rooms === 1 ? '' : 's'} · `,
      h('strong', { testid: 'person-status' }, u.banned_at ? `banned ${when(u.banned_at)}${u.ban_reason ? ` (${u.ban_reason})` : ''}` : 'active')),
    h('h4', {}, `Devices connected (${u.devices.length})`),
    u.devices.length ? h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Devices' }, h('table', { testid: 'devices' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Socket'), h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'col' }, 'Transport'), h('th', { scope: 'col' }, 'Since'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Action')))),
      h('tbody', {}, u.devices.map((d) => h('tr', { testid: 'device-row' },
        h('td', {}, d.sid), h('td', {}, d.node || '?'), h('td', {}, d.transport || '?'), h('td', {}, when(d.connected_at)),
        h('td', {}, h('button', { type: 'button', class: 'danger', testid: 'device-disconnect', 'aria-label': `Disconnect socket ${d.sid}`,
          onclick: () => act(() => api('DELETE', `/api/admin/users/${id}/devices/${encodeURIComponent(d.sid)}`)).then(refresh) }, 'Disconnect'))))))) : h('p', { class: 'muted' }, 'No device connected.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', testid: 'person-logout', onclick: () => act(() => api('POST', `/api/admin/users/${id}/logout`)).then(refresh) }, 'Log out everywhere'),
      h('button', { type: 'button', testid: 'person-reset', onclick: async () => {
        const r = await act(() => api('POST', `/api/admin/users/${id}/password`));
        if (r) openPerson(id, r.temporary_password);
      } }, 'Reset password')),
    secret ? h('div', {}, h('p', {}, 'Temporary password — shown this once; give it to the person, who should change it:'),
      h('output', { class: 'secret', testid: 'temporary-password' }, secret)) : null,
    u.banned_at
      ? h('div', { class: 'actions' }, h('button', { type: 'button', testid: 'person-unban', onclick: () => act(() => api('DELETE', `/api/admin/users/${id}/ban`)).then(refresh) }, 'Unban'))
      : h('div', { class: 'actions' }, h('label', { for: 'ban-reason' }, 'Reason'), reason,
        h('button', { type: 'button', class: 'danger', testid: 'person-ban', onclick: () => act(() => api('POST', `/api/admin/users/${id}/ban`, { reason: /** @type {HTMLInputElement} */ (reason).value })).then(refresh) }, 'Ban')),
  );
}

// ---- Moderation ----
$('report-status').addEventListener('change', loadModeration);
async function loadModeration() {
  const status = /** @type {HTMLSelectElement} */ ($('report-status')).value;
  const [reports, audit] = await Promise.all([
    act(() => api('GET', `/api/admin/reports?status=${status}`)),
    act(() => api('GET', '/api/admin/audit')),
  ]);
  if (reports) {
    $('reports').replaceChildren(...(reports.length ? reports.map(reportCard) : [h('li', { class: 'muted' }, `No ${status} report.`)]));
  }
  if (audit) {
    $('audit').replaceChildren(...audit.map((a) => h('tr', { testid: 'audit-row' },
      h('td', {}, when(a.created_at)), h('td', {}, a.actor_id), h('td', {}, a.action), h('td', {}, a.target_user_id || ''),
      h('td', {}, a.room_id ? `${a.room_id}${a.seq ? ` #${a.seq}` : ''}` : ''), h('td', { class: 'wrap' }, a.detail || ''))));
  }
}
function reportCard(r) {
  const context = h('ol', { class: 'context', 'aria-label': 'The message in context' });
  const open = r.status === 'open';
  const done = () => loadModeration();
  return h('li', { testid: 'report' },
    h('p', {}, h('strong', {}, `Report ${r.id}`), ` by user ${r.reporter_id} against user ${r.target_user_id}, ${when(r.created_at)}`),
    h('p', {}, 'Reason: ', r.reason),
    r.message_body !== null && r.message_body !== undefined ? h('p', {}, 'Message: ', h('q', { testid: 'report-body' }, r.message_body)) : null,
    context,
    h('div', { class: 'actions' },
      r.room_id ? h('button', { type: 'button', testid: 'report-context', onclick: async () => {
        const msgs = await act(() => api('GET', `/api/admin/rooms/${r.room_id}/messages/${r.seq}/context`));
        if (msgs) context.replaceChildren(...msgs.map((m) => h('li', { class: m.seq === r.seq ? 'reported' : null },
          `#${m.seq} user ${m.sender_id}: ${m.deleted_at ? '(deleted)' : m.kind === 'text' ? m.body : `(${m.kind})`}`)));
      } }, 'Show in context') : null,
      open && r.room_id ? h('button', { type: 'button', class: 'danger', testid: 'report-delete', onclick: () => act(() => api('DELETE', `/api/admin/rooms/${r.room_id}/messages/${r.seq}`)).then(() => act(() => api('POST', `/api/admin/reports/${r.id}/resolve`))).then(done) }, 'Delete message') : null,
      open ? h('button', { type: 'button', class: 'danger', testid: 'report-ban', onclick: () => act(() => api('POST', `/api/admin/users/${r.target_user_id}/ban`, { reason: `report ${r.id}: ${r.reason}`.slice(0, 500) })).then(() => act(() => api('POST', `/api/admin/reports/${r.id}/resolve`))).then(done) }, 'Ban user') : null,
      open ? h('button', { type: 'button', testid: 'report-dismiss', onclick: () => act(() => api('POST', `/api/admin/reports/${r.id}/resolve`)).then(done) }, 'Dismiss') : h('span', { class: 'muted' }, `Resolved ${when(r.resolved_at)}`)));
}

// ---- Rooms ----
$('rooms-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const q = /** @type {HTMLInputElement} */ ($('rooms-q')).value;
  const rooms = await act(() => api('GET', `/api/admin/rooms?q=${encodeURIComponent(q)}`));
  if (!rooms) return;
  showRoomResults(rooms);
});
function showRoomResults(rooms) {
  $('rooms-results').replaceChildren(...(rooms.length ? rooms.map((r) => h('li', {},
    h('button', { type: 'button', testid: 'room-result', onclick: () => openRoom(r.id) }, `${r.name} — ${r.kind}, ${r.members_count} members${r.closed_at ? ' — closed' : ''}`))) : [h('li', { class: 'muted' }, 'No room matches.')]));
}
async function openRoom(id) {
  const r = await act(() => api('GET', `/api/admin/rooms/${id}`));
  if (r) showRoom(r);
}
function showRoom(r) {
  const state = r.kind !== 'channel' ? null
    : h('p', {}, 'State: ', h('strong', { testid: 'room-state', class: r.closed_at ? 'closed' : null },
      r.closed_at ? `closed ${when(r.closed_at)} — read-only, out of the directory` : 'open'));
  $('room').replaceChildren(
    h('h3', {}, `${r.name} (${r.kind})`),
    state,
    h('p', { testid: 'room-figures' }, `${r.members_count} members · ${r.last_seq} entries · ${r.messages_last_minute} messages in the last minute, ${r.messages_last_hour} in the last hour · last activity ${when(r.last_activity_at)}`),
    r.kind === 'channel' ? closeControls(r) : null,
    h('h4', {}, 'Members'),
    h('ul', { testid: 'room-members' }, r.members.map((m) => h('li', {}, `@${m.username} — ${m.role}`))));
}

/**
 * "Close channel…" (or "Reopen channel…") and, once pressed, its confirmation: what the change
 * does, an optional reason (the followers read it) and the button that does it, or Cancel.
 */
function closeControls(r) {
  const closing = !r.closed_at;
  const verb = closing ? 'close' : 'reopen';
  const box = h('div', { class: 'actions' });
  const ask = () => {
    const reason = h('input', { id: 'close-reason', testid: 'close-reason', maxlength: '500', autocomplete: 'off' });
    const title = h('p', { id: 'close-title' }, h('strong', {}, closing
      ? `Close “${r.name}”? Its ${r.members_count} followers keep its history, but nobody can post, react or follow it any more, and it leaves the channel directory.`
      : `Reopen “${r.name}”? Its owner and admins can post again, and it returns to the channel directory.`));
    const confirm = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'close-title', testid: 'close-confirm-box' },
      title,
      h('div', { class: 'actions' },
        h('label', { for: 'close-reason' }, 'Reason (shown to the followers; optional)'), reason),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: closing ? 'danger' : 'primary', testid: `room-${verb}-confirm`, onclick: async () => {
          const done = await act(() => api('POST', `/api/admin/rooms/${r.id}/${verb}`, { reason: /** @type {HTMLInputElement} */ (reason).value }));
          if (done) {
            showRoom(done);
            /** @type {HTMLFormElement} */ ($('rooms-form')).requestSubmit();
            document.querySelector(`[data-testid="room-${closing ? 'reopen' : 'close'}"]`)?.focus();
          }
        } }, closing ? 'Close the channel' : 'Reopen the channel'),
        h('button', { type: 'button', testid: `room-${verb}-cancel`, onclick: () => {
          box.replaceChildren(start);
          start.focus();
        } }, 'Cancel')));
    box.replaceChildren(confirm);
    reason.focus();
  };
  const start = h('button', { type: 'button', class: closing ? 'danger' : null, testid: `room-${verb}`, onclick: ask },
    closing ? 'Close channel…' : 'Reopen channel…');
  box.append(start);
  return box;
}

// ---- Start: only operators stay ----
async function start() {
  if (!session.get()) {
    location.replace('/');
    return;
  }
  try {
    await api('GET', '/api/admin/stats');
  } catch (err) {
    // `unavailable`: the first figures are not in yet; anything else: not an operator here.
    if (!(err && /** @type {any} */ (err).code === 'unavailable')) {
      location.replace('/');
      return;
    }
  }
  document.body.dataset.ready = 'true';
  const socket = /** @type {any} */ (window).io('/admin', {
    auth: (cb) => session.fresh().then((s) => cb({ token: s.access_token }), () => cb({})),
  });
  socket.on('stats', showStats);
  socket.on('report:new', () => {
    if (!$('panel-moderation').hidden) loadModeration();
  });
  socket.on('connect_error', (err) => {
    $('conn').textContent = `Not connected: ${err.message}`;
    if (err.message === 'forbidden') location.replace('/');
  });
}
start();
