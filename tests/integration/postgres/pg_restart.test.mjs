// PostgreSQL restarted under a running twostep: while the database is down every call that
// needs it answers a clear, fast 503 (never a 500, never a hang, never a signed-out user);
// once it is back, the same process serves again without a restart and nothing written before
// the outage is lost, nothing attempted during it was half-written.
//
// Twice: a clean restart (fast shutdown) and a crash (immediate shutdown, crash recovery). The
// test runs its own cluster (scripts/pg-test-cluster with a private state directory), since it
// stops it; the shared cluster of the other tests is not touched.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, createPgDatabase, psql } from '../lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, loginOk, uniqueName, totpStep, waitFor,
} from '../lib/client.mjs';

const SOURCE_DIR = process.env.TWOSTEP_SOURCE_DIR ?? fileURLToPath(new URL('../../..', import.meta.url));
const CLUSTER = join(SOURCE_DIR, 'scripts', 'pg-test-cluster');

describe('PostgreSQL restart under a running server', () => {
  let state;
  let db;
  let server;
  let pid;

  const cluster = (cmd) => execFileSync(CLUSTER, [cmd, state], { encoding: 'utf8', timeout: 120000 }).trim();

  before(async () => {
    state = mkdtempSync(join(tmpdir(), 'twostep-pg-restart-'));
    const adminUrl = cluster('start');
    db = createPgDatabase(adminUrl);
    // A short /verify cache so that the outage is visible there too within the test.
    server = await startServer({
      env: { TWOSTEP_DATABASE_URL: db.url, TWOSTEP_SESSIONS_VERIFY_CACHE_MS: '100' },
    });
    pid = server.pid;
  });

  after(async () => {
    try {
      await server?.stop();
    } finally {
      cluster('stop');
      rmSync(state, { recursive: true, force: true });
    }
  });

  // Filled in before the outage, checked after it.
  const alice = { name: uniqueName('alice') };
  const bob = { name: uniqueName('bob') };
  const carol = uniqueName('carol');

  test('before: accounts, two-step verification, a used recovery code', async () => {
    alice.client = new Client(server);
    await signup(alice.client, alice.name);
    const add = await alice.client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    alice.secret = add.json.secret;
    const confirm = await alice.client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                            { code: totpStep(alice.secret, 0) });
    assertStatus(confirm, 200);
    alice.codes = confirm.json.recovery_codes;
    assert.equal(alice.codes.length, 10);

    // Spend one recovery code in a second sign-in.
    const other = new Client(server);
    const pending = await login(other, alice.name);
    assert.equal(pending.json?.status, 'second_factor', pending.text);
    assertStatus(await other.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[0] }), 200);

    bob.client = new Client(server);
    await signup(bob.client, bob.name);
    assertStatus(await alice.client.get('/api/v1/me'), 200);
    assert.equal(psql(db.url, 'SELECT count(*) FROM users'), '2');
  });

  test('down: clear 503s, fast, for every kind of call; cookies are kept', async () => {
    cluster('halt');
    // Past the /verify cache, so that every answer below needs the database.
    await new Promise((r) => setTimeout(r, 300));

    const me = await alice.client.get('/api/v1/me');
    assertError(me, 503, 'unavailable');
    assert.match(me.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/, 'a 503 says when to retry');
    assert.ok(!me.setCookies.some((c) => c.startsWith('twostep_session=')),
              `an outage must not sign anyone out: ${me.setCookies}`);
    assert.ok(alice.client.session, 'the session cookie is still there');

    assertError(await login(new Client(server), bob.name), 503, 'unavailable');
    assertError(await new Client(server).post('/api/v1/signup', { username: carol, password: 'correct horse battery staple 42' }),
                503, 'unavailable');
    const verify = await alice.client.get('/api/v1/verify');
    assert.equal(verify.status, 503, `verify during an outage: ${verify.status} ${verify.text}`);
    assertError(await alice.client.get('/api/v1/sessions'), 503, 'unavailable');

    // Many at once: each is answered, quickly, with the same clear error.
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0
      ? bob.client.get('/api/v1/me')
      : login(new Client(server), alice.name))));
    const elapsed = performance.now() - started;
    for (const a of answers) assertError(a, 503, 'unavailable');
    assert.ok(elapsed < 5000, `40 calls during the outage took ${Math.round(elapsed)} ms`);

    // Liveness does not depend on the database; the process is the same.
    assertStatus(await new Client(server).get('/healthz'), 200);
    assert.equal(server.pid, pid);
  });

  test('back: the same process recovers on its own, with every row from before', async () => {
    cluster('start');
    const back = await waitFor(async () => (await alice.client.get('/api/v1/me')).status === 200,
                               { timeoutMs: 10000, intervalMs: 100 });
    assert.ok(back, 'twostep should serve again once PostgreSQL is back');
    assert.equal(server.pid, pid, 'no restart of twostep');

    // The session from before the outage still works, and so does /verify.
    const me = await alice.client.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.user.username, alice.name);
    assert.equal(me.json.twofa_enabled, true);
    assert.equal(me.json.recovery_codes_remaining, 9, 'the code used before the outage stays used');
    const verify = await alice.client.get('/api/v1/verify');
    assertStatus(verify, 200);
    assert.equal(verify.headers.get('x-twostep-user'), alice.name);

    // Nothing from during the outage was written.
    assertError(await login(new Client(server), carol), 401, 'invalid_credentials');
    assert.equal(psql(db.url, 'SELECT count(*) FROM users'), '2');

    // Use-once state survived: the spent code is refused, an unspent one works once.
    const c = new Client(server);
    assert.equal((await login(c, alice.name)).json?.status, 'second_factor');
    assertError(await c.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[0] }), 401, 'invalid_code');
    assertStatus(await c.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[1] }), 200);
    await loginOk(new Client(server), bob.name);

    // The operator learns about both transitions from the log.
    assert.match(server.stderr, /database unreachable/);
    assert.match(server.stderr, /database reachable again/);
  });

  test('a crash of PostgreSQL (no clean shutdown, crash recovery): the same, and a write just before it survives', async () => {
    const dave = uniqueName('dave');
    await signup(new Client(server), dave);  // committed just before the crash
    cluster('crash');
    assertError(await alice.client.get('/api/v1/me'), 503, 'unavailable');
    assertError(await login(new Client(server), dave), 503, 'unavailable');

    cluster('start');
    const back = await waitFor(async () => (await alice.client.get('/api/v1/me')).status === 200,
                               { timeoutMs: 15000, intervalMs: 100 });
    assert.ok(back, 'twostep should serve again once PostgreSQL has recovered');
    assert.equal(server.pid, pid, 'no restart of twostep');
    await loginOk(new Client(server), dave);
    assert.equal(psql(db.url, 'SELECT count(*) FROM users'), '3');
  });
});
