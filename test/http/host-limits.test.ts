/**
 * test/http/host-limits.test.ts: the seed's HTTP options, each tripped with curl against the HTTP
 * service host (src/http/host.ts, src/http/limits.ts) running the fixture service
 * (test/fixtures/http-fixture.ts): allowKeepAlive (curl reuses the connection, or is told
 * `Connection: close`), httpHeadersMaxSize (431 and close), httpBodyMaxSize and uploadMaxSize
 * (413) under allowLargeIncomingData no (the connection closes: the next request of the same
 * curl opens another) and yes (the body is read and dropped, the connection is reused), for a
 * declared Content-Length and for a chunked body, maxErrors (the answer reaching it closes the
 * connection), the security headers, a slowloris client cut by the headers deadline
 * (commandTimeout), a body trickled under minDataRate, a pipelining client that never reads,
 * bounded while others are served, maxPipelinedRequests, and a half-closed client answered in full.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Server } from '../../actors/server.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { curl, headers, startHttpServer } from './helpers.ts';

let server: Server;
let files: string;
const url = (service: string, p: string): string => `http://127.0.0.1:${server.port(service)}${p}`;
const file = (name: string, size: number): string => {
  const f = path.join(files, name);
  fs.writeFileSync(f, Buffer.alloc(size, 'a'));
  return f;
};
const OCTETS = ['-H', 'content-type: application/octet-stream'];
const svc = () => server.status().services.find((x) => x.name === 'testHttp')!;

before(async () => {
  files = tmpDir('postern-http-files-');
  // testHttp: small limits, allowLargeIncomingData no; testHttp2: the same, yes; testHttp3: allowKeepAlive no
  const limits = 'httpHeadersMaxSize = 2 httpBodyMaxSize = 4 uploadMaxSize = 16 maxErrors = 3 commandTimeout = 2 dataRateWindow = 2 minConnThreads = 1 maxConnThreads = 1';
  server = await startHttpServer(`
    testHttp = { listeners = ( { address = 127.0.0.1:0 idleTimeout = 4 } ) ${limits} }
    testHttp2 = { listeners = ( { address = 127.0.0.1:0 } ) ${limits} allowLargeIncomingData = yes }
    testHttp3 = { listeners = ( { address = 127.0.0.1:0 } ) allowKeepAlive = no }`);
});
after(async () => server.stop());

test('allowKeepAlive yes: curl reuses one connection; no: every answer says Connection: close and curl opens another', async () => {
  const on = await curl([url('testHttp', '/'), url('testHttp', '/page?size=5')]);
  assert.deepEqual(on.statuses, [200, 200]);
  assert.equal(on.connections, 1, on.trace);
  assert.match(on.trace, /Re-using existing connection/);
  assert.deepEqual(headers(on, 'connection'), ['keep-alive', 'keep-alive']);
  const off = await curl([url('testHttp3', '/'), url('testHttp3', '/page?size=5')]);
  assert.deepEqual(off.statuses, [200, 200]);
  assert.deepEqual(headers(off, 'connection'), ['close', 'close']);
  assert.equal(off.connections, 2, off.trace);
});

test('security headers on every answer; a route may replace the Content-Security-Policy', async () => {
  const r = await curl([url('testHttp', '/'), url('testHttp', '/csp'), url('testHttp', '/nowhere')]);
  assert.deepEqual(r.statuses, [200, 200, 404]);
  assert.deepEqual(headers(r, 'x-content-type-options'), ['nosniff', 'nosniff', 'nosniff']);
  assert.deepEqual(headers(r, 'referrer-policy'), ['no-referrer', 'no-referrer', 'no-referrer']);
  const csp = headers(r, 'content-security-policy');
  assert.match(csp[0]!, /^default-src 'self'; script-src 'self';.*object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'$/);
  assert.equal(csp[1], "default-src 'none'");
  assert.equal(csp[2], csp[0]);
});

test('httpHeadersMaxSize: headers over it get 431 and the connection closes; the server carries on', async () => {
  const r = await curl(['-H', `X-Big: ${'b'.repeat(3000)}`, url('testHttp', '/'), '--next', url('testHttp', '/page?size=3')]);
  assert.deepEqual(r.statuses, [431, 200]);
  assert.equal(headers(r, 'connection')[0], 'close');
  assert.equal(r.connections, 2, 'the second request needed a new connection');
  const small = await curl(['-H', `X-Big: ${'b'.repeat(1000)}`, url('testHttp', '/')]);
  assert.deepEqual(small.statuses, [200]);
});

test('httpBodyMaxSize, Content-Length declared: allowLargeIncomingData no → 413 and close before the body; yes → read, 413, connection kept', async () => {
  const ok = await curl([...OCTETS, '--data-binary', `@${file('3k', 3000)}`, url('testHttp', '/echo')]);
  assert.deepEqual(ok.statuses, [200]);
  assert.equal(ok.out, 'got 3000\n');
  const big = file('5k', 5000);
  const no = await curl([...OCTETS, '--data-binary', `@${big}`, url('testHttp', '/echo'), '--next', url('testHttp', '/page?size=3')]);
  assert.deepEqual(no.statuses, [413, 200]);
  assert.equal(headers(no, 'connection')[0], 'close');
  assert.equal(no.connections, 2);
  const yes = await curl([...OCTETS, '--data-binary', `@${big}`, url('testHttp2', '/echo'), '--next', url('testHttp2', '/page?size=3')]);
  assert.deepEqual(yes.statuses, [413, 200]);
  assert.equal(headers(yes, 'connection')[0], 'keep-alive');
  assert.equal(yes.connections, 1, 'the connection was kept');
});

test('a client waiting for 100 Continue gets it when its declared body fits; over the limit a 413 instead, with close, its body never sent', async () => {
  const expect = ['-H', 'Expect: 100-continue', ...OCTETS];
  const ok = await curl([...expect, '--data-binary', `@${file('3k', 3000)}`, url('testHttp2', '/echo')]);
  assert.deepEqual(ok.statuses, [100, 200]);
  assert.equal(ok.out, 'got 3000\n');
  const over = await curl([...expect, '--data-binary', `@${file('5k', 5000)}`, url('testHttp2', '/echo')]);
  assert.deepEqual(over.statuses, [413], 'no 100 Continue');
  assert.equal(headers(over, 'connection')[0], 'close');
});

test('httpBodyMaxSize, chunked: no → the connection is dropped as the limit passes; yes → the rest is read and dropped, 413, connection kept', async () => {
  const big = file('50k', 50_000);
  const chunked = ['-H', 'transfer-encoding: chunked', ...OCTETS, '--data-binary', `@${big}`];
  const no = await curl([...chunked, url('testHttp', '/echo')]);
  assert.deepEqual(no.statuses, [], 'no answer once the body has started');
  assert.notEqual(no.code, 0, 'curl saw the connection end');
  const yes = await curl([...chunked, url('testHttp2', '/echo'), '--next', url('testHttp2', '/page?size=3')]);
  assert.deepEqual(yes.statuses, [413, 200]);
  assert.equal(yes.connections, 1);
  const fits = await curl(['-H', 'transfer-encoding: chunked', ...OCTETS, '--data-binary', `@${file('2k', 2000)}`, url('testHttp', '/echo')]);
  assert.equal(fits.out, 'got 2000\n');
});

test('uploadMaxSize: a multipart/form-data body is held to it, not to httpBodyMaxSize', async () => {
  const ok = await curl(['-F', `attachment=@${file('up6k', 6144)}`, url('testHttp', '/upload')]);
  assert.deepEqual(ok.statuses, [200], ok.trace);
  assert.equal(ok.out, 'files 1 bytes 6144\n');
  const big = file('up20k', 20_000);
  const no = await curl(['-F', `attachment=@${big}`, url('testHttp', '/upload'), '--next', url('testHttp', '/page?size=3')]);
  assert.deepEqual(no.statuses, [413, 200]);
  assert.equal(no.connections, 2);
  const yes = await curl(['-F', `attachment=@${big}`, url('testHttp2', '/upload'), '--next', url('testHttp2', '/page?size=3')]);
  assert.deepEqual(yes.statuses, [413, 200]);
  assert.equal(yes.connections, 1);
});

test('maxErrors: the answer reaching it carries Connection: close and the connection ends', async () => {
  const r = await curl([url('testHttp', '/status/404'), url('testHttp', '/status/500'), url('testHttp', '/status/403'), url('testHttp', '/page?size=3')]);
  assert.deepEqual(r.statuses, [404, 500, 403, 200]);
  assert.deepEqual(headers(r, 'connection'), ['keep-alive', 'keep-alive', 'close', 'keep-alive']);
  assert.equal(r.connections, 2);
  // counted for the service (/status), and the connection's end as error control's
  await waitFor(() => (svc().counters?.['http.500'] ?? 0) >= 1 && (svc().listeners[0]!.refused['error_limit'] ?? 0) >= 1, 10_000, 'http.500 and error_limit counted');
  assert.ok((svc().counters?.['http.404'] ?? 0) >= 1);
});

/** A raw client: every byte received, kept. */
function rawClient(port: number): Promise<{ s: net.Socket; got: () => string; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.once('connect', () => resolve({ s, got: () => got, closed }));
  });
}

test('a slowloris client (headers trickled) is cut by the headers deadline (commandTimeout) with 408', async () => {
  const c = await rawClient(server.port('testHttp'));
  c.s.write('GET / HTTP/1.1\r\nHost: x\r\n');
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent++ >= 100 || c.s.destroyed) clearInterval(trickle); // stops by itself after 30 s
    else c.s.write(`X-Slow-${sent}: y\r\n`);
  }, 300);
  await c.closed;
  clearInterval(trickle);
  assert.match(c.got(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(c.got(), /\r\nConnection: close\r\n/);
  assert.ok(sent < 100, `cut before the client gave up (${sent} header lines sent)`);
  const r = await curl([url('testHttp', '/')]);
  assert.deepEqual(r.statuses, [200]);
});

test('minDataRate: a body trickled slower than it over dataRateWindow gets the connection closed', async () => {
  const c = await rawClient(server.port('testHttp'));
  c.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 3000\r\n\r\n');
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent++ >= 60 || c.s.destroyed) clearInterval(trickle); // stops by itself after 24 s
    else c.s.write('y'.repeat(10)); // 25 bytes/s, under 1 KB/s
  }, 400);
  await c.closed;
  clearInterval(trickle);
  assert.equal(c.got(), '', 'no answer: the body never came whole');
  assert.ok(sent < 60, `closed before the client gave up (${sent * 10} bytes sent)`);
  await waitFor(() => (svc().counters?.['http.body_too_slow'] ?? 0) >= 1, 10_000, 'http.body_too_slow counted');
});

test('a pipelining client that never reads is bounded (the server stops reading it) while another client is served', async (t) => {
  const before = Number((await curl([url('testHttp', '/count')])).out);
  const idleBefore = svc().listeners[0]!.refused['idle_timeout'] ?? 0;
  const c = await rawClient(server.port('testHttp'));
  c.s.pause(); // never reads
  const N = 10; // within maxPipelinedRequests; 4 MB answers each, far more than socket buffers hold
  c.s.write(Array.from({ length: N }, () => 'GET /page?size=4194304 HTTP/1.1\r\nHost: x\r\n\r\n').join(''));
  const other = await curl([url('testHttp', '/page?size=10')]);
  assert.deepEqual(other.statuses, [200], 'served meanwhile');
  // the connection makes no progress: the listener's idle timeout (4 s) ends it
  await waitFor(() => (svc().listeners[0]!.refused['idle_timeout'] ?? 0) > idleBefore, 30_000, 'the idle timeout ended the connection');
  const answered = Number((await curl([url('testHttp', '/count')])).out) - before - 1;
  t.diagnostic(`answered ${answered} of ${N} pipelined requests before the idle timeout`);
  assert.ok(answered < N, `answered ${answered} of ${N}: the server stopped while the client did not read`);
  c.s.resume();
  await c.closed;
  assert.ok(c.got().length < N * 4194304, 'the answers stopped');
});

test('maxPipelinedRequests: a client sending more requests ahead of their answers gets the connection closed', async (t) => {
  const before = Number((await curl([url('testHttp', '/count')])).out);
  const c = await rawClient(server.port('testHttp'));
  c.s.pause();
  const N = 20_000;
  c.s.write(Array.from({ length: N }, () => 'GET /page?size=100 HTTP/1.1\r\nHost: x\r\n\r\n').join(''));
  await waitFor(() => (svc().counters?.['http.pipelined_over_limit'] ?? 0) >= 1, 10_000, 'http.pipelined_over_limit counted');
  c.s.resume();
  await c.closed;
  const answered = Number((await curl([url('testHttp', '/count')])).out) - before - 1;
  t.diagnostic(`answered ${answered} of ${N}`);
  assert.ok(answered <= 17, `answered ${answered}: at most the one running and the 16 waiting`);
});

test('a half-closed client (its request, then FIN) still gets its whole answer, then the connection closes; the server carries on', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const s = net.connect(server.port('testHttp'), '127.0.0.1');
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.on('error', reject);
    s.on('close', () => resolve(got)); // the server ends its side once it has answered
    s.on('connect', () => s.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')); // request, then half-close
  });
  assert.match(answer, /^HTTP\/1\.1 200 /);
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(answer)?.[1]);
  assert.equal(Buffer.byteLength(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1'), length, 'the whole body came before the close');
  assert.deepEqual((await curl([url('testHttp', '/')])).statuses, [200], 'others are served');
});
