// A real nginx with the shipped deploy/nginx configuration in front of twostep: auth_request on
// a web application and on a WebDAV share (nginx's dav module), single sign-on across
// subdomains through the cookie domain, the sign-in redirect with rd, HTTP Basic with
// application passwords (curl -T), the main password before and after 2FA, revocation at once,
// scopes, and headers a client must not be able to forge.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { Client, assertStatus, signup, totp, uniqueName, STRONG_PASSWORD } from './lib/client.mjs';
import { createAppPassword, freePort } from './lib/protocols.mjs';
import { curl, startNginx } from './lib/nginx.mjs';

describe('nginx auth_request with WebDAV', () => {
  let server;
  let nginx;
  let user; // {client, username, token}

  before(async () => {
    // Users reach twostep as id.example.com through nginx: its public URL names nginx's port.
    const nginxPort = await freePort();
    server = await startServer({
      env: {
        TWOSTEP_SERVER_PUBLIC_URL: `http://id.example.com:${nginxPort}`,
        TWOSTEP_SESSIONS_COOKIE_DOMAIN: '.example.com',
        TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    nginx = await startNginx({ twostepPort: server.port, port: nginxPort });

    const username = uniqueName('dav');
    const client = new Client(server);
    await signup(client, username);
    user = { client, username, token: client.session };
  });
  after(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  const davUrl = (path) => `http://dav.example.com:${nginx.port}${path}`;

  test('a browser session cookie passes on every subdomain; the application sees the user', async () => {
    const app = await curl(nginx, 'app.example.com', '/', { cookie: `twostep_session=${user.token}` });
    assert.equal(app.status, 200, app.body);
    assert.equal(app.body.trim(), `app user=${user.username}`);
    writeFileSync(join(nginx.davRoot, 'hello.txt'), 'hello from the share\n');
    const dav = await curl(nginx, 'dav.example.com', '/hello.txt', { cookie: `twostep_session=${user.token}` });
    assert.equal(dav.status, 200);
    assert.equal(dav.body, 'hello from the share\n');
    // Signed in at id.example.com, the cookie is set for the parent domain.
    const signin = await curl(nginx, 'id.example.com', '/api/v1/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.username, password: STRONG_PASSWORD }),
    });
    assert.equal(signin.status, 200, signin.body);
    assert.match(signin.headers['set-cookie'] || '', /Domain=\.example\.com/);
  });

  test('no session: browsers go to the sign-in page with rd, WebDAV clients get a Basic challenge', async () => {
    const page = await curl(nginx, 'app.example.com', '/reports/q3?year=2024&tab=a%20b', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 302, page.body);
    const location = new URL(page.headers.location);
    assert.equal(`${location.origin}${location.pathname}`, `http://id.example.com:${nginx.port}/login`);
    assert.equal(location.searchParams.get('rd'), `http://app.example.com:${nginx.port}/reports/q3?year=2024&tab=a%20b`);
    const dav = await curl(nginx, 'dav.example.com', '/hello.txt');
    assert.equal(dav.status, 401);
    assert.match(dav.headers['www-authenticate'] || '', /^Basic realm="twostep"/);
    const davBrowser = await curl(nginx, 'dav.example.com', '/hello.txt', { headers: { accept: 'text/html,*/*' } });
    assert.equal(davBrowser.status, 302);
    assert.equal(new URL(davBrowser.headers.location).searchParams.get('rd'), davUrl('/hello.txt'));
    // A revoked or unknown session cookie is the same as none.
    const stale = await curl(nginx, 'app.example.com', '/', { cookie: 'twostep_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', headers: { accept: 'text/html' } });
    assert.equal(stale.status, 302);
  });

  test('curl -T with an application password uploads; PROPFIND lists; GET reads back', async () => {
    const { password } = await createAppPassword(user.client, { name: 'davfs', scopes: ['dav'] });
    const file = join(nginx.dir, 'upload.txt');
    writeFileSync(file, 'uploaded with an application password\n');
    const put = await curl(nginx, 'dav.example.com', '/docs/2024/note.txt', { upload: file, user: `${user.username}:${password}` });
    assert.equal(put.status, 201, `${put.status} ${put.body}\n${nginx.log().slice(-2000)}`);
    assert.equal(readFileSync(join(nginx.davRoot, 'docs/2024/note.txt'), 'utf8'), 'uploaded with an application password\n');
    const get = await curl(nginx, 'dav.example.com', '/docs/2024/note.txt', { user: `${user.username}:${password}` });
    assert.equal(get.status, 200);
    assert.equal(get.body, 'uploaded with an application password\n');
    const list = await curl(nginx, 'dav.example.com', '/docs/2024/', { method: 'PROPFIND', headers: { depth: '1' }, user: `${user.username}:${password}` });
    assert.equal(list.status, 207, list.body);
    assert.match(list.body, /note\.txt/);
    // Typed by a person: upper case and spaces instead of dashes.
    const typed = password.toUpperCase().replaceAll('-', ' ');
    assert.equal((await curl(nginx, 'dav.example.com', '/docs/2024/note.txt', { user: `${user.username}:${typed}` })).status, 200);
    // The share's last use shows in the list.
    const mine = await user.client.get('/api/v1/app-passwords');
    assert.ok(mine.json.app_passwords.find((p) => p.name === 'davfs').last_used_at > 0);
  });

  test('wrong scope, wrong password, garbage and oversized headers are refused and write nothing', async () => {
    const mail = await createAppPassword(user.client, { name: 'mail only', scopes: ['mail'] });
    const file = join(nginx.dir, 'nope.txt');
    writeFileSync(file, 'must not arrive\n');
    const cases = [
      [{ user: `${user.username}:${mail.password}` }, 403],
      [{ user: `${user.username}:abcd-efgh-ijkm-npqr-stuv-wxyz` }, 401],
      [{ user: `${uniqueName('nobody')}:${mail.password}` }, 401],
      [{ headers: { authorization: 'Basic !!!!' } }, 401],
      [{ headers: { authorization: 'Bearer x' } }, 401],
      [{ headers: { authorization: `Basic ${Buffer.from('no colon').toString('base64')}` } }, 401],
      // nginx itself refuses a header this big.
      [{ user: `${user.username}:${'p'.repeat(10000)}` }, 400],
    ];
    for (const [opts, status] of cases) {
      const res = await curl(nginx, 'dav.example.com', '/nope.txt', { upload: file, ...opts });
      assert.equal(res.status, status, `${JSON.stringify(opts).slice(0, 80)} → ${res.status}`);
    }
    assert.ok(!existsSync(join(nginx.davRoot, 'nope.txt')), 'nothing may be written');
  });

  test('a client cannot forge the scope, the user or the return address', async () => {
    const dav = await createAppPassword(user.client, { name: 'dav only', scopes: ['dav'] });
    // The app location needs "all"; a forged X-Twostep-Scope: dav from the client is replaced.
    const forgedScope = await curl(nginx, 'app.example.com', '/', {
      user: `${user.username}:${dav.password}`,
      headers: { 'x-twostep-scope': 'dav' },
    });
    assert.equal(forgedScope.status, 403);
    // X-Remote-User comes only from twostep.
    const forgedUser = await curl(nginx, 'app.example.com', '/', {
      cookie: `twostep_session=${user.token}`,
      headers: { 'x-remote-user': 'root' },
    });
    assert.equal(forgedUser.body.trim(), `app user=${user.username}`);
    const noSession = await curl(nginx, 'app.example.com', '/', { headers: { 'x-remote-user': 'root', accept: 'text/html' } });
    assert.equal(noSession.status, 302);
    // The original URL is nginx's, not a header the client sent.
    const forgedRd = await curl(nginx, 'app.example.com', '/x', { headers: { 'x-original-url': 'http://evil.example.net/', accept: 'text/html' } });
    assert.equal(new URL(forgedRd.headers.location).searchParams.get('rd'), `http://app.example.com:${nginx.port}/x`);
  });

  test('rd to a foreign domain is refused', async () => {
    const foreign = await curl(nginx, 'id.example.com', `/api/v1/return-url?rd=${encodeURIComponent('http://evil.example.net/')}`);
    assert.equal(foreign.status, 400);
    assert.equal(JSON.parse(foreign.body).error, 'invalid_redirect');
    const sibling = await curl(nginx, 'id.example.com', `/api/v1/return-url?rd=${encodeURIComponent(davUrl('/a'))}`);
    assert.equal(sibling.status, 200);
    const verify = await new Client(server).get('/api/v1/verify', { headers: { 'x-original-url': 'http://example.com.evil.net/' } });
    assert.equal(verify.status, 401);
    assert.equal(verify.headers.get('x-twostep-redirect'), `http://id.example.com:${nginx.port}/login`);
  });

  test('the protocol checks are not reachable from outside through id.example.com', async () => {
    const body = JSON.stringify({ username: user.username, password: STRONG_PASSWORD, service: 'imap' });
    const appAuth = await curl(nginx, 'id.example.com', '/api/v1/app-auth', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(appAuth.status, 404);
    const verify = await curl(nginx, 'id.example.com', '/api/v1/verify', { user: `${user.username}:${STRONG_PASSWORD}` });
    assert.equal(verify.status, 404);
    // The rest of twostep is.
    assert.equal((await curl(nginx, 'id.example.com', '/healthz')).status, 200);
  });

  test('the main password works until 2FA is on, then only application passwords do', async () => {
    const username = uniqueName('twofa');
    const client = new Client(server);
    await signup(client, username);
    const { password } = await createAppPassword(client, { scopes: ['all'] });
    const file = join(nginx.dir, 'main.txt');
    writeFileSync(file, 'main\n');
    const before2fa = await curl(nginx, 'dav.example.com', `/${username}/main.txt`, { upload: file, user: `${username}:${STRONG_PASSWORD}` });
    assert.equal(before2fa.status, 201);

    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totp(add.json.secret) }), 200);
    // The 1-s cache of the successful check must not let the main password through later.
    await new Promise((r) => setTimeout(r, 1100));
    const after2fa = await curl(nginx, 'dav.example.com', `/${username}/main2.txt`, { upload: file, user: `${username}:${STRONG_PASSWORD}` });
    assert.equal(after2fa.status, 401);
    assert.ok(!existsSync(join(nginx.davRoot, username, 'main2.txt')));
    const withApp = await curl(nginx, 'dav.example.com', `/${username}/app.txt`, { upload: file, user: `${username}:${password}` });
    assert.equal(withApp.status, 201);
  });

  test('a revoked application password is refused at once', async () => {
    const { id, password } = await createAppPassword(user.client, { name: 'to revoke', scopes: ['dav'] });
    const auth = { user: `${user.username}:${password}` };
    assert.equal((await curl(nginx, 'dav.example.com', '/hello.txt', auth)).status, 200);
    assert.equal((await curl(nginx, 'dav.example.com', '/hello.txt', auth)).status, 200); // cached
    assertStatus(await user.client.delete(`/api/v1/app-passwords/${id}`), 200);
    const after1 = await curl(nginx, 'dav.example.com', '/hello.txt', auth);
    assert.equal(after1.status, 401, 'refused on the very next request');
  });
});
