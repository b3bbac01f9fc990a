/**
 * test/smtpOutgoing/mta-sts.test.ts: MTA-STS (RFC 8461) and the pure pieces of routing.
 * Real components: dnsmasq serves `_mta-sts.<domain>` TXT and the MX records; a loopback HTTPS
 * server (certificate from a test CA, names `mta-sts.<domain>`) serves the policies, reached
 * through the `mtaStsPolicyAddress` hook; aiosmtpd receivers offer STARTTLS with a certificate
 * from the test CA (valid) or a self-signed one for another name (invalid). Enforce + valid
 * certificate: delivered over TLS; enforce + bad certificate: deferred, nothing sent (not even
 * in clear); an MX the policy does not list: deferred; the policy is cached by its id.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { startDnsServer, type DnsServer } from '../dns-server.ts';
import { freePort, tmpDir } from '../helpers.ts';
import { Engine } from '../../src/protocols/smtpOutgoing/engine.ts';
import { MtaSts, parsePolicy } from '../../src/protocols/smtpOutgoing/mta-sts.ts';
import { domainMatches, routeFor, senderMatches } from '../../src/protocols/smtpOutgoing/route.ts';
import { statusOf } from '../../src/protocols/smtpOutgoing/deliver.ts';
import { shuffleEqual } from '../../src/protocols/smtpOutgoing/mx.ts';
import { createDnr } from '../../src/net/dnr.ts';
import { defaultDnrOptions } from '../../src/config/resolve.ts';
import type { Dnr } from '../../src/net/dnr-types.ts';
import type { RcptOutcome } from '../../src/store/relay-types.ts';
import { envelope, message, outOptions, selfSigned, silentLog, startReceiver, type Receiver } from './helpers.ts';

let dns: DnsServer;
let port: number;
let policyServer: https.Server;
let policyAddress: string;
let ca: string;
let policyFetches = 0;
const rx: Record<string, Receiver> = {};

function testCa(): { ca: string; cert: string; key: string } {
  const dir = tmpDir('postern-sts-ca-');
  const f = (n: string): string => path.join(dir, n);
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=Postern Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=mx.sts.test']);
  fs.writeFileSync(f('ext'), 'subjectAltName=DNS:mx.sts.test,DNS:mta-sts.sts.test,DNS:mta-sts.bad.test,DNS:mta-sts.other.test\n');
  run(['x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('srv.pem'), '-days', '2', '-extfile', f('ext')]);
  return { ca: fs.readFileSync(f('ca.pem'), 'utf8'), cert: f('srv.pem'), key: f('srv.key') };
}

const POLICIES: Record<string, string> = {
  'mta-sts.sts.test': 'version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n',
  'mta-sts.bad.test': 'version: STSv1\r\nmode: enforce\r\nmx: *.bad.test\r\nmax_age: 86400\r\n',
  'mta-sts.other.test': 'version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n',
};

before(async () => {
  port = await freePort();
  const c = testCa();
  ca = c.ca;
  policyServer = https.createServer({ cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) }, (req, res) => {
    policyFetches++;
    const p = POLICIES[(req.headers.host ?? '').toLowerCase()];
    if (req.url !== '/.well-known/mta-sts.txt' || p === undefined) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(p);
  });
  await new Promise<void>((r) => policyServer.listen(0, '127.0.0.50', r));
  policyAddress = `127.0.0.50:${(policyServer.address() as AddressInfo).port}`;
  dns = await startDnsServer({
    a: { 'mx.sts.test': ['127.0.0.51'], 'mx.bad.test': ['127.0.0.52'], 'mx.other.test': ['127.0.0.53'] },
    mx: {
      'sts.test': [{ exchange: 'mx.sts.test', priority: 10 }],
      'bad.test': [{ exchange: 'mx.bad.test', priority: 10 }],
      'other.test': [{ exchange: 'mx.other.test', priority: 10 }],
    },
    txt: { '_mta-sts.sts.test': ['v=STSv1; id=20261206a;'], '_mta-sts.bad.test': ['v=STSv1; id=1;'], '_mta-sts.other.test': ['v=STSv1; id=1;'] },
  }, { host: '127.0.0.65' });
  const bad = selfSigned();
  const [good, badRx, other] = await Promise.all([
    startReceiver({ host: '127.0.0.51', port, cert: c.cert, key: c.key }),
    startReceiver({ host: '127.0.0.52', port, cert: bad.cert, key: bad.key }),
    startReceiver({ host: '127.0.0.53', port, cert: c.cert, key: c.key }),
  ]);
  Object.assign(rx, { good, bad: badRx, other });
});

after(async () => {
  await Promise.all(Object.values(rx).map((r) => r.stop()));
  await dns?.stop();
  await new Promise((r) => policyServer?.close(r));
});

function setup(): { e: Engine; dnr: Dnr; sts: MtaSts } {
  const dnr = createDnr({ ...defaultDnrOptions(), nameServers: [{ address: dns.server, priority: 0 }] });
  const sts = new MtaSts(dnr, { policyAddress, ca, timeoutMs: 5000 });
  return { e: new Engine({ dnr, opts: outOptions({ mxPort: port, mtaSts: true }), sts, ca, log: silentLog }), dnr, sts };
}

function send(e: Engine, to: string): Promise<RcptOutcome[]> {
  return new Promise((done) => e.submit({ id: 'qsts', env: envelope('a@src.test', [to]), body: message(`sts ${to}`), rcpts: [{ index: 0, to }], dest: routeFor([], 'a@src.test', to), requireTls: false, done }));
}

test('MTA-STS enforce: a listed MX with a valid certificate gets the mail over TLS; the policy is fetched once (cached by id)', async () => {
  const { e, sts } = setup();
  const [o] = await send(e, 'u@sts.test');
  assert.equal(o!.status, 'delivered', o!.why);
  await rx.good!.waitMessages(1);
  assert.equal(rx.good!.messages[0]!.tls, true);
  const before = policyFetches;
  const p = await sts.policy('sts.test');
  assert.equal(p?.mode, 'enforce');
  assert.deepEqual(p?.mx, ['mx.sts.test']);
  assert.equal(policyFetches, before);
});

test('MTA-STS enforce with a bad certificate: deferred, nothing sent, not even in clear', async () => {
  const { e } = setup();
  const [o] = await send(e, 'u@bad.test');
  assert.equal(o!.status, 'temp', o!.why);
  assert.match(o!.status3464 ?? '', /^4\.7\./);
  assert.equal(rx.bad!.messages.length, 0);
  // the policy made the difference: with mtaSts = no the same host gets it (opportunistic TLS)
  const plain = new Engine({ dnr: setup().dnr, opts: outOptions({ mxPort: port }), sts: null, ca: null, log: silentLog });
  const [p] = await send(plain, 'u@bad.test');
  assert.equal(p!.status, 'delivered', p!.why);
  await rx.bad!.waitMessages(1);
});

test('MTA-STS enforce: an MX the policy does not list is not used (deferred)', async () => {
  const { e } = setup();
  const [o] = await send(e, 'u@other.test');
  assert.equal(o!.status, 'temp', o!.why);
  assert.equal(o!.status3464, '4.7.5');
  assert.equal(rx.other!.conns(), 0);
});

test('policy files: parsed by RFC 8461 §3.2; invalid ones refused; wildcard MX patterns match one label', () => {
  assert.deepEqual(parsePolicy('version: STSv1\nmode: testing\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n'), { mode: 'testing', mx: ['mail.example.com', '*.example.net'], maxAgeS: 604800 });
  assert.equal(parsePolicy('version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n'), null);
  assert.equal(parsePolicy('version: STSv1\nmode: enforce\nmax_age: 1\n'), null);
  assert.equal(parsePolicy('version: STSv1\nmode: sometimes\nmx: a\nmax_age: 1\n'), null);
  assert.equal(parsePolicy('version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n')?.maxAgeS, 31_557_600);
  const p = { id: '1', mode: 'enforce' as const, mx: ['*.example.net', 'mail.example.com'], maxAgeS: 1, expires: 0 };
  assert.equal(MtaSts.mxAllowed(p, 'mx1.example.net'), true);
  assert.equal(MtaSts.mxAllowed(p, 'a.mx1.example.net'), false);
  assert.equal(MtaSts.mxAllowed(p, 'example.net'), false);
  assert.equal(MtaSts.mxAllowed(p, 'MAIL.example.com.'), true);
});

test('routes: first match wins by recipient domain and sender; patterns; the default is MX', () => {
  assert.equal(domainMatches('*.example.com', 'a.example.com'), true);
  assert.equal(domainMatches('*.example.com', 'example.com'), false);
  assert.equal(domainMatches('example.com', 'EXAMPLE.com'), true);
  assert.equal(senderMatches('@example.com', 'Bob@Example.com'), true);
  assert.equal(senderMatches('@example.com', ''), false);
  assert.equal(senderMatches('bob@example.com', 'alice@example.com'), false);
  const smart = (host: string) => ({ host, port: 587, ssl: false, startTls: 'yes' as const, authUser: null, authPassword: null, authMethod: 'PLAIN' as const });
  const routes = [
    { rcptDomain: '*.corp.test', sender: '', smartHost: smart('hub.corp.test'), requireTLS: false },
    { rcptDomain: '', sender: '@bulk.test', smartHost: smart('relay.bulk.test'), requireTLS: false },
    { rcptDomain: 'secure.test', sender: '', smartHost: null, requireTLS: true },
  ];
  assert.equal(routeFor(routes, 'a@x.test', 'u@eu.corp.test').smartHost?.host, 'hub.corp.test');
  assert.equal(routeFor(routes, 'a@bulk.test', 'u@eu.corp.test').smartHost?.host, 'hub.corp.test');
  assert.equal(routeFor(routes, 'a@bulk.test', 'u@else.test').smartHost?.host, 'relay.bulk.test');
  const s = routeFor(routes, 'a@x.test', 'u@secure.test');
  assert.equal(s.smartHost, null);
  assert.equal(s.requireTLS, true);
  assert.equal(s.key, 'mx:secure.test:tls');
  assert.equal(routeFor(routes, 'a@x.test', 'u@plain.test').key, 'mx:plain.test');
  assert.equal(statusOf('550 5.1.1 no'), '5.1.1');
  assert.equal(statusOf('452 too many'), '4.0.0');
  const order = shuffleEqual([{ exchange: 'c', priority: 20 }, { exchange: 'a', priority: 10 }, { exchange: 'b', priority: 10 }], () => 0.5);
  assert.deepEqual(order.map((r) => r.priority), [10, 10, 20]);
});
