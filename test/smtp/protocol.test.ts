/**
 * test/smtp/protocol.test.ts: SMTP receiving by hand on a raw socket: pipelined groups, BDAT
 * (pipelined, binary, in the wrong state), STARTTLS with pipelined plaintext dropped, AUTH
 * exchanges, every limit tripped (maxDataSize at MAIL and while the text streams in, for DATA
 * and BDAT; maxRcptCount; maxReceivedHeaders; maxLineLength; maxErrors; maxAuthErrors),
 * bad input (garbage, over-long lines, bare LF, commands out of order) answered with the right
 * code while the session and the server carry on, VRFY/EXPN revealing nothing, the relay
 * policy, and a second server with every optional extension turned off, bare LF allowed and an
 * idle timeout. Delivered copies are read from the store at the end.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, messageCount, queueList, rawSmtp, readInbox, startSmtpServer, waitMessages, type RawSmtp, type TestServer } from './helpers.ts';
import { waitFor } from '../helpers.ts';

let a: TestServer; // limits tightened
let b: TestServer; // extensions off, bare LF allowed, idle timeout
let c: TestServer; // BINARYMIME off with CHUNKING on; only LOGIN after TLS

before(async () => {
  a = await startSmtpServer({
    smtp: `maxRcptCount = 3  maxDataSize = 8  maxReceivedHeaders = 3  maxErrors = 5  maxAuthErrors = 2  maxLineLength = 512
           relayNetworks = (127.0.0.2)  plainConnAuthTypes = (login cramMd5)  greetingsText = "mx.test ESMTP Postern test"`,
  });
  for (const u of ['ann', 'bob', 'cat', 'dan']) await a.server.admin('account.add', { address: `${u}@example.org`, password: `${u}-pw` });
  b = await startSmtpServer({
    smtp: 'allowPipelining = no  allow8BitMime = no  allowChunking = no  allowSmtpUtf8 = no  allowStartTLS = no  allowBareLineFeed = yes',
    listener: 'idleTimeout = 1',
  });
  await b.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
  c = await startSmtpServer({ smtp: 'allowBinaryMime = no  secureConnAuthTypes = (login)' });
});
after(async () => {
  await a.stop().catch(() => {});
  await b.stop().catch(() => {});
  await c.stop().catch(() => {});
  cleanup(a.dir);
  cleanup(b.dir);
  cleanup(c.dir);
});

async function ehlo(c: RawSmtp): Promise<string[]> {
  const r = await c.cmd('EHLO client.test');
  assert.equal(r.code, 250, r.text);
  return r.lines;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('greeting, EHLO, HELO, HELP, NOOP, VRFY and EXPN reveal nothing, QUIT', async () => {
  const c = await rawSmtp(a.port);
  assert.equal(c.greeting, '220 mx.test ESMTP Postern test');
  const lines = await ehlo(c);
  assert.deepEqual(lines.slice(1), ['PIPELINING', 'SIZE 8192', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'AUTH LOGIN CRAM-MD5', 'CHUNKING', 'BINARYMIME', 'DSN']);
  assert.equal((await c.cmd('HELO client.test')).code, 250);
  assert.equal((await c.cmd('HELP')).code, 214);
  assert.equal((await c.cmd('NOOP')).text, '250 2.0.0 Ok');
  const known = await c.cmd('VRFY ann@example.org');
  const unknown = await c.cmd('VRFY nobody@example.org');
  assert.equal(known.code, 252);
  assert.equal(known.text, unknown.text, 'VRFY says the same for an account and a non-account');
  assert.equal((await c.cmd('EXPN staff')).text, '502 5.5.1 Error: EXPN is not available');
  assert.equal((await c.cmd('QUIT')).text, '221 2.0.0 Bye');
  await c.closed;
});

test('commands out of order get 503 and the session carries on', async () => {
  const c = await rawSmtp(a.port);
  assert.match((await c.cmd('MAIL FROM:<x@remote.example>')).text, /^503 5\.5\.1/);
  await ehlo(c);
  assert.match((await c.cmd('RCPT TO:<ann@example.org>')).text, /^503 5\.5\.1/);
  assert.match((await c.cmd('DATA')).text, /^503 5\.5\.1/);
  assert.equal((await c.cmd('MAIL FROM:<x@remote.example>')).code, 250);
  assert.match((await c.cmd('MAIL FROM:<x@remote.example>')).text, /^503 5\.5\.1/, 'nested MAIL');
  assert.equal((await c.cmd('RSET')).code, 250);
  assert.equal((await c.cmd('MAIL FROM:<x@remote.example>')).code, 250);
  c.close();
});

test('PIPELINING: a whole transaction in one write is answered in order', async () => {
  const c = await rawSmtp(a.port);
  c.write('EHLO pipe.test\r\nMAIL FROM:<p@remote.example>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<ghost@example.org>\r\nRCPT TO:<Bob@Example.ORG>\r\nDATA\r\n');
  assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).text, '250 2.1.0 Ok');
  assert.equal((await c.reply()).text, '250 2.1.5 Ok');
  assert.match((await c.reply()).text, /^550 5\.1\.1 <ghost@example\.org>/);
  assert.equal((await c.reply()).text, '250 2.1.5 Ok');
  assert.equal((await c.reply()).code, 354);
  c.write('Subject: pipelined\r\n\r\n..dot\r\n.\r\nNOOP\r\nQUIT\r\n');
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).code, 221);
  await waitMessages(a.server, 'bob@example.org', 1);
});

test('PIPELINING: the replies of a group go out in one write (one segment), the next group\'s too', async () => {
  const net = await import('node:net');
  const sock = net.connect(a.port, '127.0.0.1');
  const chunks: string[] = [];
  let buf = '';
  const waiters: Array<() => void> = [];
  sock.on('data', (d: Buffer) => {
    chunks.push(d.toString('latin1'));
    buf += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  const until = async (re: RegExp): Promise<void> => {
    while (!re.test(buf)) await new Promise<void>((r) => waiters.push(r));
  };
  await until(/^220 .*\r\n/m);
  sock.write('EHLO pipe.test\r\n');
  await until(/^250 DSN\r\n/m);
  for (let round = 0; round < 2; round++) {
    chunks.length = 0;
    buf = '';
    // the client waits for the whole group's replies: a reply held back would hang this test
    sock.write('MAIL FROM:<p@remote.example>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<ghost@example.org>\r\nDATA\r\n');
    await until(/^354 /m);
    assert.deepEqual(chunks.length, 1, `the four replies came in ${chunks.length} reads: ${JSON.stringify(chunks)}`);
    assert.match(chunks[0]!, /^250 2\.1\.0 Ok\r\n250 2\.1\.5 Ok\r\n550 5\.1\.1 <ghost@example\.org>[^\r]*\r\n354 [^\r]*\r\n$/);
    sock.write('Subject: one write\r\n\r\nbody\r\n.\r\n');
    await until(/^250 2\.0\.0 Ok: queued as /m);
  }
  sock.write('QUIT\r\n');
  await until(/^221 /m);
  sock.destroy();
});

test('BDAT: pipelined chunks, binary text left as sent, BDAT 0 LAST; BINARYMIME needs BDAT', async () => {
  const c = await rawSmtp(a.port);
  await ehlo(c);
  const chunk1 = 'Subject: bdat\r\n\r\nraw\r\n.\r\nnot an end\r\n';
  const chunk2 = '\x00\x01binary\r\n';
  c.write(`MAIL FROM:<b@remote.example> BODY=BINARYMIME\r\nRCPT TO:<cat@example.org>\r\nBDAT ${chunk1.length}\r\n${chunk1}BDAT ${Buffer.byteLength(chunk2, 'latin1')}\r\n`);
  c.write(Buffer.from(chunk2, 'latin1'));
  c.write('BDAT 0 LAST\r\n');
  assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).text, `250 2.0.0 ${chunk1.length} octets received`);
  assert.equal((await c.reply()).text, '250 2.0.0 10 octets received');
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await c.cmd('MAIL FROM:<b@remote.example> BODY=BINARYMIME')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<cat@example.org>')).code, 250);
  assert.match((await c.cmd('DATA')).text, /^503 5\.5\.1 Error: BODY=BINARYMIME needs BDAT/);
  assert.equal((await c.cmd('RSET')).code, 250);
  // a chunk in the wrong state is still read as data, never as commands
  c.write('BDAT 12\r\nQUIT\r\nQUIT\r\n');
  assert.match((await c.reply()).text, /^503 5\.5\.1 Error: send MAIL first/);
  assert.equal((await c.cmd('NOOP')).code, 250);
  c.close();
  await waitMessages(a.server, 'cat@example.org', 1);
});

test('maxDataSize: SIZE= at MAIL, then DATA and BDAT over the limit get 552 after the text; the session carries on', async () => {
  const c = await rawSmtp(a.port);
  await ehlo(c);
  assert.match((await c.cmd('MAIL FROM:<s@remote.example> SIZE=9000')).text, /^552 5\.3\.4/);
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example> SIZE=100')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<dan@example.org>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write(`Subject: big\r\n\r\n${`${'y'.repeat(998)}\r\n`.repeat(10)}.\r\n`);
  assert.match((await c.reply()).text, /^552 5\.3\.4 Message size exceeds fixed maximum message size \(8192 bytes\)/);
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example>')).code, 250, 'the transaction was reset');
  assert.equal((await c.cmd('RCPT TO:<dan@example.org>')).code, 250);
  c.write(`BDAT 6000\r\n${'z'.repeat(6000)}`);
  assert.equal((await c.reply()).code, 250);
  c.write(`BDAT 4000 LAST\r\n${'z'.repeat(4000)}`);
  assert.match((await c.reply()).text, /^552 5\.3\.4/);
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<dan@example.org>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: small\r\n\r\nfits\r\n.\r\n');
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as /);
  c.close();
  await waitMessages(a.server, 'dan@example.org', 1);
  assert.equal(await messageCount(a.server, 'dan@example.org'), 1);
});

test('maxRcptCount: the 4th recipient gets 452 4.5.3; the message goes to the first three', async () => {
  const c = await rawSmtp(a.port);
  await ehlo(c);
  const before = await Promise.all(['ann', 'bob', 'cat', 'dan'].map((u) => messageCount(a.server, `${u}@example.org`)));
  assert.equal((await c.cmd('MAIL FROM:<r@remote.example>')).code, 250);
  for (const u of ['ann', 'bob', 'cat']) assert.equal((await c.cmd(`RCPT TO:<${u}@example.org>`)).code, 250);
  assert.match((await c.cmd('RCPT TO:<dan@example.org>')).text, /^452 4\.5\.3 Error: too many recipients/);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: three\r\n\r\nx\r\n.\r\n');
  assert.equal((await c.reply()).code, 250);
  c.close();
  await waitFor(async () => {
    const now = await Promise.all(['ann', 'bob', 'cat', 'dan'].map((u) => messageCount(a.server, `${u}@example.org`)));
    return now[0] === before[0]! + 1 && now[1] === before[1]! + 1 && now[2] === before[2]! + 1 && now[3] === before[3];
  });
});

test('maxReceivedHeaders: a 4th Received: is a loop (554 5.4.6); three pass', async () => {
  const c = await rawSmtp(a.port);
  await ehlo(c);
  for (const [n, code] of [[4, 554], [3, 250]] as const) {
    assert.equal((await c.cmd('MAIL FROM:<l@remote.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
    assert.equal((await c.cmd('DATA')).code, 354);
    c.write(`${'Received: from a by b; Mon, 1 Jan 2026 00:00:00 +0000\r\n'.repeat(n)}Subject: hops ${n}\r\n\r\nx\r\n.\r\n`);
    const r = await c.reply();
    assert.equal(r.code, code, r.text);
    if (code === 554) assert.match(r.text, /^554 5\.4\.6 Too many hops/);
  }
  c.close();
});

test('bad input: bare LF, an over-long line, binary garbage; answered, and the session and server carry on', async () => {
  const other = await rawSmtp(a.port);
  const c = await rawSmtp(a.port);
  await ehlo(c);
  assert.equal((await c.cmd('MAIL FROM:<f@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@x>\r\n.\r\n');
  assert.match((await c.reply()).text, /^550 5\.5\.2 Error: bare <LF> received/);
  assert.equal((await c.cmd('NOOP')).code, 250, 'the smuggled MAIL was text of the refused message, not a command');
  c.write(`NOOP ${'x'.repeat(100_000)}\r\n`);
  assert.match((await c.reply()).text, /^500 5\.5\.2 Error: line too long \(the limit is 512 bytes\)/);
  c.write(Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10]));
  assert.match((await c.reply()).text, /^500 5\.5\.2 Error: command not recognized/);
  assert.equal((await c.cmd('NOOP')).code, 250);
  assert.equal((await other.cmd('NOOP')).code, 250);
  c.close();
  other.close();
});

test('maxErrors: the 5th wrong command closes with 421; another session is unaffected', async () => {
  const other = await rawSmtp(a.port);
  const c = await rawSmtp(a.port);
  for (let i = 1; i < 5; i++) assert.match((await c.cmd(`BOGUS${i}`)).text, /^500 5\.5\.2/);
  assert.match((await c.cmd('BOGUS5')).text, /^421 4\.7\.0 .* too many errors/);
  await c.closed;
  assert.equal((await other.cmd('NOOP')).code, 250);
  other.close();
});

test('AUTH: mechanism rules per connection, cancel with *, maxAuthErrors closes with 421', async () => {
  const early = await rawSmtp(a.port);
  assert.match((await early.cmd('AUTH LOGIN')).text, /^503/, 'AUTH needs EHLO first');
  early.close();
  const c = await rawSmtp(a.port);
  await ehlo(c);
  assert.match((await c.cmd(`AUTH PLAIN ${b64('\0ann@example.org\0ann-pw')}`)).text, /^538 5\.7\.11 Encryption required/);
  assert.match((await c.cmd('AUTH GSSAPI')).text, /^504 5\.5\.4/);
  assert.equal((await c.cmd('AUTH LOGIN')).text, `334 ${b64('Username:')}`);
  assert.match((await c.cmd('*')).text, /^501 5\.0\.0 Authentication cancelled/);
  const d = await rawSmtp(a.port);
  await ehlo(d);
  for (const attempt of [1, 2]) {
    assert.equal((await d.cmd(`AUTH LOGIN ${b64('ann@example.org')}`)).text, `334 ${b64('Password:')}`);
    const r = await d.cmd(b64('wrong'));
    if (attempt === 1) assert.equal(r.text, '535 5.7.8 Error: authentication failed');
    else assert.match(r.text, /^421 4\.7\.0 .* too many failed authentications/);
  }
  await d.closed;
  assert.equal((await c.cmd(`AUTH LOGIN ${b64('ann@example.org')}`)).code, 334);
  assert.equal((await c.cmd(b64('ann-pw'))).text, '235 2.7.0 Authentication successful');
  assert.match((await c.cmd('AUTH LOGIN')).text, /^503 5\.5\.1 Error: already authenticated/);
  c.close();
});

test('STARTTLS: pipelined plaintext is dropped, the state starts over, AUTH PLAIN is allowed on TLS', async () => {
  const c = await rawSmtp(a.port);
  await ehlo(c);
  c.write('STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n');
  assert.equal((await c.reply()).text, '220 2.0.0 Ready to start TLS');
  await c.upgrade();
  assert.match((await c.cmd('MAIL FROM:<x@remote.example>')).text, /^503/, 'no EHLO yet on the new session, and nothing injected was kept');
  const lines = await ehlo(c);
  assert.ok(!lines.includes('STARTTLS'));
  assert.ok(lines.includes('AUTH LOGIN CRAM-MD5') === false && lines.some((l) => l.startsWith('AUTH ') && l.includes('PLAIN')));
  assert.equal((await c.cmd(`AUTH PLAIN ${b64('\0bob@example.org\0bob-pw')}`)).code, 235);
  assert.match((await c.cmd('STARTTLS')).text, /^503 5\.5\.1 Error: TLS is already active/);
  assert.equal((await c.cmd('MAIL FROM:<bob@example.org>')).code, 250);
  assert.match((await c.cmd('RCPT TO:<far@remote.example>')).text, /^250 2\.1\.5 Ok: relayed/);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: relayed over tls\r\n\r\nx\r\n.\r\n');
  const r = await c.reply();
  assert.match(r.text, /^250 2\.0\.0 Ok: queued as (\S+)/);
  const id = r.text.split(' ').pop()!;
  const q = await waitFor(async () => (await queueList(a.server)).find((x) => x.id === id));
  assert.match(String(q.status), /smtpOutgoing/);
  c.close();
});

test('relay policy: relayNetworks may relay without AUTH; others get 554 5.7.1', async () => {
  const inNet = await rawSmtp(a.port, '127.0.0.2');
  await ehlo(inNet);
  assert.equal((await inNet.cmd('MAIL FROM:<n@remote.example>')).code, 250);
  assert.match((await inNet.cmd('RCPT TO:<far@remote.example>')).text, /^250 2\.1\.5 Ok: relayed/);
  inNet.close();
  const outside = await rawSmtp(a.port, '127.0.0.3');
  await ehlo(outside);
  assert.equal((await outside.cmd('MAIL FROM:<n@remote.example>')).code, 250);
  assert.match((await outside.cmd('RCPT TO:<far@remote.example>')).text, /^554 5\.7\.1 <far@remote\.example>: Relay access denied/);
  outside.close();
});

test('extensions turned off are neither offered nor accepted; bare LF allowed when configured; idle timeout', async () => {
  const c = await rawSmtp(b.port);
  assert.match(c.greeting, /^220 \S+ ESMTP Postern$/);
  const lines = await ehlo(c);
  assert.deepEqual(lines.slice(1), ['SIZE 10485760', 'ENHANCEDSTATUSCODES', 'AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256', 'DSN']);
  assert.match((await c.cmd('MAIL FROM:<x@remote.example> BODY=8BITMIME')).text, /^555 5\.5\.4/);
  assert.match((await c.cmd('MAIL FROM:<x@remote.example> SMTPUTF8')).text, /^555 5\.5\.4/);
  assert.match((await c.cmd('STARTTLS')).text, /^454 4\.7\.0 TLS not available/);
  assert.equal((await c.cmd('MAIL FROM:<x@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
  c.write('BDAT 4\r\nNOOP');
  assert.match((await c.reply()).text, /^502 5\.5\.1 Error: BDAT is not offered/);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('Subject: lf\n\nbare lf lines\n\r\n.\r\n'); // only CRLF.CRLF ends the text, even here
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as/);
  await waitMessages(b.server, 'ann@example.org', 1);
  const t0 = Date.now();
  assert.match((await c.reply(5000)).text, /^421 4\.4\.2 .* timeout exceeded/);
  await c.closed;
  assert.ok(Date.now() - t0 < 4000);
});

test('allowBinaryMime = no keeps CHUNKING; secureConnAuthTypes decides what TLS sessions may use', async () => {
  const s = await rawSmtp(c.port);
  const lines = await ehlo(s);
  assert.ok(lines.includes('CHUNKING') && !lines.includes('BINARYMIME'), lines.join(' '));
  assert.match((await s.cmd('MAIL FROM:<x@remote.example> BODY=BINARYMIME')).text, /^555 5\.5\.4 Unsupported BODY type BINARYMIME/);
  assert.equal((await s.cmd('STARTTLS')).code, 220);
  await s.upgrade();
  const secure = await ehlo(s);
  assert.ok(secure.includes('AUTH LOGIN'), secure.join(' '));
  assert.match((await s.cmd(`AUTH PLAIN ${b64('\0ann@example.org\0ann-pw')}`)).text, /^504 5\.5\.4/);
  s.close();
});

test('the copies in the mailboxes: the BDAT text as sent, the dot unstuffed, one copy per mailbox', async () => {
  await waitFor(async () => (await queueList(a.server)).every((q) => String(q.status).includes('smtpOutgoing')), 10_000, 'local mail delivered');
  await a.stop();
  const cat = await readInbox(a.dir, 'cat@example.org');
  const bdat = cat.find((m) => m.includes('Subject: bdat'))!;
  assert.ok(bdat.endsWith('Subject: bdat\r\n\r\nraw\r\n.\r\nnot an end\r\n\x00\x01binary\r\n'), JSON.stringify(bdat.slice(-80)));
  assert.match(bdat, /with ESMTP id /);
  const bob = await readInbox(a.dir, 'bob@example.org');
  const pipelined = bob.find((m) => m.includes('Subject: pipelined'))!;
  assert.ok(pipelined.endsWith('Subject: pipelined\r\n\r\n.dot\r\n'));
  assert.ok(!pipelined.includes('for <'), 'two recipients: the Received: field names neither');
  assert.equal(bob.filter((m) => m.includes('Subject: pipelined')).length, 1);
});
