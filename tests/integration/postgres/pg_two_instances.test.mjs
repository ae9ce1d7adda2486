// Two twostep processes on one PostgreSQL database (no load balancer yet: the test picks the
// instance). Use-once rules hold across instances: the same recovery code, TOTP code, YubiKey
// OTP or SMS code sent to both at once succeeds exactly once, and sign-ins waiting on both ask
// for one SMS, not one per instance. A sign-in started on one instance finishes on the other.
// Both instances cache /verify answers for a minute here (sessions.verify_cache_ms = 60000), so
// only the event bus (LISTEN/NOTIFY) can make them refuse in time: a session or an application
// password revoked on one is refused by the other at once (also by an organisation's 2FA reset),
// and so are a user disabled, an application password revoked and a 2FA reset with the
// command-line tool, a third process, on both.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, createPgDatabase, pgAdminUrl } from '../lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, totpStep, waitFor, STRONG_PASSWORD,
} from '../lib/client.mjs';
import { basic, createAppPassword } from '../lib/protocols.mjs';
import { SoftYubikey } from '../lib/authenticators.mjs';
import { startFakeGateway } from '../lib/fake_sms_gateway.mjs';

const CACHE_MS = 60000;
// How long an announcement may take to reach the other instance (tens of ms): well under the
// cache time, and under the 1 s that application-password successes were once cached for.
const AT_ONCE = { timeoutMs: 800, intervalMs: 25 };

// GET /api/v1/verify on `server` with a session cookie (a Client's) or HTTP Basic.
function verifyCookie(server, client) {
  const c = new Client(server);
  c.cookies = new Map(client.cookies);  // the same browser, reaching this instance
  return c.get('/api/v1/verify');
}
function verifyBasic(server, authorization) {
  return new Client(server).get('/api/v1/verify', { headers: { authorization }, cookies: false });
}
// Waits until every check answers `status` (one for all, or one per check); true when they all
// did in time.
function allAnswer(status, checks) {
  const want = Array.isArray(status) ? status : checks.map(() => status);
  return waitFor(async () => (await Promise.all(checks.map((f) => f()))).every((r, i) => r.status === want[i]),
                 AT_ONCE);
}

describe('two instances on one PostgreSQL database', () => {
  let db;
  let a;
  let b;

  let gw;

  before(async () => {
    db = createPgDatabase(pgAdminUrl());
    gw = await startFakeGateway();
    const sms = {
      TWOSTEP_SMS_GATEWAY: 'http',
      TWOSTEP_SMS_HTTP_URL: `${gw.url}/v1/send`,
      TWOSTEP_SMS_RESEND_COOLDOWN_S: '30',
    };
    // Far longer than any wait below: a refusal in time can only come through the bus.
    const cache = { TWOSTEP_SESSIONS_VERIFY_CACHE_MS: String(CACHE_MS) };
    a = await startServer({ env: { TWOSTEP_DATABASE_URL: db.url, ...sms, ...cache } });
    // Same database and same master key: one deployment, two processes.
    b = await startServer({
      env: {
        TWOSTEP_DATABASE_URL: db.url,
        TWOSTEP_SECURITY_MASTER_KEY_FILE: join(a.dir, 'master.key'),
        ...sms,
        ...cache,
      },
    });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await gw?.close();
    db?.drop();
  });

  let alice;

  test('enrol on one instance, seen by the other', async () => {
    const name = uniqueName('alice');
    const client = new Client(a);
    await signup(client, name);
    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                      { code: totpStep(add.json.secret, 0) });
    assertStatus(confirm, 200);
    alice = { name, secret: add.json.secret, codes: confirm.json.recovery_codes };

    const onB = new Client(b);
    const res = await login(onB, name);
    assert.equal(res.json?.status, 'second_factor', res.text);
  });

  // n pending sign-ins, half started on each instance; each is finished on the other one.
  async function pendingEverywhere(n, name = alice.name) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const start = i % 2 === 0 ? a : b;
      const finish = i % 2 === 0 ? b : a;
      const c = new Client(start);
      const res = await login(c, name);
      assert.equal(res.json?.status, 'second_factor', res.text);
      c.baseUrl = finish.url;  // the cookies travel; the session lives in the database
      out.push(c);
    }
    return out;
  }

  test('the same recovery code sent to both instances at once works exactly once', async () => {
    const clients = await pendingEverywhere(8);
    const code = alice.codes[0];
    const answers = await Promise.all(clients.map((c) => c.post('/api/v1/login/second-factor',
                                                                { type: 'recovery', code })));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `one success, got ${answers.map((r) => r.status)}`);
    for (const r of answers.filter((x) => x.status !== 200)) assertError(r, 401, 'invalid_code');
  });

  test('the same TOTP code sent to both instances at once works exactly once', async () => {
    const clients = await pendingEverywhere(8);
    const code = totpStep(alice.secret, 1);
    const answers = await Promise.all(clients.map((c) => c.post('/api/v1/login/second-factor',
                                                                { type: 'totp', code })));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `one success, got ${answers.map((r) => r.status)}`);
    for (const r of answers.filter((x) => x.status !== 200)) assertError(r, 401, 'invalid_code');
  });

  test('the same YubiKey OTP sent to both instances at once works exactly once', async () => {
    const key = new SoftYubikey();
    const imported = await a.cli(['yubikey', 'import', '-'], { input: `${key.csvLine()}\n` });
    assert.equal(imported.code, 0, imported.stderr);
    const name = uniqueName('carol');
    const client = new Client(b);
    await signup(client, name);
    assertStatus(await client.post('/api/v1/methods/yubiotp', { otp: key.otp() }), 201);

    const clients = await pendingEverywhere(8, name);
    const otp = key.otp();
    const answers = await Promise.all(clients.map((c) => c.post('/api/v1/login/second-factor',
                                                                { type: 'yubiotp', code: otp })));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `one success, got ${answers.map((r) => r.status)}`);
    for (const r of answers.filter((x) => x.status !== 200)) assertError(r, 401, 'invalid_code');
  });

  test('SMS: sign-ins waiting on both instances get one SMS, and its code works once', async () => {
    const name = uniqueName('dave');
    const client = new Client(a);
    await signup(client, name);
    const add = await client.post('/api/v1/methods/sms', { phone: '+41 79 555 12 34' });
    assertStatus(add, 201);
    const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                      { code: gw.lastCode() });
    assertStatus(confirm, 200);

    const clients = await pendingEverywhere(8, name);
    const before = gw.requests.length;
    const sends = await Promise.all(clients.map((c) => c.post('/api/v1/login/sms', {})));
    const statuses = sends.map((r) => r.status);
    assert.equal(statuses.filter((st) => st === 200).length, 1, `one SMS sent: ${statuses}`);
    for (const r of sends.filter((x) => x.status !== 200)) assertError(r, 429, 'rate_limited');
    assert.equal(gw.requests.length, before + 1, 'the gateway was called once');

    const code = gw.lastCode();
    const answers = await Promise.all(clients.map((c) => c.post('/api/v1/login/second-factor',
                                                                { type: 'sms', code })));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `one success, got ${answers.map((r) => r.status)}`);
    for (const r of answers.filter((x) => x.status !== 200)) assertError(r, 401, 'invalid_code');
  });

  test('a session revoked on one instance is refused by the other at once', async () => {
    const name = uniqueName('bob');
    const onA = new Client(a);
    await signup(onA, name);
    assertStatus(await verifyCookie(b, onA), 200);  // now cached on B, for a minute

    const list = await onA.get('/api/v1/sessions');
    const current = list.json.sessions.find((s) => s.current);
    const other = new Client(a);
    assertStatus(await login(other, name), 200);
    assertStatus(await other.delete(`/api/v1/sessions/${current.id}`), 200);

    assert.ok(await allAnswer(401, [() => verifyCookie(b, onA)]),
              'instance B must refuse the revoked session at once, not after its cache time');
  });

  // A user with a session and an application password, both accepted (and so cached) by both
  // instances.
  async function cachedEverywhere(prefix) {
    const name = uniqueName(prefix);
    const client = new Client(a);
    await signup(client, name);
    const { id, password } = await createAppPassword(client, { scopes: ['all'] });
    const auth = basic(name, password);
    const checks = [() => verifyCookie(a, client), () => verifyCookie(b, client),
                    () => verifyBasic(a, auth), () => verifyBasic(b, auth)];
    for (const check of checks) assertStatus(await check(), 200);
    return { name, client, id, auth, checks };
  }

  test('an application password revoked on one instance is refused by the other at once', async () => {
    const { client, id, auth } = await cachedEverywhere('carol');
    assertStatus(await client.delete(`/api/v1/app-passwords/${id}`), 200);
    assert.ok(await allAnswer(401, [() => verifyBasic(b, auth)]),
              'instance B must refuse the revoked application password at once');
    // The session is untouched.
    assertStatus(await verifyCookie(b, client), 200);
  });

  test('twostep user disable (the command-line tool) is refused by both instances at once', async () => {
    const { name, checks } = await cachedEverywhere('dave');
    const run = await a.cli(['user', 'disable', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', 'the announcement reached the database');
    // Sessions: 401 (ended); Basic: 403 account_disabled.
    assert.ok(await allAnswer([401, 401, 403, 403], checks),
              'the disabled user\'s session and application password must be refused on both');
    assertError(await checks[3](), 403, 'account_disabled');
  });

  test('twostep app-password revoke (the command-line tool) is refused by both instances at once', async () => {
    const { name, client, id, auth } = await cachedEverywhere('erin');
    const run = await a.cli(['app-password', 'revoke', name, String(id)]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(await allAnswer(401, [() => verifyBasic(a, auth), () => verifyBasic(b, auth)]),
              'the revoked application password must be refused on both');
    assertStatus(await verifyCookie(b, client), 200);
  });

  // Turns on TOTP for a signed-in client; the secret.
  async function enrolTotp(client) {
    const add = await client.post('/api/v1/methods/totp', {});
    assertStatus(add, 201);
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totpStep(add.json.secret, 0) }), 200);
    return add.json.secret;
  }

  test('twostep user reset-2fa (the command-line tool) ends sessions and application passwords on both at once', async () => {
    const { name, client, checks } = await cachedEverywhere('gina');
    await enrolTotp(client);
    for (const check of checks) assertStatus(await check(), 200);
    const run = await a.cli(['user', 'reset-2fa', name]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', 'the announcement reached the database');
    assert.ok(await allAnswer(401, checks),
              'the session and the application password must be refused on both');
  });

  test('an organisation\'s 2FA reset on one instance: the other refuses the member\'s application password at once', async () => {
    const hank = await cachedEverywhere('hank');
    const ivy = await cachedEverywhere('ivy');
    const owner = await cachedEverywhere('owner');
    const org = uniqueName('org');
    for (const args of [['org', 'create', org, '--owner', owner.name], ['org', 'add', org, hank.name],
                        ['org', 'add', org, ivy.name]]) {
      const run = await a.cli(args);
      assert.equal(run.code, 0, run.stderr);
    }
    const orgId = (await owner.client.get('/api/v1/orgs')).json.orgs[0].id;
    await enrolTotp(hank.client);
    await enrolTotp(ivy.client);
    const secret = await enrolTotp(owner.client);
    assertStatus(await owner.client.post('/api/v1/reauth', {
      password: STRONG_PASSWORD, type: 'totp', code: totpStep(secret, 1),
    }), 200);
    const base = `/api/v1/orgs/${orgId}/members`;
    assertStatus(await owner.client.delete(`${base}/${hank.name}/twofa`), 200);
    assert.ok(await allAnswer(401, hank.checks),
              'the member\'s session and application password must be refused on both');
    // Kept: the sessions end, the application password goes on working on both.
    assertStatus(await owner.client.delete(`${base}/${ivy.name}/twofa`, { revoke_app_passwords: false }), 200);
    assert.ok(await allAnswer([401, 401, 200, 200], ivy.checks));
  });

  test('twostep user passwd (the command-line tool) ends the sessions on both instances at once', async () => {
    const { name, client, checks } = await cachedEverywhere('frank');
    const run = await a.cli(['user', 'passwd', name, '--password-stdin'],
                            { input: 'purple elephant juggles quietly 97\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(await allAnswer(401, [() => verifyCookie(a, client), () => verifyCookie(b, client)]),
              'the sessions must be refused on both');
    // Application passwords stay valid across a password change.
    assertStatus(await checks[3](), 200);
  });
});
