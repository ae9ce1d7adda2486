// The one way the UI talks to the server: JSON in and out, the CSRF header on every
// state-changing request, and errors turned into ApiError with the server's message.

const CSRF_COOKIE = 'twostep_csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// The token from the last GET /api/v1/csrf, used when the cookie cannot be read.
let csrfFromBody = null;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || 'Something went wrong. Please try again.');
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'unknown';
    this.retryAfter = retryAfter;
  }
}

function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return null;
}

async function fetchCsrf() {
  const res = await fetch('/api/v1/csrf', {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (res.ok) {
    const body = await res.json().catch(() => ({}));
    if (typeof body.csrf === 'string') csrfFromBody = body.csrf;
  }
}

// Returns the CSRF token, fetching the cookie first when there is none yet.
export async function csrfToken() {
  let token = readCookie(CSRF_COOKIE);
  if (!token) {
    await fetchCsrf();
    token = readCookie(CSRF_COOKIE) || csrfFromBody;
  }
  return token;
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (!SAFE_METHODS.has(method)) {
    const token = await csrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const retry = res.headers.get('Retry-After');
    throw new ApiError(
      res.status,
      data && data.error,
      (data && data.message) || `The server answered ${res.status}.`,
      retry ? Number(retry) : null,
    );
  }
  return data || {};
}

// api('POST', '/login', {...}) → parsed JSON body; throws ApiError on any non-2xx.
export async function api(method, path, body) {
  method = method.toUpperCase();
  try {
    return await send(method, path, body);
  } catch (err) {
    // A stale or missing CSRF cookie (e.g. cleared by sign-out elsewhere): get a fresh
    // one and try once more.
    if (err instanceof ApiError && err.status === 403 && err.code === 'csrf') {
      csrfFromBody = null;
      await fetchCsrf();
      return send(method, path, body);
    }
    throw err;
  }
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body = {}) => api('PATCH', path, body);
export const del = (path, body) => api('DELETE', path, body);
