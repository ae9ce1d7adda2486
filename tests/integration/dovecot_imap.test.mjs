// Real Dovecot (dovecot-imapd) with the shipped deploy/dovecot configuration: passdb
// checkpassword → twostep-checkpassword → POST /api/v1/app-auth. IMAP LOGIN over a raw socket
// with an application password, the main password before and after 2FA, scopes, revocation,
// unknown users and oversized input.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { Client, assertStatus, signup, totp, uniqueName, STRONG_PASSWORD } from './lib/client.mjs';
import { createAppPassword } from './lib/protocols.mjs';
import { ImapClient, startDovecot } from './lib/dovecot.mjs';

// → {status: 'OK'|'NO'|'BAD'|'CLOSED', text, selected}
async function imapLogin(dovecot, username, password) {
  const c = await ImapClient.connect(dovecot.port);
  try {
    assert.match(c.greeting, /^\* OK/);
    let res;
    try {
      res = await c.login(username, password);
    } catch (e) {
      return { status: 'CLOSED', text: e.message, selected: null };
    }
    let selected = null;
    if (res.status === 'OK') selected = await c.command('SELECT INBOX');
    await c.command('LOGOUT').catch(() => null);
    return { ...res, selected };
  } finally {
    c.close();
  }
}

describe('Dovecot IMAP with twostep-checkpassword', () => {
  let server;
  let dovecot;
  before(async () => {
    server = await startServer({ env: { TWOSTEP_SERVER_TRUSTED_PROXIES: '127.0.0.1' } });
    dovecot = await startDovecot({ twostepUrl: server.url });
  });
  after(async () => {
    await dovecot?.stop();
    await server?.stop();
  });

  test('LOGIN with an application password succeeds and opens the mailbox', async () => {
    const username = uniqueName('imap');
    const client = new Client(server);
    await signup(client, username);
    const { password, id } = await createAppPassword(client, { name: 'Thunderbird', scopes: ['mail'] });
    const res = await imapLogin(dovecot, username, password);
    assert.equal(res.status, 'OK', `${res.text}\n${dovecot.log().slice(-3000)}`);
    assert.equal(res.selected?.status, 'OK', res.selected?.text);
    // twostep saw the mail client's address as Dovecot forwarded it, and the use.
    const list = await client.get('/api/v1/app-passwords');
    const used = list.json.app_passwords.find((p) => p.id === id);
    assert.ok(used.last_used_at > 0);
    assert.equal(used.last_used_ip, '127.0.0.1');
  });

  test('the main password works until 2FA is on, then fails; the application password keeps working', async () => {
    const username = uniqueName('imap2fa');
    const client = new Client(server);
    await signup(client, username);
    const { password } = await createAppPassword(client, { scopes: ['all'] });
    assert.equal((await imapLogin(dovecot, username, STRONG_PASSWORD)).status, 'OK');

    const add = await client.post('/api/v1/methods/totp', { label: 'phone' });
    assertStatus(await client.post(`/api/v1/methods/${add.json.method_id}/confirm`, { code: totp(add.json.secret) }), 200);
    const refused = await imapLogin(dovecot, username, STRONG_PASSWORD);
    assert.equal(refused.status, 'NO', refused.text);
    assert.match(refused.text, /AUTHENTICATIONFAILED|Authentication failed/i);
    assert.equal((await imapLogin(dovecot, username, password)).status, 'OK');
    // twostep recorded why.
    const audit = await client.get('/api/v1/audit');
    assert.ok(audit.json.events.some((e) => e.event === 'app_auth_refused' && e.detail.reason === 'two_step_verification_on'));
  });

  test('wrong scope, revoked, wrong, unknown user and oversized passwords fail', async () => {
    const username = uniqueName('imapbad');
    const client = new Client(server);
    await signup(client, username);
    const dav = await createAppPassword(client, { name: 'dav only', scopes: ['dav'] });
    const mail = await createAppPassword(client, { name: 'mail', scopes: ['mail'] });
    assert.equal((await imapLogin(dovecot, username, dav.password)).status, 'NO');
    assert.equal((await imapLogin(dovecot, username, mail.password)).status, 'OK');
    assertStatus(await client.delete(`/api/v1/app-passwords/${mail.id}`), 200);
    assert.equal((await imapLogin(dovecot, username, mail.password)).status, 'NO', 'revoked: refused at the next login');
    assert.equal((await imapLogin(dovecot, username, 'not the password at all')).status, 'NO');
    assert.equal((await imapLogin(dovecot, uniqueName('nobody'), 'whatever it is')).status, 'NO');
    // Dovecot refuses the line itself (or the login): never OK.
    const long = await imapLogin(dovecot, username, 'p'.repeat(10000));
    assert.ok(['NO', 'BAD', 'CLOSED'].includes(long.status), `${long.status} ${long.text}`);
    // Dovecot is still fine afterwards.
    const again = await createAppPassword(client, { scopes: ['mail'] });
    assert.equal((await imapLogin(dovecot, username, again.password)).status, 'OK');
  });
});
