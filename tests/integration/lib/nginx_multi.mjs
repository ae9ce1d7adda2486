// nginx in front of several twostep instances: the shipped deploy/nginx/example.com.conf (through
// lib/nginx.mjs) with its upstream block replaced by deploy/multi-instance/nginx-upstream.conf,
// as deploy/multi-instance/README.md says to do. For the tests, responses say which instance
// served them: X-Upstream on id.example.com, X-Verified-By (the instance that answered the
// auth_request) on app.example.com. id.example.com is the port's default server, so fetch-based
// clients reach it at `url`; the other sites need curl() with their host name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sourceDir, startNginx } from './nginx.mjs';

export const MULTI_DIR = join(sourceDir, 'deploy', 'multi-instance');

function replaceOrFail(text, from, to, what) {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `cannot find ${what} (${from})`);
  return out;
}

// The multi-instance upstream block with one server line per instance ("host:port"), keeping the
// options of the example's first server line.
function upstreamFor(instances) {
  const text = readFileSync(join(MULTI_DIR, 'nginx-upstream.conf'), 'utf8');
  const block = text.slice(text.indexOf('upstream twostep {'));
  const m = block.match(/^(\s*)server\s+\S+?( [^;]*)?;$/m);
  assert.ok(m, 'nginx-upstream.conf: no server line');
  const servers = instances.map((i) => `${m[1]}server ${i}${m[2] ?? ''};`).join('\n');
  return block.replace(/^\s*server\s+\S+.*;\n/gm, '').replace('upstream twostep {\n', `upstream twostep {\n${servers}\n`);
}

// startMultiNginx({instances: ['127.0.0.1:PORT', ...], port?}) → lib/nginx.mjs's object + url
export async function startMultiNginx({ instances, port }) {
  const nginx = await startNginx({
    twostepPort: Number(instances[0].split(':').pop()),
    port,
    transform(conf) {
      conf = replaceOrFail(conf, /upstream twostep \{[^}]*\}/, upstreamFor(instances), 'the upstream block');
      conf = replaceOrFail(conf, /server_name id\.example\.com;/,
                           'server_name id.example.com;\n    add_header X-Upstream $upstream_addr always;',
                           'the id.example.com server');
      conf = replaceOrFail(conf, /(server_name app\.example\.com;[\s\S]*?auth_request_set \$twostep_signin [^;]*;)/,
                           '$1\n        auth_request_set $twostep_by $upstream_addr;\n' +
                           '        add_header X-Verified-By $twostep_by always;',
                           'the app.example.com auth_request');
      return replaceOrFail(conf, /location @twostep_signin \{/,
                           'location @twostep_signin {\n        add_header X-Verified-By $twostep_by always;',
                           'the sign-in redirect');
    },
  });
  return { ...nginx, url: `http://127.0.0.1:${nginx.port}` };
}
