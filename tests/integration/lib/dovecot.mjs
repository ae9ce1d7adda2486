// Runs Debian's Dovecot (dovecot-imapd) in a temporary directory on a loopback port with the
// shipped deploy/dovecot/auth-twostep.conf.ext (passdb checkpassword → twostep-checkpassword),
// and speaks IMAP over a raw socket.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { sourceDir } from './nginx.mjs';
import { checkpasswordBin, freePort, supervise } from './protocols.mjs';

function replaceOrFail(text, from, to, what) {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `deploy/dovecot/auth-twostep.conf.ext: cannot find ${what} (${from})`);
  return out;
}

// startDovecot({twostepUrl}) → {port, dir, log(), stop()}
export async function startDovecot({ twostepUrl }) {
  const dir = mkdtempSync(join(tmpdir(), 'twostep-dovecot-'));
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  mkdirSync(home);
  chmodSync(home, 0o777);
  const port = await freePort();
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root, Dovecot's own users run the login and auth processes and mail belongs to
  // nobody; otherwise everything runs as the current user.
  const me = userInfo();
  const mailUser = root ? 'uid=nobody gid=nogroup' : `uid=${me.uid} gid=${me.gid}`;
  let auth = readFileSync(join(sourceDir, 'deploy/dovecot/auth-twostep.conf.ext'), 'utf8');
  auth = replaceOrFail(auth, /args = \/usr\/local\/bin\/twostep-checkpassword/, `args = ${checkpasswordBin()}`, 'the checkpassword path');
  auth = replaceOrFail(auth, /args = uid=vmail gid=vmail home=\/var\/vmail\/%u/, `args = ${mailUser} home=${home}/%u`, 'the static userdb');
  auth = replaceOrFail(auth, /TWOSTEP_CHECKPASSWORD_URL=http:\/\/127\.0\.0\.1:8080/, `TWOSTEP_CHECKPASSWORD_URL=${twostepUrl}`, 'the twostep URL');
  // No TLS in the test: allow plain-text logins over loopback.
  auth = replaceOrFail(auth, /disable_plaintext_auth = yes/, 'disable_plaintext_auth = no', 'disable_plaintext_auth');
  writeFileSync(join(dir, 'auth-twostep.conf.ext'), auth);
  // Without root, Dovecot cannot chroot its login and anvil processes.
  const noChroot = root ? '' : '  chroot =';
  const group = root ? '' : execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
  const users = root
    ? ''
    : `default_internal_user = ${me.username}\ndefault_login_user = ${me.username}\ndefault_internal_group = ${group}\n`;
  writeFileSync(join(dir, 'dovecot.conf'), `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
mail_location = maildir:~/Maildir
first_valid_uid = 1
auth_failure_delay = 0
auth_verbose = yes
${users}
# No growing delay after failed logins from one address (the tests fail on purpose; twostep
# rate limits on its own).
service anvil {
${noChroot}
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
${noChroot}
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
!include ${dir}/auth-twostep.conf.ext
`);
  let output = '';
  const child = spawn('dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const proc = supervise(child, { dir });
  const server = {
    port,
    dir,
    log: () => {
      try {
        return readFileSync(join(dir, 'dovecot.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: proc.stop,
  };
  // Ready when the greeting arrives.
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dovecot exited (${child.exitCode}):\n${output}\n${server.log()}`);
    try {
      const c = await ImapClient.connect(port);
      c.close();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`dovecot did not answer on ${port}: ${e.message}\n${output}\n${server.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return server;
}

// An IMAP client over a raw socket: enough for the greeting, LOGIN, SELECT and LOGOUT.
export class ImapClient {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      const client = new ImapClient(sock);
      sock.once('error', reject);
      client.readLine().then((greeting) => {
        sock.removeListener('error', reject);
        client.greeting = greeting;
        resolve(client);
      }, reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buffer = '';
    this.waiters = [];
    this.tag = 0;
    this.closed = false;
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      this.buffer += d;
      this.flush();
    });
    sock.on('close', () => {
      this.closed = true;
      this.flush();
    });
    sock.on('error', () => {});
  }

  flush() {
    while (this.waiters.length) {
      const nl = this.buffer.indexOf('\r\n');
      if (nl < 0) {
        if (this.closed) this.waiters.shift().reject(new Error('connection closed'));
        else return;
        continue;
      }
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 2);
      this.waiters.shift().resolve(line);
    }
  }

  readLine(timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('IMAP: no answer')), timeoutMs);
      this.waiters.push({
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.flush();
    });
  }

  // Sends one command; returns {status: 'OK'|'NO'|'BAD', text, untagged: [...]}.
  async command(text) {
    this.tag += 1;
    const tag = `a${this.tag}`;
    this.sock.write(`${tag} ${text}\r\n`);
    const untagged = [];
    for (;;) {
      const line = await this.readLine();
      if (line.startsWith(`${tag} `)) {
        const m = line.slice(tag.length + 1).match(/^(OK|NO|BAD)\b\s*(.*)$/);
        return { status: m ? m[1] : line, text: m ? m[2] : line, untagged };
      }
      untagged.push(line);
    }
  }

  // IMAP quoted string.
  static quote(s) {
    return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  }

  login(username, password) {
    return this.command(`LOGIN ${ImapClient.quote(username)} ${ImapClient.quote(password)}`);
  }

  close() {
    this.sock.destroy();
  }
}
