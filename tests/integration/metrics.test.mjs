// Who may read GET /metrics ([metrics] allow and token_file): the client address as the server
// resolves it (X-Forwarded-For only from server.trusted_proxies), an optional bearer token, and
// metrics switched off. Requests leave from other loopback addresses (127.0.0.2) to play
// clients that are not on the allow list.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, runCli, baseEnv } from './lib/server.mjs';
import { assertError, assertStatus } from './lib/client.mjs';
import { freePort } from './lib/protocols.mjs';
import { curl, startNginx } from './lib/nginx.mjs';

const TOKEN = 'metrics-token-7f3a9c1e5b2d4086';

// GET path from the local address `from` → {status, headers (a Headers), text, json}.
function get(server, path, { from = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path, localAddress: from, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const h = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, headers: h, text, json });
        });
      });
    req.on('error', reject);
    req.end();
  });
}

// Prometheus text: the value of twostep_http_requests_total for /metrics with this status.
function scrapeCount(text, status) {
  const line = text.split('\n').find((l) => l.startsWith('twostep_http_requests_total{') &&
                                            l.includes('route="/metrics"') && l.includes(`status="${status}"`));
  return line ? Number(line.split(' ')[1]) : 0;
}

function assertMetricsText(res) {
  assertStatus(res, 200);
  assert.match(res.headers.get('content-type') || '', /^text\/plain/);
  assert.match(res.text, /^twostep_db_pool_queue_depth \d+$/m);
}

describe('metrics: default (loopback only)', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('127.0.0.1 and the rest of 127.0.0.0/8 may scrape', async () => {
    assertMetricsText(await get(server, '/metrics'));
    assertMetricsText(await get(server, '/metrics', { from: '127.0.0.2' }));
  });

  test('a request forwarded by a proxy that is not trusted is refused, whatever it forwards', async () => {
    // The peer is local but forwards for someone: a local proxy missing from
    // server.trusted_proxies would make every outside client look like loopback.
    for (const headers of [{ 'x-forwarded-for': '203.0.113.9' }, { 'x-forwarded-for': '127.0.0.1' },
                           { forwarded: 'for=203.0.113.9' }, { 'x-real-ip': '127.0.0.1' }]) {
      assertError(await get(server, '/metrics', { headers }), 403, 'metrics_not_allowed');
    }
    assertMetricsText(await get(server, '/metrics'));
  });
});

describe('metrics: allow list and trusted proxies', () => {
  let server;
  before(async () => {
    server = await startServer({
      env: {
        TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1',
        TWOSTEP_METRICS_ALLOW: '127.0.0.1/32,192.0.2.0/24,2001:db8::/32',
      },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('an address outside the list gets 403 metrics_not_allowed, and nothing is rendered', async () => {
    const res = await get(server, '/metrics', { from: '127.0.0.2' });
    assertError(res, 403, 'metrics_not_allowed');
    assert.ok(!res.text.includes('twostep_'), 'a refusal must not carry metrics');
  });

  test('through a trusted proxy, the forwarded client address is judged', async () => {
    // Outside client behind the proxy: refused, although the proxy itself is allowed.
    assertError(await get(server, '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9' } }),
                403, 'metrics_not_allowed');
    assertError(await get(server, '/metrics', { headers: { 'x-forwarded-for': '2001:db9::1' } }),
                403, 'metrics_not_allowed');
    // A forged left-most entry does not help: the right-most untrusted hop counts.
    assertError(await get(server, '/metrics', { headers: { 'x-forwarded-for': '192.0.2.5, 203.0.113.9' } }),
                403, 'metrics_not_allowed');
    // Allowed clients behind the proxy.
    assertMetricsText(await get(server, '/metrics', { headers: { 'x-forwarded-for': '192.0.2.5' } }));
    assertMetricsText(await get(server, '/metrics', { headers: { 'x-forwarded-for': '2001:db8::7' } }));
    assertMetricsText(await get(server, '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9, 192.0.2.5' } }));
  });

  test('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async () => {
    for (const xff of ['127.0.0.1', '192.0.2.5']) {
      assertError(await get(server, '/metrics', { from: '127.0.0.2', headers: { 'x-forwarded-for': xff } }),
                  403, 'metrics_not_allowed');
    }
  });

  test('refused scrapes are counted in the request metrics like any route', async () => {
    const before = scrapeCount((await get(server, '/metrics')).text, 403);
    for (let i = 0; i < 3; i++) assertStatus(await get(server, '/metrics', { from: '127.0.0.2' }), 403);
    const after = scrapeCount((await get(server, '/metrics')).text, 403);
    assert.equal(after - before, 3);
  });
});

describe('metrics: bearer token', () => {
  let server;
  let dir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'twostep-metrics-'));
    const file = join(dir, 'metrics.token');
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    server = await startServer({
      env: { TWOSTEP_METRICS_ALLOW: '127.0.0.1', TWOSTEP_METRICS_TOKEN_FILE: file },
    });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without a token: 401 with WWW-Authenticate: Bearer', async () => {
    const res = await get(server, '/metrics');
    assertError(res, 401, 'not_authenticated');
    assert.match(res.headers.get('www-authenticate') || '', /^Bearer /);
    assertError(await get(server, '/metrics', { headers: { authorization: `Basic ${TOKEN}` } }),
                401, 'not_authenticated');
  });

  test('a wrong token: 401 invalid_token', async () => {
    for (const t of ['wrong', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
      const res = await get(server, '/metrics', { headers: { authorization: `Bearer ${t}` } });
      assertError(res, 401, 'invalid_token');
      assert.ok(!res.text.includes('twostep_http'), 'a refusal must not carry metrics');
    }
  });

  test('the token: 200', async () => {
    assertMetricsText(await get(server, '/metrics', { headers: { authorization: `Bearer ${TOKEN}` } }));
  });

  test('the token does not open metrics to an address outside the list', async () => {
    assertError(await get(server, '/metrics', { from: '127.0.0.2', headers: { authorization: `Bearer ${TOKEN}` } }),
                403, 'metrics_not_allowed');
  });

  test('the token never reaches the log', () => {
    assert.ok(!server.stdout.includes(TOKEN) && !server.stderr.includes(TOKEN));
  });
});

describe('metrics: off', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_METRICS_ALLOW: '' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('an empty allow list answers 404 not_found to everyone', async () => {
    assertError(await get(server, '/metrics'), 404, 'not_found');
    assertError(await get(server, '/metrics', { from: '127.0.0.2' }), 404, 'not_found');
    assertStatus(await get(server, '/healthz'), 200);
  });
});

describe('metrics: start-up checks', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'twostep-metrics-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('a bad range stops start-up naming metrics.allow', async () => {
    const env = baseEnv(dir, { TWOSTEP_METRICS_ALLOW: '127.0.0.1,10.0.0.0/33' });
    const r = await runCli(['serve'], { env, cwd: dir, timeoutMs: 10000 });
    assert.notEqual(r.code, 0, 'serve should refuse a bad range');
    assert.match(r.stderr, /metrics\.allow.*10\.0\.0\.0\/33/);
  });

  test('a token file open to others stops start-up without showing the token', async () => {
    const file = join(dir, 'open.token');
    writeFileSync(file, `${TOKEN}\n`);
    chmodSync(file, 0o644);
    const env = baseEnv(dir, { TWOSTEP_METRICS_TOKEN_FILE: file });
    const r = await runCli(['serve'], { env, cwd: dir, timeoutMs: 10000 });
    assert.notEqual(r.code, 0, 'serve should refuse a readable token file');
    assert.match(r.stderr, /metrics\.token_file .*open\.token: is accessible by group or others/);
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN));
  });

  test('a missing token file stops start-up', async () => {
    const env = baseEnv(dir, { TWOSTEP_METRICS_TOKEN_FILE: join(dir, 'missing.token') });
    const r = await runCli(['serve'], { env, cwd: dir, timeoutMs: 10000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /metrics\.token_file .*missing\.token: does not exist/);
  });
});

describe('metrics behind the shipped nginx site', () => {
  let server;
  let nginx;
  let open; // the same site without its `location = /metrics` line
  before(async () => {
    server = await startServer({
      env: { TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1', TWOSTEP_METRICS_ALLOW: '127.0.0.1/32' },
    });
    nginx = await startNginx({ twostepPort: server.port });
    open = await startNginx({
      twostepPort: server.port,
      transform: (conf) => {
        const out = conf.replace(/^\s*location = \/metrics \{ return 404; \}\s*$/m, '');
        assert.notEqual(out, conf, 'deploy/nginx/example.com.conf: no `location = /metrics` line');
        return out;
      },
    });
  });
  after(async () => {
    await nginx?.stop();
    await open?.stop();
    await server?.stop();
  });

  test('the site does not pass /metrics on', async () => {
    const res = await curl(nginx, 'id.example.com', '/metrics');
    assert.equal(res.status, 404);
    assert.ok(!res.body.includes('twostep_'), 'metrics served through nginx');
  });

  test('without that line, an outside client through nginx is still refused by twostep', async () => {
    const outside = await curl(open, 'id.example.com', '/metrics', { from: '127.0.0.2' });
    assert.equal(outside.status, 403, outside.body);
    assert.equal(JSON.parse(outside.body).error, 'metrics_not_allowed');
    // nginx itself connects from an allowed address; only the forwarded client counts.
    const local = await curl(open, 'id.example.com', '/metrics');
    assert.equal(local.status, 200, local.body);
  });
});
