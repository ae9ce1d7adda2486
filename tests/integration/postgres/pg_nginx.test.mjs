// Two twostep instances behind a real nginx, the way deploy/multi-instance sets them up (the
// shipped deploy/nginx/example.com.conf with the multi-instance upstream block, its TOML file, its
// PostgreSQL setup SQL):
//   - requests through nginx reach both instances, and a sign-in, its second step and the
//     protected site's auth_request (app.example.com) work whichever instance answers;
//   - a sign-in through nginx is approved by a twostep-auth connected to the other instance:
//     the request created on one reaches the authenticator's stream on the other, and the
//     answer given there wakes the sign-in page waiting on the first;
//   - a session revoked on one instance is refused by the other within 1 s, although each
//     instance's /verify cache is set to a minute here: only the event bus (LISTEN/NOTIFY) can
//     drop the other's entry in time;
//   - PostgreSQL restarted mid-run: both instances answer clear 503s through nginx, then recover
//     without a restart, with every row from before, and their event listeners reconnect.
// The test runs its own cluster (it stops it) and its own database made by postgres-setup.sql.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, psql, pgUrlFor } from '../lib/server.mjs';
import { curl } from '../lib/nginx.mjs';
import { startMultiNginx, MULTI_DIR } from '../lib/nginx_multi.mjs';
import { freePort } from '../lib/protocols.mjs';
import {
  Client, assertError, assertStatus, signup, login, uniqueName, totp, totpStep, nowS, sleep, waitFor,
} from '../lib/client.mjs';
import { newAuthHome, runAuth, startWatch, storedAccount } from '../lib/auth.mjs';

const SOURCE_DIR = process.env.TWOSTEP_SOURCE_DIR ?? fileURLToPath(new URL('../../..', import.meta.url));
const CLUSTER = join(SOURCE_DIR, 'scripts', 'pg-test-cluster');
const ROLE = 'twostep_app';

describe('two instances behind nginx on one PostgreSQL', () => {
  let state;
  let dbUrl;
  let a;
  let b;
  let nginx;
  const cluster = (cmd) => execFileSync(CLUSTER, [cmd, state], { encoding: 'utf8', timeout: 120000 }).trim();
  const addr = (server) => new URL(server.url).host;

  before(async () => {
    state = mkdtempSync(join(tmpdir(), 'twostep-pg-nginx-'));
    const adminUrl = cluster('start');
    execFileSync('psql', [adminUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `role=${ROLE}`,
                          '-v', `db=${ROLE}`, '-f', join(MULTI_DIR, 'postgres-setup.sql')],
                 { encoding: 'utf8', timeout: 60000 });
    const u = new URL(pgUrlFor(adminUrl, ROLE));
    u.username = ROLE;
    dbUrl = u.toString();

    const port = await freePort();
    const env = {
      TWOSTEP_DATABASE_URL: dbUrl,
      TWOSTEP_SERVER_PUBLIC_URL: `http://127.0.0.1:${port}`,
      TWOSTEP_SERVER_WEB_DIR: '',           // the example names an installed copy
      TWOSTEP_SESSIONS_COOKIE_DOMAIN: '',
      TWOSTEP_SESSIONS_VERIFY_CACHE_MS: '60000',
    };
    const configFile = join(MULTI_DIR, 'twostep.toml');
    a = await startServer({ env, configFile });
    b = await startServer({ env: { ...env, TWOSTEP_SECURITY_MASTER_KEY_FILE: join(a.dir, 'master.key') }, configFile });
    nginx = await startMultiNginx({ instances: [addr(a), addr(b)], port });
  });

  const homes = [];
  after(async () => {
    for (const h of homes) rmSync(h, { recursive: true, force: true });
    try {
      await nginx?.stop();
      await b?.stop();
      await a?.stop();
    } finally {
      cluster('stop');
      rmSync(state, { recursive: true, force: true });
    }
  });

  // Runs `n` requests and returns the set of instances that answered them (X-Upstream on the
  // sign-in site, X-Verified-By for the protected site's auth_request).
  async function servedBy(n, fn) {
    const seen = new Set();
    for (let i = 0; i < n; i++) {
      const res = await fn();
      const h = (name) => (typeof res.headers.get === 'function' ? res.headers.get(name) : res.headers[name]);
      seen.add(h('x-upstream') ?? h('x-verified-by'));
    }
    return seen;
  }

  // The protected site with the cookies of `client`: 200 with the user, or 302 to sign in.
  const cookieOf = (client) => [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const app = (client) => curl(nginx, 'app.example.com', '/', { cookie: cookieOf(client) });

  const alice = { name: uniqueName('alice') };

  test('sign-up, enrolment and a two-step sign-in through nginx, answered by both instances', async () => {
    const client = new Client(nginx);
    await signup(client, alice.name);
    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    alice.secret = add.json.secret;
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                   { code: totpStep(alice.secret, 0) }), 200);
    const seen = await servedBy(4, () => client.get('/api/v1/me'));
    assert.deepEqual([...seen].sort(), [addr(a), addr(b)].sort(), 'round robin over both instances');

    // The password step on one instance, the code on the other (nginx alternates).
    alice.client = new Client(nginx);
    const first = await login(alice.client, alice.name);
    assert.equal(first.json?.status, 'second_factor', first.text);
    const second = await alice.client.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(alice.secret, 1) });
    assertStatus(second, 200);
    assert.notEqual(first.headers.get('x-upstream'), second.headers.get('x-upstream'));
    assertStatus(await alice.client.get('/api/v1/me'), 200);
  });

  test('the protected site: auth_request through either instance', async () => {
    const seen = await servedBy(4, async () => {
      const res = await app(alice.client);
      assert.equal(res.status, 200);
      assert.equal(res.body, `app user=${alice.name}\n`);
      return res;
    });
    assert.equal(seen.size, 2, `verified by ${[...seen]}`);
    const stranger = await curl(nginx, 'app.example.com', '/');
    assert.equal(stranger.status, 302, 'not signed in: to the sign-in page');
    assert.ok((stranger.headers.location ?? '').startsWith(`${nginx.url}/login`), stranger.headers.location);
  });

  test('push: a sign-in through nginx is approved by twostep-auth connected to the other instance', async () => {
    const name = uniqueName('carol');
    const client = new Client(nginx);
    await signup(client, name);
    const add = await client.post('/api/v1/methods/push', { label: 'phone' });
    assertStatus(add, 201);
    // The link names the site (nginx); this authenticator talks to instance B directly, as a
    // phone whose connection another balancer sent there would.
    const link = new URL(add.json.enrollment_uri);
    assert.equal(link.searchParams.get('server'), nginx.url);
    link.searchParams.set('server', b.url);
    const home = newAuthHome();
    homes.push(home);
    const enrolled = await runAuth(home, ['enroll', link.toString(), '--name', 'phone']);
    assert.equal(enrolled.code, 0, enrolled.stdout + enrolled.stderr);
    const seed = storedAccount(home).totp_seed;
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`,
                                   { code: totp(seed, nowS() - 30) }), 200);

    const watch = startWatch(home);
    try {
      await watch.next((e) => e.event === 'connected');
      // Sign in through nginx, and have the approval request created by A: then it can reach
      // the authenticator (on B) only through the event bus. nginx alternates, so after a
      // request B answered, the next one goes to A.
      const c = new Client(nginx);
      assert.equal((await login(c, name)).json?.status, 'second_factor');
      if ((await c.get('/healthz')).headers.get('x-upstream') === addr(a)) await c.get('/healthz');
      const r = await c.post('/api/v1/login/approval', {});
      assertStatus(r, 201);
      assert.equal(r.headers.get('x-upstream'), addr(a), 'the approval request was created by A');
      const approval = r.json;
      const seen = await watch.next((e) => e.event === 'approval' && e.id === approval.id, 5000);
      assert.ok(seen.choices.includes(approval.number), JSON.stringify(seen));

      // The sign-in page waits on A (long poll) while the answer goes to B.
      const onA = new Client(a);
      onA.cookies = new Map(c.cookies);
      const started = performance.now();
      const waiting = onA.get(`/api/v1/login/approval/${approval.id}?wait=20`);
      await sleep(300);
      watch.type(`${approval.id} ${approval.number}`);
      const answered = await watch.next((e) => e.event === 'answered' && e.id === approval.id);
      assert.equal(answered.ok, true, JSON.stringify(answered));
      const done = await waiting;
      const ms = performance.now() - started;
      assertStatus(done, 200);
      assert.equal(done.json.state, 'approved');
      assert.ok(ms < 5000, `the answer on B woke the wait on A at once, not at its timeout (${Math.round(ms)} ms)`);

      // Signed in: the new session works through nginx, on both instances.
      c.cookies = new Map(onA.cookies);
      const seen2 = await servedBy(4, async () => {
        const res = await c.get('/api/v1/me');
        assertStatus(res, 200);
        return res;
      });
      assert.equal(seen2.size, 2);
    } finally {
      await watch.stop();
    }
  });

  // Signs bob (password only) in through nginx and warms both instances' /verify caches with the
  // session.
  const bob = { name: uniqueName('bob') };
  async function cachedEverywhere() {
    if (!bob.client) {
      bob.client = new Client(nginx);
      await signup(bob.client, bob.name);
    }
    const c = new Client(nginx);
    assertStatus(await login(c, bob.name), 200);
    const seen = await servedBy(4, async () => {
      const res = await app(c);
      assert.equal(res.status, 200);
      return res;
    });
    assert.equal(seen.size, 2);
    const id = (await c.get('/api/v1/sessions')).json.sessions.find((s) => s.current).id;
    return { c, id };
  }

  // Revokes session `id` of bob through instance `on`, then expects the protected site to
  // refuse it through both instances within 1 s (their cache entries live a minute).
  async function revokedEverywhere({ c, id }, on) {
    const direct = new Client(on);
    direct.cookies = new Map(bob.client.cookies);
    assertStatus(await direct.delete(`/api/v1/sessions/${id}`), 200);
    const started = performance.now();
    const refused = await waitFor(async () => {
      const answers = await Promise.all([app(c), app(c)]);
      return answers.every((r) => r.status === 302);
    }, { timeoutMs: 1000, intervalMs: 20 });
    const ms = Math.round(performance.now() - started);
    assert.ok(refused, `the revoked session must be refused by both instances within 1 s (${ms} ms)`);
    // And stays refused, whichever instance answers.
    const seen = await servedBy(4, async () => {
      const res = await app(c);
      assert.equal(res.status, 302);
      return res;
    });
    assert.equal(seen.size, 2);
  }

  test('a session revoked on one instance is refused by both within 1 s (event bus, not the cache TTL)', async () => {
    await revokedEverywhere(await cachedEverywhere(), a);
    await revokedEverywhere(await cachedEverywhere(), b);
  });

  test('PostgreSQL restarted mid-run: clear 503s through nginx from both instances, then recovery', async () => {
    const before = await cachedEverywhere();
    cluster('halt');
    const seen = await servedBy(4, async () => {
      const res = await alice.client.get('/api/v1/me');
      assertError(res, 503, 'unavailable');
      assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
      return res;
    });
    assert.equal(seen.size, 2, 'both instances answered 503 themselves (none was marked failed)');
    assertError(await login(new Client(nginx), alice.name), 503, 'unavailable');
    assertStatus(await new Client(nginx).get('/healthz'), 200);

    cluster('start');
    for (const server of [a, b]) {
      const direct = new Client(server);
      direct.cookies = new Map(alice.client.cookies);
      const back = await waitFor(async () => (await direct.get('/api/v1/me')).status === 200,
                                 { timeoutMs: 15000, intervalMs: 100 });
      assert.ok(back, `${addr(server)} serves again without a restart`);
    }
    const me = await alice.client.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.twofa_enabled, true, 'rows from before the outage are there');

    // The listeners are back too: a revocation still reaches the other instance's cache at once.
    // (The session warmed before the outage is still cached on both.)
    for (const server of [a, b]) {
      const metrics = new Client(server);
      const listening = await waitFor(async () => /^twostep_event_bus_connected 1$/m.test((await metrics.get('/metrics')).text),
                                      { timeoutMs: 10000, intervalMs: 100 });
      assert.ok(listening, `${addr(server)}: the event listener reconnected\n${server.stderr}`);
    }
    await revokedEverywhere(before, b);
  });
});
