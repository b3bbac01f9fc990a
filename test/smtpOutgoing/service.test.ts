/**
 * test/smtpOutgoing/service.test.ts: the smtpOutgoing service end to end in a real server
 * (smtpIncoming + processing + smtpOutgoing, the Server `dnr` block pointing at a dnsmasq on
 * loopback): mail relayed through smtpIncoming (relayNetworks) leaves by MX to an aiosmtpd
 * receiver with our Received: field and leaves the queue; a 4xx is retried on processing's
 * schedule and delivered exactly once, with a delay notice; a 5xx fails the recipient, a DSN
 * goes back to the sender and the entry leaves the queue; a route in the config sends a sender's mail to a smart host with AUTH over STARTTLS;
 * mail from a local domain with a DKIM key (`domain.dkim`) leaves signed, and the signature
 * verifies (mailauth) against the TXT record published in the same dnsmasq.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { authenticate } from 'mailauth';
import { createDnr } from '../../src/net/dnr.ts';
import { defaultDnrOptions } from '../../src/config/resolve.ts';
import { startServer, type Server } from '../../actors/server.ts';
import { startDnsServer, type DnsRecords, type DnsServer } from '../dns-server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { selfSigned, startReceiver, type Receiver } from './helpers.ts';

let dns: DnsServer;
let server: Server;
let port: number;
let records: DnsRecords;
const rx: Record<string, Receiver> = {};

before(async () => {
  port = await freePort();
  dns = await startDnsServer(records = {
    a: { 'mx.far.test': ['127.0.0.41'], 'mx.slow.test': ['127.0.0.42'], 'mx.nope.test': ['127.0.0.43'] },
    mx: {
      'far.test': [{ exchange: 'mx.far.test', priority: 10 }],
      'slow.test': [{ exchange: 'mx.slow.test', priority: 10 }],
      'nope.test': [{ exchange: 'mx.nope.test', priority: 10 }],
    },
  }, { host: '127.0.0.64' });
  const [far, slow, nope, smart] = await Promise.all([
    startReceiver({ host: '127.0.0.41', port }),
    startReceiver({ host: '127.0.0.42', port, defer: ['late@slow.test'], deferTimes: 1 }),
    startReceiver({ host: '127.0.0.43', port, reject: ['gone@nope.test'] }),
    startReceiver({ host: '127.0.0.44', port, ...selfSigned(), auth: { relayuser: 'relaypass' } }),
  ]);
  Object.assign(rx, { far, slow, nope, smart });
  const configText = `
Server {
    services = (smtp)
    primaryDomain = "example.org"
    hostname = "out.postern.test"
    statusListener = 127.0.0.1:0
    logLevel = error
    dnr = { nameServers = ( { address = ${dns.server} priority = 0 } ) }
    smtpIncoming = {
        listeners = ( { address = 127.0.0.1:0 } )
        relayNetworks = ( 127.0.0.0/8 )
    }
    processing = { schedInterval = 1 maxSchedInterval = 2 delayNoticeAfter = 1 }
    smtpOutgoing = {
        mxPort = ${port}
        mtaSts = no
        connectTimeout = 5
        rwTimeout = 10
        routes = ( { sender = "@smart.example" action = smartHost smartHost = { host = "127.0.0.44" port = ${port} startTls = required authUser = "relayuser" authPassword = "relaypass" authMethod = LOGIN } } )
    }
}`;
  server = await startServer({ configText, dataDir: tmpDir('postern-out-svc-'), statusPort: 0, controlSocket: false });
});

after(async () => {
  await server?.stop();
  await Promise.all(Object.values(rx).map((r) => r.stop()));
  await dns?.stop();
});

async function submit(from: string, to: string[], subject: string): Promise<void> {
  const c = new SMTPConnection({ host: '127.0.0.1', port: server.port('smtpIncoming'), ignoreTLS: true, logger: false });
  await new Promise<void>((res, rej) => { c.once('error', rej); c.connect(() => res()); });
  await new Promise<void>((res, rej) => c.send({ from, to }, `From: ${from}\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\n\r\nbody of ${subject}\r\n`, (e) => (e ? rej(e) : res())));
  c.quit();
}

const queued = async (): Promise<number> => ((await server.admin('queue.list', {})) as unknown[]).length;

test('relayed mail leaves by MX with one Received: of ours, and leaves the queue', async () => {
  await submit('alice@example.org', ['bob@far.test'], 'by mx');
  await rx.far!.waitMessages(1);
  const m = rx.far!.messages[0]!;
  assert.deepEqual(m.to, ['bob@far.test']);
  assert.equal(m.from, 'alice@example.org');
  assert.equal(m.data.match(/\(Postern\) with /g)?.length, 1);
  assert.match(m.data, /^Received: from [^\r\n]+\r\n\tby out\.postern\.test \(Postern\) with ESMTP id \S+\r\n\tfor <bob@far\.test>;/);
  await waitFor(async () => (await queued()) === 0, 10_000, 'an empty queue');
});

/** A DSN the far.test receiver got (from the null sender) whose text matches. */
const report = (re: RegExp) => waitFor(() => rx.far!.messages.find((m) => (m.from === '' || m.from === '<>') && re.test(m.data)), 15_000, `a DSN matching ${re}`);

test('a 4xx is retried on processing\'s schedule and delivered exactly once; a delay notice after delayNoticeAfter attempts', async () => {
  await submit('alice@far.test', ['late@slow.test'], 'retried');
  await rx.slow!.waitMessages(1, 20_000);
  await waitFor(async () => (await queued()) === 0, 10_000, 'an empty queue');
  assert.equal(rx.slow!.messages.length, 1);
  assert.ok(rx.slow!.conns() >= 2);
  const d = await report(/Action: delayed/);
  assert.deepEqual(d.to, ['alice@far.test']);
  assert.match(d.data, /Final-Recipient: rfc822; ?late@slow\.test/i);
  assert.match(d.data, /Status: 4\.3\.0/);
  assert.match(d.data, /Remote-MTA: dns; ?mx\.slow\.test/i);
});

test('a 5xx fails the recipient, bounced to the sender (RFC 3464), and the entry leaves the queue; the other recipient is delivered', async () => {
  await submit('alice@far.test', ['gone@nope.test', 'here@nope.test'], 'refused');
  await rx.nope!.waitMessages(1);
  assert.deepEqual(rx.nope!.messages[0]!.to, ['here@nope.test']);
  const b = await report(/Action: failed/);
  assert.deepEqual(b.to, ['alice@far.test']);
  assert.match(b.data, /Content-Type: multipart\/report; ?report-type=delivery-status/i);
  assert.match(b.data, /Final-Recipient: rfc822; ?gone@nope\.test/i);
  assert.match(b.data, /Status: 5\.1\.1/);
  assert.match(b.data, /Remote-MTA: dns; ?mx\.nope\.test/i);
  assert.match(b.data, /Diagnostic-Code: smtp; ?550 5\.1\.1 no such user here/i);
  assert.doesNotMatch(b.data, /Final-Recipient: rfc822; ?here@nope\.test/i);
  await waitFor(async () => (await queued()) === 0, 10_000, 'an empty queue');
});

test('a route by sender domain sends through the smart host with AUTH LOGIN over STARTTLS', async () => {
  await submit('carol@smart.example', ['dave@far.test'], 'smart host');
  await rx.smart!.waitMessages(1);
  const m = rx.smart!.messages[0]!;
  assert.equal(m.tls, true);
  assert.equal(m.auth, true);
  assert.deepEqual(m.to, ['dave@far.test']);
  await waitFor(async () => (await queued()) === 0, 10_000, 'an empty queue');
});

test('mail from a local domain with a DKIM key leaves signed; the signature verifies through DNS', async () => {
  await server.admin('domain.add', { name: 'signed.example' });
  const k = (await server.admin('domain.dkim', { name: 'signed.example' })) as { selector: string; txt: string };
  await dns.setRecords({ ...records, txt: { [`${k.selector}._domainkey.signed.example`]: [k.txt.replace(/" "/g, '').replace(/"/g, '')] } });
  const before = rx.far!.messages.length;
  await submit('erin@signed.example', ['frank@far.test'], 'signed');
  await rx.far!.waitMessages(before + 1);
  const m = rx.far!.messages[before]!;
  assert.match(m.data, /\r\nDKIM-Signature: [^\r\n]*d=signed\.example/i);
  const dnr = createDnr({ ...defaultDnrOptions(), nameServers: [{ address: dns.server, priority: 0 }] });
  const r = await authenticate(Buffer.from(m.data, 'utf8'), { ip: '127.0.0.1', helo: 'out.postern.test', sender: 'erin@signed.example', mta: 'mx.far.test', resolver: dnr.resolver() as never, disableArc: true, disableBimi: true });
  assert.equal(r.dkim.results[0]?.signingDomain, 'signed.example');
  assert.equal(r.dkim.results[0]?.status.result, 'pass');
});
