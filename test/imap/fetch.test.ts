/**
 * test/imap/fetch.test.ts: the FETCH renderer (src/protocols/imap/fetch.ts) over the corpus of
 * fetch-corpus.ts, with exact expected responses. The ENVELOPE / BODYSTRUCTURE / BODY[…] strings
 * are Dovecot 2.3's answers for the same messages where the two agree (fetch-dovecot.test.ts
 * compares the whole corpus live); where they differ (a few quoting choices, NIL for a missing
 * part, literal8 only for NUL) the expected string is ours and the difference is named there.
 * Also: part numbering (RFC 9051 §6.4.5), partials at and past the end, HEADER.FIELDS(.NOT)
 * case-insensitivity, BINARY decoding (base64, quoted-printable, multipart), UNKNOWN-CTE, the
 * UID / MODSEQ / FLAGS rules, UTF8=ACCEPT quoting, NUL bytes, and what a FETCH must load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStructure, encodeStructure, parseStructure, shiftStructure } from '../../src/store/structure.ts';
import { fetchNeeds, renderFetch, setsSeen, type FetchError, type FetchOptions } from '../../src/protocols/imap/fetch.ts';
import type { ByteRange, FetchItem, Section } from '../../src/protocols/imap/types.ts';
import type { MessageMeta } from '../../src/store/types.ts';
import { CORPUS, crlf } from './fetch-corpus.ts';

const meta = (body: Buffer, over: Partial<MessageMeta> = {}): MessageMeta => ({
  uid: 42,
  modseq: 7,
  flags: ['\\Seen', '$Label1'],
  internalDate: Date.UTC(2024, 0, 2, 3, 4, 5),
  size: body.length,
  locator: { path: 'x', offset: 0, length: body.length, crc: 0 },
  ...over,
});

const NO_OPTS: FetchOptions = { uid: false, modseq: false, utf8: false };

function render(msg: string | Buffer, items: FetchItem[], o: Partial<FetchOptions> = {}, structure = true): Buffer | FetchError {
  const body = typeof msg === 'string' ? CORPUS[msg]! : msg;
  return renderFetch({ seq: 3, meta: meta(body), structure: structure ? parseStructure(body) : null, body }, items, { ...NO_OPTS, ...o });
}

/** The response as latin1 text (bytes as characters). */
function fetch(msg: string | Buffer, items: FetchItem[], o: Partial<FetchOptions> = {}, structure = true): string {
  const r = render(msg, items, o, structure);
  assert.ok(Buffer.isBuffer(r), `not an error: ${JSON.stringify(r)}`);
  return r.toString('latin1');
}

/** "1.2.HEADER.FIELDS (A B)" → Section. */
function sec(spec: string): Section {
  const m = /^(.*?)(?: \((.*)\))?$/.exec(spec)!;
  const toks = m[1] === '' ? [] : m[1]!.split('.');
  const part: number[] = [];
  while (toks.length > 0 && /^\d+$/.test(toks[0]!)) part.push(Number(toks.shift()));
  const text = toks.length === 0 ? null : (toks.join('.') as Section['text']);
  return { part, text, fields: m[2]?.split(' ') ?? [] };
}

const body = (spec: string, partial: ByteRange | null = null, peek = true): FetchItem => ({ k: 'BODY[]', section: sec(spec), peek, partial });
const binary = (part: number[], partial: ByteRange | null = null): FetchItem => ({ k: 'BINARY', part, peek: true, partial });
const one = (k: 'FLAGS' | 'UID' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT'): FetchItem => ({ k });

test('plain text: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY, as Dovecot (but for a quoted name, see the differences)', () => {
  assert.equal(
    fetch('plain', [one('FLAGS'), one('INTERNALDATE'), one('RFC822.SIZE'), one('ENVELOPE'), one('BODYSTRUCTURE'), one('BODY')]),
    '* 3 FETCH (FLAGS (\\Seen $Label1) INTERNALDATE "02-Jan-2024 03:04:05 +0000" RFC822.SIZE 274 ' +
      'ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "Hello there" (("Ann Example" NIL "ann" "example.org")) (("Ann Example" NIL "ann" "example.org")) (("Ann Example" NIL "ann" "example.org")) ' +
      '((NIL NIL "bob" "example.org")("Carl, Jr." NIL "carl" "x.org")) (("Quote \\"Q\\" Back\\\\slash" NIL "q" "example.org")) NIL "<a0@example.org>" "<a1@example.org>") ' +
      'BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 2 NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 2))\r\n',
  );
});

test('multipart/alternative and multipart/mixed: BODYSTRUCTURE with extension data (md5, disposition, language, location) and BODY without', () => {
  assert.equal(
    fetch('alternative', [one('BODYSTRUCTURE'), one('BODY')]),
    '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 92 2 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 0 NIL NIL NIL NIL) "alternative" ("boundary" "alt-1") NIL NIL NIL) ' +
      'BODY (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 92 2)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 0) "alternative"))\r\n',
  );
  assert.equal(
    fetch('mixed', [one('BODYSTRUCTURE')]),
    '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii" "format" "flowed") NIL NIL "7bit" 13 0 NIL NIL ("en" "de") NIL)' +
      '("application" "pdf" ("name" "report.pdf") "<part2@example.org>" "The report" "base64" 34 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("attachment" ("filename" "report.pdf" "size" "12")) NIL "http://example.org/report.pdf")' +
      '("image" "png" NIL NIL NIL "base64" 12 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "==mix==" "report-type" "monthly") NIL NIL NIL))\r\n',
  );
  assert.equal(
    fetch('params2231', [one('BODY')]),
    '* 3 FETCH (BODY (("text" "plain" ("charset" "UTF-8" "format" "Flowed") NIL NIL "7bit" 7 0)("application" "octet-stream" ("name" "very long name.txt") NIL NIL "quoted-printable" 9) "mixed"))\r\n',
    'RFC 2231 continuations joined; names and types lower case (case-insensitive, RFC 2045 §5.1)',
  );
});

test('nested message/rfc822: BODYSTRUCTURE carries the inner envelope, body and lines; a multipart/digest part defaults to message/rfc822', () => {
  assert.equal(
    fetch('nested', [one('BODYSTRUCTURE')]),
    '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)' +
      '("message" "rfc822" NIL NIL NIL "7bit" 316 ("Wed, 3 Jan 2024 09:00:00 +0000" "the thread" (("Carl" NIL "carl" "x.org")) (("Carl" NIL "carl" "x.org")) (("Carl" NIL "carl" "x.org")) ((NIL NIL "ann" "example.org")) NIL NIL NIL "<inner@x.org>") ' +
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) 17 NIL ("attachment" NIL) NIL NIL)' +
      '("message" "rfc822" NIL NIL NIL "7bit" 52 (NIL "simple inner" ((NIL NIL "dave" "y.org")) ((NIL NIL "dave" "y.org")) ((NIL NIL "dave" "y.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) ' +
      '"mixed" ("boundary" "outer") NIL NIL NIL))\r\n',
  );
  assert.equal(
    fetch('digest', [one('BODY')]),
    '* 3 FETCH (BODY (("message" "rfc822" NIL NIL NIL "7bit" 44 (NIL "one" ((NIL NIL "one" "example.org")) ((NIL NIL "one" "example.org")) ((NIL NIL "one" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0) 3)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 13 0) "digest"))\r\n',
  );
  assert.equal(
    fetch('topRfc822', [one('BODY')]),
    '* 3 FETCH (BODY ("message" "rfc822" NIL NIL NIL "7bit" 59 (NIL "wrapped" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 1) 4))\r\n',
  );
});

test('ENVELOPE: groups (start and end markers), an empty group, a comment as the name, encoded words kept raw, a missing domain', () => {
  assert.equal(
    fetch('groups', [one('ENVELOPE')]),
    '* 3 FETCH (ENVELOPE ("Fri, 5 Jan 2024 14:00:00 +0000" "groups" (("Ann" NIL "ann" "example.org")) ((NIL NIL "secretary" "example.org")) ((NIL NIL "replies" "example.org")) ' +
      '((NIL NIL "Friends" NIL)(NIL NIL "bob" "example.org")("Carl" NIL "carl" "x.org")(NIL NIL NIL NIL)(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ' +
      '((NIL NIL "nodomain" "")("Ann in a comment" NIL "ann" "example.org")) (("=?UTF-8?B?SsO8cmdlbg==?=" NIL "j" "example.org")) NIL NIL))\r\n',
  );
  assert.equal(
    fetch('alternative', [one('ENVELOPE')]),
    '* 3 FETCH (ENVELOPE ("Tue, 2 Jan 2024 11:00:00 +0100" "=?UTF-8?Q?Caf=C3=A9?= and =?ISO-8859-1?B?Q2Fm6Q==?=" ((NIL NIL "ann" "example.org")) ((NIL NIL "ann" "example.org")) ((NIL NIL "ann" "example.org")) ((NIL NIL "bob" "example.org")) NIL NIL NIL NIL))\r\n',
  );
  assert.equal(
    fetch('folded', [one('ENVELOPE')]),
    '* 3 FETCH (ENVELOPE ("Sun, 7 Jan 2024 16:00:00 +0000" "a long subject that goes on and on across a folded line, and another" ((NIL NIL "ann" "example.org")) ((NIL NIL "ann" "example.org")) ((NIL NIL "ann" "example.org")) NIL NIL NIL NIL NIL))\r\n',
    'a folded subject unfolded, its white space runs as one space',
  );
});

test('ENVELOPE: an empty name and subject, a source route (adl), parentheses inside a quoted name, a comment after the address, a folded In-Reply-To unfolded (only the line break removed)', () => {
  assert.equal(
    fetch('oddAddresses', [one('ENVELOPE')]),
    '* 3 FETCH (ENVELOPE ("Mon, 8 Jan 2024 17:00:00 +0000 (UTC)" "" ((NIL NIL "empty" "example.org")) ((NIL NIL "empty" "example.org")) (("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=" NIL "g" "example.org")) ' +
      '((NIL "@route1,@route2" "routed" "example.org")(NIL NIL "trailing" "example.org")) (("Ann (not a comment)" NIL "ann" "example.org")("Bob Smith" NIL "bob" "example.org")) NIL "<a@example.org>\t<b@example.org>" "<id with spaces@example.org>"))\r\n',
  );
});

test('8-bit header bytes go as literals; under UTF8=ACCEPT valid UTF-8 goes quoted, other 8-bit bytes still as literals', () => {
  const latin = '* 3 FETCH (ENVELOPE ("Sat, 6 Jan 2024 15:00:00 +0000" ';
  const rest = '(({6}\r\nJ\xfcrgen NIL "j" "example.org")) (({6}\r\nJ\xfcrgen NIL "j" "example.org")) (({6}\r\nJ\xfcrgen NIL "j" "example.org")) (("=?ISO-8859-1?Q?Andr=E9?=" NIL "andre" "example.org")) NIL NIL NIL NIL))\r\n';
  const subject = 'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln';
  assert.equal(fetch('eightBit', [one('ENVELOPE')]), `${latin}{17}\r\n${subject} ${rest}`);
  assert.equal(fetch('eightBit', [one('ENVELOPE')], { utf8: true }), `${latin}"${subject}" ${rest}`);
});

test('BODYSTRUCTURE strings: a raw 8-bit parameter as a literal (quoted under UTF8=ACCEPT), a description with quotes and backslashes escaped', () => {
  const head = '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL "\\"quoted\\" \\\\ description" "7bit" 1 0 NIL ("attachment" ("filename" ';
  const tail = ')) NIL NIL) "mixed" ("boundary" "e") NIL NIL NIL))\r\n';
  assert.equal(fetch('eightBitParams', [one('BODYSTRUCTURE')]), `${head}{11}\r\nGr\xc3\xbc\xc3\x9fe.txt${tail}`);
  assert.equal(fetch('eightBitParams', [one('BODYSTRUCTURE')], { utf8: true }), `${head}"Gr\xc3\xbc\xc3\x9fe.txt"${tail}`);
});

test('missing headers and malformed MIME: NIL envelope fields, text/plain us-ascii by default, a multipart without boundary or without its close', () => {
  assert.equal(
    fetch('noHeaders', [one('ENVELOPE'), one('BODYSTRUCTURE'), body('HEADER'), body('TEXT')]),
    '* 3 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 31 1 NIL NIL NIL NIL) BODY[HEADER] {2}\r\n\r\n BODY[TEXT] {31}\r\nonly a body, no header at all\r\n)\r\n',
  );
  assert.equal(fetch('headerOnly', [body('TEXT'), body('HEADER')]), '* 3 FETCH (BODY[TEXT] {0}\r\n BODY[HEADER] {41}\r\nFrom: ann@example.org\r\nSubject: no body\r\n)\r\n');
  assert.equal(
    fetch('malformed', [one('BODYSTRUCTURE'), body('1'), body('TEXT')]),
    '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" NIL NIL NIL NIL) BODY[1] NIL BODY[TEXT] {30}\r\nno boundary parameter at all\r\n)\r\n',
    'a multipart without a boundary has no parts (an empty text/plain stands in, as Dovecot)',
  );
  assert.equal(
    fetch('noClose', [one('BODY'), body('2')]),
    '* 3 FETCH (BODY (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 23 1) "mixed") BODY[2] {23}\r\npart two never closed\r\n)\r\n',
    'the last part of an unclosed multipart keeps its final line break',
  );
});

test('part numbering (RFC 9051 §6.4.5): parts of a multipart, inside a message/rfc822, MIME, HEADER/TEXT of a message part; a non-multipart has only part 1', () => {
  const cases: Array<[string, string | null]> = [
    ['1', 'Forwarding.'],
    ['1.1', 'Forwarding.'], // part 1 of a non-multipart leaf is itself (as Dovecot)
    ['1.MIME', 'Content-Type: text/plain\r\n\r\n'],
    ['2.HEADER', 'From: Carl <carl@x.org>\r\nTo: ann@example.org\r\nSubject: the thread\r\nDate: Wed, 3 Jan 2024 09:00:00 +0000\r\nMessage-ID: <inner@x.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n'],
    ['2.TEXT', '--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--inner--\r\n'],
    ['2.MIME', 'Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n'],
    ['2.1', 'inner text'],
    ['2.2', '<b>inner</b>'],
    ['2.2.MIME', 'Content-Type: text/html\r\n\r\n'],
    ['3.1', 'just text'], // a message part whose message is not multipart: 3.1 is its body
    ['3.TEXT', 'just text'],
    ['3.HEADER.FIELDS (SUBJECT)', 'Subject: simple inner\r\n\r\n'],
    ['4', null],
    ['1.2', null],
    ['1.HEADER', null], // HEADER of a part that is not message/rfc822
    ['1.1.1', null],
    ['2.3', null],
    ['0', null],
  ];
  for (const [spec, want] of cases) {
    const expect = want === null ? 'NIL' : `{${Buffer.byteLength(want, 'latin1')}}\r\n${want}`;
    assert.equal(fetch('nested', [body(spec)]), `* 3 FETCH (BODY[${spec}] ${expect})\r\n`, spec);
  }
  const plain = CORPUS.plain!;
  assert.equal(fetch('plain', [body('1')]), `* 3 FETCH (BODY[1] {20}\r\nline one\r\nline two\r\n)\r\n`, 'a non-multipart message: part 1 is its body');
  assert.equal(fetch('plain', [body('1.MIME')]), `* 3 FETCH (BODY[1.MIME] {254}\r\n${plain.toString('latin1', 0, 254)})\r\n`, "and its MIME header is the message's header");
  assert.equal(fetch('plain', [body('2')]), '* 3 FETCH (BODY[2] NIL)\r\n');
  assert.equal(fetch('topRfc822', [body('1.1'), body('1.HEADER.FIELDS (SUBJECT)')]), '* 3 FETCH (BODY[1.1] {14}\r\nwrapped body\r\n BODY[1.HEADER.FIELDS (SUBJECT)] {20}\r\nSubject: wrapped\r\n\r\n)\r\n');
});

test('partials: the origin is named, a range past the end is cut, one at or past the end is empty', () => {
  const m = CORPUS.plain!;
  assert.equal(fetch('plain', [body('', { offset: 0, length: 10 })]), `* 3 FETCH (BODY[]<0> {10}\r\n${m.toString('latin1', 0, 10)})\r\n`);
  assert.equal(fetch('plain', [body('', { offset: 10, length: 20 })]), `* 3 FETCH (BODY[]<10> {20}\r\n${m.toString('latin1', 10, 30)})\r\n`);
  assert.equal(fetch('plain', [body('', { offset: m.length - 4, length: 100 })]), `* 3 FETCH (BODY[]<${m.length - 4}> {4}\r\nwo\r\n)\r\n`, 'cut at the end');
  assert.equal(fetch('plain', [body('', { offset: m.length, length: 5 })]), `* 3 FETCH (BODY[]<${m.length}> {0}\r\n)\r\n`, 'at the end');
  assert.equal(fetch('plain', [body('', { offset: 100000, length: 5 })]), '* 3 FETCH (BODY[]<100000> {0}\r\n)\r\n', 'past the end');
  assert.equal(fetch('plain', [body('TEXT', { offset: 5, length: 3 })]), '* 3 FETCH (BODY[TEXT]<5> {3}\r\none)\r\n');
  assert.equal(fetch('plain', [body('TEXT', { offset: 5, length: 0 })]), '* 3 FETCH (BODY[TEXT]<5> {0}\r\n)\r\n');
  assert.equal(fetch('nested', [body('2.1', { offset: 6, length: 50 })]), '* 3 FETCH (BODY[2.1]<6> {4}\r\ntext)\r\n');
  assert.equal(fetch('plain', [body('HEADER.FIELDS (SUBJECT)', { offset: 9, length: 5 })]), '* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)]<9> {5}\r\nHello)\r\n');
  assert.equal(fetch('nested', [body('9', { offset: 0, length: 5 })]), '* 3 FETCH (BODY[9]<0> NIL)\r\n');
});

test('HEADER.FIELDS and HEADER.FIELDS.NOT: names matched case-insensitively, folded lines kept, the names echoed as given, the blank line last', () => {
  const m = crlf('SUBJECT: one\nsubject: two\n  folded\nX-Empty:\nFrom: a@b\nsUbJeCt : three\nTo: c@d\n\nbody\n');
  assert.equal(
    fetch(m, [body('HEADER.FIELDS (Subject X-EMPTY)')]),
    '* 3 FETCH (BODY[HEADER.FIELDS (Subject X-EMPTY)] {67}\r\nSUBJECT: one\r\nsubject: two\r\n  folded\r\nX-Empty:\r\nsUbJeCt : three\r\n\r\n)\r\n',
  );
  assert.equal(fetch(m, [body('HEADER.FIELDS.NOT (SUBJECT x-empty)')]), '* 3 FETCH (BODY[HEADER.FIELDS.NOT (SUBJECT x-empty)] {22}\r\nFrom: a@b\r\nTo: c@d\r\n\r\n)\r\n');
  assert.equal(fetch(m, [body('HEADER.FIELDS (X-NONE)')]), '* 3 FETCH (BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n)\r\n', 'nothing matched: the blank line alone');
  assert.equal(fetch('headerOnly', [body('HEADER.FIELDS.NOT (FROM SUBJECT)')]), '* 3 FETCH (BODY[HEADER.FIELDS.NOT (FROM SUBJECT)] {0}\r\n)\r\n', 'no blank line in the message: none added (as Dovecot)');
  assert.equal(fetch(Buffer.from('Subject: lf\nFrom: x\n\nbody\n', 'latin1'), [body('HEADER.FIELDS (SUBJECT)')]), '* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: lf\r\n\r\n)\r\n', 'bare LF lines sent with CRLF');
  assert.equal(fetch(m, [body('HEADER.FIELDS ("A B")'.replace('"A B"', 'A]B'))]), '* 3 FETCH (BODY[HEADER.FIELDS ("A]B")] {2}\r\n\r\n)\r\n', 'a name that is not an atom is quoted');
});

test('BINARY: base64 and quoted-printable decoded, 7bit as is, BINARY.SIZE, partials, literal8 only for NUL, a missing part', () => {
  assert.equal(fetch('mixed', [{ k: 'BINARY.SIZE', part: [2] }, binary([2])]), '* 3 FETCH (BINARY.SIZE[2] 23 BINARY[2] {23}\r\n%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n)\r\n');
  assert.equal(
    fetch('alternative', [binary([1]), { k: 'BINARY.SIZE', part: [1] }]),
    '* 3 FETCH (BINARY[1] {80}\r\nCaf\xc3\xa9 au lait, a long line that is wrapped by a soft line break here.\r\nTrailing  BINARY.SIZE[1] 80)\r\n',
    'soft line breaks joined, =XX decoded, trailing white space dropped',
  );
  assert.equal(fetch('alternative', [binary([2])]), '* 3 FETCH (BINARY[2] {18}\r\n<p>Caf&eacute;</p>)\r\n');
  assert.equal(fetch('alternative', [binary([1], { offset: 1, length: 3 })]), '* 3 FETCH (BINARY[1]<1> {3}\r\naf\xc3)\r\n');
  assert.equal(fetch('unknownCte', [binary([2]), binary([2], { offset: 3, length: 9 })]), '* 3 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\xff BINARY[2]<3> {1}\r\n\xff)\r\n', 'upper-case BASE64; ~{n} when a NUL is in the data');
  assert.equal(fetch('mixed', [binary([7]), { k: 'BINARY.SIZE', part: [7] }]), '* 3 FETCH (BINARY[7] NIL BINARY.SIZE[7] 0)\r\n');
  assert.equal(fetch('plain', [binary([1])]), '* 3 FETCH (BINARY[1] {20}\r\nline one\r\nline two\r\n)\r\n');
  assert.equal(fetch('plain', [binary([])]), `* 3 FETCH (BINARY[] {274}\r\n${CORPUS.plain!.toString('latin1')})\r\n`);
  const qp = crlf('Subject: q\nContent-Transfer-Encoding: quoted-printable\n\na=3Db=\n=3dc =ZZ =4\n');
  assert.equal(fetch(qp, [binary([1])]), '* 3 FETCH (BINARY[1] {14}\r\na=b=c =ZZ =4\r\n)\r\n', 'lower-case hex decoded; a broken escape kept as is');
});

test('BINARY of a multipart, a message part or the whole message: each leaf decoded and its header saying so (as Dovecot)', () => {
  const want =
    'This is a multi-part message in MIME format.\r\n--alt-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: binary\r\n\r\n' +
    'Caf\xc3\xa9 au lait, a long line that is wrapped by a soft line break here.\r\nTrailing \r\n--alt-1\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n<p>Caf&eacute;</p>\r\n--alt-1--\r\nepilogue\r\n';
  const head = CORPUS.alternative!.toString('latin1', 0, CORPUS.alternative!.indexOf('\r\n\r\n') + 4);
  assert.equal(fetch('alternative', [binary([])]), `* 3 FETCH (BINARY[] {${head.length + want.length}}\r\n${head}${want})\r\n`);
  const mixed = fetch('mixed', [binary([])]);
  assert.match(mixed, /Content-Location: http:\/\/example\.org\/report\.pdf\r\nContent-Transfer-Encoding: binary\r\n\r\n%PDF-1\.4\n/, 'the encoding field moved last, as binary');
  assert.doesNotMatch(mixed, /base64/);
  const top = crlf('Subject: b\nContent-Transfer-Encoding: base64\nX-After: 1\n\naGk=\n');
  assert.equal(fetch(top, [binary([]), binary([1])]), '* 3 FETCH (BINARY[] {63}\r\nSubject: b\r\nX-After: 1\r\nContent-Transfer-Encoding: binary\r\n\r\nhi BINARY[1] {2}\r\nhi)\r\n');
});

test('UNKNOWN-CTE: BINARY or BINARY.SIZE of a part (or of a tree holding one) in an encoding no decoder knows is an error for the caller to answer NO [UNKNOWN-CTE]', () => {
  for (const item of [binary([1]), { k: 'BINARY.SIZE', part: [1] } as FetchItem, binary([]), binary([1], { offset: 0, length: 1 })]) {
    const r = render('unknownCte', [one('UID'), item]);
    assert.ok(!Buffer.isBuffer(r));
    assert.equal(r.code, 'UNKNOWN-CTE');
    assert.match(r.text, /x-uuencode/);
  }
  assert.ok(Buffer.isBuffer(render('unknownCte', [body('1')])), 'BODY[] of the same part is fine');
});

test('UID, MODSEQ and FLAGS: UID first under UID FETCH, MODSEQ when CONDSTORE is on, FLAGS given after an implicit \\Seen, each once', () => {
  const m = CORPUS.plain!;
  assert.equal(fetch('plain', [one('FLAGS')], { uid: true }), '* 3 FETCH (UID 42 FLAGS (\\Seen $Label1))\r\n');
  assert.equal(fetch('plain', [one('FLAGS'), one('UID'), one('UID')]), '* 3 FETCH (UID 42 FLAGS (\\Seen $Label1))\r\n');
  assert.equal(fetch('plain', [one('RFC822.SIZE')], { uid: true, modseq: true }), '* 3 FETCH (UID 42 RFC822.SIZE 274 MODSEQ (7))\r\n');
  assert.equal(fetch('plain', [one('MODSEQ'), one('FLAGS')], { modseq: true }), '* 3 FETCH (MODSEQ (7) FLAGS (\\Seen $Label1))\r\n');
  assert.equal(fetch('plain', [one('MODSEQ')]), '* 3 FETCH (MODSEQ (7))\r\n', 'asked for without CONDSTORE on');
  assert.equal(
    fetch('plain', [body('TEXT', null, false)], { flags: ['\\Seen', '\\Recent'] }),
    '* 3 FETCH (BODY[TEXT] {20}\r\nline one\r\nline two\r\n FLAGS (\\Seen \\Recent))\r\n',
    'o.flags: FLAGS added',
  );
  assert.equal(fetch('plain', [one('FLAGS')], { flags: [] }), '* 3 FETCH (FLAGS ())\r\n', 'o.flags overrides meta.flags');
  const early = renderFetch({ seq: 1, meta: meta(m, { internalDate: Date.UTC(2009, 6, 5, 22, 9, 8) }), structure: null, body: null }, [one('INTERNALDATE')], NO_OPTS);
  assert.equal(early.toString(), '* 1 FETCH (INTERNALDATE "05-Jul-2009 22:09:08 +0000")\r\n');
});

test('RFC822, RFC822.HEADER, RFC822.TEXT named so; BODY[] and sections of the top level need only the bytes (no structure)', () => {
  const m = CORPUS.plain!;
  const split = m.indexOf('\r\n\r\n') + 4;
  assert.equal(
    fetch('plain', [one('RFC822.HEADER'), one('RFC822.TEXT'), one('RFC822')], {}, false),
    `* 3 FETCH (RFC822.HEADER {${split}}\r\n${m.toString('latin1', 0, split)} RFC822.TEXT {20}\r\nline one\r\nline two\r\n RFC822 {${m.length}}\r\n${m.toString('latin1')})\r\n`,
  );
  assert.equal(fetch('plain', [body('HEADER.FIELDS (TO)'), body('TEXT')], {}, false), '* 3 FETCH (BODY[HEADER.FIELDS (TO)] {49}\r\nTo: bob@example.org, "Carl, Jr." <carl@x.org>\r\n\r\n BODY[TEXT] {20}\r\nline one\r\nline two\r\n)\r\n');
  assert.equal(fetch('nested', [one('ENVELOPE'), body('2.1')], {}, false), fetch('nested', [one('ENVELOPE'), body('2.1')]), 'a structure not loaded is parsed from the bytes');
});

test('a NUL byte in BODY[] data is sent as 0x80 (a literal may not carry NUL), and the stored bytes are left alone', () => {
  const m = crlf('Subject: nul\n\na\x00b\n');
  const r = fetch(m, [body('TEXT')]);
  assert.equal(r, '* 3 FETCH (BODY[TEXT] {5}\r\na\x80b\r\n)\r\n');
  assert.equal(m.indexOf(0), m.length - 4);
});

test('the structure as stored (encoded, decoded, shifted by a delivery prefix) addresses the stored bytes', () => {
  const m = CORPUS.nested!;
  const prefix = Buffer.from('Return-Path: <a@b>\r\nReceived: from x by y\r\n', 'latin1');
  const stored = Buffer.concat([prefix, m]);
  const st = decodeStructure(encodeStructure(shiftStructure(parseStructure(m), prefix)))!;
  const items = [body('2.1'), body('3.HEADER'), body('1.MIME'), { k: 'BINARY.SIZE', part: [2, 2] } as FetchItem, one('BODYSTRUCTURE')];
  const got = renderFetch({ seq: 3, meta: meta(stored), structure: st, body: stored }, items, NO_OPTS);
  const fresh = renderFetch({ seq: 3, meta: meta(stored), structure: parseStructure(stored), body: stored }, items, NO_OPTS);
  assert.ok(Buffer.isBuffer(got) && Buffer.isBuffer(fresh));
  assert.equal(got.toString('latin1'), fresh.toString('latin1'));
});

test('fetchNeeds asks for the bytes only when an item needs them, for the structure only when one needs it; setsSeen', () => {
  const cases: Array<[FetchItem[], { structure: boolean; body: boolean }]> = [
    [[one('FLAGS'), one('UID'), one('INTERNALDATE'), one('RFC822.SIZE'), one('MODSEQ')], { structure: false, body: false }],
    [[one('FLAGS'), one('UID'), one('ENVELOPE')], { structure: true, body: false }],
    [[one('BODYSTRUCTURE')], { structure: true, body: false }],
    [[one('BODY')], { structure: true, body: false }],
    [[body('')], { structure: false, body: true }],
    [[body('HEADER.FIELDS (FROM)')], { structure: false, body: true }],
    [[one('RFC822.HEADER')], { structure: false, body: true }],
    [[body('1.2')], { structure: true, body: true }],
    [[{ k: 'BINARY.SIZE', part: [1] }], { structure: true, body: true }],
  ];
  for (const [items, want] of cases) assert.deepEqual(fetchNeeds(items), want, JSON.stringify(items));
  assert.equal(setsSeen([body('', null, true), binary([1]), one('RFC822.HEADER'), one('ENVELOPE')]), false);
  assert.equal(setsSeen([body('TEXT', null, false)]), true);
  assert.equal(setsSeen([{ k: 'BINARY', part: [1], peek: false, partial: null }]), true);
  assert.equal(setsSeen([one('RFC822')]), true);
  assert.equal(setsSeen([one('RFC822.TEXT')]), true);
});

test('structure: RFC 2231 continuations joined (an extended first segment keeps the charset form under name*)', () => {
  const m = crlf(`Content-Type: application/x; name*0*=utf-8''%E2%82; name*1*=%AC; title*1="b"; title*0="a"; plain=1\n\nx\n`);
  assert.equal(fetch(m, [one('BODY')]), `* 3 FETCH (BODY ("application" "x" ("name*" "utf-8''%E2%82%AC" "title" "ab" "plain" "1") NIL NIL "7bit" 3))\r\n`);
});

/** A check of our own output's syntax: strings, literals and parentheses balance, and it is one
 * `* n FETCH (…)` line ending in CRLF. */
function wellFormed(r: Buffer): void {
  let depth = 0;
  let i = 0;
  const s = r.toString('latin1');
  assert.ok(s.startsWith('* 3 FETCH ('), s.slice(0, 40));
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') {
      i++;
      while (s[i] !== '"') {
        assert.ok(i < s.length && s[i] !== '\r' && s[i] !== '\n', 'an unterminated quoted string');
        i += s[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '{') {
      const m = /^\{(\d+)\}\r\n/.exec(s.slice(i, i + 24));
      assert.ok(m !== null, `a literal at ${i}`);
      i += m[0].length + Number(m[1]);
    } else if (c === '\r') {
      assert.equal(depth, 0, 'line ends inside a list');
      assert.equal(s.slice(i), '\r\n');
      return;
    } else {
      if (c === '(') depth++;
      if (c === ')') depth--;
      assert.ok(depth >= 0);
      i++;
    }
  }
  assert.fail('no CRLF at the end');
}

test('random damage to the corpus: every item renders well-formed (or UNKNOWN-CTE), never throws (bounded loop, seeded)', () => {
  let seed = 13;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const names = Object.keys(CORPUS);
  const items: FetchItem[] = [
    one('ENVELOPE'), one('BODYSTRUCTURE'), one('BODY'), one('RFC822.HEADER'), body(''), body('HEADER.FIELDS (SUBJECT FROM)'), body('HEADER.FIELDS.NOT (TO)'),
    body('1'), body('1.MIME'), body('2.HEADER'), body('2.1.TEXT'), body('1', { offset: 3, length: 7 }), binary([1]), binary([]), { k: 'BINARY.SIZE', part: [2] },
  ];
  const noise = ['\r\n', '\n', '--', '--b1', 'Content-Type: multipart/mixed; boundary=b1\r\n', ':', '"', '\\', '=?', '(', '<', '\x00', '\xff', '=\r\n', '\r\n\r\n'];
  for (let round = 0; round < 400; round++) {
    const src = CORPUS[names[rnd(names.length)]!]!.toString('latin1');
    let text = src;
    for (let k = rnd(6); k >= 0; k--) {
      const at = rnd(text.length + 1);
      text = rnd(3) === 0 ? text.slice(0, at) + text.slice(at + rnd(20)) : text.slice(0, at) + noise[rnd(noise.length)]! + text.slice(at);
    }
    const m = Buffer.from(text, 'latin1');
    for (const it of items) {
      const r = render(m, [one('UID'), it], { uid: true, modseq: true, utf8: rnd(2) === 0 });
      if (!Buffer.isBuffer(r)) {
        assert.equal(r.code, 'UNKNOWN-CTE');
        continue;
      }
      if (r.includes('~{')) continue; // literal8: NUL-carrying BINARY data, checked elsewhere
      wellFormed(r);
    }
  }
});
