// The web app's session and REST calls, both through the Missive client library
// (js/missive/, a copy of clients/js/src): one `TokenSession` over localStorage, shared with the
// socket client, whose refreshes are serialised across tabs with the Web Locks API; one
// `RestClient`. This module only adapts them to the app's function-style calls.

import { MissiveError, RestClient, TokenSession, describeError } from './missive/index.js';

export { describeError, MissiveError as ApiError };

/** Runs `fn` holding a lock shared by this origin's tabs (Web Locks), or just runs it. */
function lock(name, fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request(name, fn);
  return fn();
}

export const session = new TokenSession({ storage: localStorage, lock });
export const rest = new RestClient({ session });

// Another tab refreshed, logged in or logged out.
let external = false;
window.addEventListener('storage', (e) => {
  if (e.key !== session.key && e.key !== null) return;
  external = true;
  try {
    session.reload();
  } finally {
    external = false;
  }
});

export const getSession = () => session.get();
export const adoptSession = (resp) => session.adopt(resp);
export const clearSession = () => session.clear();
export const updateSessionUser = (user) => session.updateUser(user);
export const freshSession = () => session.fresh();
export const refresh = () => session.refresh();

/** Subscribes to session changes: fn(session|null, {external}), external = from another tab. */
export function onSessionChange(fn) {
  return session.on('change', (s) => fn(s, { external }));
}

/**
 * Calls the REST API. `auth` adds the bearer token (refreshing it first if it is about to expire,
 * and once more on a 401). Resolves the parsed JSON (null for 204); rejects with ApiError.
 */
export function api(method, path, body, { auth = true } = {}) {
  return rest.request(method, path, body, { auth });
}

export const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};
