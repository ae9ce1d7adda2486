// Push approval fan-out: N signed-in event streams (GET /api/v1/approvals, Server-Sent
// Events) wait for sign-in requests; for each new request we time until every stream has it,
// then how long the waiting sign-in page (long poll) takes to learn the decision. Also the
// server's resident memory before and after opening the streams (no thread per waiting
// stream: the cost is a coroutine frame and a socket).
//
//   node bench/push_fanout.mjs [--streams 1000] [--rounds 50]
// Environment: TWOSTEP_BIN (default build/release/src/twostep). Needs `oathtool`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const STREAMS = Number(args.streams ?? 1000);
const ROUNDS = Number(args.rounds ?? 50);
const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.env.TWOSTEP_BIN || join(here, '..', 'build', 'release', 'src', 'twostep'));

const dir = mkdtempSync(join(tmpdir(), 'twostep-fanout-'));
const server = spawn(BIN, ['serve'], {
  cwd: dir,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...process.env,
    TWOSTEP_SERVER_LISTEN: '127.0.0.1:0',
    TWOSTEP_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    TWOSTEP_SECURITY_MASTER_KEY_FILE: join(dir, 'master.key'),
    TWOSTEP_SERVER_MAX_CONNECTIONS: String(STREAMS + 1000),
    TWOSTEP_PUSH_MAX_REQUESTS: '100000',  // the push-bombing limit would stop the benchmark
    TWOSTEP_SERVER_LOG_LEVEL: 'warn',
  },
});
const url = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
});
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]);

// A tiny cookie client.
function client() {
  const jar = new Map();
  return async (method, path, body) => {
    const headers = { 'content-type': 'application/json' };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (method !== 'GET' && jar.has('twostep_csrf')) headers['x-csrf-token'] = jar.get('twostep_csrf');
    const res = await fetch(url + path, { method, headers, body: body && JSON.stringify(body) });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, jar };
  };
}

const password = 'correct horse battery staple 42';
const username = `bench${Date.now()}`;
const approver = client();
await approver('POST', '/api/v1/signup', { username, password });
const totp = (await approver('POST', '/api/v1/methods/totp', {})).json;
const code = execFileSync('oathtool', ['--totp', '-b', totp.secret], { encoding: 'utf8' }).trim();
await approver('POST', `/api/v1/methods/${totp.method_id}/confirm`, { code });
const cookie = (await approver('GET', '/api/v1/me')).jar;
const cookieHeader = [...cookie].map(([k, v]) => `${k}=${v}`).join('; ');

const rssBefore = rssKiB();
// Open the streams; each resolves `seen(id)` when an approval event for id arrives.
const listeners = [];
async function openStream() {
  const res = await fetch(`${url}/api/v1/approvals`, { headers: { accept: 'text/event-stream', cookie: cookieHeader } });
  if (res.status !== 200) throw new Error(`stream: ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const l = { buffer: '', waiting: new Map(), seen: new Set() };
  listeners.push(l);
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      l.buffer += decoder.decode(value, { stream: true });
      let i;
      while ((i = l.buffer.indexOf('\n\n')) >= 0) {
        const block = l.buffer.slice(0, i);
        l.buffer = l.buffer.slice(i + 2);
        const m = /event: approval\ndata: (.*)/.exec(block);
        if (!m) continue;
        const id = JSON.parse(m[1]).id;
        l.seen.add(id);  // the event may come before the POST's answer
        l.waiting.get(id)?.();
      }
    }
  })();
}
for (let i = 0; i < STREAMS; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, STREAMS - i) }, openStream));
}
await new Promise((r) => setTimeout(r, 500));
const rssAfter = rssKiB();

const fanout = [];
const decision = [];
for (let r = 0; r < ROUNDS; r++) {
  const signingIn = client();
  await signingIn('POST', '/api/v1/login', { username, password });
  const t0 = performance.now();
  const a = (await signingIn('POST', '/api/v1/login/approval', {})).json;
  await Promise.all(listeners.map((l) => new Promise((resolve) => {
    if (l.seen.has(a.id)) resolve();
    else l.waiting.set(a.id, resolve);
  })));
  fanout.push(performance.now() - t0);
  const poll = signingIn('GET', `/api/v1/login/approval/${a.id}?wait=20`);
  await new Promise((r2) => setTimeout(r2, 20));
  const t1 = performance.now();
  await approver('POST', `/api/v1/approvals/${a.id}`, { approve: true, number: a.number });
  const done = await poll;
  if (done.json.state !== 'approved') throw new Error(JSON.stringify(done.json));
  decision.push(performance.now() - t1);
}

const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1);
};
console.log(`streams: ${STREAMS}, rounds: ${ROUNDS}, server threads: default (cores)`);
console.log(`request → every stream has it: p50 ${pct(fanout, 50)} ms, p99 ${pct(fanout, 99)} ms`);
console.log(`approve → waiting page has the answer: p50 ${pct(decision, 50)} ms, p99 ${pct(decision, 99)} ms`);
console.log(`server RSS: ${rssBefore} KiB before, ${rssAfter} KiB with the streams ` +
            `(${((rssAfter - rssBefore) / STREAMS).toFixed(1)} KiB per stream)`);
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
rmSync(dir, { recursive: true, force: true });
process.exit(0);
