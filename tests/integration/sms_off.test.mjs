// sms.gateway = "off" against the real binary: users add SMS methods while a provider (the fake
// one on loopback) is configured, then the server restarts with SMS off. Adding an SMS method
// is refused (409 sms_disabled) and writes nothing, GET /methods/available no longer lists sms
// (also for a session an organisation restricts to enrolment), sending and checking SMS codes
// is refused without counting as a failure, while the existing methods stay listed
// ("available": false) and removable and recovery codes (or the user's other methods) sign in.
// The CLI's `sms test` fails and `sms check` says SMS is off (exit 1: no number receives codes).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { startFakeGateway } from './lib/fake_sms_gateway.mjs';
import {
  Client, assertError, assertStatus, signup, login, pendingLogin, totp, totpStep, uniqueName, STRONG_PASSWORD,
} from './lib/client.mjs';
import { readFileSync } from 'node:fs';

// The web UI's list of method kinds (web/lib/methods.js) and the server's (kMethodTypes) are kept
// in two languages: with every type on, the server must offer exactly the kinds the UI knows.
// (Imported from its source as a data: URL, which Node always reads as a module.)
const { METHOD_TYPES } = await import(`data:text/javascript,${encodeURIComponent(
  readFileSync(new URL('../../web/lib/methods.js', import.meta.url), 'utf8'))}`);
const ALL_TYPES = Object.keys(METHOD_TYPES);
const WITHOUT_SMS = ALL_TYPES.filter((type) => type !== 'sms');

async function signedIn(server, prefix) {
  const client = new Client(server);
  const username = uniqueName(prefix);
  await signup(client, username);
  return { client, username };
}

async function addSms(client, gw, phone) {
  const add = await client.post('/api/v1/methods/sms', { phone });
  assertStatus(add, 201);
  const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() });
  assertStatus(confirm, 200);
  return { methodId: add.json.method_id, recoveryCodes: confirm.json.recovery_codes };
}

async function addTotp(client) {
  const begin = await client.post('/api/v1/methods/totp', {});
  assertStatus(begin, 201);
  const confirm = await client.post(`/api/v1/methods/${begin.json.method_id}/confirm`, { code: totp(begin.json.secret) });
  assertStatus(confirm, 200);
  return { methodId: begin.json.method_id, secret: begin.json.secret };
}

describe('sms.gateway = off', () => {
  let gw;
  let server;
  let alice; // SMS only, added while SMS was on
  let bob; // SMS (default) and an authenticator app
  let unfinished; // an SMS setup begun while SMS was on, never confirmed

  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({
      env: { TWOSTEP_SMS_GATEWAY: 'http', TWOSTEP_SMS_HTTP_URL: `${gw.url}/send`, TWOSTEP_SMS_RESEND_COOLDOWN_S: '0' },
    });
    alice = await signedIn(server, 'smsoffa');
    const on = await alice.client.get('/api/v1/methods/available');
    assertStatus(on, 200);
    assert.deepEqual(on.json.types, ALL_TYPES, 'with a gateway every type the web UI knows is offered');
    Object.assign(alice, await addSms(alice.client, gw, '+41 79 321 00 11'));
    assert.equal((await alice.client.get('/api/v1/me')).json.methods[0].available, true);
    bob = await signedIn(server, 'smsoffb');
    bob.sms = await addSms(bob.client, gw, '+41 79 321 00 22');
    bob.totp = await addTotp(bob.client);
    unfinished = await signedIn(server, 'smsoffu');
    const add = await unfinished.client.post('/api/v1/methods/sms', { phone: '+41 79 321 00 33' });
    assertStatus(add, 201);
    unfinished.methodId = add.json.method_id;
    unfinished.code = gw.lastCode();

    server.env.TWOSTEP_SMS_GATEWAY = 'off';
    await server.restart();
    for (const u of [alice, bob, unfinished]) u.client = new Client(server); // new port
    gw.reset();
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  test('start-up says so, without the log driver\'s warning', () => {
    assert.match(server.stderr, /sms\.gateway = off: codes by SMS are turned off/);
    assert.doesNotMatch(server.stderr, /SMS codes are written to this log/);
  });

  test('GET /api/v1/methods/available lacks sms; it needs a session', async () => {
    const { client } = await signedIn(server, 'smsoffavail');
    const res = await client.get('/api/v1/methods/available');
    assertStatus(res, 200);
    assert.deepEqual(res.json.types, WITHOUT_SMS);
    assertError(await new Client(server).get('/api/v1/methods/available'), 401, 'not_authenticated');
  });

  test('adding an SMS method: 409 sms_disabled, nothing stored, nothing sent', async () => {
    const { client } = await signedIn(server, 'smsoffadd');
    const res = await client.post('/api/v1/methods/sms', { phone: '+41 79 321 00 44' });
    assertError(res, 409, 'sms_disabled');
    assert.match(res.json.message, /turned off/);
    // Bad input is still bad input; good input with a region too gets the same refusal.
    assertError(await client.post('/api/v1/methods/sms', {}), 400, 'invalid_request');
    assertError(await client.post('/api/v1/methods/sms', { phone: 42 }), 400, 'invalid_request');
    assertError(await client.post('/api/v1/methods/sms', { phone: '079 321 00 44', region: 'CH' }), 409, 'sms_disabled');
    assertError(await client.get('/api/v1/methods/sms/regions'), 409, 'sms_disabled');
    assertError(await new Client(server).post('/api/v1/methods/sms', { phone: '+41 79 321 00 44' }), 403, 'csrf');
    const me = await client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false);
    assert.deepEqual(me.json.methods, []);
    const events = (await client.get('/api/v1/audit')).json.events.map((e) => e.event);
    assert.ok(!events.includes('sms_sent') && !events.includes('method_added'), events.join());
    assert.equal(gw.requests.length, 0);
  });

  test('a setup begun before the switch cannot be confirmed', async () => {
    await login(unfinished.client, unfinished.username);
    const res = await unfinished.client.post(`/api/v1/methods/${unfinished.methodId}/confirm`, { code: unfinished.code });
    assertError(res, 409, 'sms_disabled');
    const me = await unfinished.client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false);
  });

  test('an existing SMS method: listed as unavailable, no code sent or taken, a recovery code signs in, removable', async () => {
    const { c, res } = await pendingLogin(server, alice.username);
    assert.deepEqual(res.json.methods.map((m) => [m.id, m.type, m.available]), [[alice.methodId, 'sms', false]]);
    assert.equal(res.json.default, alice.methodId);
    const state = await c.get('/api/v1/login/state');
    assert.equal(state.json.methods[0].available, false);

    assertError(await c.post('/api/v1/login/sms', { method_id: alice.methodId }), 409, 'sms_disabled');
    assertError(await c.post('/api/v1/login/sms', {}), 409, 'sms_disabled');
    // Not a wrong code: nothing counted, so five tries do not end the pending sign-in.
    for (let i = 0; i < 6; i++) {
      assertError(await c.post('/api/v1/login/second-factor', { type: 'sms', code: '123456', method_id: alice.methodId }), 409, 'sms_disabled');
    }
    assert.equal(gw.requests.length, 0);

    const done = await c.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.recoveryCodes[0] });
    assertStatus(done, 200);
    assert.equal(done.json.recovery_codes_remaining, 9);

    const me = await c.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, true);
    assert.deepEqual(me.json.methods.map((m) => [m.id, m.type, m.available]), [[alice.methodId, 'sms', false]]);
    const events = (await c.get('/api/v1/audit')).json.events.map((e) => e.event);
    assert.ok(!events.includes('second_factor_failed'), events.join());

    // Re-authentication: no SMS code either; the password and a recovery code do it.
    assertError(await c.post('/api/v1/reauth/sms', {}), 409, 'sms_disabled');
    assertError(await c.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'sms', code: '123456' }), 409, 'sms_disabled');
    assertStatus(await c.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'recovery', code: alice.recoveryCodes[1] }), 200);
    assertStatus(await c.delete(`/api/v1/methods/${alice.methodId}`), 200);
    const after = await c.get('/api/v1/me');
    assert.equal(after.json.twofa_enabled, false);
    assert.deepEqual(after.json.methods, []);
    assert.equal(gw.requests.length, 0);
  });

  test('a user with another method signs in with it; the SMS default stays listed', async () => {
    const { c, res } = await pendingLogin(server, bob.username);
    assert.deepEqual(res.json.methods.map((m) => [m.type, m.available]), [['sms', false], ['totp', true]]);
    // The next step: the current one confirmed the method.
    const code = totpStep(bob.totp.secret, 1);
    const done = await c.post('/api/v1/login/second-factor', { type: 'totp', code, method_id: bob.totp.methodId });
    assertStatus(done, 200);
    const me = await c.get('/api/v1/me');
    assert.deepEqual(me.json.methods.map((m) => [m.type, m.available]).sort(), [['sms', false], ['totp', true]]);
  });

  test('an organisation that requires 2FA: the member who must enrol is not offered SMS', async () => {
    const owner = await signedIn(server, 'smsoffowner');
    const member = await signedIn(server, 'smsoffmember');
    const org = uniqueName('smsofforg');
    assert.equal((await server.cli(['org', 'create', org, '--owner', owner.username])).code, 0);
    assert.equal((await server.cli(['org', 'add', org, member.username])).code, 0);
    const policy = await server.cli(['org', 'policy', org, '--require-2fa', '--grace-days', '0']);
    assert.equal(policy.code, 0, policy.stderr);

    const c = new Client(server);
    const res = await login(c, member.username);
    assertStatus(res, 200);
    assert.equal(res.json.status, 'enrollment_required', res.text);
    const available = await c.get('/api/v1/methods/available');
    assertStatus(available, 200);
    assert.deepEqual(available.json.types, WITHOUT_SMS);
    assertError(await c.post('/api/v1/methods/sms', { phone: '+41 79 321 00 55' }), 409, 'sms_disabled');
    await addTotp(c); // another method still completes the enrolment
    assert.equal((await c.get('/api/v1/me')).json.session.state, 'full');
    assert.equal(gw.requests.length, 0);
  });

  test('twostep sms test fails and sends nothing; sms check says SMS is off and exits 1', async () => {
    const t = await server.cli(['sms', 'test', '+41 79 321 00 66']);
    assert.notEqual(t.code, 0);
    assert.match(t.stderr, /codes by SMS are off \(sms\.gateway = off\): nothing was sent/);
    // "May this number receive codes?" No: a monitoring script sees a failure, and why.
    const check = await server.cli(['sms', 'check', '+41 79 321 00 66']);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /\+41793210066 \(Switzerland, mobile\) would be accepted/);
    assert.match(check.stdout, /codes by SMS are off \(sms\.gateway = off\): no number receives codes/);
    // A number that would be refused anyway is still refused as such.
    const bad = await server.cli(['sms', 'check', '+44 7400 123456']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /sms_region_not_allowed/);
    assert.equal(gw.requests.length, 0);
  });
});
