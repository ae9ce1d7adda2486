// Steps that several browser tests share, and small waiting helpers
// (playwright-core has no expect()).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { nextCode } from './totp.mjs';

// Strong enough for zxcvbn ≥ 3.
export const PASSWORD = 'lunar-Teapot-orbit-71-quietly';

export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

// Polls `check` (which throws or returns false) until it passes.
export async function eventually(check, { timeout = 10_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const result = await check();
      if (result !== false) return result;
      lastError = new Error('condition stayed false');
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw lastError;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export async function waitForCount(locator, count, options) {
  await eventually(async () => assert.equal(await locator.count(), count), options);
}

export async function waitForPath(page, pathname, options) {
  await eventually(() => assert.equal(new URL(page.url()).pathname, pathname), options);
}

export async function signUp(page, username, password = PASSWORD) {
  await page.goto('/signup');
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('submit').click();
  await page.getByTestId('account-page').waitFor();
  await waitForPath(page, '/account');
}

// Fills and submits the sign-in form; does not wait for the outcome.
export async function submitSignIn(page, username, password = PASSWORD, { remember = false } = {}) {
  await page.goto('/login');
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(password);
  const box = page.getByTestId('remember');
  assert.equal(await box.isChecked(), false, '"Stay signed in" must be off by default');
  if (remember) await box.check();
  await page.getByTestId('submit').click();
}

export async function signIn(page, username, password = PASSWORD, options = {}) {
  await submitSignIn(page, username, password, options);
  await page.getByTestId('account-page').waitFor();
  await waitForPath(page, '/account');
}

export async function signOut(page) {
  await page.getByTestId('signout').click();
  await page.getByTestId('login-page').waitFor();
  await waitForPath(page, '/login');
}

// Opens the Security page from the navigation.
export async function openSecurity(page) {
  await page.getByTestId('nav-security').click();
  await page.getByTestId('security-page').waitFor();
}

// On the Security page with two-step verification off: "Turn on two-step verification",
// then the first method, `type` one of totp, sms, webauthn, yubiotp, push.
export async function chooseFirstMethod(page, type) {
  await page.getByTestId('enable-2fa').click();
  await page.getByTestId(`choose-${type}`).click();
}

// Turns on TOTP from the Security page, confirming with `codeFor(secret)` (default: a step
// not used before), and saves the recovery codes; returns the secret.
export async function turnOnTotp(page, { codeFor = nextCode } = {}) {
  await chooseFirstMethod(page, 'totp');
  const secretEl = page.getByTestId('totp-secret');
  await secretEl.waitFor();
  const secret = await secretEl.getAttribute('data-secret');
  await page.getByTestId('totp-code').fill(await codeFor(secret));
  await page.getByTestId('totp-confirm').click();
  await saveRecoveryCodes(page);
  await page.getByTestId('twofa-on').waitFor();
  return secret;
}

// The recovery codes shown after the first method: ticks "I saved them" and goes on.
export async function saveRecoveryCodes(page) {
  await waitForCount(page.getByTestId('recovery-code'), 10);
  await page.getByTestId('saved-codes').check();
  await page.getByTestId('codes-done').click();
}

export async function sessionCookie(context) {
  const cookies = await context.cookies();
  return cookies.find((c) => c.name === 'twostep_session');
}
