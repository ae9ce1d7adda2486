// A small cookie-jar HTTP client over fetch, a raw socket helper, and assertions shared by
// the integration tests.
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';

export const STRONG_PASSWORD = 'correct horse battery staple 42';
export const OTHER_STRONG_PASSWORD = 'purple elephant juggles quietly 97';

let uniq = 0;
// A fresh valid username: 3..64 of a-z 0-9 . _ -
export function uniqueName(prefix = 'user') {
  uniq += 1;
  return `${prefix}_${process.pid % 10000}_${uniq}_${Math.random().toString(36).slice(2, 6)}`;
}

// Parses one Set-Cookie header: {name, value, attrs} with lower-case attribute names;
// flag attributes (HttpOnly, Secure) map to true.
export function parseSetCookie(str) {
  const parts = str.split(';').map((s) => s.trim());
  const first = parts.shift();
  const eq = first.indexOf('=');
  const name = first.slice(0, eq).trim();
  const value = first.slice(eq + 1).trim();
  const attrs = {};
  for (const p of parts) {
    if (!p) continue;
    const i = p.indexOf('=');
    if (i < 0) attrs[p.toLowerCase()] = true;
    else attrs[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
  }
  return { name, value, attrs };
}

// True when a Set-Cookie removes the cookie (Max-Age <= 0 or Expires in the past).
export function isClearing(cookie) {
  if (cookie.attrs['max-age'] !== undefined && Number(cookie.attrs['max-age']) <= 0) return true;
  if (cookie.attrs.expires !== undefined) {
    const t = Date.parse(cookie.attrs.expires);
    if (!Number.isNaN(t) && t <= Date.now()) return true;
  }
  return false;
}

export class Client {
  constructor(baseUrl, { userAgent } = {}) {
    this.baseUrl = typeof baseUrl === 'string' ? baseUrl : baseUrl.url;
    this.cookies = new Map(); // name -> value
    this.userAgent = userAgent ?? 'twostep-integration-test';
    this.lastSetCookies = []; // raw Set-Cookie strings of the last response
  }

  cookie(name) {
    return this.cookies.get(name);
  }
  setCookie(name, value) {
    this.cookies.set(name, value);
  }
  clearCookies() {
    this.cookies.clear();
  }
  get session() {
    return this.cookies.get('twostep_session');
  }

  // opts: {headers, csrf: true|false, csrfToken, body (raw string), contentType, cookies:false}
  async request(method, path, json, opts = {}) {
    const headers = { 'user-agent': this.userAgent, ...(opts.headers || {}) };
    let body;
    if (opts.body !== undefined) {
      body = opts.body;
      headers['content-type'] = opts.contentType ?? 'application/json';
    } else if (json !== undefined) {
      body = JSON.stringify(json);
      headers['content-type'] = 'application/json';
    }
    if (opts.cookies !== false && this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    const safe = ['GET', 'HEAD', 'OPTIONS'].includes(method);
    if (!safe && opts.csrf !== false) {
      const token = opts.csrfToken ?? this.cookies.get('twostep_csrf');
      if (token !== undefined) headers['x-csrf-token'] = token;
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    const setCookies = res.headers.getSetCookie ? res.headers.getSetCookie() : [];
    this.lastSetCookies = setCookies;
    if (opts.cookies !== false) {
      for (const raw of setCookies) {
        const c = parseSetCookie(raw);
        if (isClearing(c)) this.cookies.delete(c.name);
        else this.cookies.set(c.name, c.value);
      }
    }
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: parsed,
      body: parsed,
      setCookies,
      cookie(name) {
        const raw = setCookies.find((s) => parseSetCookie(s).name === name);
        return raw === undefined ? undefined : { raw, ...parseSetCookie(raw) };
      },
    };
  }

  get(path, opts) {
    return this.request('GET', path, undefined, opts);
  }
  head(path, opts) {
    return this.request('HEAD', path, undefined, opts);
  }
  post(path, json, opts) {
    return this.request('POST', path, json, opts);
  }
  put(path, json, opts) {
    return this.request('PUT', path, json, opts);
  }
  patch(path, json, opts) {
    return this.request('PATCH', path, json, opts);
  }
  delete(path, json, opts) {
    return this.request('DELETE', path, json, opts);
  }
}

function describe(res) {
  return `HTTP ${res.status} ${res.text.slice(0, 500)}`;
}

// Asserts status, JSON {"error","message"} shape, and (optionally) the error code.
export function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code ?? ''}, got ${describe(res)}`);
  assertErrorShape(res);
  if (code !== undefined) {
    if (Array.isArray(code)) {
      assert.ok(code.includes(res.json.error), `expected error in ${code}, got ${describe(res)}`);
    } else {
      assert.equal(res.json.error, code, `expected error ${code}, got ${describe(res)}`);
    }
  }
}

export function assertErrorShape(res) {
  const ct = res.headers.get('content-type') || '';
  assert.match(ct, /application\/json/, `error content-type should be JSON: ${ct} (${describe(res)})`);
  assert.ok(res.json && typeof res.json === 'object' && !Array.isArray(res.json),
            `error body should be a JSON object: ${describe(res)}`);
  assert.equal(typeof res.json.error, 'string', `error body needs "error": ${describe(res)}`);
  assert.match(res.json.error, /^[a-z][a-z0-9_]*$/, `error code should be snake_case: ${describe(res)}`);
  assert.equal(typeof res.json.message, 'string', `error body needs "message": ${describe(res)}`);
  assert.ok(res.json.message.length > 0, `error message should not be empty: ${describe(res)}`);
}

export function assertStatus(res, status) {
  assert.equal(res.status, status, `expected ${status}, got ${describe(res)}`);
}

export async function signup(client, username, password = STRONG_PASSWORD) {
  const res = await client.post('/api/v1/signup', { username, password });
  assert.equal(res.status, 201, `signup ${username}: ${describe(res)}`);
  return res;
}

// Returns the response (no assertion): status may be 200/401/403/429.
export function login(client, username, password = STRONG_PASSWORD, extra = {}) {
  return client.post('/api/v1/login', { username, password, ...extra });
}

// Login that must fully succeed.
export async function loginOk(client, username, password = STRONG_PASSWORD, extra = {}) {
  const res = await login(client, username, password, extra);
  assert.equal(res.status, 200, `login ${username}: ${describe(res)}`);
  assert.equal(res.json?.status, 'ok', `login ${username}: ${describe(res)}`);
  return res;
}

// A sign-in that must stop at the second step: a new client on `server` → {c, res}.
export async function pendingLogin(server, username, password = STRONG_PASSWORD, clientOptions = {}) {
  const c = new Client(server, clientOptions);
  const res = await login(c, username, password);
  assert.equal(res.status, 200, `login ${username}: ${describe(res)}`);
  assert.equal(res.json?.status, 'second_factor', `login ${username}: ${describe(res)}`);
  return { c, res };
}

export async function newUser(baseUrl, prefix = 'user', password = STRONG_PASSWORD) {
  const client = new Client(baseUrl);
  const username = uniqueName(prefix);
  await signup(client, username, password);
  return { client, username, password };
}

// rawRequest(port, bytes, {timeoutMs, host, stopAfterResponse}) sends bytes over a plain TCP
// socket (without half-closing) and collects what comes back until the server closes the
// connection, an error, or the timeout.
// → {text, status, closed, timedOut, error, elapsedMs}
export function rawRequest(port, bytes, { timeoutMs = 5000, host = '127.0.0.1', stopAfterResponse = false } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks = [];
    let done = false;
    const sock = net.connect({ port, host });
    const finish = (extra) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
      sock.destroy();
      resolve({
        text,
        status: m ? Number(m[1]) : undefined,
        closed: false,
        timedOut: false,
        error: undefined,
        elapsedMs: performance.now() - started,
        ...extra,
      });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), timeoutMs);
    sock.on('connect', () => {
      sock.write(bytes);
    });
    sock.on('data', (d) => {
      chunks.push(d);
      if (stopAfterResponse && completeResponse(Buffer.concat(chunks).toString('latin1'))) {
        finish({ closed: false });
      }
    });
    sock.on('end', () => finish({ closed: true }));
    sock.on('close', () => finish({ closed: true }));
    sock.on('error', (e) => finish({ closed: true, error: e }));
  });
}

function completeResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return false;
  const head = text.slice(0, i);
  const m = head.match(/\r\ncontent-length:\s*(\d+)/i);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return /(^|\r\n)0\r\n\r\n$/.test(text.slice(i + 4));
  if (!m) return true;
  return text.length - (i + 4) >= Number(m[1]);
}

function dechunk(body) {
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const n = parseInt(rest.slice(0, nl), 16);
    if (!(n > 0)) return out;
    out += rest.slice(nl + 2, nl + 2 + n);
    rest = rest.slice(nl + 2 + n + 2);
  }
}

// Parses a raw HTTP/1.1 response text: {status, headers (lower-case names), body}.
export function parseRawResponse(text) {
  const i = text.indexOf('\r\n\r\n');
  const head = i < 0 ? text : text.slice(0, i);
  let body = i < 0 ? '' : text.slice(i + 4);
  const lines = head.split('\r\n');
  const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})/);
  const headers = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  if (/chunked/i.test(headers['transfer-encoding'] || '')) body = dechunk(body);
  let json;
  try {
    json = JSON.parse(body);
  } catch {}
  return { status: m ? Number(m[1]) : undefined, headers, body, json };
}

// A JSON POST over a raw socket, so that the User-Agent bytes (a Buffer) go out exactly as given
// (fetch refuses bytes that are not Latin-1 text). → parseRawResponse's fields and the
// Set-Cookie values as `cookies`.
export async function rawJsonPost(port, path, json, userAgent) {
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const head = Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
                `Content-Length: ${body.length}\r\nConnection: close\r\nUser-Agent: `, 'latin1'),
    userAgent,
    Buffer.from('\r\n\r\n', 'latin1'),
  ]);
  const res = await rawRequest(port, Buffer.concat([head, body]), { stopAfterResponse: true });
  const parsed = parseRawResponse(res.text);
  const cookies = res.text.split('\r\n')
    .filter((l) => /^set-cookie:/i.test(l))
    .map((l) => parseSetCookie(l.slice(l.indexOf(':') + 1).trim()));
  return { ...parsed, cookies };
}

// ---- TOTP via oathtool ----
export function totp(secret, atUnixSeconds = Math.floor(Date.now() / 1000)) {
  return execFileSync('oathtool', ['--totp', '-b', secret, '-N', `@${Math.floor(atUnixSeconds)}`], {
    encoding: 'utf8',
  }).trim();
}
export const nowS = () => Math.floor(Date.now() / 1000);
// The code of the current 30 s step plus `steps`.
export function totpStep(secret, steps = 0) {
  return totp(secret, nowS() + 30 * steps);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns truthy or timeoutMs passes; returns the last value.
export async function waitFor(fn, { timeoutMs = 1500, intervalMs = 50 } = {}) {
  const end = performance.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last || performance.now() >= end) return last;
    await sleep(intervalMs);
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// Adds TOTP to a signed-in client and confirms it with the code of `step` (totpStep): the first
// method turns two-step verification on. Returns {secret, methodId, recoveryCodes}.
export async function enrolTotp(client, { label = 'phone', step = 0 } = {}) {
  const add = await client.post('/api/v1/methods/totp', { label });
  assertStatus(add, 201);
  const { secret, method_id: methodId } = add.json;
  const confirm = await client.post(`/api/v1/methods/${methodId}/confirm`, { code: totpStep(secret, step) });
  assertStatus(confirm, 200);
  assert.equal(confirm.json.recovery_codes.length, 10);
  return { secret, methodId, recoveryCodes: confirm.json.recovery_codes };
}
