/**
 * test/dsn/builder.test.ts: the RFC 3464 report (src/store/dsn.ts) parsed by Python's `email`
 * package and by postal-mime: the multipart/report's three parts, the per-message and
 * per-recipient fields, the original returned whole or as its header per RET and the size cap;
 * who gets a DSN (NOTIFY, the null sender); xtext.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import PostalMime from 'postal-mime';
import { buildDsn, wantsDsn, xtextDecode, xtextEncode, isXtext } from '../../src/store/dsn.ts';
import { python } from '../smtp/helpers.ts';
import { tmpDir } from '../helpers.ts';

const original = Buffer.from('From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: the original\r\nMessage-ID: <orig-1@example.org>\r\n\r\nHello Bob.\r\n');
const arrival = Date.UTC(2026, 11, 6, 10, 0, 0);

function failure(ret: 'FULL' | 'HDRS' | null, maxReturnBytes?: number) {
  return buildDsn({
    kind: 'failure', reportingMta: 'mx.example.org', arrivalDate: arrival,
    envelope: { from: 'alice@example.org', dsn: { ret, envid: 'env id 42' } }, original,
    recipients: [
      { to: 'bob@remote.example', orcpt: 'rfc822;Bob+2Bx@remote.example', action: 'failed', status: '5.1.1', remoteMta: 'mx.remote.example', diagnostic: '550 5.1.1 <bob@remote.example>: no such user' },
      { to: 'carol@example.org', orcpt: null, action: 'failed', status: '5.2.2', diagnostic: '552 5.2.2 mailbox full' },
    ],
    ...(maxReturnBytes !== undefined ? { maxReturnBytes } : {}),
    now: arrival + 60_000,
  })!;
}

const PARSE = `
import email, json, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1] if len(sys.argv) > 1 else PATH, 'rb').read(), policy=policy.compat32)
parts = m.get_payload()
out = {'type': m.get_content_type(), 'report': m.get_param('report-type'), 'from': m['From'], 'auto': m['Auto-Submitted'], 'mid': m['Message-ID'], 'subject': m['Subject'],
  'parts': [p.get_content_type() for p in parts], 'human': parts[0].get_payload()}
ds = parts[1].get_payload()   # message/delivery-status: a list of header blocks
out['perMessage'] = dict(ds[0].items())
out['perRcpt'] = [dict(b.items()) for b in ds[1:]]
third = parts[2]
out['returned'] = third.get_payload(0)['Subject'] if third.get_content_type() == 'message/rfc822' else third.get_payload()
out['returnedBody'] = third.get_payload(0).get_payload() if third.get_content_type() == 'message/rfc822' else None
print(json.dumps(out))
`;

async function pyParse(body: Buffer): Promise<any> {
  const dir = tmpDir('postern-dsn-');
  const file = path.join(dir, 'dsn.eml');
  fs.writeFileSync(file, body);
  const r = await python(PARSE.replace('PATH', JSON.stringify(file)));
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('a failure report (no RET): Python email sees multipart/report, the delivery-status fields per recipient, the whole original', async () => {
  const dsn = failure(null);
  assert.equal(dsn.from, '');
  assert.equal(dsn.to, 'alice@example.org');
  const p = await pyParse(dsn.body);
  assert.equal(p.type, 'multipart/report');
  assert.equal(p.report, 'delivery-status');
  assert.deepEqual(p.parts, ['text/plain', 'message/delivery-status', 'message/rfc822']);
  assert.equal(p.from, 'Mail Delivery System <MAILER-DAEMON@mx.example.org>');
  assert.equal(p.auto, 'auto-replied');
  assert.match(p.mid, /^<[^@<>\s]+@mx\.example\.org>$/);
  assert.match(p.human, /could not be delivered to 2 recipients/);
  assert.deepEqual(p.perMessage, { 'Reporting-MTA': 'dns; mx.example.org', 'Original-Envelope-Id': 'env id 42', 'Arrival-Date': 'Sun, 06 Dec 2026 10:00:00 +0000' });
  assert.equal(p.perRcpt.length, 2);
  assert.deepEqual(p.perRcpt[0], {
    'Original-Recipient': 'rfc822; Bob+x@remote.example', 'Final-Recipient': 'rfc822; bob@remote.example', Action: 'failed', Status: '5.1.1',
    'Remote-MTA': 'dns; mx.remote.example', 'Diagnostic-Code': 'smtp; 550 5.1.1 <bob@remote.example>: no such user', 'Last-Attempt-Date': 'Sun, 06 Dec 2026 10:01:00 +0000',
  });
  assert.equal(p.perRcpt[1]['Final-Recipient'], 'rfc822; carol@example.org');
  assert.equal(p.perRcpt[1].Status, '5.2.2');
  assert.equal(p.perRcpt[1]['Original-Recipient'], undefined);
  assert.equal(p.returned, 'the original');
  assert.equal(p.returnedBody, 'Hello Bob.\r\n');
});

test('RET=HDRS, and RET=FULL over the size cap: only the header, as text/rfc822-headers', async () => {
  for (const dsn of [failure('HDRS'), failure('FULL', 50)]) {
    const p = await pyParse(dsn.body);
    assert.deepEqual(p.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    assert.match(p.returned, /^From: alice@example\.org\r?\nTo: bob@remote\.example\r?\nSubject: the original\r?\nMessage-ID: <orig-1@example\.org>/);
    assert.doesNotMatch(p.returned, /Hello Bob/);
  }
});

test('postal-mime reads the report: its parts, the delivery-status text, the attached original', async () => {
  const email = await PostalMime.parse(failure('FULL').body);
  assert.equal(email.from?.address, 'MAILER-DAEMON@mx.example.org');
  assert.equal(email.subject, 'Undelivered Mail Returned to Sender');
  assert.match(email.text ?? '', /could not be delivered/);
  const types = email.attachments.map((a) => a.mimeType);
  assert.ok(types.includes('message/delivery-status'), JSON.stringify(types));
  const ds = email.attachments.find((a) => a.mimeType === 'message/delivery-status')!;
  const text = typeof ds.content === 'string' ? ds.content : Buffer.from(ds.content as ArrayBuffer).toString('utf8');
  assert.match(text, /^Final-Recipient: rfc822; bob@remote\.example$/m);
  assert.match(text, /^Action: failed$/m);
  assert.match(text, /^Status: 5\.1\.1$/m);
});

test('a delay notice: Action delayed, Will-Retry-Until, the header only; a success report', async () => {
  const delay = buildDsn({
    kind: 'delay', reportingMta: 'mx.example.org', arrivalDate: arrival, envelope: { from: 'alice@example.org' }, original,
    recipients: [{ to: 'carol@example.org', orcpt: null, action: 'delayed', status: '4.2.2', diagnostic: '451 4.2.2 mailbox full' }],
    willRetryUntil: arrival + 86_400_000, now: arrival + 60_000,
  })!;
  const p = await pyParse(delay.body);
  assert.deepEqual(p.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  assert.equal(p.perMessage['Original-Envelope-Id'], undefined);
  assert.equal(p.perRcpt[0].Action, 'delayed');
  assert.equal(p.perRcpt[0].Status, '4.2.2');
  assert.equal(p.perRcpt[0]['Will-Retry-Until'], 'Mon, 07 Dec 2026 10:00:00 +0000');
  assert.match(p.human, /need not send it again/);
  const ok = buildDsn({ kind: 'success', reportingMta: 'h', arrivalDate: arrival, envelope: { from: 'a@b.c' }, original, recipients: [{ to: 'x@h', orcpt: null, action: 'delivered', status: '2.0.0' }] })!;
  const s = await pyParse(ok.body);
  assert.equal(s.perRcpt[0].Action, 'delivered');
  assert.equal(s.perRcpt[0]['Diagnostic-Code'], undefined);
});

test('who gets one: never for the null sender; NOTIFY=NEVER none; no NOTIFY: failure and delay; SUCCESS only when asked', () => {
  assert.equal(buildDsn({ kind: 'failure', reportingMta: 'h', arrivalDate: 0, envelope: { from: '' }, original, recipients: [{ to: 'x@h', orcpt: null, action: 'failed', status: '5.1.1' }] }), null);
  assert.equal(wantsDsn('', undefined, 'failure'), false);
  assert.equal(wantsDsn('a@b', undefined, 'failure'), true);
  assert.equal(wantsDsn('a@b', undefined, 'delay'), true);
  assert.equal(wantsDsn('a@b', undefined, 'success'), false);
  assert.equal(wantsDsn('a@b', { notify: ['NEVER'], orcpt: null }, 'failure'), false);
  assert.equal(wantsDsn('a@b', { notify: ['SUCCESS'], orcpt: null }, 'failure'), false);
  assert.equal(wantsDsn('a@b', { notify: ['SUCCESS'], orcpt: null }, 'success'), true);
  assert.equal(wantsDsn('a@b', { notify: ['FAILURE'], orcpt: null }, 'delay'), false);
  assert.equal(wantsDsn('a@b', { notify: null, orcpt: 'rfc822;a@b' }, 'failure'), true);
});

test('xtext: encode/decode round trip, validity', () => {
  assert.equal(xtextEncode('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(xtextDecode('a+2Bb+3Dc+20d'), 'a+b=c d');
  assert.equal(isXtext('abc+2B'), true);
  assert.equal(isXtext('abc+zz'), false);
  assert.equal(isXtext('a+b'), false);
  assert.equal(isXtext('a=b'), false);
});
