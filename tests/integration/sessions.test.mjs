// Sessions: cookie attributes, logout, listing and revoking sessions, session fixation,
// forward-auth (/api/v1/verify).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, loginOk, uniqueName, isClearing, waitFor,
} from './lib/client.mjs';

describe('sessions', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  async function freshUser(prefix) {
    const name = uniqueName(prefix);
    const c = new Client(server);
    await signup(c, name);
    return name;
  }

  test('session cookie without "stay signed in": HttpOnly, SameSite=Lax, Path=/, no Max-Age/Expires', async () => {
    const name = await freshUser('cookie');
    const c = new Client(server);
    const res = await loginOk(c, name);
    const s = res.cookie('twostep_session');
    assert.ok(s, `no twostep_session in ${res.setCookies}`);
    assert.equal(s.attrs.httponly, true, `HttpOnly missing: ${s.raw}`);
    assert.equal(String(s.attrs.samesite).toLowerCase(), 'lax', `SameSite=Lax missing: ${s.raw}`);
    assert.equal(s.attrs.path, '/', `Path=/ missing: ${s.raw}`);
    assert.equal(s.attrs['max-age'], undefined, `a browser-session cookie has no Max-Age: ${s.raw}`);
    assert.equal(s.attrs.expires, undefined, `a browser-session cookie has no Expires: ${s.raw}`);
    assert.equal(s.attrs.secure, undefined, 'no Secure over http');
    assert.equal(s.attrs.domain, undefined, 'host-only cookie by default');
    assert.match(s.value, /^[A-Za-z0-9_-]{43,}={0,2}$/, 'token should be base64url of 256 bits');

    const csrf = res.cookie('twostep_csrf');
    assert.ok(csrf, `no twostep_csrf in ${res.setCookies}`);
    assert.equal(csrf.attrs.httponly, undefined, `twostep_csrf must be readable by scripts: ${csrf.raw}`);
    assert.equal(csrf.attrs.path, '/', csrf.raw);
    assert.equal(String(csrf.attrs.samesite).toLowerCase(), 'lax', csrf.raw);
    assert.ok(csrf.value.length >= 16);
  });

  test('"stay signed in": Max-Age = 30 days (2592000)', async () => {
    const name = await freshUser('remember');
    const c = new Client(server);
    const res = await loginOk(c, name, undefined, { remember: true });
    const s = res.cookie('twostep_session');
    assert.ok(s);
    assert.equal(s.attrs['max-age'], '2592000', `Max-Age should be 2592000: ${s.raw}`);
    assert.equal(s.attrs.httponly, true);
    const list = await c.get('/api/v1/sessions');
    assertStatus(list, 200);
    const cur = list.json.sessions.find((x) => x.current);
    assert.equal(cur.remember, true);
  });

  test('logout clears the session cookie and the old token stops working', async () => {
    const name = await freshUser('logout');
    const c = new Client(server);
    await loginOk(c, name);
    const token = c.session;
    assertStatus(await c.get('/api/v1/me'), 200);
    const out = await c.post('/api/v1/logout');
    assertStatus(out, 200);
    assert.equal(out.json.status, 'ok');
    const s = out.cookie('twostep_session');
    assert.ok(s, `logout should send a clearing Set-Cookie: ${out.setCookies}`);
    assert.ok(isClearing(s), `twostep_session should be cleared (Max-Age=0): ${s.raw}`);
    assert.equal(s.attrs['max-age'], '0', `expected Max-Age=0: ${s.raw}`);

    assertError(await c.get('/api/v1/me'), 401, 'not_authenticated');
    const replay = new Client(server);
    replay.setCookie('twostep_session', token);
    assertError(await replay.get('/api/v1/me'), 401, 'not_authenticated');
    assertStatus(await replay.get('/api/v1/verify'), 401);
  });

  test('sessions list shows both sign-ins, one marked current', async () => {
    const name = uniqueName('list');
    const c0 = new Client(server);
    await signup(c0, name);
    assertStatus(await c0.post('/api/v1/logout'), 200);

    const c1 = new Client(server, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36' });
    const c2 = new Client(server, { userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0' });
    await loginOk(c1, name);
    await loginOk(c2, name);
    const list = await c1.get('/api/v1/sessions');
    assertStatus(list, 200);
    const sessions = list.json.sessions;
    assert.equal(sessions.length, 2, `expected 2 sessions: ${list.text}`);
    assert.equal(sessions.filter((x) => x.current === true).length, 1, list.text);
    for (const s of sessions) {
      assert.ok(s.id !== undefined && s.id !== null);
      assert.equal(typeof s.created_at, 'number');
      assert.equal(typeof s.last_seen_at, 'number');
      assert.equal(typeof s.current, 'boolean');
      assert.equal(s.remember, false);
      assert.equal(s.ip, '127.0.0.1');
      assert.equal(typeof s.device, 'string');
    }
    const mine = sessions.find((x) => x.current);
    assert.match(mine.user_agent, /Chrome/);
    // The session token itself is never listed.
    assert.ok(!list.text.includes(c1.session) && !list.text.includes(c2.session), 'tokens must not be listed');
  });

  test('revoking another session: that client gets 401 on /me and /verify within 1.5 s', async () => {
    const name = uniqueName('revoke');
    const c0 = new Client(server);
    await signup(c0, name);
    assertStatus(await c0.post('/api/v1/logout'), 200);
    const c1 = new Client(server);
    const c2 = new Client(server);
    await loginOk(c1, name);
    await loginOk(c2, name);
    // Warm the verify cache for c2.
    const v = await c2.get('/api/v1/verify');
    assertStatus(v, 200);

    const list = await c1.get('/api/v1/sessions');
    const other = list.json.sessions.find((x) => !x.current);
    assert.ok(other, list.text);
    const del = await c1.delete(`/api/v1/sessions/${other.id}`);
    assertStatus(del, 200);
    assert.equal(del.json.status, 'ok');

    const meGone = await waitFor(async () => (await c2.get('/api/v1/me')).status === 401);
    assert.ok(meGone, 'revoked session still answers /me after 1.5 s');
    const verifyGone = await waitFor(async () => (await c2.get('/api/v1/verify')).status === 401);
    assert.ok(verifyGone, 'revoked session still passes /verify after 1.5 s');
    // The revoking session is unaffected.
    assertStatus(await c1.get('/api/v1/me'), 200);
    const after = await c1.get('/api/v1/sessions');
    assert.equal(after.json.sessions.length, 1, after.text);
  });

  test("DELETE another user's session → 404 and that session keeps working", async () => {
    const victim = new Client(server);
    await signup(victim, uniqueName('victim'));
    const vid = (await victim.get('/api/v1/sessions')).json.sessions[0].id;
    const attacker = new Client(server);
    await signup(attacker, uniqueName('attacker'));
    assertError(await attacker.delete(`/api/v1/sessions/${vid}`), 404, 'not_found');
    assertError(await attacker.delete('/api/v1/sessions/999999999'), 404, 'not_found');
    assertStatus(await victim.get('/api/v1/me'), 200);
    assertStatus(await victim.get('/api/v1/verify'), 200);
  });

  test('GET /api/v1/verify: 200 + X-Twostep-User with the cookie, 401 without or with garbage', async () => {
    const name = uniqueName('verify');
    const c = new Client(server);
    await signup(c, name);
    const ok = await c.get('/api/v1/verify');
    assertStatus(ok, 200);
    assert.equal(ok.headers.get('x-twostep-user'), name);

    const none = await new Client(server).get('/api/v1/verify');
    assertStatus(none, 401);
    assert.equal(none.headers.get('x-twostep-user'), null);

    const garbage = new Client(server);
    garbage.setCookie('twostep_session', 'garbage');
    const g = await garbage.get('/api/v1/verify');
    assertStatus(g, 401);
    assert.equal(g.headers.get('x-twostep-user'), null);
    const g2 = new Client(server);
    g2.setCookie('twostep_session', 'x'.repeat(43));
    assertStatus(await g2.get('/api/v1/verify'), 401);
  });
});

// Own server: a crash here must not take the other session tests with it.
describe('session fixation', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  async function freshUser(prefix) {
    const name = uniqueName(prefix);
    await signup(new Client(server), name);
    return name;
  }

  test('session fixation: login issues a new token, never the one the client brought', async () => {
    const name = await freshUser('fixation');
    // A planted cookie (attacker-chosen value) is replaced.
    const c = new Client(server);
    assertStatus(await c.get('/api/v1/csrf'), 200);
    const planted = 'A'.repeat(43);
    c.setCookie('twostep_session', planted);
    const res = await loginOk(c, name);
    const s = res.cookie('twostep_session');
    assert.ok(s, 'login must set a new session cookie');
    assert.notEqual(s.value, planted);

    // Signing in again on a signed-in client also rotates the token; the old one dies.
    const before = c.session;
    const again = await loginOk(c, name);
    const s2 = again.cookie('twostep_session');
    assert.ok(s2, 'second login must set a session cookie');
    assert.notEqual(s2.value, before);
    assert.notEqual(c.session, before);
    assertStatus(await c.get('/api/v1/me'), 200);
  });
});
