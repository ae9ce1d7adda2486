// Drives the real `twostep-auth` binary (each test authenticator has its own
// XDG_CONFIG_HOME), signs device requests in JavaScript for tampering tests, and finds a
// free port so that server.public_url (which goes into enrolment links) is right.
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, sign as edSign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

import { twostepBin } from './server.mjs';

export function authBin() {
  if (process.env.TWOSTEP_AUTH_BIN) return process.env.TWOSTEP_AUTH_BIN;
  const next = join(dirname(twostepBin()), 'twostep-auth');
  if (!existsSync(next)) throw new Error(`no twostep-auth next to ${twostepBin()}: set TWOSTEP_AUTH_BIN`);
  return next;
}

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

// Server environment for push tests: a fixed port so enrolment links point at the server.
export async function pushServerEnv(extra = {}) {
  const port = await freePort();
  return {
    TWOSTEP_SERVER_LISTEN: `127.0.0.1:${port}`,
    TWOSTEP_SERVER_PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...extra,
  };
}

export function newAuthHome() {
  return mkdtempSync(join(tmpdir(), 'twostep-auth-'));
}

function authEnv(home) {
  return { ...process.env, XDG_CONFIG_HOME: home };
}

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
});

// runAuth(home, args, {input, timeoutMs}) → {code, stdout, stderr}
export function runAuth(home, args, { input, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(authBin(), args, { env: authEnv(home), stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`twostep-auth ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
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
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// `twostep-auth watch --json`: events as parsed lines; next(pred) waits for a matching one.
export function startWatch(home, args = []) {
  const child = spawn(authBin(), ['watch', '--json', ...args], {
    env: authEnv(home),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const events = [];
  const waiters = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      ev = { event: 'text', line };
    }
    events.push(ev);
    for (const w of [...waiters]) {
      if (w.pred(ev)) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(ev);
      }
    }
  });
  return {
    events,
    exited,
    get stderr() {
      return stderr;
    },
    // Resolves with the first event (already seen or to come) matching pred.
    next(pred, timeoutMs = 10000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`watch: no matching event in ${timeoutMs} ms; saw ${JSON.stringify(events)}\n${stderr}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    type(line) {
      child.stdin.write(`${line}\n`);
    },
    stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

// The authenticator's stored account (the test reads the file it would protect).
export function storedAccount(home, index = 0) {
  const file = join(home, 'twostep-auth', 'accounts.json');
  return JSON.parse(readFileSync(file, 'utf8')).accounts[index];
}

function privateKey(secretKeyB64url) {
  const seed = Buffer.from(secretKeyB64url, 'base64url').subarray(0, 32);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}

// The headers twostep-auth would send (see factors/push.hpp for the signed text).
export function signHeaders(account, method, target, body = '', { ts = Date.now(), key, device } = {}) {
  const deviceId = device ?? account.device_id;
  const digest = createHash('sha256').update(body).digest('hex');
  const text = `twostep-auth-v1\n${method}\n${target}\n${deviceId}\n${ts}\n${digest}`;
  const sig = edSign(null, Buffer.from(text), privateKey(key ?? account.secret_key)).toString('base64url');
  return {
    'x-twostep-device': deviceId,
    'x-twostep-timestamp': String(ts),
    'x-twostep-signature': sig,
    'content-type': 'application/json',
  };
}

// fetch with given headers; → {status, json, text}
export async function rawFetch(url, method, headers, body) {
  const res = await fetch(url, { method, headers, body: method === 'GET' ? undefined : body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text, headers: res.headers };
}

// Reads a Server-Sent Events response body (fetch) into events; next(pred) waits for one.
export function sseReader(response) {
  const events = [];
  const waiters = [];
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  let ended = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buffer += decoder.decode(value, { stream: true });
        let i;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (!data.length) continue;
          const ev = { event, data: JSON.parse(data.join('\n')) };
          events.push(ev);
          for (const w of [...waiters]) {
            if (w.pred(ev)) {
              waiters.splice(waiters.indexOf(w), 1);
              clearTimeout(w.timer);
              w.resolve(ev);
            }
          }
        }
      }
    } catch {}
    ended = true;
  })();
  return {
    events,
    done,
    get ended() {
      return ended;
    },
    next(pred, timeoutMs = 10000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`sse: no matching event in ${timeoutMs} ms; saw ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    cancel() {
      return reader.cancel().catch(() => {});
    },
  };
}
