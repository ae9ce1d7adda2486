// App passwords in the browser (create with name and scopes after re-authenticating, shown
// once with a working copy button, listed with last use, revoked), and single sign-on through
// the shipped nginx configuration: a page behind auth_request sends the browser to the sign-in
// page and, after signing in, back to the page (rd); an rd outside the domain is not followed.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import { PASSWORD, eventually, signOut, signUp, uniqueName, waitForCount, waitForPath } from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';
import { startNginx } from '../integration/lib/nginx.mjs';
import { APP_PASSWORD_SHAPE, freePort } from '../integration/lib/protocols.mjs';

async function appAuth(server, username, password, service = 'imap') {
  const res = await fetch(`${server.url}/api/v1/app-auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, service }),
  });
  return res.status;
}

describe('app passwords on the security page', () => {
  let server;
  let browser;
  let context;
  let page;
  let errors;
  const username = uniqueName('carol');

  before(async () => {
    // A 1-s re-authentication window: creating an app password asks for the password again.
    server = await startServer({ env: { TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1' } });
    browser = await launchBrowser();
    ({ context, page, errors } = await newProfile(browser, server.url));
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  let created;

  it('creates one after re-authenticating and shows it once, with a copy button', async () => {
    await signUp(page, username);
    await page.getByTestId('nav-security').click();
    const card = page.getByTestId('app-passwords-card');
    await card.waitFor();
    await page.getByTestId('no-app-passwords').waitFor();

    await page.getByTestId('add-app-password').click();
    const name = page.getByLabel('Name');
    assert.equal(await name.evaluate((el) => el === document.activeElement), true, 'the name field has focus');
    await name.fill('Thunderbird');
    assert.equal(await page.getByTestId('scope-mail').isChecked(), true, 'mail is preselected');
    await page.getByTestId('scope-dav').check();
    // None chosen is refused in the page.
    await page.getByTestId('scope-mail').uncheck();
    await page.getByTestId('scope-dav').uncheck();
    await page.getByTestId('app-password-create').click();
    await eventually(async () => assert.match(await page.getByTestId('app-password-form-error').textContent(), /at least one/));
    await page.getByTestId('scope-mail').check();
    await page.getByTestId('scope-dav').check();

    // Past the 1-s re-authentication window (times are whole seconds: up to 2 s).
    await new Promise((r) => setTimeout(r, 2100));
    await page.getByTestId('app-password-create').click();
    await page.getByTestId('reauth-dialog').waitFor();
    await page.getByTestId('reauth-password').fill(PASSWORD);
    await page.getByTestId('reauth-submit').click();

    const value = page.getByTestId('new-app-password');
    await value.waitFor();
    created = await value.inputValue();
    assert.match(created, APP_PASSWORD_SHAPE);
    await page.getByTestId('copy-app-password').click();
    await eventually(async () => assert.equal(await page.getByTestId('copy-status').textContent(), 'Copied to the clipboard.'));
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), created);

    const items = page.getByTestId('app-password');
    await waitForCount(items, 1);
    assert.equal(await items.first().getByTestId('app-password-name').textContent(), 'Thunderbird');
    assert.equal(await items.first().getByTestId('app-password-scopes').textContent(), 'Mail, Files, calendars and contacts');
    assert.equal(await items.first().getByTestId('app-password-last-used').textContent(), 'never');

    await page.getByTestId('app-password-done').click();
    await eventually(async () => assert.equal(await page.getByTestId('app-password-created').count(), 0));
    assert.ok(!(await page.content()).includes(created), 'shown once: gone from the page after Done');
  });

  it('lists its last use after a mail app signed in with it', async () => {
    assert.ok(created, 'needs the creation test');
    assert.equal(await appAuth(server, username, created, 'imap'), 200);
    await page.reload();
    const item = page.getByTestId('app-password').first();
    await item.waitFor();
    assert.equal(await item.getByTestId('app-password-last-used').textContent(), 'just now');
    assert.equal(await item.getByTestId('app-password-last-ip').textContent(), ' from 127.0.0.1');
    assert.ok(!(await page.content()).includes(created), 'the list never shows the password');
  });

  it('revokes it after a confirmation; it stops working at once', async () => {
    await page.getByTestId('revoke-app-password').first().click();
    await page.getByTestId('confirm-dialog').waitFor();
    await page.getByTestId('confirm-cancel').click();
    await waitForCount(page.getByTestId('app-password'), 1);
    await page.getByTestId('revoke-app-password').first().click();
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('no-app-passwords').waitFor();
    await eventually(async () => assert.match(await page.getByTestId('app-passwords-status').textContent(), /revoked/));
    assert.equal(await appAuth(server, username, created, 'imap'), 401);
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});

describe('single sign-on through nginx with a return address', () => {
  let server;
  let nginx;
  let browser;
  let context;
  let page;
  let errors;
  let id;
  const username = uniqueName('dave');

  before(async () => {
    const port = await freePort();
    id = `http://id.example.com:${port}`;
    server = await startServer({
      env: {
        TWOSTEP_SERVER_PUBLIC_URL: id,
        TWOSTEP_SESSIONS_COOKIE_DOMAIN: '.example.com',
        TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    nginx = await startNginx({ twostepPort: Number(new URL(server.url).port), port });
    browser = await launchBrowser({ extraArgs: ['--host-resolver-rules=MAP *.example.com 127.0.0.1'] });
    ({ context, page, errors } = await newProfile(browser, id));
    await signUp(page, username);
    await signOut(page);
  });

  after(async () => {
    await browser?.close();
    await nginx?.stop();
    await server?.stop();
  });

  it('a protected page sends the browser to sign in and back; every subdomain then lets it in', async () => {
    const wanted = `http://app.example.com:${nginx.port}/reports/q3?year=2024&tab=summary`;
    await page.goto(wanted);
    await page.getByTestId('login-form').waitFor();
    const at = new URL(page.url());
    assert.equal(at.origin, id);
    assert.equal(at.searchParams.get('rd'), wanted);
    await page.getByTestId('username').fill(username);
    await page.getByTestId('password').fill(PASSWORD);
    await page.getByTestId('submit').click();
    await eventually(() => assert.equal(page.url(), wanted));
    assert.equal((await page.textContent('body')).trim(), `app user=${username}`);
    // The same session opens the WebDAV share on another subdomain.
    const res = await page.goto(`http://dav.example.com:${nginx.port}/`);
    assert.equal(res.status(), 200);
    const cookies = await context.cookies(id);
    assert.equal(cookies.find((c) => c.name === 'twostep_session')?.domain, '.example.com');
  });

  it('already signed in, the sign-in page goes straight back to rd', async () => {
    const wanted = `http://app.example.com:${nginx.port}/again`;
    await page.goto(`${id}/login?rd=${encodeURIComponent(wanted)}`);
    await eventually(() => assert.equal(page.url(), wanted));
  });

  it('an rd outside the domain is not followed', async () => {
    await page.goto(`${id}/account`);
    await page.getByTestId('account-page').waitFor();
    await signOut(page);
    await page.goto(`${id}/login?rd=${encodeURIComponent('http://evil.example.net/steal')}`);
    await page.getByTestId('login-form').waitFor();
    await eventually(async () => assert.match(await page.getByTestId('flash').textContent(), /outside this site/));
    await page.getByTestId('username').fill(username);
    await page.getByTestId('password').fill(PASSWORD);
    await page.getByTestId('submit').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
    assert.equal(new URL(page.url()).origin, id);
    // Plain http on a non-local name (the test has no TLS): Chromium notes that it ignores COOP.
    const ours = unexpectedErrors(errors).filter((e) => !/Cross-Origin-Opener-Policy header has been ignored/.test(e));
    assert.deepEqual(ours, []);
  });
});
