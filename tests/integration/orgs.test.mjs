// Organisations over HTTP against the real binary: creation, members and roles, the
// authorisation matrix (owner, admin, member, outsider × every admin route), the 2FA policy
// (grace period, enrolment-only sessions, strictest of several organisations, turning it off),
// the admin reset of a member's 2FA (with or without their application passwords), the
// organisation's audit log, bad input, a race on the
// last owner, and the `twostep org` CLI against the same database.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import {
  Client, assertError, assertStatus, signup, login, loginOk, uniqueName, totpStep, nowS, waitFor,
  STRONG_PASSWORD,
} from './lib/client.mjs';
import { appAuth, createAppPassword, verifyBasicStatus } from './lib/protocols.mjs';

const DAY = 86400;

async function user(server, prefix = 'u') {
  const client = new Client(server);
  const username = uniqueName(prefix);
  await signup(client, username);
  return { client, username };
}

// Turns on TOTP for a signed-in user: {secret, methodId}. The current step is spent.
async function enrol(client) {
  const add = await client.post('/api/v1/methods/totp', {});
  assertStatus(add, 201);
  const confirm = await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, {
    code: totpStep(add.json.secret, 0),
  });
  assertStatus(confirm, 200);
  return { secret: add.json.secret, methodId: add.json.method_id, confirm };
}

async function createOrg(client, name = uniqueName('org')) {
  const res = await client.post('/api/v1/orgs', { name });
  assertStatus(res, 201);
  assert.ok(Number.isInteger(res.json.id), res.text);
  return { id: res.json.id, name };
}

async function addMember(client, orgId, username, role = 'member') {
  assertStatus(await client.post(`/api/v1/orgs/${orgId}/members`, { username, role }), 201);
}

async function setPolicy(client, orgId, require2fa, graceDays = 0) {
  const res = await client.put(`/api/v1/orgs/${orgId}/policy`, { require_2fa: require2fa, grace_days: graceDays });
  assertStatus(res, 200);
  return res.json;
}

// A fresh client signed in as `username` (password only); returns the login response too.
async function signIn(server, username) {
  const c = new Client(server);
  const res = await login(c, username);
  assertStatus(res, 200);
  return { c, res };
}

async function verifyStatus(client) {
  return (await client.get('/api/v1/verify')).status;
}

describe('organisations', () => {
  let server;
  before(async () => {
    server = await startServer({
      env: { TWOSTEP_ORGS_USER_CREATE: 'true', TWOSTEP_RATE_LIMIT_SIGNUP_IP_MAX: '100000' },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('create: the creator becomes owner; GET /orgs and /me list it; names are checked', async () => {
    const alice = await user(server, 'alice');
    const name = `Acme ${uniqueName('x')}`;
    const org = await createOrg(alice.client, `  ${name}  `);
    const mine = await alice.client.get('/api/v1/orgs');
    assertStatus(mine, 200);
    assert.equal(mine.json.can_create, true);
    assert.equal(mine.json.orgs.length, 1);
    assert.deepEqual(
      { id: mine.json.orgs[0].id, name: mine.json.orgs[0].name, role: mine.json.orgs[0].role,
        require_2fa: mine.json.orgs[0].require_2fa, grace_days: mine.json.orgs[0].grace_days },
      { id: org.id, name, role: 'owner', require_2fa: false, grace_days: 0 });
    const me = await alice.client.get('/api/v1/me');
    assert.deepEqual(me.json.orgs, [{ id: org.id, name, role: 'owner' }]);
    assert.equal(me.json.enrollment, null);
    assert.equal(me.json.session.state, 'full');

    assertError(await alice.client.post('/api/v1/orgs', { name: name.toUpperCase() }), 409, 'org_name_taken');
    for (const body of [{}, { name: 5 }, { name: null }, { name: ['x'] }, { name: 'x' }, { name: '1234' },
      { name: 'a'.repeat(65) }, { name: 'bad\u0001name' }, { name: 'n'.repeat(300) }]) {
      assertError(await alice.client.post('/api/v1/orgs', body), 400, 'invalid_request');
    }
    assertError(await alice.client.post('/api/v1/orgs', undefined, { body: '{"name":' }), 400, 'invalid_json');
    assertError(await alice.client.post('/api/v1/orgs', undefined, { body: '["x"]' }), 400, 'invalid_request');
    assertError(await alice.client.post('/api/v1/orgs', undefined, { body: JSON.stringify({ name: 'x'.repeat(70000) }) }),
                413, 'body_too_large');
    assertError(await alice.client.post('/api/v1/orgs', { name: 'no csrf' }, { csrf: false }), 403, 'csrf');
    const anonymous = new Client(server);
    await anonymous.get('/api/v1/csrf');
    assertError(await anonymous.post('/api/v1/orgs', { name: 'anonymous' }), 401, 'not_authenticated');
    assertError(await new Client(server).post('/api/v1/orgs', { name: 'anonymous' }), 403, 'csrf');
    // Nothing was created by the refused calls.
    assert.equal((await alice.client.get('/api/v1/orgs')).json.orgs.length, 1);
  });

  test('authorisation matrix: owner and admin may, a member is refused (403), an outsider sees nothing (404)', async () => {
    const owner = await user(server, 'owner');
    const admin = await user(server, 'admin');
    const member = await user(server, 'member');
    const outsider = await user(server, 'outsider');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, admin.username, 'admin');
    await addMember(owner.client, org.id, member.username, 'member');
    // The outsider administers an organisation of their own: rights do not carry over.
    await createOrg(outsider.client);

    // Each admin route, set up so that an allowed call succeeds. `setup` runs before each call.
    const routes = [
      { name: 'GET members', ok: 200, call: (c) => c.get(`/api/v1/orgs/${org.id}/members`) },
      { name: 'GET audit', ok: 200, call: (c) => c.get(`/api/v1/orgs/${org.id}/audit`) },
      { name: 'PUT policy', ok: 200, call: (c) => c.put(`/api/v1/orgs/${org.id}/policy`, { require_2fa: false, grace_days: 3 }) },
      {
        name: 'POST members', ok: 201,
        setup: async () => (await user(server, 'newbie')).username,
        call: (c, name) => c.post(`/api/v1/orgs/${org.id}/members`, { username: name, role: 'member' }),
      },
      {
        name: 'PATCH member', ok: 200,
        setup: async () => {
          const t = await user(server, 'promo');
          await addMember(owner.client, org.id, t.username);
          return t.username;
        },
        call: (c, name) => c.patch(`/api/v1/orgs/${org.id}/members/${name}`, { role: 'admin' }),
      },
      {
        name: 'DELETE member', ok: 200,
        setup: async () => {
          const t = await user(server, 'leaver');
          await addMember(owner.client, org.id, t.username);
          return t.username;
        },
        call: (c, name) => c.delete(`/api/v1/orgs/${org.id}/members/${name}`),
      },
      {
        name: 'DELETE member twofa', ok: 200,
        setup: async () => {
          const t = await user(server, 'lostphone');
          await enrol(t.client);
          await addMember(owner.client, org.id, t.username);
          return t.username;
        },
        call: (c, name) => c.delete(`/api/v1/orgs/${org.id}/members/${name}/twofa`),
      },
    ];
    const nobody = new Client(server);
    assertStatus(await nobody.get('/api/v1/csrf'), 200); // a CSRF cookie but no session
    const actors = [
      { who: 'owner', client: owner.client, expect: 'ok' },
      { who: 'admin', client: admin.client, expect: 'ok' },
      { who: 'member', client: member.client, expect: [403, 'forbidden'] },
      { who: 'outsider', client: outsider.client, expect: [404, 'not_found'] },
      { who: 'nobody', client: nobody, expect: [401, 'not_authenticated'] },
    ];
    for (const route of routes) {
      for (const actor of actors) {
        const arg = route.setup ? await route.setup() : undefined;
        const res = await route.call(actor.client, arg);
        const what = `${actor.who} × ${route.name}: HTTP ${res.status} ${res.text}`;
        if (actor.expect === 'ok') assert.equal(res.status, route.ok, what);
        else assertError(res, actor.expect[0], actor.expect[1]);
        if (route.name === 'DELETE member twofa' && actor.expect !== 'ok') {
          // Refused: the member's 2FA is untouched.
          const members = (await owner.client.get(`/api/v1/orgs/${org.id}/members`)).json.members;
          assert.equal(members.find((m) => m.username === arg).twofa_enabled, true, what);
        }
      }
    }
    // An organisation that does not exist answers exactly like one you are not in.
    const ghost = await owner.client.get('/api/v1/orgs/999999/members');
    const foreign = await outsider.client.get(`/api/v1/orgs/${org.id}/members`);
    assertError(ghost, 404, 'not_found');
    assert.equal(ghost.text, foreign.text);
    assertError(await owner.client.get('/api/v1/orgs/abc/members'), 404);
    assertError(await owner.client.get('/api/v1/orgs/-1/members'), 404);
    // Members still see their own membership and the policy they are under.
    const mine = await member.client.get('/api/v1/orgs');
    assert.equal(mine.json.orgs[0].role, 'member');
    assert.equal(mine.json.orgs[0].grace_days, 3);
  });

  test('admins cannot touch owners; the last owner stays; nobody acts on another organisation', async () => {
    const owner = await user(server, 'owner');
    const admin = await user(server, 'admin');
    const other = await user(server, 'other');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, admin.username, 'admin');
    await addMember(owner.client, org.id, other.username, 'member');
    await enrol(owner.client);
    const base = `/api/v1/orgs/${org.id}/members`;

    assertError(await admin.client.post(base, { username: uniqueName('x'), role: 'owner' }), 403, 'forbidden');
    assertError(await admin.client.patch(`${base}/${other.username}`, { role: 'owner' }), 403, 'forbidden');
    assertError(await admin.client.patch(`${base}/${owner.username}`, { role: 'member' }), 403, 'forbidden');
    assertError(await admin.client.delete(`${base}/${owner.username}`), 403, 'forbidden');
    assertError(await admin.client.delete(`${base}/${owner.username}/twofa`), 403, 'forbidden');
    assertError(await owner.client.delete(`${base}/${owner.username}/twofa`), 403, 'forbidden');
    assertError(await owner.client.patch(`${base}/${owner.username}`, { role: 'admin' }), 409, 'last_owner');
    assertError(await owner.client.delete(`${base}/${owner.username}`), 409, 'last_owner');
    assertError(await owner.client.patch(`${base}/nobody_here`, { role: 'admin' }), 404, 'not_found');
    assertError(await owner.client.patch(`${base}/${other.username}`, { role: 'boss' }), 400, 'invalid_request');
    assertError(await owner.client.patch(`${base}/${other.username}`, { role: 1 }), 400, 'invalid_request');
    assertError(await owner.client.patch(`${base}/${other.username}`, {}), 400, 'invalid_request');

    // Another organisation's member is not reachable through this one.
    const stranger = await user(server, 'stranger');
    const elsewhere = await createOrg(stranger.client);
    assertError(await owner.client.delete(`${base}/${stranger.username}`), 404, 'not_found');
    assertError(await owner.client.get(`/api/v1/orgs/${elsewhere.id}/audit`), 404, 'not_found');
    assertError(await admin.client.put(`/api/v1/orgs/${elsewhere.id}/policy`, { require_2fa: true }), 404, 'not_found');

    // Owners hand over: promote another owner, then step down.
    assertStatus(await owner.client.patch(`${base}/${other.username}`, { role: 'owner' }), 200);
    assertStatus(await owner.client.patch(`${base}/${owner.username}`, { role: 'admin' }), 200);
    const members = (await other.client.get(base)).json.members;
    const roles = Object.fromEntries(members.map((m) => [m.username, m.role]));
    assert.equal(roles[owner.username], 'admin');
    assert.equal(roles[other.username], 'owner');
    assert.equal(roles[admin.username], 'admin');
  });

  test('two owners stepping down at once: exactly one succeeds', async () => {
    const a = await user(server, 'a');
    const b = await user(server, 'b');
    const org = await createOrg(a.client);
    await addMember(a.client, org.id, b.username, 'owner');
    const base = `/api/v1/orgs/${org.id}/members`;
    const results = await Promise.all([
      a.client.patch(`${base}/${a.username}`, { role: 'member' }),
      b.client.delete(`${base}/${b.username}`),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409], results.map((r) => r.text).join(' | '));
    const left = results.find((r) => r.status === 409);
    assert.equal(left.json.error, 'last_owner');
    // Whoever remains owner can still read the members (the organisation has one owner).
    const view = await (results[0].status === 200 ? b : a).client.get(base);
    assertStatus(view, 200);
    assert.equal(view.json.members.filter((m) => m.role === 'owner').length, 1);
  });

  test('members: bad input, unknown and duplicate usernames', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    const base = `/api/v1/orgs/${org.id}/members`;
    for (const body of [{}, { username: bob.username }, { username: bob.username, role: 'root' },
      { username: 5, role: 'member' }, { username: bob.username, role: ['member'] },
      { username: 'u'.repeat(300), role: 'member' }]) {
      assertError(await owner.client.post(base, body), 400, 'invalid_request');
    }
    assertError(await owner.client.post(base, undefined, { body: 'nope' }), 400, 'invalid_json');
    assertError(await owner.client.post(base, { username: 'no-such-user-here', role: 'member' }), 404, 'not_found');
    assertError(await owner.client.post(base, { username: '!!', role: 'member' }), 404, 'not_found');
    assertStatus(await owner.client.post(base, { username: bob.username.toUpperCase(), role: 'member' }), 201);
    assertError(await owner.client.post(base, { username: bob.username, role: 'admin' }), 409, 'already_member');
    for (const body of [{}, { require_2fa: 'yes' }, { require_2fa: true, grace_days: -1 },
      { require_2fa: true, grace_days: 366 }, { require_2fa: true, grace_days: 1.5 },
      { require_2fa: true, grace_days: '3' }]) {
      assertError(await owner.client.put(`/api/v1/orgs/${org.id}/policy`, body), 400, 'invalid_request');
    }
    assertError(await owner.client.get(`/api/v1/orgs/${org.id}/audit?limit=lots`), 400, 'invalid_request');
    const policy = (await owner.client.get('/api/v1/orgs')).json.orgs[0];
    assert.equal(policy.require_2fa, false, 'refused policy changes must change nothing');
    const view = await owner.client.get(base);
    assert.equal(view.json.members.length, 2);
  });

  test('grace period: sign-in succeeds with a warning and the deadline; admins see it', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    await enrol(owner.client);
    const before = nowS();
    const policy = await setPolicy(owner.client, org.id, true, 7);
    assert.equal(policy.require_2fa, true);
    assert.equal(policy.grace_days, 7);
    assert.ok(policy.policy_since >= before && policy.policy_since <= nowS(), JSON.stringify(policy));

    const { c, res } = await signIn(server, bob.username);
    assert.equal(res.json.status, 'ok', res.text);
    assert.equal(res.json.enrollment.required, true);
    assert.equal(res.json.enrollment.deadline, policy.policy_since + 7 * DAY);
    assert.deepEqual(res.json.enrollment.org, { id: org.id, name: org.name });
    assertStatus(await c.get('/api/v1/sessions'), 200);
    assert.equal(await verifyStatus(c), 200);
    const me = await c.get('/api/v1/me');
    assert.equal(me.json.session.state, 'full');
    assert.equal(me.json.enrollment.deadline, policy.policy_since + 7 * DAY);

    const members = (await owner.client.get(`/api/v1/orgs/${org.id}/members`)).json.members;
    const b = members.find((m) => m.username === bob.username);
    const o = members.find((m) => m.username === owner.username);
    assert.equal(b.twofa_enabled, false);
    assert.deepEqual(b.method_types, []);
    assert.equal(b.enrollment_deadline, policy.policy_since + 7 * DAY);
    assert.ok(b.last_login_at >= before, JSON.stringify(b));
    assert.equal(o.twofa_enabled, true);
    assert.deepEqual(o.method_types, ['totp']);
    assert.equal(o.enrollment_deadline, null);
    assert.equal(o.role, 'owner');
  });

  test('after the deadline: enrolment-only session; verify refuses it; the first method makes it full', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    assertError(await owner.client.put(`/api/v1/orgs/${org.id}/policy`, { require_2fa: true }), 409, 'twofa_required_first');
    await enrol(owner.client);
    await setPolicy(owner.client, org.id, true, 0);

    const { c, res } = await signIn(server, bob.username);
    assert.equal(res.json.status, 'enrollment_required', res.text);
    assert.equal(res.json.enrollment.org.name, org.name);
    assert.ok(res.json.enrollment.deadline <= nowS());
    const restrictedToken = c.session;
    assert.ok(restrictedToken, 'a session cookie is set');

    // What the restricted session can reach: /me, TOTP enrolment, logout. Nothing else.
    const me = await c.get('/api/v1/me');
    assertStatus(me, 200);
    assert.equal(me.json.session.state, 'enrollment_required');
    assert.equal(me.json.twofa_enabled, false);
    assert.equal(me.json.enrollment.required, true);
    assert.equal(await verifyStatus(c), 401);
    for (const [method, path, body] of [
      ['GET', '/api/v1/sessions'], ['GET', '/api/v1/audit'], ['GET', '/api/v1/orgs'],
      ['POST', '/api/v1/orgs', { name: uniqueName('o') }], ['POST', '/api/v1/recovery-codes'],
      ['DELETE', '/api/v1/twofa'], ['POST', '/api/v1/reauth', { password: STRONG_PASSWORD }],
      ['GET', `/api/v1/orgs/${org.id}/members`],
    ]) {
      assertError(await c.request(method, path, body), 403, 'enrollment_required');
    }
    assertError(await c.get('/api/v1/login/state'), 401, 'not_authenticated');

    const add = await c.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(add, 201);
    assertError(await c.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: '000000x' }), 400, 'invalid_code');
    assert.equal(await verifyStatus(c), 401);
    const confirm = await c.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totpStep(add.json.secret, 0) });
    assertStatus(confirm, 200);
    assert.equal(confirm.json.recovery_codes.length, 10);
    assert.ok(confirm.cookie('twostep_session'), 'the confirmation must set the new session cookie');
    assert.notEqual(c.session, restrictedToken, 'a new token replaces the restricted one');
    assert.equal(await verifyStatus(c), 200);
    const full = await c.get('/api/v1/me');
    assert.equal(full.json.session.state, 'full');
    assert.equal(full.json.twofa_enabled, true);
    assert.equal(full.json.enrollment, null);
    assertStatus(await c.get('/api/v1/sessions'), 200);
    // Adding a method proved only the password: sensitive changes still need a re-authentication.
    assertError(await c.delete('/api/v1/twofa'), 403, 'reauth_required');

    // The old token is dead.
    const old = new Client(server);
    old.setCookie('twostep_session', restrictedToken);
    assertError(await old.get('/api/v1/me'), 401, 'not_authenticated');
    // Next sign-in asks for the second factor.
    assert.equal((await signIn(server, bob.username)).res.json.status, 'second_factor');
  });

  test('a second restricted session cannot add a method once the account has 2FA', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    await enrol(owner.client);
    await setPolicy(owner.client, org.id, true, 0);
    const first = await signIn(server, bob.username);
    const second = await signIn(server, bob.username);
    assert.equal(second.res.json.status, 'enrollment_required');
    const add = await first.c.post('/api/v1/methods/totp', {});
    assertStatus(await first.c.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totpStep(add.json.secret, 0) }), 200);
    assertError(await second.c.post('/api/v1/methods/totp', {}), 401, 'not_authenticated');
    assertError(await second.c.get('/api/v1/me'), 401, 'not_authenticated');
    assert.equal(await verifyStatus(second.c), 401);
  });

  test('policy changes reach sessions that already exist: on restricts, off lifts at once', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    await enrol(owner.client);
    assert.equal(await verifyStatus(bob.client), 200);

    await setPolicy(owner.client, org.id, true, 0);
    assert.ok(await waitFor(async () => (await verifyStatus(bob.client)) === 401, { timeoutMs: 2500 }),
              'a signed-in member without 2FA must be restricted when the policy starts with no grace');
    assertError(await bob.client.get('/api/v1/sessions'), 403, 'enrollment_required');
    assert.equal((await bob.client.get('/api/v1/me')).json.session.state, 'enrollment_required');
    // The owner has 2FA: untouched.
    assert.equal(await verifyStatus(owner.client), 200);

    await setPolicy(owner.client, org.id, false, 0);
    assert.ok(await waitFor(async () => (await verifyStatus(bob.client)) === 200, { timeoutMs: 2500 }),
              'turning the policy off must lift the restriction at once');
    assertStatus(await bob.client.get('/api/v1/sessions'), 200);

    // A sign-in made while restricted is lifted too, and a grace period from now on lifts.
    await setPolicy(owner.client, org.id, true, 0);
    const { c, res } = await signIn(server, bob.username);
    assert.equal(res.json.status, 'enrollment_required');
    await setPolicy(owner.client, org.id, true, 2);
    assert.ok(await waitFor(async () => (await verifyStatus(c)) === 200, { timeoutMs: 2500 }));
    assert.equal((await c.get('/api/v1/me')).json.session.state, 'full');
    // Removing the member lifts it as well.
    await setPolicy(owner.client, org.id, true, 0);
    assertError(await c.get('/api/v1/sessions'), 403, 'enrollment_required');
    assertStatus(await owner.client.delete(`/api/v1/orgs/${org.id}/members/${bob.username}`), 200);
    assertStatus(await c.get('/api/v1/sessions'), 200);
  });

  test('the strictest of several organisations applies', async () => {
    const ownerA = await user(server, 'ownera');
    const ownerB = await user(server, 'ownerb');
    const bob = await user(server, 'bob');
    const lax = await createOrg(ownerA.client);
    const strict = await createOrg(ownerB.client);
    const none = await createOrg(ownerB.client);
    await addMember(ownerA.client, lax.id, bob.username);
    await addMember(ownerB.client, strict.id, bob.username);
    await addMember(ownerB.client, none.id, bob.username);
    await enrol(ownerA.client);
    await enrol(ownerB.client);
    const laxPolicy = await setPolicy(ownerA.client, lax.id, true, 30);
    const strictPolicy = await setPolicy(ownerB.client, strict.id, true, 2);

    let r = (await signIn(server, bob.username)).res;
    assert.equal(r.json.status, 'ok');
    assert.equal(r.json.enrollment.org.id, strict.id);
    assert.equal(r.json.enrollment.deadline, strictPolicy.policy_since + 2 * DAY);

    await setPolicy(ownerB.client, strict.id, true, 0);
    r = (await signIn(server, bob.username)).res;
    assert.equal(r.json.status, 'enrollment_required', 'the strict organisation has no grace left');
    assert.equal(r.json.enrollment.org.id, strict.id);

    await setPolicy(ownerB.client, strict.id, false, 0);
    r = (await signIn(server, bob.username)).res;
    assert.equal(r.json.status, 'ok');
    assert.equal(r.json.enrollment.org.id, lax.id);
    assert.equal(r.json.enrollment.deadline, laxPolicy.policy_since + 30 * DAY);

    await setPolicy(ownerA.client, lax.id, false, 0);
    r = (await signIn(server, bob.username)).res;
    assert.equal(r.json.status, 'ok');
    assert.equal(r.json.enrollment, undefined);
  });

  test('admin reset of a lost phone: re-auth first, methods and codes gone, sessions ended, both logs', async () => {
    const owner = await user(server, 'owner');
    const admin = await user(server, 'admin');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, admin.username, 'admin');
    await addMember(owner.client, org.id, bob.username, 'member');
    const adminTotp = await enrol(admin.client); // turning 2FA on voids the admin's password-only auth time
    const bobTotp = await enrol(bob.client);
    const bob2 = new Client(server);
    assert.equal((await login(bob2, bob.username)).json.status, 'second_factor');
    assertStatus(await bob2.post('/api/v1/login/second-factor', { type: 'totp', code: totpStep(bobTotp.secret, 1) }), 200);
    assert.equal(await verifyStatus(bob2), 200);

    const path = `/api/v1/orgs/${org.id}/members/${bob.username}/twofa`;
    assertError(await admin.client.delete(path), 403, 'reauth_required');
    assert.equal((await bob.client.get('/api/v1/me')).json.twofa_enabled, true, 'refused: nothing changed');
    assertStatus(await admin.client.post('/api/v1/reauth', {
      password: STRONG_PASSWORD, type: 'totp', code: totpStep(adminTotp.secret, 1),
    }), 200);
    assertStatus(await admin.client.delete(path), 200);

    // Every session of bob ended, on /verify too.
    assertError(await bob.client.get('/api/v1/me'), 401, 'not_authenticated');
    assert.ok(await waitFor(async () => (await verifyStatus(bob2)) === 401, { timeoutMs: 2500 }));
    // Signing in again needs only the password; 2FA and recovery codes are gone.
    const again = await loginOk(new Client(server), bob.username);
    assert.equal(again.json.status, 'ok');
    const c = new Client(server);
    await loginOk(c, bob.username);
    const me = (await c.get('/api/v1/me')).json;
    assert.equal(me.twofa_enabled, false);
    assert.equal(me.recovery_codes_remaining, 0);

    // Bob's own log says who did it and where, without the admin's address.
    const mine = (await c.get('/api/v1/audit?limit=50')).json.events;
    const reset = mine.find((e) => e.event === 'twofa_reset_by_admin');
    assert.ok(reset, JSON.stringify(mine.map((e) => e.event)));
    assert.equal(reset.detail.org, org.name);
    assert.equal(reset.detail.by, admin.username);
    assert.equal(reset.ip, '');
    assert.ok(mine.some((e) => e.event === 'twofa_disabled' && e.detail.reason === 'org_admin_reset'));
    // The organisation's log, for its admins.
    const log = (await owner.client.get(`/api/v1/orgs/${org.id}/audit`)).json.events;
    const entry = log.find((e) => e.event === 'member_twofa_reset');
    assert.ok(entry, JSON.stringify(log.map((e) => e.event)));
    assert.equal(entry.actor, admin.username);
    assert.equal(entry.subject, bob.username);
    assert.equal(entry.detail.sessions_ended, '2');
    assert.ok(entry.ip.length > 0);
    // Nothing left to reset.
    assertError(await admin.client.delete(path), 409, 'twofa_not_enabled');
  });

  test('admin reset revokes the member\'s application passwords unless told to keep them; a wrong type changes nothing', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const carol = await user(server, 'carol');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    await addMember(owner.client, org.id, carol.username);
    // Right after sign-up the session may create application passwords (fresh authentication).
    const bobApp = await createAppPassword(bob.client, { name: 'Phone mail' });
    const carolApp = await createAppPassword(carol.client, { name: 'Phone mail' });
    await enrol(bob.client);
    await enrol(carol.client);
    const ownerTotp = await enrol(owner.client);
    assertStatus(await owner.client.post('/api/v1/reauth', {
      password: STRONG_PASSWORD, type: 'totp', code: totpStep(ownerTotp.secret, 1),
    }), 200);
    // Both work, and /verify has cached the successes.
    assert.equal(await verifyBasicStatus(server, bob.username, bobApp.password), 200);
    assert.equal(await verifyBasicStatus(server, carol.username, carolApp.password), 200);
    const base = `/api/v1/orgs/${org.id}/members`;

    for (const body of [{ revoke_app_passwords: 'yes' }, { revoke_app_passwords: 1 },
      { revoke_app_passwords: [true] }, { revoke_app_passwords: {} }]) {
      assertError(await owner.client.delete(`${base}/${bob.username}/twofa`, body), 400, 'invalid_request');
    }
    assertError(await owner.client.delete(`${base}/${bob.username}/twofa`, undefined, { body: '{"revoke_app_passwords":' }),
                400, 'invalid_json');
    assertError(await owner.client.delete(`${base}/${bob.username}/twofa`, undefined, { body: '[false]' }),
                400, 'invalid_request');
    // Refused: 2FA on, sessions and the application password alive.
    const still = await bob.client.get('/api/v1/me');
    assertStatus(still, 200);
    assert.equal(still.json.twofa_enabled, true);
    assert.equal(await verifyStatus(bob.client), 200);
    assert.equal(await verifyBasicStatus(server, bob.username, bobApp.password), 200);
    const refusedLog = (await owner.client.get(`/api/v1/orgs/${org.id}/audit`)).json.events;
    assert.ok(!refusedLog.some((e) => e.event === 'member_twofa_reset'), JSON.stringify(refusedLog));

    // The default revokes them, at once: the cached success is dropped too.
    const reset = await owner.client.delete(`${base}/${bob.username}/twofa`);
    assertStatus(reset, 200);
    assert.equal(reset.json.status, 'ok');
    assert.equal(reset.json.app_passwords_revoked, 1);
    assert.equal(reset.json.sessions_ended, 1);
    assert.equal(await verifyBasicStatus(server, bob.username, bobApp.password), 401);
    assertError(await appAuth(new Client(server), bob.username, bobApp.password, 'imap'), 401);
    assert.equal(await verifyStatus(bob.client), 401);

    // Asked to keep them: 2FA off and sessions ended, the mail client goes on working.
    const keep = await owner.client.delete(`${base}/${carol.username}/twofa`, { revoke_app_passwords: false });
    assertStatus(keep, 200);
    assert.equal(keep.json.app_passwords_revoked, 0);
    assert.equal(await verifyStatus(carol.client), 401);
    assert.equal(await verifyBasicStatus(server, carol.username, carolApp.password), 200);
    assertStatus(await appAuth(new Client(server), carol.username, carolApp.password, 'imap'), 200);
    const carolAgain = new Client(server);
    await loginOk(carolAgain, carol.username);
    assert.equal((await carolAgain.get('/api/v1/me')).json.twofa_enabled, false);
    assert.equal((await carolAgain.get('/api/v1/app-passwords')).json.app_passwords.length, 1);

    // Both logs count what was revoked.
    const log = (await owner.client.get(`/api/v1/orgs/${org.id}/audit`)).json.events
      .filter((e) => e.event === 'member_twofa_reset');
    assert.deepEqual(log.map((e) => [e.subject, e.detail.app_passwords_revoked]),
                     [[carol.username, '0'], [bob.username, '1']]);
    const bobAgain = new Client(server);
    await loginOk(bobAgain, bob.username);
    assert.deepEqual((await bobAgain.get('/api/v1/app-passwords')).json.app_passwords, []);
    const mine = (await bobAgain.get('/api/v1/audit?limit=50')).json.events;
    assert.equal(mine.find((e) => e.event === 'twofa_reset_by_admin').detail.app_passwords_revoked, '1');
    assert.ok(mine.some((e) => e.event === 'app_password_revoked' && e.detail.name === 'Phone mail'),
              JSON.stringify(mine.map((e) => e.event)));
  });

  test('the organisation log records every change, newest first', async () => {
    const owner = await user(server, 'owner');
    const bob = await user(server, 'bob');
    const org = await createOrg(owner.client);
    await addMember(owner.client, org.id, bob.username);
    assertStatus(await owner.client.patch(`/api/v1/orgs/${org.id}/members/${bob.username}`, { role: 'admin' }), 200);
    await enrol(owner.client);
    await setPolicy(owner.client, org.id, true, 5);
    assertStatus(await owner.client.delete(`/api/v1/orgs/${org.id}/members/${bob.username}`), 200);
    const log = (await owner.client.get(`/api/v1/orgs/${org.id}/audit`)).json.events;
    assert.deepEqual(log.map((e) => e.event),
                     ['member_removed', 'policy_changed', 'member_role_changed', 'member_added', 'org_created']);
    assert.deepEqual(log[1].detail, { require_2fa: 'true', grace_days: '5' });
    assert.deepEqual(log[2].detail, { from: 'member', to: 'admin' });
    assert.equal(log[3].subject, bob.username);
    assert.equal(log[4].actor, owner.username);
    assert.equal((await owner.client.get(`/api/v1/orgs/${org.id}/audit?limit=2`)).json.events.length, 2);
    // The member's own log shows the membership changes.
    const bobLog = (await bob.client.get('/api/v1/audit')).json.events.map((e) => e.event);
    for (const e of ['org_member_added', 'org_role_changed', 'org_member_removed']) assert.ok(bobLog.includes(e), e);
    // Bob is no longer a member: the organisation is gone from his view.
    assertError(await bob.client.get(`/api/v1/orgs/${org.id}/audit`), 404, 'not_found');
    assert.deepEqual((await bob.client.get('/api/v1/orgs')).json.orgs, []);
  });
});

describe('organisations created by the operator', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('POST /orgs is refused by default; the CLI creates, adds, sets the policy and lists', async () => {
    const alice = await user(server, 'alice');
    const bob = await user(server, 'bob');
    assertError(await alice.client.post('/api/v1/orgs', { name: 'Mine' }), 403, 'forbidden');
    assert.equal((await alice.client.get('/api/v1/orgs')).json.can_create, false);

    const name = `Ops ${uniqueName('o')}`;
    const create = await server.cli(['org', 'create', name, '--owner', alice.username]);
    assert.equal(create.code, 0, create.stderr);
    assert.match(create.stdout, /created organisation/);
    const dup = await server.cli(['org', 'create', name.toLowerCase(), '--owner', alice.username]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /exists already/);
    const noOwner = await server.cli(['org', 'create', 'Nobody', '--owner', 'no_such_user_x']);
    assert.notEqual(noOwner.code, 0);

    const orgs = (await alice.client.get('/api/v1/orgs')).json.orgs;
    assert.equal(orgs.length, 1);
    assert.equal(orgs[0].role, 'owner');
    const id = orgs[0].id;

    const add = await server.cli(['org', 'add', name, bob.username, '--role', 'admin']);
    assert.equal(add.code, 0, add.stderr);
    const badRole = await server.cli(['org', 'add', String(id), bob.username, '--role', 'boss']);
    assert.notEqual(badRole.code, 0);

    // The operator's policy reaches the running server's sessions.
    const policy = await server.cli(['org', 'policy', String(id), '--require-2fa', '--grace-days', '0']);
    assert.equal(policy.code, 0, policy.stderr);
    assert.match(policy.stdout, /required, grace 0 days/);
    assert.ok(await waitFor(async () => (await verifyStatus(bob.client)) === 401, { timeoutMs: 2500 }));
    const members = await server.cli(['org', 'members', name]);
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, new RegExp(`${bob.username}\\s+admin\\s+off`));
    const list = await server.cli(['org', 'list']);
    assert.match(list.stdout, new RegExp(`${id}\\s+${name}\\s+2\\s+required`));
    // Changing only the grace period keeps the requirement.
    const grace = await server.cli(['org', 'policy', name, '--grace-days', '4']);
    assert.equal(grace.code, 0, grace.stderr);
    assert.match(grace.stdout, /required, grace 4 days/);
    const show = await server.cli(['org', 'policy', name]);
    assert.match(show.stdout, /required, grace 4 days/);
    const both = await server.cli(['org', 'policy', name, '--require-2fa', '--no-require-2fa']);
    assert.notEqual(both.code, 0);
    const off = await server.cli(['org', 'policy', name, '--no-require-2fa']);
    assert.equal(off.code, 0, off.stderr);
    assert.ok(await waitFor(async () => (await verifyStatus(bob.client)) === 200, { timeoutMs: 2500 }));

    const lastOwner = await server.cli(['org', 'remove', name, alice.username]);
    assert.notEqual(lastOwner.code, 0);
    assert.match(lastOwner.stderr, /at least one owner/);
    const remove = await server.cli(['org', 'remove', name, bob.username]);
    assert.equal(remove.code, 0, remove.stderr);
    assert.deepEqual((await bob.client.get('/api/v1/orgs')).json.orgs, []);
    const missing = await server.cli(['org', 'members', 'No Such Org']);
    assert.notEqual(missing.code, 0);
    // The operator's changes are in the organisation's log, by "operator".
    const log = (await alice.client.get(`/api/v1/orgs/${id}/audit`)).json.events;
    assert.ok(log.some((e) => e.event === 'policy_changed' && e.actor === 'operator'), JSON.stringify(log));
  });
});
