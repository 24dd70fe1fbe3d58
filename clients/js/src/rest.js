// @ts-check
/**
 * @module rest
 * The typed REST client (§3). Every method resolves the documented body or rejects with a
 * `MissiveError` carrying the protocol's code. Authenticated calls use a fresh access token and,
 * on a 401, refresh once and retry.
 */

import { MissiveError } from './errors.js';
import { errorOf } from './session.js';

/** @typedef {import('./protocol.js').SessionResponse} SessionResponse */
/** @typedef {import('./protocol.js').User} User */
/** @typedef {import('./protocol.js').UserWithPresence} UserWithPresence */
/** @typedef {import('./protocol.js').Room} Room */
/** @typedef {import('./protocol.js').RoomWithMembers} RoomWithMembers */
/** @typedef {import('./protocol.js').Member} Member */
/** @typedef {import('./protocol.js').Message} Message */
/** @typedef {import('./protocol.js').HistoryPage} HistoryPage */
/** @typedef {import('./protocol.js').Receipts} Receipts */
/** @typedef {import('./protocol.js').Hidden} Hidden */
/** @typedef {import('./protocol.js').CreateRoomPayload} CreateRoomPayload */
/** @typedef {import('./protocol.js').PrivacySettings} PrivacySettings */
/** @typedef {import('./protocol.js').PrivacyChange} PrivacyChange */
/** @typedef {import('./protocol.js').Invite} Invite */
/** @typedef {import('./protocol.js').InviteOptions} InviteOptions */
/** @typedef {import('./protocol.js').InvitePreview} InvitePreview */
/** @typedef {import('./protocol.js').JoinRequest} JoinRequest */
/** @typedef {import('./protocol.js').JoinOutcome} JoinOutcome */
/** @typedef {import('./protocol.js').Channel} Channel */
/** @typedef {import('./protocol.js').ReportPayload} ReportPayload */
/** @typedef {import('./protocol.js').Report} Report */
/** @typedef {import('./protocol.js').Pusher} Pusher */
/** @typedef {import('./protocol.js').PusherInput} PusherInput */
/** @typedef {import('./protocol.js').Mute} Mute */
/** @typedef {import('./protocol.js').Attachment} Attachment */
/** @typedef {import('./protocol.js').AttachmentLinks} AttachmentLinks */
/**
 * What `uploadAttachment` sends: a browser `File` or `Blob`, or bytes.
 * @typedef {Blob | ArrayBuffer | Uint8Array} UploadBody
 */
/** @typedef {{loaded: number, total: number}} UploadProgress */
/** @typedef {import('./session.js').TokenSession} TokenSession */

const enc = encodeURIComponent;

/** @param {Record<string, string | number | undefined | null>} params */
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export class RestClient {
  /**
   * @param {{session: TokenSession, baseUrl?: string, fetch?: typeof fetch}} opts
   */
  constructor(opts) {
    this.session = opts.session;
    this.baseUrl = (opts.baseUrl || '').replace(/\/$/, '');
    this.fetch = opts.fetch || globalThis.fetch.bind(globalThis);
  }

  /**
   * One call. Resolves the parsed JSON (`null` for 204).
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{auth?: boolean}} [opts]
   * @returns {Promise<any>}
   */
  async request(method, path, body, opts = {}) {
    const auth = opts.auth !== false;
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = { Accept: 'application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (auth) headers.Authorization = `Bearer ${(await this.session.fresh()).access_token}`;
      /** @type {Response} */
      let res;
      try {
        res = await this.fetch(this.baseUrl + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch {
        throw new MissiveError('network', 'Cannot reach the server. Check your connection.');
      }
      if (res.status === 401 && auth && attempt === 0) {
        await this.session.refresh();
        continue;
      }
      if (!res.ok) throw await errorOf(res);
      if (res.status === 204) return null;
      const text = await res.text();
      return text ? JSON.parse(text) : null;
    }
  }

  // ------------------------------------------------------------ accounts

  /** @param {{username: string, password: string, display_name?: string}} body @returns {Promise<SessionResponse>} */
  async register(body) {
    const s = await this.request('POST', '/api/auth/register', body, { auth: false });
    this.session.adopt(s);
    return s;
  }

  /** @param {{username: string, password: string}} body @returns {Promise<SessionResponse>} */
  async login(body) {
    const s = await this.request('POST', '/api/auth/login', body, { auth: false });
    this.session.adopt(s);
    return s;
  }

  /** Revokes this login (its refresh token family) and forgets the session. */
  async logout() {
    const s = this.session.get();
    try {
      if (s) await this.request('POST', '/api/auth/logout', { refresh_token: s.refresh_token }, { auth: false });
    } finally {
      this.session.clear();
    }
  }

  /** Revokes every login of the user, and disconnects all their sockets. */
  async logoutAll() {
    await this.request('POST', '/api/auth/logout-all');
    this.session.clear();
  }

  /** @returns {Promise<User>} */
  me() {
    return this.request('GET', '/api/me');
  }

  /** @param {{display_name: string}} body @returns {Promise<User>} */
  async updateMe(body) {
    const u = await this.request('PATCH', '/api/me', body);
    this.session.updateUser(u);
    return u;
  }

  /** @param {string} q @param {number} [limit] @returns {Promise<User[]>} */
  searchUsers(q, limit) {
    return this.request('GET', `/api/users${qs({ q, limit })}`);
  }

  /** @param {string} id @returns {Promise<UserWithPresence>} */
  user(id) {
    return this.request('GET', `/api/users/${enc(id)}`);
  }

  // ------------------------------------------------------------ rooms

  /** @returns {Promise<Room[]>} */
  rooms() {
    return this.request('GET', '/api/rooms');
  }

  /** @param {CreateRoomPayload} body @returns {Promise<Room>} */
  createRoom(body) {
    return this.request('POST', '/api/rooms', body);
  }

  /** @param {string} userId @returns {Promise<Room>} */
  direct(userId) {
    return this.request('POST', '/api/rooms/direct', { user_id: userId });
  }

  /** @param {string} roomId @returns {Promise<RoomWithMembers>} */
  room(roomId) {
    return this.request('GET', `/api/rooms/${enc(roomId)}`);
  }

  /** @param {string} roomId @param {string} name @returns {Promise<Room>} */
  rename(roomId, name) {
    return this.request('PATCH', `/api/rooms/${enc(roomId)}`, { name });
  }

  /** Adds a member (or, in a channel, follows it with one's own id). @param {string} roomId @param {string} userId @returns {Promise<Member>} */
  addMember(roomId, userId) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/members`, { user_id: userId });
  }

  /** @param {string} roomId @param {string} userId @param {'admin' | 'member'} role @returns {Promise<Member>} */
  setRole(roomId, userId, role) {
    return this.request('PATCH', `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, { role });
  }

  /** Removes a member; with one's own id, leaves. @param {string} roomId @param {string} userId @returns {Promise<null>} */
  removeMember(roomId, userId) {
    return this.request('DELETE', `/api/rooms/${enc(roomId)}/members/${enc(userId)}`);
  }

  // ------------------------------------------------------------ messages

  /**
   * A page of history (§3 "Reading history").
   * @param {string} roomId
   * @param {{before_seq?: number, after_seq?: number, limit?: number}} [page]
   * @returns {Promise<HistoryPage>}
   */
  messages(roomId, page = {}) {
    return this.request('GET', `/api/rooms/${enc(roomId)}/messages${qs(page)}`);
  }

  /** @param {string} roomId @param {{body: string, client_id?: string, reply_to?: number}} body @returns {Promise<Message>} */
  postMessage(roomId, body) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/messages`, body);
  }

  /** @param {string} roomId @param {number} seq @returns {Promise<Receipts>} */
  receipts(roomId, seq) {
    return this.request('GET', `/api/rooms/${enc(roomId)}/messages/${seq}/receipts`);
  }

  /** @param {string} roomId @param {number} seq @returns {Promise<null>} */
  markRead(roomId, seq) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/read`, { seq });
  }

  // ---------------------------------------------------------------- message lifecycle (§7)

  /** @param {string} roomId @param {number} seq @param {string} body @returns {Promise<Message>} */
  editMessage(roomId, seq, body) {
    return this.request('PATCH', `/api/rooms/${enc(roomId)}/messages/${seq}`, { body });
  }

  /** Deletes a message for everyone. @param {string} roomId @param {number} seq @returns {Promise<null>} */
  deleteMessage(roomId, seq) {
    return this.request('DELETE', `/api/rooms/${enc(roomId)}/messages/${seq}`);
  }

  /** @param {string} roomId @param {number} seq @param {string} emoji @returns {Promise<Message>} */
  react(roomId, seq, emoji) {
    return this.request('PUT', `/api/rooms/${enc(roomId)}/messages/${seq}/reaction`, { emoji });
  }

  /** Deletes a message for the caller only. @param {string} roomId @param {number} seq @returns {Promise<null>} */
  hide(roomId, seq) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/messages/${seq}/hide`);
  }

  /** @param {string} roomId @param {number} seq @param {string} toRoomId @returns {Promise<Message>} */
  forward(roomId, seq, toRoomId) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/messages/${seq}/forward`, { room_id: toRoomId });
  }

  /** Messages the caller hid, oldest first, after the `Hidden.id` given. @param {string} [after] @returns {Promise<{hidden: Hidden[]}>} */
  hidden(after) {
    return this.request('GET', `/api/me/hidden${qs({ after })}`);
  }

  /**
   * Full-text search, newest first; the next page passes `before` = the last message's id.
   * @param {{q: string, room_id?: string, before?: string, limit?: number}} query
   * @returns {Promise<HistoryPage>}
   */
  search(query) {
    return this.request('GET', `/api/search${qs(query)}`);
  }

  // ---------------------------------------------------------------- privacy and safety (§14)

  /** Whom the caller blocks, latest first. @returns {Promise<User[]>} */
  blocks() {
    return this.request('GET', '/api/me/blocks');
  }

  /** Blocks a user (the caller's devices get `block:updated`). @param {string} userId @returns {Promise<null>} */
  block(userId) {
    return this.request('PUT', `/api/me/blocks/${enc(userId)}`);
  }

  /** @param {string} userId @returns {Promise<null>} */
  unblock(userId) {
    return this.request('DELETE', `/api/me/blocks/${enc(userId)}`);
  }

  /** @returns {Promise<PrivacySettings>} */
  privacy() {
    return this.request('GET', '/api/me/privacy');
  }

  /** Changes any of the settings (the caller's devices get `privacy:updated`). @param {PrivacyChange} change @returns {Promise<PrivacySettings>} */
  setPrivacy(change) {
    return this.request('PATCH', '/api/me/privacy', change);
  }

  /**
   * The channel directory: public channels whose name or description contains `q`, most
   * followed first.
   * @param {{q?: string, limit?: number}} [query]
   * @returns {Promise<Channel[]>}
   */
  channels(query = {}) {
    return this.request('GET', `/api/channels${qs(query)}`);
  }

  /** A group invite link (owners and admins). @param {string} roomId @param {InviteOptions} [opts] @returns {Promise<Invite>} */
  createInvite(roomId, opts = {}) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/invites`, opts);
  }

  /** A group's links that are not revoked, live or expired (owners and admins). @param {string} roomId @returns {Promise<Invite[]>} */
  invites(roomId) {
    return this.request('GET', `/api/rooms/${enc(roomId)}/invites`);
  }

  /** What a live link leads to; `not_found` if it is revoked, expired or used up. @param {string} token @returns {Promise<InvitePreview>} */
  invitePreview(token) {
    return this.request('GET', `/api/invites/${enc(token)}`);
  }

  /** @param {string} token @returns {Promise<null>} */
  revokeInvite(token) {
    return this.request('DELETE', `/api/invites/${enc(token)}`);
  }

  /** Joins by a link: `{room}`, or `{pending: true, room_id}` when an admin must approve. @param {string} token @returns {Promise<JoinOutcome>} */
  joinByInvite(token) {
    return this.request('POST', `/api/invites/${enc(token)}/join`);
  }

  /** Pending join requests of a group (owners and admins). @param {string} roomId @returns {Promise<JoinRequest[]>} */
  joinRequests(roomId) {
    return this.request('GET', `/api/rooms/${enc(roomId)}/join-requests`);
  }

  /** Lets a requester in. @param {string} roomId @param {string} userId @returns {Promise<Member>} */
  approveJoin(roomId, userId) {
    return this.request('POST', `/api/rooms/${enc(roomId)}/join-requests/${enc(userId)}`);
  }

  /** Turns a request down. @param {string} roomId @param {string} userId @returns {Promise<null>} */
  denyJoin(roomId, userId) {
    return this.request('DELETE', `/api/rooms/${enc(roomId)}/join-requests/${enc(userId)}`);
  }

  /** Reports a user (`{user_id, reason}`) or a message (`{room_id, seq, reason}`) to the operators. @param {ReportPayload} body @returns {Promise<Report>} */
  report(body) {
    return this.request('POST', '/api/reports', body);
  }

  // ---------------------------------------------------------------- notifications (§13)

  /** The server's VAPID public key, for `PushManager.subscribe({applicationServerKey})`. @returns {Promise<{public_key: string}>} */
  vapidKey() {
    return this.request('GET', '/api/push/vapid-key', undefined, { auth: false });
  }

  /** The user's pushers, every login's. @returns {Promise<{pushers: Pusher[]}>} */
  pushers() {
    return this.request('GET', '/api/pushers');
  }

  /**
   * Registers a pusher for this login; the same URL again replaces it.
   * @param {PusherInput} body e.g. `{kind: 'webpush', ...subscription.toJSON()}`
   * @returns {Promise<Pusher>}
   */
  addPusher(body) {
    return this.request('POST', '/api/pushers', body);
  }

  /** @param {number} id @returns {Promise<null>} */
  removePusher(id) {
    return this.request('DELETE', `/api/pushers/${enc(String(id))}`);
  }

  /**
   * Mutes a room for the user, on all their devices, until `until` (Unix ms, in the future) or
   * for good (`null` or absent).
   * @param {string} roomId @param {number | null} [until]
   * @returns {Promise<Mute>}
   */
  mute(roomId, until = null) {
    return this.request('PUT', `/api/rooms/${enc(roomId)}/mute`, { until });
  }

  /** @param {string} roomId @returns {Promise<null>} */
  unmute(roomId) {
    return this.request('DELETE', `/api/rooms/${enc(roomId)}/mute`);
  }

  /** The user's mutes in force. @returns {Promise<{mutes: Mute[]}>} */
  mutes() {
    return this.request('GET', '/api/me/mutes');
  }

  // ---------------------------------------------------------------- attachments

  /**
   * Uploads a file; send it within a day with `MissiveClient.send(…, {attachments: [id]})` (or
   * `postMessage`), or use it as a picture. The server sniffs the type from the bytes and keeps
   * the name as metadata. In a browser the upload goes through `XMLHttpRequest` so that
   * `onProgress` follows it; elsewhere (Node) through `fetch`, and `onProgress` is called once
   * at the end. Rejects with `too_large` past `MISSIVE_MAX_UPLOAD`, `quota_exceeded` past the
   * user's quota, `network` when the server cannot be reached, `aborted` when `signal` aborts.
   * @param {UploadBody} file
   * @param {{name?: string, onProgress?: (p: UploadProgress) => void, signal?: AbortSignal}} [opts]
   * @returns {Promise<Attachment>}
   */
  async uploadAttachment(file, opts = {}) {
    const fileName = opts.name ?? (typeof File !== 'undefined' && file instanceof File ? file.name : undefined);
    const path = `/api/attachments${qs({ name: fileName })}`;
    const total = file instanceof Blob ? file.size : file.byteLength;
    const useXhr = typeof XMLHttpRequest !== 'undefined' && this.fetch === defaultFetch;
    for (let attempt = 0; ; attempt++) {
      const token = (await this.session.fresh()).access_token;
      const { status, body } = useXhr
        ? await xhrUpload(this.baseUrl + path, token, file, opts)
        : await this.fetchUpload(path, token, file, opts);
      if (status === 401 && attempt === 0) {
        await this.session.refresh();
        continue;
      }
      if (status < 200 || status >= 300) throw MissiveError.fromBody(body && body.error, status);
      if (opts.onProgress && !useXhr) opts.onProgress({ loaded: total, total });
      return body;
    }
  }

  /**
   * @param {string} path @param {string} token @param {UploadBody} file
   * @param {{signal?: AbortSignal}} opts
   * @returns {Promise<{status: number, body: any}>}
   */
  async fetchUpload(path, token, file, opts) {
    /** @type {Response} */
    let res;
    try {
      res = await this.fetch(this.baseUrl + path, {
        method: 'POST',
        headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` },
        body: /** @type {BodyInit} */ (file instanceof ArrayBuffer ? new Uint8Array(file) : file),
        signal: opts.signal,
      });
    } catch (e) {
      if (opts.signal && opts.signal.aborted) throw new MissiveError('aborted', 'The upload was cancelled.');
      throw new MissiveError('network', `Cannot reach the server. Check your connection. (${String(e)})`);
    }
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return { status: res.status, body };
  }

  /**
   * Signed download links to the attachments among `ids` the caller may read (the others are
   * left out), for `<img src>` and downloads: paths relative to the server, valid until
   * `expires_at` (Unix seconds, at least an hour away). `AttachmentLinks` caches them.
   * @param {string[]} ids at most 100
   * @returns {Promise<AttachmentLinks>}
   */
  attachmentLinks(ids) {
    return this.request('POST', '/api/attachments/links', { ids });
  }

  /** Sets the caller's profile picture: one of their image uploads. @param {string} attachmentId @returns {Promise<User>} */
  async setAvatar(attachmentId) {
    const u = await this.request('PUT', '/api/me/avatar', { attachment_id: attachmentId });
    this.session.updateUser(u);
    return u;
  }

  /** Removes the caller's profile picture. @returns {Promise<User>} */
  async clearAvatar() {
    const u = await this.request('DELETE', '/api/me/avatar');
    this.session.updateUser(u);
    return u;
  }

  /** Sets a group's or channel's picture (owner or admin). @param {string} roomId @param {string} attachmentId @returns {Promise<Room>} */
  setRoomPicture(roomId, attachmentId) {
    return this.request('PUT', `/api/rooms/${enc(roomId)}/picture`, { attachment_id: attachmentId });
  }

  /** Removes a group's or channel's picture (owner or admin). @param {string} roomId @returns {Promise<Room>} */
  clearRoomPicture(roomId) {
    return this.request('DELETE', `/api/rooms/${enc(roomId)}/picture`);
  }

  /** Sets a group's or channel's description, at most 500 characters; `''` clears it (owner or admin). @param {string} roomId @param {string} description @returns {Promise<Room>} */
  setRoomDescription(roomId, description) {
    return this.request('PATCH', `/api/rooms/${enc(roomId)}`, { description });
  }
}

/** The global fetch, to tell it from one given to the constructor (tests, Node). */
const defaultFetch = globalThis.fetch;

/**
 * A browser upload with progress events.
 * @param {string} url @param {string} token @param {UploadBody} file
 * @param {{onProgress?: (p: UploadProgress) => void, signal?: AbortSignal}} opts
 * @returns {Promise<{status: number, body: any}>}
 */
function xhrUpload(url, token, file, opts) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (opts.onProgress) {
      const report = opts.onProgress;
      xhr.upload.onprogress = (e) => report({ loaded: e.loaded, total: e.lengthComputable ? e.total : 0 });
    }
    xhr.onload = () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new MissiveError('network', 'Cannot reach the server. Check your connection.'));
    xhr.onabort = () => reject(new MissiveError('aborted', 'The upload was cancelled.'));
    if (opts.signal) opts.signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file instanceof Blob ? file : new Blob([/** @type {BlobPart} */ (file)]));
  });
}
