/**
 * Web sessions through the HTTP service host itself (src/http/host.ts; a test row running the
 * http-app fixture, two connection threads, a plain and a TLS listener), with curl, a new
 * connection per request: a cookie made on one connection works on others (whichever thread
 * takes them), and after a connection thread crashes; the cookie's attributes with and without
 * TLS; idle expiry (sessionIdleTimeout = 1 s) and activity expiry (sessionActivityTimeout = 2 s,
 * the session busy all along); CSRF missing or wrong → 403; a cross-site Origin → 403; and the
 * views: a virtual host's templates, the mobile set for a phone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { defineService, HTTP_OPTIONS } from '../../src/config/schema.ts';
import { selfSignedCert } from '../probed.ts';
import { serviceNode, tmpDir, waitFor } from '../helpers.ts';
import { curl, cookieOf } from './curl.ts';

const APP = new URL('../fixtures/http-app/index.ts', import.meta.url).href;
const row = (name: string) => defineService(name, 'http', `test: http-app (${name})`, { module: APP, options: HTTP_OPTIONS, optionsKind: 'http', idleTimeout: 300 });
const ROWS = [row('testWebApp'), row('testWebIdle'), row('testWebLife')];

let server: Server;
let dir: string;
before(async () => {
  dir = tmpDir('postern-http-sessions-');
  const { certFile, keyFile } = selfSignedCert(dir);
  fs.mkdirSync(path.join(dir, 'tpl', 'corp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'tpl', 'corp', 'layout.eta'), `<html><body data-layout="corp"><%~ it.body %></body></html>`);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  server = await startServer({
    configText: `
Server {
    services = (testWebApp testWebIdle testWebLife)
    primaryDomain = "sessions.example"
    statusListener = 127.0.0.1:0
    enableFaultInjection = yes
    shutdownTimeout = 2
    logLevel = error
    testWebApp = {
        listeners = ( { address = 127.0.0.1:0 } { address = 127.0.0.2:0 sslEnable = yes ${ssl} } )
        minConnThreads = 2
        maxConnThreads = 2
        path = "${path.join(dir, 'tpl')}"
        virtualHosts = ( { host = "mail.corp.example" template = "corp" } )
    }
    testWebIdle = { listeners = ( { address = 127.0.0.1:0 } ) sessionIdleTimeout = 1 }
    testWebLife = { listeners = ( { address = 127.0.0.1:0 } ) sessionIdleTimeout = 60 sessionActivityTimeout = 2 }
}`,
    dataDir: path.join(dir, 'data'),
    statusPort: 0,
    controlSocket: false,
    testServices: ROWS,
    loadIntervalMs: 100,
    backoffInitialMs: 100,
  });
});
after(async () => server?.stop());

const base = (service: string, i = 0) => `${i === 1 ? 'https://127.0.0.2' : 'http://127.0.0.1'}:${server.port(service, i)}`;

async function login(url: string, user: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await curl(`${url}/login`, ['--data-urlencode', `username=${user}`]);
  assert.equal(r.status, 200, r.body);
  return { cookie: cookieOf(r)!, csrf: (JSON.parse(r.body) as { csrf: string }).csrf, setCookie: r.headers['set-cookie']![0]! };
}

function threadsOf(service: string) {
  const sup = serviceNode(server.status().tree, service)?.children?.find((c) => c.kind === 'threadSupervisor');
  return sup?.children ?? [];
}

test('the cookie: HttpOnly, SameSite=Lax, Path=/; Secure on the TLS listener only', async () => {
  const plain = (await login(base('testWebApp'), 'alice@sessions.example')).setCookie.split(';').map((a) => a.trim());
  for (const a of ['HttpOnly', 'SameSite=Lax', 'Path=/']) assert.ok(plain.includes(a), plain.join('; '));
  assert.ok(!plain.includes('Secure'));
  const tls = (await login(base('testWebApp', 1), 'alice@sessions.example')).setCookie.split(';').map((a) => a.trim());
  for (const a of ['HttpOnly', 'SameSite=Lax', 'Path=/', 'Secure']) assert.ok(tls.includes(a), tls.join('; '));
});

test('a cookie made on one connection works on every other, on both threads and after a thread crash', async () => {
  await waitFor(() => threadsOf('testWebApp').filter((t) => t.state === 'running').length === 2, 10_000, 'two threads');
  const { cookie } = await login(base('testWebApp'), 'bob@sessions.example');
  // the kernel spreads connections over the threads (reusePort): a few requests reach both
  const threads = new Set<string>();
  for (let i = 0; i < 64 && threads.size < 2; i++) {
    const r = await curl(`${base('testWebApp')}/mail`, ['-H', `Cookie: ${cookie}`]);
    assert.equal(r.status, 200);
    const m = JSON.parse(r.body) as { user: string; thread: string };
    assert.equal(m.user, 'bob@sessions.example');
    threads.add(m.thread);
  }
  assert.equal(threads.size, 2, 'the cookie worked on both threads');
  const restarts = threadsOf('testWebApp').reduce((n, t) => n + t.restarts, 0);
  server.injectFault('testWebApp', 'crash', 0);
  server.injectFault('testWebApp', 'crash', 1);
  await waitFor(() => threadsOf('testWebApp').reduce((n, t) => n + t.restarts, 0) >= restarts + 2, 20_000, 'both threads restarted');
  const r = await waitFor(async () => {
    const x = await curl(`${base('testWebApp')}/mail`, ['-H', `Cookie: ${cookie}`]).catch(() => null);
    return x !== null && x.status !== 0 ? x : null;
  }, 20_000, 'the service answering again');
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).user, 'bob@sessions.example');
});

test('CSRF missing or wrong → 403; a cross-site Origin → 403; the right token from the same origin → 200', async () => {
  const url = base('testWebApp');
  const { cookie, csrf } = await login(url, 'carol@sessions.example');
  const post = (args: string[]) => curl(`${url}/action`, ['-H', `Cookie: ${cookie}`, ...args]);
  assert.equal((await post(['--data', 'x=1'])).status, 403);
  assert.equal((await post(['--data', '_csrf=nope'])).status, 403);
  assert.equal((await post(['--data-urlencode', `_csrf=${csrf}`, '-H', 'Origin: https://evil.example'])).status, 403);
  assert.equal((await post(['--data-urlencode', `_csrf=${csrf}`, '-H', 'Sec-Fetch-Site: cross-site'])).status, 403);
  assert.equal((await post(['--data-urlencode', `_csrf=${csrf}`, '-H', `Origin: ${url}`])).status, 200);
  assert.equal((await curl(`${url}/login`, ['--data', 'username=x', '-H', 'Origin: https://evil.example'])).status, 403);
  assert.equal((await curl(`${url}/action`, ['--data', 'x=1'])).status, 401);
  assert.equal((await curl(`${url}/mail`)).status, 303);
});

test('idle expiry: a session unused for sessionIdleTimeout (1 s) ends', async () => {
  const url = base('testWebIdle');
  const { cookie } = await login(url, 'idle@sessions.example');
  assert.equal((await curl(`${url}/mail`, ['-H', `Cookie: ${cookie}`])).status, 200);
  // the wait is the thing tested: idle for longer than sessionIdleTimeout, the session is gone
  await new Promise((res) => setTimeout(res, 1300));
  const r = await curl(`${url}/mail`, ['-H', `Cookie: ${cookie}`]);
  assert.equal(r.status, 303);
  assert.equal(r.header('location'), '/');
});

test('activity expiry: a session busy all along ends after sessionActivityTimeout (2 s)', async () => {
  const url = base('testWebLife');
  const t0 = Date.now();
  const { cookie } = await login(url, 'busy@sessions.example');
  let ended = 0;
  for (let i = 0; i < 100 && ended === 0; i++) {
    const r = await curl(`${url}/mail`, ['-H', `Cookie: ${cookie}`]);
    if (r.status === 303) ended = Date.now();
    else {
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  assert.ok(ended > 0, 'the session ended');
  assert.ok(ended - t0 >= 2000, `ended after ${ended - t0} ms, not before sessionActivityTimeout`);
});

test('views through the host: a virtual host\'s layout, the default for others, the mobile set for a phone', async () => {
  const url = base('testWebApp');
  const corp = await curl(`${url}/page`, ['-H', 'Host: mail.corp.example']);
  assert.equal(corp.status, 200);
  assert.match(corp.body, /data-layout="corp"/);
  assert.match(corp.body, /data-page="builtin"/);
  const other = await curl(`${url}/page`, ['-H', 'Host: other.example']);
  assert.match(other.body, /data-layout="builtin"/);
  const phone = await curl(`${url}/page`, ['-A', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148']);
  assert.match(phone.body, /data-page="builtin-mobile"/);
  assert.match(phone.body, /class="mobile"/);
  assert.equal((await curl(`${url}/static/app.css`)).status, 200);
  assert.equal((await curl(`${url}/static/../../index.ts`, ['--path-as-is'])).status, 404);
});
