// A saturated password-hashing pool answers 503 + Retry-After at once instead of stalling,
// and routes that do not hash passwords stay fast meanwhile.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { Client, assertError, newUser, STRONG_PASSWORD } from './lib/client.mjs';

describe('overload', () => {
  let server;
  before(async () => {
    server = await startServer({
      env: {
        // One hashing thread, no queue, and a costly hash: a burst must overflow the pool.
        TWOSTEP_SECURITY_HASH_THREADS: 1,
        TWOSTEP_SECURITY_HASH_QUEUE: 0,
        TWOSTEP_SECURITY_ARGON2_MEMORY_KIB: 65536,
        TWOSTEP_SECURITY_ARGON2_ITERATIONS: 3,
        TWOSTEP_RATE_LIMIT_LOGIN_IP_MAX: 100000,
      },
    });
  });
  after(async () => server && (await server.stop()));

  it('answers 503 overloaded with Retry-After when the hashing queue is full; other routes stay fast', async () => {
    const { username } = await newUser(server.url, 'burst');
    const burst = Array.from({ length: 12 }, () =>
      new Client(server.url).post('/api/v1/login', { username, password: 'wrong but long password 1' }),
    );
    // While the burst runs, a cheap route answers quickly.
    const t0 = performance.now();
    const health = await fetch(`${server.url}/healthz`);
    const healthMs = performance.now() - t0;
    assert.equal(health.status, 200);
    assert.ok(healthMs < 500, `healthz took ${healthMs.toFixed(0)} ms during the burst`);

    const answers = await Promise.all(burst);
    const statuses = answers.map((r) => r.status);
    const overloaded = answers.filter((r) => r.status === 503);
    assert.ok(overloaded.length >= 1, `expected some 503s, got ${statuses.join(',')}`);
    for (const r of overloaded) {
      assertError(r, 503, 'overloaded');
      assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After on 503');
    }
    for (const s of statuses) assert.ok(s === 401 || s === 503, `unexpected status ${s}`);

    // Once the burst is over the same request is served normally.
    const ok = await new Client(server.url).post('/api/v1/login', { username, password: STRONG_PASSWORD });
    assert.equal(ok.status, 200);
  });
});
