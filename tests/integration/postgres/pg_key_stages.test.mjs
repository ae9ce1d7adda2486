// Master-key rotation with two instances on one PostgreSQL database, each with its own copy of
// the key file (as on two machines), restarted one after the other.
// - Two-phase (`twostep key add`, then `twostep key use`): at every step, what one instance
//   wrote (a TOTP seed sealed, recovery codes and application passwords hashed under its
//   current key) works on the other: sign-in with TOTP and with a recovery code, HTTP Basic
//   with an application password on /api/v1/verify. `key list` shows the states, the audit log
//   the two steps.
// - `key use` refuses while a running instance has not loaded the key (`twostep instances`).
// - Why: with the one-step `twostep key rotate` on one instance only, the other cannot use what
//   the first made under the new key. The failure is clean: 503 master_key_unavailable with a
//   message and Retry-After (not a wrong code, not a 500), the instance keeps serving the rest,
//   and once the file reaches it and it restarts, the same values work.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, createPgDatabase, pgAdminUrl, psql } from '../lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, pendingLogin, uniqueName, totpStep,
} from '../lib/client.mjs';
import { basic, createAppPassword } from '../lib/protocols.mjs';

// TOTP codes of later steps are used one after the other (each step works once).
const TOTP = { TWOSTEP_TOTP_WINDOW: '12' };

// Copies the key file "to the other machine": same bytes, mode 0600.
function copyKeyFile(from, to) {
  writeFileSync(to, readFileSync(from));
  chmodSync(to, 0o600);
}

// `twostep key list` → {id: status}
async function keyStates(server) {
  const r = await server.cli(['key', 'list']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^KEY\s+STATUS\s/);
  return Object.fromEntries(lines.slice(1).map((l) => l.trim().split(/\s+/).slice(0, 2)));
}

// The last key line of a key file: what every version of twostep takes as the current key.
function lastKeyId(file) {
  const keys = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  return Number(keys.at(-1).split(/\s+/)[0]);
}

// A user with TOTP and recovery codes made on `server` (sealed and hashed under its current
// key), and an application password.
async function enrol(server, prefix) {
  const name = uniqueName(prefix);
  const client = new Client(server);
  await signup(client, name);
  const app = await createAppPassword(client, { name: 'mail', scopes: ['mail'] });
  const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
  assertStatus(add, 201);
  const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                    { code: totpStep(add.json.secret, 0) });
  assertStatus(confirm, 200);
  return { name, secret: add.json.secret, step: 0, codes: [...confirm.json.recovery_codes],
           app: app.password };
}

async function pending(server, user) {
  return (await pendingLogin(server, user.name)).c;
}

function secondFactor(client, type, code) {
  return client.post('/api/v1/login/second-factor', { type, code });
}

// Signs in on `server` with TOTP → the signed-in client.
async function signInTotp(server, user) {
  const c = await pending(server, user);
  user.step += 1;
  const r = await secondFactor(c, 'totp', totpStep(user.secret, user.step));
  assertStatus(r, 200);
  assert.equal(r.json.status, 'ok', r.text);
  return c;
}

async function signInRecovery(server, user) {
  const c = await pending(server, user);
  const r = await secondFactor(c, 'recovery', user.codes.shift());
  assertStatus(r, 200);
  assert.equal(r.json.status, 'ok', r.text);
}

function verifyBasic(server, name, password) {
  return new Client(server).get('/api/v1/verify', {
    headers: { authorization: basic(name, password), 'x-twostep-scope': 'mail' },
    cookies: false,
  });
}

// A fresh set of recovery codes and a new application password, made on `server` by a user
// signed in there.
async function remake(server, user) {
  const c = await signInTotp(server, user);
  const codes = await c.post('/api/v1/recovery-codes', {});
  assertStatus(codes, 200);
  user.codes = [...codes.json.codes];
  user.app = (await createAppPassword(c, { name: `mail ${user.step}`, scopes: ['mail'] })).password;
}

// What `writer` made works on `reader`: TOTP, a recovery code, the application password.
async function usableOn(reader, user) {
  await signInTotp(reader, user);
  await signInRecovery(reader, user);
  assertStatus(await verifyBasic(reader, user.name, user.app), 200);
}

// New users: enrolled on A, on B, enrolled on A with codes and app password remade on B, and
// the other way round. Then every user so far signs in on both instances (values made in
// earlier steps keep working too).
async function crossCheck(a, b, users) {
  const mixedA = await enrol(a, 'mixa');
  await remake(b, mixedA);
  const mixedB = await enrol(b, 'mixb');
  await remake(a, mixedB);
  users.push(await enrol(a, 'ona'), await enrol(b, 'onb'), mixedA, mixedB);
  for (const user of users) {
    await usableOn(a, user);
    await usableOn(b, user);
  }
}

function auditEvents(db, event) {
  return psql(db.url, `SELECT detail FROM audit WHERE event = '${event}' ORDER BY id`)
      .split('\n').filter(Boolean);
}

// Two instances on a fresh database, A with its key file in its directory, B with a copy in a
// directory of its own: {db, a, b, keyA, keyB}, filled in before the tests run.
function twoInstances() {
  const t = {};
  let keyDirB;
  before(async () => {
    t.db = createPgDatabase(pgAdminUrl());
    t.a = await startServer({ env: { TWOSTEP_DATABASE_URL: t.db.url, ...TOTP } });
    t.keyA = join(t.a.dir, 'master.key');
    keyDirB = mkdtempSync(join(tmpdir(), 'twostep-keyb-'));
    t.keyB = join(keyDirB, 'master.key');
    copyKeyFile(t.keyA, t.keyB);
    t.b = await startServer({
      env: { TWOSTEP_DATABASE_URL: t.db.url, TWOSTEP_SECURITY_MASTER_KEY_FILE: t.keyB, ...TOTP },
    });
  });
  after(async () => {
    await t.b?.stop();
    await t.a?.stop();
    if (keyDirB) rmSync(keyDirB, { recursive: true, force: true });
    t.db?.drop();
  });
  return t;
}

describe('two-phase master-key rotation, two instances', () => {
  const t = twoInstances();

  test('key add, copy, restart one by one, key use, copy, restart one by one', async () => {
    const { db, a, b, keyA, keyB } = t;
    const users = [];
    await crossCheck(a, b, users);  // both on key 1

    // Step 1: key 2 is added, staged; key 1 stays current everywhere.
    const added = await a.cli(['key', 'add']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added master key 2 .*staged: key 1 stays current/);
    assert.match(added.stdout, /twostep key use 2/);
    assert.equal(statSync(keyA).mode & 0o777, 0o600);
    assert.equal(lastKeyId(keyA), 1, 'older versions read key 1 as current too');
    assert.deepEqual(await keyStates(a), { 1: 'current', 2: 'staged' });
    copyKeyFile(keyA, keyB);
    await b.restart();
    await crossCheck(a, b, users);  // A without key 2, B with it staged
    await a.restart();
    await crossCheck(a, b, users);

    // Step 2: key 2 becomes current: A first, then B.
    const used = await b.cli(['key', 'use', '2']);
    assert.equal(used.code, 0, used.stderr);
    assert.match(used.stdout, /master key 2 is the current key .*until now: key 1/);
    assert.equal(statSync(keyB).mode & 0o777, 0o600);
    assert.deepEqual(await keyStates(b), { 1: 'older', 2: 'current' });
    copyKeyFile(keyB, keyA);
    await a.restart();
    // A seals and hashes under key 2, B under key 1: each reads the other's.
    await crossCheck(a, b, users);
    const states = await keyStates(a);
    assert.equal(states[2], 'current');
    await b.restart();
    await crossCheck(a, b, users);

    // The key file keeps both keys; the audit log has both steps.
    const text = readFileSync(keyA, 'utf8');
    assert.equal(text.split('\n').filter((l) => /^\d+ [0-9a-f]{64}$/.test(l)).length, 2);
    assert.ok(!text.includes('staged'), 'the marker went with key use');
    assert.equal(auditEvents(db, 'master_key_added').length, 1);
    assert.match(auditEvents(db, 'master_key_added')[0], /key_id.*2/);
    assert.equal(auditEvents(db, 'master_key_current').length, 1);
    assert.match(auditEvents(db, 'master_key_current')[0], /previous_key_id.*1/);
  });

  test('key use refuses an unknown id, the current id, and an open file; nothing changes', async () => {
    const { db, a, b, keyA, keyB } = t;
    const before = readFileSync(keyB, 'utf8');
    const cases = [
      { args: ['key', 'use', '9'], error: /has no key 9/ },
      { args: ['key', 'use', '2'], error: /key 2 is the current key already/ },
      { args: ['key', 'use', '0'], error: /ID/ },
      { args: ['key', 'use', 'x'], error: /ID/ },
      { args: ['key', 'use'], error: /ID is required/ },
    ];
    for (const c of cases) {
      const r = await b.cli(c.args);
      assert.notEqual(r.code, 0, c.args.join(' '));
      assert.match(r.stderr, c.error, c.args.join(' '));
      assert.equal(readFileSync(keyB, 'utf8'), before);
    }
    chmodSync(keyB, 0o640);
    try {
      for (const args of [['key', 'use', '1'], ['key', 'add']]) {
        const r = await b.cli(args);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /chmod 600/);
        assert.equal(readFileSync(keyB, 'utf8'), before);
        assert.equal(statSync(keyB).mode & 0o777, 0o640);
      }
    } finally {
      chmodSync(keyB, 0o600);
    }
    for (const sub of ['add', 'use', 'list', 'rotate']) {
      const help = await b.cli(['key', sub, '--help']);
      assert.equal(help.code, 0, sub);
      assert.match(help.stdout, /Usage/, sub);
    }
    const help = await b.cli(['key', '--help']);
    assert.match(help.stdout, /add[\s\S]*Step 1 of 2/);
    assert.match(help.stdout, /use[\s\S]*Step 2 of 2/);
  });
});

describe('key use checks that every running instance loaded the key', () => {
  const t = twoInstances();

  // `twostep instances` → {pid: keys}
  async function keysByPid(server) {
    const r = await server.cli(['instances']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^ID\s+HOST\s+PID\s+VERSION\s+LISTEN\s+KEYS\s/);
    return Object.fromEntries(lines.slice(1).map((l) => {
      const cols = l.trim().split(/\s+/);
      return [cols[2], cols[5]];
    }));
  }

  test('key add, only B restarted: key use is refused naming A; after A restarts it succeeds', async () => {
    const { db, a, b, keyA, keyB } = t;
    assert.deepEqual(await keysByPid(a), { [a.pid]: '1*', [b.pid]: '1*' });

    const added = await a.cli(['key', 'add']);
    assert.equal(added.code, 0, added.stderr);
    copyKeyFile(keyA, keyB);
    await b.restart();
    assert.deepEqual(await keysByPid(b), { [a.pid]: '1*', [b.pid]: '1*,2' });

    const before = readFileSync(keyA, 'utf8');
    for (const server of [a, b]) {
      const refused = await server.cli(['key', 'use', '2']);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /key 2 is not loaded by every running instance/);
      assert.ok(refused.stderr.includes(`pid ${a.pid} listening on ${a.url.slice(7)}`),
                refused.stderr);
      assert.ok(!refused.stderr.includes(`pid ${b.pid}`), 'B has key 2');
    }
    assert.equal(readFileSync(keyA, 'utf8'), before);
    assert.equal(auditEvents(db, 'master_key_current').length, 0);

    await a.restart();
    assert.deepEqual(await keysByPid(a), { [a.pid]: '1*,2', [b.pid]: '1*,2' });
    const used = await a.cli(['key', 'use', '2']);
    assert.equal(used.code, 0, used.stderr);
    assert.match(used.stdout, /master key 2 is the current key/);
    assert.ok(!used.stdout.includes('--force'));
    assert.equal(auditEvents(db, 'master_key_current').length, 1);
  });

  test('a stopped instance leaves the list', async () => {
    const { a, b } = t;
    const pidB = b.pid;
    await b.stop({ removeDir: false });
    assert.deepEqual(Object.keys(await keysByPid(a)), [String(a.pid)]);
    await b.restart();
    const pids = Object.keys(await keysByPid(a));
    assert.equal(pids.length, 2);
    assert.ok(!pids.includes(String(pidB)));
  });
});

describe('one-step rotate on one instance of two (why key add / key use)', () => {
  const t = twoInstances();

  test('the other instance cannot use what the rotated one made, and says so cleanly', async () => {
    const { db, a, b, keyA, keyB } = t;
    const rotated = await a.cli(['key', 'rotate']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /Several instances: .*twostep key add/);
    await a.restart();  // A: key 2 current; B: only key 1

    const user = await enrol(a, 'rot');  // TOTP seed, recovery codes, app password: key 2
    const unavailable = (r) => {
      assertError(r, 503, 'master_key_unavailable');
      assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
      assert.match(r.json.message, /master key/);
      assert.ok(!/key id|keyring|\bat \w+\(/.test(r.text), `no internals: ${r.text}`);
    };
    // TOTP on B: the seed does not open.
    const tc = await pending(b, user);
    unavailable(await secondFactor(tc, 'totp', totpStep(user.secret, 1)));
    // A recovery code on B: it cannot be checked (not "wrong": nothing is spent or counted).
    const rc = await pending(b, user);
    unavailable(await secondFactor(rc, 'recovery', user.codes[0]));
    // The application password on B.
    unavailable(await verifyBasic(b, user.name, user.app));
    // B is alive and serves everything else.
    assertStatus(await new Client(b).get('/healthz'), 200);
    const other = new Client(b);
    await signup(other, uniqueName('fine'));
    assertStatus(await other.get('/api/v1/me'), 200);
    assert.match(b.stderr, /unknown master key id=2|unknown key id 2/);

    // The fix: the file reaches B, B restarts; the same values work there (the recovery code
    // was not spent by the refusals).
    copyKeyFile(keyA, keyB);
    await b.restart();
    await usableOn(b, user);
  });
});
