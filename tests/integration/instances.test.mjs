// Running instances (migration 0009): `twostep serve` writes its row (host, pid, version,
// listen address, the master keys it loaded) at start, refreshes it every server.heartbeat_s
// seconds and deletes it on a clean shutdown; `twostep instances` lists the live ones (--all:
// stale ones too); `twostep key use ID` refuses while a live instance has not loaded key ID.
// On both backends; two instances sharing one database: postgres/pg_key_stages.test.mjs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';

const FAST = { TWOSTEP_SERVER_HEARTBEAT_S: '1' };

// `twostep instances [--all]` → rows of {id, host, pid, version, listen, keys, rest}
async function instances(server, args = []) {
  const r = await server.cli(['instances', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^ID\s+HOST\s+PID\s+VERSION\s+LISTEN\s+KEYS\s+STARTED\s+LAST SEEN$/);
  return lines.slice(1).map((l) => {
    const [id, host, pid, version, listen, keys, ...rest] = l.trim().split(/\s+/);
    return { id, host, pid: Number(pid), version, listen, keys, rest: rest.join(' ') };
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('twostep instances', () => {
  test('a running server is listed with its keys; key use refuses a key it has not loaded', async () => {
    const server = await startServer({ env: FAST });
    try {
      const keyFile = join(server.dir, 'master.key');
      let rows = await instances(server);
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.match(row.id, /^[0-9a-f]{16}$/);
      assert.equal(row.host, hostname());
      assert.equal(row.pid, server.pid);
      assert.equal(row.listen, server.url.replace('http://', ''));
      assert.equal(row.keys, '1*');
      assert.match(row.rest, /UTC .*UTC$/);
      assert.ok(!row.rest.includes('stale'));

      // Heartbeats keep it live well past 3 × 1 s.
      await sleep(4000);
      assert.equal((await instances(server)).length, 1);

      const added = await server.cli(['key', 'add']);
      assert.equal(added.code, 0, added.stderr);
      const before = readFileSync(keyFile, 'utf8');
      const refused = await server.cli(['key', 'use', '2']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /key 2 is not loaded by every running instance/);
      assert.ok(refused.stderr.includes(`${hostname()} pid ${server.pid} listening on ${row.listen}`),
                refused.stderr);
      assert.match(refused.stderr, /--force. Nothing was changed/);
      assert.equal(readFileSync(keyFile, 'utf8'), before, 'the key file is unchanged');

      // Still the key file's own checks first.
      const unknown = await server.cli(['key', 'use', '9']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /has no key 9/);

      const forced = await server.cli(['key', 'use', '2', '--force']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /--force: these running instances have not loaded key 2/);
      assert.ok(forced.stdout.includes(`pid ${server.pid}`));
      assert.match(forced.stdout, /master key 2 is the current key/);
      assert.notEqual(readFileSync(keyFile, 'utf8'), before);

      await server.restart();
      rows = await instances(server);
      assert.equal(rows.length, 1, 'the old row left with the clean shutdown');
      assert.notEqual(rows[0].id, row.id);
      assert.equal(rows[0].pid, server.pid);
      assert.equal(rows[0].keys, '1,2*');
    } finally {
      await server.stop();
    }
  });

  test('a clean shutdown leaves the list; a killed server turns stale, and key use proceeds', async () => {
    const server = await startServer({ env: FAST });
    try {
      await server.stop({ removeDir: false });
      assert.deepEqual(await instances(server, ['--all']), [], 'deleted on SIGTERM');

      await server.restart();
      const pid = server.pid;
      assert.equal((await instances(server)).length, 1);
      process.kill(pid, 'SIGKILL');
      await server.exited;
      // Unseen for more than 3 heartbeats.
      await sleep(4500);
      assert.deepEqual(await instances(server), []);
      const all = await instances(server, ['--all']);
      assert.equal(all.length, 1);
      assert.equal(all[0].pid, pid);
      assert.match(all[0].rest, /\(stale\)$/);

      // No live instance: key use goes ahead.
      assert.equal((await server.cli(['key', 'add'])).code, 0);
      const used = await server.cli(['key', 'use', '2']);
      assert.equal(used.code, 0, used.stderr);
      assert.ok(!used.stdout.includes('--force'));
    } finally {
      // The killed server did not exit 0, which stop() reports after it removed the directory
      // (and the PostgreSQL database).
      await server.stop({ removeDir: true }).catch(() => {});
    }
  });

  test('bad input: unknown options and a bad heartbeat change nothing', async () => {
    const server = await startServer({ env: FAST });
    try {
      const bad = await server.cli(['instances', '--bogus']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /bogus/);
      const extra = await server.cli(['instances', 'x']);
      assert.notEqual(extra.code, 0);
      for (const value of ['0', '-1', '3601', 'soon']) {
        const r = await server.cli(['instances'], { env: { TWOSTEP_SERVER_HEARTBEAT_S: value } });
        assert.notEqual(r.code, 0, value);
        assert.match(r.stderr, /server\.heartbeat_s|TWOSTEP_SERVER_HEARTBEAT_S/, value);
      }
      const help = await server.cli(['instances', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--all/);
      assert.equal((await instances(server)).length, 1);
    } finally {
      await server.stop();
    }
  });
});
