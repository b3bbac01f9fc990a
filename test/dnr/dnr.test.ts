/**
 * test/dnr/dnr.test.ts: net/dnr.ts against real DNS servers on loopback (dnsmasq, via
 * test/dns-server.ts): every query type and `resolver()`'s dns.promises shapes, null MX,
 * NXDOMAIN/NODATA, bad names, name-server priority order and failover (dead, SERVFAIL, silent),
 * `timeout` and `retries` (DNR_TEMP within the bound), the cache (TTL, maxCacheTtl,
 * negativeCacheTtl, cacheSize, flush), all with a test clock for expiry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createDnr, reverseName } from '../../src/net/dnr.ts';
import { defaultDnrOptions } from '../../src/config/resolve.ts';
import type { DnrOptions } from '../../src/config/options.ts';
import { isPosternError } from '../../src/errors.ts';
import { startDnsServer, startSilentDnsServer, startFailingDnsServer, deadDnsServer, type DnsServer, type DnsRecords } from '../dns-server.ts';

const LONG_DKIM = 'v=DKIM1; k=rsa; p=' + 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'.repeat(9);
/** 12 × 200 bytes: more than a UDP answer may carry (dnsmasq's EDNS limit is 1232 bytes). */
const BIG_TXT = Array.from({ length: 12 }, (_, i) => `${String(i).padStart(2, '0')}${'t'.repeat(198)}`);
const RECORDS: DnsRecords = {
  a: { 'mx1.example.test': ['127.0.0.31', '127.0.0.32'], 'example.test': ['127.0.0.30'] },
  aaaa: { 'mx1.example.test': ['::1'] },
  mx: { 'example.test': [{ exchange: 'MX2.Example.Test', priority: 20 }, { exchange: 'mx1.example.test', priority: 10 }] },
  nullMx: ['nomail.example.test'],
  txt: { 'big.example.test': BIG_TXT, 'example.test': ['v=spf1 ip4:127.0.0.0/8 -all'], 'sel._domainkey.example.test': [LONG_DKIM], '_dmarc.example.test': ['v=DMARC1; p=reject'] },
  ptr: { '127.0.0.99': 'ptr.example.test', '::2': 'six.example.test' },
};

let dns1: DnsServer;
before(async () => {
  dns1 = await startDnsServer(RECORDS, { host: '127.0.0.61' });
});
after(async () => dns1?.stop());

function opts(o: Partial<DnrOptions> & { servers?: string[] } = {}): DnrOptions {
  const { servers, ...rest } = o;
  return { ...defaultDnrOptions(), nameServers: (servers ?? [dns1.server]).map((address, i) => ({ address, priority: i })), timeoutMs: 3000, ...rest };
}
const code = (c: string) => (e: unknown) => isPosternError(e, c as 'DNR_TEMP');
const nodeCode = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('every query type, the typed methods and resolver() shapes', async () => {
  const d = createDnr(opts());
  assert.deepEqual((await d.a('mx1.example.test')).sort(), ['127.0.0.31', '127.0.0.32']);
  assert.deepEqual(await d.a('MX1.Example.TEST.'), (await d.a('mx1.example.test')), 'case and a trailing dot do not matter');
  assert.deepEqual(await d.aaaa('mx1.example.test'), ['::1']);
  assert.deepEqual(await d.mx('example.test'), [{ exchange: 'mx1.example.test', priority: 10 }, { exchange: 'mx2.example.test', priority: 20 }]);
  assert.deepEqual(await d.mx('nomail.example.test'), [{ exchange: '', priority: 0 }], 'null MX (RFC 7505)');
  assert.deepEqual(await d.txt('example.test'), ['v=spf1 ip4:127.0.0.0/8 -all']);
  assert.deepEqual(await d.txt('sel._domainkey.example.test'), [LONG_DKIM], 'chunks joined');
  assert.deepEqual(await d.ptr('127.0.0.99'), ['ptr.example.test']);
  assert.deepEqual(await d.ptr('127.0.0.31'), ['mx1.example.test']);
  assert.deepEqual(await d.ptr('::2'), ['six.example.test']);
  // NXDOMAIN and NODATA are answers
  assert.deepEqual(await d.a('nothing.example.test'), []);
  assert.deepEqual(await d.mx('mx1.example.test'), []);
  assert.deepEqual(await d.txt('nothing.example.test'), []);
  // the seed's QUERY lines
  assert.deepEqual(await d.query('MX', 'example.test'), ['10 mx1.example.test', '20 mx2.example.test']);
  assert.deepEqual(await d.query('MX', 'nomail.example.test'), ['0 .']);
  assert.deepEqual(await d.query('TXT', '_dmarc.example.test'), ['"v=DMARC1; p=reject"']);
  assert.deepEqual(await d.query('PTR', '127.0.0.99'), ['ptr.example.test']);
  assert.deepEqual(await d.query('A', 'example.test'), ['127.0.0.30']);
  // dns.promises.resolve's shapes, for mailauth
  const r = d.resolver();
  assert.deepEqual(await r('example.test', 'A'), ['127.0.0.30']);
  const mx = (await r('example.test', 'MX')) as Array<{ exchange: string; priority: number }>;
  assert.deepEqual(mx.map((m) => [m.exchange.toLowerCase(), m.priority]).sort(), [['mx1.example.test', 10], ['mx2.example.test', 20]]);
  const txt = (await r('sel._domainkey.example.test', 'TXT')) as string[][];
  assert.equal(txt.length, 1);
  assert.ok(txt[0]!.length >= 2, 'TXT as string[][] with its chunks');
  assert.equal(txt[0]!.join(''), LONG_DKIM);
  assert.deepEqual(await r(reverseName('127.0.0.99'), 'PTR'), ['ptr.example.test']);
  await assert.rejects(r('nothing.example.test', 'TXT'), nodeCode('ENOTFOUND'));
  await assert.rejects(r('mx1.example.test', 'TXT'), nodeCode('ENODATA'));
  await assert.rejects(r('bad..name', 'TXT'), nodeCode('EBADNAME'));
});

test('an answer too big for UDP comes whole (truncated over UDP, asked again over TCP)', async () => {
  const d = createDnr(opts());
  assert.deepEqual((await d.txt('big.example.test')).sort(), BIG_TXT);
});

test('bad names reject with DNR_BAD_NAME', async () => {
  const d = createDnr(opts());
  for (const n of ['', '.', 'a..b', 'has space.test', `${'x'.repeat(64)}.test`, `${'abcdefghi.'.repeat(26)}test`, 'semi;colon.test']) {
    await assert.rejects(d.a(n), code('DNR_BAD_NAME'), JSON.stringify(n));
  }
  await assert.rejects(d.ptr('not-an-ip'), code('DNR_BAD_NAME'));
  await assert.rejects(d.query('SOA' as 'A', 'example.test'), code('DNR_BAD_NAME'));
  assert.equal(reverseName('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  assert.equal(reverseName('::ffff:10.0.0.1'), '1.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa');
});

test('name servers are asked lowest priority first; a dead or failing one hands over to the next', async () => {
  const other = await startDnsServer({ a: { 'example.test': ['127.0.0.77'] } }, { host: '127.0.0.62' });
  const fail = await startFailingDnsServer(2, '127.0.0.63');
  try {
    // written in the other order: priority decides
    const d = createDnr({ ...opts(), nameServers: [{ address: other.server, priority: 20 }, { address: dns1.server, priority: 10 }] });
    assert.deepEqual(await d.a('example.test'), ['127.0.0.30']);
    const e = createDnr({ ...opts(), nameServers: [{ address: dns1.server, priority: 30 }, { address: other.server, priority: 5 }] });
    assert.deepEqual(await e.a('example.test'), ['127.0.0.77']);
    // first server dead (refused at once) → the next
    const dead = createDnr(opts({ servers: [await deadDnsServer('127.0.0.64'), dns1.server] }));
    assert.deepEqual(await dead.mx('nomail.example.test'), [{ exchange: '', priority: 0 }]);
    // first server SERVFAIL → the next
    const sf = createDnr(opts({ servers: [fail.server, other.server] }));
    assert.deepEqual(await sf.a('example.test'), ['127.0.0.77']);
    assert.ok(fail.queries() >= 1);
    // SERVFAIL from every server → DNR_TEMP, the cause kept; resolver() gives the c-ares code
    const only = createDnr(opts({ servers: [fail.server], retries: 1 }));
    await assert.rejects(only.txt('example.test'), (err: unknown) => isPosternError(err, 'DNR_TEMP') && err.details?.cause === 'ESERVFAIL');
    await assert.rejects(only.resolver()('example.test', 'TXT'), nodeCode('ESERVFAIL'));
  } finally {
    await other.stop();
    await fail.stop();
  }
});

test('a silent first server costs one query\'s share of the timeout, then the next answers', async () => {
  const silent = await startSilentDnsServer('127.0.0.65');
  try {
    const d = createDnr(opts({ servers: [silent.server, dns1.server], timeoutMs: 4000, retries: 1 })); // one query waits ≤ 4 s / (2 rounds × 2 servers)
    const t0 = performance.now();
    assert.deepEqual(await d.a('example.test'), ['127.0.0.30']);
    assert.ok(performance.now() - t0 < 1000 + 1500, 'the silent server held the lookup about one query\'s wait');
    assert.equal(silent.queries(), 1);
  } finally {
    await silent.stop();
  }
});

test('timeout: no answer rejects DNR_TEMP within the bound; retries rounds are made', async () => {
  const silent = await startSilentDnsServer('127.0.0.66');
  try {
    const d = createDnr(opts({ servers: [silent.server], timeoutMs: 1500, retries: 2 }));
    const t0 = performance.now();
    await assert.rejects(d.a('example.test'), (e: unknown) => isPosternError(e, 'DNR_TEMP') && e.retryable && e.details?.cause === 'ETIMEOUT');
    const took = performance.now() - t0;
    assert.ok(took < 1500 + 1500, `rejected within the timeout (took ${Math.round(took)} ms)`);
    assert.equal(silent.queries(), 3, 'the first query and two retries');
    const none = createDnr(opts({ servers: [silent.server], timeoutMs: 1000, retries: 0 }));
    await assert.rejects(none.mx('example.test'), code('DNR_TEMP'));
    assert.equal(silent.queries(), 4, 'retries = 0: one query');
  } finally {
    await silent.stop();
  }
});

test('the cache honours the TTL, maxCacheTtl, negativeCacheTtl; flush empties it', async () => {
  const dns = await startDnsServer({ a: { 'h.test': ['127.0.0.1'] }, mx: { 'h.test': [{ exchange: 'm1.test', priority: 1 }] } }, { host: '127.0.0.67', ttl: 5 });
  try {
    let now = 0;
    const d = createDnr(opts({ servers: [dns.server], maxCacheTtlMs: 60_000, negativeCacheTtlMs: 2000 }), { clock: () => now });
    assert.deepEqual(await d.a('h.test'), ['127.0.0.1']);
    assert.deepEqual(await d.mx('h.test'), [{ exchange: 'm1.test', priority: 1 }]);
    assert.deepEqual(await d.a('new.test'), []);
    await dns.setRecords({ a: { 'h.test': ['127.0.0.2'], 'new.test': ['127.0.0.3'] }, mx: { 'h.test': [{ exchange: 'm2.test', priority: 1 }] } }, { ttl: 5 });
    now = 1900;
    assert.deepEqual(await d.a('h.test'), ['127.0.0.1'], 'cached (TTL 5 s)');
    assert.deepEqual(await d.a('new.test'), [], 'NXDOMAIN cached for negativeCacheTtl');
    now = 2100;
    assert.deepEqual(await d.a('new.test'), ['127.0.0.3'], 'negativeCacheTtl passed');
    now = 4900;
    assert.deepEqual(await d.a('h.test'), ['127.0.0.1']);
    now = 5100;
    assert.deepEqual(await d.a('h.test'), ['127.0.0.2'], 'the TTL passed');
    assert.deepEqual(await d.mx('h.test'), [{ exchange: 'm1.test', priority: 1 }], 'MX: no TTL from Node, kept maxCacheTtl');
    now = 60_100;
    assert.deepEqual(await d.mx('h.test'), [{ exchange: 'm2.test', priority: 1 }], 'maxCacheTtl passed');

    // maxCacheTtl caps a longer TTL
    await dns.setRecords({ a: { 'h.test': ['127.0.0.4'] } }, { ttl: 3600 });
    now = 0;
    const c = createDnr(opts({ servers: [dns.server], maxCacheTtlMs: 1000 }), { clock: () => now });
    assert.deepEqual(await c.a('h.test'), ['127.0.0.4']);
    await dns.setRecords({ a: { 'h.test': ['127.0.0.5'] } }, { ttl: 3600 });
    now = 900;
    assert.deepEqual(await c.a('h.test'), ['127.0.0.4']);
    now = 1100;
    assert.deepEqual(await c.a('h.test'), ['127.0.0.5'], 'TTL 3600 capped at maxCacheTtl 1 s');

    // flush: this instance and every other of the thread
    await dns.setRecords({ a: { 'h.test': ['127.0.0.6'] } }, { ttl: 3600 });
    assert.deepEqual(await c.a('h.test'), ['127.0.0.5']);
    const other = createDnr(opts({ servers: [dns.server] }), { clock: () => now });
    assert.deepEqual(await other.a('h.test'), ['127.0.0.6']);
    await dns.setRecords({ a: { 'h.test': ['127.0.0.7'] } }, { ttl: 3600 });
    assert.deepEqual(await other.a('h.test'), ['127.0.0.6']);
    other.flush();
    assert.deepEqual(await c.a('h.test'), ['127.0.0.7']);
    assert.deepEqual(await other.a('h.test'), ['127.0.0.7']);
  } finally {
    await dns.stop();
  }
});

test('cacheSize bounds the answers kept per query type (least recently used dropped); 0 keeps none', async () => {
  const names = ['n1.test', 'n2.test', 'n3.test'];
  const dns = await startDnsServer({ a: Object.fromEntries(names.map((n) => [n, ['127.0.1.1']])), txt: Object.fromEntries(names.map((n) => [n, ['old']])) }, { host: '127.0.0.68' });
  try {
    const d = createDnr(opts({ servers: [dns.server], cacheSize: 2 }));
    const zero = createDnr(opts({ servers: [dns.server], cacheSize: 0 }));
    for (const n of names) await d.a(n); // n1 dropped when n3 came
    await d.a('n2.test'); // n2 most recently used: n3 is next to go
    for (const n of names) await d.txt(n); // TXT has its own 2 slots
    assert.deepEqual(await zero.a('n1.test'), ['127.0.1.1']);
    await dns.setRecords({ a: Object.fromEntries(names.map((n) => [n, ['127.0.2.2']])), txt: Object.fromEntries(names.map((n) => [n, ['new']])) });
    assert.deepEqual(await zero.a('n1.test'), ['127.0.2.2'], 'cacheSize 0: nothing kept');
    assert.deepEqual(await d.a('n2.test'), ['127.0.1.1'], 'n2 kept');
    assert.deepEqual(await d.a('n3.test'), ['127.0.1.1'], 'n3 kept');
    assert.deepEqual(await d.a('n1.test'), ['127.0.2.2'], 'n1 was dropped: asked again');
    assert.deepEqual(await d.txt('n1.test'), ['new'], 'TXT n1 dropped');
    assert.deepEqual(await d.txt('n3.test'), ['old'], 'TXT n3 kept');
  } finally {
    await dns.stop();
  }
});

test('concurrent lookups of one name share one query', async () => {
  const silent = await startSilentDnsServer('127.0.0.69');
  try {
    const d = createDnr(opts({ servers: [silent.server, dns1.server], timeoutMs: 1000, retries: 0 })); // 500 ms each
    const all = await Promise.all(Array.from({ length: 20 }, () => d.a('example.test')));
    for (const a of all) assert.deepEqual(a, ['127.0.0.30']);
    assert.equal(silent.queries(), 1);
  } finally {
    await silent.stop();
  }
});
