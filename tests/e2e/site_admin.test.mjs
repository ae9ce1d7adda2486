// The site log in the browser: a site administrator ([admin] users, two-step verification on)
// has a "Site log" link, sees every account's events and filters them; a normal user has no
// link and, opening the address directly, reads why not.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  eventually, openSecurity, signUp, submitSignIn, turnOnTotp, uniqueName, waitForPath,
} from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';

describe('site log', () => {
  let server;
  let browser;
  let admin;
  let user;
  const adminName = uniqueName('root');
  const userName = uniqueName('bob');
  const ghost = uniqueName('ghost');

  before(async () => {
    server = await startServer({ env: { TWOSTEP_ADMIN_USERS: adminName } });
    browser = await launchBrowser();
    admin = await newProfile(browser, server.url);
    user = await newProfile(browser, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const rows = (page) => page.getByTestId('site-log-row');

  it('a normal user has no link and gets the refusal at /site-log', async () => {
    await signUp(user.page, userName);
    assert.equal(await user.page.getByTestId('nav-site-log').isVisible(), false);
    await user.page.goto('/site-log');
    const error = user.page.getByTestId('site-log-error');
    await error.waitFor();
    assert.match(await error.textContent(), /Only site administrators/);
    assert.equal(await rows(user.page).count(), 0);
    assert.deepEqual(unexpectedErrors(user.errors).filter((e) => !/403/.test(e)), []);
  });

  it('an admin without two-step verification is told to turn it on', async () => {
    await signUp(admin.page, adminName);
    await admin.page.getByTestId('nav-site-log').click();
    await admin.page.getByTestId('site-log-page').waitFor();
    await waitForPath(admin.page, '/site-log');
    const error = admin.page.getByTestId('site-log-error');
    await error.waitFor();
    assert.match(await error.textContent(), /Turn on two-step verification/);
  });

  it('with two-step verification the admin sees every account\'s events and filters them', async () => {
    await openSecurity(admin.page);
    await turnOnTotp(admin.page);
    // A failed sign-in of no account, from a third browser.
    const other = await newProfile(browser, server.url);
    await submitSignIn(other.page, ghost, 'not the right password at all');
    await other.page.getByTestId('form-error').waitFor();
    await other.context.close();

    await admin.page.getByTestId('nav-site-log').click();
    await admin.page.getByTestId('site-log-page').waitFor();
    await eventually(async () => assert.ok((await rows(admin.page).count()) > 3));
    assert.ok(await admin.page.locator(`[data-testid=site-log-row][data-user="${userName}"]`).count() >= 1);
    assert.ok(await admin.page.locator('[data-testid=site-log-row][data-event=login_failed][data-user=""]').count() >= 1);

    // By user, keyboard only: type and press Enter.
    await admin.page.getByLabel('User', { exact: true }).fill(userName);
    await admin.page.getByLabel('User', { exact: true }).press('Enter');
    await eventually(async () => {
      const users = await rows(admin.page).evaluateAll((els) => els.map((e) => e.dataset.user));
      assert.ok(users.length >= 1);
      assert.deepEqual([...new Set(users)], [userName]);
    });

    // By event.
    await admin.page.getByLabel('User', { exact: true }).fill('');
    await admin.page.getByLabel('Event', { exact: true }).fill('login_failed');
    await admin.page.getByTestId('filter-submit').click();
    await eventually(async () => {
      const events = await rows(admin.page).evaluateAll((els) => els.map((e) => e.dataset.event));
      assert.ok(events.length >= 1);
      assert.deepEqual([...new Set(events)], ['login_failed']);
    });
    assert.match(await rows(admin.page).first().textContent(), /Failed sign-in/);

    // Since a time in the future: nothing.
    await admin.page.getByLabel('Event', { exact: true }).fill('');
    await admin.page.getByLabel('Since', { exact: true }).fill('2099-01-01T00:00');
    await admin.page.getByTestId('filter-submit').click();
    await eventually(async () => assert.equal(await rows(admin.page).count(), 0));
    assert.match(await admin.page.getByTestId('site-log').textContent(), /No events/);

    // A bad event name: the server's message.
    await admin.page.getByLabel('Since', { exact: true }).fill('');
    await admin.page.getByLabel('Event', { exact: true }).fill('Not An Event');
    await admin.page.getByTestId('filter-submit').click();
    const error = admin.page.getByTestId('site-log-error');
    await error.waitFor();
    assert.match(await error.textContent(), /^event:/);
    assert.deepEqual(unexpectedErrors(admin.errors).filter((e) => !/40[03]/.test(e)), []);
  });

  it('"Load more" shows a longer page', async () => {
    // Each read of the site log is an event itself: 60 reads make more than one page.
    for (let i = 0; i < 60; i += 1) {
      assert.equal((await admin.context.request.get('/api/v1/admin/audit?limit=1')).status(), 200);
    }
    await admin.page.goto('/site-log');
    await admin.page.getByTestId('site-log-page').waitFor();
    await eventually(async () => assert.equal(await rows(admin.page).count(), 50));
    const more = admin.page.getByTestId('load-more');
    await more.focus();
    await more.press('Enter');
    await eventually(async () => assert.ok((await rows(admin.page).count()) > 60));
  });
});
