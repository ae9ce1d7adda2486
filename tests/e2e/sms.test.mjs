// Codes by SMS in the browser, against a fake provider on loopback (the http driver): add a
// mobile number from the security page (country + national number, resend after the
// cool-down), sign in with "Send a code by SMS", and re-authenticate with an SMS code to
// remove the method.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startFakeGateway } from '../integration/lib/fake_sms_gateway.mjs';
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
  uniqueName,
  waitForCount,
  waitForPath,
} from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';

describe('two-step verification with codes by SMS', () => {
  let gw;
  let server;
  let browser;
  let page;
  let errors;
  const username = uniqueName('sms');

  before(async () => {
    gw = await startFakeGateway();
    server = await startServer({
      env: {
        TWOSTEP_SMS_GATEWAY: 'http',
        TWOSTEP_SMS_HTTP_URL: `${gw.url}/send`,
        TWOSTEP_SMS_RESEND_COOLDOWN_S: '2',
        TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1',
      },
    });
    browser = await launchBrowser();
    ({ page, errors } = await newProfile(browser, server.url));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await gw?.close();
  });

  it('adds a mobile number: refused numbers say why, the code turns 2FA on', async () => {
    await signUp(page, username);
    await openSecurity(page);
    await chooseFirstMethod(page, 'sms');

    const phone = page.getByTestId('sms-phone');
    await phone.waitFor();
    assert.equal(await phone.getAttribute('type'), 'tel');
    assert.equal(await phone.getAttribute('autocomplete'), 'tel');
    assert.equal(await page.locator('label[for]', { hasText: 'Mobile number' }).count(), 1);
    const region = page.getByTestId('sms-region');
    assert.deepEqual(await region.locator('option').evaluateAll((os) => os.map((o) => o.value)), ['CH', 'FR', 'BE', 'DE']);

    // A British number: refused with the allowed countries named; nothing is sent.
    await phone.fill('+44 7400 123456');
    await page.getByTestId('sms-send').click();
    const numberError = page.getByTestId('sms-number-error');
    await numberError.waitFor();
    assert.match(await numberError.textContent(), /Switzerland, France, Belgium or Germany/);
    assert.equal(gw.requests.length, 0);

    // A Swiss mobile number in national form.
    await region.selectOption('CH');
    await phone.fill('079 123 45 67');
    await page.getByTestId('sms-send').click();
    const sent = page.getByTestId('sms-sent');
    await sent.waitFor();
    assert.match(await sent.textContent(), /\+41 •• ••• •• 67/);
    assert.equal(gw.messages()[0].to, '+41791234567');
    assert.equal(await page.getByTestId('sms-code').getAttribute('autocomplete'), 'one-time-code');

    // "Send a new code" waits for the cool-down, then sends a code that replaces the first.
    const resend = page.getByTestId('sms-resend');
    assert.equal(await resend.isDisabled(), true);
    await eventually(async () => assert.equal(await resend.isEnabled(), true), { timeout: 5000 });
    await resend.click();
    await eventually(() => assert.equal(gw.requests.length, 2));

    await page.getByTestId('sms-code').fill(gw.lastCode());
    await page.getByTestId('sms-confirm').click();
    await saveRecoveryCodes(page);

    const methods = page.getByTestId('method');
    await waitForCount(methods, 1);
    assert.equal(await methods.getAttribute('data-method-type'), 'sms');
    assert.equal(await methods.getByTestId('method-label').textContent(), '+41 •• ••• •• 67');
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'true');
  });

  it('signs in with "Send a code by SMS"', async () => {
    await signOut(page);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    await waitForPath(page, '/login');
    const before = gw.requests.length;
    await page.getByTestId('sms-send-code').click();
    const status = page.getByTestId('sms-status');
    await eventually(async () => assert.match(await status.textContent(), /We sent a code to \+41 •• ••• •• 67/));
    assert.equal(gw.requests.length, before + 1);
    const input = page.getByTestId('code-input');
    await input.waitFor();
    assert.equal(await input.getAttribute('inputmode'), 'numeric');

    await input.fill('000000' === gw.lastCode() ? '111111' : '000000');
    await page.getByTestId('verify').click();
    await page.getByTestId('form-error').waitFor();

    await input.fill(gw.lastCode());
    await page.getByTestId('verify').click();
    await page.getByTestId('account-page').waitFor();
    await waitForPath(page, '/account');
  });

  it('re-authenticates with an SMS code to remove the method', async () => {
    await openSecurity(page);
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // let the sign-in age out
    await page.getByTestId('remove-method').click();
    await page.getByTestId('confirm-ok').click();

    const dialog = page.getByTestId('reauth-dialog');
    await dialog.waitFor();
    // Only SMS and recovery codes: SMS is the default choice, and no authenticator app is offered.
    assert.equal(await dialog.getByTestId('reauth-type-sms').isChecked(), true);
    assert.equal(await dialog.getByTestId('reauth-type-totp').count(), 0);
    await dialog.getByTestId('reauth-password').fill(PASSWORD);
    const before = gw.requests.length;
    await dialog.getByTestId('reauth-sms-send').click();
    await eventually(async () =>
      assert.match(await dialog.getByTestId('reauth-sms-status').textContent(), /Code sent to \+41/));
    assert.equal(gw.requests.length, before + 1);
    await dialog.getByTestId('reauth-code').fill(gw.lastCode());
    await dialog.getByTestId('reauth-submit').click();

    await page.getByTestId('enable-2fa').waitFor();
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'false');
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
