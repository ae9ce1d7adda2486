// Rate limits on password sign-in: per-account lockout (temporary, says when it ends,
// audited) and per-address limit.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, loginOk, uniqueName, sleep,
  STRONG_PASSWORD, OTHER_STRONG_PASSWORD,
} from './lib/client.mjs';

function retryAfter(res) {
  const v = res.headers.get('retry-after');
  assert.ok(v !== null, `429 needs Retry-After (${res.text})`);
  assert.match(v, /^\d+$/, `Retry-After should be seconds: ${v}`);
  return Number(v);
}

describe('per-account lockout', () => {
  let server;
  before(async () => {
    server = await startServer({
      env: {
        TWOSTEP_RATE_LIMIT_LOGIN_ACCOUNT_MAX: '3',
        TWOSTEP_RATE_LIMIT_LOGIN_ACCOUNT_LOCK_S: '2',
        TWOSTEP_RATE_LIMIT_LOGIN_ACCOUNT_WINDOW_S: '60',
        TWOSTEP_RATE_LIMIT_LOGIN_IP_MAX: '1000',
      },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('3 wrong passwords lock the account; the lock ends; it is audited', async () => {
    const name = uniqueName('lock');
    const owner = new Client(server);
    await signup(owner, name);

    for (let i = 0; i < 3; i++) {
      assertError(await login(new Client(server), name, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    }
    // Locked: even the right password is refused, and the answer says when it ends.
    const locked = await login(new Client(server), name, STRONG_PASSWORD);
    assertError(locked, 429, 'locked');
    const ra = retryAfter(locked);
    assert.ok(ra >= 1 && ra <= 2, `Retry-After should be within the 2 s lock: ${ra}`);
    assert.equal(locked.cookie('twostep_session'), undefined, 'no session while locked');
    assertError(await login(new Client(server), name, OTHER_STRONG_PASSWORD), 429, 'locked');

    // An existing session is not affected by the lock.
    assertStatus(await owner.get('/api/v1/me'), 200);

    await sleep(2500);
    const c = new Client(server);
    await loginOk(c, name, STRONG_PASSWORD);

    const audit = await c.get('/api/v1/audit');
    assertStatus(audit, 200);
    const events = audit.json.events;
    assert.ok(Array.isArray(events), audit.text);
    const kinds = events.map((e) => e.event);
    assert.ok(kinds.includes('login_failed'), `audit lacks login_failed: ${kinds}`);
    assert.ok(kinds.includes('account_locked'), `audit lacks account_locked: ${kinds}`);
    assert.ok(events.filter((e) => e.event === 'login_failed').length >= 3, `${kinds}`);
    for (const e of events) {
      assert.equal(typeof e.at, 'number');
      assert.equal(typeof e.event, 'string');
    }
    // Newest first.
    for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].at >= events[i].at, 'audit newest first');
    // Passwords never show up in the log.
    assert.ok(!audit.text.includes(OTHER_STRONG_PASSWORD) && !audit.text.includes(STRONG_PASSWORD));

    const limited = await c.get('/api/v1/audit?limit=1');
    assertStatus(limited, 200);
    assert.equal(limited.json.events.length, 1);
  });

  test('a successful sign-in is not blocked by earlier failures below the limit', async () => {
    const name = uniqueName('below');
    await signup(new Client(server), name);
    for (let i = 0; i < 2; i++) {
      assertError(await login(new Client(server), name, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    }
    await loginOk(new Client(server), name);
  });

  test('unknown usernames lock the same way (no enumeration through lockout)', async () => {
    const ghost = uniqueName('ghost');
    for (let i = 0; i < 3; i++) {
      assertError(await login(new Client(server), ghost, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    }
    const res = await login(new Client(server), ghost, OTHER_STRONG_PASSWORD);
    assertError(res, 429, 'locked');
    retryAfter(res);
  });

  test('audit needs a signed-in session', async () => {
    assertError(await new Client(server).get('/api/v1/audit'), 401, 'not_authenticated');
  });
});

describe('per-address limit', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_RATE_LIMIT_LOGIN_IP_MAX: '4' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('4 failures with different unknown usernames → 429 from this address', async () => {
    for (let i = 0; i < 4; i++) {
      assertError(await login(new Client(server), uniqueName('nobody'), OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
    }
    const res = await login(new Client(server), uniqueName('nobody'), OTHER_STRONG_PASSWORD);
    assertError(res, 429, ['locked', 'rate_limited']);
    retryAfter(res);
  });
});
