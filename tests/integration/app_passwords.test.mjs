// Application passwords over the API: create (shown once, re-authentication, limits), list,
// revoke; protocol checks through POST /api/v1/app-auth and GET /api/v1/verify with HTTP Basic
// (scopes, the main password before and after 2FA, lockouts, caching and revocation); the
// sign-in redirect and return-address check; twostep-checkpassword driven the way Dovecot
// drives it; and bad input on every path.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, totp, STRONG_PASSWORD,
} from './lib/client.mjs';
import {
  APP_PASSWORD_SHAPE, appAuth, basic, checkpasswordInput, createAppPassword, freePort,
  runCheckpassword,
} from './lib/protocols.mjs';

async function newSignedIn(server, prefix = 'ap') {
  const username = uniqueName(prefix);
  const client = new Client(server);
  await signup(client, username);
  return { client, username };
}

async function enableTotp(client) {
  const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
  assertStatus(add, 201);
  const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totp(add.json.secret) });
  assertStatus(confirm, 200);
  return add.json.secret;
}

function verify(server, headers) {
  return new Client(server).get('/api/v1/verify', { headers, cookies: false });
}

describe('application passwords', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_SERVER_PUBLIC_URL: 'http://id.example.test:8080', TWOSTEP_SESSIONS_COOKIE_DOMAIN: '.example.test' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('create: shown once, typeable, listed without the secret', async () => {
    const { client, username } = await newSignedIn(server);
    const res = await client.post('/api/v1/app-passwords', { name: 'Thunderbird', scopes: ['mail', 'dav', 'mail'] });
    assertStatus(res, 201);
    assert.match(res.json.password, APP_PASSWORD_SHAPE);
    assert.deepEqual(res.json.app_password.scopes, ['mail', 'dav']);
    assert.equal(res.json.app_password.name, 'Thunderbird');
    assert.equal(res.json.app_password.last_used_at, 0);
    assert.match(res.headers.get('cache-control') || '', /no-store/);
    const list = await client.get('/api/v1/app-passwords');
    assertStatus(list, 200);
    assert.equal(list.json.max, 50);
    assert.equal(list.json.app_passwords.length, 1);
    const item = list.json.app_passwords[0];
    assert.deepEqual(Object.keys(item).sort(), ['created_at', 'id', 'last_used_at', 'last_used_ip', 'name', 'scopes']);
    const secret = res.json.password.replaceAll('-', '');
    assert.ok(!list.text.includes(secret.slice(4)), 'the list must not contain the password');
    // "all" wins over the others.
    const all = await client.post('/api/v1/app-passwords', { name: 'Everything', scopes: ['dav', 'all'] });
    assertStatus(all, 201);
    assert.deepEqual(all.json.app_password.scopes, ['all']);
    // Used once: the list shows when and from where.
    assertStatus(await appAuth(new Client(server), username, res.json.password, 'imap'), 200);
    const after1 = await client.get('/api/v1/app-passwords');
    const used = after1.json.app_passwords.find((p) => p.id === res.json.app_password.id);
    assert.ok(used.last_used_at > 0);
    assert.equal(used.last_used_ip, '127.0.0.1');
    const audit = await client.get('/api/v1/audit');
    const events = audit.json.events.map((e) => e.event);
    assert.ok(events.includes('app_password_created'), events.join());
    assert.ok(events.includes('app_password_used'), events.join());
    assert.ok(!audit.text.includes(secret), 'the audit log must not contain the password');
  });

  test('managing needs a full session and the CSRF token', async () => {
    const anon = new Client(server);
    assertError(await anon.get('/api/v1/app-passwords'), 401, 'not_authenticated');
    // A cookie-less state change is refused before the session is looked at.
    assertError(await anon.post('/api/v1/app-passwords', { name: 'x', scopes: ['mail'] }), 403, 'csrf');
    const { client } = await newSignedIn(server);
    assertError(await client.post('/api/v1/app-passwords', { name: 'x', scopes: ['mail'] }, { csrf: false }), 403, 'csrf');
    const { id } = await createAppPassword(client);
    assertError(await client.delete(`/api/v1/app-passwords/${id}`, undefined, { csrf: false }), 403, 'csrf');
    // A pending sign-in (second step not done) manages nothing.
    const { client: c2, username } = await newSignedIn(server, 'pending');
    await enableTotp(c2);
    const pending = new Client(server);
    const res = await login(pending, username);
    assert.equal(res.json.status, 'second_factor');
    assertError(await pending.get('/api/v1/app-passwords'), 401);
    assertError(await pending.post('/api/v1/app-passwords', { name: 'x', scopes: ['mail'] }), 401);
  });

  test('bad input when creating changes nothing', async () => {
    const { client } = await newSignedIn(server);
    const cases = [
      [{ scopes: ['mail'] }, 'name'],
      [{ name: '', scopes: ['mail'] }, 'name'],
      [{ name: 'x'.repeat(65), scopes: ['mail'] }, 'name'],
      [{ name: 'x'.repeat(300), scopes: ['mail'] }, 'name'],
      [{ name: 42, scopes: ['mail'] }, 'name'],
      [{ name: 'a\u0007b', scopes: ['mail'] }, 'name'],
      [{ name: 'x' }, 'scopes'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: 'x', scopes: 'mail' }, 'scopes'],
      [{ name: 'x', scopes: ['imap'] }, 'scopes'],
      [{ name: 'x', scopes: [1] }, 'scopes'],
      [{ name: 'x', scopes: Array(9).fill('mail') }, 'scopes'],
      [{ name: 'x', scopes: ['m'.repeat(10000)] }, 'scopes'],
    ];
    for (const [body, field] of cases) {
      const res = await client.post('/api/v1/app-passwords', body);
      assertError(res, 400, 'invalid_request');
      assert.ok(res.json.message.startsWith(`${field}:`), `${JSON.stringify(body).slice(0, 80)} → ${res.json.message}`);
    }
    assertError(await client.post('/api/v1/app-passwords', undefined, { body: '{"name":' }), 400, 'invalid_json');
    assertError(await client.post('/api/v1/app-passwords', undefined, { body: '["x"]' }), 400);
    assertError(await client.post('/api/v1/app-passwords', undefined, { body: JSON.stringify({ name: 'x'.repeat(70000), scopes: ['mail'] }) }), 413, 'body_too_large');
    const list = await client.get('/api/v1/app-passwords');
    assert.equal(list.json.app_passwords.length, 0);
  });

  test('at most 50 per user, also under concurrency', async () => {
    const { client } = await newSignedIn(server);
    const results = await Promise.all(
      Array.from({ length: 56 }, (_, i) => client.post('/api/v1/app-passwords', { name: `p${i}`, scopes: ['mail'] })),
    );
    const ok = results.filter((r) => r.status === 201).length;
    const refused = results.filter((r) => r.status === 409 && r.json?.error === 'too_many_app_passwords');
    assert.equal(ok, 50, results.map((r) => r.status).join());
    assert.equal(refused.length, 6);
    assert.match(refused[0].json.message, /50/);
    const list = await client.get('/api/v1/app-passwords');
    assert.equal(list.json.app_passwords.length, 50);
  });

  test('revoke: only the owner, once, and refused at once everywhere', async () => {
    const { client, username } = await newSignedIn(server);
    const { id, password } = await createAppPassword(client, { scopes: ['all'] });
    const auth = basic(username, password);
    const ok = await verify(server, { authorization: auth, 'x-twostep-scope': 'dav' });
    assertStatus(ok, 200);
    assert.equal(ok.headers.get('x-twostep-user'), username);
    assert.equal(ok.headers.get('x-twostep-auth'), 'app_password');
    // Cached now; another user cannot revoke it.
    const { client: mallory } = await newSignedIn(server, 'mallory');
    assertError(await mallory.delete(`/api/v1/app-passwords/${id}`), 404, 'not_found');
    assertStatus(await verify(server, { authorization: auth, 'x-twostep-scope': 'dav' }), 200);
    assertStatus(await client.delete(`/api/v1/app-passwords/${id}`), 200);
    // At once: not after the cache lifetime.
    assertStatus(await verify(server, { authorization: auth, 'x-twostep-scope': 'dav' }), 401);
    assertError(await appAuth(new Client(server), username, password, 'imap'), 401, 'invalid_credentials');
    assertError(await client.delete(`/api/v1/app-passwords/${id}`), 404);
    assertError(await client.delete('/api/v1/app-passwords/0'), 404);
    assertError(await client.delete('/api/v1/app-passwords/abc'), 404);
    const audit = await client.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'app_password_revoked' && e.detail.name === 'Test client'));
  });

  test('app-auth: scopes, the main password while 2FA is off, unknown users', async () => {
    const { client, username } = await newSignedIn(server);
    const mail = await createAppPassword(client, { scopes: ['mail'] });
    const dav = await createAppPassword(client, { scopes: ['dav'] });
    const anon = new Client(server);
    let res = await appAuth(anon, username, mail.password, 'imap');
    assertStatus(res, 200);
    assert.deepEqual(res.json, { status: 'ok', user: username, via: 'app_password' });
    // As a person types it from a phone screen: upper case, spaces instead of dashes.
    res = await appAuth(anon, username.toUpperCase(), mail.password.toUpperCase().replaceAll('-', ' '), 'pop3');
    assertStatus(res, 200);
    assert.equal(res.json.user, username);
    assertError(await appAuth(anon, username, mail.password, 'caldav'), 403, 'app_password_scope');
    assertError(await appAuth(anon, username, dav.password, 'imap'), 403, 'app_password_scope');
    assertStatus(await appAuth(anon, username, dav.password, 'webdav'), 200);
    // 2FA is off: the main password works for protocols (accounts.protocol_main_password).
    res = await appAuth(anon, username, STRONG_PASSWORD, 'imap');
    assertStatus(res, 200);
    assert.equal(res.json.via, 'password');
    const wrong = await appAuth(anon, username, 'not the password at all', 'imap');
    const unknown = await appAuth(anon, uniqueName('nobody'), 'not the password at all', 'imap');
    const unknownApp = await appAuth(anon, uniqueName('nobody'), mail.password, 'imap');
    for (const r of [wrong, unknown, unknownApp]) assertError(r, 401, 'invalid_credentials');
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.text, unknownApp.text);
    // Another user's application password is nothing to this user.
    const other = await newSignedIn(server, 'other');
    assertError(await appAuth(anon, other.username, mail.password, 'imap'), 401, 'invalid_credentials');
  });

  test('an application password never opens the web account', async () => {
    const { client, username } = await newSignedIn(server);
    const { password } = await createAppPassword(client);
    const viaApp = await login(new Client(server), username, password);
    const wrong = await login(new Client(server), username, 'not the password at all');
    assertError(viaApp, 401, 'invalid_credentials');
    assert.equal(viaApp.text, wrong.text);
    assert.equal(viaApp.cookie('twostep_session'), undefined);
    // Nor does Basic open the API.
    assertError(await new Client(server).get('/api/v1/me', { headers: { authorization: basic(username, password) } }), 401);
    assertError(await new Client(server).get('/api/v1/app-passwords', { headers: { authorization: basic(username, password) } }), 401);
  });

  test('once 2FA is on the main password is refused with app_password_required', async () => {
    const { client, username } = await newSignedIn(server);
    const { password } = await createAppPassword(client, { scopes: ['all'] });
    await enableTotp(client);
    const anon = new Client(server);
    const res = await appAuth(anon, username, STRONG_PASSWORD, 'imap');
    assertError(res, 401, 'app_password_required');
    assert.match(res.json.message, /App passwords/);
    assert.match(res.json.message, /id\.example\.test/);
    // A wrong password still says only "wrong" (the 2FA state is not revealed).
    assertError(await appAuth(anon, username, 'not the password at all', 'imap'), 401, 'invalid_credentials');
    assertStatus(await appAuth(anon, username, password, 'imap'), 200);
    const v = await verify(server, { authorization: basic(username, STRONG_PASSWORD), 'x-twostep-scope': 'dav' });
    assertError(v, 401, 'app_password_required');
    assertStatus(await verify(server, { authorization: basic(username, password), 'x-twostep-scope': 'dav' }), 200);
    const audit = await client.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'app_auth_refused'));
  });

  test('app-auth bad input', async () => {
    const { username } = await newSignedIn(server);
    const anon = new Client(server);
    const post = (body, opts = {}) => anon.post('/api/v1/app-auth', undefined, { body, cookies: false, ...opts });
    assertError(await post('{'), 400, 'invalid_json');
    assertError(await post('[]'), 400);
    assertError(await post(JSON.stringify({ password: 'x', service: 'imap' })), 400, 'invalid_request');
    assertError(await post(JSON.stringify({ username, service: 'imap' })), 400, 'invalid_request');
    assertError(await post(JSON.stringify({ username, password: 'x' })), 400, 'invalid_request');
    assertError(await post(JSON.stringify({ username: 1, password: 'x', service: 'imap' })), 400, 'invalid_request');
    assertError(await post(JSON.stringify({ username, password: ['x'], service: 'imap' })), 400, 'invalid_request');
    const badService = await post(JSON.stringify({ username, password: 'x', service: 'ftp' }));
    assertError(badService, 400, 'invalid_request');
    assert.match(badService.json.message, /^service:/);
    const long = await post(JSON.stringify({ username, password: 'p'.repeat(10000), service: 'imap' }));
    assertError(long, 400, 'invalid_request');
    assert.match(long.json.message, /^password:/);
    assertError(await post(JSON.stringify({ username: 'u'.repeat(10000), password: 'x', service: 'imap' })), 400, 'invalid_request');
    // A form post (no JSON content type) is refused like at sign-in.
    assertError(await post(`username=${username}&password=x&service=imap`, { contentType: 'application/x-www-form-urlencoded' }), 400);
    assertError(await anon.get('/api/v1/app-auth'), 405);
  });

  test('verify with Basic: garbage, sizes, scopes and the scope header', async () => {
    const { client, username } = await newSignedIn(server);
    const davOnly = await createAppPassword(client, { scopes: ['dav'] });
    const all = await createAppPassword(client, { scopes: ['all'] });
    const garbage = [
      'Basic',
      'Basic ',
      'Basic !!!!',
      'Basic ' + Buffer.from('no-colon-here').toString('base64'),
      'Basic ' + Buffer.from(`:${all.password}`).toString('base64'),
      'Basic ' + Buffer.from(`${username}:`).toString('base64'),
      'Bearer ' + all.password,
      'Basicx ' + Buffer.from(`${username}:${all.password}`).toString('base64'),
      'Digest username="x"',
      basic(username, all.password).slice(0, -2),
      basic(username, `${all.password}x`),
      basic(username, 'p'.repeat(3000)),
      basic('u'.repeat(300), all.password),
      basic(uniqueName('nobody'), all.password),
    ];
    for (const authorization of garbage) {
      const res = await verify(server, { authorization, 'x-twostep-scope': 'dav' });
      assert.equal(res.status, 401, `${authorization.slice(0, 60)} → ${res.status} ${res.text}`);
      assert.match(res.headers.get('www-authenticate') || '', /^Basic realm="twostep"/);
      assert.equal(res.headers.get('x-twostep-user'), null);
    }
    // A 10 000-character password does not fit in the request head at all.
    const huge = await verify(server, { authorization: basic(username, 'p'.repeat(10000)), 'x-twostep-scope': 'dav' });
    assert.equal(huge.status, 431, huge.text);
    // Scopes: a dav password passes dav, not mail; without the header only "all" passes.
    assertStatus(await verify(server, { authorization: basic(username, davOnly.password), 'x-twostep-scope': 'dav' }), 200);
    assertStatus(await verify(server, { authorization: basic(username, davOnly.password), 'x-twostep-scope': 'caldav' }), 200);
    const wrongScope = await verify(server, { authorization: basic(username, davOnly.password), 'x-twostep-scope': 'mail' });
    assertError(wrongScope, 403, 'app_password_scope');
    assertError(await verify(server, { authorization: basic(username, davOnly.password) }), 403, 'app_password_scope');
    assertStatus(await verify(server, { authorization: basic(username, all.password) }), 200);
    // An unknown scope in the header is a configuration error (nginx reports it as 500).
    const badHeader = await verify(server, { authorization: basic(username, all.password), 'x-twostep-scope': 'ftp' });
    assertError(badHeader, 400, 'invalid_request');
    assert.match(badHeader.json.message, /X-Twostep-Scope/);
    // A session cookie wins over Basic and needs no scope.
    const withCookie = await client.get('/api/v1/verify', { headers: { authorization: 'Basic !!!' } });
    assertStatus(withCookie, 200);
    assert.equal(withCookie.headers.get('x-twostep-user'), username);
    // The main password works on Basic while 2FA is off (no cache hit: first use).
    const main = await verify(server, { authorization: basic(username, STRONG_PASSWORD), 'x-twostep-scope': 'dav' });
    assertStatus(main, 200);
    assert.equal(main.headers.get('x-twostep-auth'), 'password');
  });

  test('verify 401 carries the sign-in URL with rd only within the configured domain', async () => {
    const cases = [
      ['http://dav.example.test/files/a.txt?x=1&y=2', true],
      ['http://id.example.test:8080/account', true],
      ['http://example.test/', true],
      ['http://evil.example.net/', false],
      ['http://dav.example.test.evil.net/', false],
      ['http://evil.net@dav.example.test/', false],
      ['javascript:alert(1)', false],
      ['//evil.example.net/', false],
    ];
    for (const [original, allowed] of cases) {
      const res = await verify(server, { 'x-original-url': original });
      assertError(res, 401, 'not_authenticated');
      const signin = res.headers.get('x-twostep-redirect');
      assert.deepEqual(Object.keys(res.json).sort(), ['error', 'message']);
      const url = new URL(signin);
      assert.equal(url.origin + url.pathname, 'http://id.example.test:8080/login');
      assert.equal(url.searchParams.get('rd'), allowed ? original : null, `${original} → ${signin}`);
      // The page's own check agrees.
      const check = await new Client(server).get(`/api/v1/return-url?rd=${encodeURIComponent(original)}`);
      if (allowed) {
        assertStatus(check, 200);
        assert.equal(check.json.url, original);
      } else {
        assertError(check, 400, 'invalid_redirect');
      }
    }
    assertError(await new Client(server).get('/api/v1/return-url'), 400, 'invalid_redirect');
    assertStatus(await new Client(server).get('/api/v1/return-url?rd=%2Fsecurity'), 200);
  });

  test('the CLI lists and revokes a user\'s application passwords', async () => {
    const { client, username } = await newSignedIn(server, 'cli');
    const { id, password } = await createAppPassword(client, { name: 'Lost phone', scopes: ['mail'] });
    const list = await server.cli(['app-password', 'list', username]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id}\\s+Lost phone\\s+mail\\s`, 'm'));
    assert.ok(!list.stdout.includes(password.slice(5)), 'the list never shows the password');
    const unknown = await server.cli(['app-password', 'list', uniqueName('nobody')]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no such user/);
    const wrongId = await server.cli(['app-password', 'revoke', username, String(id + 1000)]);
    assert.notEqual(wrongId.code, 0);
    const revoke = await server.cli(['app-password', 'revoke', username, String(id)]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assertError(await appAuth(new Client(server), username, password, 'imap'), 401, 'invalid_credentials');
    const audit = await client.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'app_password_revoked' && e.ip === 'cli'));
  });

  test('many parallel checks of one application password all pass (no use-once)', async () => {
    const { client, username } = await newSignedIn(server);
    const { password } = await createAppPassword(client, { scopes: ['mail'] });
    const results = await Promise.all(Array.from({ length: 20 }, () => appAuth(new Client(server), username, password, 'imap')));
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
  });
});

describe('application passwords: configuration, re-authentication, lockouts', () => {
  test('accounts.protocol_main_password = false refuses the main password even without 2FA', async () => {
    const server = await startServer({ env: { TWOSTEP_ACCOUNTS_PROTOCOL_MAIN_PASSWORD: 'false' } });
    try {
      const { client, username } = await newSignedIn(server);
      assertError(await appAuth(new Client(server), username, STRONG_PASSWORD, 'imap'), 401, 'app_password_required');
      const { password } = await createAppPassword(client, { scopes: ['mail'] });
      assertStatus(await appAuth(new Client(server), username, password, 'imap'), 200);
    } finally {
      await server.stop();
    }
  });

  test('creating one needs a recent re-authentication', async () => {
    const server = await startServer({ env: { TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1' } });
    try {
      const { client } = await newSignedIn(server);
      await new Promise((r) => setTimeout(r, 2100));
      assertError(await client.post('/api/v1/app-passwords', { name: 'x', scopes: ['mail'] }), 403, 'reauth_required');
      assertStatus(await client.post('/api/v1/reauth', { password: STRONG_PASSWORD }), 200);
      assertStatus(await client.post('/api/v1/app-passwords', { name: 'x', scopes: ['mail'] }), 201);
      // Listing and revoking need no re-authentication.
      await new Promise((r) => setTimeout(r, 2100));
      const list = await client.get('/api/v1/app-passwords');
      assertStatus(list, 200);
      assertStatus(await client.delete(`/api/v1/app-passwords/${list.json.app_passwords[0].id}`), 200);
    } finally {
      await server.stop();
    }
  });

  test('failures lock protocol sign-in per account (not the web sign-in) and per address', async () => {
    const server = await startServer({
      env: {
        TWOSTEP_RATE_LIMIT_LOGIN_ACCOUNT_MAX: '3',
        TWOSTEP_RATE_LIMIT_LOGIN_IP_MAX: '6',
        TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    try {
      const { client, username } = await newSignedIn(server);
      const { password } = await createAppPassword(client, { scopes: ['all'] });
      const from = (ip) => new Client(server).post('/api/v1/app-auth', { username, password: 'wrong password', service: 'imap' }, { headers: { 'x-forwarded-for': ip } });
      for (let i = 0; i < 3; i++) assertError(await from('198.51.100.1'), 401, 'invalid_credentials');
      const locked = await appAuth(new Client(server), username, password, 'imap');
      assertError(locked, 429, 'locked');
      assert.ok(Number(locked.headers.get('retry-after')) > 0);
      // Basic on /verify answers 401 (auth_request passes nothing else) with the reason.
      assertError(await verify(server, { authorization: basic(username, password), 'x-twostep-scope': 'dav' }), 401, 'locked');
      // The web sign-in has its own counter.
      assertStatus(await login(new Client(server), username), 200);
      // The address lock covers every account from that address, not other addresses.
      const other = await newSignedIn(server, 'other');
      for (let i = 0; i < 3; i++) {
        await new Client(server).post('/api/v1/app-auth', { username: uniqueName('x'), password: 'wrong', service: 'imap' }, { headers: { 'x-forwarded-for': '198.51.100.1' } });
      }
      assertError(await new Client(server).post('/api/v1/app-auth', { username: other.username, password: STRONG_PASSWORD, service: 'imap' }, { headers: { 'x-forwarded-for': '198.51.100.1' } }), 429, 'locked');
      assertStatus(await new Client(server).post('/api/v1/app-auth', { username: other.username, password: STRONG_PASSWORD, service: 'imap' }, { headers: { 'x-forwarded-for': '198.51.100.2' } }), 200);
      const audit = await client.get('/api/v1/audit');
      const events = audit.json.events.map((e) => e.event);
      assert.ok(events.includes('app_auth_failed'), events.join());
      assert.ok(events.includes('app_auth_locked'), events.join());
    } finally {
      await server.stop();
    }
  });
});

describe('twostep-checkpassword (the Dovecot checkpassword interface)', () => {
  let server;
  let user;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1' } });
    user = await newSignedIn(server, 'cp');
    user.mail = await createAppPassword(user.client, { scopes: ['mail'] });
    user.dav = await createAppPassword(user.client, { scopes: ['dav'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('right application password: runs the reply program with USER set, forwards the client address', async () => {
    const r = await runCheckpassword({
      input: checkpasswordInput(user.username.toUpperCase(), user.mail.password),
      url: server.url,
      env: { SERVICE: 'imap', TCPREMOTEIP: '203.0.113.9' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, user.username, 'USER is the canonical username');
    const list = await user.client.get('/api/v1/app-passwords');
    const used = list.json.app_passwords.find((p) => p.id === user.mail.id);
    assert.equal(used.last_used_ip, '203.0.113.9');
  });

  test('wrong password, wrong scope, unknown user: exit 1 and the reply program does not run', async () => {
    for (const [name, pw, service] of [
      [user.username, 'not the password at all', 'imap'],
      [user.username, user.dav.password, 'imap'],
      [uniqueName('nobody'), user.mail.password, 'imap'],
      [user.username, user.mail.password, 'ftp'],
    ]) {
      const r = await runCheckpassword({ input: checkpasswordInput(name, pw), url: server.url, env: { SERVICE: service } });
      assert.equal(r.code, 1, `${name}/${service}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.ok(!r.stderr.includes(pw), 'the password must never be logged');
    }
  });

  test('temporary failures exit 111; misuse exits 2; lookups without a password exit 1', async () => {
    const closed = await freePort();
    let r = await runCheckpassword({ input: checkpasswordInput(user.username, user.mail.password), url: `http://127.0.0.1:${closed}` });
    assert.equal(r.code, 111, r.stderr);
    assert.match(r.stderr, /cannot reach/);
    r = await runCheckpassword({ input: checkpasswordInput(user.username, user.mail.password), url: server.url, args: [] });
    assert.equal(r.code, 2);
    r = await runCheckpassword({ input: null, url: server.url });
    assert.equal(r.code, 2, 'fd 3 closed');
    r = await runCheckpassword({ input: 'no-nul-bytes-at-all', url: server.url });
    assert.equal(r.code, 2);
    r = await runCheckpassword({ input: checkpasswordInput(user.username, user.mail.password), url: server.url, env: { AUTHORIZED: '1' } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    r = await runCheckpassword({ input: checkpasswordInput(user.username, user.mail.password), url: server.url, args: ['/nonexistent/reply'] });
    assert.equal(r.code, 111);
  });

  test('bad input on fd 3: empty fields, 10 000 characters, binary junk', async () => {
    for (const [input, code] of [
      [checkpasswordInput('', user.mail.password), 1],
      [checkpasswordInput(user.username, ''), 1],
      // No second NUL within the interface's 512 bytes: malformed.
      [checkpasswordInput(user.username, 'p'.repeat(10000)), 2],
      [checkpasswordInput('x'.repeat(600), 'y'), 2],
      [Buffer.concat([Buffer.from(user.username), Buffer.from([0, 0xff, 0xfe, 0x80, 0]), Buffer.from('trailing')]), 1],
    ]) {
      const r = await runCheckpassword({ input, url: server.url });
      assert.equal(r.code, code, `${input.length} bytes: exit ${r.code}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    // Extra fields after the password (the interface allows a timestamp) are ignored.
    const ok = await runCheckpassword({ input: Buffer.concat([checkpasswordInput(user.username, user.mail.password), Buffer.from('1700000000\0')]), url: server.url });
    assert.equal(ok.code, 0, ok.stderr);
  });
});
