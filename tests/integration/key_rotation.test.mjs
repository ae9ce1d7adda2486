// Master-key rotation voids nothing: a user with TOTP, recovery codes and an application
// password; the server stops, `twostep key rotate` adds a key, the server starts again, and
// the password + a recovery code, the password + TOTP, the application password (HTTP Basic
// on /api/v1/verify) and the WebAuthn user handle all still work. `twostep key list` shows
// what depends on which key, and `key reseal` moves the TOTP seed to the new key. `key rotate`
// refuses a malformed or open key file and leaves it as it was. Runs on SQLite and
// (integration_pg) on PostgreSQL.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { Client, assertStatus, enrolTotp, signup, login, uniqueName, totpStep, pendingLogin } from './lib/client.mjs';
import { basic, createAppPassword } from './lib/protocols.mjs';

// `twostep key list` → {id: {status, sealed, recovery, app, sms}}
function parseKeyList(stdout) {
  const lines = stdout.trim().split('\n');
  assert.match(lines[0], /^KEY\s+STATUS\s+SEALED SECRETS\s+RECOVERY CODES\s+APP PASSWORDS\s+SMS CODES$/);
  const keys = {};
  for (const line of lines.slice(1)) {
    const [id, status, sealed, recovery, app, sms] = line.trim().split(/\s+/);
    keys[id] = { status, sealed: +sealed, recovery: +recovery, app: +app, sms: +sms };
  }
  return keys;
}

function verifyBasic(server, username, password) {
  return new Client(server).get('/api/v1/verify', {
    headers: { authorization: basic(username, password), 'x-twostep-scope': 'mail' },
    cookies: false,
  });
}

describe('master key rotation', () => {
  let server;
  before(async () => {
    // Three TOTP codes are used (confirm, after rotation, after reseal): steps 0, 1 and 2.
    server = await startServer({ env: { TWOSTEP_TOTP_WINDOW: '2' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('rotate while stopped: recovery codes, TOTP, app passwords and the WebAuthn handle survive', async () => {
    const username = uniqueName('rot');
    const client = new Client(server);
    await signup(client, username);
    // The WebAuthn user handle, asked for before two-step verification is on.
    const waBefore = await client.post('/api/v1/methods/webauthn/options', {});
    assertStatus(waBefore, 200);
    const handle = waBefore.json.user.id;
    // (Before 2FA is on, so that creating it needs no second factor.)
    const app = await createAppPassword(client, { name: 'Thunderbird', scopes: ['mail'] });

    const { secret, recoveryCodes } = await enrolTotp(client);
    assertStatus(await verifyBasic(server, username, app.password), 200);

    const listBefore = await server.cli(['key', 'list']);
    assert.equal(listBefore.code, 0, listBefore.stderr);
    assert.deepEqual(parseKeyList(listBefore.stdout),
                     { 1: { status: 'current', sealed: 1, recovery: 10, app: 1, sms: 0 } });

    // Stop, rotate, start again.
    await server.stop({ removeDir: false });
    const keyFile = join(server.dir, 'master.key');
    const oldText = readFileSync(keyFile, 'utf8');
    const rotate = await server.cli(['key', 'rotate']);
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /added master key 2 /);
    const newText = readFileSync(keyFile, 'utf8');
    assert.ok(newText.startsWith(oldText), 'the old key stays in the file');
    const newKeyHex = newText.slice(oldText.length).trim().split(/\s+/)[1];
    assert.match(newKeyHex, /^[0-9a-f]{64}$/);
    assert.ok(!rotate.stdout.includes(newKeyHex) && !rotate.stderr.includes(newKeyHex),
              'never prints key bytes');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    await server.restart();

    // Password + a recovery code (hashed under key 1).
    const rc = (await pendingLogin(server, username)).c;
    const withRecovery = await rc.post('/api/v1/login/second-factor', { type: 'recovery', code: recoveryCodes[0] });
    assertStatus(withRecovery, 200);
    assert.equal(withRecovery.json.status, 'ok', withRecovery.text);
    // Used once, still.
    const again = (await pendingLogin(server, username)).c;
    assertStatus(await again.post('/api/v1/login/second-factor', { type: 'recovery', code: recoveryCodes[0] }), 401);

    // Password + TOTP (the seed was sealed under key 1).
    const tc = (await pendingLogin(server, username)).c;
    const withTotp = await tc.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(secret, 1) });
    assertStatus(withTotp, 200);
    assert.equal(withTotp.json.status, 'ok', withTotp.text);

    // The application password (hashed under key 1), and a new one made under key 2.
    assertStatus(await verifyBasic(server, username, app.password), 200);
    // One character changed (to another one: an 'x' stays wrong as a 'y').
    const wrong = app.password.slice(0, -1) + (app.password.endsWith('x') ? 'y' : 'x');
    assertStatus(await verifyBasic(server, username, wrong), 401);
    const app2 = await createAppPassword(tc, { name: 'Phone', scopes: ['mail'] });
    assertStatus(await verifyBasic(server, username, app2.password), 200);

    // The same WebAuthn user handle as before the rotation.
    const waAfter = await tc.post('/api/v1/methods/webauthn/options', {});
    assertStatus(waAfter, 200);
    assert.equal(waAfter.json.user.id, handle);

    const listAfter = await server.cli(['key', 'list']);
    assert.equal(listAfter.code, 0, listAfter.stderr);
    assert.deepEqual(parseKeyList(listAfter.stdout), {
      1: { status: 'older', sealed: 1, recovery: 9, app: 1, sms: 0 },
      2: { status: 'current', sealed: 0, recovery: 0, app: 1, sms: 0 },
    });

    // Re-seal the TOTP seed under key 2 while the server runs; it still signs in.
    const reseal = await server.cli(['key', 'reseal']);
    assert.equal(reseal.code, 0, reseal.stderr);
    assert.match(reseal.stdout, /sealed 1 method secret and 0 YubiKey keys again with key 2/);
    const afterReseal = await server.cli(['key', 'list']);
    assert.deepEqual(parseKeyList(afterReseal.stdout), {
      1: { status: 'older', sealed: 0, recovery: 9, app: 1, sms: 0 },
      2: { status: 'current', sealed: 1, recovery: 0, app: 1, sms: 0 },
    });
    const tc2 = (await pendingLogin(server, username)).c;
    const withTotp2 = await tc2.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(secret, 2) });
    assertStatus(withTotp2, 200);
    assert.equal(withTotp2.json.status, 'ok', withTotp2.text);
  });

  test('key rotate, add and use refuse a malformed or open key file and leave it as it was', async () => {
    const hex = 'ab'.repeat(32);
    const cases = [
      { name: 'short.key', text: `1 ${hex.slice(2)}\n`, mode: 0o600, error: /line 1: key must be 64 hex chars/ },
      { name: 'dup.key', text: `1 ${hex}\n1 ${hex}\n`, mode: 0o600, error: /duplicate key id 1/ },
      { name: 'zero.key', text: `0 ${hex}\n`, mode: 0o600, error: /key ids start at 1/ },
      { name: 'open.key', text: `1 ${hex}\n`, mode: 0o644, error: /chmod 600/ },
    ];
    for (const c of cases) {
      const file = join(server.dir, c.name);
      writeFileSync(file, c.text);
      chmodSync(file, c.mode);
      for (const args of [['key', 'rotate'], ['key', 'add'], ['key', 'use', '1'], ['key', 'use', '2']]) {
        const what = `${args.join(' ')} ${c.name}`;
        const r = await server.cli(args, { env: { TWOSTEP_SECURITY_MASTER_KEY_FILE: file } });
        assert.equal(r.code, 1, `${what}: ${r.stdout}`);
        assert.match(r.stderr, c.error, what);
        assert.ok(!r.stderr.includes(hex), 'never echoes key bytes');
        assert.equal(r.stdout, '');
        assert.equal(readFileSync(file, 'utf8'), c.text, `${what}: unchanged`);
        assert.equal(statSync(file).mode & 0o777, c.mode);
      }
    }
    const help = await server.cli(['key', '--help']);
    assert.equal(help.code, 0);
    for (const sub of ['rotate', 'add', 'use', 'list', 'reseal']) {
      assert.match(help.stdout, new RegExp(`^\\s+${sub}\\b`, 'm'), sub);
    }
    const bare = await server.cli(['key']);
    assert.notEqual(bare.code, 0);
  });
});
