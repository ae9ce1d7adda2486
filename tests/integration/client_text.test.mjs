// Text from clients that one database would take and another refuse: a User-Agent that is not
// UTF-8, a typed username cut mid-character or holding NUL, labels beyond ASCII. The answers
// must be the same on every backend (this file runs as integration.* on SQLite and as
// integration_pg.* on PostgreSQL, whose TEXT refuses invalid UTF-8 and NUL).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, loginOk, uniqueName, totpStep, rawJsonPost,
  STRONG_PASSWORD,
} from './lib/client.mjs';

describe('client text', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  const rawPost = (path, json, userAgent) => rawJsonPost(server.port, path, json, userAgent);

  test('a User-Agent that is not UTF-8: sign-up, sign-in, sessions and the security log work', async () => {
    const name = uniqueName('latin1');
    // "Navigateur été ÿ" in Latin-1: 0xE9 and 0xFF are not UTF-8.
    const ua = Buffer.from('Navigateur \xE9t\xE9 \xFF', 'latin1');
    const shown = 'Navigateur \uFFFDt\uFFFD \uFFFD';

    const up = await rawPost('/api/v1/signup', { username: name, password: STRONG_PASSWORD }, ua);
    assert.equal(up.status, 201, `signup: ${up.status} ${up.body}`);
    const inRes = await rawPost('/api/v1/login', { username: name, password: STRONG_PASSWORD }, ua);
    assert.equal(inRes.status, 200, `login: ${inRes.status} ${inRes.body}`);
    const session = inRes.cookies.find((c) => c.name === 'twostep_session');
    const csrf = inRes.cookies.find((c) => c.name === 'twostep_csrf');
    assert.ok(session && csrf, 'sign-in sets the cookies');
    const wrong = await rawPost('/api/v1/login', { username: name, password: 'not the password at all' }, ua);
    assert.equal(wrong.status, 401, `failed login: ${wrong.status} ${wrong.body}`);

    const c = new Client(server);
    c.setCookie('twostep_session', session.value);
    c.setCookie('twostep_csrf', csrf.value);
    const list = await c.get('/api/v1/sessions');
    assertStatus(list, 200);
    const current = list.json.sessions.find((s) => s.current);
    assert.equal(current.user_agent, shown);

    const log = await c.get('/api/v1/audit');
    assertStatus(log, 200);
    const failed = log.json.events.find((e) => e.event === 'login_failed');
    assert.ok(failed, `login_failed in ${log.text}`);
    assert.equal(failed.user_agent, shown);
  });

  test('a typed username cut mid-character or holding NUL fails like any unknown name', async () => {
    // 30 × "€" (3 bytes each): the 64-byte cut for the throttle key and the log splits one.
    for (const username of ['€'.repeat(30), 'al\u0000ice', `${'é'.repeat(31)}€`]) {
      for (let i = 0; i < 3; i++) {
        assertError(await login(new Client(server), username, STRONG_PASSWORD), 401, 'invalid_credentials');
      }
    }
  });

  test('labels beyond ASCII keep every character', async () => {
    const c = new Client(server);
    await signup(c, uniqueName('label'));
    const label = 'Téléphone 📱 — 日本';
    const add = await c.post('/api/v1/methods/totp', { label });
    assertStatus(add, 201);
    assertStatus(await c.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                              { code: totpStep(add.json.secret, 0) }), 200);
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.methods[0].label, label);
    assertError(await c.post('/api/v1/methods/totp', { label: 'nul\u0000inside' }), 400, 'invalid_request');
  });

  test('a second sign-in still works after all of the above', async () => {
    const c = new Client(server);
    const name = uniqueName('after');
    await signup(c, name);
    await loginOk(new Client(server), name);
  });
});
