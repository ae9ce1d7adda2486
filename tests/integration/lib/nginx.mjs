// Runs a real nginx with the shipped deploy/nginx configuration (example.com.conf and the
// twostep-auth.conf snippet) on a free loopback port, in a temporary directory: TLS lines are
// dropped, the listen address, the twostep upstream, the application upstream and the WebDAV
// root are pointed at the test's own. Every replacement must apply, so a change to the shipped
// configuration that the test no longer understands fails loudly instead of being skipped.
// Requests go through curl with --resolve, so the Host headers are the real subdomains.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, supervise } from './protocols.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.TWOSTEP_SOURCE_DIR || resolve(here, '../../..');
export const deployDir = join(sourceDir, 'deploy/nginx');
const DAV_EXT = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';

function replaceOrFail(text, from, to, what) {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `deploy/nginx/example.com.conf: cannot find ${what} (${from})`);
  return out;
}

// The shipped site configuration, rewritten for a test on 127.0.0.1:port.
export function testSiteConfig({ port, twostepPort, appPort, davRoot }) {
  let conf = readFileSync(join(deployDir, 'example.com.conf'), 'utf8');
  conf = replaceOrFail(conf, /listen 443 ssl http2;/g, `listen 127.0.0.1:${port};`, 'the TLS listen lines');
  conf = replaceOrFail(conf, /^\s*ssl_certificate(_key)?\s[^;]*;\s*$/gm, '', 'the certificate lines');
  conf = replaceOrFail(conf, /server 127\.0\.0\.1:8080;/, `server 127.0.0.1:${twostepPort};`, 'the twostep upstream');
  conf = replaceOrFail(conf, /proxy_pass http:\/\/127\.0\.0\.1:3000;/, `proxy_pass http://127.0.0.1:${appPort};`, 'the application upstream');
  conf = replaceOrFail(conf, /root \/srv\/dav;/, `root ${davRoot};`, 'the WebDAV root');
  conf = replaceOrFail(conf, /include \/etc\/nginx\/snippets\/twostep-auth\.conf;/g,
                       `include ${join(deployDir, 'twostep-auth.conf')};`, 'the snippet include');
  return conf;
}

function waitForPort(port, timeoutMs) {
  const end = Date.now() + timeoutMs;
  return new Promise((resolveWait, reject) => {
    const attempt = () => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.destroy();
        resolveWait();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > end) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

// startNginx({twostepPort, port?, transform?}) → {port, dir, davRoot, log(), stop()}
// transform(conf): a last rewrite of the site configuration (e.g. several instances).
export async function startNginx({ twostepPort, port: wanted, transform = (conf) => conf }) {
  assert.ok(existsSync(DAV_EXT), `${DAV_EXT} is missing: run scripts/install-deps (libnginx-mod-http-dav-ext)`);
  const dir = mkdtempSync(join(tmpdir(), 'twostep-nginx-'));
  chmodSync(dir, 0o755);
  const davRoot = join(dir, 'dav');
  mkdirSync(davRoot, { mode: 0o777 });
  chmodSync(davRoot, 0o777);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const port = wanted ?? (await freePort());
  const appPort = await freePort();
  writeFileSync(join(dir, 'sites.conf'), transform(testSiteConfig({ port, twostepPort, appPort, davRoot })));
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  writeFileSync(join(dir, 'nginx.conf'), `
${root ? 'user root root;' : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
load_module ${DAV_EXT};
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/sites.conf;
  # The "application" behind app.example.com: shows what nginx told it.
  server {
    listen 127.0.0.1:${appPort};
    location / { default_type text/plain; return 200 "app user=$http_x_remote_user\\n"; }
  }
}
`);
  let output = '';
  const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  // SIGQUIT: nginx's graceful stop.
  const proc = supervise(child, { signal: 'SIGQUIT', dir });
  const early = proc.exited.then(({ code }) => {
    throw new Error(`nginx exited (code ${code}):\n${output}\n${readLog(dir)}`);
  });
  await Promise.race([waitForPort(port, 10000), early]);
  early.catch(() => {});
  return {
    port,
    dir,
    davRoot,
    log: () => readLog(dir),
    stop: proc.stop,
  };
}

function readLog(dir) {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

// One request through curl. host: 'dav.example.com'; resolves to the nginx port.
// opts: {method, headers, user: 'u:p', upload: file path, cookie, body, from: a local source
// address such as '127.0.0.2' (nginx then sees that client address)}
// → {status, headers (lower-case names; last value wins), body}
export function curl(nginx, host, path, opts = {}) {
  const args = ['-s', '-S', '-i', '--max-time', '20', '--resolve', `${host}:${nginx.port}:127.0.0.1`];
  if (opts.method) args.push('-X', opts.method);
  for (const [k, v] of Object.entries(opts.headers || {})) args.push('-H', `${k}: ${v}`);
  if (opts.user !== undefined) args.push('--basic', '-u', opts.user);
  if (opts.upload) args.push('-T', opts.upload);
  if (opts.cookie) args.push('-b', opts.cookie);
  if (opts.body !== undefined) args.push('--data-binary', opts.body);
  if (opts.from) args.push('--interface', opts.from);
  args.push(`http://${host}:${nginx.port}${path}`);
  return new Promise((resolveCurl, reject) => {
    execFile('curl', args, { encoding: 'latin1', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !stdout) {
        reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`));
        return;
      }
      // curl -i prints every response head (100 Continue first, when there is one).
      let text = stdout;
      while (/^HTTP\/[\d.]+ 100/.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const body = split < 0 ? '' : text.slice(split + 4);
      const lines = head.split('\r\n');
      const m = lines[0].match(/^HTTP\/[\d.]+ (\d{3})/);
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      resolveCurl({ status: m ? Number(m[1]) : undefined, headers, body });
    });
  });
}
