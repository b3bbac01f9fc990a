/**
 * test/http/host-tls.test.ts: the HTTP service host on the listener layer, with curl:
 * UrlRedirect (a plain page links to the service's TLS listener when none is configured; `auto`
 * answers a plain `GET /` with a 301 to the configured one, which curl follows), and refusals
 * before any HTTP parsing: a deny rule gets a short 403, a full peer window a short 503, both
 * with `Connection: close`, and a garbage request gets the same (its bytes are never parsed).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Server } from '../../actors/server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { selfSignedCert } from '../probed.ts';
import { curl, headers, startHttpServer } from './helpers.ts';

let server: Server;
let tls1: number;
let tls2: number;

before(async () => {
  const dir = tmpDir('postern-http-tls-');
  const { certFile, keyFile } = selfSignedCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  tls1 = await freePort();
  tls2 = await freePort();
  server = await startHttpServer(`
    testHttp = {
      listeners = ( { address = 127.0.0.1:0 } { address = 127.0.0.1:${tls1} sslEnable = yes ${ssl} } )
      minConnThreads = 1 maxConnThreads = 1
    }
    testHttp2 = {
      listeners = ( { address = 127.0.0.1:0 } { address = 127.0.0.1:${tls2} sslEnable = yes ${ssl} } )
      UrlRedirect = { address = 127.0.0.1:${tls2} auto = yes }
      minConnThreads = 1 maxConnThreads = 1
    }
    testHttp3 = {
      listeners = (
        { address = 127.0.0.1:0 denyRules = ( { ipSet = 127.0.0.0/8 } ) }
        { address = 127.0.0.3:0 peerMaxConnections = 1 }
      )
      minConnThreads = 1 maxConnThreads = 1
    }`, dir);
});
after(async () => server?.stop());

test('UrlRedirect unset, a TLS listener defined: a plain page links to it; over TLS there is no link', async () => {
  const plain = await curl([`http://127.0.0.1:${server.port('testHttp')}/`]);
  assert.equal(plain.out, `home secure: https://127.0.0.1:${tls1}/\n`);
  const secure = await curl(['-k', `https://127.0.0.1:${tls1}/`]);
  assert.deepEqual(secure.statuses, [200]);
  assert.equal(secure.out, 'home secure: none\n');
  // the Host name is the link's host (when it is a host name), never text echoed as is
  const named = await curl(['-H', 'Host: mail.example.org:8080', `http://127.0.0.1:${server.port('testHttp')}/`]);
  assert.equal(named.out, `home secure: https://mail.example.org:${tls1}/\n`);
  const odd = await curl(['-H', 'Host: evil"<x>', `http://127.0.0.1:${server.port('testHttp')}/`]);
  assert.equal(odd.out, `home secure: https://127.0.0.1:${tls1}/\n`);
});

test('UrlRedirect auto yes: a plain GET / answers 301 to the TLS listener, which curl follows; other pages are not redirected', async () => {
  const r = await curl(['-k', '-L', `http://127.0.0.1:${server.port('testHttp2')}/`]);
  assert.deepEqual(r.statuses, [301, 200]);
  assert.deepEqual(headers(r, 'location'), [`https://127.0.0.1:${tls2}/`]);
  assert.equal(r.out, 'home secure: none\n');
  const page = await curl([`http://127.0.0.1:${server.port('testHttp2')}/page?size=2`]);
  assert.deepEqual(page.statuses, [200]);
});

test('a deny rule: a short 403 with Connection: close, before any HTTP parsing', async () => {
  const r = await curl(['-i', `http://127.0.0.1:${server.port('testHttp3', 0)}/`]);
  assert.deepEqual(r.statuses, [403], r.trace);
  assert.equal(headers(r, 'connection')[0]?.toLowerCase(), 'close');
  assert.match(r.out, /403 Forbidden \(deny_rule\)/);
  // bytes that are not HTTP at all get the same answer: they are never parsed
  const raw = net.connect(server.port('testHttp3', 0), '127.0.0.1');
  raw.on('error', () => {});
  let got = '';
  raw.on('data', (d: Buffer) => (got += d.toString()));
  raw.write('\x16\x03\x01 not http at all\r\n\r\n');
  await new Promise((r) => raw.once('close', r));
  assert.match(got, /^HTTP\/1\.1 403 Forbidden\r\nConnection: close\r\n/);
});

test('a full window (peerMaxConnections): a short 503 with Connection: close; the held connection is still served', async () => {
  const port = server.port('testHttp3', 1);
  const held = net.connect(port, '127.0.0.3');
  let heldGot = '';
  held.on('data', (d: Buffer) => (heldGot += d.toString()));
  await new Promise((r) => held.once('connect', r));
  await waitFor(() => (server.status().services.find((s) => s.name === 'testHttp3')!.listeners[1]!.open ?? 0) >= 1, 10_000, 'the first connection admitted');
  const r = await curl([`http://127.0.0.3:${port}/`]);
  assert.deepEqual(r.statuses, [503], r.trace);
  assert.match(r.out, /503 Service Unavailable \(peer_window\)/);
  held.write('GET /page?size=4 HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => heldGot.endsWith('xxxx'), 10_000, 'the held connection answered');
  held.destroy();
});
