// Starts a real nginx (Debian's binary) in a temporary directory on free loopback ports, in front
// of several twostep instances, with the snippets of deploy/multi-instance/nginx/ — so the
// deployment example is what the tests run (lib/nginx.mjs does the same for deploy/nginx/):
//   - `url`: the twostep site (twostep-locations.conf), round robin over the instances
//     (twostep-upstream.conf with its server lines replaced by the instances given);
//   - `appUrl`: a protected site (twostep-verify.conf + auth_request) that serves a static page
//     and answers the user in X-Remote-User.
// Every response says which instance served it: X-Upstream on the twostep site,
// X-Verified-By on the protected one.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './protocols.mjs';

const SOURCE_DIR = process.env.TWOSTEP_SOURCE_DIR ?? fileURLToPath(new URL('../../..', import.meta.url));
export const DEPLOY_DIR = join(SOURCE_DIR, 'deploy', 'multi-instance');
const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

// The example's upstream block with one server line per instance ("host:port"), keeping the
// options of the example's first server line.
function upstreamFor(instances) {
  const text = readFileSync(join(DEPLOY_DIR, 'nginx', 'twostep-upstream.conf'), 'utf8');
  const lines = text.split('\n');
  const first = lines.findIndex((l) => /^\s*server\s+\S+/.test(l));
  if (first < 0) throw new Error('twostep-upstream.conf: no server line');
  const [, indent, options] = lines[first].match(/^(\s*)server\s+\S+(.*)$/);
  const servers = instances.map((hostPort) => `${indent}server ${hostPort}${options}`);
  const rest = lines.filter((l, i) => i < first || !/^\s*server\s+\S+/.test(l));
  rest.splice(first, 0, ...servers);
  return rest.join('\n');
}

// startNginx({instances: ['127.0.0.1:PORT', ...], port?, appPort?}) → {url, appUrl, port, stop()}
export async function startNginx({ instances, port, appPort }) {
  port ??= await freePort();
  appPort ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'twostep-nginx-'));
  // As root, nginx's workers run as nobody: they must reach the files and the temp paths.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'twostep'));
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app', 'index.html'), 'the protected app\n');
  writeFileSync(join(dir, 'twostep', 'twostep-upstream.conf'), upstreamFor(instances));
  for (const f of ['twostep-proxy.conf', 'twostep-locations.conf', 'twostep-verify.conf']) {
    writeFileSync(join(dir, 'twostep', f), readFileSync(join(DEPLOY_DIR, 'nginx', f)));
  }
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstream '$server_port $request_method $uri $status $upstream_addr';
  access_log ${dir}/access.log upstream;
  log_subrequest on;
  client_body_temp_path ${dir}/tmp_body;
  proxy_temp_path ${dir}/tmp_proxy;
  fastcgi_temp_path ${dir}/tmp_fastcgi;
  uwsgi_temp_path ${dir}/tmp_uwsgi;
  scgi_temp_path ${dir}/tmp_scgi;
  include twostep/twostep-upstream.conf;
  server {
    listen 127.0.0.1:${port};
    add_header X-Upstream $upstream_addr always;
    include twostep/twostep-locations.conf;
  }
  server {
    listen 127.0.0.1:${appPort};
    include twostep/twostep-verify.conf;
    location / {
      auth_request /_twostep_verify;
      auth_request_set $twostep_user $upstream_http_x_twostep_user;
      auth_request_set $twostep_by $upstream_addr;
      add_header X-Remote-User $twostep_user always;
      add_header X-Verified-By $twostep_by always;
      root ${dir}/app;
      try_files /index.html =404;  # no index redirect: that would run auth_request again
    }
  }
}
`);
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);  // a test that dies must not leave nginx behind
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let early = null;
  exited.then((r) => (early = r));
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    if (early) throw new Error(`nginx exited (${JSON.stringify(early)}): ${stderr}\n${errorLog()}`);
    if ((await canConnect(port)) && (await canConnect(appPort))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen within 10 s: ${stderr}\n${errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    appPort,
    url: `http://127.0.0.1:${port}`,
    appUrl: `http://127.0.0.1:${appPort}`,
    errorLog,
    accessLog: () => readFileSync(join(dir, 'access.log'), 'utf8'),
    async stop() {
      process.off('exit', kill);
      if (!early) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
