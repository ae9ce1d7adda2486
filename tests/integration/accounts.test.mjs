// Accounts: sign-up rules, sign-in, no user enumeration (body and timing), /me.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, STRONG_PASSWORD, OTHER_STRONG_PASSWORD, assertError, assertStatus, signup, login,
  loginOk, uniqueName, median,
} from './lib/client.mjs';

describe('accounts', () => {
  let server;
  before(async () => {
    // Many sign-ups from one address in this file: lift the per-address sign-up limit.
    server = await startServer({ env: { TWOSTEP_RATE_LIMIT_SIGNUP_IP_MAX: '1000' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('signup answers 201, signs the user in and sets the session cookie', async () => {
    const c = new Client(server);
    const name = uniqueName('alice');
    const res = await c.post('/api/v1/signup', { username: name, password: STRONG_PASSWORD });
    assertStatus(res, 201);
    assert.equal(res.json.status, 'ok');
    assert.equal(res.json.user.username, name);
    assert.equal(typeof res.json.user.id, 'number');
    const sess = res.cookie('twostep_session');
    assert.ok(sess, `signup should set twostep_session; Set-Cookie: ${res.setCookies}`);
    assert.ok(sess.value.length >= 32, 'session token should be long (256-bit random)');
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.user.username, name);
  });

  test('usernames are folded to lower case and unique case-insensitively (409 username_taken)', async () => {
    const base = uniqueName('carol');
    const c = new Client(server);
    const res = await c.post('/api/v1/signup', { username: base.toUpperCase(), password: STRONG_PASSWORD });
    assertStatus(res, 201);
    assert.equal(res.json.user.username, base, 'upper case should be folded to lower case');

    const same = await new Client(server).post('/api/v1/signup', { username: base, password: OTHER_STRONG_PASSWORD });
    assertError(same, 409, 'username_taken');
    const mixed = base[0].toUpperCase() + base.slice(1);
    const other = await new Client(server).post('/api/v1/signup', { username: mixed, password: OTHER_STRONG_PASSWORD });
    assertError(other, 409, 'username_taken');
    assert.equal(other.cookie('twostep_session'), undefined, 'a refused signup sets no session');

    // The original account still has its own password.
    await loginOk(new Client(server), base, STRONG_PASSWORD);
    assertError(await login(new Client(server), base, OTHER_STRONG_PASSWORD), 401, 'invalid_credentials');
  });

  for (const [why, username] of [
    ['too short', 'ab'],
    ['space and punctuation', 'Bad Name!'],
    ['65 characters', 'a'.repeat(65)],
    ['empty', ''],
    ['non-ASCII', 'jos\u00e9_x'],
  ]) {
    test(`invalid username (${why}) → 400 invalid_username`, async () => {
      const res = await new Client(server).post('/api/v1/signup', { username, password: STRONG_PASSWORD });
      assertError(res, 400, 'invalid_username');
      assert.equal(res.cookie('twostep_session'), undefined);
    });
  }

  test('a 64-character username is accepted', async () => {
    const name = (uniqueName('l') + 'x'.repeat(64)).slice(0, 64);
    const res = await new Client(server).post('/api/v1/signup', { username: name, password: STRONG_PASSWORD });
    assertStatus(res, 201);
    assert.equal(res.json.user.username, name);
  });

  test('weak password → 400 weak_password with a message', async () => {
    const name = uniqueName('weak');
    const res = await new Client(server).post('/api/v1/signup', { username: name, password: 'password123' });
    assertError(res, 400, 'weak_password');
    assert.ok(res.json.message.length > 10, `message should explain: ${res.json.message}`);
    // Nothing was created: the name is still free.
    const ok = await new Client(server).post('/api/v1/signup', { username: name, password: STRONG_PASSWORD });
    assertStatus(ok, 201);
  });

  test('password shorter than 10 or longer than 256 characters → 400', async () => {
    const short = await new Client(server).post('/api/v1/signup', { username: uniqueName('short'), password: 'Xq7#vB2!' });
    assertError(short, 400, ['weak_password', 'invalid_request']);
    const long = await new Client(server).post('/api/v1/signup', {
      username: uniqueName('long'),
      password: 'Zebra-quartz-' + 'x9Kp'.repeat(70), // 293 characters
    });
    assertError(long, 400, ['weak_password', 'invalid_request']);
  });

  test('login with the right password → 200 ok and a session cookie', async () => {
    const name = uniqueName('bob');
    await signup(new Client(server), name);
    const c = new Client(server);
    const res = await loginOk(c, name);
    assert.equal(res.json.user.username, name);
    assert.ok(res.cookie('twostep_session'), 'login should set twostep_session');
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.user.username, name);
  });

  test('wrong password and unknown user → 401 invalid_credentials with identical bodies', async () => {
    const name = uniqueName('dave');
    await signup(new Client(server), name);
    const wrong = await login(new Client(server), name, OTHER_STRONG_PASSWORD);
    assertError(wrong, 401, 'invalid_credentials');
    const unknown = await login(new Client(server), uniqueName('nobody'), OTHER_STRONG_PASSWORD);
    assertError(unknown, 401, 'invalid_credentials');
    assert.equal(unknown.text, wrong.text, 'unknown user and wrong password must look the same');
    assert.equal(wrong.cookie('twostep_session'), undefined);
    assert.equal(unknown.cookie('twostep_session'), undefined);
  });

  test('timing: unknown user and wrong password take about the same time (factor 2)', async () => {
    const c = new Client(server);
    const time = async (u) => {
      const t0 = performance.now();
      const res = await login(c, u, OTHER_STRONG_PASSWORD);
      const dt = performance.now() - t0;
      assertError(res, 401, 'invalid_credentials');
      return dt;
    };
    await time(uniqueName('warmup')); // warm up the connection
    // Up to 3 rounds of 5 + 5 interleaved samples: a loaded CI machine adds noise in both
    // directions, while a real difference (no Argon2id for unknown users) shows every round.
    const rounds = [];
    for (let round = 0; round < 3; round++) {
      // A fresh account per round keeps its failures below the lockout limit.
      const name = uniqueName('timing');
      await signup(new Client(server), name);
      const unknown = [];
      const wrong = [];
      for (let i = 0; i < 5; i++) {
        unknown.push(await time(uniqueName('ghost')));
        wrong.push(await time(name));
      }
      const mu = median(unknown);
      const mw = median(wrong);
      const ratio = Math.max(mu, mw) / Math.min(mu, mw);
      rounds.push(`unknown-user ${mu.toFixed(1)} ms vs wrong-password ${mw.toFixed(1)} ms (ratio ${ratio.toFixed(2)})`);
      if (ratio <= 2) return;
    }
    assert.fail(`medians differ by more than a factor 2 in every round: ${rounds.join('; ')}`);
  });

  test('GET /api/v1/me without a cookie → 401 not_authenticated; with one → the user', async () => {
    assertError(await new Client(server).get('/api/v1/me'), 401, 'not_authenticated');
    const name = uniqueName('erin');
    const c = new Client(server);
    await signup(c, name);
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.user.username, name);
    assert.equal(typeof me.json.user.id, 'number');
    assert.equal(typeof me.json.user.created_at, 'number');
    assert.equal(me.json.twofa_enabled, false);
    assert.deepEqual(me.json.methods, []);
    assert.equal(me.json.default_method, null);
    assert.ok(Array.isArray(me.json.orgs));
  });
});

describe('accounts with open_signup = false', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_ACCOUNTS_OPEN_SIGNUP: 'false' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('signup → 403 signup_disabled and no cookie', async () => {
    const res = await new Client(server).post('/api/v1/signup', { username: uniqueName('zed'), password: STRONG_PASSWORD });
    assertError(res, 403, 'signup_disabled');
    assert.equal(res.cookie('twostep_session'), undefined);
  });
});
