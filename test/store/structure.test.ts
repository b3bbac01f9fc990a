/**
 * test/store/structure.test.ts: the MIME structure the store keeps with each message
 * (src/store/structure.ts): parsed once at append, written in the APPEND record, read back by
 * `fetchStructure` after a restart (from the checkpoint, and replayed from the log alone), moved
 * with its body by compaction and carried by copies; a message stored before structures were
 * is parsed on first request and cached; a hostile message gets a bounded, flagged structure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { openStore, withAccount } from './helpers.ts';
import { encodeAppend } from '../../src/store/record.ts';
import { STRUCTURE_LIMITS, decodeStructure, encodeStructure, parseStructure, type BodyPart } from '../../src/store/structure.ts';
import type { Store } from '../../src/store/store.ts';

const CRLF = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');

const simple = CRLF(`From: Ann Example <ann@example.org>
To: bob@example.org, "Carl, Jr." <carl@x.org>
Subject: Hello
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <a1@example.org>

line one
line two
`);

const alternative = CRLF(`From: ann@example.org
Subject: Alt
Content-Type: multipart/alternative; boundary="alt-1"

--alt-1
Content-Type: text/plain; charset=utf-8

plain
--alt-1
Content-Type: text/html; charset=utf-8

<p>html</p>
--alt-1--
`);

const nested = CRLF(`From: ann@example.org
Subject: Report
Content-Type: multipart/mixed; boundary=outer

preamble
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

see attached
--inner
Content-Type: text/html

<b>see attached</b>
--inner--
--outer
Content-Type: application/pdf; name="r.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="report 2024.pdf"
Content-ID: <pdf1@x>
Content-Description: the report
Content-Language: en, de

JVBERi0xLjQK
JVBERi0xLjQK
--outer--
epilogue
`);

const forwarded = CRLF(`From: ann@example.org
Subject: Fwd: inner
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain

see below
--b1
Content-Type: message/rfc822

From: Dan <dan@remote.example>
To: ann@example.org
Cc: undisclosed-recipients:;
Subject: inner
In-Reply-To: <x0@remote.example>
Message-ID: <x1@remote.example>
Content-Type: multipart/alternative; boundary=b2

--b2
Content-Type: text/plain

inner text
--b2
Content-Type: text/html

<i>inner</i>
--b2--
--b1--
`);

const encoded = CRLF(`From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>
To: =?UTF-8?B?w4lsb2TDrWU=?= <elodie@example.fr>
Subject: Re: =?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?=
Date: Tue, 2 Jan 2024 11:00:00 +0100
References: <r1@x> <r2@x>

hallo
`);

/** 100 levels of multipart nesting, then 10,000 parts. */
function hostile(): Buffer {
  let s = 'From: x@example.org\nSubject: bomb\nContent-Type: multipart/mixed; boundary=root\n\n--root\n';
  let chain = '';
  for (let i = 0; i < 100; i++) chain += `Content-Type: multipart/mixed; boundary=d${i}\n\n--d${i}\n`;
  chain += 'Content-Type: text/plain\n\ndeep\n';
  for (let i = 99; i >= 0; i--) chain += `--d${i}--\n`;
  s += chain;
  for (let i = 0; i < 10_000; i++) s += `--root\nContent-Type: text/plain\n\n${i}\n`;
  return CRLF(`${s}--root--\n`);
}

const MESSAGES: Array<[string, Buffer]> = [['simple', simple], ['alternative', alternative], ['nested', nested], ['forwarded', forwarded], ['encoded', encoded], ['hostile', hostile()]];

async function appendAll(store: Store): Promise<number[]> {
  const mb = store.mailbox('ann');
  const uids: number[] = [];
  for (const [, body] of MESSAGES) uids.push((await mb.append('INBOX', body)).uid);
  return uids;
}

function leafs(p: BodyPart): BodyPart[] {
  if (p.message !== null) return leafs(p.message.body);
  return p.parts.length === 0 ? [p] : p.parts.flatMap(leafs);
}

function checkShapes(got: Map<string, ReturnType<typeof parseStructure>>): void {
  const s = got.get('simple')!;
  assert.deepEqual([s.body.type, s.body.subtype, s.body.lines, s.body.size, s.body.encoding], ['text', 'plain', 2, 20, '7bit']);
  assert.deepEqual(s.envelope.from, [{ name: 'Ann Example', adl: null, mailbox: 'ann', host: 'example.org' }]);
  assert.deepEqual(s.envelope.sender, s.envelope.from, 'sender and reply-to default to from (RFC 9051)');
  assert.deepEqual(s.envelope.to?.map((a) => [a.name, a.mailbox, a.host]), [[null, 'bob', 'example.org'], ['Carl, Jr.', 'carl', 'x.org']]);
  assert.equal(s.envelope.messageId, '<a1@example.org>');
  assert.equal(s.sort.date, Date.UTC(2024, 0, 1, 10));
  assert.equal(s.sort.from, 'ann@example.org');
  assert.equal(s.truncated, false);

  const a = got.get('alternative')!;
  assert.deepEqual([a.body.type, a.body.subtype, a.body.parts.map((p) => `${p.type}/${p.subtype}`)], ['multipart', 'alternative', ['text/plain', 'text/html']]);
  assert.deepEqual(a.body.parts[0]!.params, [['charset', 'utf-8']]);
  assert.equal(alternative.subarray(a.body.parts[1]!.bodyStart, a.body.parts[1]!.end).toString(), '<p>html</p>', 'part offsets address the part in the stored bytes');

  const n = got.get('nested')!;
  assert.deepEqual(n.body.parts.map((p) => `${p.type}/${p.subtype}`), ['multipart/alternative', 'application/pdf']);
  const pdf = n.body.parts[1]!;
  assert.deepEqual(pdf.disposition, { type: 'attachment', params: [['filename', 'report 2024.pdf']] });
  assert.deepEqual([pdf.encoding, pdf.id, pdf.description, pdf.language, pdf.size, pdf.lines], ['base64', '<pdf1@x>', 'the report', ['en', 'de'], 26, null]);
  assert.deepEqual(pdf.params, [['name', 'r.pdf']]);

  const f = got.get('forwarded')!;
  const msg = f.body.parts[1]!;
  assert.deepEqual([msg.type, msg.subtype], ['message', 'rfc822']);
  assert.ok(msg.message !== null && msg.lines !== null && msg.lines > 0);
  assert.equal(msg.message.envelope.subject, 'inner');
  assert.equal(msg.message.envelope.inReplyTo, '<x0@remote.example>');
  assert.deepEqual(msg.message.envelope.from, [{ name: 'Dan', adl: null, mailbox: 'dan', host: 'remote.example' }]);
  assert.deepEqual(msg.message.envelope.cc, [{ name: null, adl: null, mailbox: 'undisclosed-recipients', host: null }, { name: null, adl: null, mailbox: null, host: null }], 'an empty group');
  assert.deepEqual(msg.message.body.parts.map((p) => p.subtype), ['plain', 'html']);
  assert.equal(f.sort.subject, 'inner', 'base subject without Fwd:');

  const e = got.get('encoded')!;
  assert.equal(e.envelope.subject, 'Re: =?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_K=C3=B6ln?=', 'ENVELOPE keeps the raw field');
  assert.equal(e.sort.subject, 'grüße aus köln', 'the sort key is decoded, without Re:');
  assert.equal(e.sort.displayFrom, 'jörg müller');
  assert.equal(e.envelope.from?.[0]?.name, '=?ISO-8859-1?Q?J=F6rg_M=FCller?=');
  assert.equal(e.fields.references, '<r1@x> <r2@x>');

  const h = got.get('hostile')!;
  assert.equal(h.truncated, true);
  assert.ok(h.parts <= STRUCTURE_LIMITS.maxParts, `parts ${h.parts}`);
  assert.ok(h.depth <= STRUCTURE_LIMITS.maxDepth, `depth ${h.depth}`);
  assert.ok(encodeStructure(h).length <= STRUCTURE_LIMITS.maxBytes + 4);
  assert.ok(leafs(h.body).length > 100, 'the parts before the bound are kept');
}

test('structures round-trip: append → restart (checkpoint, then log replay alone) → fetchStructure, read from the records, never parsed again', async () => {
  const { store, dataDir } = await withAccount();
  const uids = await appendAll(store);
  assert.deepEqual(store.stats().structures, { given: 0, parsedOnAppend: MESSAGES.length, parsedOnRead: 0, readStored: 0 });
  const expect = MESSAGES.map(([, b]) => decodeStructure(encodeStructure(parseStructure(b))));
  const live = await store.mailbox('ann').fetchStructure('INBOX', [...uids].reverse());
  assert.deepEqual(live.map((x) => x.uid), uids, 'ascending by uid');
  assert.deepEqual(live.map((x) => x.structure), expect);
  checkShapes(new Map(MESSAGES.map(([name], i) => [name, live[i]!.structure])));
  await store.close();

  for (const mode of ['checkpoint', 'replay'] as const) {
    if (mode === 'replay') for (const d of fs.readdirSync(path.join(dataDir, 'store', 'shards'))) fs.rmSync(path.join(dataDir, 'store', 'shards', d, 'checkpoint.mpk'), { force: true });
    const again = (await openStore(dataDir)).store;
    const got = await again.mailbox('ann').fetchStructure('INBOX', [...uids, 999]);
    assert.deepEqual(got.map((x) => x.structure), expect, mode);
    assert.deepEqual(again.stats().structures, { given: 0, parsedOnAppend: 0, parsedOnRead: 0, readStored: MESSAGES.length }, `${mode}: read, not parsed`);
    // the bodies are unchanged: the structure sits beside them, not in them
    for (const [i, uid] of uids.entries()) assert.ok(Buffer.from((await again.mailbox('ann').fetch('INBOX', uid)).body).equals(MESSAGES[i]![1]));
    await again.close();
  }
});

test('copies carry the structure and compaction moves it with the body', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  await mb.createFolder('Keep');
  const a = await mb.append('INBOX', nested);
  await mb.append('INBOX', Buffer.alloc(4096, 'x'));
  const { map } = await mb.copy('INBOX', [a.uid], 'Keep');
  const before = (await mb.list('Keep'))[0]!.locator;
  await mb.expunge('INBOX', { uids: [a.uid, a.uid + 1] });
  const r = await store.compact();
  assert.ok(r.segmentsRemoved >= 1, 'the old segment went');
  const after = (await mb.list('Keep'))[0]!.locator;
  assert.notEqual(`${after.path}:${after.offset}`, `${before.path}:${before.offset}`, 'the body moved');
  const [got] = await mb.fetchStructure('Keep', [map[0]![1]]);
  assert.deepEqual(got!.structure, parseStructure(nested));
  await store.close();
  const again = (await openStore(dataDir)).store;
  assert.deepEqual((await again.mailbox('ann').fetchStructure('Keep', [map[0]![1]]))[0]!.structure, parseStructure(nested));
  assert.equal(again.stats().structures.readStored, 1);
  assert.equal(again.stats().structures.parsedOnRead, 0);
  await again.close();
});

test('a message stored before structures were is parsed on first request, then served from the cache', async () => {
  const { store, dataDir } = await withAccount();
  const account = store.directory.resolve('ann');
  const { core } = await store.openMailbox(account);
  const inbox = core.folder('INBOX');
  await store.close();
  // an APPEND record as the store wrote them before: no structure between meta and body
  const dir = path.join(dataDir, 'store', 'shards', String(account.shard));
  const seg = fs.readdirSync(dir).filter((n) => n.startsWith('seg-')).sort().at(-1)!;
  const rec = encodeAppend({ a: account.id, f: inbox.id, u: 1, m: 2, fl: 0, d: Date.now(), c: crc32(forwarded) }, forwarded);
  fs.appendFileSync(path.join(dir, seg), Buffer.concat(rec.bufs));
  const again = (await openStore(dataDir)).store;
  const mb = again.mailbox('ann');
  assert.deepEqual((await mb.fetchStructure('INBOX', [1]))[0]!.structure, parseStructure(forwarded));
  assert.deepEqual((await mb.fetchStructure('INBOX', [1]))[0]!.structure, parseStructure(forwarded));
  assert.deepEqual(again.stats().structures, { given: 0, parsedOnAppend: 0, parsedOnRead: 1, readStored: 0 }, 'parsed once');
  await again.close();
});

test('an append that brings its structure is not parsed by the store; one that does not match the body is ignored', async () => {
  const { store } = await withAccount();
  const mb = store.mailbox('ann');
  const a = await mb.append('INBOX', simple, { structure: parseStructure(simple) });
  const b = await mb.append('INBOX', alternative, { structure: parseStructure(simple) }); // not this body's
  assert.deepEqual(store.stats().structures, { given: 1, parsedOnAppend: 1, parsedOnRead: 0, readStored: 0 });
  const got = await mb.fetchStructure('INBOX', [a.uid, b.uid]);
  assert.deepEqual(got.map((x) => x.structure), [parseStructure(simple), parseStructure(alternative)]);
  await store.close();
});
