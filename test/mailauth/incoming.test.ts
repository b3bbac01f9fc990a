/**
 * test/mailauth/incoming.test.ts: smtpIncoming's mail authentication against a real DNS server
 * (dnsmasq on loopback serving SPF, DKIM and DMARC records) through the server's resolver (the
 * Server `dnr` block): the delivered copies carry Authentication-Results (authserv-id: the
 * server's host name) with dkim=pass for a signature whose key is published, spf=pass or fail by
 * the client's address (127.0.0.1 allowed, 127.0.0.2 not), a forged Authentication-Results of
 * ours removed (another host's kept); a forged sender of a p=reject domain is refused with
 * 550 5.7.1 (Python's smtplib sees it), a p=quarantine failure goes to Junk, a domain in
 * `monitor` mode is delivered with dmarc=fail; a client in relayNetworks is not checked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateDkimKey, dkimTxtValue, signMessage } from '../../src/store/dkim.ts';
import { startDnsServer, type DnsServer } from '../dns-server.ts';
import { python, waitMessages } from '../smtp/helpers.ts';
import { BOB, HOST, plain, readFolder, send, startAuthServer, type AuthServer } from './helpers.ts';

let dns: DnsServer;
let srv: AuthServer;
const key = generateDkimKey('good.test', { selector: 'sel', algorithm: 'rsa' });

before(async () => {
  dns = await startDnsServer({
    txt: {
      'good.test': ['v=spf1 ip4:127.0.0.1 -all'],
      '_dmarc.good.test': ['v=DMARC1; p=reject'],
      'sel._domainkey.good.test': [dkimTxtValue(key)],
      'nodmarc.test': ['v=spf1 ip4:127.0.0.1 -all'],
      'reject.test': ['v=spf1 ip4:127.0.0.9 -all'],
      '_dmarc.reject.test': ['v=DMARC1; p=reject'],
      'quar.test': ['v=spf1 ip4:127.0.0.9 -all'],
      '_dmarc.quar.test': ['v=DMARC1; p=quarantine'],
      'mon.test': ['v=spf1 ip4:127.0.0.9 -all'],
      '_dmarc.mon.test': ['v=DMARC1; p=reject'],
    },
  });
  srv = await startAuthServer(dns.server, `
        relayNetworks = (127.0.0.3)
        dmarcDomainPolicies = ( { domain = "mon.test" policy = monitor } )`);
});
after(async () => {
  await srv?.stop().catch(() => {});
  await dns?.stop();
});

/** The Authentication-Results field of a delivered copy (unfolded), by its subject. */
function resultsOf(copies: string[], subject: string): { ar: string[]; copy: string } {
  const copy = copies.find((c) => c.includes(`Subject: ${subject}\r\n`));
  assert.ok(copy !== undefined, `a copy with subject ${subject}`);
  const head = copy.slice(0, copy.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return { ar: head.split('\r\n').filter((l) => /^authentication-results:/i.test(l)), copy };
}

test('Authentication-Results on delivered mail; p=reject refused with 550 5.7.1, p=quarantine to Junk, monitor mode delivered with dmarc=fail', async () => {
  // 1. signed by good.test, from an address its SPF allows, with a forged A-R of ours and another host's
  const signed = await signMessage(key, Buffer.from(plain('alice@good.test', 'signed-good', [
    `Authentication-Results: ${HOST.toUpperCase()}; dkim=pass header.d=forged.example; spf=pass`,
    'Authentication-Results: other.example; spf=none',
  ]), 'latin1'));
  assert.equal((await send(srv.port, '127.0.0.1', 'alice@good.test', BOB, signed)).code, 250);
  // 2. SPF by client address: a domain without DMARC, from an allowed and a refused address
  assert.equal((await send(srv.port, '127.0.0.1', 'carol@nodmarc.test', BOB, plain('carol@nodmarc.test', 'spf-pass'))).code, 250);
  assert.equal((await send(srv.port, '127.0.0.2', 'carol@nodmarc.test', BOB, plain('carol@nodmarc.test', 'spf-fail'))).code, 250);
  // 3. a forged sender of a p=reject domain, seen by Python's smtplib
  const py = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${srv.port}, source_address=('127.0.0.2', 0), timeout=30)
s.ehlo('forger.test')
msg = "From: <ceo@reject.test>\\r\\nTo: <${BOB}>\\r\\nSubject: forged\\r\\n\\r\\nPay now.\\r\\n"
try:
    s.sendmail('ceo@reject.test', ['${BOB}'], msg)
    print('ACCEPTED')
except smtplib.SMTPDataError as e:
    print('REFUSED', e.smtp_code, e.smtp_error.decode())
print('NOOP', s.noop()[0])
s.quit()
`);
  assert.equal(py.code, 0, py.stderr);
  assert.match(py.stdout, /^REFUSED 550 5\.7\.1 .*DMARC.*reject\.test/m);
  assert.match(py.stdout, /^NOOP 250$/m);
  // 4. p=quarantine → Junk; 5. monitor mode → INBOX with dmarc=fail
  assert.equal((await send(srv.port, '127.0.0.2', 'eve@quar.test', BOB, plain('eve@quar.test', 'quarantined'))).code, 250);
  assert.equal((await send(srv.port, '127.0.0.2', 'mallory@mon.test', BOB, plain('mallory@mon.test', 'monitored'))).code, 250);
  // 6. a client in relayNetworks: not checked, and its A-R fields are left alone
  assert.equal((await send(srv.port, '127.0.0.3', 'x@reject.test', BOB, plain('x@reject.test', 'from-relaynet'))).code, 250);

  await waitMessages(srv.server, BOB, 6);
  await srv.stop();
  const inbox = await readFolder(srv.dir, BOB, 'INBOX');
  const junk = await readFolder(srv.dir, BOB, 'Junk');
  assert.equal(inbox.length, 5);
  assert.deepEqual(junk.map((c) => /Subject: (\S+)/.exec(c)![1]), ['quarantined']);

  const good = resultsOf(inbox, 'signed-good');
  assert.equal(good.ar.length, 2, good.ar.join('\n')); // ours, and other.example's; the forged one is gone
  assert.match(good.ar[0]!, new RegExp(`^Authentication-Results: ${HOST.replace(/\./g, '\\.')};`));
  assert.match(good.ar[0]!, /dkim=pass header\.i=@good\.test header\.s=sel/);
  assert.match(good.ar[0]!, /spf=pass .*smtp\.mailfrom=alice@good\.test/);
  assert.match(good.ar[0]!, /dmarc=pass .*header\.from=good\.test/);
  assert.match(good.ar[1]!, /^Authentication-Results: other\.example; spf=none/);
  assert.doesNotMatch(good.copy, /forged\.example/);
  assert.match(good.copy, /^Received-SPF: pass/m);

  assert.match(resultsOf(inbox, 'spf-pass').ar[0]!, /spf=pass .*smtp\.mailfrom=carol@nodmarc\.test/);
  const fail = resultsOf(inbox, 'spf-fail').ar[0]!;
  assert.match(fail, /spf=fail .*smtp\.mailfrom=carol@nodmarc\.test/);
  assert.match(fail, /dmarc=none/);
  assert.match(resultsOf(junk, 'quarantined').ar[0]!, /dmarc=fail .*header\.from=quar\.test/);
  assert.match(resultsOf(inbox, 'monitored').ar[0]!, /dmarc=fail .*header\.from=mon\.test/);
  assert.equal(resultsOf(inbox, 'from-relaynet').ar.length, 0);
  assert.ok(!inbox.some((c) => c.includes('Subject: forged')));
});
