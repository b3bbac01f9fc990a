/**
 * test/smtpOutgoing/engine.test.ts: smtpOutgoing's delivery engine (src/protocols/smtpOutgoing/
 * engine.ts) against real components: a dnsmasq name server (test/dns-server.ts) serving MX and
 * A records for test domains whose hosts are Python aiosmtpd receivers on 127.0.0.x
 * (receiver.py), looked up through the server's resolver (net/dnr.ts). MX preference and fallback, A when no MX, null MX,
 * a loop back to our own listener, a refusing receiver (5xx → failed), a deferring one (4xx →
 * temp, then delivered), a drop mid-DATA (temp, then delivered exactly once), requireTLS with a
 * receiver without STARTTLS (deferred, nothing sent), REQUIRETLS (5.7.30), connection reuse, the
 * per-domain connection limit, maxMessagesPerConnection, a smart host with AUTH over STARTTLS,
 * enableIPv6 (an AAAA-only MX on ::1), heloName, a host that never answers (rwTimeout), a host
 * whose accept queue is full, so the TCP handshake never completes (connectTimeout).
 */
import { test, before, after } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { startDnsServer, type DnsServer } from '../dns-server.ts';
import { freePort, fullAcceptQueue } from '../helpers.ts';
import { Engine, type Job } from '../../src/protocols/smtpOutgoing/engine.ts';
import { routeFor } from '../../src/protocols/smtpOutgoing/route.ts';
import { createDnr } from '../../src/net/dnr.ts';
import { defaultDnrOptions } from '../../src/config/resolve.ts';
import type { SmtpOutgoingOptions } from '../../src/config/options.ts';
import type { RcptOutcome } from '../../src/store/relay-types.ts';
import { envelope, message, outOptions, selfSigned, silentLog, smartRoute, startReceiver, type Receiver, type ReceiverConfig } from './helpers.ts';

let dns: DnsServer;
let port: number;
const rx: Record<string, Receiver> = {};

const RECEIVERS: Record<string, Omit<ReceiverConfig, 'port'>> = {
  a: { host: '127.0.0.21' },
  b: { host: '127.0.0.22' },
  c: { host: '127.0.0.24' },
  refuse: { host: '127.0.0.25', reject: ['nobody@refuse.test'] },
  defer: { host: '127.0.0.26', defer: ['later@defer.test'], deferTimes: 1 },
  smart: { host: '127.0.0.27', ...selfSigned(), auth: { relayuser: 'relaypass' } },
  notls: { host: '127.0.0.29' },
  reuse: { host: '127.0.0.30' },
  limit: { host: '127.0.0.31', dataDelay: 0.2 },
  v6: { host: '::1' },
  drop: { host: '127.0.0.32', dropData: 1 },
};

before(async () => {
  port = await freePort();
  dns = await startDnsServer({
    a: {
      'mx1.pref.test': ['127.0.0.21'], 'mx2.pref.test': ['127.0.0.22'], 'dead.fb.test': ['127.0.0.23'], 'amx.test': ['127.0.0.24'],
      'mx.refuse.test': ['127.0.0.25'], 'mx.defer.test': ['127.0.0.26'], 'mx.loop.test': ['127.0.0.28'], 'mx.notls.test': ['127.0.0.29'],
      'mx.reuse.test': ['127.0.0.30'], 'mx.limit.test': ['127.0.0.31'], 'mx.drop.test': ['127.0.0.32'], 'mx.mute.test': ['127.0.0.33'], 'mx.slow.test': ['127.0.0.34'],
    },
    aaaa: { 'mx.six.test': ['::1'] },
    mx: {
      'pref.test': [{ exchange: 'mx2.pref.test', priority: 20 }, { exchange: 'mx1.pref.test', priority: 10 }],
      'fb.test': [{ exchange: 'dead.fb.test', priority: 10 }, { exchange: 'mx2.pref.test', priority: 20 }],
      'refuse.test': [{ exchange: 'mx.refuse.test', priority: 10 }],
      'defer.test': [{ exchange: 'mx.defer.test', priority: 10 }],
      'loop.test': [{ exchange: 'mx.loop.test', priority: 10 }],
      'notls.test': [{ exchange: 'mx.notls.test', priority: 10 }],
      'reuse.test': [{ exchange: 'mx.reuse.test', priority: 10 }],
      'limit.test': [{ exchange: 'mx.limit.test', priority: 10 }],
      'drop.test': [{ exchange: 'mx.drop.test', priority: 10 }],
      'six.test': [{ exchange: 'mx.six.test', priority: 10 }],
      'mute.test': [{ exchange: 'mx.mute.test', priority: 10 }],
      'slow.test': [{ exchange: 'mx.slow.test', priority: 10 }],
    },
    nullMx: ['null.test'],
  }, { host: '127.0.0.63' });
  await Promise.all(Object.entries(RECEIVERS).map(async ([k, c]) => { rx[k] = await startReceiver({ ...c, port }); }));
});

after(async () => {
  await Promise.all(Object.values(rx).map((r) => r.stop()));
  await dns?.stop();
});

function engine(o: Partial<SmtpOutgoingOptions> = {}): Engine {
  return new Engine({ dnr: createDnr({ ...defaultDnrOptions(), nameServers: [{ address: dns.server, priority: 0 }] }), opts: outOptions({ mxPort: port, ...o }), sts: null, ca: null, log: silentLog });
}

/** Send one message to `to` (one destination); resolves with the outcomes. */
function send(e: Engine, from: string, to: string[], subject: string, o: { requireTls?: boolean; routes?: SmtpOutgoingOptions['routes'] } = {}): Promise<RcptOutcome[]> {
  const env = envelope(from, to, o.requireTls === true ? { requireTls: true } : {});
  return new Promise((resolve) => {
    const job: Job = {
      id: `q${subject.replace(/\W/g, '')}`, env, body: message(subject), rcpts: to.map((t, index) => ({ index, to: t })),
      dest: routeFor(o.routes ?? [], from, to[0]!), requireTls: o.requireTls === true, done: resolve,
    };
    e.submit(job);
  });
}

test('MX: the lowest preference first; an unreachable MX falls back to the next; no MX: the A record', async () => {
  const e = engine();
  const [p] = await send(e, 'a@src.test', ['u@pref.test'], 'pref one');
  assert.equal(p!.status, 'delivered', p!.why);
  assert.equal(p!.remoteMta, 'dns; mx1.pref.test');
  await rx.a!.waitMessages(1);
  const [f] = await send(e, 'a@src.test', ['u@fb.test'], 'fallback');
  assert.equal(f!.status, 'delivered', f!.why);
  assert.equal(f!.remoteMta, 'dns; mx2.pref.test');
  await rx.b!.waitMessages(1);
  assert.ok(rx.b!.messages.some((m) => m.to.includes('u@fb.test')));
  const [a] = await send(e, 'a@src.test', ['u@amx.test'], 'implicit');
  assert.equal(a!.status, 'delivered', a!.why);
  await rx.c!.waitMessages(1);
  const got = rx.c!.messages[0]!;
  assert.deepEqual(got.to, ['u@amx.test']);
  assert.equal(got.from, 'a@src.test');
  assert.match(got.data, /^Received: from client\.test \(\[192\.0\.2\.1\]\)\r\n\tby out\.postern\.test \(Postern\) with ESMTP id qimplicit\r\n\tfor <u@amx\.test>; /);
  assert.match(got.data, /Subject: implicit/);
  assert.equal(got.helo, 'out.postern.test'); // heloName
});

test('a null MX fails at once with 5.1.10; an MX pointing back at our listener is a loop (5.4.6); no such domain: 5.1.2', async () => {
  const e = engine({ localSmtp: [`127.0.0.28:${port}`] });
  const [n] = await send(e, 'a@src.test', ['u@null.test'], 'nullmx');
  assert.equal(n!.status, 'failed');
  assert.equal(n!.status3464, '5.1.10');
  const [l] = await send(e, 'a@src.test', ['u@loop.test'], 'loop');
  assert.equal(l!.status, 'failed');
  assert.equal(l!.status3464, '5.4.6');
  const [x] = await send(e, 'a@src.test', ['u@nowhere.test'], 'nowhere');
  assert.equal(x!.status, 'failed');
  assert.equal(x!.status3464, '5.1.2');
});

test('a refusing receiver: 5xx → failed with its reply; others of the same message still delivered', async () => {
  const e = engine();
  const out = await send(e, 'a@src.test', ['nobody@refuse.test', 'ok@refuse.test'], 'refused');
  assert.equal(out[0]!.status, 'failed');
  assert.equal(out[0]!.status3464, '5.1.1');
  assert.match(out[0]!.why, /^550 5\.1\.1 no such user here/);
  assert.equal(out[1]!.status, 'delivered', out[1]!.why);
  await rx.refuse!.waitMessages(1);
  assert.deepEqual(rx.refuse!.messages.map((m) => m.to), [['ok@refuse.test']]);
});

test('a deferring receiver: 4xx → temp; the next attempt is delivered', async () => {
  const e = engine();
  const [t] = await send(e, 'a@src.test', ['later@defer.test'], 'deferred');
  assert.equal(t!.status, 'temp');
  assert.equal(t!.status3464, '4.3.0');
  assert.equal(rx.defer!.messages.length, 0);
  const [d] = await send(e, 'a@src.test', ['later@defer.test'], 'deferred');
  assert.equal(d!.status, 'delivered', d!.why);
  await rx.defer!.waitMessages(1);
  assert.equal(rx.defer!.messages.length, 1);
});

test('a connection dropped mid-DATA: temp; tried again, delivered exactly once', async () => {
  const e = engine();
  const [t] = await send(e, 'a@src.test', ['u@drop.test'], 'dropped');
  assert.equal(t!.status, 'temp', t!.why);
  const [d] = await send(e, 'a@src.test', ['u@drop.test'], 'dropped');
  assert.equal(d!.status, 'delivered', d!.why);
  await rx.drop!.waitMessages(1);
  assert.equal(rx.drop!.messages.length, 1);
});

test('requireTLS route, receiver without STARTTLS: deferred (4.7.10), nothing sent in clear; REQUIRETLS message: 5.7.30', async () => {
  const routes = [{ rcptDomain: 'notls.test', sender: '', smartHost: null, requireTLS: true }];
  const e = engine({ routes });
  const [t] = await send(e, 'a@src.test', ['u@notls.test'], 'needs tls', { routes });
  assert.equal(t!.status, 'temp', t!.why);
  assert.equal(t!.status3464, '4.7.10');
  const [r] = await send(e, 'a@src.test', ['v@notls.test'], 'requiretls', { requireTls: true });
  assert.equal(r!.status, 'failed', r!.why);
  assert.equal(r!.status3464, '5.7.30');
  assert.equal(rx.notls!.messages.length, 0);
});

test('one connection carries several messages to the same destination', async () => {
  const e = engine({ maxConnectionsPerDomain: 1 });
  const outs = await Promise.all([1, 2, 3, 4, 5].map((i) => send(e, 'a@src.test', [`u${i}@reuse.test`], `reuse ${i}`)));
  for (const [o] of outs) assert.equal(o!.status, 'delivered', o!.why);
  await rx.reuse!.waitMessages(5);
  assert.equal(rx.reuse!.conns(), 1);
  assert.equal(e.counts.connections, 1);
});

test('maxConnectionsPerDomain bounds the connections open to one destination', async () => {
  const e = engine({ maxConnectionsPerDomain: 2 });
  const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => send(e, 'a@src.test', [`u${i}@limit.test`], `limit ${i}`)));
  for (const [o] of outs) assert.equal(o!.status, 'delivered', o!.why);
  await rx.limit!.waitMessages(8);
  assert.equal(rx.limit!.maxOpen(), 2);
  assert.equal(rx.limit!.conns(), 2);
});

test('smart host with AUTH over STARTTLS (routing by sender domain); a wrong password defers', async () => {
  const good = [smartRoute({ sender: '@src.test', host: '127.0.0.27', port, user: 'relayuser', pass: 'relaypass' })];
  const e = engine({ routes: good });
  const [o] = await send(e, 'a@src.test', ['x@anywhere.test'], 'smart', { routes: good });
  assert.equal(o!.status, 'delivered', o!.why);
  await rx.smart!.waitMessages(1);
  const m = rx.smart!.messages[0]!;
  assert.equal(m.auth, true);
  assert.equal(m.tls, true);
  const bad = [smartRoute({ sender: '@src.test', host: '127.0.0.27', port, user: 'relayuser', pass: 'wrong' })];
  const [b] = await send(engine({ routes: bad }), 'a@src.test', ['x@anywhere.test'], 'smart bad', { routes: bad });
  assert.equal(b!.status, 'temp', b!.why);
  assert.equal(rx.smart!.messages.length, 1);
});

test('maxMessagesPerConnection: a connection carries at most that many messages, then a new one is opened', async () => {
  const e = engine({ maxConnectionsPerDomain: 1, maxMessagesPerConnection: 2 });
  const conns = rx.reuse!.conns();
  const got = rx.reuse!.messages.length;
  const outs = await Promise.all([1, 2, 3, 4, 5].map((i) => send(e, 'a@src.test', [`m${i}@reuse.test`], `per conn ${i}`)));
  for (const [o] of outs) assert.equal(o!.status, 'delivered', o!.why);
  await rx.reuse!.waitMessages(got + 5);
  assert.equal(rx.reuse!.conns() - conns, 3);
});

test('enableIPv6: AAAA hosts are used only when it is on', async () => {
  const [off] = await send(engine(), 'a@src.test', ['u@six.test'], 'v6 off');
  assert.equal(off!.status, 'failed');
  assert.equal(off!.status3464, '5.1.2');
  const [on] = await send(engine({ enableIPv6: true }), 'a@src.test', ['u@six.test'], 'v6 on');
  assert.equal(on!.status, 'delivered', on!.why);
  await rx.v6!.waitMessages(1);
});

test('a host that accepts the connection and never answers costs rwTimeout, then a temporary failure', async () => {
  const held: net.Socket[] = [];
  const mute = net.createServer((sock) => { held.push(sock); }); // accepts, says nothing
  await new Promise<void>((r) => mute.listen(port, '127.0.0.33', r));
  try {
    const [o] = await send(engine({ rwTimeoutMs: 500 }), 'a@src.test', ['u@mute.test'], 'mute');
    assert.equal(o!.status, 'temp', o!.why);
    assert.equal(o!.status3464, '4.4.1');
  } finally {
    for (const sock of held) sock.destroy();
    await new Promise((r) => mute.close(r));
  }
});

test('a host whose accept queue is full never completes the TCP handshake: connectTimeout, then a temporary failure', { timeout: 20_000 }, async () => {
  // connect and rw timeouts of 60 s would outlast this test's 20 s
  const blackhole = await fullAcceptQueue('127.0.0.34', port);
  try {
    const [o] = await send(engine({ connectTimeoutMs: 500, rwTimeoutMs: 60_000 }), 'a@src.test', ['u@slow.test'], 'slow');
    assert.equal(o!.status, 'temp', o!.why);
    assert.match(o!.why, /time|connect/i);
  } finally {
    blackhole.close();
  }
});

test('after a refused transaction the same connection carries the next message (RSET)', async () => {
  const e = engine({ maxConnectionsPerDomain: 1 });
  const conns = rx.refuse!.conns();
  const got = rx.refuse!.messages.length;
  const [[a], [b]] = await Promise.all([send(e, 'a@src.test', ['nobody@refuse.test'], 'all refused'), send(e, 'a@src.test', ['ok2@refuse.test'], 'after rset')]);
  assert.equal(a!.status, 'failed', a!.why);
  assert.equal(b!.status, 'delivered', b!.why);
  await rx.refuse!.waitMessages(got + 1);
  assert.equal(rx.refuse!.conns() - conns, 1);
});
