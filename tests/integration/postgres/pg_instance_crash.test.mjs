// One of two instances on one PostgreSQL database is killed (SIGKILL, no shutdown) while it
// serves sign-ins and use-once codes. The other instance serves on without waiting for
// anything the dead one held (its transactions end with its connections); the use-once codes
// it was handling were used at most once; a new process started in its place joins the event
// bus again, so revocations reach it and leave it at once. The /verify cache time is set to a
// minute, so only the bus can make the revocation checks pass in time.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, createPgDatabase, pgAdminUrl, psql } from '../lib/server.mjs';
import {
  Client, assertStatus, signup, login, uniqueName, totpStep, waitFor,
} from '../lib/client.mjs';

describe('an instance crashes beside another on one PostgreSQL database', () => {
  let db;
  let b; // survives
  let a; // killed
  let a2; // started in a's place
  let env;
  let alice;

  before(async () => {
    db = createPgDatabase(pgAdminUrl());
    env = { TWOSTEP_DATABASE_URL: db.url, TWOSTEP_SESSIONS_VERIFY_CACHE_MS: '60000' };
    b = await startServer({ env });
    env.TWOSTEP_SECURITY_MASTER_KEY_FILE = join(b.dir, 'master.key'); // one deployment
    a = await startServer({ env, keepDir: true });
  });

  after(async () => {
    await a2?.stop();
    await b?.stop();
    if (a) rmSync(a.dir, { recursive: true, force: true });
    db?.drop();
  });

  test('killed in the middle of sign-ins: the other instance serves on, each code used at most once', async (t) => {
    const name = uniqueName('alice');
    const client = new Client(b);
    await signup(client, name);
    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                      { code: totpStep(add.json.secret, 0) });
    assertStatus(confirm, 200);
    alice = { name, client, codes: confirm.json.recovery_codes };

    // Pending sign-ins on A, then every one of them sends the same recovery code while A dies.
    const pending = [];
    for (let i = 0; i < 6; i++) {
      const c = new Client(a);
      const res = await login(c, name);
      assert.equal(res.json?.status, 'second_factor', res.text);
      pending.push(c);
    }
    const code = alice.codes[0];
    const inFlight = pending.map((c) => c.post('/api/v1/login/second-factor', { type: 'recovery', code })
      .then((r) => r.status, () => 'dropped'));
    // Sign-ins (Argon2id on A's hash pool) in flight too.
    const signIns = [0, 1, 2, 3].map(() => login(new Client(a), name).then((r) => r.status, () => 'dropped'));
    await new Promise((r) => setTimeout(r, 20));
    process.kill(a.pid, 'SIGKILL');
    const exited = await a.exited;
    assert.equal(exited.signal, 'SIGKILL');
    const outcomes = await Promise.all(inFlight);
    t.diagnostic(`recovery code on the dying instance: ${outcomes.join(' ')}; ` +
                 `sign-ins: ${(await Promise.all(signIns)).join(' ')}`);
    const successes = outcomes.filter((s) => s === 200).length;
    assert.ok(successes <= 1, `the recovery code worked ${successes} times: ${outcomes}`);

    // B: no wait on anything A held. Its sign-ins work; the code is used iff A said 200 or A
    // committed it just before dying — either way it works at most once more in total.
    const started = performance.now();
    const onB = new Client(b);
    const res = await login(onB, name);
    assert.equal(res.json?.status, 'second_factor', res.text);
    const again = await onB.post('/api/v1/login/second-factor', { type: 'recovery', code });
    assert.ok(performance.now() - started < 3000, 'instance B waited on the dead instance');
    if (successes === 1) assert.equal(again.status, 401, 'a code used on A worked again on B');
    t.diagnostic(`the same code on the other instance afterwards: ${again.status}`);
    const used = successes + (again.status === 200 ? 1 : 0);
    assert.ok(used <= 1, `used ${used} times`);
    // Another code finishes a sign-in on B whatever happened to the first.
    const onB2 = new Client(b);
    assert.equal((await login(onB2, name)).json?.status, 'second_factor');
    assertStatus(await onB2.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[1] }), 200);
    assertStatus(await onB2.get('/api/v1/verify'), 200);

    // The database lets go of A's connections (its sockets closed with the process).
    const gone = await waitFor(() => {
      const n = Number(psql(pgAdminUrl(), `SELECT count(*) FROM pg_stat_activity
          WHERE datname = '${db.name}' AND state = 'idle in transaction'`));
      return n === 0;
    }, { timeoutMs: 5000 });
    assert.ok(gone, 'a transaction of the dead instance is still open');
  });

  test('a new process in its place joins the event bus: revocations reach it and leave it at once', async () => {
    a2 = await startServer({ env });
    // The bus is up on the new process once its gauge says so.
    const listening = await waitFor(async () => {
      const m = await fetch(`${a2.url}/metrics`).then((r) => r.text());
      return /^twostep_event_bus_connected 1$/m.test(m);
    }, { timeoutMs: 5000 });
    assert.ok(listening, 'the new instance is not listening on the bus');

    // The same browser on both instances: both have the session cached (for a minute).
    const browser = new Client(b);
    assertStatus(await login(browser, alice.name), 200);
    const onA2 = new Client(a2);
    onA2.cookies = new Map(browser.cookies);
    // alice has 2FA: finish the sign-in first.
    const second = await browser.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[2] });
    assertStatus(second, 200);
    onA2.cookies = new Map(browser.cookies);
    assertStatus(await onA2.get('/api/v1/verify'), 200);
    assertStatus(await browser.get('/api/v1/verify'), 200);

    // Revoked on B: A2 refuses it at once (a minute of cache, so only the bus can do it).
    const list = await browser.get('/api/v1/sessions');
    const current = list.json.sessions.find((s) => s.current);
    assertStatus(await alice.client.delete(`/api/v1/sessions/${current.id}`), 200);
    const refused = await waitFor(async () => (await onA2.get('/api/v1/verify')).status === 401,
                                  { timeoutMs: 1500, intervalMs: 50 });
    assert.ok(refused, 'the new instance did not hear of the revocation on the other one');

    // And the other way: a session revoked on A2 is refused by B at once.
    const c2 = new Client(a2);
    assert.equal((await login(c2, alice.name)).json?.status, 'second_factor');
    assertStatus(await c2.post('/api/v1/login/second-factor', { type: 'recovery', code: alice.codes[3] }), 200);
    const onB = new Client(b);
    onB.cookies = new Map(c2.cookies);
    assertStatus(await onB.get('/api/v1/verify'), 200);
    assertStatus(await c2.post('/api/v1/logout', {}), 200);
    const refusedOnB = await waitFor(async () => (await onB.get('/api/v1/verify')).status === 401,
                                     { timeoutMs: 1500, intervalMs: 50 });
    assert.ok(refusedOnB, 'instance B did not hear of the sign-out on the new instance');
  });
});
