// The shipped deployment files work as documented: `cmake --install` of this build into a
// temporary prefix gives the three programs and the web UI; the installed `twostep` starts with
// deploy/single-server/twostep.toml (only the machine-specific paths and the port overridden,
// as a test must) and serves the UI with its security headers, and the cookies the file asks
// for (Secure for its https public URL, Domain .example.com); open sign-up is off as the file
// says, and `user add` makes the first account. Both systemd units pass `systemd-analyze verify`
// without a single warning.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, twostepBin } from './lib/server.mjs';
import { Client, STRONG_PASSWORD, loginOk, uniqueName, waitFor } from './lib/client.mjs';

const SOURCE_DIR = process.env.TWOSTEP_SOURCE_DIR ?? fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(SOURCE_DIR, 'deploy');

describe('deploy/single-server and the installed layout', () => {
  let prefix;
  let server;
  let builtBin;

  before(() => {
    builtBin = twostepBin();
    prefix = mkdtempSync(join(tmpdir(), 'twostep-install-'));
    // The build directory is the one the binary under test was built in (build/<preset>).
    const buildDir = dirname(dirname(builtBin));
    execFileSync('cmake', ['--install', buildDir, '--prefix', prefix], { stdio: 'pipe' });
  });

  after(async () => {
    await server?.stop();
    process.env.TWOSTEP_BIN = builtBin;
    rmSync(prefix, { recursive: true, force: true });
  });

  test('cmake --install puts the programs and the web UI where the files expect them', () => {
    for (const bin of ['twostep', 'twostep-auth', 'twostep-checkpassword']) {
      assert.ok(existsSync(join(prefix, 'bin', bin)), `bin/${bin} missing`);
    }
    for (const f of ['index.html', 'app.js', 'style.css', 'lib/api.js', 'views/security.js']) {
      assert.ok(existsSync(join(prefix, 'share/twostep/web', f)), `share/twostep/web/${f} missing`);
    }
    // The units' Documentation= pages are installed.
    for (const doc of ['single-server/README.md', 'multi-instance/README.md', 'nginx/example.com.conf']) {
      assert.ok(existsSync(join(prefix, 'share/doc/twostep', doc)), `share/doc/twostep/${doc} missing`);
    }
    const toml = readFileSync(join(DEPLOY, 'single-server/twostep.toml'), 'utf8');
    assert.match(toml, /web_dir = "\/usr\/local\/share\/twostep\/web"/);
    const unit = readFileSync(join(DEPLOY, 'single-server/twostep.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/twostep --config \/etc\/twostep\/twostep.toml serve$/m);
    // The configuration is checked before every start, with the same file.
    assert.match(unit, /^ExecStartPre=\/usr\/local\/bin\/twostep --config \/etc\/twostep\/twostep.toml config check$/m);
  });

  test('the installed twostep serves with deploy/single-server/twostep.toml', async () => {
    process.env.TWOSTEP_BIN = join(prefix, 'bin', 'twostep');
    // startServer overrides listen, database and key paths (a test cannot use /var/lib); the web
    // directory is the installed one, not the source tree's.
    server = await startServer({
      configFile: join(DEPLOY, 'single-server/twostep.toml'),
      env: {
        TWOSTEP_SERVER_WEB_DIR: join(prefix, 'share/twostep/web'),
        TWOSTEP_SERVER_PUBLIC_URL: undefined,
      },
    });
    const serving = await waitFor(() => /serving https:\/\/id\.example\.com/.test(server.stderr));
    assert.ok(serving, `the public URL of the file: ${server.stderr}`);
    // The production file turns SMS off: no development gateway writing codes to the log.
    assert.doesNotMatch(server.stderr, /sms\.gateway = log/);


    const page = await fetch(`${server.url}/login`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
    assert.match(page.headers.get('strict-transport-security') ?? '', /max-age=/, 'HSTS for an https public URL');
    const js = await fetch(`${server.url}/app.js`);
    assert.equal(js.status, 200);
    assert.equal(await js.text(), readFileSync(join(prefix, 'share/twostep/web/app.js'), 'utf8'));

    // open_signup = false in the file: sign-up is refused, the CLI makes the account.
    const name = uniqueName('first');
    const c = new Client(server);
    const refused = await c.post('/api/v1/signup', { username: name, password: STRONG_PASSWORD });
    assert.equal(refused.status, 403, refused.text);
    const add = await server.cli(['--config', join(DEPLOY, 'single-server/twostep.toml'), 'user', 'add', name,
                                  '--password-stdin'], { input: `${STRONG_PASSWORD}\n` });
    assert.equal(add.code, 0, add.stderr);
    const signedIn = new Client(server);
    const res = await loginOk(signedIn, name);
    const available = await signedIn.get('/api/v1/methods/available');
    assert.equal(available.status, 200, available.text);
    assert.ok(!available.json.types.includes('sms'), `SMS is off in the file: ${available.text}`);
    assert.ok(available.json.types.includes('totp'));
    const s = res.cookie('twostep_session');
    assert.equal(s.attrs.secure, true, `Secure for an https public URL: ${s.raw}`);
    assert.equal(s.attrs.domain, '.example.com', `the file's cookie domain: ${s.raw}`);
  });

  test('both systemd units pass systemd-analyze verify without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twostep-units-'));
    try {
      // The units name /usr/local/bin/twostep; verify checks that ExecStart exists, so point it
      // at the installed copy and change nothing else.
      const units = [
        ['single-server/twostep.service', 'twostep.service', 'twostep.service'],
        ['multi-instance/twostep@.service', 'twostep@.service', 'twostep@1.service'],
      ];
      for (const [src, file, instance] of units) {
        const text = readFileSync(join(DEPLOY, src), 'utf8')
          .replaceAll('/usr/local/bin/twostep', join(prefix, 'bin', 'twostep'));
        writeFileSync(join(dir, file), text);
        const r = spawnSync('systemd-analyze', ['verify', join(dir, instance)], { encoding: 'utf8' });
        assert.equal(r.error, undefined, `systemd-analyze: ${r.error}`);
        // Warnings about the environment (no systemd running in a container) are not about
        // the unit; anything naming the unit file is.
        const aboutUnit = (r.stdout + r.stderr).split('\n').filter((l) => l.includes(file) || l.includes(instance));
        assert.deepEqual(aboutUnit, [], `${src}:\n${r.stdout}${r.stderr}`);
        assert.equal(r.status, 0, `${src}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
