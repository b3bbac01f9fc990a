/**
 * test/dnr/ctl.test.ts: the Server-level `dnr` block (resolved in priority order into
 * ResolvedConfig.dnr and every service's options; addresses checked), an empty name server list
 * falling back to Node's default (the OS's) servers, `postern ctl dnr query|flush` over the real
 * control socket against a running server, and a flush reaching another thread's Dnr.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../../src/config/load.ts';
import { isPosternError } from '../../src/errors.ts';
import { createDnr } from '../../src/net/dnr.ts';
import { defaultDnrOptions } from '../../src/config/resolve.ts';
import { runCtl } from '../../src/cli/ctl.ts';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { startDnsServer, type DnsServer, type DnsRecords } from '../dns-server.ts';

const RECORDS: DnsRecords = {
  a: { 'example.test': ['127.0.0.40'] },
  mx: { 'example.test': [{ exchange: 'mx.example.test', priority: 10 }] },
  nullMx: ['nomail.test'],
  txt: { '_dmarc.example.test': ['v=DMARC1; p=none'] },
};
let dnsA: DnsServer;
let server: Server | undefined;
before(async () => {
  dnsA = await startDnsServer(RECORDS, { host: '127.0.0.71' });
});
after(async () => {
  await server?.stop();
  await dnsA?.stop();
});

const load = (body: string) => loadConfig(`Server {\n${body}\n}\n`, 't').resolved;

test('the dnr block: priority order, units, defaults, every service gets it; bad values refused', () => {
  const r = load(`dnr = {
    nameServers = ( { address = 192.0.2.1 priority = 20 } { address = "[2001:db8::1]:5353" priority = 5 } { address = 192.0.2.2:53 } { address = ::1 priority = 20 } )
    timeout = 4 retries = 3 cacheSize = 50 maxCacheTtl = 120 negativeCacheTtl = 0
  }`);
  assert.deepEqual(r.dnr, {
    nameServers: [
      { address: '[2001:db8::1]:5353', priority: 5 },
      { address: '192.0.2.2:53', priority: 10 },
      { address: '192.0.2.1', priority: 20 },
      { address: '::1', priority: 20 },
    ],
    timeoutMs: 4000, retries: 3, cacheSize: 50, maxCacheTtlMs: 120_000, negativeCacheTtlMs: 0,
  });
  for (const o of Object.values(r.serviceOptions)) assert.deepEqual(o.dnr, r.dnr);
  const d = load('');
  assert.deepEqual(d.dnr, defaultDnrOptions());
  assert.deepEqual(d.dnr, { nameServers: [], timeoutMs: 10_000, retries: 2, cacheSize: 10_000, maxCacheTtlMs: 300_000, negativeCacheTtlMs: 60_000 });
  const refused = (body: string, code: string) => assert.throws(() => load(body), (e: unknown) => isPosternError(e, code as 'CONFIG_TYPE'), body);
  refused('dnr = { nameServers = ( { address = ns.example.com } ) }', 'CONFIG_TYPE');
  refused('dnr = { nameServers = ( { address = 192.0.2.1:99999 } ) }', 'CONFIG_RANGE');
  refused('dnr = { nameServers = ( { priority = 1 } ) }', 'CONFIG_MISSING');
  refused('dnr = { retries = 11 }', 'CONFIG_RANGE');
  refused('dnr = { timeout = 0 }', 'CONFIG_RANGE');
  refused('dnr = { cacheSize = lots }', 'CONFIG_TYPE');
});

test('no name servers: Node\'s default servers (the OS\'s, from /etc/resolv.conf) are asked', async () => {
  const saved = dns.getServers();
  dns.setServers([dnsA.server]); // stands in for the OS's configuration
  try {
    const d = createDnr({ ...defaultDnrOptions(), timeoutMs: 2000 });
    assert.deepEqual(await d.a('example.test'), ['127.0.0.40']);
  } finally {
    dns.setServers(saved);
  }
});

test('postern ctl dnr query and dnr flush, through a running server', async () => {
  const dataDir = tmpDir();
  server = await startServer({
    configText: `Server { services = ( ) statusListener = 127.0.0.1:0 logLevel = error
      dnr = { nameServers = ( { address = ${dnsA.server} priority = 1 } ) timeout = 2 retries = 1 } }`,
    dataDir, statusPort: 0,
  });
  const ctl = async (...argv: string[]) => {
    const out: string[] = [];
    const code = await runCtl(['--data-dir', dataDir, ...argv], { out: (l) => void out.push(l), err: (l) => void out.push(`ERR ${l}`) });
    return { code, out };
  };
  assert.deepEqual(await ctl('dnr', 'query', 'MX', 'example.test'), { code: 0, out: ['10 mx.example.test'] });
  assert.deepEqual(await ctl('dnr', 'query', 'MX', 'nomail.test'), { code: 0, out: ['0 .'] });
  assert.deepEqual(await ctl('dnr', 'query', 'A', 'example.test'), { code: 0, out: ['127.0.0.40'] });
  assert.deepEqual(await ctl('dnr', 'query', 'TXT', '_dmarc.example.test'), { code: 0, out: ['"v=DMARC1; p=none"'] });
  assert.deepEqual(await ctl('dnr', 'query', 'A', 'nothing.test'), { code: 0, out: ['(no records)'] });
  assert.deepEqual(await ctl('--json', 'dnr', 'query', 'A', 'example.test'), { code: 0, out: ['{"ok":true,"result":["127.0.0.40"]}'] });
  const bad = await ctl('dnr', 'query', 'A', 'bad..name');
  assert.equal(bad.code, 1);
  assert.match(bad.out[0]!, /\[DNR_BAD_NAME\]$/);
  assert.equal((await ctl('dnr', 'query', 'SOA', 'example.test')).code, 2, 'a type not offered is a usage error');

  await dnsA.setRecords({ ...RECORDS, a: { 'example.test': ['127.0.0.41'] } });
  assert.deepEqual((await ctl('dnr', 'query', 'A', 'example.test')).out, ['127.0.0.40'], 'cached');
  assert.deepEqual(await ctl('dnr', 'flush'), { code: 0, out: ['resolver caches flushed'] });
  assert.deepEqual((await ctl('dnr', 'query', 'A', 'example.test')).out, ['127.0.0.41'], 'asked again after flush');
  await server.stop();
  server = undefined;
  await dnsA.setRecords(RECORDS);
});

test('a flush on one thread empties another thread\'s Dnr cache', async () => {
  const options = { ...defaultDnrOptions(), nameServers: [{ address: dnsA.server, priority: 1 }], timeoutMs: 2000 };
  const worker = new Worker(new URL('./fixtures/dnr-thread.ts', import.meta.url), { workerData: options });
  let id = 0;
  const ask = (name: string) => new Promise<string[]>((resolve, reject) => {
    const my = ++id;
    const on = (m: { id: number; a?: string[]; error?: string }) => {
      if (m.id !== my) return;
      worker.off('message', on);
      if (m.a !== undefined) resolve(m.a);
      else reject(new Error(m.error));
    };
    worker.on('message', on);
    worker.postMessage({ id: my, name });
  });
  try {
    assert.deepEqual(await ask('example.test'), ['127.0.0.40']);
    await dnsA.setRecords({ ...RECORDS, a: { 'example.test': ['127.0.0.42'] } });
    assert.deepEqual(await ask('example.test'), ['127.0.0.40'], 'the thread\'s cache');
    createDnr(options).flush(); // as `ctl dnr flush` does on the main thread
    await waitFor(async () => (await ask('example.test'))[0] === '127.0.0.42', 5000, 'the worker\'s cache flushed');
  } finally {
    await worker.terminate();
    await dnsA.setRecords(RECORDS);
  }
});
