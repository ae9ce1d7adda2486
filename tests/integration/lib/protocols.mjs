// Helpers for application passwords and the protocol checks: creating passwords over the API,
// HTTP Basic headers and /verify checks with them, running twostep-checkpassword the way
// Dovecot does (fd 3), and finding free ports and the binaries.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from './client.mjs';
import { twostepBin } from './server.mjs';

export const APP_PASSWORD_SHAPE = /^[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){5}$/;

// twostep-checkpassword is built next to twostep.
export function checkpasswordBin() {
  const p = join(dirname(twostepBin()), 'twostep-checkpassword');
  if (!existsSync(p)) throw new Error(`twostep-checkpassword not found at ${p}: build it (ninja twostep-checkpassword)`);
  return p;
}

export function basic(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

// Creates an application password for a signed-in client; returns {id, password, body}.
export async function createAppPassword(client, { name = 'Test client', scopes = ['all'] } = {}) {
  const res = await client.post('/api/v1/app-passwords', { name, scopes });
  assert.equal(res.status, 201, `create app password: HTTP ${res.status} ${res.text}`);
  assert.match(res.json.password, APP_PASSWORD_SHAPE);
  return { id: res.json.app_password.id, password: res.json.password, body: res.json };
}

// GET /api/v1/verify with HTTP Basic and no cookies, as nginx asks it: the status.
export async function verifyBasicStatus(server, username, password) {
  const headers = { authorization: basic(username, password) };
  return (await new Client(server).get('/api/v1/verify', { headers, cookies: false })).status;
}

export function appAuth(client, username, password, service = 'imap', opts = {}) {
  return client.post('/api/v1/app-auth', { username, password, service }, { cookies: false, ...opts });
}

// A free TCP port on 127.0.0.1 (closed again before returning).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Runs twostep-checkpassword like Dovecot: "username\0password\0" on fd 3, the reply program
// as arguments. The default reply program prints $USER and exits 0.
// → {code, stdout, stderr}
export function runCheckpassword({ input, args, env = {}, url, timeoutMs = 20000 }) {
  const reply = args ?? ['/bin/sh', '-c', 'printf "%s" "$USER"'];
  const fullEnv = { PATH: process.env.PATH, ...env };
  if (url !== undefined) fullEnv.TWOSTEP_CHECKPASSWORD_URL = url;
  return new Promise((resolve, reject) => {
    const child = spawn(checkpasswordBin(), reply, {
      env: fullEnv,
      stdio: ['ignore', 'pipe', 'pipe', input === null ? 'ignore' : 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`twostep-checkpassword did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => { // not 'exit': stdout may still be on its way then
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (input !== null) {
      const fd3 = child.stdio[3];
      fd3.on('error', () => {});
      fd3.end(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
    }
  });
}

// "user\0password\0" as Dovecot writes it.
export function checkpasswordInput(username, password) {
  return Buffer.concat([Buffer.from(username, 'utf8'), Buffer.from([0]), Buffer.from(password, 'utf8'), Buffer.from([0])]);
}

// Looks after a spawned server (nginx, Dovecot): killed if the test process exits, and stop()
// sends `signal`, waits up to 5 s (then SIGKILL) and removes `dir`.
export function supervise(child, { signal = 'SIGTERM', dir } = {}) {
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, signal: sig })));
  return {
    exited,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
