/**
 * test/dnr/dns-server.test.ts: the dnsmasq fixture (test/dns-server.ts) serves what it is given,
 * asked with Node's own resolver: A (several), AAAA, MX, null MX, TXT (a long one in chunks),
 * PTR, NXDOMAIN/NODATA for other names, the TTL given, new records after
 * setRecords, and the silent and dead servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { startDnsServer, startSilentDnsServer, startFailingDnsServer, deadDnsServer } from '../dns-server.ts';

function resolverFor(server: string): dns.promises.Resolver {
  const r = new dns.promises.Resolver({ timeout: 500, tries: 1 });
  r.setServers([server]);
  return r;
}
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}

test('dnsmasq fixture serves the given records and nothing else', async () => {
  const long = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(400);
  const d = await startDnsServer({
    a: { 'mail.example.test': ['127.0.0.21', '127.0.0.22'] },
    aaaa: { 'mail.example.test': ['::1'] },
    mx: { 'example.test': [{ exchange: 'mail.example.test', priority: 10 }, { exchange: 'backup.example.test', priority: 20 }] },
    nullMx: ['nomail.test'],
    txt: { 'example.test': ['v=spf1 ip4:127.0.0.0/8 -all'], 'k._domainkey.example.test': [long] },
    ptr: { '127.0.0.99': 'ptr.example.test' },
  }, { ttl: 123 });
  try {
    const r = resolverFor(d.server);
    assert.deepEqual((await r.resolve4('mail.example.test')).sort(), ['127.0.0.21', '127.0.0.22']);
    assert.deepEqual((await r.resolve4('mail.example.test', { ttl: true })).map((x) => x.ttl), [123, 123]);
    assert.deepEqual(await r.resolve6('mail.example.test'), ['::1']);
    const mx = (await r.resolveMx('example.test')).map((m) => ({ exchange: m.exchange, priority: m.priority })).sort((x, y) => x.priority - y.priority);
    assert.deepEqual(mx, [{ exchange: 'mail.example.test', priority: 10 }, { exchange: 'backup.example.test', priority: 20 }]);
    assert.deepEqual((await r.resolveMx('nomail.test')).map((m) => [m.exchange, m.priority]), [['', 0]]);
    assert.deepEqual(await r.resolveTxt('example.test'), [['v=spf1 ip4:127.0.0.0/8 -all']]);
    const dkim = await r.resolveTxt('k._domainkey.example.test');
    assert.equal(dkim.length, 1);
    assert.equal(dkim[0]!.length, 2); // two chunks: 255 + the rest
    assert.equal(dkim[0]!.join(''), long);
    assert.deepEqual(await r.reverse('127.0.0.21'), ['mail.example.test']);
    assert.deepEqual(await r.reverse('127.0.0.99'), ['ptr.example.test']);
    assert.equal(await code(r.resolve4('nothing.example.test')), 'ENOTFOUND');
    assert.equal(await code(r.resolveMx('mail.example.test')), 'ENODATA');
    assert.equal(await code(r.resolve4('www.elsewhere.com')), 'ENOTFOUND'); // never forwarded

    await d.setRecords({ a: { 'mail.example.test': ['127.0.0.23'] } }, { ttl: 5 });
    assert.deepEqual(await r.resolve4('mail.example.test', { ttl: true }), [{ address: '127.0.0.23', ttl: 5 }]);
    assert.equal(await code(r.resolveMx('example.test')), 'ENODATA'); // gone (a parent of a name that exists: NODATA)
  } finally {
    await d.stop();
  }
  // stopped: nothing answers on that port any more
  assert.notEqual(await code(resolverFor(d.server).resolve4('mail.example.test')), 'ok');
});

test('silent, failing and dead servers: a timeout, SERVFAIL/REFUSED, a refusal', async () => {
  const s = await startSilentDnsServer();
  try {
    assert.equal(await code(resolverFor(s.server).resolve4('a.test')), 'ETIMEOUT');
    assert.ok(s.queries() >= 1);
  } finally {
    await s.stop();
  }
  const f = await startFailingDnsServer();
  const g = await startFailingDnsServer(5, '127.0.0.57');
  try {
    assert.equal(await code(resolverFor(f.server).resolveMx('a.test')), 'ESERVFAIL');
    assert.equal(await code(resolverFor(g.server).resolve4('a.test')), 'EREFUSED');
  } finally {
    await f.stop();
    await g.stop();
  }
  assert.equal(await code(resolverFor(await deadDnsServer()).resolve4('a.test')), 'ECONNREFUSED');
});
