// Organisations in the browser: an owner creates one, adds a member and requires two-step
// verification; the member sees the grace-period warning, then is forced through TOTP
// enrolment (oathtool computes the codes) before anything else opens; the owner resets the
// member's 2FA through the re-authentication dialog, which also revokes the member's application
// passwords unless its checkbox is cleared, and reads the organisation's log.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import {
  PASSWORD,
  eventually,
  openSecurity,
  signUp,
  submitSignIn,
  turnOnTotp,
  uniqueName,
  waitForPath,
} from './lib/flows.mjs';
import { startServer } from './lib/server.mjs';
import { nextCode } from './lib/totp.mjs';
import { Client, login } from '../integration/lib/client.mjs';
import { appAuth, createAppPassword } from '../integration/lib/protocols.mjs';

async function verifyStatus(context) {
  return (await context.request.get('/api/v1/verify')).status();
}

function memberRow(page, username) {
  return page.locator(`[data-testid=member-row][data-username="${username}"]`);
}

// An application password of a user with TOTP, made as a program would: a fresh sign-in with
// a code, then the creation within the re-authentication window.
async function appPasswordOf(server, username, secret) {
  const c = new Client(server.url);
  assert.equal((await login(c, username, PASSWORD)).json.status, 'second_factor');
  const second = await c.post('/api/v1/login/second-factor', { type: 'totp', code: await nextCode(secret) });
  assert.equal(second.status, 200, second.text);
  return (await createAppPassword(c, { name: 'Phone mail', scopes: ['mail'] })).password;
}

async function appAuthStatus(server, username, password) {
  return (await appAuth(new Client(server.url), username, password, 'imap')).status;
}

// On the organisation page, reloaded: "Reset 2FA" for the member (2FA on), with the
// application-password box ticked or not, then the re-authentication the owner's session needs
// by now.
async function resetMember(page, username, ownerSecret, { revokeAppPasswords }) {
  await page.reload();
  await page.getByTestId('org-page').waitFor();
  const row = memberRow(page, username);
  await eventually(async () => assert.equal(await row.getByTestId('member-twofa').getAttribute('data-enabled'), 'true'));
  await row.getByTestId('reset-twofa').click();
  await page.getByTestId('confirm-dialog').waitFor();
  const box = page.getByLabel('Also revoke their application passwords (mail, calendar and sync clients will have to be set up again)');
  assert.equal(await box.isChecked(), true, 'revoking is the default');
  assert.equal(await box.getAttribute('data-testid'), 'reset-revoke-app-passwords');
  if (!revokeAppPasswords) await box.uncheck();
  await page.getByTestId('confirm-ok').click();
  await page.getByTestId('reauth-dialog').waitFor();
  await page.getByTestId('reauth-password').fill(PASSWORD);
  await page.getByTestId('reauth-code').fill(await nextCode(ownerSecret));
  await page.getByTestId('reauth-submit').click();
  await eventually(async () => assert.equal(await row.getByTestId('member-twofa').getAttribute('data-enabled'), 'false'));
}

describe('organisations: required two-step verification', () => {
  let server;
  let browser;
  let owner; // {context, page, errors, secret}
  let member; // {context, page, errors}
  const ownerName = uniqueName('owner');
  const memberName = uniqueName('member');
  const orgName = `Acme ${uniqueName('o')}`;

  before(async () => {
    // A 1-s re-authentication window: the reset below must go through the dialog.
    server = await startServer({
      env: { TWOSTEP_ORGS_USER_CREATE: 'true', TWOSTEP_SESSIONS_REAUTH_WINDOW_S: '1' },
    });
    browser = await launchBrowser();
    owner = await newProfile(browser, server.url);
    member = await newProfile(browser, server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('an owner creates an organisation, adds a member and requires 2FA with a grace period', async () => {
    await signUp(member.page, memberName);
    const page = owner.page;
    await signUp(page, ownerName);
    await page.getByTestId('nav-orgs').click();
    await page.getByTestId('orgs-page').waitFor();
    await page.getByTestId('org-name').fill(orgName);
    await page.getByTestId('create-org').click();
    await page.getByTestId('org-page').waitFor();
    await waitForPath(page, '/org');
    assert.equal(await page.getByTestId('my-role').textContent(), 'Owner');
    assert.doesNotMatch(await page.locator('main').textContent(), /\b(null|undefined)\b/);

    await page.getByTestId('add-username').fill(memberName);
    await page.getByTestId('add-submit').click();
    await memberRow(page, memberName).waitFor();
    assert.equal(await memberRow(page, memberName).getByTestId('member-role').inputValue(), 'member');
    // Roles change in two steps (choose, then save), so the keyboard does not send each option.
    const save = memberRow(page, memberName).getByTestId('member-role-save');
    assert.equal(await save.isDisabled(), true);
    await memberRow(page, memberName).getByTestId('member-role').selectOption('admin');
    await save.click();
    await eventually(async () =>
      assert.equal(await page.getByTestId('org-event').first().getAttribute('data-event'), 'member_role_changed'));
    assert.equal(await memberRow(page, memberName).getByTestId('member-role').inputValue(), 'admin');
    await memberRow(page, memberName).getByTestId('member-role').selectOption('member');
    await memberRow(page, memberName).getByTestId('member-role-save').click();
    await eventually(async () =>
      assert.match(await page.getByTestId('org-status').textContent(), /is now member/));
    // An unknown username is refused with the server's message.
    await page.getByTestId('add-username').fill('nobody-by-that-name');
    await page.getByTestId('add-submit').click();
    await page.getByTestId('add-member-error').waitFor();

    // Requiring 2FA needs it on for yourself first.
    await page.getByTestId('policy-require').check();
    await page.getByTestId('policy-grace').fill('3');
    await page.getByTestId('policy-save').click();
    await page.getByTestId('policy-error').waitFor();
    assert.match(await page.getByTestId('policy-error').textContent(), /yourself/);

    await openSecurity(page);
    owner.secret = await turnOnTotp(page);

    await page.goto('/orgs');
    await page.getByTestId('org-link').click();
    await page.getByTestId('org-page').waitFor();
    await page.getByTestId('policy-require').check();
    await page.getByTestId('policy-grace').fill('3');
    await page.getByTestId('policy-save').click();
    await eventually(async () => assert.match(await page.getByTestId('policy-text').textContent(), /within 3 days/));
    const row = memberRow(page, memberName);
    assert.equal(await row.getByTestId('member-twofa').getAttribute('data-enabled'), 'false');
    const deadline = Number(await row.getByTestId('member-deadline').getAttribute('data-deadline'));
    const expected = Math.floor(Date.now() / 1000) + 3 * 86400;
    assert.ok(Math.abs(deadline - expected) < 120, `deadline ${deadline} ≈ ${expected}`);
    assert.equal(await memberRow(page, ownerName).getByTestId('member-twofa').getAttribute('data-enabled'), 'true');
    await page.getByTestId('org-event').first().waitFor();
    assert.equal(await page.getByTestId('org-event').first().getAttribute('data-event'), 'policy_changed');
    assert.doesNotMatch(await page.locator('main').textContent(), /\b(null|undefined)\b/);
  });

  it('during the grace period the member signs in normally and sees the deadline', async () => {
    const page = member.page;
    await page.getByTestId('signout').click();
    await page.getByTestId('login-page').waitFor();
    await submitSignIn(page, memberName);
    await page.getByTestId('account-page').waitFor();
    const banner = page.getByTestId('enrollment-banner');
    await banner.waitFor();
    assert.match(await banner.textContent(), new RegExp(orgName));
    assert.equal(await page.getByTestId('enrollment-link').getAttribute('href'), '/security');
    assert.equal(await verifyStatus(member.context), 200);
  });

  it('after the deadline the member is forced through TOTP enrolment before anything else', async () => {
    // The owner shortens the grace period to none.
    await owner.page.getByTestId('policy-grace').fill('0');
    await owner.page.getByTestId('policy-save').click();
    await eventually(async () =>
      assert.match(await owner.page.getByTestId('policy-text').textContent(), /required of every member\.$/));

    const page = member.page;
    // The member's open session is restricted at once: /verify refuses it.
    await eventually(async () => assert.equal(await verifyStatus(member.context), 401), { timeout: 3000 });
    await page.getByTestId('signout').click();
    await page.getByTestId('login-page').waitFor();
    await submitSignIn(page, memberName);
    await page.getByTestId('security-page').waitFor();
    await waitForPath(page, '/security');
    const notice = page.getByTestId('enrollment-required');
    await notice.waitFor();
    assert.match(await notice.textContent(), new RegExp(orgName));
    // Only "Sign out" is offered; other pages lead back here.
    assert.equal(await page.getByTestId('nav-account').isVisible(), false);
    assert.equal(await page.getByTestId('nav-orgs').isVisible(), false);
    assert.equal(await page.getByTestId('signout').isVisible(), true);
    await page.goto('/account');
    await page.getByTestId('enrollment-required').waitFor();
    await waitForPath(page, '/security');
    await page.goto('/orgs');
    await page.getByTestId('enrollment-required').waitFor();
    await waitForPath(page, '/security');
    assert.equal(await verifyStatus(member.context), 401);

    member.secret = await turnOnTotp(page);
    assert.equal(await page.getByTestId('enrollment-required').count(), 0);
    assert.equal(await page.getByTestId('nav-account').isVisible(), true);
    assert.equal(await verifyStatus(member.context), 200);
    await page.getByTestId('nav-account').click();
    await page.getByTestId('account-page').waitFor();
    assert.equal(await page.getByTestId('twofa-status').getAttribute('data-enabled'), 'true');
    assert.equal(await page.getByTestId('enrollment-banner').count(), 0);
  });

  it('the owner resets the member’s 2FA after confirming their identity; their application password is revoked', async () => {
    const appPassword = await appPasswordOf(server, memberName, member.secret);
    assert.equal(await appAuthStatus(server, memberName, appPassword), 200);
    const page = owner.page;
    // Enrolling cleared the owner's password-only authentication time: the dialog asks.
    await resetMember(page, memberName, owner.secret, { revokeAppPasswords: true });
    await eventually(async () =>
      assert.equal(await page.getByTestId('org-event').first().getAttribute('data-event'), 'member_twofa_reset'));
    assert.equal(await page.getByTestId('org-status').textContent(),
                 `Two-step verification of ${memberName} was reset. 1 application password was revoked.`);
    assert.equal(await appAuthStatus(server, memberName, appPassword), 401);

    // The member's session has ended; the next sign-in sends them to enrolment again.
    const m = member.page;
    await m.reload();
    await m.getByTestId('login-page').waitFor();
    await submitSignIn(m, memberName);
    await m.getByTestId('enrollment-required').waitFor();
  });

  it('with the box cleared, a reset keeps the member’s application password working', async () => {
    member.secret = await turnOnTotp(member.page);
    const appPassword = await appPasswordOf(server, memberName, member.secret);
    const page = owner.page;
    await resetMember(page, memberName, owner.secret, { revokeAppPasswords: false });
    await eventually(async () =>
      assert.equal(await page.getByTestId('org-status').textContent(),
                   `Two-step verification of ${memberName} was reset. Their application passwords were kept.`));
    assert.equal(await appAuthStatus(server, memberName, appPassword), 200);
    const entry = page.getByTestId('org-event').first();
    assert.equal(await entry.getAttribute('data-event'), 'member_twofa_reset');
    assert.match(await entry.textContent(), /app passwords revoked: 0/);
  });

  it('logs no unexpected browser errors', () => {
    assert.deepEqual(unexpectedErrors(owner.errors), []);
    assert.deepEqual(unexpectedErrors(member.errors), []);
  });
});
