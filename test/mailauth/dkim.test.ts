/**
 * test/mailauth/dkim.test.ts: outgoing DKIM. `postern ctl domain dkim DOMAIN [--selector S]
 * [--algorithm rsa|ed25519]` makes a key, keeps it in the store (read back after the server has
 * stopped), and prints the TXT record; published on a real DNS server (dnsmasq on loopback), it
 * verifies a message signed with `signMessage` (mailauth's verifier, dkim=pass), and a message
 * changed after signing fails.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { authenticate } from 'mailauth';
import { runCtl } from '../../src/cli/ctl.ts';
import { Store } from '../../src/store/store.ts';
import { checkDkimKey, signMessage, type DkimKey } from '../../src/store/dkim.ts';
import { startDnsServer, type DnsServer } from '../dns-server.ts';
import { startSmtpServer, type TestServer } from '../smtp/helpers.ts';

let dnsServer: DnsServer;
let srv: TestServer;

before(async () => {
  dnsServer = await startDnsServer({});
  srv = await startSmtpServer({ controlSocket: true });
});
after(async () => {
  await srv?.stop().catch(() => {});
  await dnsServer?.stop();
});

async function ctl(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(['--data-dir', srv.dir, ...argv], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** `NAME. IN TXT "a" "b"` → [name, 'ab'] */
function parseRecord(line: string): [string, string] {
  const m = /^(\S+)\. IN TXT ((?:"[^"]*"\s*)+)$/.exec(line);
  assert.ok(m !== null, `a TXT record line: ${line}`);
  return [m[1]!, [...m[2]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('')];
}

const message = (from: string): Buffer => Buffer.from([
  `From: Alice <${from}>`, 'To: bob@example.net', 'Subject: signed', 'Date: Sun, 06 Dec 2026 10:00:00 +0000',
  `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>`, 'MIME-Version: 1.0', 'Content-Type: text/plain', '', 'Hello, signed world.', '',
].join('\r\n'));

function fixtureResolver(): (name: string, rr: string) => Promise<unknown> {
  const r = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([dnsServer.server]);
  return (name, rr) => r.resolve(name, rr);
}

async function verify(body: Buffer): Promise<{ result: string; header: string }> {
  const r = await authenticate(body, { ip: '127.0.0.1', helo: 'localhost', sender: 'alice@example.org', mta: 'mx.test', resolver: fixtureResolver() as never, disableArc: true, disableBimi: true });
  return { result: r.dkim.results[0]?.status.result ?? 'none', header: r.headers };
}

test('ctl domain dkim: RSA and Ed25519 keys, stored durably, whose printed TXT records verify signMessage signatures', async () => {
  const rsa = await ctl(['domain', 'dkim', 'example.org', '--selector', 'sel1']);
  assert.equal(rsa.code, 0, rsa.err.join('\n'));
  assert.match(rsa.out[0]!, /^DKIM key for example\.org \(selector sel1, rsa\)/);
  const [rsaName, rsaTxt] = parseRecord(rsa.out[1]!);
  assert.equal(rsaName, 'sel1._domainkey.example.org');
  assert.match(rsaTxt, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/); // a 2048-bit key's SPKI is ~392 base64 characters
  assert.ok(rsa.out[1]!.split('" "').length >= 2, 'a record over 255 characters is split into quoted strings');

  const ed = await ctl(['--json', 'domain', 'dkim', 'example.org', '--selector', 'sel2', '--algorithm', 'ed25519']);
  assert.equal(ed.code, 0, ed.err.join('\n'));
  const edJson = JSON.parse(ed.out[0]!) as { ok: boolean; result: { selector: string; algorithm: string; txt: string; record: string } };
  assert.equal(edJson.result.algorithm, 'ed25519');
  assert.match(edJson.result.txt, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/); // 32 raw bytes (RFC 8463)
  const [edName, edTxt] = parseRecord(edJson.result.record);

  // usage errors and a domain that is not local
  assert.equal((await ctl(['domain', 'dkim', 'example.org', '--algorithm', 'dsa'])).code, 1);
  const none = await ctl(['--json', 'domain', 'dkim', 'nowhere.test']);
  assert.equal(JSON.parse(none.out[0]!).error.code, 'STORE_NO_SUCH_DOMAIN');
  assert.equal((await ctl(['queue', 'list', '--selector', 'x'])).code, 2);

  await srv.stop();
  // the key is in the store (the last one made for the domain: Ed25519, sel2)
  const store = await new Store({ dataDir: srv.dir, compactIntervalMs: 0 }).open();
  let edKey: DkimKey;
  try {
    edKey = checkDkimKey(store.directory.dkimKey('example.org'));
  } finally {
    await store.close();
  }
  assert.equal(edKey.selector, 'sel2');

  await dnsServer.setRecords({ txt: { [rsaName]: [rsaTxt], [edName]: [edTxt] } });
  const signed = await signMessage(edKey, message('alice@example.org'));
  assert.match(signed.toString('latin1'), /^DKIM-Signature: .*a=ed25519-sha256/s);
  const v = await verify(signed);
  assert.equal(v.result, 'pass', v.header);
  assert.match(v.header, /dkim=pass header\.i=@example\.org header\.s=sel2/);

  // tampered after signing: the body hash no longer matches
  const tampered = Buffer.from(signed.toString('latin1').replace('Hello, signed world.', 'Hello, forged world.'), 'latin1');
  assert.notEqual((await verify(tampered)).result, 'pass');
});

test('signMessage with an RSA key generated here verifies through the published TXT record; no From: refused', async () => {
  const { generateDkimKey, dkimTxtValue } = await import('../../src/store/dkim.ts');
  const key = generateDkimKey('example.com', { selector: 'rsa2048' });
  await dnsServer.setRecords({ txt: { 'rsa2048._domainkey.example.com': [dkimTxtValue(key)] } });
  const signed = await signMessage(key, message('alice@example.com'));
  assert.match(signed.toString('latin1'), /^DKIM-Signature: .*a=rsa-sha256.*c=relaxed\/relaxed/s);
  const v = await verify(signed);
  assert.equal(v.result, 'pass', v.header);
  await assert.rejects(signMessage(key, Buffer.from('Subject: no from\r\n\r\nx\r\n')), { code: 'STORE_BAD_ARGUMENT' });
  assert.throws(() => generateDkimKey('example.com', { selector: 'bad selector' }), { code: 'STORE_BAD_ARGUMENT' });
});

test('authorDomain: the From: field\'s domain, whatever the display name says', async () => {
  const { authorDomain } = await import('../../src/store/dkim.ts');
  const h = (from: string): Buffer => Buffer.from(`To: x@y.test\r\n${from}\r\nSubject: s\r\n\r\nFrom: body@not.this\r\n`);
  assert.equal(authorDomain(h('From: Alice <alice@Example.ORG>')), 'example.org');
  assert.equal(authorDomain(h('From: "bob@evil.test" <bob@good.test>')), 'good.test');
  assert.equal(authorDomain(h('from:carol@c.test (Carol)')), 'c.test');
  assert.equal(authorDomain(h('From: Dan\r\n <dan@folded.test>')), 'folded.test');
  assert.equal(authorDomain(h('Sender: s@s.test')), null);
  assert.equal(authorDomain(h('From: undisclosed')), null);
});
