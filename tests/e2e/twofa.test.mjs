// Two-step verification in the browser: turn on TOTP, save recovery codes, sign in
// with a code and with a recovery code, remove the method after re-authenticating.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  PASSWORD,
  chooseFirstMethod,
  eventually,
  openSecurity,
  signOut,
  signUp,
  submitSignIn,
  uniqueName,
  waitForCount,
  waitForPath,
} from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';
import { nextCode } from './lib/totp.mjs';

describe('two-step verification with an authenticator app', () => {
  let server;
  let browser;
  let context;
  let page;
  let errors;
  let secret;
  let codes;
  const username = uniqueName('bob');

  before(async () => {
    // A 1-s re-authentication window, so the last test sees the re-auth dialog without
    // waiting 5 minutes after its sign-in (which counts as a fresh authentication).
    server = await startServer({ env: { TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1' } });
    browser = await launchBrowser();
    ({ context, page, errors } = await newProfile(browser, server.url));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('turns on two-step verification with TOTP', async () => {
    await signUp(page, username);
    await openSecurity(page);
    await waitForPath(page, '/security');

    await chooseFirstMethod(page, 'totp');

    const secretEl = page.getByTestId('totp-secret');
    await secretEl.waitFor();
    secret = await secretEl.getAttribute('data-secret');
    assert.match(secret, /^[A-Z2-7]+=*$/, 'a base32 secret');
    assert.equal((await secretEl.textContent()).replace(/ /g, ''), secret);
    // The QR code is a data: image that CSP allows and the browser can decode.
    const qr = page.getByTestId('totp-qr');
    assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
    await eventually(async () => (await qr.evaluate((img) => img.complete && img.naturalWidth)) > 0);

    await page.getByTestId('totp-code').fill(await nextCode(secret));
    await page.getByTestId('totp-confirm').click();

    const codeEls = page.getByTestId('recovery-code');
    await waitForCount(codeEls, 10);
    codes = (await codeEls.allTextContents()).map((c) => c.trim());
    for (const c of codes) assert.match(c, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/i);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download-codes').click(),
    ]);
    assert.equal(download.suggestedFilename(), 'twostep-recovery-codes.txt');
    const text = await readFile(await download.path(), 'utf8');
    for (const c of codes) assert.ok(text.includes(c), `the file holds ${c}`);

    const done = page.getByTestId('codes-done');
    assert.equal(await done.isDisabled(), true, 'Done waits for "I have saved them"');
    await page.getByTestId('saved-codes').check();
    assert.equal(await done.isEnabled(), true);
    await done.click();

    const methods = page.getByTestId('method');
    await waitForCount(methods, 1);
    assert.equal(await methods.getAttribute('data-method-type'), 'totp');
    assert.equal(await methods.getAttribute('data-default'), 'true');
    assert.equal(await methods.getByTestId('default-badge').isVisible(), true);
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'true');
  });

  it('signs in with a fresh code from the app', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    await waitForPath(page, '/login');

    const input = page.getByTestId('code-input');
    assert.equal(await input.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await input.getAttribute('inputmode'), 'numeric');
    assert.equal(await page.getByTestId('second-step').locator('input:focus').count(), 1, 'the code field has focus');

    // A wrong code is refused with the server's message; the step stays open.
    await input.fill('000000');
    await page.getByTestId('verify').click();
    await page.getByTestId('form-error').waitFor();
    assert.ok((await page.getByTestId('form-error').textContent()).length > 0);

    await input.fill(await nextCode(secret));
    await page.getByTestId('verify').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
    assert.equal(await page.getByTestId('account-username').textContent(), username);
  });

  it('signs in with a recovery code and shows how many are left', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();

    await page.getByTestId('use-another-method').click();
    const choices = page.getByTestId('choose-method');
    await waitForCount(choices, 1);
    assert.equal(await choices.getAttribute('data-method-type'), 'totp');

    await page.getByTestId('use-recovery-code').click();
    await page.getByTestId('recovery-input').fill(codes[0]);
    await page.getByTestId('verify').click();

    const remaining = page.getByTestId('recovery-remaining');
    await remaining.waitFor();
    assert.equal(await remaining.getAttribute('data-count'), '9');
    assert.match(await remaining.textContent(), /\b9\b/);
    await page.getByTestId('continue').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
  });

  it('removes the method after re-authentication, which turns 2FA off', async () => {
    await openSecurity(page);
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // let the sign-in age out
    await page.getByTestId('remove-method').click();
    await page.getByTestId('confirm-ok').click();

    // The server asks for a recent re-authentication: password + a recovery code.
    const dialog = page.getByTestId('reauth-dialog');
    await dialog.waitFor();
    await dialog.getByTestId('reauth-password').fill(PASSWORD);
    await dialog.getByTestId('reauth-type-recovery').check();
    await dialog.getByTestId('reauth-code').fill(codes[1]);
    await dialog.getByTestId('reauth-submit').click();

    await page.getByTestId('enable-2fa').waitFor();
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'false');
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
