// sms.gateway = "off" in the browser. One database serves twice: first with a provider (the
// fake one on loopback), where the method chooser offers "Text message" and a user adds an
// SMS method; then with SMS off, where the chooser has no SMS button, and that user's sign-in
// page says SMS is off and asks for a recovery code instead of offering to send one.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client, signup } from '../integration/lib/client.mjs';
import { startFakeGateway } from '../integration/lib/fake_sms_gateway.mjs';
import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import { PASSWORD, openSecurity, signUp, submitSignIn, uniqueName, waitForPath } from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';

describe('codes by SMS switched off', () => {
  let gw;
  let dir;
  let browser;
  let server;
  const smsUser = { username: uniqueName('smsold'), recoveryCodes: [] };

  // Both servers use the same database and master key.
  const serve = (gateway) =>
    startServer({
      env: {
        TWOSTEP_DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
        TWOSTEP_SECURITY_MASTER_KEY_FILE: path.join(dir, 'master.key'),
        TWOSTEP_SMS_GATEWAY: gateway,
        TWOSTEP_SMS_HTTP_URL: `${gw.url}/send`,
        // A 1-s window: creating an app password below asks for re-authentication.
        TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1',
      },
    });

  // On the Security page with 2FA off: opens the chooser and waits until it is drawn.
  async function openChooser(page) {
    await openSecurity(page);
    await page.getByTestId('enable-2fa').click();
    await page.getByTestId('choose-totp').waitFor();
  }

  before(async () => {
    gw = await startFakeGateway();
    dir = await mkdtemp(path.join(tmpdir(), 'twostep-e2e-smsoff-'));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('with a provider, the chooser offers a text message', async () => {
    server = await serve('http');
    const { page, errors } = await newProfile(browser, server.url);
    await signUp(page, uniqueName('smson'));
    await openChooser(page);
    assert.equal(await page.getByTestId('choose-sms').count(), 1);
    // Meanwhile a user adds an SMS method (through the API, as the SMS browser test does in the UI).
    const api = new Client(server.url);
    await signup(api, smsUser.username, PASSWORD);
    const add = await api.post('/api/v1/methods/sms', { phone: '+41 79 321 00 77' });
    assert.equal(add.status, 201, add.text);
    const confirm = await api.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: gw.lastCode() });
    assert.equal(confirm.status, 200, confirm.text);
    smsUser.recoveryCodes = confirm.json.recovery_codes;
    // Signed out, so that no other session of this user could approve the sign-in below.
    assert.equal((await api.post('/api/v1/logout')).status, 200);
    assert.deepEqual(unexpectedErrors(errors), []);
    await server.stop();
    server = null;
  });

  it('with SMS off, the chooser has no SMS button', async () => {
    server = await serve('off');
    const { page, errors } = await newProfile(browser, server.url);
    await signUp(page, uniqueName('smsoff'));
    await openChooser(page);
    assert.equal(await page.getByTestId('choose-sms').count(), 0);
    const offered = await page.locator('[data-testid^="choose-"]').evaluateAll((bs) => bs.map((b) => b.dataset.testid));
    assert.deepEqual(offered, ['choose-totp', 'choose-push', 'choose-webauthn', 'choose-yubiotp']);
    assert.deepEqual(unexpectedErrors(errors), []);
  });

  it('a user whose only method is SMS is asked for a recovery code, and sees the method is off', async () => {
    const { page, errors } = await newProfile(browser, server.url);
    await submitSignIn(page, smsUser.username);
    await page.getByTestId('second-step').waitFor();
    assert.match(await page.getByTestId('methods-turned-off').textContent(),
                 /Text message is turned off on this server\. Use a recovery code\./);
    assert.equal(await page.getByTestId('sms-send-code').count(), 0, 'no "Send a code by SMS"');
    assert.equal(await page.getByTestId('use-another-method').count(), 0, 'no other method to offer');
    await page.getByTestId('recovery-input').fill(smsUser.recoveryCodes[0]);
    await page.getByTestId('verify').click();
    await page.getByTestId('recovery-used').waitFor();
    await page.getByTestId('continue').click();
    await waitForPath(page, '/account');

    // The Security page still lists the method, says it no longer signs in, and keeps it removable.
    await openSecurity(page);
    const method = page.getByTestId('method');
    await method.waitFor();
    assert.equal(await method.getAttribute('data-method-type'), 'sms');
    assert.match(await method.getByTestId('method-unavailable').textContent(), /turned off on this server/);
    assert.equal(await method.getByTestId('remove-method').count(), 1);

    // Re-authentication elsewhere (creating an app password) offers only a recovery code, not
    // "Code by SMS", which the server would refuse.
    await new Promise((r) => setTimeout(r, 2100)); // past the 1-s window (whole seconds)
    await page.getByTestId('add-app-password').click();
    await page.getByTestId('app-password-name-input').fill('Thunderbird');
    await page.getByTestId('app-password-create').click();
    const dialog = page.getByTestId('reauth-dialog');
    await dialog.waitFor();
    const offered = await dialog.locator('input[name="reauth-type"]').evaluateAll((rs) => rs.map((r) => r.value));
    assert.deepEqual(offered, ['recovery']);
    await dialog.getByTestId('reauth-password').fill(PASSWORD);
    await dialog.getByTestId('reauth-code').fill(smsUser.recoveryCodes[1]);
    await dialog.getByTestId('reauth-submit').click();
    await page.getByTestId('app-password-created').waitFor();
    assert.equal(gw.requests.length, 1, 'only the enrolment code was ever sent');
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
