// Push approval with the real `twostep-auth` binary: enrolment, approval with the right
// number, wrong number, NO, expiry, offline codes, the push-bombing limit, one winner when
// answers race, signed-request replay and tampering, revoked authenticators, and approval
// from another signed-in session (Server-Sent Events).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, totp, nowS, sleep, STRONG_PASSWORD, pendingLogin,
} from './lib/client.mjs';
import {
  newAuthHome, pushServerEnv, rawFetch, runAuth, signHeaders, sseReader, startWatch, storedAccount,
} from './lib/auth.mjs';

// The sign-ins waiting for approval come from this browser (the request shows it).
const FIREFOX = { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' };

const homes = [];
function authHome() {
  const h = newAuthHome();
  homes.push(h);
  return h;
}

// A user (signed in with `client`, a full session) whose twostep-auth in `home` is enrolled
// and confirmed. The confirmation uses the previous 30-s step's code so that the current
// step stays free for offline-code tests.
async function enrolledUser(server, prefix) {
  const username = uniqueName(prefix);
  const client = new Client(server);
  await signup(client, username);
  const add = await client.post('/api/v1/methods/push', { label: 'phone' });
  assertStatus(add, 201);
  const { method_id: methodId, enrollment_uri: uri } = add.json;
  const home = authHome();
  const enrolled = await runAuth(home, ['enroll', uri, '--name', 'test phone']);
  assert.equal(enrolled.code, 0, `enroll: ${enrolled.stdout}${enrolled.stderr}`);
  const account = storedAccount(home);
  const confirm = await client.post(`/api/v1/methods/${methodId}/confirm`, {
    code: totp(account.totp_seed, nowS() - 30),
  });
  assertStatus(confirm, 200);
  assert.equal(confirm.json.recovery_codes.length, 10);
  return { client, username, methodId, home, account, uri };
}

async function requestApproval(c, body = {}) {
  const r = await c.post('/api/v1/login/approval', body);
  assertStatus(r, 201);
  assert.equal(r.json.state, 'pending');
  assert.ok(Number.isInteger(r.json.number) && r.json.number >= 10 && r.json.number <= 99, r.text);
  return r.json;
}

function otherNumber(choices, number) {
  return choices.find((n) => n !== number);
}

describe('push approval with twostep-auth', () => {
  let server;
  before(async () => {
    server = await startServer({ env: await pushServerEnv({ TWOSTEP_PUSH_HEARTBEAT_S: '1' }) });
  });
  after(async () => {
    await server?.stop();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  test('enrol: a single-use link and QR code; keys and seed kept private', async () => {
    const u = await enrolledUser(server, 'enrol');
    const add = await u.client.post('/api/v1/methods/push', {});
    assertStatus(add, 201);
    assert.match(add.json.enrollment_uri, /^twostep:\/\/enroll\?server=http%3A%2F%2F127\.0\.0\.1%3A\d+&token=/);
    assert.ok(add.json.enrollment_uri.includes(`account=${u.username}`), add.json.enrollment_uri);
    assert.match(add.json.qr_svg, /^<svg[\s>]/);
    assert.ok(add.json.expires_at > nowS() + 500 && add.json.expires_at <= nowS() + 601, add.text);

    // The first link was spent by the enrolment.
    const again = await runAuth(authHome(), ['enroll', u.uri]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /used already or has expired/);

    const dir = join(u.home, 'twostep-auth');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'accounts.json')).mode & 0o777, 0o600);
    assert.equal(u.account.account, u.username);
    assert.equal(Buffer.from(u.account.secret_key, 'base64url').length, 64);
    const list = await runAuth(u.home, ['list']);
    assert.equal(list.code, 0);
    assert.ok(list.stdout.includes(`${u.username}@127.0.0.1:${server.port}`), list.stdout);

    const me = await u.client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, true);
    assert.deepEqual(me.json.methods.map((m) => m.type), ['push']);
    assert.ok(!me.text.includes(u.account.totp_seed), '/me must not reveal the seed');

    // Junk is not a link.
    const junk = await runAuth(authHome(), ['enroll', 'otpauth://totp/x?secret=AAAA']);
    assert.notEqual(junk.code, 0);
    assert.match(junk.stderr, /not an enrolment link/);
  });

  test('right number on the authenticator: the waiting sign-in page completes', async () => {
    const u = await enrolledUser(server, 'approve');
    const watch = startWatch(u.home);
    try {
      await watch.next((e) => e.event === 'connected');
      const { c, res } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
      assert.deepEqual(res.json.approval, { available: true, preferred: true, devices: 1, sessions: 1 });
      const a = await requestApproval(c, { method_id: u.methodId });

      const seen = await watch.next((e) => e.event === 'approval' && e.id === a.id);
      assert.equal(seen.choices.length, 3);
      assert.ok(seen.choices.includes(a.number), JSON.stringify(seen));
      assert.equal(seen.number, undefined, 'approvers never get the number itself');
      assert.equal(seen.ip, '127.0.0.1');
      assert.equal(seen.device, 'Firefox on Linux');
      assert.equal(seen.account, `${u.username}@127.0.0.1:${server.port}`);

      // The sign-in page waits (long poll) while the person answers on the device.
      const waiting = c.get(`/api/v1/login/approval/${a.id}?wait=15`);
      await sleep(200);
      watch.type(`${a.id} ${a.number}`);
      const answered = await watch.next((e) => e.event === 'answered' && e.id === a.id);
      assert.equal(answered.ok, true, JSON.stringify(answered));
      const done = await waiting;
      assertStatus(done, 200);
      assert.equal(done.json.state, 'approved');
      assert.equal(done.json.status, 'ok');
      assert.equal(done.json.user.username, u.username);
      assert.ok(done.cookie('twostep_session'), 'a full session cookie is set');
      assertStatus(await c.get('/api/v1/me'), 200);
      assertStatus(await c.get('/api/v1/verify'), 200);
      await watch.next((e) => e.event === 'decided' && e.id === a.id && e.state === 'approved');

      // Used once: the same approval does not sign in again.
      assertError(await c.get(`/api/v1/login/approval/${a.id}`), 401, 'not_authenticated');
      const log = await u.client.get('/api/v1/audit');
      const events = log.json.events.map((e) => e.event);
      assert.ok(events.includes('approval_granted'), events.join(','));
      const signedIn = log.json.events.find((e) => e.event === 'login_succeeded');
      assert.equal(signedIn.detail.factors, 'password+push');
    } finally {
      await watch.stop();
    }
  });

  test('wrong number → denied, audited "sign_in_rejected", the pending sign-in ends', async () => {
    const u = await enrolledUser(server, 'wrongnum');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    const pending = await runAuth(u.home, ['pending', '--json']);
    assert.equal(pending.code, 0, pending.stderr);
    const listed = pending.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const mine = listed.find((x) => x.id === a.id);
    assert.ok(mine, pending.stdout);
    const wrong = otherNumber(mine.choices, a.number);
    const r = await runAuth(u.home, ['approve', String(a.id), String(wrong)]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /denied/);

    const state = await c.get(`/api/v1/login/approval/${a.id}`);
    assertStatus(state, 200);
    assert.equal(state.json.state, 'denied');
    assert.equal(c.session, undefined, 'the pending cookie is cleared');
    assertError(await c.get('/api/v1/login/state'), 401, 'not_authenticated');

    const log = await u.client.get('/api/v1/audit');
    const rejected = log.json.events.find((e) => e.event === 'sign_in_rejected');
    assert.ok(rejected, JSON.stringify(log.json.events.map((e) => e.event)));
    assert.equal(rejected.detail.reason, 'wrong_number');
    assert.equal(rejected.ip, '127.0.0.1');
    assert.equal(rejected.device, 'Firefox on Linux');
  });

  test('NO → denied', async () => {
    const u = await enrolledUser(server, 'deny');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    const r = await runAuth(u.home, ['deny', String(a.id)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /denied/);
    const state = await c.get(`/api/v1/login/approval/${a.id}?wait=5`);
    assert.equal(state.json.state, 'denied');
    // A late YES changes nothing (the denied sign-in has ended, and its request with it).
    const late = await runAuth(u.home, ['approve', String(a.id), String(a.number)]);
    assert.equal(late.code, 1);
    assert.match(late.stderr, /does not exist or has ended/);
    const log = await u.client.get('/api/v1/audit');
    const rejected = log.json.events.find((e) => e.event === 'sign_in_rejected');
    assert.equal(rejected.detail.reason, 'denied');
  });

  test('offline codes from the authenticator work at the second step, once', async () => {
    const u = await enrolledUser(server, 'offline');
    const code = await runAuth(u.home, ['code']);
    assert.equal(code.code, 0, code.stderr);
    const digits = code.stdout.trim();
    assert.match(digits, /^\d{6}$/);
    assert.equal(digits, totp(u.account.totp_seed), 'the code is RFC 6238 over the seed');

    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const ok = await c.post('/api/v1/login/second-factor', { type: 'totp', code: digits, method_id: u.methodId });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok');

    const { c: c2 } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    assertError(await c2.post('/api/v1/login/second-factor', { type: 'totp', code: digits }), 401, 'invalid_code');
  });

  test('at most 3 requests per user in 5 minutes: the 4th is refused', async () => {
    const u = await enrolledUser(server, 'bomb');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    for (let i = 0; i < 3; i++) await requestApproval(c);
    const fourth = await c.post('/api/v1/login/approval', {});
    assertError(fourth, 429, 'rate_limited');
    const retry = Number(fourth.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 300, `Retry-After ${retry}`);
    // A new sign-in does not reset it, and other methods still work.
    const { c: c2 } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    assertError(await c2.post('/api/v1/login/approval', {}), 429, 'rate_limited');
    const code = (await runAuth(u.home, ['code'])).stdout.trim();
    assertStatus(await c2.post('/api/v1/login/second-factor', { type: 'totp', code }), 200);
  });

  test('approve and deny at the same moment: exactly one wins', async () => {
    const u = await enrolledUser(server, 'race');
    for (let round = 0; round < 3; round++) {
      const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
      const a = await requestApproval(c);
      // Rounds 0 and 1: the device's signed request (made here) and the session's answer leave
      // together; round 2: the real binary against the session.
      const target = `/api/v1/devices/approvals/${a.id}`;
      const body = JSON.stringify({ approve: true, number: a.number });
      const deviceAnswer = round < 2
        ? rawFetch(server.url + target, 'POST', signHeaders(u.account, 'POST', target, body), body)
            .then((r) => ({ code: r.status === 200 ? 0 : 1, stderr: r.text }))
        : runAuth(u.home, ['approve', String(a.id), String(a.number)]);
      const [device, web] = await Promise.all([
        deviceAnswer,
        u.client.post(`/api/v1/approvals/${a.id}`, { approve: false }),
      ]);
      const deviceWon = device.code === 0;
      const webWon = web.status === 200;
      assert.ok(deviceWon !== webWon,
                `round ${round}: exactly one must win (device ${device.code} ${device.stderr}, web ${web.status} ${web.text})`);
      if (!webWon) assertError(web, 409, 'conflict');
      const state = await c.get(`/api/v1/login/approval/${a.id}`);
      assert.equal(state.json.state, deviceWon ? 'approved' : 'denied');
    }
  });

  test('signed requests: replayed, tampered, stale or unsigned ones are refused', async () => {
    const u = await enrolledUser(server, 'sig');
    const acc = u.account;
    const list = '/api/v1/devices/approvals';
    const h = signHeaders(acc, 'GET', list);
    const first = await rawFetch(server.url + list, 'GET', h);
    assertStatus(first, 200);
    assert.deepEqual(first.json, { approvals: [] });
    const replay = await rawFetch(server.url + list, 'GET', h);
    assertError(replay, 401, 'replayed_request');

    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    const target = `/api/v1/devices/approvals/${a.id}`;
    const deny = JSON.stringify({ approve: false });
    const approve = JSON.stringify({ approve: true, number: a.number });
    // Signed "deny", sent as "approve": refused, and the request stays pending.
    const tampered = await rawFetch(server.url + target, 'POST', signHeaders(acc, 'POST', target, deny), approve);
    assertError(tampered, 401, 'invalid_signature');
    const otherPath = await rawFetch(server.url + `/api/v1/devices/approvals/${a.id + 1}`, 'POST',
                                     signHeaders(acc, 'POST', target, approve), approve);
    assertError(otherPath, 401, 'invalid_signature');
    const stale = await rawFetch(server.url + target, 'POST',
                                 signHeaders(acc, 'POST', target, approve, { ts: Date.now() - 61_000 }), approve);
    assertError(stale, 401, 'clock_skew');
    const future = await rawFetch(server.url + target, 'POST',
                                  signHeaders(acc, 'POST', target, approve, { ts: Date.now() + 61_000 }), approve);
    assertError(future, 401, 'clock_skew');
    const stranger = (await enrolledUser(server, 'sig2')).account;
    const otherKey = await rawFetch(server.url + target, 'POST',
                                    signHeaders(acc, 'POST', target, approve, { key: stranger.secret_key }), approve);
    assertError(otherKey, 401, 'invalid_signature');
    const unknown = await rawFetch(server.url + target, 'POST',
                                   signHeaders(acc, 'POST', target, approve, { device: 'nope' }), approve);
    assertError(unknown, 401, 'unknown_device');
    const unsigned = await rawFetch(server.url + target, 'POST', { 'content-type': 'application/json' }, approve);
    assertError(unsigned, 401, 'unknown_device');
    const badSig = signHeaders(acc, 'POST', target, approve);
    badSig['x-twostep-signature'] = 'AAAA';
    assertError(await rawFetch(server.url + target, 'POST', badSig, approve), 401, 'invalid_signature');
    // Someone else's request is not visible to this device.
    const foreign = await rawFetch(server.url + target, 'POST', signHeaders(stranger, 'POST', target, approve), approve);
    assertError(foreign, 404, 'not_found');

    assert.equal((await c.get(`/api/v1/login/approval/${a.id}`)).json.state, 'pending');
    // Signed properly (here by the test, with the device's key): accepted once.
    const good = signHeaders(acc, 'POST', target, approve);
    const ok = await rawFetch(server.url + target, 'POST', good, approve);
    assertStatus(ok, 200);
    assert.equal(ok.json.state, 'approved');
    assertError(await rawFetch(server.url + target, 'POST', good, approve), 401, 'replayed_request');
    const log = await u.client.get('/api/v1/audit?limit=200');
    assert.ok(log.json.events.some((e) => e.event === 'push_request_rejected'), 'rejections are audited');
  });

  test('a removed authenticator can no longer listen or answer', async () => {
    const u = await enrolledUser(server, 'revoke');
    const watch = startWatch(u.home);
    await watch.next((e) => e.event === 'connected');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    await watch.next((e) => e.event === 'approval' && e.id === a.id);

    // Removing a method needs a fresh password + second factor.
    const code = (await runAuth(u.home, ['code'])).stdout.trim();
    assertStatus(await u.client.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'totp', code }), 200);
    assertStatus(await u.client.delete(`/api/v1/methods/${u.methodId}`), 200);

    const revoked = await watch.next((e) => e.event === 'revoked', 8000);
    assert.equal(revoked.account, u.account.name);
    const exit = await watch.exited;
    assert.equal(exit.code, 1);

    const r = await runAuth(u.home, ['approve', String(a.id), String(a.number)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not enrolled/);
    assert.equal((await c.get(`/api/v1/login/approval/${a.id}`)).json.state, 'pending');
    const h = signHeaders(u.account, 'GET', '/api/v1/devices/events');
    assertError(await rawFetch(server.url + '/api/v1/devices/events', 'GET', h), 401, 'unknown_device');
  });

  test('another signed-in session sees the request live and approves it', async () => {
    const username = uniqueName('apps');
    const approver = new Client(server);
    await signup(approver, username);
    // Two-step verification with a TOTP app only: the signed-in browser is the approver.
    const add = await approver.post('/api/v1/methods/totp', {});
    const { method_id: methodId, secret } = add.json;
    assertStatus(await approver.post(`/api/v1/methods/${methodId}/confirm`, { code: totp(secret, nowS() - 30) }), 200);

    const stream = await fetch(`${server.url}/api/v1/approvals`, {
      headers: { accept: 'text/event-stream', cookie: `twostep_session=${approver.session}` },
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type'), /^text\/event-stream/);
    const events = sseReader(stream);
    try {
      const { c, res } = await pendingLogin(server, username, undefined, FIREFOX);
      assert.deepEqual(res.json.approval, { available: true, preferred: true, devices: 0, sessions: 1 });
      const a = await requestApproval(c);
      const ev = await events.next((e) => e.event === 'approval' && e.data.id === a.id);
      assert.ok(ev.data.choices.includes(a.number));
      assert.equal(ev.data.account, username);
      assert.equal(ev.data.number, undefined);

      const list = await approver.get('/api/v1/approvals?format=json');
      assertStatus(list, 200);
      assert.deepEqual(list.json.approvals.map((x) => x.id), [a.id]);

      // Number matching is required to approve.
      assertError(await approver.post(`/api/v1/approvals/${a.id}`, { approve: true }), 400, 'invalid_request');
      assertError(await approver.post(`/api/v1/approvals/${a.id}`, { approve: true, number: a.number },
                                      { csrf: false }), 403, 'csrf');
      const ok = await approver.post(`/api/v1/approvals/${a.id}`, { approve: true, number: a.number });
      assertStatus(ok, 200);
      assert.equal(ok.json.state, 'approved');
      await events.next((e) => e.event === 'decided' && e.data.id === a.id && e.data.state === 'approved');
      const done = await c.get(`/api/v1/login/approval/${a.id}`);
      assert.equal(done.json.status, 'ok');
      const log = await c.get('/api/v1/audit');
      assert.equal(log.json.events.find((e) => e.event === 'login_succeeded').detail.factors, 'password+apps');

      // Signing out ends that session's stream at once.
      assertStatus(await approver.post('/api/v1/logout'), 200);
      await events.next((e) => e.event === 'revoked', 5000);
      await events.done;
    } finally {
      await events.cancel();
    }
  });

  test('a session restricted by an organisation’s 2FA policy can set up twostep-auth first', async () => {
    const owner = await enrolledUser(server, 'orgowner');
    const orgName = uniqueName('org');
    const created = await server.cli(['org', 'create', orgName, '--owner', owner.username]);
    assert.equal(created.code, 0, created.stderr);
    const orgs = await owner.client.get('/api/v1/orgs');
    const orgId = orgs.json.orgs.find((o) => o.name === orgName).id;
    const username = uniqueName('member');
    await signup(new Client(server), username);
    assertStatus(await owner.client.post(`/api/v1/orgs/${orgId}/members`, { username, role: 'member' }), 201);
    assertStatus(await owner.client.put(`/api/v1/orgs/${orgId}/policy`, { require_2fa: true, grace_days: 0 }), 200);

    const c = new Client(server);
    const res = await login(c, username);
    assert.equal(res.json.status, 'enrollment_required', res.text);
    // A restricted session is not fully signed in: it sees no requests and cannot approve.
    assertError(await c.get('/api/v1/approvals'), 403, 'enrollment_required');
    const add = await c.post('/api/v1/methods/push', {});
    assertStatus(add, 201);
    const home = authHome();
    const enrolled = await runAuth(home, ['enroll', add.json.enrollment_uri]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const confirm = await c.post(`/api/v1/methods/${add.json.method_id}/confirm`, {
      code: totp(storedAccount(home).totp_seed, nowS() - 30),
    });
    assertStatus(confirm, 200);
    assert.ok(confirm.cookie('twostep_session'), 'the confirmation upgrades the session');
    assert.equal((await c.get('/api/v1/me')).json.session.state, 'full');
    // Next sign-in: the authenticator approves it.
    const { c: next, res: again } = await pendingLogin(server, username, undefined, FIREFOX);
    assert.equal(again.json.approval.devices, 1);
    const a = await requestApproval(next);
    assert.equal((await runAuth(home, ['approve', String(a.id), String(a.number)])).code, 0);
    assert.equal((await next.get(`/api/v1/login/approval/${a.id}`)).json.status, 'ok');
  });

  test('bad input to the approval routes changes nothing', async () => {
    const u = await enrolledUser(server, 'bad');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    const path = `/api/v1/approvals/${a.id}`;
    assertError(await u.client.post(path, undefined, { body: '{"approve":', contentType: 'application/json' }), 400, 'invalid_json');
    assertError(await u.client.post(path, undefined, { body: '[]' }), 400, 'invalid_request');
    assertError(await u.client.post(path, {}), 400, 'invalid_request');
    assertError(await u.client.post(path, { approve: 'yes' }), 400, 'invalid_request');
    assertError(await u.client.post(path, { approve: true, number: 'forty' }), 400, 'invalid_request');
    assertError(await u.client.post(path, { approve: true, number: -1 }), 400, 'invalid_request');
    assertError(await u.client.post(path, { approve: true, number: 1.5 }), 400, 'invalid_request');
    assertError(await u.client.post(path, { approve: true, number: { n: 1 } }), 400, 'invalid_request');
    assertError(await u.client.post(path, undefined, { body: JSON.stringify({ approve: false, pad: 'x'.repeat(70000) }) }), 413, 'body_too_large');
    assertError(await u.client.post('/api/v1/approvals/abc', { approve: false }), 404, 'not_found');
    assertError(await u.client.post(`/api/v1/approvals/${a.id + 10000}`, { approve: false }), 404, 'not_found');
    const other = new Client(server);
    await signup(other, uniqueName('other'));
    assertError(await other.post(path, { approve: false }), 404, 'not_found');
    // No session cookie at all: the CSRF check (which comes first) refuses.
    assertError(await new Client(server).post(path, { approve: false }), 403, 'csrf');
    assertError(await new Client(server).get('/api/v1/approvals'), 401, 'not_authenticated');
    // The pending session cannot approve itself, nor may a full session ask for approval.
    assertError(await c.post(path, { approve: true, number: a.number }), 401, 'not_authenticated');
    assertError(await u.client.post('/api/v1/login/approval', {}), 401, 'not_authenticated');
    assertError(await c.post('/api/v1/login/approval', { method_id: 'x' }), 400, 'invalid_request');
    assertError(await c.post('/api/v1/login/approval', { method_id: 999999 }), 404, 'not_found');
    assertError(await c.post('/api/v1/login/approval', {}, { csrf: false }), 403, 'csrf');
    assertError(await c.get(`/api/v1/login/approval/${a.id}?wait=soon`), 400, 'invalid_request');
    assertError(await c.get(`/api/v1/login/approval/${a.id + 10000}`), 404, 'not_found');
    assert.equal((await c.get(`/api/v1/login/approval/${a.id}`)).json.state, 'pending');

    // Enrolment: malformed, unsigned, wrong key sizes.
    const enroll = `${server.url}/api/v1/devices/enroll`;
    const post = (headers, body) => rawFetch(enroll, 'POST', { 'content-type': 'application/json', ...headers }, body);
    assertError(await post({}, 'nope'), 400, 'invalid_json');
    assertError(await post({}, JSON.stringify({ public_key: 'x', totp_seed: 'x' })), 400, 'invalid_request');
    assertError(await post({}, JSON.stringify({ token: 5, public_key: 'x', totp_seed: 'x' })), 400, 'invalid_request');
    const body = JSON.stringify({ token: 'abc', public_key: Buffer.alloc(32, 1).toString('base64url'),
                                  totp_seed: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' });
    assertError(await post({}, body), 401, 'invalid_signature');
    const shortKey = JSON.stringify({ token: 'abc', public_key: 'AAAA', totp_seed: 'JBSWY3DPEHPK3PXP' });
    assertError(await post({}, shortKey), 400, 'invalid_request');
    // Unsigned device routes.
    assertError(await rawFetch(`${server.url}/api/v1/devices/events`, 'GET', {}), 401, 'unknown_device');
  });
});

describe('push approval: expiry and offline use', () => {
  let server;
  before(async () => {
    server = await startServer({ env: await pushServerEnv({ TWOSTEP_PUSH_APPROVAL_TTL_S: '2' }) });
  });
  after(async () => {
    await server?.stop();
  });

  test('a request expires: the waiting page learns it, late answers are refused', async () => {
    const u = await enrolledUser(server, 'expire');
    const { c } = await pendingLogin(server, u.username, STRONG_PASSWORD, FIREFOX);
    const a = await requestApproval(c);
    assert.ok(a.expires_at <= nowS() + 3);
    const started = Date.now();
    const waited = await c.get(`/api/v1/login/approval/${a.id}?wait=15`);
    const took = Date.now() - started;
    assert.equal(waited.json.state, 'expired');
    assert.ok(took < 6000, `the long poll should end at expiry, took ${took} ms`);
    const late = await runAuth(u.home, ['approve', String(a.id), String(a.number)]);
    assert.equal(late.code, 1);
    assert.match(late.stderr, /expired/);
    // The sign-in itself goes on: the page can offer another way.
    const st = await c.get('/api/v1/login/state');
    assertStatus(st, 200);
    assert.equal(st.json.status, 'second_factor');
  });

  test('codes work with the server unreachable', async () => {
    const u = await enrolledUser(server, 'unreachable');
    await server.stop();
    server = null;
    const r = await runAuth(u.home, ['code']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), totp(u.account.totp_seed));
    const p = await runAuth(u.home, ['pending']);
    assert.notEqual(p.code, 0, 'talking to the server does fail');
  });
});
