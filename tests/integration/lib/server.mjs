// Starts the real `twostep serve` binary in a temporary directory on a free port, and runs
// CLI subcommands against the same database and key file.
import { spawn } from 'node:child_process';
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

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
});

function launch(dir, env, { startTimeoutMs = 20000 } = {}) {
  const child = spawn(twostepBin(), ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

// startServer({env}) → {url, port, dir, env, stop(), restart(), stdout, stderr, pid}
export async function startServer({ env: overrides = {}, keepDir = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'twostep-it-'));
  const env = baseEnv(dir, overrides);
  let run = launch(dir, env);
  const addr = await run.listening;

  const server = {
    dir,
    env,
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
      if (removeDir) rmSync(dir, { recursive: true, force: true });
      assert.ok(result !== null, `twostep serve did not exit within 12 s of SIGTERM\nstderr:\n${run.out.stderr}`);
      assert.deepEqual(result, { code: 0, signal: null },
                       `twostep serve should exit 0 on SIGTERM\nstderr:\n${run.out.stderr}`);
    },
    // Stops and starts again on the same directory (database and key); the port changes.
    async restart() {
      await server.stop({ removeDir: false });
      run = launch(dir, env);
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

// runCli(args, {env, input, cwd, timeoutMs, bin}) → {code, signal, stdout, stderr}
// `bin`: another program than twostep (e.g. twostep-auth).
export function runCli(args, { env = process.env, input, cwd, timeoutMs = 30000, bin } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin ?? twostepBin(), args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bin ?? 'twostep'} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading stdin
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}
