/**
 * test/outbound/auth.test.ts: mail authentication across the pieces, end to end between two
 * Postern servers, with a real DNS server (dnsmasq on loopback, test/dns-server.ts):
 *  - sender: Postern A (smtpIncoming with relayNetworks, processing, smtpOutgoing by MX) holds a
 *    DKIM key for signed.test made with `domain.dkim` (what `postern ctl domain dkim` runs); the
 *    TXT record it prints is published in the DNS, with SPF `-all` and DMARC `p=reject` for
 *    signed.test, so only the DKIM signature can make the mail pass;
 *  - receiver: Postern B (smtpIncoming on 127.0.0.71, the MX of dst.test, mail authentication on,
 *    resolving through the same DNS) delivers A's message to bob@dst.test with
 *    `Authentication-Results: mx.dst.test; … dkim=pass header.d=signed.test … dmarc=pass`;
 *  - a forged sender of a `p=reject` domain (bank.test, SPF only for 192.0.2.1, no signature),
 *    sent to B by Python's smtplib, is refused at the end of DATA with 550 5.7.1 and never
 *    delivered.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startServer, type Server } from '../../actors/server.ts';
import { startDnsServer, type DnsRecords, type DnsServer } from '../dns-server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { messageCount, python, readInbox } from '../smtp/helpers.ts';

const B_HOST = '127.0.0.71';
const BOB = 'bob@dst.test';

let dns: DnsServer;
let a: Server;
let b: Server;
let bDir: string;
let port: number;
let bStopped = false;

const records: DnsRecords = {
  a: { 'mx.dst.test': [B_HOST] },
  mx: { 'dst.test': [{ exchange: 'mx.dst.test', priority: 10 }] },
  txt: {
    'signed.test': ['v=spf1 -all'],
    '_dmarc.signed.test': ['v=DMARC1; p=reject'],
    'bank.test': ['v=spf1 ip4:192.0.2.1 -all'],
    '_dmarc.bank.test': ['v=DMARC1; p=reject'],
  },
};

before(async () => {
  port = await freePort();
  dns = await startDnsServer(records, { host: '127.0.0.72', ttl: 1 });
  bDir = tmpDir('postern-outbound-b-');
  b = await startServer({
    dataDir: bDir, statusPort: 0, controlSocket: false, configText: `
Server {
    services = (smtpIncoming processing)
    primaryDomain = "dst.test"
    hostname = "mx.dst.test"
    statusListener = 127.0.0.1:0
    logLevel = error
    dnr = { nameServers = ( { address = ${dns.server} } ) cacheSize = 0 }
    smtpIncoming = { listeners = ( { address = ${B_HOST}:${port} } ) }
}`,
  });
  await b.admin('account.add', { address: BOB, password: 'bob-pw-123' });
  a = await startServer({
    dataDir: tmpDir('postern-outbound-a-'), statusPort: 0, controlSocket: false, configText: `
Server {
    services = (smtpIncoming processing smtpOutgoing)
    primaryDomain = "signed.test"
    hostname = "out.signed.test"
    statusListener = 127.0.0.1:0
    logLevel = error
    dnr = { nameServers = ( { address = ${dns.server} } ) cacheSize = 0 }
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) relayNetworks = ( 127.0.0.0/8 ) }
    smtpOutgoing = { mxPort = ${port} mtaSts = no connectTimeout = 5 rwTimeout = 20 }
}`,
  });
});

after(async () => {
  await a?.stop();
  if (!bStopped) await b?.stop();
  await dns?.stop();
});

test('a forged sender of a p=reject domain is refused with 550 5.7.1 (Python smtplib)', async () => {
  const r = await python(`
import smtplib, sys
msg = "From: The Bank <ceo@bank.test>\\r\\nTo: <${BOB}>\\r\\nSubject: wire the money\\r\\nMessage-ID: <forged-1@bank.test>\\r\\n\\r\\nPlease pay.\\r\\n"
s = smtplib.SMTP("${B_HOST}", ${port}, local_hostname="forger.test", timeout=30)
try:
    s.sendmail("ceo@bank.test", ["${BOB}"], msg)
    print("ACCEPTED")
except smtplib.SMTPDataError as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
s.quit()
`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^REFUSED 550 5\.7\.1\b/m, r.stdout);
  assert.equal(await messageCount(b, BOB), 0, 'the forged message was not delivered');
});

test('a second Postern verifies the first one\'s DKIM signature: dkim=pass, and DMARC passes by it', async () => {
  const k = (await a.admin('domain.dkim', { name: 'signed.test' })) as { selector: string; txt: string };
  assert.match(k.txt, /v=DKIM1/);
  // the TXT value as `ctl domain dkim` prints it ("…" "…" chunks), published as one string
  const value = k.txt.replace(/"\s*"/g, '').replace(/"/g, '');
  await dns.setRecords({ ...records, txt: { ...records.txt, [`${k.selector}._domainkey.signed.test`]: [value] } });

  const c = new SMTPConnection({ host: '127.0.0.1', port: a.port('smtpIncoming'), ignoreTLS: true, logger: false });
  await new Promise<void>((res, rej) => { c.once('error', rej); c.connect(() => res()); });
  const msg = ['From: Alice <alice@signed.test>', `To: <${BOB}>`, 'Subject: signed across two servers', 'Date: Sun, 06 Dec 2026 11:00:00 +0000',
    'Message-ID: <signed-1@signed.test>', '', 'This message is DKIM-signed by Postern A and verified by Postern B.', ''].join('\r\n');
  await new Promise<void>((res, rej) => c.send({ from: 'alice@signed.test', to: [BOB] }, msg, (e) => (e ? rej(e) : res())));
  c.quit();

  await waitFor(async () => (await messageCount(b, BOB)) >= 1, 60_000, 'the signed message at Postern B');
  await waitFor(async () => ((await a.admin('queue.list', {})) as unknown[]).length === 0, 20_000, 'A\'s queue empty');
  await b.stop();
  bStopped = true;
  const inbox = await readInbox(bDir, BOB);
  assert.equal(inbox.length, 1);
  const m = inbox[0]!;
  const head = m.slice(0, m.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  assert.match(head, /^DKIM-Signature:.*\bd=signed\.test\b/im, 'A signed the message');
  const ar = /^Authentication-Results:\s*mx\.dst\.test;.*$/im.exec(head)?.[0];
  assert.ok(ar !== undefined, `B wrote its Authentication-Results:\n${head}`);
  assert.match(ar, /\bdkim=pass\b[^;]*header\.[di]=@?signed\.test/, ar);
  assert.match(ar, /\bspf=fail\b/, ar);
  assert.match(ar, /\bdmarc=pass\b/, ar);
  assert.ok(m.includes('This message is DKIM-signed by Postern A'));
});

