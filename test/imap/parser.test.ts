/**
 * The IMAP command parser (src/protocols/imap/parser.ts) as tables of wire input → `Command`
 * (every command and argument form the service accepts) and wire input → BAD text; the input is
 * cut into line parts and literals the way the framer cuts it (`frame`; the tables are in
 * parser-cases.ts). Then properties:
 * seeded random bytes and mutated valid commands never make `parseCommand` throw and always get
 * an answer; deep nesting and oversized lists are answered BAD; `tagOf`; and what encode.ts
 * writes (astring, encodeMailbox) parses back to the same text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { astring, encodeMailbox, normalizeInbox } from '../../src/protocols/imap/encode.ts';
import { parseCommand, tagOf } from '../../src/protocols/imap/parser.ts';
import { MAX_LIST_ITEMS, MAX_MAILBOX_NAME_BYTES, MAX_NESTING } from '../../src/protocols/imap/reader.ts';
import type { Command, CommandInput, ParseResult } from '../../src/protocols/imap/types.ts';
import { withSeed } from '../helpers.ts';
import { INVALID, T, VALID, frame } from './parser-cases.ts';

const parse = (wire: string | Buffer, utf8 = false): ParseResult => parseCommand(frame(wire), { utf8 });

function ok(wire: string, utf8 = false): Command {
  const r = parse(wire, utf8);
  if (!r.ok) assert.fail(`${JSON.stringify(wire)} → BAD ${r.text}`);
  return r.cmd;
}


test('every command form parses to its Command', () => {
  for (const [wire, expected] of VALID) {
    assert.deepEqual(ok(`${T} ${wire}`), { tag: T, ...expected }, wire);
  }
});

test('APPEND: flags, date-time, literal, literal8, UTF8 ( ), MULTIAPPEND', () => {
  const m = (flags: string[], date: number | null, b: string, binary = false, utf8 = false) => ({ flags, date, body: Buffer.from(b), binary, utf8 });
  const cases: Array<[string, string, ReturnType<typeof m>[]]> = [
    ['APPEND saved-messages (\\Seen) {5}\r\nhello', 'saved-messages', [m(['\\Seen'], null, 'hello')]],
    ['APPEND INBOX {0}\r\n', 'INBOX', [m([], null, '')]],
    ['APPEND inbox " 6-Dec-2026 07:50:00 +0100" {2+}\r\nhi', 'INBOX', [m([], Date.UTC(2026, 11, 6, 6, 50), 'hi')]],
    ['APPEND INBOX () "17-Jul-1996 02:44:25 -0700" {1}\r\nx', 'INBOX', [m([], Date.UTC(1996, 6, 17, 9, 44, 25), 'x')]],
    ['APPEND Drafts (\\Draft $Forwarded) ~{3}\r\na\0b', 'Drafts', [m(['\\Draft', '$Forwarded'], null, 'a\0b', true)]],
    ['APPEND INBOX UTF8 (~{4}\r\nGrü)', 'INBOX', [m([], null, 'Grü', true, true)]],
    ['APPEND INBOX (\\Seen) {1}\r\na (\\Flagged) "01-Jan-2020 00:00:00 +0000" {1}\r\nb {1}\r\nc', 'INBOX', [
      m(['\\Seen'], null, 'a'), m(['\\Flagged'], Date.UTC(2020, 0, 1), 'b'), m([], null, 'c'),
    ]],
    ['APPEND {7}\r\nArchive {3}\r\nabc', 'Archive', [m([], null, 'abc')]],
  ];
  for (const [wire, mailbox, messages] of cases) {
    assert.deepEqual(ok(`${T} ${wire}`), { tag: T, name: 'APPEND', mailbox, messages }, wire);
  }
});

test('mailbox names: modified UTF-7 unless UTF8=ACCEPT, INBOX in any case', () => {
  assert.deepEqual(ok('a SELECT "Entw&APw-rfe"', false), { tag: 'a', name: 'SELECT', mailbox: 'Entwürfe', condstore: false, qresync: null });
  // Under UTF8=ACCEPT names are UTF-8 and & is an ordinary character (RFC 6855 §3).
  assert.deepEqual(ok('a SELECT "Entwürfe"', true), { tag: 'a', name: 'SELECT', mailbox: 'Entwürfe', condstore: false, qresync: null });
  assert.deepEqual(ok('a CREATE "Entw&APw-rfe"', true), { tag: 'a', name: 'CREATE', mailbox: 'Entw&APw-rfe', use: [] });
  assert.deepEqual(ok('a DELETE {3}\r\n台', true), { tag: 'a', name: 'DELETE', mailbox: '台' });
  assert.deepEqual(ok('a RENAME iNbOx/Old inbox', true), { tag: 'a', name: 'RENAME', from: 'INBOX/Old', to: 'INBOX' });
  const bad = (wire: string | Buffer, utf8: boolean) => {
    const r = parse(wire, utf8);
    assert.equal(r.ok, false, String(wire));
  };
  bad('a SELECT "Entwürfe"', false); // 8-bit is not modified UTF-7
  bad('a SELECT &APw', false); // unterminated shift
  bad('a SELECT &AGE-', false); // printable ASCII ("a") encoded
  bad('a SELECT &2D3-', false); // a lone high surrogate
  bad('a SELECT &AP!-', false); // not modified base64
  bad(Buffer.concat([Buffer.from('a SELECT "'), Buffer.from([0xc3, 0x28]), Buffer.from('"')]), true); // invalid UTF-8
  bad('a SELECT {3}\r\na\rb', true); // a control character
});


test('malformed commands get BAD with a clear text, and the tag when there is one', () => {
  const failures: string[] = [];
  for (const [wire, text] of INVALID) {
    const r = parse(wire);
    assert.equal(r.ok, false, `${JSON.stringify(String(wire))} parsed`);
    if (r.ok) continue;
    if (r.text !== text) failures.push(`${JSON.stringify(String(wire))}: ${JSON.stringify(r.text)}`);
    const tag = /^([^ (){%*"\\+]+)(?: |$)/.exec(String(wire))?.[1] ?? null;
    assert.equal(r.tag, tag, JSON.stringify(String(wire)));
  }
  assert.deepEqual(failures, []);
});

test('input the framer did not make (lines ≠ literals + 1) is BAD, not a throw', () => {
  const r = parseCommand({ lines: [Buffer.from('a LOGIN ')], literals: [{ bytes: Buffer.from('x'), binary: false }] }, { utf8: false });
  assert.deepEqual(r, { ok: false, tag: null, text: 'Malformed command input' });
  const r2 = parseCommand({ lines: [], literals: [] }, { utf8: false });
  assert.equal(r2.ok, false);
});

test('bounds: nesting deeper than MAX_NESTING and lists longer than MAX_LIST_ITEMS are BAD', () => {
  const deep = (n: number) => `a SEARCH ${'('.repeat(n)}ALL${')'.repeat(n)}`;
  assert.equal(parse(deep(MAX_NESTING - 1)).ok, true);
  const tooDeep = parse(deep(100_000));
  assert.deepEqual(tooDeep, { ok: false, tag: 'a', text: `Too deeply nested (more than ${MAX_NESTING} levels)` });
  assert.equal(parse(`a SEARCH ${'NOT '.repeat(100_000)}ALL`).ok, false);
  assert.equal(parse(`a SEARCH ${'OR ALL '.repeat(100_000)}ALL`).ok, false);
  assert.equal(parse(`a SEARCH ${'OR '.repeat(100_000)}ALL`).ok, false);
  const items = (n: number) => `a FETCH 1 (${Array(n).fill('UID').join(' ')})`;
  assert.equal(parse(items(MAX_LIST_ITEMS)).ok, true);
  assert.deepEqual(parse(items(MAX_LIST_ITEMS + 1)), { ok: false, tag: 'a', text: `Too many FETCH attributes (more than ${MAX_LIST_ITEMS})` });
  const seqs = (n: number) => `a FETCH ${Array.from({ length: n }, (_, i) => 2 * i + 1).join(',')} UID`;
  assert.equal(parse(seqs(MAX_LIST_ITEMS)).ok, true);
  assert.deepEqual(parse(seqs(MAX_LIST_ITEMS + 1)), { ok: false, tag: 'a', text: `Too many ranges in sequence set (more than ${MAX_LIST_ITEMS})` });
  assert.equal(parse(`a SEARCH ${Array(MAX_LIST_ITEMS + 1).fill('SEEN').join(' ')}`).ok, false);
  assert.equal(parse(`a STORE 1 FLAGS (${Array(MAX_LIST_ITEMS + 1).fill('x').join(' ')})`).ok, false);
});

test('bounds: maxNesting, maxListItems and maxMailboxNameBytes given as options', () => {
  const opts = { utf8: false, maxNesting: 2, maxListItems: 3 };
  const p = (wire: string) => parseCommand(frame(wire), opts);
  assert.equal(p('a SEARCH ((ALL))').ok, true);
  assert.deepEqual(p('a SEARCH (((ALL)))'), { ok: false, tag: 'a', text: 'Too deeply nested (more than 2 levels)' });
  assert.deepEqual(p('a SEARCH NOT NOT NOT ALL'), { ok: false, tag: 'a', text: 'Too deeply nested (more than 2 levels)' });
  assert.equal(p('a FETCH 1,2,3 (UID FLAGS MODSEQ)').ok, true);
  assert.deepEqual(p('a FETCH 1 (UID FLAGS MODSEQ ENVELOPE)'), { ok: false, tag: 'a', text: 'Too many FETCH attributes (more than 3)' });
  assert.deepEqual(p('a FETCH 1,2,3,4 UID'), { ok: false, tag: 'a', text: 'Too many ranges in sequence set (more than 3)' });
  assert.deepEqual(p('a APPEND x {1}\r\na {1}\r\nb {1}\r\nc {1}\r\nd'), { ok: false, tag: 'a', text: 'Too many messages (more than 3)' });
  const names = (wire: string) => parseCommand(frame(wire), { utf8: false, maxMailboxNameBytes: 8 });
  assert.equal(names('a SELECT 12345678').ok, true);
  assert.deepEqual(names('a SELECT {9}\r\n123456789'), { ok: false, tag: 'a', text: 'Mailbox name too long (more than 8 octets)' });
  assert.deepEqual(names('a LIST "" 123456789'), { ok: false, tag: 'a', text: 'Mailbox name too long (more than 8 octets)' });
  assert.equal(parse(`a SELECT {${MAX_MAILBOX_NAME_BYTES + 1}}\r\n${'x'.repeat(MAX_MAILBOX_NAME_BYTES + 1)}`).ok, false);
  assert.equal(parse(`a SELECT {${MAX_MAILBOX_NAME_BYTES}}\r\n${'x'.repeat(MAX_MAILBOX_NAME_BYTES)}`).ok, true);
});

test('tagOf: the tag of a line, or null', () => {
  const cases: Array<[string, string | null]> = [
    ['a1 APPEND INBOX {5}', 'a1'],
    ['A.b]c-9 LOGIN', 'A.b]c-9'],
    ['x', 'x'],
    ['x\r\n', 'x'],
    ['', null],
    [' a1 NOOP', null],
    ['+ NOOP', null],
    ['a+b NOOP', null],
    ['a*1 NOOP', null],
    ['a{1 NOOP', null],
    ['"a" NOOP', null],
    ['\u00e9 NOOP', null],
  ];
  for (const [line, tag] of cases) assert.equal(tagOf(Buffer.from(line, 'latin1')), tag, line);
});

/** Check the answer's shape: a command with the tag as read, or BAD with a text. */
function answered(r: ParseResult, what: string): void {
  assert.equal(typeof r, 'object', what);
  if (r.ok) {
    assert.equal(typeof r.cmd.tag, 'string', what);
    assert.equal(typeof r.cmd.name, 'string', what);
  } else {
    assert.ok(r.text.length > 0, what);
    assert.ok(r.tag === null || typeof r.tag === 'string', what);
  }
}

test('fuzz: random bytes and mutated commands never throw and always get an answer', async (t) => {
  await withSeed(t, async (rnd) => {
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
    const ALPHABET = Buffer.from('a1 ()[]<>{}"\\*%$:,.+-~0123456789 \r\nUIDFETCHSEARCHBODYPEEKORNOTALL&-APw', 'latin1');
    const corpus = [
      ...VALID.map(([w]) => `${T} ${w}`),
      'a APPEND INBOX (\\Seen) "17-Jul-1996 02:44:25 -0700" {5}\r\nhello {1}\r\nx',
      'a APPEND INBOX UTF8 (~{2}\r\nhi)',
    ].map((w) => Buffer.from(w, 'utf8'));
    for (let i = 0; i < 20_000; i++) {
      let input: CommandInput;
      const mode = rnd();
      if (mode < 0.3) {
        // random bytes (half from an IMAP-ish alphabet), cut into random lines and literals
        const n = Math.floor(rnd() * 80);
        const b = Buffer.alloc(n);
        const ish = rnd() < 0.5;
        for (let k = 0; k < n; k++) b[k] = ish ? ALPHABET[Math.floor(rnd() * ALPHABET.length)]! : Math.floor(rnd() * 256);
        const cuts = Math.floor(rnd() * 4);
        const lines: Buffer[] = [];
        const literals: CommandInput['literals'] = [];
        let pos = 0;
        for (let c = 0; c < cuts; c++) {
          const a = pos + Math.floor(rnd() * (n - pos + 1));
          const e = a + Math.floor(rnd() * (n - a + 1));
          lines.push(b.subarray(pos, a));
          literals.push({ bytes: b.subarray(a, e), binary: rnd() < 0.2 });
          pos = e;
        }
        lines.push(b.subarray(pos));
        input = { lines, literals };
      } else {
        // a valid command with random bytes changed, inserted or cut off, framed
        const src = Buffer.from(pick(corpus));
        const edits = 1 + Math.floor(rnd() * 4);
        let b = src;
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(rnd() * (b.length + 1));
          const x = rnd() < 0.7 ? ALPHABET[Math.floor(rnd() * ALPHABET.length)]! : Math.floor(rnd() * 256);
          const op = rnd();
          if (op < 0.4 && at < b.length) b[at] = x;
          else if (op < 0.7) b = Buffer.concat([b.subarray(0, at), Buffer.from([x]), b.subarray(at)]);
          else if (op < 0.85) b = b.subarray(0, at);
          else b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rnd() * 5)))]);
        }
        input = frame(b);
      }
      let r: ParseResult;
      try {
        r = parseCommand(input, { utf8: rnd() < 0.3 });
      } catch (e) {
        assert.fail(`parseCommand threw on ${JSON.stringify(input.lines.map((l) => l.toString('latin1')))}: ${String(e)}`);
      }
      answered(r, JSON.stringify(input.lines.map((l) => l.toString('latin1'))));
    }
  });
});

test('encoders and parser agree: astring and encodeMailbox output parses back to the same text', async (t) => {
  await withSeed(t, async (rnd) => {
    const pieces = ['a', 'Z', '0', ' ', '"', '\\', '(', ')', '{', '}', '%', '*', ']', '[', '&', '-', '/', '+', 'NIL', 'inbox', '\r\n', '\t', 'ü', '台北', '😀', '~', '.'];
    const gen = (): string => {
      const n = Math.floor(rnd() * 8);
      let s = '';
      for (let k = 0; k < n; k++) s += pieces[Math.floor(rnd() * pieces.length)];
      return s;
    };
    for (let i = 0; i < 3000; i++) {
      const user = gen();
      const password = gen();
      const utf8 = rnd() < 0.5;
      const r = parseCommand(frame(`a LOGIN ${astring(user, utf8)} ${astring(password, utf8)}`), { utf8 });
      assert.deepEqual(r, { ok: true, cmd: { tag: 'a', name: 'LOGIN', user, password } }, JSON.stringify([user, password, utf8]));
      const name = gen().replace(/[\r\n\t]/g, 'x');
      const m = parseCommand(frame(`a DELETE ${encodeMailbox(name, utf8)}`), { utf8 });
      assert.deepEqual(m, { ok: true, cmd: { tag: 'a', name: 'DELETE', mailbox: normalizeInbox(name) } }, JSON.stringify([name, utf8]));
    }
  });
});
