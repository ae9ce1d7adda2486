// Starts the real `twostep serve` binary in a temporary directory on a free port, and runs
// CLI subcommands against the same database and key file.
//
// The database is SQLite in that directory, or, with TWOSTEP_TEST_DATABASE=postgres, a fresh
// database per server in the PostgreSQL test cluster named by TWOSTEP_TEST_PG_URL (ctest runs
// every integration file both ways: integration.<name> and integration_pg.<name>).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const DEFAULT_BINS = [
  '/work/main/build/release/src/twostep',
  '/work/main/build/lead/src/twostep',
  '/work/main/build/debug/src/twostep',
];

export function twostepBin() {
  if (process.env.TWOSTEP_BIN) return process.env.TWOSTEP_BIN;
  const found = DEFAULT_BINS.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`no twostep binary: set TWOSTEP_BIN or build one of ${DEFAULT_BINS.join(', ')}`);
  }
  return found;
}

// The environment a server or CLI in `dir` runs with. Inherited TWOSTEP_* variables are
// dropped so that a developer's shell cannot change what the tests see.
export function baseEnv(dir, overrides = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TWOSTEP_')) env[k] = v;
  }
  Object.assign(env, {
    TWOSTEP_SERVER_LISTEN: '127.0.0.1:0',
    TWOSTEP_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    TWOSTEP_SECURITY_MASTER_KEY_FILE: join(dir, 'master.key'),
    TWOSTEP_SECURITY_ARGON2_MEMORY_KIB: '8192',
    TWOSTEP_SECURITY_ARGON2_ITERATIONS: '1',
    TWOSTEP_SERVER_PUBLIC_URL: 'http://127.0.0.1',
  });
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

// 'sqlite' (default) or 'postgres'. Anything else is a mistake worth stopping for.
export function testDatabaseKind() {
  const kind = process.env.TWOSTEP_TEST_DATABASE || 'sqlite';
  if (kind !== 'sqlite' && kind !== 'postgres') {
    throw new Error(`TWOSTEP_TEST_DATABASE=${kind}: expected sqlite or postgres`);
  }
  return kind;
}

// The test cluster's administrator URL. Missing is an error, never a reason to skip.
export function pgAdminUrl() {
  const url = process.env.TWOSTEP_TEST_PG_URL;
  if (!url) {
    throw new Error('PostgreSQL tests need TWOSTEP_TEST_PG_URL: ' +
                    'export TWOSTEP_TEST_PG_URL=$(scripts/pg-test-cluster start)');
  }
  return url;
}

// Runs one SQL statement with psql; returns its output (unaligned, tuples only).
export function psql(url, sql) {
  const r = spawnSync('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
                      { encoding: 'utf8', timeout: 30000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql: ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

// The same URL naming another database.
export function pgUrlFor(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

// A fresh database "t_<random hex>" (no quoting needed) → {name, url, drop()}.
export function createPgDatabase(adminUrl = pgAdminUrl()) {
  const name = `t_${randomBytes(8).toString('hex')}`;
  psql(adminUrl, `CREATE DATABASE ${name}`);
  return {
    name,
    url: pgUrlFor(adminUrl, name),
    drop() {
      psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
});

function launch(dir, env, { startTimeoutMs = 20000, configFile } = {}) {
  const args = configFile ? ['--config', configFile, 'serve'] : ['serve'];
  const child = spawn(twostepBin(), args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out = { stdout: '', stderr: '' };
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (out.stderr += d));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`twostep serve did not print "listening on" within ${startTimeoutMs} ms\n` +
                       `stdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
    }, startTimeoutMs);
    child.stdout.on('data', (d) => {
      out.stdout += d;
      const m = out.stdout.match(/listening on http:\/\/([0-9.]+|\[[0-9a-f:]+\]):(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1], port: Number(m[2]) });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`twostep serve exited early (code ${code}, signal ${signal})\n` +
                       `stdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
    });
  });
  return { child, out, exited, listening };
}

// startServer({env, configFile?}) → {url, port, dir, env, stop(), restart(), stdout, stderr, pid}
// With configFile, `twostep --config FILE serve` (the environment still wins over the file).
export async function startServer({ env: overrides = {}, keepDir = false, configFile } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'twostep-it-'));
  // A test that names its own database (e.g. a private PostgreSQL cluster) keeps it.
  let pgdb = null;
  if (testDatabaseKind() === 'postgres' && !('TWOSTEP_DATABASE_URL' in overrides)) {
    pgdb = createPgDatabase();
    overrides = { ...overrides, TWOSTEP_DATABASE_URL: pgdb.url };
  }
  const env = baseEnv(dir, overrides);
  let run = launch(dir, env, { configFile });
  let addr;
  try {
    addr = await run.listening;
  } catch (e) {
    pgdb?.drop();
    throw e;
  }

  const server = {
    dir,
    env,
    database: env.TWOSTEP_DATABASE_URL.startsWith('postgres') ? 'postgres' : 'sqlite',
    port: addr.port,
    url: `http://${addr.host}:${addr.port}`,
    get stdout() {
      return run.out.stdout;
    },
    get stderr() {
      return run.out.stderr;
    },
    get pid() {
      return run.child.pid;
    },
    get exited() {
      return run.exited;
    },
    // SIGTERM, and the process must exit with code 0 within 12 s.
    async stop({ removeDir = !keepDir } = {}) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGTERM');
      }
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), 12000);
      });
      const result = await Promise.race([run.exited, timeout]);
      clearTimeout(timer);
      if (result === null) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
      if (removeDir) {
        rmSync(dir, { recursive: true, force: true });
        pgdb?.drop();
        pgdb = null;
      }
      assert.ok(result !== null, `twostep serve did not exit within 12 s of SIGTERM\nstderr:\n${run.out.stderr}`);
      assert.deepEqual(result, { code: 0, signal: null },
                       `twostep serve should exit 0 on SIGTERM\nstderr:\n${run.out.stderr}`);
    },
    // Stops and starts again on the same directory (database and key); the port changes.
    async restart() {
      await server.stop({ removeDir: false });
      run = launch(dir, env, { configFile });
      const a = await run.listening;
      server.port = a.port;
      server.url = `http://${a.host}:${a.port}`;
      return server;
    },
    // Runs `twostep <args>` with the server's environment (database URL, key file).
    cli(args, opts = {}) {
      return runCli(args, { ...opts, env: { ...env, ...(opts.env || {}) }, cwd: dir });
    },
  };
  return server;
}

// runCli(args, {env, input, cwd, timeoutMs, bin, rawStdout}) → {code, signal, stdout, stderr}
// `bin`: another program than twostep (e.g. twostep-auth). `rawStdout`: stdout as a Buffer of
// the bytes written, not decoded (to check that they are valid UTF-8).
export function runCli(args, { env = process.env, input, cwd, timeoutMs = 30000, bin, rawStdout = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin ?? twostepBin(), args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    const chunks = [];
    if (!rawStdout) child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (rawStdout ? chunks.push(d) : (stdout += d)));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin ?? 'twostep'} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // 'close', not 'exit': at 'exit' the last of stdout and stderr may still be on its way.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout: rawStdout ? Buffer.concat(chunks) : stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading stdin
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}
