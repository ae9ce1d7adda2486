// Push approval in the browser: a browser where the user is signed in sees the sign-in of
// another browser live and approves it with the number that screen shows (or denies it);
// the sign-in page follows the request and offers other methods; the companion
// authenticator is set up from the Security page and approves a sign-in.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  PASSWORD,
  chooseFirstMethod,
  eventually,
  openSecurity,
  saveRecoveryCodes,
  signOut,
  signUp,
  submitSignIn,
  turnOnTotp,
  uniqueName,
  waitForCount,
  waitForPath,
} from './lib/flows.mjs';
import { binaryPath, startServer } from './lib/server.mjs';
import { nextCode, totpAt } from './lib/totp.mjs';

process.env.TWOSTEP_AUTH_BIN ??= join(dirname(binaryPath), 'twostep-auth');
process.env.TWOSTEP_BIN ??= binaryPath;
const { newAuthHome, pushServerEnv, runAuth, storedAccount } = await import('../integration/lib/auth.mjs');

// Confirms TOTP with the previous step's code, so that later sign-ins can use the current one.
const previousStep = (secret) => totpAt(secret, Date.now() / 1000 - 30);

async function shownNumber(page) {
  const el = page.getByTestId('approval-number');
  await eventually(async () => /^\d\d$/.test((await el.getAttribute('data-number')) || ''));
  return Number(await el.getAttribute('data-number'));
}

describe('approval from a signed-in browser', () => {
  let server;
  let browser;
  let signedIn; // {context, page, errors}: where the user is already signed in
  let signingIn; // {context, page, errors}: the new sign-in
  let secret;
  const username = uniqueName('carol');

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    signedIn = await newProfile(browser, server.url);
    signingIn = await newProfile(browser, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('the second browser approves the first one’s sign-in with the right number', async () => {
    await signUp(signedIn.page, username);
    await openSecurity(signedIn.page);
    secret = await turnOnTotp(signedIn.page, { codeFor: previousStep });
    await signedIn.page.getByTestId('nav-account').click();
    await signedIn.page.getByTestId('account-page').waitFor();

    await submitSignIn(signingIn.page, username);
    await signingIn.page.getByTestId('second-step').waitFor();
    // Signed in elsewhere: approval is the default way, no code asked for.
    assert.equal(await signingIn.page.getByTestId('current-method').textContent(), 'Approve this sign-in');
    const number = await shownNumber(signingIn.page);
    await eventually(async () =>
      (await signingIn.page.getByTestId('approval-status').getAttribute('data-state')) === 'pending');

    const prompt = signedIn.page.getByTestId('approval-prompt');
    await prompt.waitFor();
    const choices = prompt.getByTestId('approval-choice');
    await waitForCount(choices, 3);
    const offered = (await choices.allTextContents()).map(Number);
    assert.ok(offered.includes(number), `${number} among ${offered}`);
    assert.match(await prompt.textContent(), new RegExp(username));
    await prompt.locator(`[data-testid="approval-choice"][data-number="${number}"]`).click();

    await signingIn.page.getByTestId('account-page').waitFor();
    await waitForPath(signingIn.page, '/account');
    assert.equal(await signingIn.page.getByTestId('account-username').textContent(), username);
    await eventually(async () => (await prompt.getAttribute('data-state')) === 'approved');
    assert.deepEqual(unexpectedErrors(signedIn.errors), []);
    assert.deepEqual(unexpectedErrors(signingIn.errors), []);
  });

  it('“No, it’s not me” rejects the sign-in and the sign-in page says so', async () => {
    await signOut(signingIn.page);
    await submitSignIn(signingIn.page, username);
    await shownNumber(signingIn.page);
    const prompt = signedIn.page.getByTestId('approval-prompt').last();
    await prompt.getByTestId('approval-deny').waitFor();
    await prompt.getByTestId('approval-deny').click();
    await signingIn.page.getByTestId('login-page').waitFor();
    assert.match(await signingIn.page.getByTestId('form-error').textContent(), /rejected/);
    // The security log of the signed-in browser shows it.
    await signedIn.page.getByTestId('nav-account').click();
    await eventually(async () => /Sign-in rejected/.test(await signedIn.page.getByTestId('account-page').textContent()));
  });

  it('the sign-in page offers another method instead of waiting', async () => {
    await submitSignIn(signingIn.page, username);
    await shownNumber(signingIn.page);
    await signingIn.page.getByTestId('use-another-method').click();
    const totp = signingIn.page.locator('[data-testid="choose-method"][data-method-type="totp"]');
    await totp.click();
    await signingIn.page.getByTestId('code-input').fill(await nextCode(secret));
    await signingIn.page.getByTestId('verify').click();
    await signingIn.page.getByTestId('account-page').waitFor();
    assert.deepEqual(unexpectedErrors(signingIn.errors), []);
  });
});

describe('the twostep-auth companion from the Security page', () => {
  let server;
  let browser;
  let page;
  let errors;
  const home = newAuthHome();
  const username = uniqueName('dave');

  before(async () => {
    server = await startServer({ env: await pushServerEnv() });
    browser = await launchBrowser();
    ({ page, errors } = await newProfile(browser, server.url));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('enrols with the link, confirms with its code, then approves a sign-in', async () => {
    await signUp(page, username);
    await openSecurity(page);
    await chooseFirstMethod(page, 'push');
    const command = page.getByTestId('push-command');
    await command.waitFor();
    const uri = await command.getAttribute('data-uri');
    assert.match(uri, /^twostep:\/\/enroll\?server=/);
    const qr = page.getByTestId('push-qr');
    await eventually(async () => (await qr.evaluate((img) => img.complete && img.naturalWidth)) > 0);

    const enrolled = await runAuth(home, ['enroll', uri]);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const account = storedAccount(home);
    // The previous step's code, so the current one stays free.
    await page.getByTestId('push-code').fill(totpAt(account.totp_seed, Date.now() / 1000 - 30));
    await page.getByTestId('push-confirm').click();
    await saveRecoveryCodes(page);
    const method = page.getByTestId('method');
    await waitForCount(method, 1);
    assert.equal(await method.getAttribute('data-method-type'), 'push');

    await signOut(page);
    await submitSignIn(page, username, PASSWORD);
    await page.getByTestId('second-step').waitFor();
    const number = await shownNumber(page);
    const pending = await runAuth(home, ['pending', '--json']);
    assert.equal(pending.code, 0, pending.stderr);
    const request = JSON.parse(pending.stdout.trim().split('\n')[0]);
    assert.ok(request.choices.includes(number));
    const approved = await runAuth(home, ['approve', String(request.id), String(number)]);
    assert.equal(approved.code, 0, approved.stderr);
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
