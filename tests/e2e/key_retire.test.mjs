// After the operator retires a master key with --revoke-dependents, a user whose recovery codes
// were made under it sees why in their security log, and their Security page shows 0 codes left
// with a hint and lets them create a new set.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, newProfile, unexpectedErrors } from './lib/browser.mjs';
import { openSecurity, signOut, signUp, submitSignIn, turnOnTotp, uniqueName, waitForCount } from './lib/flows.mjs';
import { binaryPath, startServer } from './lib/server.mjs';
import { totpAt } from './lib/totp.mjs';

describe('retired master key', () => {
  let dir;
  let env;
  let server;
  let browser;
  const username = uniqueName('retire');

  before(async () => {
    // Database and key file outside the server's own directory, so that they outlive a restart.
    // Key 2 is current; key 1, the oldest, keys SMS number hashes (retired only with
    // --rekey-sms-numbers).
    dir = mkdtempSync(path.join(tmpdir(), 'twostep-e2e-retire-'));
    const keyFile = path.join(dir, 'master.key');
    writeFileSync(keyFile, `1 ${randomBytes(32).toString('hex')}\n2 ${randomBytes(32).toString('hex')}\n`);
    chmodSync(keyFile, 0o600);
    env = {
      TWOSTEP_DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
      TWOSTEP_SECURITY_MASTER_KEY_FILE: keyFile,
      TWOSTEP_TOTP_WINDOW: '2',
    };
    server = await startServer({ env });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function cli(args) {
    return execFileSync(binaryPath, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
  }

  it('shows the revoked codes in the security log and offers a new set', async () => {
    const first = await newProfile(browser, server.url);
    await signUp(first.page, username);
    await openSecurity(first.page);
    const now = Date.now() / 1000;
    const secret = await turnOnTotp(first.page, { codeFor: (s) => totpAt(s, now) });
    await signOut(first.page); // no other signed-in session: the sign-in below asks for a code
    await first.context.close();

    await server.stop();
    cli(['key', 'rotate']);
    cli(['key', 'reseal']);
    const out = cli(['key', 'retire', '2', '--revoke-dependents']);
    assert.match(out, /revoked 10 recovery codes/);
    server = await startServer({ env });

    const { page, errors } = await newProfile(browser, server.url);
    await submitSignIn(page, username);
    await page.getByTestId('second-step').waitFor();
    await page.getByTestId('code-input').fill(totpAt(secret, now + 30));
    await page.getByTestId('verify').click();
    await page.getByTestId('account-page').waitFor();

    const entry = page.locator('[data-testid="audit-event"][data-event="recovery_codes_revoked"]');
    await entry.waitFor();
    const text = await entry.textContent();
    assert.match(text, /Recovery codes revoked by the server operator/);
    assert.match(text, /master_key_retired/);
    assert.equal(await page.getByTestId('recovery-count').textContent(), '0');

    await openSecurity(page);
    assert.equal(await page.getByTestId('recovery-count').textContent(), '0');
    await page.getByTestId('no-recovery-codes').waitFor();
    await page.getByTestId('new-recovery-codes').click();
    await page.getByTestId('confirm-ok').click();
    await waitForCount(page.getByTestId('recovery-code'), 10);
    assert.deepEqual(unexpectedErrors(errors), []);
  });
});
