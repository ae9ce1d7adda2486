// A fake SMS provider for the tests: a real HTTP server on loopback that records every
// request and answers like the http-driver endpoint or the Twilio Messages API. It can answer
// with an error status or slowly, on demand, to test timeouts, retries and failures.
//
//   const gw = await startFakeGateway();
//   gw.url                       'http://127.0.0.1:PORT'
//   gw.answer({status, delayMs}) how the next requests are answered (default 200/201, at once)
//   gw.requests                  [{method, path, headers, body, at}]
//   gw.messages()                [{to, text, fields}] decoded from JSON or form bodies
//   await gw.nextCode(count)     waits for message number `count` (1-based) and returns its code
//   await gw.close()
import http from 'node:http';
import { once } from 'node:events';

export function decodeMessage(req) {
  const type = req.headers['content-type'] || '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const fields = Object.fromEntries(new URLSearchParams(req.body));
    return { to: fields.To, text: fields.Body, fields };
  }
  let fields = {};
  try {
    fields = JSON.parse(req.body);
  } catch {}
  // The tests' http-driver template uses "recipient" and "text"; the default uses to/message.
  return { to: fields.recipient ?? fields.to, text: fields.text ?? fields.message, fields };
}

export function codeOf(text) {
  const m = /^(\d{6}) is your /.exec(text || '');
  if (!m) throw new Error(`no code in SMS text: ${JSON.stringify(text)}`);
  return m[1];
}

export async function startFakeGateway() {
  const requests = [];
  let mode = { status: undefined, delayMs: 0 };
  const sockets = new Set();
  const waiters = [];

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const record = {
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(record);
      for (const w of [...waiters]) w();
      const twilio = /\/Messages\.json$/.test(req.url);
      const status = mode.status ?? (twilio ? 201 : 200);
      const answer = () => {
        if (res.destroyed) return;
        const body = status < 300
          ? { sid: `SM${requests.length}`, status: 'queued', to: decodeMessage(record).to }
          : { code: 30000 + status, message: 'fake gateway failure', status };
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (mode.delayMs > 0) setTimeout(answer, mode.delayMs);
      else answer();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();

  const gw = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    answer({ status, delayMs = 0 } = {}) {
      mode = { status, delayMs };
    },
    reset() {
      requests.length = 0;
      mode = { status: undefined, delayMs: 0 };
    },
    messages() {
      return requests.map(decodeMessage);
    },
    // Waits until at least `count` requests arrived; returns the code of request `count`.
    async nextCode(count = requests.length + 1, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`the fake gateway got ${requests.length} of ${count} requests`);
        await new Promise((resolve) => {
          const t = setTimeout(resolve, 50);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
        waiters.length = 0;
      }
      return codeOf(decodeMessage(requests[count - 1]).text);
    },
    lastCode() {
      if (!requests.length) throw new Error('the fake gateway got no request');
      return codeOf(decodeMessage(requests[requests.length - 1]).text);
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
  return gw;
}

// A loopback port with nothing listening (for "gateway down").
export async function closedPort() {
  const s = http.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}
