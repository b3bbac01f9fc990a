/**
 * The WebMail proxy's back-end connection settings and failures, with curl against fake and
 * real back ends: the request queue (`requestQueueSize`, beyond `maxConnections`) full → 503 at
 * once while the back end holds its requests; a back end that does not answer → 504 within
 * `rwTimeout`; one that is down, or answers garbage → 502 at once; one whose accept queue is
 * full → 502 within `connectTimeout`; a real back end stopped after the login → a 502 page for
 * its session; an event stream kept out of the queue; a session the back end dropped ending on
 * the proxy too;
 * `localInterface` as the connections' source address; `sslEnable` with `caFile` (and a back end
 * whose certificate is not trusted: 502).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { fullAcceptQueue, tmpDir, waitFor } from '../helpers.ts';
import { selfSignedCert } from '../probed.ts';
import { ANN, PW, startWebmail } from '../webmail/browser.ts';
import { browser } from '../webmail/read-helpers.ts';
import { closedPort, curl, startHolder, startProxy } from './helpers.ts';

const login = (base: string, user = ANN, pw = PW, max = 30) => curl(`${base}/login`, ['--data-urlencode', `username=${user}`, '--data-urlencode', `password=${pw}`], max);

test('requestQueueSize: with maxConnections 1 and a queue of 1, the third request to a holding back end gets 503 at once', async () => {
  const holder = await startHolder();
  const px = await startProxy({ backendPort: holder.port, extra: 'requestQueueSize = 1 connectionData = { maxConnections = 1 rwTimeout = 60 }' });
  try {
    const first = login(px.base);
    await waitFor(() => holder.received === 1, 10_000, 'the first request at the back end');
    const second = login(px.base); // waits for the one connection, in the queue
    await waitFor(() => (px.server.status().services.find((x) => x.name === 'webmailProxy')!.counters?.['webmailProxy.queued'] ?? 0) >= 1, 10_000, 'the second request queued');
    const third = await login(px.base);
    assert.equal(third.status, 503);
    assert.match(third.text, /too busy/);
    assert.match(third.text, /name="username"[^>]*value="ann@example.org"/, 'the login page again, the username kept');
    assert.ok(third.elapsedMs < 5_000, `answered at once (${third.elapsedMs} ms)`);
    assert.equal(holder.received, 1, 'the back end saw only the first');
    holder.release();
    const [a, b] = await Promise.all([first, second]);
    // the holder's "released" is no login form's 303: a failed login page, not a hang
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(holder.received, 2);
  } finally {
    holder.release();
    await px.stop();
    await holder.stop();
  }
});

test('rwTimeout: a back end that never answers gets a 504 page within rwTimeout, never a hang', async () => {
  const holder = await startHolder();
  const px = await startProxy({ backendPort: holder.port, extra: 'connectionData = { rwTimeout = 2 }' });
  try {
    const r = await login(px.base);
    assert.equal(r.status, 504);
    assert.match(r.text, /did not answer in time/);
    assert.ok(r.elapsedMs >= 1_500 && r.elapsedMs < 10_000, `${r.elapsedMs} ms`);
  } finally {
    holder.release();
    await px.stop();
    await holder.stop();
  }
});

test('a back end that is down: 502 at once', async () => {
  const px = await startProxy({ backendPort: await closedPort() });
  try {
    const r = await login(px.base);
    assert.equal(r.status, 502);
    assert.match(r.text, /cannot be reached/);
    assert.ok(r.elapsedMs < 5_000, `${r.elapsedMs} ms`);
  } finally {
    await px.stop();
  }
});

test('a back end that answers garbage: 502 at once, and the proxy serves on', async () => {
  const server = net.createServer((s) => {
    s.on('data', () => s.end('SSH-2.0-OpenSSH_9.6\r\nnot HTTP at all\r\n\r\n'));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const px = await startProxy({ backendPort: (server.address() as net.AddressInfo).port });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await login(px.base);
      assert.equal(r.status, 502);
      assert.ok(r.elapsedMs < 5_000, `${r.elapsedMs} ms`);
    }
    assert.equal((await curl(`${px.base}/`)).status, 200);
  } finally {
    await px.stop();
    server.close();
  }
});

test('connectTimeout: a back end whose accept queue is full gets a 502 page within connectTimeout', { timeout: 30_000 }, async () => {
  const port = await closedPort();
  const blackhole = await fullAcceptQueue('127.0.0.1', port);
  const px = await startProxy({ backendPort: port, extra: 'connectionData = { connectTimeout = 1 rwTimeout = 60 }' });
  try {
    const r = await login(px.base);
    assert.equal(r.status, 502);
    assert.ok(r.elapsedMs >= 800 && r.elapsedMs < 8_000, `${r.elapsedMs} ms`);
  } finally {
    blackhole.close();
    await px.stop();
  }
});

test('a back end stopped after the login: its session gets a 502 page, and the login page is still served', async () => {
  const be = await startWebmail();
  const px = await startProxy({ backendPort: Number(new URL(be.base).port), extra: 'connectionData = { connectTimeout = 2 }' });
  try {
    const b = browser(px.base);
    assert.equal((await b.login(ANN, PW)).status, 303);
    assert.equal((await b.get('/mail?f=INBOX')).status, 200);
    await be.stop();
    const r = await b.get('/mail?f=INBOX');
    assert.equal(r.status, 502);
    assert.match(r.text, /cannot be reached/);
    assert.match(r.text, /<a id="back" href="\/">/);
    const home = await b.get('/'); // the session's own login page: the message, the username kept
    assert.equal(home.status, 502);
    assert.match(home.text, /form id="login"/);
    assert.match(home.text, /name="username"[^>]*value="ann@example.org"/);
    assert.equal((await curl(`${px.base}/`)).status, 200);
  } finally {
    await px.stop();
    await be.stop().catch(() => {});
  }
});

test("an event stream holds no place in the back end's queue; a session the back end has dropped ends on the proxy too", async () => {
  const be = await startWebmail({ webmail: 'sessionIdleTimeout = 3' });
  const px = await startProxy({ backendPort: Number(new URL(be.base).port), extra: 'requestQueueSize = 0 connectionData = { maxConnections = 1 }' });
  try {
    const b = browser(px.base);
    assert.equal((await b.login(ANN, PW)).status, 303);
    // an open event stream, then ordinary requests while it lasts: the one connection is free
    const sse = spawn('curl', ['-sS', '-N', '-b', b.jar, '--max-time', '20', `${px.base}/events?f=INBOX`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let streamed = '';
    let ended = false;
    sse.stdout!.on('data', (d: Buffer) => (streamed += d.toString()));
    sse.once('exit', () => (ended = true));
    try {
      await waitFor(() => streamed.includes(': subscribed'), 10_000, 'the event stream open through the proxy');
      for (let i = 0; i < 3; i++) assert.equal((await b.get('/mail?f=INBOX')).status, 200);
      assert.equal(ended, false, 'the stream was still open meanwhile');
    } finally {
      sse.kill();
    }
    // the back end drops the session after 3 s idle (sessionIdleTimeout): its Inbox sends the
    // browser to /, where the proxy finds the back end's login page and shows its own
    await new Promise((r) => setTimeout(r, 3_500)); // the back end's idle timeout, passing
    const list = await b.get('/mail?f=INBOX');
    assert.equal(list.status, 303);
    const home = await b.get('/');
    assert.equal(home.status, 200);
    assert.match(home.text, /_proxy\/static\/proxy\.css/);
    assert.match(home.headers['set-cookie'] ?? '', /postern_session=;.*Max-Age=0/, "the proxy's session ends too");
  } finally {
    await px.stop();
    await be.stop();
  }
});

test('localInterface: connections to the back end come from that address', async () => {
  const seen: string[] = [];
  const server = net.createServer((s) => {
    seen.push(s.remoteAddress ?? '');
    s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const px = await startProxy({ backendPort: port, extra: 'connectionData = { localInterface = 127.0.0.2 }' });
  try {
    const r = await login(px.base);
    assert.equal(r.status, 200);
    assert.deepEqual(seen, ['127.0.0.2']);
  } finally {
    await px.stop();
    server.close();
  }
});

test('sslEnable: HTTPS to the back end, its certificate checked against caFile; an untrusted one is a 502', async () => {
  const dir = tmpDir('postern-wmproxy-tls-');
  const { certFile, keyFile } = selfSignedCert(dir);
  const fs = await import('node:fs');
  const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      // a back end's successful login: 303 and its session cookie
      res.writeHead(303, { location: '/mail?f=INBOX', 'set-cookie': `postern_session=${'T'.repeat(43)}; Path=/; HttpOnly` }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  // the certificate is for CN=localhost: the back end is named so
  const ok = await startProxy({ backendPort: port, backendHost: 'localhost', extra: `connectionData = { sslEnable = yes caFile = "${certFile}" }` });
  const untrusted = await startProxy({ backendPort: port, backendHost: 'localhost', extra: `connectionData = { sslEnable = yes }` });
  try {
    const r = await login(ok.base);
    assert.equal(r.status, 303, r.text);
    assert.match(r.headers['set-cookie'] ?? '', /postern_session=/);
    const bad = await login(untrusted.base);
    assert.equal(bad.status, 502);
  } finally {
    await ok.stop();
    await untrusted.stop();
    server.closeAllConnections();
    server.close();
  }
});
