// Session tokens and the REST API.
//
// The session ({user, access_token, refresh_token, expires_at}) lives in localStorage so a reload
// stays logged in. Refresh tokens rotate and the server revokes the whole login if a used one is
// presented again, so two tabs must never refresh at once: refreshes are serialised across tabs
// with the Web Locks API (where available) and each tab re-reads storage before spending the
// token, adopting a fresher session that another tab already obtained.

const SESSION_KEY = 'missive.session';

/** An error with the protocol's `code` (or `network` / `timeout` / `disconnected` locally). */
export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retry_after_ms = extra.retry_after_ms;
  }
}

/** "code: message" for display. */
export function describeError(err) {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return `error: ${err && err.message ? err.message : String(err)}`;
}

let session = readStored();
const listeners = new Set();

function readStored() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return s && s.access_token && s.refresh_token ? s : null;
  } catch {
    return null;
  }
}

export function getSession() {
  return session;
}

/** Subscribes to session changes: fn(session|null, {external}). */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(external = false) {
  for (const fn of listeners) fn(session, { external });
  scheduleRefresh();
}

function store(s) {
  session = s;
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  notify(false);
}

/** Stores a `Session` object as returned by register/login/refresh. */
export function adoptSession(resp) {
  const ttl = Math.max(1, Number(resp.expires_in) || 900) * 1000;
  store({
    user: resp.user,
    access_token: resp.access_token,
    refresh_token: resp.refresh_token,
    ttl,
    expires_at: Date.now() + ttl,
  });
}

export function clearSession() {
  store(null);
}

export function updateSessionUser(user) {
  if (!session) return;
  session = { ...session, user };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

// Another tab refreshed, logged in or logged out.
window.addEventListener('storage', (e) => {
  if (e.key !== SESSION_KEY && e.key !== null) return;
  session = readStored();
  notify(true);
});

/** How long before expiry to refresh: a quarter of the lifetime, at most a minute. */
function margin(s) {
  return Math.min(60_000, Math.max(2_000, (s.ttl || 900_000) / 4));
}

function needsRefresh(s) {
  return s.expires_at - Date.now() <= margin(s);
}

let refreshing = null;

/** Refreshes the access token (once, however many callers ask concurrently). */
export function refresh() {
  if (!refreshing) {
    refreshing = doRefresh().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function doRefresh() {
  const before = session;
  const run = async () => {
    const current = readStored();
    if (!current) {
      if (session) store(null);
      throw new ApiError(401, 'unauthenticated', 'You have been logged out.');
    }
    // Another tab already rotated the token: use its result instead of spending ours again.
    if (before && current.refresh_token !== before.refresh_token && !needsRefresh(current)) {
      session = current;
      notify(false);
      return current;
    }
    let res;
    try {
      res = await fetch('/api/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: current.refresh_token }),
      });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server to renew your session.');
    }
    if (!res.ok) {
      const err = await toError(res);
      if (res.status === 401) store(null);
      throw err;
    }
    adoptSession(await res.json());
    return session;
  };
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request('missive-token-refresh', run);
  }
  return run();
}

/** Returns a session whose access token is not about to expire (refreshing if needed). */
export async function freshSession() {
  if (!session) throw new ApiError(401, 'unauthenticated', 'Not logged in.');
  if (needsRefresh(session)) {
    try {
      await refresh();
    } catch (err) {
      if (err.status === 401 || !session) throw err;
      // Network trouble: carry on with the old token; the server will say if it is too old.
    }
  }
  return session;
}

let refreshTimer = null;
let retryDelay = 5_000;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const wait = Math.max(0, session.expires_at - margin(session) - Date.now());
  refreshTimer = setTimeout(async () => {
    try {
      await refresh();
      retryDelay = 5_000;
    } catch (err) {
      if (session && err.status !== 401) {
        refreshTimer = setTimeout(scheduleRefresh, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 60_000);
      }
    }
  }, Math.min(wait, 2 ** 31 - 1));
}
scheduleRefresh();

export async function toError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = body && body.error;
  let retry = e && e.retry_after_ms;
  if (retry === undefined && res.headers.get('Retry-After')) {
    retry = Number(res.headers.get('Retry-After')) * 1000;
  }
  return new ApiError(
    res.status,
    (e && e.code) || `http_${res.status}`,
    (e && e.message) || res.statusText || 'Request failed',
    { retry_after_ms: retry },
  );
}

/**
 * Calls the REST API. `auth` adds the bearer token (refreshing it first if it is about to expire,
 * and once more on a 401). Resolves the parsed JSON (null for 204); rejects with ApiError.
 */
export async function api(method, path, body, { auth = true, retried = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) {
    const s = await freshSession();
    headers.Authorization = `Bearer ${s.access_token}`;
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (res.status === 401 && auth && !retried) {
    await refresh();
    return api(method, path, body, { auth, retried: true });
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};
