// Security keys against the real binary: WebAuthn enrolment and sign-in with a software
// authenticator (options, excludeCredentials/allowCredentials, replays, wrong origin or RP,
// counter rollback, concurrency, attempt limits, bad input) and Yubico OTP (CLI import,
// enrolment, sign-in through /login/second-factor, replay, rollback, unknown keys, garbage).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, STRONG_PASSWORD, pendingLogin,
} from './lib/client.mjs';
import { SoftAuthenticator, SoftYubikey, b64u } from './lib/authenticators.mjs';

const ORIGIN = 'http://127.0.0.1'; // the tests' server.public_url
const ALT_ORIGIN = 'https://alt.example:8443';

async function newSignedIn(server, prefix) {
  const client = new Client(server);
  const username = uniqueName(prefix);
  await signup(client, username);
  return { client, username };
}

async function enrolKey(client, auth = new SoftAuthenticator(), label = 'Blue key') {
  const opts = await client.post('/api/v1/methods/webauthn/options', {});
  assertStatus(opts, 200);
  const res = await client.post('/api/v1/methods/webauthn', { credential: auth.create(opts.json, ORIGIN), label });
  assertStatus(res, 201);
  return { auth, methodId: res.json.method_id, codes: res.json.recovery_codes };
}

async function requestOptions(c) {
  const res = await c.post('/api/v1/login/webauthn/options', {});
  assertStatus(res, 200);
  return res.json;
}

describe('security keys: WebAuthn', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_WEBAUTHN_ORIGINS: ALT_ORIGIN } });
  });
  after(async () => {
    await server?.stop();
  });

  test('enrol: creation options, then the credential → recovery codes; excluded next time', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const opts = await client.post('/api/v1/methods/webauthn/options', {});
    assertStatus(opts, 200);
    const o = opts.json;
    assert.equal(o.rp.id, '127.0.0.1');
    assert.equal(o.rp.name, 'twostep');
    assert.equal(o.user.name, username);
    assert.equal(Buffer.from(o.user.id, 'base64url').length, 32);
    assert.ok(!o.user.id.includes(username), 'the user handle is opaque');
    assert.equal(Buffer.from(o.challenge, 'base64url').length, 32);
    assert.deepEqual(o.pubKeyCredParams.map((p) => p.alg), [-7, -8, -257]);
    assert.deepEqual(o.excludeCredentials, []);
    assert.equal(o.timeout, 300000);
    assert.equal(o.attestation, 'none');
    assert.equal(o.authenticatorSelection.userVerification, 'preferred');

    const auth = new SoftAuthenticator();
    const res = await client.post('/api/v1/methods/webauthn', { credential: auth.create(o, ORIGIN, { fmt: 'packed' }), label: 'Blue key' });
    assertStatus(res, 201);
    assert.equal(res.json.recovery_codes.length, 10);
    const me = await client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, true);
    assert.equal(me.json.methods.length, 1);
    assert.equal(me.json.methods[0].type, 'webauthn');
    assert.equal(me.json.methods[0].label, 'Blue key');

    const again = await client.post('/api/v1/methods/webauthn/options', {});
    assert.deepEqual(again.json.excludeCredentials, [{ type: 'public-key', id: b64u(auth.credentialId), transports: ['usb'] }]);
    // The same authenticator again: 409.
    assertError(await client.post('/api/v1/methods/webauthn', { credential: auth.create(again.json, ORIGIN) }), 409, 'already_registered');
  });

  test('sign in: password, request options with allowCredentials, assertion → full session', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const { auth } = await enrolKey(client);
    const { c, res } = await pendingLogin(server, username);
    assert.deepEqual(res.json.methods.map((m) => m.type), ['webauthn']);
    // The pending session opens nothing else.
    assertError(await c.get('/api/v1/me'), 401, 'not_authenticated');
    const o = await requestOptions(c);
    assert.equal(o.rpId, '127.0.0.1');
    assert.deepEqual(o.allowCredentials.map((d) => d.id), [b64u(auth.credentialId)]);
    const pendingToken = c.session;
    const ok = await c.post('/api/v1/login/webauthn', { credential: auth.get(o, ORIGIN) });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok');
    assert.equal(ok.json.user.username, username);
    assert.notEqual(c.session, pendingToken, 'a new session token after the second step');
    assertStatus(await c.get('/api/v1/me'), 200);
    // An extra configured origin (webauthn.origins) is accepted too.
    const { c: c2 } = await pendingLogin(server, username);
    assertStatus(await c2.post('/api/v1/login/webauthn', { credential: auth.get(await requestOptions(c2), ALT_ORIGIN) }), 200);
    const audit = await c.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'login_succeeded' && e.detail.factors === 'password+webauthn'));
  });

  test('a replayed assertion, another origin, another RP, no user presence: refused', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const { auth } = await enrolKey(client);
    const { c } = await pendingLogin(server, username);
    const o = await requestOptions(c);
    const good = auth.get(o, ORIGIN);
    assertStatus(await c.post('/api/v1/login/webauthn', { credential: good }), 200);

    const { c: c2 } = await pendingLogin(server, username);
    await requestOptions(c2);
    const replay = await c2.post('/api/v1/login/webauthn', { credential: good });
    assertError(replay, 401, 'invalid_security_key');
    assert.match(replay.json.message, /attempts? left/);
    for (const overrides of [{ origin: 'http://evil.example' }, { rpId: 'evil.example' }, { flags: 0x04 }]) {
      const opts = await requestOptions(c2);
      assertError(await c2.post('/api/v1/login/webauthn', { credential: auth.get(opts, ORIGIN, overrides) }), 401, 'invalid_security_key');
    }
    // Five failures end the pending sign-in.
    const last = await c2.post('/api/v1/login/webauthn', { credential: auth.get(await requestOptions(c2), ORIGIN, { type: 'webauthn.create' }) });
    assertError(last, 401, 'not_authenticated');
    assert.equal(c2.session, undefined, 'the pending cookie is cleared');
  });

  test('an answer without options (no challenge) and a registration challenge reused are refused', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const opts = await client.post('/api/v1/methods/webauthn/options', {});
    const first = new SoftAuthenticator();
    assertStatus(await client.post('/api/v1/methods/webauthn', { credential: first.create(opts.json, ORIGIN) }), 201);
    const second = new SoftAuthenticator();
    assertError(await client.post('/api/v1/methods/webauthn', { credential: second.create(opts.json, ORIGIN) }), 400, 'invalid_security_key');

    const { c } = await pendingLogin(server, username);
    const forged = first.get({ rpId: '127.0.0.1', challenge: b64u(Buffer.alloc(32)) }, ORIGIN);
    assertError(await c.post('/api/v1/login/webauthn', { credential: forged }), 401, 'invalid_security_key');
  });

  test('counter rollback is refused and audited as a possible cloned key', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const { auth } = await enrolKey(client, new SoftAuthenticator({ counter: 7 }));
    let { c } = await pendingLogin(server, username);
    assertStatus(await c.post('/api/v1/login/webauthn', { credential: auth.get(await requestOptions(c), ORIGIN) }), 200);
    ({ c } = await pendingLogin(server, username));
    const rolled = await c.post('/api/v1/login/webauthn', { credential: auth.get(await requestOptions(c), ORIGIN, { signCount: 3 }) });
    assertError(rolled, 401, 'invalid_security_key');
    assert.match(rolled.json.message, /cloned/);
    const audit = await client.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'security_key_counter_regression'), 'audited');
    // The real key, one further on, still works.
    assertStatus(await c.post('/api/v1/login/webauthn', { credential: auth.get(await requestOptions(c), ORIGIN) }), 200);
  });

  test("another user's key is refused", async () => {
    const alice = await newSignedIn(server, 'alice');
    const bob = await newSignedIn(server, 'bob');
    await enrolKey(alice.client);
    const { auth: bobsKey } = await enrolKey(bob.client);
    const { c } = await pendingLogin(server, alice.username);
    const o = await requestOptions(c);
    assertError(await c.post('/api/v1/login/webauthn', { credential: bobsKey.get(o, ORIGIN) }), 401, 'invalid_security_key');
  });

  test('the same assertion sent twice at once completes one sign-in', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const { auth } = await enrolKey(client);
    const { c } = await pendingLogin(server, username);
    const credential = auth.get(await requestOptions(c), ORIGIN);
    // Fewer copies than the 5 wrong answers that end a pending sign-in (losers count as wrong).
    const copies = Array.from({ length: 4 }, () => {
      const k = new Client(server);
      for (const [name, value] of c.cookies) k.setCookie(name, value);
      return k;
    });
    const results = await Promise.all(copies.map((k) => k.post('/api/v1/login/webauthn', { credential })));
    assert.equal(results.filter((r) => r.status === 200).length, 1, results.map((r) => r.status).join(','));
  });

  test('bad input: 400 with a message naming the field, 401/403 without the right session', async () => {
    const { client, username } = await newSignedIn(server, 'wa');
    const opts = (await client.post('/api/v1/methods/webauthn/options', {})).json;
    const good = new SoftAuthenticator().create(opts, ORIGIN);
    const cases = [
      [{ body: '{"credential":' }, 'invalid_json'],
      [{ body: '[]' }, 'invalid_request'],
      [{ json: {} }, 'invalid_request', /credential: required/],
      [{ json: { credential: 'x' } }, 'invalid_request', /credential: expected an object/],
      [{ json: { credential: { ...good, type: 'password' } } }, 'invalid_request', /credential.type/],
      [{ json: { credential: { ...good, id: 5 } } }, 'invalid_request', /credential.id/],
      [{ json: { credential: { ...good, id: 'AAAA', rawId: good.rawId } } }, 'invalid_request', /credential.id/],
      [{ json: { credential: { ...good, response: 'x' } } }, 'invalid_request', /credential.response/],
      [{ json: { credential: { ...good, response: { ...good.response, clientDataJSON: '***' } } } }, 'invalid_request', /clientDataJSON: expected base64url/],
      [{ json: { credential: { ...good, response: { ...good.response, attestationObject: 'A'.repeat(30000) } } } }, 'invalid_request', /attestationObject: at most/],
      [{ json: { credential: { ...good, response: { ...good.response, transports: 'usb' } } } }, 'invalid_request', /transports/],
      [{ json: { credential: good, label: 7 } }, 'invalid_request', /label/],
      [{ json: { credential: good, label: 'x'.repeat(300) } }, 'invalid_request', /label/],
      [{ json: { credential: { ...good, response: { ...good.response, attestationObject: b64u(Buffer.from([0xa1, 0x63])) } } } }, 'invalid_security_key'],
    ];
    for (const [req, code, message] of cases) {
      const res = req.body !== undefined
        ? await client.post('/api/v1/methods/webauthn', undefined, { body: req.body })
        : await client.post('/api/v1/methods/webauthn', req.json);
      assertError(res, 400, code);
      if (message) assert.match(res.json.message, message);
    }
    // Nothing was registered by any of them.
    assert.equal((await client.get('/api/v1/me')).json.twofa_enabled, false);
    // CSRF and sessions.
    assertError(await client.post('/api/v1/methods/webauthn/options', {}, { csrf: false }), 403, 'csrf');
    const anonymous = new Client(server);
    await anonymous.get('/api/v1/csrf');
    assertError(await anonymous.post('/api/v1/methods/webauthn/options', {}), 401, 'not_authenticated');
    assertError(await anonymous.post('/api/v1/login/webauthn/options', {}), 401, 'not_authenticated');
    assertError(await client.post('/api/v1/login/webauthn/options', {}), 401, 'not_authenticated');
    await enrolKey(client);
    const { c } = await pendingLogin(server, username);
    assertError(await c.post('/api/v1/methods/webauthn/options', {}), 401, 'not_authenticated');
    assertError(await c.post('/api/v1/login/webauthn', { credential: { type: 'public-key' } }), 400, 'invalid_request');
    assertError(await c.post('/api/v1/login/webauthn', {}, { body: 'null' }), 400, 'invalid_request');
  });

  test('re-authentication with password + security key allows removing the method', async () => {
    const { client } = await newSignedIn(server, 'wa');
    const { auth, methodId } = await enrolKey(client);
    // Turning 2FA on voided the password-only sign-in as a recent re-authentication.
    assertError(await client.delete(`/api/v1/methods/${methodId}`), 403, 'reauth_required');
    const opts = await client.post('/api/v1/reauth/webauthn/options', {});
    assertStatus(opts, 200);
    assert.deepEqual(opts.json.allowCredentials.map((d) => d.id), [b64u(auth.credentialId)]);
    const credential = auth.get(opts.json, ORIGIN);
    assertError(await client.post('/api/v1/reauth/webauthn', { credential }), 400, 'invalid_request');
    assertError(await client.post('/api/v1/reauth/webauthn', { password: 'not my password', credential }), 401, 'invalid_credentials');
    const ok = await client.post('/api/v1/reauth/webauthn', { password: STRONG_PASSWORD, credential });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok');
    assert.ok(ok.json.until > Date.now() / 1000);
    // Spent: the same answer again is refused.
    assertError(await client.post('/api/v1/reauth/webauthn', { password: STRONG_PASSWORD, credential }), 401, 'invalid_security_key');
    assertStatus(await client.delete(`/api/v1/methods/${methodId}`), 200);
    assert.equal((await client.get('/api/v1/me')).json.twofa_enabled, false);
  });

  test('sign-in options for an account without a security key: 409', async () => {
    const { client, username } = await newSignedIn(server, 'totp');
    const add = await client.post('/api/v1/methods/totp', {});
    const { totp } = await import('./lib/client.mjs');
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totp(add.json.secret) }), 200);
    const { c } = await pendingLogin(server, username);
    assertError(await c.post('/api/v1/login/webauthn/options', {}), 409, 'no_security_key');
  });
});

describe('security keys: Yubico OTP', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  async function importKeys(...keys) {
    const r = await server.cli(['yubikey', 'import', '-'], { input: keys.map((k) => k.csvLine()).join('\n') + '\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`imported ${keys.length} new YubiKey`));
  }

  test('CLI import and list; bad files are refused without echoing secrets', async () => {
    const key = new SoftYubikey();
    await importKeys(key);
    const list = await server.cli(['yubikey', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(key.publicId));
    assert.ok(!list.stdout.includes(key.aesKey.toString('hex')));
    const dup = await server.cli(['yubikey', 'import', '-'], { input: key.csvLine() });
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already imported/);
    const replaced = await server.cli(['yubikey', 'import', '--replace', '-'], { input: key.csvLine() });
    assert.equal(replaced.code, 0, replaced.stderr);
    const secretHex = 'f0a52a51263a1ad4085ca6ad6e6b09';
    const bad = await server.cli(['yubikey', 'import', '-'], { input: `# keys\nvvccccbdhkti,0f1a0c29f5d0,${secretHex}\n` });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /line 2/);
    assert.ok(!bad.stderr.includes(secretHex), 'the key is not echoed');
    const missing = await server.cli(['yubikey', 'import', '/nonexistent/keys.csv']);
    assert.notEqual(missing.code, 0);
  });

  test('enrol by typing one OTP, sign in with the next; replay and rollback refused', async () => {
    const key = new SoftYubikey();
    await importKeys(key);
    const { client, username } = await newSignedIn(server, 'yk');
    const add = await client.post('/api/v1/methods/yubiotp', { otp: key.otp(), label: 'Desk key' });
    assertStatus(add, 201);
    assert.equal(add.json.recovery_codes.length, 10);
    const me = await client.get('/api/v1/me');
    assert.deepEqual(me.json.methods.map((m) => [m.type, m.label]), [['yubiotp', 'Desk key']]);
    const list = await server.cli(['yubikey', 'list']);
    assert.match(list.stdout, new RegExp(`${key.publicId}.*${username}`));

    const otp = key.otp();
    let { c, res } = await pendingLogin(server, username);
    assert.deepEqual(res.json.methods.map((m) => m.type), ['yubiotp']);
    const ok = await c.post('/api/v1/login/second-factor', { type: 'yubiotp', code: otp });
    assertStatus(ok, 200);
    assertStatus(await c.get('/api/v1/me'), 200);

    ({ c } = await pendingLogin(server, username));
    assertError(await c.post('/api/v1/login/second-factor', { type: 'yubiotp', code: otp }), 401, 'invalid_code');
    key.powerCycle();
    assertStatus(await c.post('/api/v1/login/second-factor', { type: 'yubiotp', code: key.otp() }), 200);
    ({ c } = await pendingLogin(server, username));
    assertError(await c.post('/api/v1/login/second-factor', { type: 'yubiotp', code: key.otpAt(1, 50) }), 401, 'invalid_code');
    const audit = (await client.get('/api/v1/audit?limit=200')).json.events.map((e) => e.event);
    assert.ok(audit.includes('otp_replayed'));
    assert.ok(audit.includes('security_key_counter_regression'));
  });

  test('unknown keys, garbage, foreign keys and wrong types are refused', async () => {
    const mine = new SoftYubikey();
    const theirs = new SoftYubikey();
    await importKeys(mine, theirs);
    const alice = await newSignedIn(server, 'yk');
    const bob = await newSignedIn(server, 'yk');
    assertStatus(await bob.client.post('/api/v1/methods/yubiotp', { otp: theirs.otp() }), 201);

    const stranger = new SoftYubikey();
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: stranger.otp() }), 400, 'unknown_yubikey');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: 'not an otp' }), 400, 'invalid_otp');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: theirs.otp() }), 409, 'already_registered');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: 44 }), 400, 'invalid_request');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', {}), 400, 'invalid_request');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: 'c'.repeat(65) }), 400, 'invalid_request');
    assertError(await alice.client.post('/api/v1/methods/yubiotp', { otp: mine.otp() }, { csrf: false }), 403, 'csrf');
    assert.equal((await alice.client.get('/api/v1/me')).json.twofa_enabled, false);

    assertStatus(await alice.client.post('/api/v1/methods/yubiotp', { otp: mine.otp() }), 201);
    const { c } = await pendingLogin(server, alice.username);
    for (const code of [theirs.otp(), stranger.otp(), 'garbage', mine.publicId + 'c'.repeat(32)]) {
      assertError(await c.post('/api/v1/login/second-factor', { type: 'yubiotp', code }), 401, 'invalid_code');
    }
  });

  test("an organisation's required 2FA: a restricted session enrols a YubiKey and a security key", async () => {
    const owner = await newSignedIn(server, 'own');
    const member = await newSignedIn(server, 'mem');
    const orgName = uniqueName('org');
    for (const args of [['org', 'create', orgName, '--owner', owner.username], ['org', 'add', orgName, member.username],
      ['org', 'policy', orgName, '--require-2fa', '--grace-days', '0']]) {
      const r = await server.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const key = new SoftYubikey();
    await importKeys(key);
    const c = new Client(server);
    const res = await login(c, member.username);
    assert.equal(res.json.status, 'enrollment_required', res.text);
    assertError(await c.get('/api/v1/sessions'), 403, 'enrollment_required');
    const restricted = c.session;
    // The security-key options are open to the restricted session too.
    assertStatus(await c.post('/api/v1/methods/webauthn/options', {}), 200);
    const add = await c.post('/api/v1/methods/yubiotp', { otp: key.otp() });
    assertStatus(add, 201);
    assert.notEqual(c.session, restricted, 'a new token: the session is full now');
    assertStatus(await c.get('/api/v1/sessions'), 200);
    assert.equal((await c.get('/api/v1/me')).json.session.state, 'full');
  });

  test('the same OTP on two pending sign-ins at once: one wins', async () => {
    const key = new SoftYubikey();
    await importKeys(key);
    const { client, username } = await newSignedIn(server, 'yk');
    assertStatus(await client.post('/api/v1/methods/yubiotp', { otp: key.otp() }), 201);
    const otp = key.otp();
    const signIns = await Promise.all(Array.from({ length: 4 }, () => pendingLogin(server, username)));
    const results = await Promise.all(signIns.map(({ c }) => c.post('/api/v1/login/second-factor', { type: 'yubiotp', code: otp })));
    assert.equal(results.filter((r) => r.status === 200).length, 1, results.map((r) => r.status).join(','));
  });
});
