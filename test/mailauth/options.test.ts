/**
 * test/mailauth/options.test.ts: the mail authentication options, each tripped.
 *  - `mailAuthTimeout`: with a name server that never answers (and the resolver's own timeout
 *    far longer), DATA is answered within the bound, the session goes on (NOOP), and the copy
 *    says temperror;
 *  - `dmarcPolicy = monitor` service-wide (a p=quarantine failure stays in INBOX, with
 *    dmarc=fail; a message sent with BDAT is checked the same way) with a `dmarcDomainPolicies`
 *    rule putting one domain back to `enforce` (its p=reject failure refused, 550 5.7.1);
 *  - `mailAuth = no`: no fields, no refusal.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateDkimKey, dkimTxtValue, signMessage } from '../../src/store/dkim.ts';
import { startDnsServer, startSilentDnsServer, type DnsServer } from '../dns-server.ts';
import { rawSmtp, waitMessages } from '../smtp/helpers.ts';
import { BOB, plain, readFolder, send, startAuthServer } from './helpers.ts';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const RECORDS = {
  txt: {
    'reject.test': ['v=spf1 ip4:127.0.0.9 -all'],
    '_dmarc.reject.test': ['v=DMARC1; p=reject'],
    'quar.test': ['v=spf1 ip4:127.0.0.9 -all'],
    '_dmarc.quar.test': ['v=DMARC1; p=quarantine'],
  },
};

const header = (copy: string, name: string): string[] =>
  copy.slice(0, copy.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

test('mailAuthTimeout: a name server that never answers costs at most the bound; the results say temperror', async () => {
  const silent = await startSilentDnsServer();
  cleanups.push(() => silent.stop());
  // the resolver would wait 60 s; mailAuthTimeout = 1 s bounds the checks
  const srv = await startAuthServer(silent.server, 'mailAuthTimeout = 1', 'cacheSize = 0 timeout = 60 retries = 0');
  cleanups.push(() => srv.stop());
  const key = generateDkimKey('slow.test', { selector: 's', algorithm: 'ed25519' });
  const msg = await signMessage(key, Buffer.from(plain('ann@slow.test', 'slow-dns'), 'latin1'));
  const t0 = Date.now();
  const r = await send(srv.port, '127.0.0.1', 'ann@slow.test', BOB, msg); // also checks NOOP after it
  const elapsed = Date.now() - t0;
  assert.equal(r.code, 250, r.text);
  assert.ok(elapsed < 15_000, `DATA answered after ${elapsed} ms (bound: mailAuthTimeout 1 s + 1 s grace; the resolver alone would take 60 s)`);
  assert.ok(silent.queries() > 0, 'the checks did ask the name server');
  await waitMessages(srv.server, BOB, 1);
  await srv.stop();
  const [copy] = await readFolder(srv.dir, BOB, 'INBOX');
  const ar = header(copy!, 'Authentication-Results')[0]!;
  assert.match(ar, /spf=temperror/);
  assert.match(ar, /dkim=(temperror|neutral)/);
  assert.match(ar, /dmarc=temperror/);
});

test('dmarcPolicy = monitor service-wide, dmarcDomainPolicies back to enforce for one domain; BDAT checked too', async () => {
  const dns: DnsServer = await startDnsServer(RECORDS);
  cleanups.push(() => dns.stop());
  const srv = await startAuthServer(dns.server, 'dmarcPolicy = monitor\n dmarcDomainPolicies = ( { domain = "REJECT.test" policy = enforce } )');
  cleanups.push(() => srv.stop());
  const refused = await send(srv.port, '127.0.0.2', 'ceo@reject.test', BOB, plain('ceo@reject.test', 'forged-reject'));
  assert.equal(refused.code, 550);
  assert.match(refused.text, /^550 5\.7\.1 /);
  assert.equal((await send(srv.port, '127.0.0.2', 'eve@quar.test', BOB, plain('eve@quar.test', 'quar-monitored'))).code, 250);
  // BDAT: the same checks at BDAT LAST
  const c = await rawSmtp(srv.port, '127.0.0.2');
  assert.equal((await c.cmd('EHLO bdat.test')).code, 250);
  assert.equal((await c.cmd('MAIL FROM:<ceo@reject.test>')).code, 250);
  assert.equal((await c.cmd(`RCPT TO:<${BOB}>`)).code, 250);
  const text = Buffer.from(plain('ceo@reject.test', 'bdat-forged'), 'latin1');
  c.write(Buffer.concat([Buffer.from(`BDAT ${text.length} LAST\r\n`), text]));
  const r = await c.reply(30_000);
  assert.match(r.text, /^550 5\.7\.1 /);
  assert.equal((await c.cmd('NOOP')).code, 250);
  c.close();
  await waitMessages(srv.server, BOB, 1);
  await srv.stop();
  const inbox = await readFolder(srv.dir, BOB, 'INBOX');
  assert.equal(inbox.length, 1);
  assert.match(header(inbox[0]!, 'Authentication-Results')[0]!, /dmarc=fail .*header\.from=quar\.test/);
  assert.deepEqual(await readFolder(srv.dir, BOB, 'Junk'), []);
});

test('mailAuth = no: nothing checked, nothing added, nothing refused', async () => {
  const dns: DnsServer = await startDnsServer(RECORDS, { host: '127.0.0.57' });
  cleanups.push(() => dns.stop());
  const srv = await startAuthServer(dns.server, 'mailAuth = no');
  cleanups.push(() => srv.stop());
  assert.equal((await send(srv.port, '127.0.0.2', 'ceo@reject.test', BOB, plain('ceo@reject.test', 'unchecked', ['Authentication-Results: mx.example.org; dkim=pass']))).code, 250);
  await waitMessages(srv.server, BOB, 1);
  await srv.stop();
  const [copy] = await readFolder(srv.dir, BOB, 'INBOX');
  assert.deepEqual(header(copy!, 'Authentication-Results'), ['Authentication-Results: mx.example.org; dkim=pass']); // left as it came
  assert.deepEqual(header(copy!, 'Received-SPF'), []);
});
