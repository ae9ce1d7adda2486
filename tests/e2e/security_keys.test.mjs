// Security keys in the browser: Chromium's virtual authenticator (DevTools WebAuthn domain)
// registers a key on the security page and signs in with it; a YubiKey imported with the CLI
// is added by typing its OTP and used at the second step. Browsers refuse IP addresses as
// WebAuthn RP ids, so this server runs as http://localhost:PORT (a secure context).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { SoftYubikey } from '../integration/lib/authenticators.mjs';
import { freePort } from '../integration/lib/protocols.mjs';
import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  PASSWORD,
  chooseFirstMethod,
  openSecurity,
  saveRecoveryCodes,
  signOut,
  signUp,
  submitSignIn,
  uniqueName,
  waitForCount,
  waitForPath,
} from './lib/flows.mjs';
import { binaryPath, startServer } from './lib/server.mjs';



describe('security keys in the browser', () => {
  let server;
  let browser;
  let context;
  let page;
  let cdp;
  let authenticatorId;
  let errors;
  const yubikey = new SoftYubikey();
  const username = uniqueName('carol');

  before(async () => {
    const port = await freePort();
    const origin = `http://localhost:${port}`;
    server = await startServer({
      env: {
        TWOSTEP_SERVER_LISTEN: `127.0.0.1:${port}`,
        TWOSTEP_SERVER_PUBLIC_URL: origin,
        // A 1-s re-authentication window, so the last test meets the re-auth dialog.
        TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1',
      },
    });
    // The operator imports the YubiKey (same database and master key as the server).
    execFileSync(binaryPath, ['yubikey', 'import', '-'], {
      cwd: server.dir,
      input: `${yubikey.csvLine()}\n`,
      env: {
        ...process.env,
        TWOSTEP_DATABASE_URL: `sqlite:${path.join(server.dir, 'db.sqlite')}`,
        TWOSTEP_SECURITY_MASTER_KEY_FILE: path.join(server.dir, 'master.key'),
      },
    });
    browser = await launchBrowser();
    ({ context, page, errors } = await newProfile(browser, origin));
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('registers a security key on the security page', async () => {
    await signUp(page, username);
    await openSecurity(page);
    await chooseFirstMethod(page, 'webauthn');
    await page.getByTestId('webauthn-setup').waitFor();
    await page.getByTestId('webauthn-label').fill('Virtual key');
    await page.getByTestId('webauthn-register').click();
    await saveRecoveryCodes(page);

    const methods = page.getByTestId('method');
    await waitForCount(methods, 1);
    assert.equal(await methods.getAttribute('data-method-type'), 'webauthn');
    assert.equal(await methods.getByTestId('method-label').textContent(), 'Virtual key');
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'true');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds one credential');
  });

  it('adds a YubiKey by typing its one-time password', async () => {
    await page.getByTestId('add-method').click();
    await page.getByTestId('choose-yubiotp').click();
    await page.getByTestId('yubiotp-setup').waitFor();
    // The key types into the focused field: the OTP field has it.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'yubiotp-otp');
    await page.getByTestId('yubiotp-otp').fill(yubikey.otp());
    await page.getByTestId('yubiotp-submit').click();
    await saveRecoveryCodes(page);
    await waitForCount(page.getByTestId('method'), 2);
  });

  it('signs out and signs in with the security key', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    assert.equal(await page.getByTestId('current-method').textContent(), 'Virtual key');
    const before = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    await page.getByTestId('use-security-key').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
    assert.equal(await page.getByTestId('account-username').textContent(), username);
    const afterCount = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    assert.ok(afterCount > before, 'the key signed (its counter moved)');
  });

  it('signs in with the YubiKey when chosen at the second step', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    await page.getByTestId('use-another-method').click();
    await page.locator('[data-testid=choose-method][data-method-type=yubiotp]').click();
    const input = page.getByTestId('code-input');
    assert.equal(await input.getAttribute('inputmode'), 'text');
    assert.equal(await input.getAttribute('pattern'), null);
    // A replayed OTP is refused with the server's message; a fresh one signs in.
    const used = yubikey.otpAt(yubikey.session, 0);
    await input.fill(used);
    await page.getByTestId('verify').click();
    await page.getByTestId('form-error').waitFor();
    await input.fill(yubikey.otp());
    await page.getByTestId('verify').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
  });

  it('reports a cancelled security key request and leaves the step open', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    // Without simulated presence the request times out like a person who never touches the key.
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false });
    await page.evaluate(() => {
      // Shorten the wait: the server's timeout is 5 minutes.
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (opts) => get({ ...opts, publicKey: { ...opts.publicKey, timeout: 1000 } });
    });
    await page.getByTestId('use-security-key').click();
    await page.getByTestId('form-error').waitFor({ timeout: 30_000 });
    assert.match(await page.getByTestId('form-error').textContent(), /cancelled or timed out/);
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: true });
    await page.getByTestId('use-security-key').click();
    await page.getByTestId('account-page').waitFor();
  });

  it('re-authenticates with password + security key to remove the YubiKey', async () => {
    await openSecurity(page);
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // let the sign-in age out
    await page.locator('[data-testid=method][data-method-type=yubiotp]').getByTestId('remove-method').click();
    await page.getByTestId('confirm-ok').click();
    const dialog = page.getByTestId('reauth-dialog');
    await dialog.waitFor();
    await dialog.getByTestId('reauth-password').fill(PASSWORD);
    await dialog.getByTestId('reauth-type-webauthn').check();
    assert.equal(await dialog.getByTestId('reauth-code').isVisible(), false, 'no code to type');
    await dialog.getByTestId('reauth-submit').click();
    const methods = page.getByTestId('method');
    await waitForCount(methods, 1);
    assert.equal(await methods.getAttribute('data-method-type'), 'webauthn');
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
