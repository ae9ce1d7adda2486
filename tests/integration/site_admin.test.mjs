// Site administrators ([admin] users) read the whole site's security log:
// GET /api/v1/admin/audit, only with a full session and two-step verification on.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, STRONG_PASSWORD, assertError, assertStatus, enrolTotp, login, nowS, signup, totpStep,
  uniqueName,
} from './lib/client.mjs';
import { basic, createAppPassword } from './lib/protocols.mjs';

describe('site admin log', () => {
  let server;
  const admin = uniqueName('root');
  const plainAdmin = uniqueName('nofa');  // listed, but without two-step verification
  let adminClient;
  let adminSecret;

  before(async () => {
    // Upper case in the configuration: names are canonicalised.
    server = await startServer({
      env: { TWOSTEP_ADMIN_USERS: `${admin.toUpperCase()},${plainAdmin}` },
    });
    adminClient = new Client(server);
    await signup(adminClient, admin);
    ({ secret: adminSecret } = await enrolTotp(adminClient));
    await signup(new Client(server), plainAdmin);
  });
  after(async () => {
    await server?.stop();
  });

  const read = (query = '') => adminClient.get(`/api/v1/admin/audit${query}`);

  test('/me says who is a site admin', async () => {
    const me = await adminClient.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.site_admin, true);
    const other = new Client(server);
    await signup(other, uniqueName('user'));
    assert.equal((await other.get('/api/v1/me')).json.site_admin, false);
  });

  test('refused: signed out 401, normal user 403, admin without 2FA 403, Basic app password 401', async () => {
    assertError(await new Client(server).get('/api/v1/admin/audit'), 401, 'not_authenticated');
    const user = new Client(server);
    await signup(user, uniqueName('user'));
    const denied = await user.get('/api/v1/admin/audit');
    assertError(denied, 403, 'forbidden');
    assert.match(denied.json.message, /site administrators/);

    const plain = new Client(server);
    const signedIn = await login(plain, plainAdmin);
    assertStatus(signedIn, 200);
    const no2fa = await plain.get('/api/v1/admin/audit');
    assertError(no2fa, 403, 'forbidden');
    assert.match(no2fa.json.message, /two-step verification/);

    // The next TOTP step: the one that confirmed the method is used up.
    assertStatus(await adminClient.post('/api/v1/reauth', {
      password: STRONG_PASSWORD, type: 'totp', code: totpStep(adminSecret, 1),
    }), 200);
    const { password } = await createAppPassword(adminClient);
    assertError(await new Client(server).get('/api/v1/admin/audit', {
      headers: { authorization: basic(admin, password) }, cookies: false,
    }), 401);
  });

  test('everyone\'s entries, entries of no account, no CSRF token needed', async () => {
    const other = uniqueName('other');
    await signup(new Client(server), other);
    const ghost = uniqueName('ghost');
    assertError(await login(new Client(server), ghost, 'not the password at all'), 401, 'invalid_credentials');
    const res = await read('?limit=1000');  // a GET: no X-CSRF-Token
    assertStatus(res, 200);
    const { events } = res.json;
    const created = events.find((e) => e.user === other && e.event === 'account_created');
    assert.ok(created, 'the other user\'s account_created');
    for (const key of ['id', 'at', 'user', 'event', 'ip', 'user_agent', 'device', 'detail']) {
      assert.ok(key in created, `${key} in ${JSON.stringify(created)}`);
    }
    assert.equal(typeof created.detail, 'object');
    const failed = events.find((e) => e.event === 'login_failed' && e.user === null &&
                                      JSON.stringify(e.detail).includes(ghost));
    assert.ok(failed, `an unknown user's failed sign-in (user null) in ${JSON.stringify(events.slice(0, 5))}`);
    const ats = events.map((e) => e.at);
    assert.deepEqual(ats, [...ats].sort((a, b) => b - a), 'newest first');
  });

  test('filters: user, event, since, limit', async () => {
    const other = uniqueName('filt');
    const c = new Client(server);
    await signup(c, other);
    assertStatus(await c.post('/api/v1/logout'), 200);

    const mine = await read(`?user=${other.toUpperCase()}`);
    assertStatus(mine, 200);
    assert.ok(mine.json.events.length >= 2);
    assert.ok(mine.json.events.every((e) => e.user === other));

    const logouts = await read(`?user=${other}&event=logout`);
    assert.deepEqual(logouts.json.events.map((e) => e.event), ['logout']);
    const failures = await read('?event=login_failed');
    assert.ok(failures.json.events.length >= 1);
    assert.ok(failures.json.events.every((e) => e.event === 'login_failed'));

    const future = await read(`?since=${nowS() + 3600}`);
    assert.deepEqual(future.json.events, []);
    const recent = await read(`?since=${nowS() - 3600}&user=${other}`);
    assert.equal(recent.json.events.length, mine.json.events.length);

    const two = await read('?limit=2');
    assert.equal(two.json.events.length, 2);

    const unknown = await read(`?user=${uniqueName('nobody')}`);
    assertError(unknown, 404, 'not_found');
    assert.match(unknown.json.message, /^user:/);
  });

  test('bad filters are 400 naming the field', async () => {
    for (const [query, field] of [
      ['?limit=0', 'limit'], ['?limit=1001', 'limit'], ['?limit=abc', 'limit'], ['?limit=5x', 'limit'],
      ['?limit=', 'limit'], ['?since=-1', 'since'], ['?since=yesterday', 'since'],
      ['?since=99999999999999999999', 'since'], ['?event=Login-Failed', 'event'], ['?event=', 'event'],
      [`?event=${'a'.repeat(65)}`, 'event'], [`?user=${'u'.repeat(300)}`, 'user'],
    ]) {
      const res = await read(query);
      assertError(res, 400, 'invalid_request');
      assert.match(res.json.message, new RegExp(`^${field}:`), query);
    }
  });

  test('each read is audited on the admin as site_audit_viewed', async () => {
    assertStatus(await read('?event=logout&limit=7'), 200);
    const own = await adminClient.get('/api/v1/audit?limit=5');
    const viewed = own.json.events.find((e) => e.event === 'site_audit_viewed');
    assert.ok(viewed, JSON.stringify(own.json.events));
    assert.equal(viewed.detail.event, 'logout');
    assert.equal(viewed.detail.limit, '7');
    const site = await read(`?user=${admin}&event=site_audit_viewed&limit=1`);
    assert.equal(site.json.events[0].user, admin);
  });
});
