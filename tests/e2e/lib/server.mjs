// Starts the real twostep binary for a test file: port 0, a temp dir for the database
// and master key, cheap Argon2id settings. Parses "listening on http://ADDR:PORT".
//
//   const server = await startServer();   // server.url = 'http://127.0.0.1:PORT'
//   ...
//   await server.stop();                  // SIGTERM, then removes the temp dir

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// The repository root (CTest passes TWOSTEP_SOURCE_DIR; otherwise relative to this file).
export const sourceDir = process.env.TWOSTEP_SOURCE_DIR || path.resolve(here, '../../..');

export const binaryPath =
  process.env.TWOSTEP_BIN || path.join(sourceDir, 'build/release/src/twostep');

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export async function startServer({ env = {}, args = [] } = {}) {
  if (!existsSync(binaryPath)) {
    throw new Error(`twostep binary not found at ${binaryPath} (set TWOSTEP_BIN)`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'twostep-e2e-'));
  const output = [];
  const child = spawn(binaryPath, ['serve', ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TWOSTEP_SERVER_LISTEN: '127.0.0.1:0',
      TWOSTEP_SERVER_PUBLIC_URL: 'http://127.0.0.1',
      TWOSTEP_SERVER_WEB_DIR: path.join(sourceDir, 'web'),
      TWOSTEP_DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
      TWOSTEP_SECURITY_MASTER_KEY_FILE: path.join(dir, 'master.key'),
      TWOSTEP_SECURITY_ARGON2_MEMORY_KIB: '8192',
      TWOSTEP_SECURITY_ARGON2_ITERATIONS: '1',
      ...env,
    },
  });
  // Never leave a server behind if the test process dies.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });

  const url = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`twostep did not print "listening on" within ${READY_TIMEOUT_MS} ms:\n${output.join('')}`));
    }, READY_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      const text = chunk.toString();
      output.push(text);
      buffered += text;
      const match = buffered.match(/listening on (https?:\/\/[^\s]+)/);
      if (match) {
        clearTimeout(timer);
        // Use 127.0.0.1 even if the server printed another name for it.
        resolve(match[1].replace(/\/+$/, '').replace('://localhost:', '://127.0.0.1:'));
      }
    });
    child.stderr.on('data', (chunk) => output.push(chunk.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`twostep exited (code ${code}, signal ${signal}) before listening:\n${output.join('')}`));
    });
  }).catch(async (err) => {
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  return {
    url,
    dir,
    output: () => output.join(''),
    async stop() {
      process.removeListener('exit', killOnExit);
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exitPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
