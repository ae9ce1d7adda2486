// Accounts in the browser: sign up, sign in from a second browser, see and revoke
// sessions, "Stay signed in" cookies, sign out.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  PASSWORD,
  eventually,
  sessionCookie,
  signIn,
  signOut,
  signUp,
  submitSignIn,
  uniqueName,
  waitForCount,
  waitForPath,
} from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';

describe('accounts and sessions', () => {
  let server;
  let browser;
  let contextA;
  let contextB;
  let pageA;
  let pageB;
  let errorsA;
  const username = uniqueName('alice');

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    ({ context: contextA, page: pageA, errors: errorsA } = await newProfile(browser, server.url));
    ({ context: contextB, page: pageB } = await newProfile(browser, server.url));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('redirects / to the sign-in page when signed out', async () => {
    await pageA.goto('/');
    await pageA.getByTestId('login-page').waitFor();
    await waitForPath(pageA, '/login');
  });

  it('signs up and shows the account page', async () => {
    await signUp(pageA, username);
    assert.equal(await pageA.getByTestId('account-username').textContent(), username);
    assert.equal(await pageA.getByTestId('twofa-status').getAttribute('data-enabled'), 'false');

    const cookie = await sessionCookie(contextA);
    assert.ok(cookie, 'twostep_session cookie is set');
    assert.equal(cookie.expires, -1, 'a browser-session cookie without "Stay signed in"');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  it('shows the API error for a taken username', async () => {
    const page = await contextB.newPage();
    await page.goto('/signup');
    await page.getByTestId('username').fill(username);
    await page.getByTestId('password').fill(PASSWORD);
    await page.getByTestId('submit').click();
    const error = page.getByTestId('form-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.ok((await error.textContent()).length > 0);
    await waitForPath(page, '/signup');
    await page.close();
  });

  it('shows an error for a wrong password', async () => {
    await submitSignIn(pageB, username, 'not-the-right-password-99');
    const error = pageB.getByTestId('form-error');
    await error.waitFor();
    assert.ok((await error.textContent()).length > 0);
    await waitForPath(pageB, '/login');
  });

  it('signs in the same user in a second browser, not staying signed in', async () => {
    await signIn(pageB, username);
    assert.equal(await pageB.getByTestId('account-username').textContent(), username);
    const cookie = await sessionCookie(contextB);
    assert.equal(cookie.expires, -1);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  it('lists both sessions and revokes the other one', async () => {
    await pageA.reload();
    const sessions = pageA.getByTestId('session');
    await waitForCount(sessions, 2);
    const current = pageA.locator('[data-testid=session][data-current=true]');
    assert.equal(await current.count(), 1);
    assert.equal(await current.getByTestId('current-session').count(), 1, '"This device" marker');
    assert.equal(await current.getByTestId('revoke-session').count(), 0, 'no Revoke on this device');

    const other = pageA.locator('[data-testid=session][data-current=false]');
    assert.equal(await other.getByTestId('session-ip').textContent(), '127.0.0.1');
    await other.getByTestId('revoke-session').click();
    await waitForCount(sessions, 1);

    await pageA.reload();
    await waitForCount(pageA.getByTestId('session'), 1);
  });

  it('sends the revoked browser to the sign-in page on its next navigation', async () => {
    await pageB.getByTestId('nav-security').click();
    await pageB.getByTestId('login-page').waitFor();
    await waitForPath(pageB, '/login');
    await pageB.goto('/account');
    await pageB.getByTestId('login-page').waitFor();
    await waitForPath(pageB, '/login');
  });

  it('"Stay signed in" sets a lasting session cookie', async () => {
    await signIn(pageB, username, PASSWORD, { remember: true });
    const cookie = await sessionCookie(contextB);
    const inADay = Date.now() / 1000 + 86_400;
    assert.ok(cookie.expires > inADay, `expires ${cookie.expires} lies in the future`);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  it('shows the security log', async () => {
    await pageA.reload();
    await eventually(async () => (await pageA.getByTestId('audit-event').count()) > 0);
  });

  it('signs out', async () => {
    await signOut(pageA);
    await pageA.goto('/account');
    await pageA.getByTestId('login-page').waitFor();
    await waitForPath(pageA, '/login');
    assert.deepEqual(unexpectedErrors(errorsA), []);
  });
});
