/**
 * test/smtp/units.test.ts: the pure parts of SMTP receiving and processing, as tables of input
 * → expected output: MAIL/RCPT argument grammar, the DATA decoder (dot-stuffing, the only
 * terminator CRLF.CRLF, bare LF, the size cap, every split of the input into chunks), Received:
 * counting, the delivery prefix (RFC 3848 with-types), the MIME summary, the retry schedule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePathArg } from '../../src/protocols/smtp/address.ts';
import { ChunkCollector, DotDecoder, countReceived } from '../../src/protocols/smtp/data.ts';
import { withType } from '../../src/protocols/smtp/state.ts';
import { smtpOptions } from '../../src/protocols/smtp/options.ts';
import { loadConfig } from '../../src/config/load.ts';
import { deliveryPrefix, ipLiteral } from '../../src/store/received.ts';
import { summarize } from '../../src/store/mime-summary.ts';
import { retryDelay } from '../../src/store/queue-deliver.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';

test('MAIL/RCPT arguments: paths, parameters, tolerated and refused forms', () => {
  const ok: Array<[string, 'FROM' | 'TO', string, Record<string, string | null>]> = [
    ['FROM:<a@b.example>', 'FROM', 'a@b.example', {}],
    ['from: <A.B@Example.ORG> SIZE=100 BODY=8BITMIME', 'FROM', 'A.B@example.org', { SIZE: '100', BODY: '8BITMIME' }],
    ['FROM:<>', 'FROM', '', {}],
    ['FROM:<> SMTPUTF8', 'FROM', '', { SMTPUTF8: null }],
    ['TO:<@relay.example,@b.example:user@c.example>', 'TO', 'user@c.example', {}],
    ['TO:<"odd > name"@example.org>', 'TO', '"odd > name"@example.org', {}],
    ['TO:<Postmaster>', 'TO', 'postmaster', {}],
    ['TO:<user@[192.0.2.1]>', 'TO', 'user@[192.0.2.1]', {}],
    ['TO:<user@[IPv6:2001:db8::1]>', 'TO', 'user@[ipv6:2001:db8::1]', {}],
    ['TO:<josé@exämple.org>', 'TO', 'josé@exämple.org', {}],
  ];
  for (const [arg, kw, address, params] of ok) {
    const p = parsePathArg(arg, kw);
    assert.ok(!('error' in p), `${arg}: ${JSON.stringify(p)}`);
    assert.equal(p.address, address, arg);
    assert.deepEqual(Object.fromEntries(p.params), params, arg);
  }
  const bad: Array<[string, 'FROM' | 'TO']> = [
    ['FROM:a@b.example', 'FROM'], ['FROM <a@b>', 'FROM'], ['TO:<>', 'TO'], ['TO:<user>', 'TO'], ['TO:<a@b', 'TO'],
    ['TO:<a@b>garbage', 'TO'], ['TO:<a..b@example.org>', 'TO'], ['TO:<a@-bad-.example>', 'TO'],
    ['FROM:<a@b> SIZE=1 SIZE=2', 'FROM'], ['FROM:<a@b> =x', 'FROM'], ['TO:<a b@example.org>', 'TO'], ['TO:<"unterminated@example.org>', 'TO'],
  ];
  for (const [arg, kw] of bad) assert.ok('error' in parsePathArg(arg, kw), arg);
});

const decode = (input: string, limit = 1 << 20): { d: DotDecoder; used: number } => {
  const d = new DotDecoder(limit);
  return { d, used: d.feed(Buffer.from(input, 'latin1')) };
};

test('DATA decoder: dot-stuffing, the terminator, what follows it', () => {
  const cases: Array<[string, string | null, number]> = [
    ['.\r\n', '', 3],
    ['Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n', 'Subject: x\r\n\r\nbody\r\n', 23],
    ['..leading dot\r\n.\r\n', '.leading dot\r\n', 18],
    ['a\r\n...\r\n.\r\n', 'a\r\n..\r\n', 11],
    ['mid.dot.\r\n.\r\n', 'mid.dot.\r\n', 13],
    ['a\r\n.b\r\n.\r\n', 'a\r\nb\r\n', 10],
    ['no end yet\r\n', null, -1],
    ['a\r\n.\r', null, -1],
  ];
  for (const [input, body, used] of cases) {
    const { d, used: u } = decode(input);
    assert.equal(u, used, JSON.stringify(input));
    if (body !== null) assert.equal(d.body().toString('latin1'), body, JSON.stringify(input));
    assert.equal(d.bareLf, false);
  }
});

test('DATA decoder: smuggling forms never end the text, and bare LF is flagged', () => {
  for (const input of ['a\n.\nMAIL FROM:<x@y>\r\n', 'a\n.\r\nRCPT TO:<x@y>\r\n', 'a\r\n.\nb\r\n', 'a\r.\rb\r\n']) {
    const { d, used } = decode(input);
    assert.equal(used, -1, `${JSON.stringify(input)} must not end the DATA text`);
    if (input.includes('\n.') || input.includes('.\n')) assert.equal(d.bareLf, true, JSON.stringify(input));
  }
  const { d } = decode('line\r\nbare\nlf\r\n.\r\n');
  assert.equal(d.bareLf, true);
  const cr = decode('bare\rcr\r\n.\r\n');
  assert.equal(cr.d.bareLf, false, 'a bare CR is data');
  assert.equal(cr.d.body().toString('latin1'), 'bare\rcr\r\n');
});

test('DATA decoder: every split of the input into two chunks gives the same result', () => {
  const input = Buffer.from('Subject: s\r\n\r\n..x\r\ny.\r\n.z\r\n\r\n.\r\nNOOP\r\n', 'latin1');
  const whole = new DotDecoder(1 << 20);
  const end = whole.feed(input);
  const expect = whole.body().toString('latin1');
  for (let cut = 0; cut <= input.length; cut++) {
    const d = new DotDecoder(1 << 20);
    const a = d.feed(input.subarray(0, cut));
    const used = a >= 0 ? a : cut + d.feed(input.subarray(cut));
    assert.equal(used, end, `cut at ${cut}`);
    assert.equal(d.body().toString('latin1'), expect, `cut at ${cut}`);
  }
});

/** The rules written the slow way, byte by byte, to check the decoder against. */
function reference(input: Buffer): { used: number; body: string; bareLf: boolean } {
  let out = '';
  let bareLf = false;
  let lineStart = true; // after CRLF (or at the start)
  for (let i = 0; i < input.length;) {
    if (lineStart && input[i] === 46 && input[i + 1] === 13 && input[i + 2] === 10) return { used: i + 3, body: out, bareLf };
    if (lineStart && input[i] === 46) i++; // stuffing
    lineStart = false;
    while (i < input.length) {
      const c = input[i++]!;
      if (c === 13 && input[i] === 10) {
        out += '\r\n';
        i++;
        lineStart = true;
        break;
      }
      out += String.fromCharCode(c);
      if (c === 10) {
        bareLf = true;
        break; // the next line starts after a bare LF: no dot handling there
      }
    }
  }
  return { used: -1, body: out, bareLf };
}

test('DATA decoder: random inputs in random chunks agree with the byte-by-byte rules', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = [97, 46, 13, 10, 98];
  for (let round = 0; round < 3000; round++) {
    const input = Buffer.from(Array.from({ length: rnd(40) }, () => alphabet[rnd(alphabet.length)]!));
    const want = reference(input);
    const d = new DotDecoder(1 << 20);
    let used = -1;
    for (let at = 0; at < input.length && used < 0;) {
      const len = 1 + rnd(6);
      const u = d.feed(input.subarray(at, at + len));
      if (u >= 0) used = at + u;
      at += len;
    }
    assert.equal(used, want.used, JSON.stringify(input.toString('latin1')));
    if (used >= 0) {
      assert.equal(d.body().toString('latin1'), want.body, JSON.stringify(input.toString('latin1')));
      assert.equal(d.bareLf, want.bareLf, JSON.stringify(input.toString('latin1')));
    }
  }
});

test('DATA decoder and BDAT collector: past the cap nothing more is kept, the end is still found', () => {
  const big = `${'x'.repeat(5000)}\r\n`.repeat(10);
  const { d, used } = decode(`${big}.\r\nQUIT\r\n`, 20_000);
  assert.equal(used, big.length + 3);
  assert.equal(d.overflow, true);
  assert.ok(d.size <= 20_000);
  const c = new ChunkCollector(10);
  c.add(Buffer.from('12345'));
  assert.equal(c.overflow, false);
  c.add(Buffer.from('678901'));
  assert.equal(c.overflow, true);
  assert.equal(c.size, 5);
});

test('DATA decoder and BDAT collector: scratch buffers are reused, never shared with a text already taken', () => {
  const texts = ['a\r\n', 'x'.repeat(16384 - 2) + '\r\n', 'y'.repeat(40_000) + '\r\n', 'b\r\n'];
  const taken: Array<[Buffer, string]> = [];
  for (let round = 0; round < 3; round++) {
    for (const t of texts) {
      const { d, used } = decode(`${t}.\r\n`);
      assert.equal(used, t.length + 3);
      const body = d.body();
      assert.equal(d.body(), body); // taken twice: the same buffer
      taken.push([body, t]);
      const c = new ChunkCollector(1 << 20);
      c.add(Buffer.from(t));
      taken.push([c.body(), t]);
    }
  }
  for (const [body, t] of taken) assert.equal(body.toString('latin1'), t); // none overwritten by a later message
});

test('Received: fields are counted in the header section only', () => {
  assert.equal(countReceived(Buffer.from('Received: a\r\nreceived: b\r\n\tfolded\r\nRECEIVED:c\r\nSubject: x\r\n\r\nReceived: in body\r\n')), 3);
  assert.equal(countReceived(Buffer.from('Subject: none\r\n\r\n')), 0);
  assert.equal(countReceived(Buffer.from('X-Received: no\r\n\r\n')), 0);
});

const env = (o: Partial<QueueEnvelope> = {}): QueueEnvelope => ({
  from: 'bob@remote.example', rcpts: [{ to: 'ann@example.org', account: 'ann@example.org' }], receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  helo: 'client.example', ip: '::ffff:192.0.2.7', by: 'mx.example.org', with: 'ESMTPSA', tls: 'TLSv1.3 with cipher TLS_AES_256_GCM_SHA384', auth: 'bob@example.org',
  body: '8BITMIME', utf8: false, ...o,
});

test('the delivery prefix: Return-Path and Received with TLS and the RFC 3848 with-type', () => {
  assert.equal(deliveryPrefix('ID123', env()), [
    'Return-Path: <bob@remote.example>',
    'Received: from client.example ([192.0.2.7])',
    '\tby mx.example.org (Postern) with ESMTPSA id ID123',
    '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)',
    '\tfor <ann@example.org>; Fri, 02 Jan 2026 03:04:05 +0000',
    '',
  ].join('\r\n'));
  const two = deliveryPrefix('X', env({ rcpts: [{ to: 'a@x', account: 'a@x' }, { to: 'b@x', account: 'b@x' }], tls: null, helo: 'evil\r\nX-Injected: 1 (c)' }));
  assert.ok(!two.includes('for <'), 'no recipient is named when there are several');
  assert.ok(!/\r\nX-Injected/.test(two), 'client text cannot inject a header');
  assert.equal(two.split('\r\n').length, 4);
  assert.equal(deliveryPrefix('X', env()), deliveryPrefix('X', env()), 'a pure function of the entry');
  assert.equal(ipLiteral('2001:db8::1'), '[IPv6:2001:db8::1]');
  const types: Array<[boolean, boolean, boolean, boolean, string]> = [
    [false, false, false, false, 'SMTP'], [true, false, false, false, 'ESMTP'], [true, true, false, false, 'ESMTPS'],
    [true, false, true, false, 'ESMTPA'], [true, true, true, false, 'ESMTPSA'], [true, true, true, true, 'UTF8SMTPSA'],
  ];
  for (const [e, s, a, u, want] of types) assert.equal(withType(e, s, a, u), want);
});

test('MIME summary: nested multiparts, attachments, message/rfc822', () => {
  const msg = [
    'Message-ID: <m1@example.org>', 'Subject: parts', 'Content-Type: multipart/mixed; boundary="outer"', '',
    'preamble', '--outer', 'Content-Type: multipart/alternative; boundary=inner', '',
    '--inner', 'Content-Type: text/plain', '', 'plain', '--inner', 'Content-Type: text/html', '', '<p>html</p>', '--inner--',
    '--outer', 'Content-Type: application/pdf; name="a.pdf"', 'Content-Disposition: attachment', '', 'JVBERi0=',
    '--outer', 'Content-Type: message/rfc822', '', 'Subject: inner', '', 'inner body',
    '--outer--', 'epilogue', '',
  ].join('\r\n');
  const s = summarize(Buffer.from(msg));
  assert.deepEqual(s, { messageId: '<m1@example.org>', subject: 'parts', contentType: 'multipart/mixed', headerFields: 3, parts: 4, attachments: 1, depth: 2 });
  const plain = summarize(Buffer.from('Subject: x\r\n\r\nhello\r\n'));
  assert.equal(plain.parts, 1);
  assert.equal(plain.contentType, 'text/plain');
  const junk = summarize(Buffer.from('\x00\xff no header at all'));
  assert.equal(junk.parts, 1);
});

test('retry schedule: 5 min doubling, capped at 8 h', () => {
  const p = { baseMs: 300_000, maxMs: 28_800_000, maxRetries: 20 };
  const mins = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryDelay(p, n) / 60_000);
  assert.deepEqual(mins, [5, 10, 20, 40, 80, 160, 320, 480, 480]);
});

test('delivery at receipt: up to processing\'s poolMessageSize when processing is among the services, else never', () => {
  const at = (services: string, extra = ''): number => {
    const r = loadConfig(`Server { primaryDomain = "example.org" services = (${services}) ${extra} }`, 't').resolved;
    const svc = r.serviceOptions.smtpIncoming;
    return smtpOptions(svc, svc.listeners[0]!).o.atReceiptBytes;
  };
  assert.equal(at('smtpIncoming processing'), 64 * 1024, 'the default poolMessageSize');
  assert.equal(at('smtp'), 64 * 1024, '`smtp` includes processing');
  assert.equal(at('smtpIncoming processing', 'processing = { poolMessageSize = 8 }'), 8 * 1024);
  assert.equal(at('smtpIncoming processing', 'processing = { poolMessageSize = 0 }'), 0, '0: every message parsed on the pool, so every message queued');
  assert.equal(at('smtpIncoming'), 0, 'no processing here: every message waits in the queue');
});
