// Retiring an old master key ends a rotation: `twostep key retire ID` takes the key out of the
// key file once nothing stored needs it. A user with TOTP, recovery codes and an application
// password made under key 2; key 3 is made current; `key retire 2` refuses while the TOTP seed
// is sealed under it, then (after `key reseal`) while recovery codes and the application
// password are hashed under it, and retires it with --revoke-dependents. After a restart TOTP
// still signs in, the old recovery codes and application password are refused, new recovery
// codes work and the user's security log says why. The oldest key (SMS number hashes), the
// current key, a staged key and unknown ids are refused and change nothing. Runs on SQLite and
// (integration_pg) on PostgreSQL.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, testDatabaseKind } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, enrolTotp, signup, uniqueName, totpStep, pendingLogin, waitFor,
} from './lib/client.mjs';
import { createAppPassword, verifyBasicStatus } from './lib/protocols.mjs';
import { startFakeGateway } from './lib/fake_sms_gateway.mjs';

// `twostep key list` → {id: status}
async function keyStates(server) {
  const r = await server.cli(['key', 'list']);
  assert.equal(r.code, 0, r.stderr);
  const out = {};
  for (const line of r.stdout.trim().split('\n').slice(1)) {
    const [id, status] = line.trim().split(/\s+/);
    out[id] = status;
  }
  return out;
}

// The key file's "<id> <hex>" lines → {id: hex}
function keyLines(text) {
  const out = {};
  for (const m of text.matchAll(/^(\d+) ([0-9a-f]{64})$/gm)) out[m[1]] = m[2];
  return out;
}

// On PostgreSQL the command announces the revoked application passwords on the bus: the running
// server drops them from its /verify cache at once, however long it would keep them otherwise.
const PG = testDatabaseKind() === 'postgres';

// `refusedBy(server, keyFile, args, error)`: the command fails with `error` on stderr, prints
// nothing on stdout, leaves the key file as it was and never prints key bytes.
async function refusedBy(server, keyFile, args, error) {
  const before = readFileSync(keyFile, 'utf8');
  const r = await server.cli(args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
  assert.match(r.stderr, error, args.join(' '));
  assert.equal(r.stdout, '');
  assert.equal(readFileSync(keyFile, 'utf8'), before, `${args.join(' ')}: the key file is unchanged`);
  for (const hex of Object.values(keyLines(before))) assert.ok(!r.stderr.includes(hex), 'never prints key bytes');
  return r;
}

// `twostep key rotate` with the server stopped, then a restart.
async function rotateKey(server) {
  await server.stop({ removeDir: false });
  const r = await server.cli(['key', 'rotate']);
  assert.equal(r.code, 0, r.stderr);
  await server.restart();
}

describe('master key retire', () => {
  let server;
  let keyFile;
  before(async () => {
    const cache = PG ? { TWOSTEP_SESSIONS_VERIFY_CACHE_MS: '600000' } : {};
    server = await startServer({ env: { TWOSTEP_TOTP_WINDOW: '2', ...cache } });
    keyFile = join(server.dir, 'master.key');
  });
  after(async () => {
    await server?.stop();
  });

  const rotate = () => rotateKey(server);
  const refused = (args, error) => refusedBy(server, keyFile, args, error);

  test('retire after reseal, revoking the recovery codes and application passwords under the key', async () => {
    await rotate(); // key 2 is current: key 1, the oldest, keys the SMS number hashes
    const username = uniqueName('ret');
    const client = new Client(server);
    await signup(client, username);
    const app = await createAppPassword(client, { name: 'Thunderbird' });
    const { secret, recoveryCodes: oldCodes } = await enrolTotp(client);
    assert.equal(await verifyBasicStatus(server, username, app.password), 200);

    await rotate(); // key 3 is current
    const key2 = keyLines(readFileSync(keyFile, 'utf8'))['2'];
    assert.ok(key2);

    // The TOTP seed is still sealed under key 2.
    await refused(['key', 'retire', '2'], /1 sealed secret still uses key 2\b.*twostep key reseal/s);
    await refused(['key', 'retire', '2', '--revoke-dependents'], /1 sealed secret still uses key 2/);

    const reseal = await server.cli(['key', 'reseal']);
    assert.equal(reseal.code, 0, reseal.stderr);
    // Keyed hashes: refused without --revoke-dependents, with the counts.
    const r = await refused(['key', 'retire', '2'],
      /key 2 still checks 10 unused recovery codes, 1 application password and 0 live SMS codes/);
    assert.match(r.stderr, /--revoke-dependents deletes those recovery codes/);
    assert.equal(await verifyBasicStatus(server, username, app.password), 200);

    const retire = await server.cli(['key', 'retire', '2', '--revoke-dependents']);
    assert.equal(retire.code, 0, retire.stderr);
    assert.match(retire.stdout, /retired master key 2: removed from .*master\.key; revoked 10 recovery codes, 1 application password and 0 SMS codes/);
    assert.match(retire.stdout, /every instance and restart them/);
    if (PG) {
      assert.ok(await waitFor(async () => (await verifyBasicStatus(server, username, app.password)) === 401),
                'the running server refuses the revoked application password at once');
    }
    const text = readFileSync(keyFile, 'utf8');
    assert.ok(!text.includes(key2), 'the key bytes are gone from the file');
    assert.match(text, /^# retired: key 2 /m);
    assert.deepEqual(Object.keys(keyLines(text)), ['1', '3']);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.deepEqual(await keyStates(server), { 1: 'older', 3: 'current' });
    // Retired already: now an unknown key.
    await refused(['key', 'retire', '2'], /has no key 2/);

    await server.restart();
    // TOTP (resealed under key 3) still signs in.
    const tc = (await pendingLogin(server, username)).c;
    const withTotp = await tc.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(secret, 1) });
    assertStatus(withTotp, 200);
    assert.equal(withTotp.json.status, 'ok', withTotp.text);
    // The old recovery codes and the old application password are refused.
    const rc = (await pendingLogin(server, username)).c;
    assertError(await rc.post('/api/v1/login/second-factor', { type: 'recovery', code: oldCodes[1] }), 401, 'invalid_code');
    assert.equal(await verifyBasicStatus(server, username, app.password), 401);
    // No recovery codes left; the methods stay; new codes can be made and work.
    const me = await tc.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.twofa_enabled, true);
    assert.equal(me.json.recovery_codes_remaining, 0, me.text);
    const fresh = await tc.post('/api/v1/recovery-codes');
    assertStatus(fresh, 200);
    assert.equal(fresh.json.codes.length, 10);
    const nc = (await pendingLogin(server, username)).c;
    const withNew = await nc.post('/api/v1/login/second-factor', { type: 'recovery', code: fresh.json.codes[0] });
    assertStatus(withNew, 200);
    assert.equal(withNew.json.status, 'ok', withNew.text);

    // The user's security log says why; the site log has the retirement.
    const audit = await tc.get('/api/v1/audit');
    assertStatus(audit, 200);
    const revoked = audit.json.events.find((e) => e.event === 'recovery_codes_revoked');
    assert.ok(revoked, audit.text);
    assert.equal(revoked.detail.reason, 'master_key_retired');
    assert.equal(revoked.detail.count, '10');
    assert.ok(audit.json.events.some((e) => e.event === 'app_password_revoked' && e.detail.name === 'Thunderbird'));
    const site = await server.cli(['audit', '--event', 'master_key_retired', '--json']);
    assert.equal(site.code, 0, site.stderr);
    const entry = JSON.parse(site.stdout.trim().split('\n')[0]);
    assert.deepEqual(entry.detail, { key_id: '2', recovery_codes: '10', app_passwords: '1', sms_codes: '0' });
  });

  test('the oldest, the current, a staged and an unknown key are refused and nothing changes', async () => {
    const states = await keyStates(server);
    const ids = Object.keys(states).map(Number);
    const oldest = Math.min(...ids);
    const current = Number(Object.keys(states).find((id) => states[id] === 'current'));
    const r = await refused(['key', 'retire', String(oldest)], /is the oldest key: SMS number hashes/);
    assert.match(r.stderr, /--rekey-sms-numbers writes the number hash of every SMS method again/);
    assert.match(r.stderr, /Nothing was changed/);
    await refused(['key', 'retire', String(current), '--rekey-sms-numbers'], /is the current key/);
    await refused(['key', 'retire', String(current)], /is the current key/);
    await refused(['key', 'retire', String(current), '--revoke-dependents'], /is the current key/);
    await refused(['key', 'retire', '99'], /has no key 99/);
    const add = await server.cli(['key', 'add']);
    assert.equal(add.code, 0, add.stderr);
    const staged = Math.max(...ids) + 1;
    assert.equal((await keyStates(server))[staged], 'staged');
    await refused(['key', 'retire', String(staged)], new RegExp(`key ${staged} is staged`));
    // Bad ids never reach the key file.
    for (const bad of [['0'], ['abc'], ['-1'], []]) {
      const before = readFileSync(keyFile, 'utf8');
      const b = await server.cli(['key', 'retire', ...bad]);
      assert.notEqual(b.code, 0, bad.join(' '));
      assert.equal(readFileSync(keyFile, 'utf8'), before);
    }
    const help = await server.cli(['key', '--help']);
    assert.match(help.stdout, /^\s+retire\b/m);
  });
});

describe('master key retire: the oldest key, re-keying the SMS number hashes', () => {
  let gw;
  let server;
  let keyFile;
  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({
      env: {
        TWOSTEP_SMS_GATEWAY: 'http',
        TWOSTEP_SMS_HTTP_URL: `${gw.url}/v1/send`,
        TWOSTEP_SMS_HTTP_BODY: '{"recipient":"{to}","text":"{message}"}',
        TWOSTEP_SMS_RESEND_COOLDOWN_S: '0',
      },
    });
    keyFile = join(server.dir, 'master.key');
  });
  after(async () => {
    await server?.stop();
    await gw?.close();
  });

  const rotate = () => rotateKey(server);
  const refused = (args, error) => refusedBy(server, keyFile, args, error);

  test('retire key 1 with --rekey-sms-numbers: SMS still signs in and the number is still known', async () => {
    // Made under key 1, the only key: a confirmed SMS method and another user's unconfirmed one.
    const phone = `+41 79 ${String(100 + (process.pid % 800)).padStart(3, '0')} 12 34`;
    const username = uniqueName('rekey');
    const client = new Client(server);
    await signup(client, username);
    const add = await client.post('/api/v1/methods/sms', { phone });
    assertStatus(add, 201);
    const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() });
    assertStatus(confirm, 200);
    const other = new Client(server);
    await signup(other, uniqueName('rekey2'));
    assertStatus(await other.post('/api/v1/methods/sms', { phone }), 201);
    // Before: the same number again is recognised.
    assertError(await client.post('/api/v1/methods/sms', { phone }), 409, 'conflict');

    await rotate();
    await rotate(); // key 3 is current
    const key1 = keyLines(readFileSync(keyFile, 'utf8'))['1'];
    assert.ok(key1);
    const r = await refused(['key', 'retire', '1'], /key 1 is the oldest key: SMS number hashes/);
    assert.match(r.stderr, /--rekey-sms-numbers writes the number hash of every SMS method again under the next oldest key \(key 2\)/);
    assert.match(r.stderr, /cool-downs and per-number daily quotas of the day start over/);
    await refused(['key', 'retire', '1', '--revoke-dependents'], /key 1 is the oldest key.*--rekey-sms-numbers/s);
    await refused(['key', 'retire', '2', '--rekey-sms-numbers'], /--rekey-sms-numbers is only for the oldest key \(key 1\)/);
    // The SMS numbers are still sealed under key 1.
    await refused(['key', 'retire', '1', '--rekey-sms-numbers'], /2 sealed secrets still use key 1\b/);
    const reseal = await server.cli(['key', 'reseal']);
    assert.equal(reseal.code, 0, reseal.stderr);
    await refused(['key', 'retire', '1', '--rekey-sms-numbers'], /key 1 still checks 10 unused recovery codes, 0 application passwords and 1 live SMS code\b/);

    const retire = await server.cli(['key', 'retire', '1', '--rekey-sms-numbers', '--revoke-dependents']);
    assert.equal(retire.code, 0, retire.stderr);
    assert.match(retire.stdout, /retired master key 1: removed from .*master\.key; revoked 10 recovery codes/);
    assert.match(retire.stdout, /Re-keyed the number hash of 2 SMS methods under key 2: the resend cool-downs and per-number daily quotas of today start over/);
    assert.match(retire.stdout, /instances with the old file still hash numbers under key 1 and count per-number limits apart/);
    const text = readFileSync(keyFile, 'utf8');
    assert.ok(!text.includes(key1), 'the key bytes are gone from the file');
    assert.deepEqual(Object.keys(keyLines(text)), ['2', '3']);
    await server.restart();
    const states = await server.cli(['key', 'list']);
    assert.equal(states.code, 0, states.stderr);
    assert.ok(!/^\s*1\s/m.test(states.stdout), states.stdout);
    assert.match(states.stdout, /^\s*2\s+older\b/m);

    // The SMS method signs in: the code goes through the gateway to the same number.
    const { c, res } = await pendingLogin(server, username);
    const m = res.json.methods.find((x) => x.type === 'sms');
    assert.ok(m, res.text);
    const before = gw.requests.length;
    assertStatus(await c.post('/api/v1/login/sms', { method_id: m.id }), 200);
    assert.equal(gw.requests.length, before + 1);
    assert.equal(gw.messages().at(-1).to, phone.replaceAll(' ', ''));
    const ok = await c.post('/api/v1/login/second-factor', { type: 'sms', code: gw.lastCode() });
    assertStatus(ok, 200);
    assert.equal(ok.json.status, 'ok', ok.text);
    // The same number is still recognised as the same number (hashed under key 2 now).
    assertError(await c.post('/api/v1/methods/sms', { phone }), 409, 'conflict');
    assert.equal(gw.requests.length, before + 1, 'nothing sent for a known number');

    const site = await server.cli(['audit', '--event', 'master_key_retired', '--json']);
    assert.equal(site.code, 0, site.stderr);
    const entry = JSON.parse(site.stdout.trim().split('\n')[0]);
    assert.deepEqual(entry.detail, {
      key_id: '1', recovery_codes: '10', app_passwords: '0', sms_codes: '1', sms_numbers_rekeyed: '2',
    });
  });
});
