// `twostep config check` and `twostep config show`: the configuration checked as `serve` loads
// it, without side effects (nothing created, migrated or written), and the effective settings
// printed as TOML with secrets redacted. Decisions (README "Checking the configuration"): a
// master key file readable by group or others is an error, not a warning, because `serve`
// refuses to start with it; a missing key file or SQLite database is a note (serve creates them).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  runCli, testDatabaseKind, createPgDatabase, psql,
} from './lib/server.mjs';

const SOURCE_DIR = process.env.TWOSTEP_SOURCE_DIR ?? fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'Sup3rS3cretPassw0rd';

// The process environment without any TWOSTEP_* variable, plus `extra`.
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TWOSTEP_')) env[k] = v;
  }
  return Object.assign(env, extra);
}

// Every path below `dir`, sorted: what a command must leave as it found it.
function listing(dir) {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

async function check(args, { dir, env = {} } = {}) {
  const r = await runCli(['config', 'check', ...args], { env: cleanEnv(env), cwd: dir });
  return { ...r, all: r.stdout + r.stderr };
}

describe('twostep config check / show', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twostep-config-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // A fresh empty directory for one test.
  function emptyDir(name) {
    const d = join(dir, name);
    mkdirSync(d);
    return d;
  }

  test('defaults, no file: OK, says what serve will create, and creates nothing', async () => {
    const d = emptyDir('defaults');
    const r = await check([], { dir: d });
    assert.equal(r.code, 0, r.all);
    assert.equal(r.stdout, 'config OK: defaults (no file)\n');
    assert.match(r.stderr, /^note: security\.master_key_file: var\/master\.key does not exist yet; twostep serve creates it/m);
    assert.match(r.stderr, /^note: database\.url: var\/twostep\.db does not exist yet/m);
    const show = await runCli(['config', 'show'], { env: cleanEnv(), cwd: d });
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual(listing(d), []);
  });

  test('deploy/single-server/twostep.toml (paths moved into a temporary directory) is OK', async () => {
    const d = emptyDir('single');
    const toml = readFileSync(join(SOURCE_DIR, 'deploy/single-server/twostep.toml'), 'utf8')
      .replaceAll('/var/lib/twostep', join(d, 'state'))
      .replaceAll('/usr/local/share/twostep/web', join(SOURCE_DIR, 'web'));
    const file = join(d, 'twostep.toml');
    writeFileSync(file, toml);
    const before = listing(d);
    const r = await check(['--config', file], { dir: d });
    assert.equal(r.code, 0, r.all);
    assert.equal(r.stdout, `config OK: ${file}\n`);
    assert.doesNotMatch(r.stderr, /^(error|warning):/m);
    // The global option names the file too.
    const global = await runCli(['-c', file, 'config', 'check'], { env: cleanEnv(), cwd: d });
    assert.equal(global.code, 0, global.stderr);
    assert.equal(global.stdout, `config OK: ${file}\n`);
    assert.deepEqual(listing(d), before, 'config check created files');
  });

  test('an unknown key, a wrong type and a bad environment override are errors naming the key', async () => {
    const d = emptyDir('bad');
    const unknown = join(d, 'unknown.toml');
    writeFileSync(unknown, '[server]\nlisten = "127.0.0.1:9000"\nlisen = "x"\n');
    let r = await check(['--config', unknown], { dir: d });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: .*unknown key server\.lisen$/m);
    assert.match(r.stderr, /^config NOT OK: /m);
    assert.equal(r.stdout, '');

    const wrongType = join(d, 'type.toml');
    writeFileSync(wrongType, '[server]\nthreads = "four"\n');
    r = await check(['--config', wrongType], { dir: d });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: server\.threads: expected an integer$/m);

    r = await check([], { dir: d, env: { TWOSTEP_SERVER_THREADS: 'abc' } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: TWOSTEP_SERVER_THREADS: expected an integer, got 'abc'$/m);

    r = await check(['--config', join(d, 'missing.toml')], { dir: d });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /missing\.toml/);

    // Checks serve makes after loading: the listen address and the SMS settings.
    r = await check([], { dir: d, env: { TWOSTEP_SERVER_LISTEN: '127.0.0.1:99999', TWOSTEP_SMS_ALLOWED_REGIONS: 'CH,XX' } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: server\.listen: bad address or port/m);
    assert.match(r.stderr, /^error: sms\.allowed_regions/m);
    assert.deepEqual(listing(d), ['type.toml', 'unknown.toml']);
  });

  test('master key file: not a file, open to group or others, malformed or below a file are errors', async () => {
    const d = emptyDir('key');
    const key = join(d, 'master.key');
    const env = { TWOSTEP_SECURITY_MASTER_KEY_FILE: key, TWOSTEP_DATABASE_URL: `sqlite:${join(d, 'db.sqlite')}` };
    // A directory where the file should be: cannot be read (root reads any mode, so no chmod 000).
    mkdirSync(key);
    let r = await check([], { dir: d, env });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: security\.master_key_file: master key file .*master\.key: is not a regular file$/m);
    rmSync(key, { recursive: true });

    const content = `1 ${'ab'.repeat(32)}\n`;
    writeFileSync(key, content, { mode: 0o644 });
    chmodSync(key, 0o644);
    r = await check([], { dir: d, env });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: security\.master_key_file: .*is accessible by group or others \(mode 0644\); run chmod 600 on it$/m);
    assert.ok(!r.all.includes('abab'), 'key bytes printed');

    chmodSync(key, 0o600);
    r = await check([], { dir: d, env });
    assert.equal(r.code, 0, r.all);
    assert.doesNotMatch(r.stderr, /master_key_file/);

    writeFileSync(key, '1 nothex\n');
    r = await check([], { dir: d, env });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: security\.master_key_file: .*line 1/m);

    r = await check([], { dir: d, env: { ...env, TWOSTEP_SECURITY_MASTER_KEY_FILE: join(key, 'sub', 'master.key') } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: security\.master_key_file: master key file .*sub\/master\.key: cannot open \(Not a directory\)$/m);
    assert.deepEqual(listing(d), ['master.key']);
  });

  test('database, web directory, metrics token and cookie domain are checked', async () => {
    const d = emptyDir('files');
    const env = { TWOSTEP_SECURITY_MASTER_KEY_FILE: join(d, 'master.key') };
    writeFileSync(join(d, 'plain'), 'x');
    let r = await check([], { dir: d, env: { ...env, TWOSTEP_DATABASE_URL: `sqlite:${join(d, 'plain', 'db.sqlite')}` } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: database\.url: .*plain\/db\.sqlite: Not a directory$/m);
    r = await check([], { dir: d, env: { ...env, TWOSTEP_DATABASE_URL: 'mysql://x@y/z' } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: database\.url: unsupported scheme "mysql"/m);
    r = await check([], { dir: d, env: { ...env, TWOSTEP_DATABASE_URL: 'sqlite:' } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: database\.url: "sqlite:" needs a file path/m);

    r = await check([], { dir: d, env: { ...env, TWOSTEP_SERVER_WEB_DIR: join(d, 'no-web') } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: server\.web_dir: .*no-web is not a directory/m);

    const token = join(d, 'metrics.token');
    r = await check([], { dir: d, env: { ...env, TWOSTEP_METRICS_TOKEN_FILE: token } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: metrics\.token_file /m);
    writeFileSync(token, 'TokenContent-0123456789abcdef\n', { mode: 0o644 });
    chmodSync(token, 0o644);
    r = await check([], { dir: d, env: { ...env, TWOSTEP_METRICS_TOKEN_FILE: token } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: metrics\.token_file /m);
    assert.ok(!r.all.includes('TokenContent'), 'token printed');
    chmodSync(token, 0o600);
    r = await check([], { dir: d, env: { ...env, TWOSTEP_METRICS_TOKEN_FILE: token } });
    assert.equal(r.code, 0, r.all);

    r = await check([], { dir: d, env: { ...env, TWOSTEP_SERVER_PUBLIC_URL: 'https://id.example.org', TWOSTEP_SESSIONS_COOKIE_DOMAIN: '.example.com' } });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: sessions\.cookie_domain: \.example\.com does not contain id\.example\.org/m);
    // Plain http on a real host works, but without Secure cookies: a warning, exit 0.
    r = await check([], { dir: d, env: { ...env, TWOSTEP_SERVER_PUBLIC_URL: 'http://id.example.com' } });
    assert.equal(r.code, 0, r.all);
    assert.match(r.stderr, /^warning: server\.public_url: http:\/\/ for id\.example\.com: session cookies are not Secure/m);
    assert.deepEqual(listing(d), ['metrics.token', 'plain']);
  });

  test('secrets are never printed: PostgreSQL password, Twilio token, gateway headers', async () => {
    const d = emptyDir('secrets');
    const env = {
      TWOSTEP_SECURITY_MASTER_KEY_FILE: join(d, 'master.key'),
      TWOSTEP_DATABASE_URL: `postgresql://twostep:${SECRET}@127.0.0.1:1/twostep?sslmode=disable&password=${SECRET}`,
      TWOSTEP_SMS_TWILIO_AUTH_TOKEN: `${SECRET}-twilio`,
      TWOSTEP_SMS_HTTP_HEADERS: `["Authorization: Bearer ${SECRET}-header"]`,
      TWOSTEP_SMS_HTTP_URL: `https://user:${SECRET}@sms.example.com/send?api_key=${SECRET}&to=x`,
    };
    let r = await check([], { dir: d, env });
    assert.equal(r.code, 0, r.all);
    assert.match(r.stderr, /^note: database\.url: a PostgreSQL URL; not connected/m);
    assert.ok(!r.all.includes(SECRET), r.all);
    r = await check(['--connect'], { dir: d, env });
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^error: database\.url: the PostgreSQL server does not answer \(.*127\.0\.0\.1.*\)$/m);
    assert.ok(!r.all.includes(SECRET), r.all);
    const show = await runCli(['config', 'show'], { env: cleanEnv(env), cwd: d });
    assert.equal(show.code, 0, show.stderr);
    assert.ok(!show.stdout.includes(SECRET), show.stdout);
    assert.match(show.stdout, /^url = 'postgresql:\/\/twostep:<redacted>@127\.0\.0\.1:1\/twostep\?sslmode=disable&password=<redacted>'$/m);
    assert.match(show.stdout, /^twilio_auth_token = '<redacted>'$/m);
    assert.match(show.stdout, /^http_headers = \[ 'Authorization: <redacted>' \]$/m);
    assert.match(show.stdout, /^http_url = 'https:\/\/user:<redacted>@sms\.example\.com\/send\?api_key=<redacted>&to=x'$/m);
    assert.deepEqual(listing(d), []);
  });

  test('config show prints every section with defaults, and check accepts its output (round trip)', async () => {
    const d = emptyDir('roundtrip');
    const env = {
      TWOSTEP_SERVER_THREADS: '3',
      TWOSTEP_ACCOUNTS_OPEN_SIGNUP: 'false',
      TWOSTEP_SMS_ALLOWED_REGIONS: 'CH,DE',
      TWOSTEP_TOTP_ISSUER: 'Example "SSO" \\ it\'s',
      TWOSTEP_SECURITY_MASTER_KEY_FILE: join(d, 'state', 'master.key'),
      TWOSTEP_DATABASE_URL: `sqlite:${join(d, 'state', 'db.sqlite')}`,
    };
    const first = await runCli(['config', 'show'], { env: cleanEnv(env), cwd: d });
    assert.equal(first.code, 0, first.stderr);
    for (const section of ['server', 'database', 'security', 'accounts', 'orgs', 'sessions', 'rate_limit',
      'totp', 'sms', 'push', 'webauthn', 'metrics']) {
      assert.equal(first.stdout.split('\n').filter((l) => l === `[${section}]`).length, 1, `[${section}]`);
    }
    assert.match(first.stdout, /^threads = 3$/m);
    assert.match(first.stdout, /^open_signup = false$/m);
    assert.match(first.stdout, /^allowed_regions = \[ 'CH', 'DE' \]$/m);
    assert.match(first.stdout, /^password_min_length = 10$/m);  // a default
    const file = join(d, 'shown.toml');
    writeFileSync(file, first.stdout);
    // The file alone (no environment) gives the same configuration again.
    const r = await check(['--config', file], { dir: d });
    assert.equal(r.code, 0, r.all);
    const again = await runCli(['config', 'show', '--config', file], { env: cleanEnv(), cwd: d });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, first.stdout);
    assert.deepEqual(listing(d), ['shown.toml']);
  });

  test('config show refuses a bad configuration like serve', async () => {
    const r = await runCli(['config', 'show'], { env: cleanEnv({ TWOSTEP_SERVER_THREADS: 'abc' }) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TWOSTEP_SERVER_THREADS: expected an integer/);
    assert.equal(r.stdout, '');
  });

  if (testDatabaseKind() === 'postgres') {
    test('PostgreSQL --connect: reads the schema version, writes nothing, refuses a newer schema', async () => {
      const d = emptyDir('pg');
      const db = createPgDatabase();
      try {
        const env = { TWOSTEP_SECURITY_MASTER_KEY_FILE: join(d, 'master.key'), TWOSTEP_DATABASE_URL: db.url };
        let r = await check(['--connect'], { dir: d, env });
        assert.equal(r.code, 0, r.all);
        assert.match(r.stderr, /^note: database\.url: PostgreSQL answers; schema version 0 /m);
        assert.equal(psql(db.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), '0');
        const m = await runCli(['migrate'], { env: cleanEnv(env), cwd: d });
        assert.equal(m.code, 0, m.stderr);
        const known = Number(psql(db.url, 'SELECT max(version) FROM schema_version'));
        r = await check(['--connect'], { dir: d, env });
        assert.equal(r.code, 0, r.all);
        assert.match(r.stderr, new RegExp(`^note: database\\.url: PostgreSQL answers; schema version ${known} `, 'm'));
        psql(db.url, `INSERT INTO schema_version(version, name, applied_at) VALUES (${known + 1}, 'future', 0)`);
        r = await check(['--connect'], { dir: d, env });
        assert.equal(r.code, 1, r.all);
        assert.match(r.stderr, new RegExp(`^error: database\\.url: the database was migrated by a newer twostep \\(schema version ${known + 1}, this binary knows up to ${known}\\)$`, 'm'));
        assert.equal(psql(db.url, 'SELECT count(*) FROM schema_version'), String(known + 1));
      } finally {
        db.drop();
      }
    });
  }
});
