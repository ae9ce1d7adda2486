// Operations: health, metrics, graceful shutdown, start-up config errors, master key file,
// and the `twostep` CLI against the same database as a running server.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, runCli, baseEnv } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, login, loginOk, signup, totpStep, uniqueName, waitFor, sleep,
  rawJsonPost,
  STRONG_PASSWORD, OTHER_STRONG_PASSWORD,
} from './lib/client.mjs';
import { appAuth, createAppPassword, verifyBasicStatus } from './lib/protocols.mjs';

// A new user signed in with an application password and TOTP turned on (in that order: the
// fresh sign-up session may create the password). → {client, username, appPassword}
async function userWithTotpAndAppPassword(server, prefix) {
  const username = uniqueName(prefix);
  const client = new Client(server);
  await signup(client, username);
  const { password } = await createAppPassword(client, { name: 'Phone mail' });
  const add = await client.post('/api/v1/methods/totp', {});
  assertStatus(add, 201);
  assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totpStep(add.json.secret, 0) }), 200);
  return { client, username, appPassword: password };
}

describe('ops', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('GET /healthz → 200 {"status":"ok"}', async () => {
    const res = await new Client(server).get('/healthz');
    assertStatus(res, 200);
    assert.equal(res.json.status, 'ok');
  });

  test('GET /metrics is Prometheus text with request counters and a queue gauge', async () => {
    const c = new Client(server);
    await c.get('/healthz');
    await c.get('/api/v1/me');
    const res = await c.get('/metrics');
    assertStatus(res, 200);
    assert.match(res.headers.get('content-type') || '', /^text\/plain/);
    const text = res.text;
    // Every line is a comment or a sample: name{labels} value
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (?:[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN)( -?[0-9]+)?$/,
                   `not a Prometheus sample line: ${line}`);
    }
    assert.match(text, /^# TYPE twostep_http_requests_total counter$/m);
    const reqLine = text.split('\n').find((l) => l.startsWith('twostep_http_requests_total{'));
    assert.ok(reqLine, 'no twostep_http_requests_total sample');
    assert.match(reqLine, /route="/);
    assert.match(reqLine, /method="/);
    assert.match(reqLine, /status="/);
    assert.match(text, /^twostep_http_requests_total\{[^}]*status="401"[^}]*\} [1-9]/m, 'the 401 on /me should be counted');
    const queue = text.split('\n').filter((l) => !l.startsWith('#') && /^twostep_\w*queue\w*/.test(l));
    assert.ok(queue.length > 0, `no pool queue gauge (grep "queue"):\n${text}`);
    const qname = queue[0].match(/^(\w+)/)[1];
    assert.match(text, new RegExp(`^# TYPE ${qname} gauge$`, 'm'), `${qname} should be a gauge`);
  });

  test('metrics do not leak secrets or user names', async () => {
    const name = uniqueName('metricsleak');
    const c = new Client(server);
    await signup(c, name);
    const res = await c.get('/metrics');
    assert.ok(!res.text.includes(name), 'user names must not be metric labels');
    assert.ok(!res.text.includes(c.session), 'tokens must not reach metrics');
  });

  test('the master key file is created with mode 0600', () => {
    const key = join(server.dir, 'master.key');
    assert.ok(existsSync(key), 'master.key not created');
    assert.equal(statSync(key).mode & 0o777, 0o600);
  });

  test('a new SQLite database is created 0600 (its WAL and shared memory too) in directories made 0700', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twostep-dbmode-'));
    const db = join(dir, 'state', 'sub', 'twostep.db');
    const own = await startServer({ env: { TWOSTEP_DATABASE_URL: `sqlite:${db}` } });
    try {
      await signup(new Client(own), uniqueName('mode'));  // a write: the WAL exists now
      assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, 'state', 'sub')).mode & 0o777, 0o700);
      for (const f of ['twostep.db', 'twostep.db-wal', 'twostep.db-shm']) {
        const p = join(dir, 'state', 'sub', f);
        assert.ok(existsSync(p), `${f} missing`);
        assert.equal(statSync(p).mode & 0o777, 0o600, `${f} is ${(statSync(p).mode & 0o777).toString(8)}`);
      }
    } finally {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('twostep version prints a version', async () => {
    const r = await runCli(['version'], { env: server.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  });

  test('twostep user add / list / disable against the running server', async () => {
    const name = uniqueName('cliuser');
    const add = await server.cli(['user', 'add', name, '--password-stdin'], { input: STRONG_PASSWORD + '\n' });
    assert.equal(add.code, 0, `user add failed: ${add.stdout}\n${add.stderr}`);
    assert.ok(!add.stdout.includes(STRONG_PASSWORD) && !add.stderr.includes(STRONG_PASSWORD), 'password echoed');

    const c = new Client(server);
    await loginOk(c, name);

    const list = await server.cli(['user', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`\\b${name}\\b`));

    const dup = await server.cli(['user', 'add', name, '--password-stdin'], { input: STRONG_PASSWORD + '\n' });
    assert.notEqual(dup.code, 0, 'adding an existing user should fail');

    const dis = await server.cli(['user', 'disable', name]);
    assert.equal(dis.code, 0, `user disable failed: ${dis.stdout}\n${dis.stderr}`);
    assertError(await login(new Client(server), name, STRONG_PASSWORD), 403, 'account_disabled');
    // Only after a correct password: a wrong one is the usual 401.
    assertError(await login(new Client(server), name, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
  });

  test('disabling a user ends their existing sessions', async () => {
    const name = uniqueName('clidis');
    const c = new Client(server);
    await signup(c, name);
    assertStatus(await c.get('/api/v1/verify'), 200);
    const dis = await server.cli(['user', 'disable', name]);
    assert.equal(dis.code, 0, dis.stderr);
    const gone = await waitFor(async () => (await c.get('/api/v1/me')).status === 401, { timeoutMs: 1500 });
    assert.ok(gone, 'a disabled user keeps a working session');
    const vgone = await waitFor(async () => (await c.get('/api/v1/verify')).status === 401, { timeoutMs: 1500 });
    assert.ok(vgone, 'a disabled user still passes /verify');
  });

  test('user add refuses a weak password', async () => {
    const name = uniqueName('cliweak');
    const r = await server.cli(['user', 'add', name, '--password-stdin'], { input: 'password123\n' });
    assert.notEqual(r.code, 0, 'weak password accepted by the CLI');
    assertError(await login(new Client(server), name, 'password123'), 401, 'invalid_credentials');
  });

  test('twostep user passwd NAME --password-stdin changes the password and ends the sessions', async () => {
    const name = uniqueName('clipw');
    const c = new Client(server);
    await signup(c, name);
    const r = await server.cli(['user', 'passwd', name, '--password-stdin'], { input: OTHER_STRONG_PASSWORD + '\n' });
    assert.equal(r.code, 0, `user passwd failed: ${r.stdout}\n${r.stderr}`);
    assertError(await login(new Client(server), name, STRONG_PASSWORD), 401, 'invalid_credentials');
    await loginOk(new Client(server), name, OTHER_STRONG_PASSWORD);
    // `user passwd` ends the user's sessions (within the 1-s /verify cache on other paths).
    const gone = await waitFor(async () => (await c.get('/api/v1/me')).status === 401, { timeoutMs: 1500 });
    assert.ok(gone, 'the old session survived a password change');
    // A weak password is refused and changes nothing.
    const weak = await server.cli(['user', 'passwd', name, '--password-stdin'], { input: 'password1\n' });
    assert.notEqual(weak.code, 0);
    await loginOk(new Client(server), name, OTHER_STRONG_PASSWORD);
  });

  test('twostep user enable undoes disable', async () => {
    const name = uniqueName('clien');
    await signup(new Client(server), name);
    assert.equal((await server.cli(['user', 'disable', name])).code, 0);
    assertError(await login(new Client(server), name), 403, 'account_disabled');
    const r = await server.cli(['user', 'enable', name]);
    assert.equal(r.code, 0, r.stderr);
    await loginOk(new Client(server), name);
  });

  test('twostep user audit NAME shows the security log, newest first', async () => {
    const name = uniqueName('audit');
    await signup(new Client(server), name);
    assertError(await login(new Client(server), name, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    await loginOk(new Client(server), name);
    const r = await server.cli(['user', 'audit', name]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0], /^TIME\s+EVENT\s+ADDRESS\s+DETAIL$/);
    const events = rows.slice(1).map((l) => l.split(/\s{2,}/)[1]);
    assert.deepEqual(events.slice(0, 2), ['login_succeeded', 'login_failed'], r.stdout);
    assert.ok(rows.slice(1, 3).every((l) => l.includes('127.0.0.1')), r.stdout);
    // The same table as `twostep audit` without the user column: UTC times, details as key=value.
    assert.ok(rows.slice(1).every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  /.test(l)), r.stdout);
    assert.ok(rows[2].endsWith(`username=${name} reason=password`), r.stdout);
    assert.ok(!r.stdout.includes(STRONG_PASSWORD) && !r.stdout.includes(OTHER_STRONG_PASSWORD));
    const one = await server.cli(['user', 'audit', name, '--limit', '1']);
    assert.equal(one.stdout.trim().split('\n').length, 2, one.stdout);
    for (const bad of [['user', 'audit', uniqueName('nosuch')], ['user', 'audit', name, '--limit', '0'],
                       ['user', 'audit', name, '--limit', 'x'], ['user', 'audit']]) {
      const res = await server.cli(bad);
      assert.notEqual(res.code, 0, `${bad.join(' ')} should fail`);
    }
  });

  test('twostep user reset-2fa NAME: password-only sign-in, sessions and application passwords ended', async () => {
    const bob = await userWithTotpAndAppPassword(server, 'reset');
    assert.equal((await login(new Client(server), bob.username)).json.status, 'second_factor');
    // The running server has cached both successes.
    assert.equal(await verifyBasicStatus(server, bob.username, bob.appPassword), 200);
    assert.equal((await bob.client.get('/api/v1/verify')).status, 200);

    const r = await server.cli(['user', 'reset-2fa', bob.username.toUpperCase()]);
    assert.equal(r.code, 0, r.stderr);
    // Two sessions: the signed-in one and the sign-in waiting for its second step.
    assert.equal(r.stdout, `two-step verification of ${bob.username} turned off; ended 2 sessions; ` +
                           'revoked 1 application password\n');
    // On SQLite the server's /verify cache lets go within sessions.verify_cache_ms; on
    // PostgreSQL the command's announcement drops it at once.
    assert.ok(await waitFor(async () => (await bob.client.get('/api/v1/verify')).status === 401, { timeoutMs: 2500 }),
              'the session survived the reset on /verify');
    assert.ok(await waitFor(async () => (await verifyBasicStatus(server, bob.username, bob.appPassword)) === 401, { timeoutMs: 2500 }),
              'the application password survived the reset on /verify');
    assertError(await appAuth(new Client(server), bob.username, bob.appPassword, 'imap'), 401);
    const c = new Client(server);
    assert.equal((await loginOk(c, bob.username)).json.status, 'ok', 'the password alone signs in now');
    const me = (await c.get('/api/v1/me')).json;
    assert.equal(me.twofa_enabled, false);
    assert.equal(me.recovery_codes_remaining, 0);
    const mine = (await c.get('/api/v1/audit?limit=50')).json.events;
    const entry = mine.find((e) => e.event === 'twofa_reset_by_operator');
    assert.ok(entry, JSON.stringify(mine.map((e) => e.event)));
    assert.deepEqual(entry.detail, { sessions_ended: '2', app_passwords_revoked: '1' });
    assert.ok(mine.some((e) => e.event === 'twofa_disabled' && e.detail.reason === 'operator_reset'));
    assert.ok(mine.some((e) => e.event === 'app_password_revoked'));
  });

  test('twostep user reset-2fa --keep-app-passwords leaves the mail client working', async () => {
    const carol = await userWithTotpAndAppPassword(server, 'resetkeep');
    const r = await server.cli(['user', 'reset-2fa', carol.username, '--keep-app-passwords']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /turned off; ended 1 session; application passwords kept\n$/);
    assert.ok(await waitFor(async () => (await carol.client.get('/api/v1/verify')).status === 401, { timeoutMs: 2500 }));
    assertStatus(await appAuth(new Client(server), carol.username, carol.appPassword, 'imap'), 200);
    assert.equal(await verifyBasicStatus(server, carol.username, carol.appPassword), 200);
    assert.equal((await loginOk(new Client(server), carol.username)).json.status, 'ok');
  });

  test('twostep user reset-2fa refuses a user without 2FA (nothing changes) and an unknown user', async () => {
    const name = uniqueName('reset2fa');
    const c = new Client(server);
    await signup(c, name);
    const { password } = await createAppPassword(c);
    const r = await server.cli(['user', 'reset-2fa', name]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /no two-step verification/);
    assert.equal(r.stdout, '');
    assert.equal((await c.get('/api/v1/verify')).status, 200);
    assertStatus(await appAuth(new Client(server), name, password, 'imap'), 200);
    const events = (await c.get('/api/v1/audit?limit=50')).json.events.map((e) => e.event);
    assert.ok(!events.includes('twofa_reset_by_operator') && !events.includes('app_password_revoked'), events.join());

    const unknown = await server.cli(['user', 'reset-2fa', uniqueName('nosuch')]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no such user/);
    const impossible = await server.cli(['user', 'reset-2fa', '!!']);
    assert.equal(impossible.code, 1);
    assert.match(impossible.stderr, /no such user/);
    assert.notEqual((await server.cli(['user', 'reset-2fa'])).code, 0);
    assert.notEqual((await server.cli(['user', 'reset-2fa', name, '--keep-app-passwords=maybe'])).code, 0);
  });

  test('user commands on an unknown user fail', async () => {
    const r = await server.cli(['user', 'disable', uniqueName('nosuch')]);
    assert.notEqual(r.code, 0);
  });

  test('unknown command → non-zero exit', async () => {
    const r = await runCli(['no-such-command'], { env: server.env });
    assert.notEqual(r.code, 0);
  });
});

// `twostep audit`: the whole site's log, on a server of its own so that the log holds only what
// these tests did.
describe('twostep audit (the site-wide security log)', () => {
  let server;
  let alice;
  let bob;
  const ghost = 'ghost\n"x"\u001b[31m'; // a typed username: newline, quotes, ESC (terminal colours)
  // A User-Agent with quotes, a backslash, a tab and two bytes that are not UTF-8 (Latin-1 "é", ÿ).
  const agent = Buffer.concat([Buffer.from('Mozilla/5.0 "quoted" \\ back\tslash ', 'latin1'),
                               Buffer.from([0xE9, 0xFF])]);
  const agentShown = 'Mozilla/5.0 "quoted" \\ back\tslash \uFFFD\uFFFD';
  // Oldest first, as done below.
  let done;

  before(async () => {
    server = await startServer();
    alice = uniqueName('sitea');
    bob = uniqueName('siteb');
    await signup(new Client(server), alice);
    await signup(new Client(server), bob);
    const wrong = await rawJsonPost(server.port, '/api/v1/login', { username: alice, password: OTHER_STRONG_PASSWORD }, agent);
    assert.equal(wrong.status, 401, wrong.body);
    assertError(await login(new Client(server), bob, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    assertError(await login(new Client(server), ghost, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    await sleep(1100); // the key rotation lands in a later second: --since can split them
    const rotate = await server.cli(['key', 'rotate']);
    assert.equal(rotate.code, 0, rotate.stderr);
    done = [
      [alice, 'account_created'], [alice, 'login_succeeded'], [bob, 'account_created'],
      [bob, 'login_succeeded'], [alice, 'login_failed'], [bob, 'login_failed'], ['-', 'login_failed'],
      ['-', 'master_key_rotated'],
    ];
  });
  after(async () => {
    await server?.stop();
  });

  // `twostep audit ARGS` as [user, event] rows (and the raw result), checking the table's form.
  async function table(args) {
    const r = await server.cli(['audit', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '', 'the table ends with a newline');
    assert.match(lines[0], /^TIME\s+USER\s+EVENT\s+ADDRESS\s+DETAIL$/);
    const rows = lines.slice(1).map((l) => l.split(/\s{2,}/));
    for (const row of rows) assert.match(row[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, r.stdout);
    // Columns are aligned: each starts at the same offset on every line.
    const starts = (l) => [...l.matchAll(/\s{2,}(?=\S)/g)].map((m) => m.index + m[0].length).slice(0, 3);
    for (const l of lines.slice(1)) assert.deepEqual(starts(l), starts(lines[0]), r.stdout);
    return { rows: rows.map((row) => [row[1], row[2]]), lines, r };
  }

  test('lists every account\'s entries and the operator\'s, newest first', async () => {
    const { rows, lines, r } = await table([]);
    assert.deepEqual(rows, [...done].reverse(), r.stdout);
    const key = lines[1];
    assert.match(key, /\s-\s+master_key_rotated\s+cli\s+key_id=2 previous_key_id=1$/, r.stdout);
    const failed = lines.find((l) => l.includes(alice) && l.includes('login_failed'));
    assert.match(failed, /127\.0\.0\.1\s+username=\S+ reason=password$/, r.stdout);
    // The typed username stays on its line, escaped; no ESC reaches the terminal.
    assert.ok(lines.some((l) => l.endsWith('username="ghost\\n\\"x\\"\\x1b[31m" reason=password')), r.stdout);
    assert.ok(!r.stdout.includes('\u001b'), 'ESC passed through to the terminal');
    assert.ok(!r.stdout.includes(STRONG_PASSWORD) && !r.stdout.includes(OTHER_STRONG_PASSWORD));
  });

  test('each filter: --user, --event, --since, --limit, and together', async () => {
    const newest = (list) => [...list].reverse();
    assert.deepEqual((await table(['--user', alice])).rows, newest(done.filter(([u]) => u === alice)));
    assert.deepEqual((await table(['--user', bob.toUpperCase()])).rows, newest(done.filter(([u]) => u === bob)));
    assert.deepEqual((await table(['--event', 'login_failed'])).rows,
                     newest(done.filter(([, e]) => e === 'login_failed')));
    assert.deepEqual((await table(['--event', 'master_key_rotated'])).rows, [['-', 'master_key_rotated']]);
    assert.deepEqual((await table(['--event', 'no_such_event'])).rows, []);
    assert.deepEqual((await table(['--limit', '2'])).rows, newest(done).slice(0, 2));
    assert.deepEqual((await table(['--since', '1h'])).rows, newest(done));
    assert.deepEqual((await table(['--since', '7d', '--limit', '1000'])).rows, newest(done));
    assert.deepEqual((await table(['--since', '2999-01-01T00:00:00Z'])).rows, []);
    assert.deepEqual((await table(['--since', '2999-01-01'])).rows, []);
    // From the second of the key rotation on: the sign-ins came more than a second earlier.
    const { lines } = await table(['--event', 'master_key_rotated']);
    const keyTime = lines[1].split(/\s+/)[0];
    assert.deepEqual((await table(['--since', keyTime])).rows, [['-', 'master_key_rotated']]);
    assert.deepEqual((await table(['--user', alice, '--event', 'login_failed', '--since', '1h'])).rows,
                     [[alice, 'login_failed']]);
    assert.deepEqual((await table(['--user', alice, '--event', 'master_key_rotated'])).rows, []);
  });

  test('--json: one JSON object per line, valid UTF-8, client text escaped', async () => {
    const r = await server.cli(['audit', '--json'], { rawStdout: true });
    assert.equal(r.code, 0, r.stderr);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(r.stdout); // throws if not UTF-8
    assert.ok(text.endsWith('\n'));
    const lines = text.slice(0, -1).split('\n');
    assert.equal(lines.length, done.length, text);
    const events = lines.map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => [e.user ?? '-', e.event]), [...done].reverse());
    for (const e of events) {
      assert.deepEqual(Object.keys(e), ['id', 'at', 'time', 'user_id', 'user', 'event', 'ip', 'user_agent', 'detail']);
      assert.equal(e.time, new Date(e.at * 1000).toISOString().replace('.000Z', 'Z'));
      assert.equal(typeof e.detail, 'object');
    }
    assert.ok(events.every((e, i) => i === 0 || e.at <= events[i - 1].at), 'newest first');
    const key = events[0];
    assert.equal(key.user, null);
    assert.equal(key.user_id, 0);
    assert.deepEqual(key.detail, { key_id: '2', previous_key_id: '1' });
    const failed = events.find((e) => e.user === alice && e.event === 'login_failed');
    assert.equal(failed.user_agent, agentShown);
    assert.equal(failed.ip, '127.0.0.1');
    assert.deepEqual(failed.detail, { username: alice, reason: 'password' });
    const unknown = events.find((e) => e.user === null && e.event === 'login_failed');
    assert.equal(unknown.user_id, 0);
    assert.equal(unknown.detail.username, ghost);
    // Filters apply to --json the same way.
    const one = await server.cli(['audit', '--json', '--user', bob, '--event', 'login_failed']);
    assert.equal(one.code, 0, one.stderr);
    const only = one.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(only.map((e) => [e.user, e.event]), [[bob, 'login_failed']]);
  });

  test('bad input: a clear message and a non-zero exit, nothing printed', async () => {
    const bad = [
      [['--since', 'yesterday'], /--since.*2026-11-29T10:00:00Z/],
      [['--since', '2026-02-30'], /--since/],
      [['--since', '2026-11-29 10:00'], /--since/],
      [['--since', '-1h'], /--since/],
      [['--limit', '0'], /--limit/],
      [['--limit', '1001'], /--limit/],
      [['--limit', 'x'], /--limit/],
      [['--event', 'Login Failed'], /--event.*snake_case/],
      [['--user', uniqueName('nosuch')], /no such user/],
      [['--user', 'x'], /no such user/],
      [['--no-such-flag'], /no-such-flag/],
    ];
    for (const [args, message] of bad) {
      const r = await server.cli(['audit', ...args]);
      assert.notEqual(r.code, 0, `audit ${args.join(' ')} should fail`);
      assert.match(r.stderr, message, `audit ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', `audit ${args.join(' ')} printed ${r.stdout}`);
    }
  });
});

describe('process lifecycle', () => {
  test('SIGTERM → exit 0, data persists across a restart', async () => {
    const server = await startServer();
    try {
      const name = uniqueName('persist');
      await signup(new Client(server), name);
      await server.restart(); // asserts exit 0 on SIGTERM
      await loginOk(new Client(server), name);
    } finally {
      await server.stop();
    }
  });

  test('SIGTERM the moment the server says it listens: a clean exit 0 every time', async () => {
    // The signal may arrive before the event loops run; it must still drain and exit 0, not
    // kill the process with the default action (stop() asserts code 0, no signal).
    for (let i = 0; i < 15; i++) {
      const s = await startServer();
      await s.stop();
    }
  });

  test('SIGTERM with an open keep-alive connection still exits 0 promptly', async () => {
    const server = await startServer();
    const c = new Client(server);
    assertStatus(await c.get('/healthz'), 200); // leaves an idle keep-alive connection
    const t0 = performance.now();
    await server.stop();
    assert.ok(performance.now() - t0 < 11000);
  });

  test('a bad configuration value fails start-up with a clear message naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twostep-it-'));
    try {
      const env = baseEnv(dir, { TWOSTEP_SERVER_LISTEN: 'not-an-address' });
      const r = await runCli(['serve'], { env, cwd: dir, timeoutMs: 10000 });
      assert.notEqual(r.code, 0, 'serve should refuse a bad listen address');
      assert.match(r.stdout + r.stderr, /server\.listen|TWOSTEP_SERVER_LISTEN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
