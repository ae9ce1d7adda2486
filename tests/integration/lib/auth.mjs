// Drives the real `twostep-auth` binary (each test authenticator has its own
// XDG_CONFIG_HOME), signs device requests in JavaScript for tampering tests, and finds a
// free port so that server.public_url (which goes into enrolment links) is right.
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, sign as edSign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

import { freePort } from './protocols.mjs';
import { runCli, twostepBin } from './server.mjs';

export function authBin() {
  if (process.env.TWOSTEP_AUTH_BIN) return process.env.TWOSTEP_AUTH_BIN;
  const next = join(dirname(twostepBin()), 'twostep-auth');
  if (!existsSync(next)) throw new Error(`no twostep-auth next to ${twostepBin()}: set TWOSTEP_AUTH_BIN`);
  return next;
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

// runAuth(home, args, {input, timeoutMs}) → {code, stdout, stderr}
export function runAuth(home, args, { input, timeoutMs = 20000 } = {}) {
  return runCli(args, { env: authEnv(home), input, timeoutMs, bin: authBin() });
}

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
});

// Events as they come, and next(pred): the first one (already seen or to come) that matches.
function eventLog(what, describe = () => '') {
  const events = [];
  const waiters = [];
  return {
    events,
    push(ev) {
      events.push(ev);
      for (const w of [...waiters]) {
        if (w.pred(ev)) {
          waiters.splice(waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(ev);
        }
      }
    },
    next(pred, timeoutMs = 10000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${what}: no matching event in ${timeoutMs} ms; saw ${JSON.stringify(events)}\n${describe()}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
  };
}

// `twostep-auth watch --json`: events as parsed lines; next(pred) waits for a matching one.
export function startWatch(home, args = []) {
  const child = spawn(authBin(), ['watch', '--json', ...args], {
    env: authEnv(home),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  const log = eventLog('watch', () => stderr);
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
    log.push(ev);
  });
  return {
    events: log.events,
    next: log.next,
    exited,
    get stderr() {
      return stderr;
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
  const log = eventLog('sse');
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
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
          if (data.length) log.push({ event, data: JSON.parse(data.join('\n')) });
        }
      }
    } catch {}
  })();
  return {
    events: log.events,
    next: log.next,
    done,
    cancel() {
      return reader.cancel().catch(() => {});
    },
  };
}
