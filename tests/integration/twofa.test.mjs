// Two-step verification with TOTP (codes from oathtool) and recovery codes: enrolment, the
// pending sign-in, replay and staleness, use-once under concurrency, attempt limits,
// re-authentication for removal and new recovery codes.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, loginOk, uniqueName, totp, totpStep, nowS, sleep, STRONG_PASSWORD, OTHER_STRONG_PASSWORD, pendingLogin,
} from './lib/client.mjs';

// Signs a new user up and turns on TOTP. Returns {client (signed in), username, secret,
// methodId, recoveryCodes}. The confirming code is the current step's.
async function enrolledUser(server, prefix) {
  const username = uniqueName(prefix);
  const client = new Client(server);
  await signup(client, username);
  const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
  assertStatus(add, 201);
  const { method_id: methodId, secret } = add.json;
  const confirm = await client.post(`/api/v1/methods/${methodId}/confirm`, { code: totpStep(secret, 0) });
  assertStatus(confirm, 200);
  return { client, username, secret, methodId, recoveryCodes: confirm.json.recovery_codes };
}

// A 6-digit code that is none of the codes valid around now.
function wrongCode(secret) {
  const valid = new Set([-2, -1, 0, 1, 2].map((s) => totpStep(secret, s)));
  for (;;) {
    const c = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    if (!valid.has(c)) return c;
  }
}

const REAUTH_S = 3;

describe('two-step verification (TOTP)', () => {
  let server;
  before(async () => {
    // A short re-authentication window so that tests can let it pass.
    server = await startServer({ env: { TWOSTEP_SESSIONS_REAUTH_WINDOW_S: String(REAUTH_S) } });
  });
  after(async () => {
    await server?.stop();
  });

  let alice; // {client, username, secret, methodId, recoveryCodes}

  test('enrol TOTP: secret, otpauth URI, QR; confirm with an oathtool code → 10 recovery codes', async () => {
    const username = uniqueName('alice');
    const client = new Client(server);
    await signup(client, username);

    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    const { method_id: methodId, secret, otpauth_uri: uri, qr_svg: svg } = add.json;
    assert.ok(methodId !== undefined && methodId !== null, add.text);
    assert.match(secret, /^[A-Z2-7]{32}$/, `secret should be 160-bit base32: ${secret}`);
    assert.match(uri, /^otpauth:\/\/totp\//);
    assert.ok(uri.includes(`secret=${secret}`), uri);
    assert.match(uri, /issuer=twostep/);
    assert.ok(uri.includes(username), `otpauth URI should name the account: ${uri}`);
    assert.match(svg, /<svg[\s>]/);

    // Not active until confirmed.
    let me = await client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false, 'an unconfirmed method must not turn on 2FA');

    // A wrong confirmation code → 400 invalid_code.
    assertError(await client.post(`/api/v1/methods/${methodId}/confirm`, { code: wrongCode(secret) }),
                400, 'invalid_code');

    const confirm = await client.post(`/api/v1/methods/${methodId}/confirm`, { code: totp(secret) });
    assertStatus(confirm, 200);
    const codes = confirm.json.recovery_codes;
    assert.ok(Array.isArray(codes), confirm.text);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10, 'recovery codes must be distinct');
    for (const c of codes) assert.match(c, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/i, c);

    me = await client.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.twofa_enabled, true);
    assert.equal(me.json.methods.length, 1);
    assert.equal(me.json.methods[0].type, 'totp');
    assert.equal(String(me.json.methods[0].id), String(methodId));
    assert.equal(String(me.json.default_method), String(methodId));
    assert.equal(me.json.recovery_codes_remaining, 10);
    assert.ok(!me.text.includes(secret), '/me must not reveal the TOTP secret');

    // The session that enrolled stays signed in.
    assertStatus(await client.get('/api/v1/verify'), 200);
    alice = { client, username, secret, methodId, recoveryCodes: codes };
  });

  test('sign-in asks for the second factor; the pending cookie opens nothing else', async () => {
    assert.ok(alice, 'needs the enrolment test');
    assertStatus(await alice.client.post('/api/v1/logout'), 200);

    const { c, res } = await pendingLogin(server, alice.username);
    assert.ok(Array.isArray(res.json.methods), res.text);
    const m = res.json.methods.find((x) => String(x.id) === String(alice.methodId));
    assert.ok(m, `methods should list the TOTP method: ${res.text}`);
    assert.equal(m.type, 'totp');
    assert.equal(typeof m.label, 'string');
    assert.equal(String(res.json.default), String(alice.methodId));
    assert.ok(!res.text.includes(alice.secret));
    // The pending sign-in cookie (normally twostep_session carrying a pending token).
    const pendingCookie = res.setCookies.map((raw) => raw.split('=')[0].trim())
      .find((n) => n.startsWith('twostep_') && n !== 'twostep_csrf');
    assert.ok(pendingCookie, `a pending session cookie should be set: ${res.setCookies}`);
    const pendingToken = c.cookie(pendingCookie);

    assertError(await c.get('/api/v1/me'), 401, 'not_authenticated');
    assertStatus(await c.get('/api/v1/verify'), 401);
    assertError(await c.get('/api/v1/sessions'), 401, 'not_authenticated');
    assertError(await c.post('/api/v1/methods/totp', {}), 401, 'not_authenticated');

    const state = await c.get('/api/v1/login/state');
    assertStatus(state, 200);
    assert.equal(state.json.status, 'second_factor');

    // Wrong types → 400 (and they do not count as attempts).
    for (const body of [{ type: 5, code: '123456' }, { type: 'totp', code: 123456 }, { type: 'totp' }, { code: '1' }]) {
      assertError(await c.post('/api/v1/login/second-factor', body), 400, 'invalid_request');
    }
    assertError(await c.post('/api/v1/login/second-factor', undefined, { body: '{"type":' }), 400, 'invalid_json');
    assertError(await c.post('/api/v1/login/second-factor', { type: 'carrier-pigeon', code: '123456' }), 400);

    // The next step's code (the current one was used by the confirmation).
    const code = totpStep(alice.secret, 1);
    const ok = await c.post('/api/v1/login/second-factor', { type: 'totp', code });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok');
    assert.equal(ok.json.user.username, alice.username);
    assert.ok(c.session && c.session !== pendingToken, 'a new session token must replace the pending one');
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.twofa_enabled, true);
    const v = await c.get('/api/v1/verify');
    assertStatus(v, 200);
    assert.equal(v.headers.get('x-twostep-user'), alice.username);

    // The pending token is dead.
    const old = new Client(server);
    old.setCookie(pendingCookie, pendingToken);
    assertError(await old.get('/api/v1/me'), 401);
    old.setCookie('twostep_csrf', c.cookie('twostep_csrf'));
    assertError(await old.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(alice.secret, 2) }),
                401, 'not_authenticated');

    // Replaying the same code in another sign-in → 401 invalid_code.
    const other = await pendingLogin(server, alice.username);
    const replay = await other.c.post('/api/v1/login/second-factor', { type: 'totp', code });
    assertError(replay, 401, 'invalid_code');
    assert.match(replay.json.message, /\d/, 'the message should say how many attempts remain');

    // A code two steps old is refused.
    const stale = await other.c.post('/api/v1/login/second-factor', { type: 'totp', code: totp(alice.secret, nowS() - 60) });
    assertError(stale, 401, 'invalid_code');
    assertError(await other.c.get('/api/v1/me'), 401);
  });

  test('a recovery code works once', async () => {
    assert.ok(alice, 'needs the enrolment test');
    const rc = alice.recoveryCodes[0];
    const first = await pendingLogin(server, alice.username);
    const ok = await first.c.post('/api/v1/login/second-factor', { type: 'recovery', code: rc });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok');
    if (ok.json.recovery_codes_remaining !== undefined) assert.equal(ok.json.recovery_codes_remaining, 9);
    assertStatus(await first.c.get('/api/v1/me'), 200);
    assert.equal((await first.c.get('/api/v1/me')).json.recovery_codes_remaining, 9);

    const second = await pendingLogin(server, alice.username);
    assertError(await second.c.post('/api/v1/login/second-factor', { type: 'recovery', code: rc }), 401, 'invalid_code');
    // Upper case and without dashes is the same code: still used.
    const variant = rc.toUpperCase().replaceAll('-', '');
    const v = await second.c.post('/api/v1/login/second-factor', { type: 'recovery', code: variant });
    assertError(v, 401, 'invalid_code');
    // Another unused code still works.
    const ok2 = await second.c.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.recoveryCodes[1] });
    assertStatus(ok2, 200);
  });

  test('20 parallel sign-ins with the same recovery code: exactly one succeeds', async () => {
    const u = await enrolledUser(server, 'race');
    const pendings = await Promise.all(Array.from({ length: 20 }, () => pendingLogin(server, u.username)));
    const code = u.recoveryCodes[3];
    const results = await Promise.all(
      pendings.map(({ c }) => c.post('/api/v1/login/second-factor', { type: 'recovery', code })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses}`);
    for (const r of results) {
      if (r.status !== 200) assert.ok([401, 429].includes(r.status), `unexpected ${r.status} ${r.text}`);
    }
    const me = await u.client.get('/api/v1/me');
    assert.equal(me.json.recovery_codes_remaining, 9, me.text);
  });

  test('5 wrong codes end the pending sign-in', async () => {
    const u = await enrolledUser(server, 'wrong');
    const { c } = await pendingLogin(server, u.username);
    for (let i = 0; i < 4; i++) {
      assertError(await c.post('/api/v1/login/second-factor', { type: 'totp', code: wrongCode(u.secret) }), 401, 'invalid_code');
    }
    assertError(await c.post('/api/v1/login/second-factor', { type: 'totp', code: wrongCode(u.secret) }), 401);
    // Even the right code no longer helps: sign in again.
    const late = await c.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(u.secret, 1) });
    assertError(late, 401, 'not_authenticated');
    assertError(await c.get('/api/v1/me'), 401);
    // A fresh sign-in still works.
    const again = await pendingLogin(server, u.username);
    assertStatus(await again.c.post('/api/v1/login/second-factor', { type: 'recovery', code: u.recoveryCodes[0] }), 200);
  });

  test('second-factor without a pending sign-in → refused', async () => {
    // No cookies at all: not authenticated (a CSRF refusal is also acceptable).
    const bare = await new Client(server).post('/api/v1/login/second-factor', { type: 'totp', code: '123456' });
    assertError(bare, bare.status === 403 ? 403 : 401, bare.status === 403 ? 'csrf' : 'not_authenticated');
    // Cookies but no session.
    const c = new Client(server);
    assertStatus(await c.get('/api/v1/csrf'), 200);
    assertError(await c.post('/api/v1/login/second-factor', { type: 'totp', code: '123456' }), 401, 'not_authenticated');
  });

  test('a session that never passed a second factor cannot remove 2FA without re-authentication', async () => {
    const u = await enrolledUser(server, 'noreauth');
    const c = u.client; // signed in by password only (signup), never by a second factor
    assertError(await c.delete(`/api/v1/methods/${u.methodId}`), 403, 'reauth_required');
    assertError(await c.post('/api/v1/recovery-codes'), 403, 'reauth_required');
    assertError(await c.delete('/api/v1/twofa'), 403, 'reauth_required');
    assert.equal((await c.get('/api/v1/me')).json.twofa_enabled, true);
  });

  test('removal and new recovery codes need re-authentication (password + code)', async () => {
    const u = await enrolledUser(server, 'reauth');
    const c = u.client;
    await sleep(REAUTH_S * 1000 + 1200); // let any sign-in-time authentication go stale

    assertError(await c.delete(`/api/v1/methods/${u.methodId}`), 403, 'reauth_required');
    assertError(await c.post('/api/v1/recovery-codes'), 403, 'reauth_required');
    assertError(await c.delete('/api/v1/twofa'), 403, 'reauth_required');
    assert.equal((await c.get('/api/v1/me')).json.twofa_enabled, true);

    // 2FA is on: the password alone is not enough, and a wrong password fails.
    const pwOnly = await c.post('/api/v1/reauth', { password: STRONG_PASSWORD });
    assert.ok(pwOnly.status === 400 || pwOnly.status === 401, `reauth without a code: ${pwOnly.status} ${pwOnly.text}`);
    const badPw = await c.post('/api/v1/reauth', { password: OTHER_STRONG_PASSWORD, type: 'totp', code: wrongCode(u.secret) });
    assertError(badPw, 401);
    assertError(await c.delete(`/api/v1/methods/${u.methodId}`), 403, 'reauth_required');

    const re = await c.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'totp', code: totpStep(u.secret, 1) });
    assertStatus(re, 200);
    assert.equal(re.json.status, 'ok');
    assert.equal(typeof re.json.until, 'number');
    assert.ok(re.json.until >= nowS() && re.json.until <= nowS() + REAUTH_S + 1, `until: ${re.json.until}`);

    // New recovery codes; the old set stops working.
    const fresh = await c.post('/api/v1/recovery-codes');
    assertStatus(fresh, 200);
    const newCodes = fresh.json.codes;
    assert.equal(newCodes.length, 10);
    assert.ok(newCodes.every((x) => !u.recoveryCodes.includes(x)));
    const p1 = await pendingLogin(server, u.username);
    assertError(await p1.c.post('/api/v1/login/second-factor', { type: 'recovery', code: u.recoveryCodes[5] }), 401, 'invalid_code');
    assertStatus(await p1.c.post('/api/v1/login/second-factor', { type: 'recovery', code: newCodes[0] }), 200);

    // Remove the method: 2FA is off.
    const del = await c.delete(`/api/v1/methods/${u.methodId}`);
    assertStatus(del, 200);
    const me = await c.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false);
    assert.deepEqual(me.json.methods, []);
    assert.equal(me.json.default_method, null);
    // Sign-in needs only the password again.
    await loginOk(new Client(server), u.username);
  });

  test('re-authentication is per session', async () => {
    const u = await enrolledUser(server, 'reauthsess');
    const other = await pendingLogin(server, u.username);
    assertStatus(await other.c.post('/api/v1/login/second-factor', { type: 'recovery', code: u.recoveryCodes[0] }), 200);
    await sleep(REAUTH_S * 1000 + 1200);
    assertError(await other.c.delete('/api/v1/twofa'), 403, 'reauth_required');
    assertStatus(await u.client.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'totp', code: totpStep(u.secret, 1) }), 200);
    assertError(await other.c.delete('/api/v1/twofa'), 403, 'reauth_required');
    const off = await u.client.delete('/api/v1/twofa');
    assertStatus(off, 200);
    const me = await u.client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false);
    assert.equal(me.json.recovery_codes_remaining, 0);
  });

  test('methods need a signed-in session and CSRF', async () => {
    const bare = await new Client(server).post('/api/v1/methods/totp', {});
    assertError(bare, bare.status === 403 ? 403 : 401, bare.status === 403 ? 'csrf' : 'not_authenticated');
    const anon = new Client(server);
    assertStatus(await anon.get('/api/v1/csrf'), 200);
    assertError(await anon.post('/api/v1/methods/totp', {}), 401, 'not_authenticated');
    const c = new Client(server);
    await signup(c, uniqueName('mcsrf'));
    assertError(await c.post('/api/v1/methods/totp', {}, { csrf: false }), 403, 'csrf');
  });
});
