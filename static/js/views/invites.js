// Group invite links (docs/protocol.md §14). In a group's details panel its owners and admins
// create links (optional expiry, optional limit of uses, optional approval of each join), copy and
// revoke them, and approve or reject join requests; requests send no event, so the section is
// reloaded every few seconds while the panel stays open. A link is `<origin>/#invite=<token>`:
// opening it in the app shows the group's name and a Join button (or the server's error for a
// revoked, expired or used-up link); joining opens the group, or says it waits for approval.

import { $, fullTime, h, replaceChildren } from '../dom.js';
import { ui, toast, formError, showError } from '../ui.js';
import { openRoom } from './conversation.js';
import { renderPanel } from './panel.js';

const EXPIRY = [
  ['', 'Never'],
  ['3600', 'In 1 hour'],
  ['86400', 'In 1 day'],
  ['604800', 'In 7 days'],
];
const POLL_MS = 4000;

const cache = new Map(); // room_id -> {invites, requests, error}
let form = { roomId: null, expiry: '', maxUses: '', approval: false }; // the create form, across re-renders
let poll = null; // {roomId, timer}

/** The URL of a link. */
export function inviteUrl(token) {
  return `${location.origin}/#invite=${encodeURIComponent(token)}`;
}

/** The token in the page's address (`#invite=<token>`), or null. */
export function tokenFromUrl() {
  const m = /^#invite=([^&]{1,256})$/.exec(location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- the panel's section

async function load(roomId) {
  const c = ui.client;
  if (!c) return;
  let next;
  try {
    const [invites, requests] = await Promise.all([c.invites(roomId), c.joinRequests(roomId)]);
    next = { invites: invites || [], requests: requests || [], error: null };
  } catch (err) {
    next = { ...(cache.get(roomId) || { invites: [], requests: [] }), error: err };
  }
  if (ui.client !== c) return;
  const before = JSON.stringify(cache.get(roomId) || null);
  cache.set(roomId, next);
  if (JSON.stringify(next) !== before && ui.panelOpen && ui.openRoomId === roomId) renderPanel();
}

function isManager(room) {
  return room && room.kind === 'group' && (room.my_role === 'owner' || room.my_role === 'admin');
}

/** Reloads the open group's links and requests while its panel is open. */
function keepFresh(roomId) {
  if (poll && poll.roomId === roomId) return;
  if (poll) clearTimeout(poll.timer);
  const tick = () => {
    const room = ui.client && ui.client.rooms.get(roomId);
    if (!ui.panelOpen || ui.openRoomId !== roomId || !isManager(room)) {
      poll = null;
      return;
    }
    load(roomId);
    poll.timer = setTimeout(tick, POLL_MS);
  };
  poll = { roomId, timer: setTimeout(tick, POLL_MS) };
  load(roomId);
}

function usage(i) {
  const parts = [];
  parts.push(i.max_uses ? `Used ${i.uses} of ${i.max_uses}` : `Used ${i.uses} ${i.uses === 1 ? 'time' : 'times'}`);
  const expired = i.expires_at && Date.parse(i.expires_at) <= Date.now();
  if (i.expires_at) parts.push(expired ? 'expired' : `expires ${fullTime(i.expires_at)}`);
  if (i.approval) parts.push('admins approve joins');
  return { text: parts.join(' · '), dead: Boolean(expired || (i.max_uses && i.uses >= i.max_uses)) };
}

/** The "Invite links" section of a group's panel, for its owners and admins (else null). */
export function invitesSection(room) {
  const c = ui.client;
  if (!c || !isManager(room)) return null;
  if (form.roomId !== room.id) form = { roomId: room.id, expiry: '', maxUses: '', approval: false };
  keepFresh(room.id);
  const state = cache.get(room.id);

  const expiry = h('select', { id: 'invite-expiry', testid: 'invite-expiry', onchange: (e) => { form.expiry = e.currentTarget.value; } },
    EXPIRY.map(([value, label]) => h('option', { value, text: label, selected: form.expiry === value })));
  const maxUses = h('input', {
    id: 'invite-max-uses', testid: 'invite-max-uses', type: 'number', min: '1', max: '1000000', inputmode: 'numeric',
    placeholder: 'No limit', value: form.maxUses, oninput: (e) => { form.maxUses = e.currentTarget.value; },
  });
  maxUses.value = form.maxUses;
  const approval = h('input', { type: 'checkbox', id: 'invite-approval', testid: 'invite-approval', onchange: (e) => { form.approval = e.currentTarget.checked; } });
  approval.checked = form.approval;
  const error = h('p', { class: 'form-error', testid: 'invite-error', role: 'alert', hidden: true });
  const create = h('form', { class: 'invite-form', novalidate: true },
    h('div', { class: 'invite-options' },
      h('span', { class: 'invite-option' }, h('label', { for: 'invite-expiry', text: 'Expires' }), expiry),
      h('span', { class: 'invite-option' }, h('label', { for: 'invite-max-uses', text: 'Max uses' }), maxUses)),
    h('label', { class: 'check' }, approval, ' Admins approve each join'),
    error,
    h('button', { type: 'submit', class: 'small primary', testid: 'invite-create', text: 'Create link' }));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = create.querySelector('[type=submit]');
    const opts = {};
    if (form.expiry) opts.expires_in = Number(form.expiry);
    if (String(form.maxUses).trim()) {
      const n = Number(form.maxUses);
      if (!Number.isInteger(n) || n < 1) {
        formError(error, 'invalid: max uses must be a whole number of at least 1, or empty for no limit.');
        return;
      }
      opts.max_uses = n;
    }
    if (form.approval) opts.approval = true;
    formError(error, null);
    button.disabled = true;
    try {
      await c.createInvite(room.id, opts);
      form = { roomId: room.id, expiry: '', maxUses: '', approval: false };
      // The panel keeps typed drafts across re-renders; this one is used up.
      maxUses.value = '';
      delete maxUses.dataset.dirty;
      toast('Invite link created. Copy it and send it to whoever should join.', 'info');
      await load(room.id);
      renderPanel();
    } catch (err) {
      formError(error, err);
      button.disabled = false;
    }
  });

  const links = !state
    ? [h('li', { class: 'hint', text: 'Loading…' })]
    : state.invites.length
      ? state.invites.map((i) => {
        const url = inviteUrl(i.token);
        const { text, dead } = usage(i);
        const field = h('input', { class: 'invite-url', testid: 'invite-url', readonly: true, value: url, 'aria-label': 'Invite link', onfocus: (e) => e.currentTarget.select() });
        field.value = url;
        return h('li', { class: `invite${dead ? ' dead' : ''}`, testid: 'invite-link', dataset: { token: i.token, approval: String(i.approval) } },
          field,
          h('span', { class: 'hint', testid: 'invite-usage', text: text }),
          h('span', { class: 'invite-actions' },
            h('button', { type: 'button', class: 'small', testid: 'invite-copy', text: 'Copy', onclick: () => copy(url) }),
            h('button', {
              type: 'button', class: 'small danger', testid: 'invite-revoke', text: 'Revoke',
              onclick: (e) => revoke(e.currentTarget, room.id, i.token),
            })));
      })
      : [h('li', { class: 'hint', text: 'No links yet.' })];

  const requests = state ? state.requests : [];
  return h('section', { class: 'invites', testid: 'invites-section', 'aria-labelledby': 'invites-title' },
    h('h3', { id: 'invites-title', text: 'Invite links' }),
    create,
    state && state.error ? h('p', { class: 'form-error', role: 'alert', text: `${state.error.code}: ${state.error.message}` }) : null,
    h('ul', { class: 'invite-list', testid: 'invite-list', 'aria-label': 'Invite links' }, links),
    requests.length ? h('h3', { id: 'join-requests-title', text: `Join requests (${requests.length})` }) : null,
    requests.length ? h('ul', { class: 'member-list', testid: 'join-requests', 'aria-labelledby': 'join-requests-title' }, requests.map((r) => {
      const name = r.user.display_name || r.user.username;
      return h('li', { class: 'member', testid: 'join-request', dataset: { userId: r.user.id, username: r.user.username } },
        h('span', { class: 'member-main' },
          h('span', { class: 'member-name', text: name }),
          h('span', { class: 'hint', text: `@${r.user.username} · asked ${fullTime(r.created_at)}` })),
        h('span', { class: 'member-actions' },
          h('button', { type: 'button', class: 'small primary', testid: 'join-approve', text: 'Approve', 'aria-label': `Approve ${name}`, onclick: (e) => decide(e.currentTarget, room.id, r.user, true) }),
          h('button', { type: 'button', class: 'small danger', testid: 'join-reject', text: 'Reject', 'aria-label': `Reject ${name}`, onclick: (e) => decide(e.currentTarget, room.id, r.user, false) })));
    })) : null);
}

function copy(url) {
  if (!navigator.clipboard) {
    toast('Copy failed: select the link and copy it.');
    return;
  }
  navigator.clipboard.writeText(url).then(() => toast('Link copied.', 'info'), () => toast('Copy failed: select the link and copy it.'));
}

async function revoke(button, roomId, token) {
  button.disabled = true;
  try {
    await ui.client.revokeInvite(token);
    toast('Link revoked: it no longer works.', 'info');
    await load(roomId);
  } catch (err) {
    showError(err, 'Revoking the link');
    button.disabled = false;
  }
}

async function decide(button, roomId, user, approve) {
  const c = ui.client;
  button.disabled = true;
  try {
    if (approve) await c.approveJoin(roomId, user.id);
    else await c.denyJoin(roomId, user.id);
    toast(approve ? `${user.display_name || user.username} joined.` : 'Request rejected.', 'info');
    await load(roomId);
  } catch (err) {
    showError(err, approve ? 'Approving' : 'Rejecting');
    button.disabled = false;
    load(roomId);
  }
}

// ---------------------------------------------------------------- opening a link

let joining = null; // {token, preview}

function buildDialog() {
  const dlg = h('dialog', { id: 'dlg-invite', testid: 'dialog-invite', 'aria-labelledby': 'dlg-invite-title' },
    h('form', { class: 'dialog-form', id: 'invite-form', novalidate: true },
      h('h2', { id: 'dlg-invite-title', text: 'Group invitation' }),
      h('div', { id: 'invite-body', 'aria-live': 'polite' }),
      h('p', { class: 'form-error', id: 'invite-join-error', testid: 'invite-join-error', role: 'alert', hidden: true }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', id: 'invite-close', testid: 'invite-close', text: 'Close' }),
        h('button', { type: 'submit', class: 'primary', id: 'invite-join', testid: 'invite-join', text: 'Join group', hidden: true }))));
  document.body.append(dlg);
}

/** Opens the invitation of the page's address, if there is one (the user is logged in). */
export async function openInviteFromUrl() {
  const c = ui.client;
  const token = tokenFromUrl();
  if (!c || !token) return;
  // Handled once: a reload or a later visit does not ask again.
  history.replaceState(null, '', location.pathname + location.search);
  joining = { token, preview: null };
  const body = $('#invite-body');
  const join = $('#invite-join');
  join.hidden = true;
  formError($('#invite-join-error'), null);
  replaceChildren(body, h('p', { class: 'hint', text: 'Loading the invitation…' }));
  const dlg = $('#dlg-invite');
  if (!dlg.open) dlg.showModal();
  try {
    const preview = await c.invitePreview(token);
    if (!joining || joining.token !== token) return;
    joining.preview = preview;
    const member = c.rooms.has(preview.room_id);
    replaceChildren(body,
      h('p', { class: 'profile-name', testid: 'invite-name', text: preview.name }),
      h('p', { class: 'hint', text: `Group · ${preview.members_count} ${preview.members_count === 1 ? 'member' : 'members'}` }),
      member ? h('p', { class: 'hint', testid: 'invite-member', text: 'You are already a member.' }) : null,
      !member && preview.approval ? h('p', { class: 'hint', text: 'An admin of the group approves each join.' }) : null);
    join.textContent = member ? 'Open group' : preview.approval ? 'Ask to join' : 'Join group';
    join.hidden = false;
    join.focus();
  } catch (err) {
    if (!joining || joining.token !== token) return;
    replaceChildren(body, h('p', { class: 'form-error', testid: 'invite-error', role: 'alert',
      text: err.code === 'not_found'
        ? `This invite link does not work: it was revoked, has expired or was used up (${err.code}: ${err.message}).`
        : `${err.code}: ${err.message}` }));
    $('#invite-close').focus();
  }
}

async function joinGroup() {
  const c = ui.client;
  const j = joining;
  if (!c || !j || !j.preview) return;
  const button = $('#invite-join');
  if (c.rooms.has(j.preview.room_id)) {
    $('#dlg-invite').close();
    openRoom(j.preview.room_id);
    return;
  }
  formError($('#invite-join-error'), null);
  button.disabled = true;
  try {
    const res = await c.joinByInvite(j.token);
    if (res && res.room) {
      $('#dlg-invite').close();
      toast(`You joined ${j.preview.name}.`, 'info');
      openRoom(res.room.id);
      return;
    }
    replaceChildren($('#invite-body'),
      h('p', { class: 'profile-name', testid: 'invite-name', text: j.preview.name }),
      h('p', { class: 'invite-pending', testid: 'invite-pending', role: 'status', text: 'Request sent: waiting for an admin to approve it. The group appears in your chats once they do.' }));
    button.hidden = true;
    $('#invite-close').focus();
  } catch (err) {
    if (err.code === 'conflict') {
      $('#dlg-invite').close();
      await c.fetchRoom(j.preview.room_id).catch(() => {});
      openRoom(j.preview.room_id);
      return;
    }
    formError($('#invite-join-error'), err);
  } finally {
    button.disabled = false;
  }
}

export function wireInvites() {
  buildDialog();
  $('#invite-close').addEventListener('click', () => $('#dlg-invite').close());
  $('#invite-form').addEventListener('submit', (e) => {
    e.preventDefault();
    joinGroup();
  });
  $('#dlg-invite').addEventListener('close', () => {
    joining = null;
  });
  window.addEventListener('hashchange', () => openInviteFromUrl());
}

/** Forgets what the section held (on logout). */
export function resetInvites() {
  cache.clear();
  if (poll) clearTimeout(poll.timer);
  poll = null;
  form = { roomId: null, expiry: '', maxUses: '', approval: false };
}
