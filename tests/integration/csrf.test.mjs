// CSRF: cookie-authenticated state-changing requests need X-CSRF-Token equal to the
// twostep_csrf cookie (double submit), including login/signup when cookies are present.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, loginOk, uniqueName, STRONG_PASSWORD,
} from './lib/client.mjs';

describe('csrf', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  async function signedIn(prefix = 'csrf') {
    const name = uniqueName(prefix);
    const c = new Client(server);
    await signup(c, name);
    assert.ok(c.cookie('twostep_csrf'), 'signup should set twostep_csrf');
    return { c, name };
  }

  test('POST /logout without X-CSRF-Token → 403 csrf, session still works', async () => {
    const { c } = await signedIn();
    const res = await c.post('/api/v1/logout', undefined, { csrf: false });
    assertError(res, 403, 'csrf');
    assertStatus(await c.get('/api/v1/me'), 200);
    assertStatus(await c.get('/api/v1/verify'), 200);
  });

  test('POST /logout with a wrong token → 403 csrf; with the right one → 200', async () => {
    const { c } = await signedIn();
    assertError(await c.post('/api/v1/logout', undefined, { csrfToken: 'wrong' }), 403, 'csrf');
    assertError(await c.post('/api/v1/logout', undefined, { csrfToken: '' }), 403, 'csrf');
    const token = c.cookie('twostep_csrf');
    const flipped = (token[0] === 'A' ? 'B' : 'A') + token.slice(1);
    assertError(await c.post('/api/v1/logout', undefined, { csrfToken: flipped }), 403, 'csrf');
    assertStatus(await c.get('/api/v1/me'), 200);

    const ok = await c.post('/api/v1/logout');
    assertStatus(ok, 200);
    assertError(await c.get('/api/v1/me'), 401, 'not_authenticated');
  });

  test('a header without the cookie is refused (token must match the cookie)', async () => {
    const { c } = await signedIn();
    const token = c.cookie('twostep_csrf');
    c.cookies.delete('twostep_csrf');
    assertError(await c.post('/api/v1/logout', undefined, { csrfToken: token }), 403, 'csrf');
    assertStatus(await c.get('/api/v1/me'), 200);
  });

  test("another session's token does not work", async () => {
    const a = await signedIn('csrfa');
    const b = await signedIn('csrfb');
    const res = await a.c.post('/api/v1/logout', undefined, { csrfToken: b.c.cookie('twostep_csrf') });
    // Tokens are random per client, so b's token differs from a's cookie.
    assert.notEqual(a.c.cookie('twostep_csrf'), b.c.cookie('twostep_csrf'));
    assertError(res, 403, 'csrf');
  });

  test('DELETE /sessions/{id} without token → 403 csrf and nothing is revoked', async () => {
    const { c, name } = await signedIn();
    const other = new Client(server);
    await loginOk(other, name);
    const list = await c.get('/api/v1/sessions');
    const target = list.json.sessions.find((s) => !s.current);
    assert.ok(target, list.text);
    assertError(await c.delete(`/api/v1/sessions/${target.id}`, undefined, { csrf: false }), 403, 'csrf');
    assertStatus(await other.get('/api/v1/me'), 200);
    assertStatus(await c.delete(`/api/v1/sessions/${target.id}`), 200);
    assertError(await other.get('/api/v1/me'), 401, 'not_authenticated');
  });

  test('GET /api/v1/csrf returns the token and sets the cookie', async () => {
    const c = new Client(server);
    const res = await c.get('/api/v1/csrf');
    assertStatus(res, 200);
    assert.equal(typeof res.json.csrf, 'string');
    assert.equal(c.cookie('twostep_csrf'), res.json.csrf);
    const csrf = res.cookie('twostep_csrf');
    assert.ok(csrf);
    assert.equal(csrf.attrs.httponly, undefined);
  });

  test('login CSRF: with cookies present, login needs the token', async () => {
    const name = uniqueName('logincsrf');
    await signup(new Client(server), name);
    const c = new Client(server);
    assertStatus(await c.get('/api/v1/csrf'), 200);
    const bare = await c.post('/api/v1/login', { username: name, password: STRONG_PASSWORD }, { csrf: false });
    assertError(bare, 403, 'csrf');
    assert.equal(bare.cookie('twostep_session'), undefined);
    await loginOk(c, name); // sends the token
  });

  test('API clients with no cookies need no token for login and signup', async () => {
    const name = uniqueName('apiclient');
    const c = new Client(server);
    const res = await c.post('/api/v1/signup', { username: name, password: STRONG_PASSWORD }, { csrf: false });
    assertStatus(res, 201);
    await loginOk(new Client(server), name);
  });
});
