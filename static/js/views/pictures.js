// Pictures (docs/protocol.md §15): the signed-in user's profile picture (set and removed in the
// Profile dialog), a group's or channel's picture and description (its details panel; owners and
// admins change them), and avatars that show a picture when there is one, initials otherwise.

import { $, h, hue, initials, replaceChildren } from '../dom.js';
import { v } from '../view.js';
import { ui, formError, showError } from '../ui.js';
import { updateSessionUser } from '../api.js';
import { attachmentLinks, attachmentUrls } from './attachments.js';
import { renderMe, renderRooms } from './rooms.js';

/** The picture a room shows: a group's or channel's own, or the other person's in a direct chat. */
export function roomPicture(c, room) {
  if (room.kind !== 'direct') return room.picture || null;
  const peer = c.peer(room);
  const u = peer && c.users.get(peer.user_id);
  return (u && u.avatar) || null;
}

/** An avatar's content for view.js: the picture once its link is known, else initials. */
export function avatarContent(name, picture) {
  const urls = picture ? attachmentUrls(picture.id) : null;
  if (urls) return v('img', { class: 'avatar-img', src: urls.thumb || urls.url, alt: '' });
  return initials(name);
}

/** Fills an avatar element (the header's, the user's own): a picture or initials. */
export async function paintAvatar(el, name, id, picture) {
  el.className = `avatar c${hue(id)}`;
  el.setAttribute('aria-hidden', 'true');
  const mark = picture ? picture.id : '';
  // Re-rendered often (the header): a picture already shown stays, without a flicker.
  if (picture && el.dataset.picture === mark && el.querySelector('img')) return;
  el.dataset.picture = mark;
  replaceChildren(el, initials(name));
  if (!picture) return;
  try {
    const links = attachmentLinks();
    const url = links && ((await links.url(picture.id, { thumbnail: true })) || (await links.url(picture.id)));
    if (url && el.dataset.picture === mark) replaceChildren(el, h('img', { class: 'avatar-img', src: url, alt: '' }));
  } catch {
    // Initials stay.
  }
}

/** Uploads `file` and makes it the result of `use(attachmentId)`. */
async function uploadPicture(file, use) {
  if (!file) return null;
  if (!/^image\//.test(file.type)) throw Object.assign(new Error('Choose an image (JPEG, PNG, GIF or WebP).'), { code: 'invalid' });
  const a = await ui.client.net.rest.uploadAttachment(file, { name: file.name });
  return use(a.id);
}

function takeUser(me) {
  const c = ui.client;
  c.me = me;
  c.users.set(me.id, me);
  updateSessionUser(me);
  renderMe();
  renderRooms();
  renderProfilePicture();
}

/** The Profile dialog's picture row. */
export function renderProfilePicture() {
  const c = ui.client;
  if (!c) return;
  paintAvatar($('#profile-picture'), c.me.display_name || c.me.username, c.me.id, c.me.avatar);
  $('#profile-picture-remove').hidden = !c.me.avatar;
}

export function wirePictures() {
  const input = $('#profile-picture-input');
  $('#profile-picture-choose').addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const file = input.files[0];
    input.value = '';
    formError($('#profile-error'), null);
    try {
      const me = await uploadPicture(file, (id) => ui.client.net.rest.setAvatar(id));
      if (me) takeUser(me);
    } catch (err) {
      formError($('#profile-error'), err);
    }
  });
  $('#profile-picture-remove').addEventListener('click', async () => {
    formError($('#profile-error'), null);
    try {
      takeUser(await ui.client.net.rest.clearAvatar());
    } catch (err) {
      formError($('#profile-error'), err);
    }
  });
}

/** A group's or channel's picture and description in its details panel. */
export function pictureSection(c, room, isAdmin) {
  const pic = h('span', { class: 'avatar panel-picture', testid: 'room-picture' });
  paintAvatar(pic, c.roomTitle(room), room.id, room.picture).then(() => pic.classList.add('panel-picture'));
  pic.classList.add('panel-picture');
  const parts = [pic];
  if (isAdmin) {
    const file = h('input', { type: 'file', accept: 'image/*', hidden: true, testid: 'room-picture-input' });
    const apply = async (fn, label) => {
      try {
        const updated = await fn();
        if (updated && updated.id) c.onRoomUpdated(updated);
      } catch (err) {
        showError(err, label);
      }
    };
    file.addEventListener('change', () => {
      const f = file.files[0];
      file.value = '';
      apply(() => uploadPicture(f, (id) => c.net.rest.setRoomPicture(room.id, id)), 'Setting the picture');
    });
    parts.push(h('div', { class: 'row picture-actions' }, file,
      h('button', { type: 'button', testid: 'room-picture-choose', text: room.picture ? 'Change picture' : 'Add a picture', onclick: () => file.click() }),
      room.picture ? h('button', { type: 'button', testid: 'room-picture-remove', text: 'Remove picture', onclick: () => apply(() => c.net.rest.clearRoomPicture(room.id), 'Removing the picture') }) : null));
    const desc = h('input', { id: 'description-input', testid: 'description-input', maxlength: '500', autocomplete: 'off', value: room.description || '' });
    desc.value = room.description || '';
    const form = h('form', { class: 'rename-form', novalidate: true },
      h('label', { for: 'description-input', text: 'Description' }),
      h('div', { class: 'row' }, desc, h('button', { type: 'submit', testid: 'description-submit', text: 'Save' })));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      apply(async () => {
        const r = await c.net.rest.setRoomDescription(room.id, desc.value.trim());
        const current = $('#description-input');
        if (current) delete current.dataset.dirty;
        return r;
      }, 'Saving the description');
    });
    parts.push(form);
  } else if (room.description) {
    parts.push(h('p', { class: 'room-description', testid: 'room-description', text: room.description }));
  }
  return h('div', { class: 'room-picture-section' }, parts);
}
