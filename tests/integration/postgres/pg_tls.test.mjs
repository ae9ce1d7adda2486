// TLS to PostgreSQL. The test cluster (scripts/pg-test-cluster) serves TLS with a throwaway CA
// (TWOSTEP_TEST_PG_CA) and a certificate for 127.0.0.1. With sslmode=verify-full in
// database.url every connection twostep opens (the store's pool and the event bus's LISTEN
// connection) is encrypted and the server is authenticated; a certificate from another CA or
// for another host name stops start-up and `twostep migrate` with libpq's one-line reason.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, createPgDatabase, pgAdminUrl, psql, runCli, startServer } from '../lib/server.mjs';
import { Client, login, signup, uniqueName, waitFor } from '../lib/client.mjs';

function caFile() {
  const ca = process.env.TWOSTEP_TEST_PG_CA;
  if (!ca) throw new Error('TWOSTEP_TEST_PG_CA is not set: run under scripts/pg-test-cluster exec');
  return ca;
}

// The database URL with libpq TLS parameters added.
function withParams(url, params) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

describe('TLS to PostgreSQL', () => {
  let db;
  let tmp;
  let server;

  before(() => {
    db = createPgDatabase(pgAdminUrl());
    tmp = mkdtempSync(join(tmpdir(), 'twostep-pg-tls-'));
  });

  after(async () => {
    await server?.stop();
    db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('sslmode=verify-full: the pool and the event bus connect over TLS and the server works', async () => {
    const url = withParams(db.url, { sslmode: 'verify-full', sslrootcert: caFile() });
    server = await startServer({ env: { TWOSTEP_DATABASE_URL: url } });
    const c = new Client(server);
    const name = uniqueName('tls');
    await signup(c, name);
    const fresh = new Client(server);
    await login(fresh, name);
    const me = await fresh.get('/api/v1/verify');
    assert.equal(me.status, 200);

    // Every connection of this database is twostep's, and every one of them is TLS.
    const rows = await waitFor(() => {
      const out = psql(pgAdminUrl(), `SELECT s.ssl, a.application_name, a.query
          FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = '${db.name}' ORDER BY a.pid`);
      const lines = out.split('\n').filter(Boolean).map((l) => l.split('|'));
      return lines.some((l) => /^LISTEN/i.test(l[2] ?? '')) ? lines : null;
    }, { timeoutMs: 10000 });
    assert.ok(rows, 'no LISTEN connection of the event bus seen');
    assert.ok(rows.length >= 2, `pool and bus connections: ${JSON.stringify(rows)}`);
    for (const [ssl, app] of rows) {
      assert.equal(app, 'twostep');
      assert.equal(ssl, 't', `an unencrypted connection: ${JSON.stringify(rows)}`);
    }
  });

  // A CA that did not sign the cluster's certificate.
  function otherCa() {
    const cert = join(tmp, 'other-ca.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-days', '1', '-subj', '/CN=not the cluster CA', '-keyout', join(tmp, 'other-ca.key'),
      '-out', cert], { stdio: 'ignore' });
    return cert;
  }

  test('a certificate from another CA is refused: migrate and serve stop with the reason', async () => {
    const url = withParams(db.url, { sslmode: 'verify-full', sslrootcert: otherCa() });
    const env = baseEnv(tmp, { TWOSTEP_DATABASE_URL: url });
    const r = await runCli(['migrate'], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate verify failed/);
    await assert.rejects(startServer({ env: { TWOSTEP_DATABASE_URL: url } }),
                         /exited early[\s\S]*certificate verify failed/);
  });

  test('a certificate for another host name is refused with verify-full', async () => {
    // Connect to 127.0.0.1 but call it "localhost": the certificate names only 127.0.0.1.
    const u = new URL(db.url);
    u.hostname = 'localhost';
    const url = withParams(u.toString(), {
      hostaddr: '127.0.0.1', sslmode: 'verify-full', sslrootcert: caFile(),
    });
    const r = await runCli(['migrate'], { env: baseEnv(tmp, { TWOSTEP_DATABASE_URL: url }) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not match host name "localhost"/);
  });
});
