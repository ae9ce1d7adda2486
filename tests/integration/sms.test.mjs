// Codes by SMS against the real binary and a fake provider on loopback (lib/fake_sms_gateway):
// enrolment and sign-in reading the code from what the provider received, for the `http` and
// `twilio` drivers (and the development `log` driver); refused numbers; attempts, expiry,
// cool-down and daily caps; use-once under concurrency; re-authentication; and a provider
// that fails, is down or is slow → 502 within the time budget while the server stays fast.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, runCli, baseEnv } from './lib/server.mjs';
import { startFakeGateway, closedPort, codeOf } from './lib/fake_sms_gateway.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, sleep, waitFor, STRONG_PASSWORD, pendingLogin,
} from './lib/client.mjs';

const MASKED = /^\+\d{1,3} [•\s\-]*\d{2}$/u;
const COOLDOWN_S = 2;

function httpDriverEnv(gw, extra = {}) {
  return {
    TWOSTEP_SMS_GATEWAY: 'http',
    TWOSTEP_SMS_HTTP_URL: `${gw.url}/v1/send`,
    TWOSTEP_SMS_HTTP_HEADERS: '["Authorization: Bearer gw-token-123", "X-Tenant: twostep tests"]',
    TWOSTEP_SMS_HTTP_BODY: '{"recipient":"{to}","text":"{message}","channel":"sms"}',
    TWOSTEP_SMS_RESEND_COOLDOWN_S: String(COOLDOWN_S),
    TWOSTEP_SMS_CONNECT_TIMEOUT_MS: '500',
    TWOSTEP_SMS_TIMEOUT_MS: '1500',
    TWOSTEP_SMS_RETRIES: '1',
    ...extra,
  };
}

// A 6-digit code that is not `code`.
const wrongCode = (code) => String((Number(code) + 1) % 1000000).padStart(6, '0');

// Distinct valid Swiss mobile numbers (079 range), one per call.
let nextNumber = 10000 + (process.pid % 500) * 100;
const swissMobile = () => {
  const n = String(nextNumber++);
  return `+41 79 ${n.slice(0, 3)} ${n.slice(3)} 55`;
};

async function newSignedIn(server, prefix) {
  const client = new Client(server);
  const username = uniqueName(prefix);
  await signup(client, username);
  return { client, username };
}

// Signs up, enrols `phone` by SMS and confirms with the code the gateway received.
async function smsUser(server, gw, prefix, phone = swissMobile()) {
  const u = await newSignedIn(server, prefix);
  const add = await u.client.post('/api/v1/methods/sms', { phone });
  assertStatus(add, 201);
  const confirm = await u.client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() });
  assertStatus(confirm, 200);
  return { ...u, phone, methodId: add.json.method_id, recoveryCodes: confirm.json.recovery_codes };
}

describe('SMS codes through the http driver', () => {
  let gw;
  let server;
  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({ env: httpDriverEnv(gw) });
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  test('enrol: the provider gets a JSON POST with the configured headers; the code confirms → recovery codes', async () => {
    gw.reset();
    const { client } = await newSignedIn(server, 'smsenrol');
    const add = await client.post('/api/v1/methods/sms', { phone: '+41 79 123 45 67', label: 'Work phone' });
    assertStatus(add, 201);
    assert.equal(add.json.status, 'sent');
    assert.equal(add.json.phone, '+41 •• ••• •• 67');
    assert.equal(add.json.expires_in, 300);
    assert.equal(add.json.resend_after, COOLDOWN_S);
    assert.ok(Number.isInteger(add.json.method_id), add.text);

    assert.equal(gw.requests.length, 1);
    const r = gw.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/send');
    assert.equal(r.headers.authorization, 'Bearer gw-token-123');
    assert.equal(r.headers['x-tenant'], 'twostep tests');
    assert.match(r.headers['content-type'], /^application\/json/);
    const body = JSON.parse(r.body);
    assert.equal(body.recipient, '+41791234567');
    assert.equal(body.channel, 'sms');
    const code = codeOf(body.text);
    assert.match(body.text, /expires in 5 minutes/);
    assert.ok(body.text.endsWith(`\n@127.0.0.1 #${code}`), `origin-bound last line: ${JSON.stringify(body.text)}`);

    let me = await client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, false, 'not on before the code comes back');

    assertError(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: wrongCode(code) }), 400, 'invalid_code');
    const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: `${code.slice(0, 3)} ${code.slice(3)}` });
    assertStatus(confirm, 200);
    assert.equal(confirm.json.recovery_codes.length, 10);

    me = await client.get('/api/v1/me');
    assert.equal(me.json.twofa_enabled, true);
    assert.equal(me.json.methods.length, 1);
    assert.equal(me.json.methods[0].type, 'sms');
    assert.equal(me.json.methods[0].label, 'Work phone');
    assert.ok(!me.text.includes('791234567') && !me.text.includes('123 45 67'), 'the number is never shown in full');
    const audit = await client.get('/api/v1/audit');
    const events = audit.json.events.map((e) => e.event);
    assert.ok(events.includes('sms_sent') && events.includes('method_added'), events.join());
    assert.ok(!audit.text.includes('791234567'), 'the audit log shows only the masked number');
  });

  test('national format with a region hint; the default label is the masked number', async () => {
    gw.reset();
    const { client } = await newSignedIn(server, 'smsnational');
    for (const [phone, region, e164] of [['079 123 45 68', 'CH', '+41791234568'], ['06 12 34 56 78', 'fr', '+33612345678'],
      ['0470 12 34 56', 'BE', '+32470123456'], ['01512 3456789', 'DE', '+4915123456789'], ['0049 151 23456780', '', '+4915123456780']]) {
      const add = await client.post('/api/v1/methods/sms', { phone, region });
      assertStatus(add, 201);
      assert.match(add.json.phone, MASKED);
      assert.equal(gw.messages().at(-1).to, e164);
    }
    const regions = await client.get('/api/v1/methods/sms/regions');
    assertStatus(regions, 200);
    assert.deepEqual(regions.json.regions.map((r) => [r.code, r.calling_code]), [['CH', 41], ['FR', 33], ['BE', 32], ['DE', 49]]);
    assert.equal(regions.json.regions[0].name, 'Switzerland');
  });

  test('refused: other countries, premium and fixed-line numbers, malformed numbers and bodies — nothing is sent', async () => {
    gw.reset();
    const { client } = await newSignedIn(server, 'smsrefused');
    const cases = [
      [{ phone: '+1 202 555 0123' }, 'sms_region_not_allowed'],
      [{ phone: '+1 650 253 0000' }, 'sms_region_not_allowed'],
      [{ phone: '+44 7400 123456' }, 'sms_region_not_allowed'],
      [{ phone: '07400 123456', region: 'GB' }, 'sms_region_not_allowed'],
      [{ phone: '+41 900 123 456' }, 'sms_not_mobile'],
      [{ phone: '+33 8 99 12 34 56' }, 'sms_not_mobile'],
      [{ phone: '+49 900 1234567' }, 'sms_not_mobile'],
      [{ phone: '+41 44 668 18 00' }, 'sms_not_mobile'],
      [{ phone: '+33 1 42 68 53 00' }, 'sms_not_mobile'],
      [{ phone: '+41 800 123 456' }, 'sms_not_mobile'],
      [{ phone: 'abc' }, 'invalid_phone'],
      [{ phone: '12' }, 'invalid_phone'],
      [{ phone: '+41 79 123' }, 'invalid_phone'],
      [{ phone: '+4179123456789012' }, 'invalid_phone'],
      [{ phone: '079 123 45 67' }, 'invalid_phone'],
      [{ phone: '' }, 'invalid_phone'],
      [{ phone: '+41 79 123 45 67; DROP TABLE users' }, 'invalid_phone'],
      [{ phone: '079 123 45 67', region: 'XX' }, 'invalid_request'],
      [{ phone: 41791234567 }, 'invalid_request'],
      [{ phone: ['+41791234567'] }, 'invalid_request'],
      [{ region: 'CH' }, 'invalid_request'],
      [{ phone: '+41 79 123 45 67', region: 7 }, 'invalid_request'],
      [{ phone: '+'.repeat(65) }, 'invalid_request'],
      [{ phone: '+41 79 123 45 67', label: 'x'.repeat(300) }, 'invalid_request'],
      [{ phone: '+41 79 123 45 67', label: 'a\u0007b' }, 'invalid_request'],
    ];
    for (const [body, code] of cases) {
      const res = await client.post('/api/v1/methods/sms', body);
      assertError(res, 400, code);
      if (code === 'sms_region_not_allowed') {
        assert.match(res.json.message, /Switzerland, France, Belgium or Germany/);
      }
    }
    assertError(await client.post('/api/v1/methods/sms', undefined, { body: '{"phone":' }), 400, 'invalid_json');
    assertError(await client.post('/api/v1/methods/sms', undefined, { body: '["+41791234567"]' }), 400, 'invalid_request');
    assertError(await client.post('/api/v1/methods/sms', undefined, { body: '' }), 400);
    assert.equal(gw.requests.length, 0, 'no refused number reaches the provider');
    const events = (await client.get('/api/v1/audit')).json.events.map((e) => e.event);
    assert.ok(events.includes('sms_number_refused'), events.join());
  });

  test('enrolment and sign-in need the right session and CSRF', async () => {
    const bare = await new Client(server).post('/api/v1/methods/sms', { phone: '+41 79 123 45 67' });
    assertError(bare, bare.status === 403 ? 403 : 401, bare.status === 403 ? 'csrf' : 'not_authenticated');
    const { client } = await newSignedIn(server, 'smscsrf');
    assertError(await client.post('/api/v1/methods/sms', { phone: '+41 79 123 45 67' }, { csrf: false }), 403, 'csrf');
    // A fully signed-in session has no pending sign-in to send a code for.
    assertError(await client.post('/api/v1/login/sms', {}), 401, 'not_authenticated');
    const anon = new Client(server);
    assertStatus(await anon.get('/api/v1/csrf'), 200);
    assertError(await anon.post('/api/v1/login/sms', {}), 401, 'not_authenticated');
    assertError(await anon.get('/api/v1/methods/sms/regions'), 401, 'not_authenticated');
  });

  test('sign-in: POST /login/sms, then the second step with type sms; a code works once', async () => {
    const u = await smsUser(server, gw, 'smslogin');
    const { c, res } = await pendingLogin(server, u.username);
    const m = res.json.methods.find((x) => x.type === 'sms');
    assert.ok(m, res.text);
    assert.equal(String(res.json.default), String(u.methodId));

    assertError(await c.post('/api/v1/login/sms', { method_id: 'abc' }), 400, 'invalid_request');
    assertError(await c.post('/api/v1/login/sms', { method_id: -1 }), 400, 'invalid_request');
    assertError(await c.post('/api/v1/login/sms', { method_id: 99999999 }), 404, 'not_found');
    assertError(await c.post('/api/v1/login/sms', undefined, { body: '{' }), 400, 'invalid_json');
    assertError(await c.post('/api/v1/login/sms', { method_id: m.id }, { csrf: false }), 403, 'csrf');

    const before = gw.requests.length;
    const sent = await c.post('/api/v1/login/sms', { method_id: m.id });
    assertStatus(sent, 200);
    assert.equal(sent.json.status, 'sent');
    assert.match(sent.json.phone, MASKED);
    assert.equal(gw.requests.length, before + 1);
    assert.equal(gw.messages().at(-1).to, u.phone.replaceAll(' ', ''));
    const code = gw.lastCode();

    assertError(await c.post('/api/v1/login/second-factor', { type: 'sms', code: 123456 }), 400, 'invalid_request');
    const ok = await c.post('/api/v1/login/second-factor', { type: 'sms', code });
    assertStatus(ok, 200);
    assert.equal(ok.json.user.username, u.username);
    assertStatus(await c.get('/api/v1/me'), 200);

    // The same code in another sign-in is refused.
    const other = await pendingLogin(server, u.username);
    assertError(await other.c.post('/api/v1/login/second-factor', { type: 'sms', code, method_id: u.methodId }), 401, 'invalid_code');
    // An empty body sends to the first SMS method.
    await sleep(COOLDOWN_S * 1000 + 200);
    const again = await other.c.post('/api/v1/login/sms');
    assertStatus(again, 200);
    assertStatus(await other.c.post('/api/v1/login/second-factor', { type: 'sms', code: gw.lastCode() }), 200);
  });

  test('a sixth attempt is refused: 5 tries per code, then even the right code fails', async () => {
    const u = await smsUser(server, gw, 'smssixth');
    const first = await pendingLogin(server, u.username);
    assertStatus(await first.c.post('/api/v1/login/sms', {}), 200);
    const code = gw.lastCode();
    for (let i = 1; i <= 4; i++) {
      const r = await first.c.post('/api/v1/login/second-factor', { type: 'sms', code: wrongCode(code) });
      assertError(r, 401, 'invalid_code');
      assert.match(r.json.message, /attempt/);
    }
    // The 5th wrong code also ends this pending sign-in.
    assertError(await first.c.post('/api/v1/login/second-factor', { type: 'sms', code: wrongCode(code) }), 401);
    // A new sign-in: the code is spent, so the right code is refused (a 6th attempt).
    const second = await pendingLogin(server, u.username);
    const sixth = await second.c.post('/api/v1/login/second-factor', { type: 'sms', code });
    assertError(sixth, 401, 'invalid_code');
    assert.match(sixth.json.message, /new code/);
    // Enrolment confirmation has the same limit.
    const { client } = await newSignedIn(server, 'smssixthenrol');
    const add = await client.post('/api/v1/methods/sms', { phone: swissMobile() });
    assertStatus(add, 201);
    const enrolCode = gw.lastCode();
    for (let i = 0; i < 5; i++) {
      assertError(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: wrongCode(enrolCode) }), 400, 'invalid_code');
    }
    assertError(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: enrolCode }), 400, 'invalid_code');
    assert.equal((await client.get('/api/v1/me')).json.twofa_enabled, false);
  });

  test('a resend inside the cool-down is refused with Retry-After; the new code supersedes the old', async () => {
    const u = await smsUser(server, gw, 'smsresend');
    const { c } = await pendingLogin(server, u.username);
    assertStatus(await c.post('/api/v1/login/sms', {}), 200);
    const oldCode = gw.lastCode();
    const count = gw.requests.length;
    const soon = await c.post('/api/v1/login/sms', {});
    assertError(soon, 429, 'rate_limited');
    const retry = Number(soon.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= COOLDOWN_S, `Retry-After ${retry}`);
    assert.equal(gw.requests.length, count, 'nothing sent inside the cool-down');
    await sleep(retry * 1000 + 200);
    assertStatus(await c.post('/api/v1/login/sms', {}), 200);
    const newCode = gw.lastCode();
    if (newCode !== oldCode) {
      assertError(await c.post('/api/v1/login/second-factor', { type: 'sms', code: oldCode }), 401, 'invalid_code');
    }
    assertStatus(await c.post('/api/v1/login/second-factor', { type: 'sms', code: newCode }), 200);
  });

  test('concurrency: parallel sends give one SMS; parallel use of one code gives one sign-in', async () => {
    const u = await smsUser(server, gw, 'smsrace');
    const pendings = await Promise.all(Array.from({ length: 10 }, () => pendingLogin(server, u.username)));
    const count = gw.requests.length;
    const sends = await Promise.all(pendings.map(({ c }) => c.post('/api/v1/login/sms', {})));
    const statuses = sends.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses}`);
    assert.ok(statuses.every((s) => s === 200 || s === 429), `statuses ${statuses}`);
    assert.equal(gw.requests.length, count + 1);
    const code = gw.lastCode();
    const uses = await Promise.all(pendings.map(({ c }) => c.post('/api/v1/login/second-factor', { type: 'sms', code })));
    const ok = uses.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses ${uses.map((r) => r.status)}`);
    for (const r of uses) if (r.status !== 200) assertError(r, 401);
  });

  test('re-authentication with an SMS code, then the method can be removed', async () => {
    const u = await smsUser(server, gw, 'smsreauth');
    const c = u.client;
    assertError(await c.delete(`/api/v1/methods/${u.methodId}`), 403, 'reauth_required');
    const bare = await new Client(server).post('/api/v1/reauth/sms', {});
    assertError(bare, bare.status === 403 ? 403 : 401, bare.status === 403 ? 'csrf' : 'not_authenticated');
    // A pending sign-in cannot ask for a re-authentication code.
    const pending = await pendingLogin(server, u.username);
    assertError(await pending.c.post('/api/v1/reauth/sms', {}), 401, 'not_authenticated');
    const sent = await c.post('/api/v1/reauth/sms', { method_id: u.methodId });
    assertStatus(sent, 200);
    const code = gw.lastCode();
    assertError(await c.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'sms', code: wrongCode(code) }), 401, 'invalid_code');
    const re = await c.post('/api/v1/reauth', { password: STRONG_PASSWORD, type: 'sms', code });
    assertStatus(re, 200);
    assertStatus(await c.delete(`/api/v1/methods/${u.methodId}`), 200);
    assert.equal((await c.get('/api/v1/me')).json.twofa_enabled, false);
  });

  test('the provider answers 500 → 502 sms_delivery_failed, no retry, nothing counted', async () => {
    const { client } = await newSignedIn(server, 'sms500');
    gw.reset();
    gw.answer({ status: 500 });
    const phone = swissMobile();
    const res = await client.post('/api/v1/methods/sms', { phone });
    assertError(res, 502, 'sms_delivery_failed');
    assert.equal(gw.requests.length, 1, 'a 500 may have been taken: not retried');
    // Nothing counted: no cool-down, the same number can be tried again at once.
    gw.answer({});
    assertStatus(await client.post('/api/v1/methods/sms', { phone }), 201);
    const events = (await client.get('/api/v1/audit')).json.events.map((e) => e.event);
    assert.ok(events.includes('sms_delivery_failed'), events.join());
  });

  test('the provider answers 503 → retried once, then 502', async () => {
    const { client } = await newSignedIn(server, 'sms503');
    gw.reset();
    gw.answer({ status: 503 });
    assertError(await client.post('/api/v1/methods/sms', { phone: swissMobile() }), 502, 'sms_delivery_failed');
    assert.equal(gw.requests.length, 2, 'retries = 1');
    gw.answer({});
  });

  test("a session restricted by an organisation's 2FA policy can enrol SMS as its first method", async () => {
    const owner = await newSignedIn(server, 'smsorgowner');
    const member = await newSignedIn(server, 'smsorgmember');
    const org = uniqueName('smsorg');
    for (const args of [['org', 'create', org, '--owner', owner.username], ['org', 'add', org, member.username],
      ['org', 'policy', org, '--require-2fa', '--grace-days', '0']]) {
      const r = await server.cli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    const c = new Client(server);
    const res = await login(c, member.username);
    assertStatus(res, 200);
    assert.equal(res.json.status, 'enrollment_required', res.text);
    assertError(await c.post('/api/v1/reauth/sms', {}), 403, 'enrollment_required');
    assertStatus(await c.get('/api/v1/methods/sms/regions'), 200);
    const add = await c.post('/api/v1/methods/sms', { phone: swissMobile() });
    assertStatus(add, 201);
    const confirm = await c.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() });
    assertStatus(confirm, 200);
    assert.ok(confirm.cookie('twostep_session'), 'the confirmation sets the full session cookie');
    const me = await c.get('/api/v1/me');
    assert.equal(me.json.session.state, 'full');
    assert.equal(me.json.methods[0].type, 'sms');
  });

  test('metrics count SMS outcomes and show the sms pool', async () => {
    const text = (await new Client(server).get('/metrics')).text;
    assert.match(text, /^twostep_sms_total\{outcome="sent"\} [1-9]/m);
    assert.match(text, /^twostep_sms_total\{outcome="failed"\} [1-9]/m);
    assert.match(text, /^# TYPE twostep_sms_pool_queue_depth gauge$/m);
    assert.ok(!/\+41\d/.test(text), 'no numbers in metrics');
  });
});

describe('a slow or unreachable provider', () => {
  let gw;
  let server;
  before(async () => {
    gw = await startFakeGateway();
    // 2 gateway threads and 2 queued jobs: the rest must be refused at once, not stall.
    server = await startServer({
      env: httpDriverEnv(gw, { TWOSTEP_SMS_THREADS: '2', TWOSTEP_SMS_QUEUE: '2', TWOSTEP_SMS_RETRIES: '0' }),
    });
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  test('slow provider → 502 within the time budget; other requests stay fast; a full sms queue is a 503', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => newSignedIn(server, `smsslow${i}`)));
    gw.answer({ delayMs: 10_000 });
    const started = performance.now();
    const sends = users.map(({ client }) => client.post('/api/v1/methods/sms', { phone: swissMobile() })
      .then((r) => ({ r, ms: performance.now() - started })));
    await sleep(200); // the sends are in flight, the sms pool is full
    const probe = new Client(server);
    const latencies = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      assertStatus(await probe.get('/healthz'), 200);
      assertStatus(await users[0].client.get('/api/v1/me'), 200);
      latencies.push(performance.now() - t);
    }
    const results = await Promise.all(sends);
    const statuses = results.map(({ r }) => r.status).sort();
    assert.deepEqual(statuses, [502, 502, 502, 502, 503, 503], `statuses ${statuses}`);
    for (const { r, ms } of results) {
      if (r.status === 502) {
        assertError(r, 502, 'sms_delivery_failed');
        // Queued jobs share the request's 1.5 s budget: when a worker frees, it is spent.
        assert.ok(ms < 1500 + 1500, `502 after ${Math.round(ms)} ms`);
      } else {
        assertError(r, 503, 'overloaded');
        assert.ok(ms < 1000, `503 after ${Math.round(ms)} ms`);
      }
    }
    const first = results.filter(({ r }) => r.status === 502).map(({ ms }) => ms).sort((a, b) => a - b)[0];
    assert.ok(first >= 1400 && first < 3500, `the first 502 should come after the 1.5 s budget, came after ${Math.round(first)} ms`);
    const worst = Math.max(...latencies);
    assert.ok(worst < 500, `healthz + me while the gateway hangs: worst ${Math.round(worst)} ms`);
    gw.answer({});
  });

  test('provider down → 502 quickly', async () => {
    const port = await closedPort();
    const down = await startServer({
      env: httpDriverEnv(gw, { TWOSTEP_SMS_HTTP_URL: `http://127.0.0.1:${port}/send` }),
    });
    try {
      const { client } = await newSignedIn(down, 'smsdown');
      const t = performance.now();
      const res = await client.post('/api/v1/methods/sms', { phone: swissMobile() });
      assertError(res, 502, 'sms_delivery_failed');
      assert.ok(performance.now() - t < 1800, 'refused connections fail fast');
      assert.equal((await client.get('/api/v1/me')).json.twofa_enabled, false);
    } finally {
      await down.stop();
    }
  });
});

describe('daily caps, region budget, lockout and code lifetime', () => {
  let gw;
  let server;
  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({
      env: httpDriverEnv(gw, {
        TWOSTEP_SMS_RESEND_COOLDOWN_S: '0',
        TWOSTEP_SMS_USER_DAILY_MAX: '3',
        TWOSTEP_SMS_NUMBER_DAILY_MAX: '2',
        TWOSTEP_SMS_REGION_BUDGETS: '["BE=1"]',
        TWOSTEP_SMS_CODE_TTL_S: '2',
        TWOSTEP_RATE_LIMIT_SECOND_FACTOR_ACCOUNT_MAX: '3',
      }),
    });
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  const untilMidnight = () => 86400 - (Math.floor(Date.now() / 1000) % 86400);

  test('per account per day', async () => {
    const { client } = await newSignedIn(server, 'capuser');
    for (let i = 0; i < 3; i++) assertStatus(await client.post('/api/v1/methods/sms', { phone: swissMobile() }), 201);
    const count = gw.requests.length;
    const over = await client.post('/api/v1/methods/sms', { phone: swissMobile() });
    assertError(over, 429, 'sms_limit_reached');
    const retry = Number(over.headers.get('retry-after'));
    assert.ok(Math.abs(retry - untilMidnight()) <= 2, `Retry-After ${retry} should point at UTC midnight`);
    assert.equal(gw.requests.length, count);
  });

  test('per number per day, across accounts', async () => {
    const phone = swissMobile();
    for (let i = 0; i < 2; i++) {
      const { client } = await newSignedIn(server, `capnum${i}`);
      assertStatus(await client.post('/api/v1/methods/sms', { phone }), 201);
    }
    const { client } = await newSignedIn(server, 'capnum2');
    const over = await client.post('/api/v1/methods/sms', { phone });
    assertError(over, 429, 'sms_limit_reached');
    assert.match(over.json.message, /this number/);
  });

  test('per region per day (the SMS-pumping budget)', async () => {
    const a = await newSignedIn(server, 'capbe0');
    assertStatus(await a.client.post('/api/v1/methods/sms', { phone: '+32 470 11 22 33' }), 201);
    const b = await newSignedIn(server, 'capbe1');
    const over = await b.client.post('/api/v1/methods/sms', { phone: '+32 470 11 22 44' });
    assertError(over, 429, 'sms_limit_reached');
    assert.match(over.json.message, /Belgium/);
    // Other regions still go out.
    assertStatus(await b.client.post('/api/v1/methods/sms', { phone: '+33 6 11 22 33 44' }), 201);
  });

  test('a code after its lifetime is refused', async () => {
    const { client } = await newSignedIn(server, 'capttl');
    const add = await client.post('/api/v1/methods/sms', { phone: swissMobile() });
    assertStatus(add, 201);
    assert.equal(add.json.expires_in, 2);
    const code = gw.lastCode();
    await sleep(2500);
    const late = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code });
    assertError(late, 400, 'invalid_code');
    assert.match(late.json.message, /expired/);
  });

  test('a locked second step sends no SMS', async () => {
    const { client, username } = await newSignedIn(server, 'caplock');
    const add = await client.post('/api/v1/methods/sms', { phone: swissMobile() });
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() }), 200);
    const { c } = await pendingLogin(server, username);
    for (let i = 0; i < 3; i++) await c.post('/api/v1/login/second-factor', { type: 'sms', code: '000000' });
    const count = gw.requests.length;
    const locked = await c.post('/api/v1/login/sms', {});
    assertError(locked, 429, 'locked');
    assert.equal(gw.requests.length, count);
  });
});

describe('SMS codes through the twilio driver', () => {
  let gw;
  let server;
  const sid = 'ACtest0123456789';
  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({
      env: {
        TWOSTEP_SMS_GATEWAY: 'twilio',
        TWOSTEP_SMS_TWILIO_BASE_URL: gw.url,
        TWOSTEP_SMS_TWILIO_ACCOUNT_SID: sid,
        TWOSTEP_SMS_TWILIO_AUTH_TOKEN: 'twilio-token-xyz',
        TWOSTEP_SMS_TWILIO_FROM: '+41790000000',
        TWOSTEP_SMS_RESEND_COOLDOWN_S: '1',
        TWOSTEP_SMS_TIMEOUT_MS: '1500',
      },
    });
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  test('enrolment and sign-in read the code from the Messages API request', async () => {
    gw.reset();
    const u = await smsUser(server, gw, 'twilio', '+33 6 12 34 56 78');
    const r = gw.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.path, `/2010-04-01/Accounts/${sid}/Messages.json`);
    assert.match(r.headers['content-type'], /^application\/x-www-form-urlencoded/);
    assert.equal(r.headers.authorization, `Basic ${Buffer.from(`${sid}:twilio-token-xyz`).toString('base64')}`);
    const fields = Object.fromEntries(new URLSearchParams(r.body));
    assert.equal(fields.To, '+33612345678');
    assert.equal(fields.From, '+41790000000');
    assert.equal(fields.MessagingServiceSid, undefined);
    assert.match(fields.Body, /^\d{6} is your twostep verification code/);

    const { c } = await pendingLogin(server, u.username);
    assertStatus(await c.post('/api/v1/login/sms', { method_id: u.methodId }), 200);
    assert.equal(gw.requests.length, 2);
    assertStatus(await c.post('/api/v1/login/second-factor', { type: 'sms', code: gw.lastCode() }), 200);
  });

  test('a Twilio error (400, e.g. an unknown number) → 502, not retried', async () => {
    const { client } = await newSignedIn(server, 'twilio400');
    gw.reset();
    gw.answer({ status: 400 });
    assertError(await client.post('/api/v1/methods/sms', { phone: '+49 151 23456789' }), 502, 'sms_delivery_failed');
    assert.equal(gw.requests.length, 1);
    gw.answer({});
  });

  test('a messaging service replaces From', async () => {
    const svc = await startServer({
      env: {
        TWOSTEP_SMS_GATEWAY: 'twilio',
        TWOSTEP_SMS_TWILIO_BASE_URL: `${gw.url}/`,
        TWOSTEP_SMS_TWILIO_ACCOUNT_SID: sid,
        TWOSTEP_SMS_TWILIO_AUTH_TOKEN: 'twilio-token-xyz',
        TWOSTEP_SMS_TWILIO_MESSAGING_SERVICE_SID: 'MG0123456789',
      },
    });
    try {
      gw.reset();
      const { client } = await newSignedIn(svc, 'twiliomg');
      assertStatus(await client.post('/api/v1/methods/sms', { phone: '+32 470 12 34 56' }), 201);
      const fields = Object.fromEntries(new URLSearchParams(gw.requests[0].body));
      assert.equal(fields.MessagingServiceSid, 'MG0123456789');
      assert.equal(fields.From, undefined);
      assert.equal(gw.requests[0].path, `/2010-04-01/Accounts/${sid}/Messages.json`);
    } finally {
      await svc.stop();
    }
  });
});

describe('the log driver and start-up checks', () => {
  test('log driver (development): the code is in the server log, marked as such', async () => {
    const server = await startServer();
    try {
      assert.match(server.stderr, /sms\.gateway = log: SMS codes are written to this log and never sent/);
      assert.match(server.stderr, /or to off to turn codes by SMS off/, "the warning names the way out");
      const { client } = await newSignedIn(server, 'smslog');
      const add = await client.post('/api/v1/methods/sms', { phone: '+49 151 23456789' });
      assertStatus(add, 201);
      // The log line is written before the answer, but stderr may reach us a little later.
      const line = await waitFor(() => server.stderr.split('\n').find((l) => l.includes('DEVELOPMENT sms gateway')));
      assert.ok(line, server.stderr);
      assert.match(line, /to=\+4915123456789/);
      const code = /text="(\d{6}) is your/.exec(line)[1];
      assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code }), 200);
    } finally {
      await server.stop();
    }
  });

  test('bad [sms] configuration stops start-up with one clear line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twostep-sms-cfg-'));
    try {
      for (const [env, key] of [
        [{ TWOSTEP_SMS_GATEWAY: 'http' }, 'sms.http_url'],
        [{ TWOSTEP_SMS_GATEWAY: 'carrier-pigeon' }, 'sms.gateway'],
        [{ TWOSTEP_SMS_GATEWAY: 'twilio', TWOSTEP_SMS_TWILIO_ACCOUNT_SID: 'AC1' }, 'sms.twilio_auth_token'],
        [{ TWOSTEP_SMS_ALLOWED_REGIONS: 'CH,XX' }, 'sms.allowed_regions'],
        [{ TWOSTEP_SMS_REGION_BUDGETS: 'CH:10' }, 'sms.region_budgets'],
        [{ TWOSTEP_SMS_MAX_ATTEMPTS: '0' }, 'sms.max_attempts'],
      ]) {
        const r = await runCli(['serve'], { env: baseEnv(dir, env), cwd: dir, timeoutMs: 15000 });
        assert.notEqual(r.code, 0, `should refuse to start with ${JSON.stringify(env)}`);
        assert.ok(r.stderr.includes(key), `stderr should name ${key}: ${r.stderr}`);
        assert.ok(!r.stdout.includes('listening on'), r.stdout);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('twostep sms check and sms test', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twostep-sms-cli-'));
    const gw = await startFakeGateway();
    try {
      const env = baseEnv(dir, { TWOSTEP_SMS_GATEWAY: 'http', TWOSTEP_SMS_HTTP_URL: `${gw.url}/send` });
      const ok = await runCli(['sms', 'check', '079 123 45 67', '--region', 'CH'], { env, cwd: dir });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /\+41791234567 \(Switzerland, mobile\)/);
      const no = await runCli(['sms', 'check', '+44 7400 123456'], { env, cwd: dir });
      assert.equal(no.code, 1);
      assert.match(no.stderr, /sms_region_not_allowed/);
      const sent = await runCli(['sms', 'test', '+41 79 123 45 67'], { env, cwd: dir });
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(gw.requests.length, 1);
      assert.equal(gw.messages()[0].to, '+41791234567');
      assert.match(gw.messages()[0].text, /test message/);
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
