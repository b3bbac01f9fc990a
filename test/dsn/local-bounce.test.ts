/**
 * test/dsn/local-bounce.test.ts: processing bounces local delivery failures, end to end over
 * real sockets: messages sent with Python smtplib (DSN parameters) to a mailbox over its quota,
 * retried every second (schedInterval = maxSchedInterval = 1, maxRetryCount = 5), so that:
 *  - the sender (a local account) gets ONE delay notice after 4 failed attempts (the default
 *    delayNoticeAfter) and then the failure report, and reads both over POP3 (Python poplib,
 *    parsed by Python's email package): Action, Status, Final-Recipient, Original-Recipient,
 *    Original-Envelope-Id, the header only (RET=HDRS), From MAILER-DAEMON, Return-Path <>;
 *  - NOTIFY=NEVER gets nothing; a remote sender's bounce waits in the queue for smtpOutgoing;
 *  - a bounce that cannot be delivered (its recipient is over quota too) is not bounced: the
 *    queue drains, and exactly the expected messages were ever queued.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { cleanup, messageCount, python, queueList, waitMessages } from '../smtp/helpers.ts';
import { tmpDir, waitFor } from '../helpers.ts';

let server: Server;
let dir: string;
let smtpPort: number;
let pop3Port: number;

before(async () => {
  dir = tmpDir('postern-dsn-');
  const configText = `
Server {
    services = (smtpIncoming processing pop3)
    primaryDomain = "example.org"
    hostname = "mx.example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) }
    processing = { schedInterval = 1  maxSchedInterval = 1  maxRetryCount = 5  delayNoticeAfter = 4 }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }
}`;
  server = await startServer({ configText, dataDir: dir, statusPort: 0 });
  smtpPort = server.port('smtpIncoming');
  pop3Port = server.port('pop3');
  for (const [address, quotaMessages] of [['full@example.org', 1], ['alice@example.org', 0], ['nora@example.org', 0], ['loop@example.org', 1]] as const) {
    await server.admin('account.add', { address, password: 'pw', ...(quotaMessages > 0 ? { quotaMessages } : {}) });
  }
});
after(async () => {
  await server.stop().catch(() => {});
  cleanup(dir);
});

/** Send one message with smtplib; DSN parameters as smtplib's mail_options/rcpt_options. */
async function send(from: string, to: string, subject: string, mailOptions: string[] = [], rcptOptions: string[] = []): Promise<void> {
  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${smtpPort}, timeout=10)
s.ehlo('client.test')
msg = ('From: <${from || 'nobody@example.org'}>\\r\\nTo: <${to}>\\r\\nSubject: ${subject}\\r\\nMessage-ID: <${subject.replace(/\W/g, '')}@client.test>\\r\\n\\r\\nThe text of ${subject}.\\r\\n').encode()
print(s.sendmail('${from}', ['${to}'], msg, mail_options=${JSON.stringify(mailOptions)}, rcpt_options=${JSON.stringify(rcptOptions)}))
s.quit()`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '{}');
}

/** Every message of a mailbox over POP3 (Python poplib), parsed with Python's email package. */
async function popReports(address: string): Promise<any[]> {
  const r = await python(`
import poplib, email, json
p = poplib.POP3('127.0.0.1', ${pop3Port}, timeout=10)
p.user('${address}'); p.pass_('pw')
out = []
for i in range(1, len(p.list()[1]) + 1):
    raw = b'\\r\\n'.join(p.retr(i)[1])
    m = email.message_from_bytes(raw)
    rec = {'raw': raw.decode('utf-8', 'replace'), 'type': m.get_content_type(), 'from': m['From'], 'returnPath': m['Return-Path'], 'subject': m['Subject'], 'auto': m['Auto-Submitted']}
    if m.get_content_type() == 'multipart/report':
        parts = m.get_payload()
        rec['parts'] = [x.get_content_type() for x in parts]
        ds = parts[1].get_payload()
        rec['perMessage'] = dict(ds[0].items())
        rec['perRcpt'] = [dict(b.items()) for b in ds[1:]]
        rec['returned'] = parts[2].get_payload() if isinstance(parts[2].get_payload(), str) else None
    out.append(rec)
p.quit()
print(json.dumps(out))`);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('over quota: one delay notice after 4 failed attempts, then the failure report, read over POP3; NOTIFY=NEVER: none; no bounce of a bounce', async (t) => {
  // fill the two small mailboxes (from the null sender: nothing could bounce)
  await send('', 'full@example.org', 'filler one');
  await send('', 'loop@example.org', 'filler two');
  await waitMessages(server, 'full@example.org', 1);
  await waitMessages(server, 'loop@example.org', 1);
  const { received: before } = (await server.admin('queue.stats', {})) as { received: number };

  await send('alice@example.org', 'full@example.org', 'from alice', ['RET=HDRS', 'ENVID=alice+2B1'], ['NOTIFY=FAILURE,DELAY', 'ORCPT=rfc822;Full+2Bbox@example.org']);
  await send('nora@example.org', 'full@example.org', 'from nora', [], ['NOTIFY=NEVER']);
  await send('loop@example.org', 'full@example.org', 'from loop', [], ['NOTIFY=FAILURE']);
  await send('sam@remote.example', 'full@example.org', 'from sam', [], ['NOTIFY=FAILURE']);

  // alice: the delay notice (4th failed attempt), then the report of the 6th (5 retries)
  await waitMessages(server, 'alice@example.org', 2, 30_000);
  // the remote sender's bounce waits for smtpOutgoing; loop's bounce fails (loop is full) and
  // is given up without a bounce of its own: then only sam's bounce is left
  const rest = await waitFor(async () => {
    const q = await queueList(server);
    return q.length === 1 && q[0]!.from === '<>' && /smtpOutgoing/.test(String(q[0]!.status)) ? q : undefined;
  }, 30_000, 'the queue drained but for the remote bounce');
  const shown = (await server.admin('queue.show', { id: rest[0]!.id })) as { recipients: Array<{ to: string; mailbox: string | null }>; headers: string[] };
  assert.deepEqual(shown.recipients.map((r) => [r.to, r.mailbox]), [['sam@remote.example', null]]);
  assert.ok(shown.headers.includes('To: <sam@remote.example>'), shown.headers.join('\n'));
  const { received: after } = (await server.admin('queue.stats', {})) as { received: number };
  assert.equal(after - before, 4 + 2 + 1 + 1, 'four messages, alice: notice + report, loop: report, sam: report; nora nothing, no bounce of a bounce');

  assert.equal(await messageCount(server, 'nora@example.org'), 0, 'NOTIFY=NEVER');
  assert.equal(await messageCount(server, 'loop@example.org'), 1, 'the bounce to a full mailbox was not delivered');
  assert.equal(await messageCount(server, 'full@example.org'), 1);

  const reports = await popReports('alice@example.org');
  assert.equal(reports.length, 2, 'one delay notice (not one per later attempt) and one failure report');
  const [delay, failure] = reports;
  for (const m of [delay, failure]) {
    assert.equal(m.type, 'multipart/report');
    assert.equal(m.from, 'Mail Delivery System <MAILER-DAEMON@mx.example.org>');
    assert.equal(m.returnPath, '<>');
    assert.equal(m.auto, 'auto-replied');
    assert.deepEqual(m.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    assert.equal(m.perMessage['Reporting-MTA'], 'dns; mx.example.org');
    assert.equal(m.perMessage['Original-Envelope-Id'], 'alice+1');
    assert.equal(m.perRcpt.length, 1);
    assert.equal(m.perRcpt[0]['Final-Recipient'], 'rfc822; full@example.org');
    assert.equal(m.perRcpt[0]['Original-Recipient'], 'rfc822; Full+box@example.org');
    assert.match(m.returned, /^Subject: from alice$/m);
    assert.doesNotMatch(m.returned, /The text of/);
  }
  assert.equal(delay.subject, 'Delayed Mail (still being retried)');
  assert.equal(delay.perRcpt[0].Action, 'delayed');
  assert.equal(delay.perRcpt[0].Status, '4.2.2');
  assert.match(delay.perRcpt[0]['Will-Retry-Until'], /\+0000$/);
  assert.equal(failure.subject, 'Undelivered Mail Returned to Sender');
  assert.equal(failure.perRcpt[0].Action, 'failed');
  assert.equal(failure.perRcpt[0].Status, '5.2.2');
  assert.match(failure.perRcpt[0]['Diagnostic-Code'], /^smtp; 552 5\.2\.2 gave up after 6 attempts: mailbox full/);
  t.diagnostic(`the failure report alice read over POP3:\n${String(failure.raw).replace(/\r/g, '')}`);
});
