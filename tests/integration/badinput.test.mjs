// Bad input: malformed and mistyped JSON, oversized bodies and headers, slow clients,
// unknown routes and methods, the error body shape, security headers.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertErrorShape, assertStatus, signup, uniqueName, rawRequest,
  parseRawResponse, STRONG_PASSWORD,
} from './lib/client.mjs';

function checkSecurityHeaders(headers, what) {
  const get = (n) => (typeof headers.get === 'function' ? headers.get(n) : headers[n]);
  const csp = get('content-security-policy');
  assert.ok(csp, `${what}: Content-Security-Policy missing`);
  assert.match(csp, /default-src 'self'/, `${what}: CSP needs default-src 'self': ${csp}`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP needs frame-ancestors 'none': ${csp}`);
  assert.equal(String(get('x-content-type-options')).toLowerCase(), 'nosniff', `${what}: nosniff`);
  assert.equal(String(get('referrer-policy')).toLowerCase(), 'no-referrer', `${what}: no-referrer`);
}

describe('bad input', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  const post = (path, body) => new Client(server).post(path, undefined, { body });

  test('malformed JSON → 400 invalid_json', async () => {
    for (const body of ['{"username":', '{username: "x"}', 'not json', '{"a":1}}', '']) {
      const res = await post('/api/v1/login', body);
      assertError(res, 400, body === '' ? ['invalid_json', 'invalid_request'] : 'invalid_json');
    }
    assertError(await post('/api/v1/signup', '{"username":"abc","password":'), 400, 'invalid_json');
  });

  test('wrong types → 400 invalid_request naming the field', async () => {
    let res = await post('/api/v1/login', '{"username":5,"password":true}');
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /username|password/, res.json.message);

    res = await post('/api/v1/login', JSON.stringify({ username: 'someone', password: true }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /password/, res.json.message);

    res = await post('/api/v1/login', JSON.stringify({ username: ['a'], password: STRONG_PASSWORD }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /username/, res.json.message);

    res = await post('/api/v1/login', JSON.stringify({ username: 'someone', password: STRONG_PASSWORD, remember: 'yes' }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /remember/, res.json.message);

    res = await post('/api/v1/signup', JSON.stringify({ username: null, password: STRONG_PASSWORD }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /username/, res.json.message);
  });

  test('missing fields → 400 invalid_request naming the field', async () => {
    let res = await post('/api/v1/login', JSON.stringify({ username: 'someone' }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /password/, res.json.message);
    res = await post('/api/v1/signup', JSON.stringify({ password: STRONG_PASSWORD }));
    assertError(res, 400, 'invalid_request');
    assert.match(res.json.message, /username/, res.json.message);
    assertError(await post('/api/v1/login', '{}'), 400, 'invalid_request');
  });

  test('JSON that is not an object → 400', async () => {
    for (const body of ['[]', '["username","password"]', '"hello"', '42', 'null', 'true']) {
      const res = await post('/api/v1/login', body);
      assertError(res, 400, ['invalid_request', 'invalid_json']);
    }
  });

  test('unknown fields are ignored', async () => {
    const name = uniqueName('extra');
    const res = await new Client(server).post('/api/v1/signup', {
      username: name, password: STRONG_PASSWORD, favourite_colour: 'green', nested: { a: [1, 2] },
    });
    assertStatus(res, 201);
  });

  test('65 KiB body → 413 body_too_large', async () => {
    const body = JSON.stringify({ username: 'x', password: 'y', pad: 'z'.repeat(65 * 1024) });
    const req = `POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
                `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const res = await rawRequest(server.port, req, { timeoutMs: 5000, stopAfterResponse: true });
    const r = parseRawResponse(res.text);
    assert.equal(r.status, 413, `expected 413, got: ${res.text.slice(0, 300)} (error ${res.error})`);
    assert.equal(r.json?.error, 'body_too_large', r.body);
    assert.equal(typeof r.json?.message, 'string');
    // The server is fine afterwards.
    assertStatus(await new Client(server).get('/healthz'), 200);
  });

  test('a big body announced by Content-Length is refused before it is sent', async () => {
    const req = `POST /api/v1/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
                `Content-Length: 104857600\r\n\r\n{"username":`;
    const res = await rawRequest(server.port, req, { timeoutMs: 5000, stopAfterResponse: true });
    const r = parseRawResponse(res.text);
    assert.equal(r.status, 413, `expected 413, got: ${res.text.slice(0, 300)} (error ${res.error})`);
    assert.equal(r.json?.error, 'body_too_large');
  });

  test('20 KiB header → 431', async () => {
    const req = `GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`;
    const res = await rawRequest(server.port, req, { timeoutMs: 5000, stopAfterResponse: true });
    const r = parseRawResponse(res.text);
    assert.equal(r.status, 431, `expected 431, got: ${res.text.slice(0, 300)} (error ${res.error})`);
    if (r.json) assert.equal(r.json.error, 'headers_too_large');
    assertStatus(await new Client(server).get('/healthz'), 200);
  });

  test('garbage request line → 400 and the connection is closed', async () => {
    const res = await rawRequest(server.port, 'HELLO WORLD\r\n\r\n', { timeoutMs: 4000 });
    assert.ok(res.closed, 'server should close the connection');
    if (res.status !== undefined) assert.equal(res.status, 400, res.text);
    assertStatus(await new Client(server).get('/healthz'), 200);
  });

  test('unknown route → 404 not_found JSON', async () => {
    const c = new Client(server);
    for (const path of ['/api/v1/does-not-exist', '/api/v2/login', '/api/v1/sessions/1/extra']) {
      const res = await c.get(path);
      assertError(res, 404, 'not_found');
    }
    assertError(await c.post('/api/v1/nope', {}), 404, 'not_found');
  });

  test('wrong method → 405 method_not_allowed with Allow', async () => {
    const c = new Client(server);
    const res = await c.put('/api/v1/login', { username: 'a', password: 'b' });
    assertError(res, 405, 'method_not_allowed');
    const allow = res.headers.get('allow');
    assert.ok(allow, 'Allow header missing');
    assert.match(allow, /\bPOST\b/, `Allow: ${allow}`);
    const del = await c.delete('/api/v1/me');
    assertError(del, 405, 'method_not_allowed');
    assert.match(del.headers.get('allow') || '', /\bGET\b/);
  });

  test('error responses are {"error","message"} JSON', async () => {
    const c = new Client(server);
    const cases = [
      await c.get('/api/v1/me'),
      await c.get('/api/v1/nothing-here'),
      await c.post('/api/v1/login', undefined, { body: '{' }),
      await c.post('/api/v1/login', { username: uniqueName('x'), password: 'wrong password 1' }),
      await c.put('/api/v1/signup', {}),
      await c.get('/api/v1/sessions'),
      await c.get('/api/v1/verify'),
    ];
    for (const res of cases) {
      if (res.status === 401 && res.text === '') continue; // /verify may answer with an empty body
      assert.ok(res.status >= 400, `expected an error: ${res.status}`);
      assertErrorShape(res);
      assert.deepEqual(Object.keys(res.json).sort(), ['error', 'message'], res.text);
    }
  });

  test('security headers on API responses', async () => {
    const c = new Client(server);
    checkSecurityHeaders((await c.get('/healthz')).headers, '/healthz');
    checkSecurityHeaders((await c.get('/api/v1/me')).headers, '/api/v1/me (401)');
    checkSecurityHeaders((await c.get('/api/v1/nope')).headers, '404');
    const u = new Client(server);
    const s = await signup(u, uniqueName('hdr'));
    checkSecurityHeaders(s.headers, 'signup');
    const me = await u.get('/api/v1/me');
    checkSecurityHeaders(me.headers, '/api/v1/me (200)');
  });

  test('security headers on static responses', async () => {
    const res = await fetch(server.url + '/', { redirect: 'manual' });
    await res.text();
    checkSecurityHeaders(res.headers, 'GET /');
    const missing = await fetch(server.url + '/no-such-file.js');
    await missing.text();
    checkSecurityHeaders(missing.headers, 'GET /no-such-file.js');
  });

  test('path traversal outside the web folder is refused', async () => {
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd']) {
      const res = await rawRequest(server.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
                                   { timeoutMs: 4000 });
      assert.ok(!res.text.includes('root:x:0:0'), `served /etc/passwd for ${p}`);
      assert.ok(res.status === undefined || res.status >= 400, `${p}: ${res.text.slice(0, 200)}`);
    }
  });
});

describe('slow clients', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_SERVER_READ_TIMEOUT_S: '1' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('half-sent headers: the connection is closed within ~3 s, others are served meanwhile', async () => {
    const stalled = rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', {
      timeoutMs: 6000,
    });
    // Other requests are served while one connection stalls.
    const t0 = performance.now();
    const res = await new Client(server).get('/healthz');
    assertStatus(res, 200);
    assert.ok(performance.now() - t0 < 500, 'a stalled client must not delay others');

    const r = await stalled;
    assert.ok(r.closed && !r.timedOut, `server kept a stalled connection open for ${r.elapsedMs.toFixed(0)} ms`);
    assert.ok(r.elapsedMs < 3000, `closed after ${r.elapsedMs.toFixed(0)} ms (read timeout 1 s)`);
    assert.ok(r.elapsedMs >= 500, `closed suspiciously early: ${r.elapsedMs.toFixed(0)} ms`);
    if (r.status !== undefined) assert.ok([408, 400].includes(r.status), r.text);

    assertStatus(await new Client(server).get('/healthz'), 200);
  });

  test('many stalled connections do not stop the server', async () => {
    const stalled = [];
    for (let i = 0; i < 50; i++) {
      stalled.push(rawRequest(server.port, 'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"us',
                              { timeoutMs: 6000 }));
    }
    assertStatus(await new Client(server).get('/healthz'), 200);
    const results = await Promise.all(stalled);
    for (const r of results) {
      assert.ok(r.closed && !r.timedOut, 'stalled body should be timed out');
      assert.ok(r.elapsedMs < 3500, `closed after ${r.elapsedMs.toFixed(0)} ms`);
    }
    assertStatus(await new Client(server).get('/healthz'), 200);
  });
});
