/**
 * The IMAP wire encoders (src/protocols/imap/encode.ts): quoting and literals, modified UTF-7
 * (tables from RFC 3501 §5.1.3 and round trips of random names), mailbox names in both modes,
 * sequence sets (formatting and parsing against a naive model), dates and flag lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  astring, decodeMailbox, encodeMailbox, flagList, formatSeqSet, internalDate, literal, literal8, nstring, normalizeInbox,
  parseDate, parseDateTime, parseSeqSet, quoted, utf7Decode, utf7Encode, MAX_SEQ_RANGES,
} from '../../src/protocols/imap/encode.ts';
import { withSeed } from '../helpers.ts';

test('quoted, astring, nstring, literal', () => {
  assert.equal(quoted('a b'), '"a b"');
  assert.equal(quoted('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
  const astrings: Array<[string, string]> = [
    ['INBOX', 'INBOX'],
    ['a]b', 'a]b'],
    ['', '""'],
    ['NIL', '"NIL"'],
    ['nil', '"nil"'],
    ['a b', '"a b"'],
    ['a%b', '"a%b"'],
    ['a*', '"a*"'],
    ['(x)', '"(x)"'],
    ['{5}', '"{5}"'],
    ['a"b', '"a\\"b"'],
    ['a\r\nb', '{4}\r\na\r\nb'],
    ['Grüße', '{7}\r\nGrüße'],
  ];
  for (const [s, wire] of astrings) assert.equal(astring(s), wire, s);
  assert.equal(astring('Grüße', true), '"Grüße"');
  assert.equal(nstring(null), 'NIL');
  assert.equal(nstring('x y'), '"x y"');
  assert.equal(nstring('NIL'), '"NIL"');
  assert.equal(nstring('a\nb'), '{3}\r\na\nb');
  assert.equal(nstring(Buffer.from('plain')), '"plain"');
  const eight = Buffer.from([0x41, 0xff, 0x0d, 0x0a]);
  assert.deepEqual(nstring(eight), Buffer.concat([Buffer.from('{4}\r\n'), eight]));
  assert.equal(nstring('Grüße', true), '"Grüße"');
  assert.equal(nstring(Buffer.from('Grüße'), true), '"Grüße"');
  assert.deepEqual(nstring(Buffer.from('Grüße')), Buffer.from('{7}\r\nGrüße'));
  assert.deepEqual(nstring(Buffer.from([0xff]), true), Buffer.from([0x7b, 0x31, 0x7d, 0x0d, 0x0a, 0xff]));
  assert.deepEqual(literal(Buffer.from('abc')), Buffer.from('{3}\r\nabc'));
  assert.deepEqual(literal8(Buffer.from([0, 1])), Buffer.from('~{2}\r\n\0\x01', 'latin1'));
});

test('modified UTF-7: the RFC 3501 examples and the usual folder names, both ways', () => {
  const table: Array<[string, string]> = [
    ['Entwürfe', 'Entw&APw-rfe'],
    ['台北', '&U,BTFw-'],
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['A & B', 'A &- B'],
    ['&', '&-'],
    ['Gelöschte Elemente', 'Gel&APY-schte Elemente'],
    ['Отправленные', '&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-'],
    ['😀', '&2D3eAA-'],
    ['plain/ascii_-.~', 'plain/ascii_-.~'],
    ['', ''],
  ];
  for (const [text, wire] of table) {
    assert.equal(utf7Encode(text), wire, text);
    assert.equal(utf7Decode(wire), text, wire);
  }
  const invalid = ['&', '&APw', '&AP!-', '&AGE-', '&2D3-', '&3gA-', 'Entwürfe', 'a\tb', '&APw=-', '&APx-'];
  for (const w of invalid) assert.equal(utf7Decode(w), null, w);
});

test('modified UTF-7: random names round-trip', async (t) => {
  await withSeed(t, async (rnd) => {
    const ranges: Array<[number, number]> = [[0x20, 0x7e], [0xa0, 0x2ff], [0x400, 0x4ff], [0x4e00, 0x9fff], [0x1f600, 0x1f64f]];
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(rnd() * 12);
      let s = '';
      for (let k = 0; k < n; k++) {
        const [a, b] = ranges[Math.floor(rnd() * ranges.length)]!;
        s += String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
      }
      const w = utf7Encode(s);
      assert.match(w, /^[\x20-\x7e]*$/);
      assert.equal(utf7Decode(w), s, JSON.stringify(s));
    }
  });
});

test('mailbox names: INBOX in any case, UTF-8 under UTF8=ACCEPT, the wire form for each', () => {
  assert.equal(normalizeInbox('inbox'), 'INBOX');
  assert.equal(normalizeInbox('InBoX/Sub/x'), 'INBOX/Sub/x');
  assert.equal(normalizeInbox('inboxes'), 'inboxes');
  assert.equal(normalizeInbox('Sub/inbox'), 'Sub/inbox');
  assert.equal(decodeMailbox('Entw&APw-rfe', false), 'Entwürfe');
  assert.equal(decodeMailbox('inbox/Entw&APw-rfe', false), 'INBOX/Entwürfe');
  assert.equal(decodeMailbox('Entw&APw-rfe', true), 'Entw&APw-rfe');
  assert.equal(decodeMailbox(Buffer.from('Entwürfe').toString('latin1'), true), 'Entwürfe');
  assert.equal(decodeMailbox(Buffer.from('Entwürfe').toString('latin1'), false), null);
  assert.equal(decodeMailbox('\xc3\x28', true), null);
  assert.equal(decodeMailbox('a\x01', true), null);
  assert.equal(encodeMailbox('Entwürfe', false), 'Entw&APw-rfe');
  assert.equal(encodeMailbox('Entwürfe', true), '"Entwürfe"');
  assert.equal(encodeMailbox('My Folder', false), '"My Folder"');
  assert.equal(encodeMailbox('A & B', false), '"A &- B"');
  assert.equal(encodeMailbox('INBOX', false), 'INBOX');
});

test('sequence sets: formatSeqSet compresses, parseSeqSet reads and refuses', async (t) => {
  assert.equal(formatSeqSet([]), '');
  assert.equal(formatSeqSet([1, 2, 3, 5]), '1:3,5');
  assert.equal(formatSeqSet([1, 1, 2, 4, 5, 6, 9]), '1:2,4:6,9');
  assert.equal(formatSeqSet([7]), '7');
  assert.deepEqual(parseSeqSet('1:3,5,7:*,*,4294967295'), [
    { from: 1, to: 3 }, { from: 5, to: 5 }, { from: 7, to: '*' }, { from: '*', to: '*' }, { from: 4294967295, to: 4294967295 },
  ]);
  assert.deepEqual(parseSeqSet('9:2'), [{ from: 9, to: 2 }]);
  assert.deepEqual(parseSeqSet('01:0004294967295'), [{ from: 1, to: 4294967295 }]);
  assert.equal(parseSeqSet('$'), '$');
  for (const bad of ['', '0', '00', '0:*', '1:0', '4294967296', '00000000004294967296', '1,', ',1', '1::2', '1:2:3', '$,1', 'a', '1 2', '-1']) {
    assert.equal(parseSeqSet(bad), null, bad);
  }
  assert.equal((parseSeqSet(Array(MAX_SEQ_RANGES).fill('1').join(',')) as unknown[]).length, MAX_SEQ_RANGES);
  assert.equal(parseSeqSet(Array(MAX_SEQ_RANGES + 1).fill('1').join(',')), null);
  await withSeed(t, async (rnd) => {
    for (let i = 0; i < 500; i++) {
      const set = new Set<number>();
      const n = Math.floor(rnd() * 40);
      for (let k = 0; k < n; k++) set.add(1 + Math.floor(rnd() * 60));
      const sorted = [...set].sort((a, b) => a - b);
      const text = formatSeqSet(sorted);
      const back = new Set<number>();
      const ranges = parseSeqSet(text);
      if (sorted.length === 0) {
        assert.equal(ranges, null);
        continue;
      }
      assert.ok(Array.isArray(ranges));
      let last = 0;
      for (const r of ranges) {
        const a = r.from as number;
        const b = r.to as number;
        assert.ok(a <= b && a > last + 1 - (last === 0 ? 1 : 0), `${text}: ranges are ascending and not adjacent`);
        for (let v = a; v <= b; v++) back.add(v);
        last = b;
      }
      assert.deepEqual([...back], sorted, text);
    }
  });
});

test('dates: INTERNALDATE out, APPEND date-time and SEARCH dates in', () => {
  assert.equal(internalDate(Date.UTC(2026, 11, 6, 7, 50, 0)), '"06-Dec-2026 07:50:00 +0000"');
  assert.equal(internalDate(Date.UTC(1999, 0, 31, 23, 59, 59, 999)), '"31-Jan-1999 23:59:59 +0000"');
  const dt: Array<[string, number | null]> = [
    ['06-Dec-2026 07:50:00 +0000', Date.UTC(2026, 11, 6, 7, 50)],
    [' 6-Dec-2026 07:50:00 +0100', Date.UTC(2026, 11, 6, 6, 50)],
    ['6-dec-2026 07:50:00 -0230', Date.UTC(2026, 11, 6, 10, 20)],
    ['17-Jul-1996 02:44:25 -0700', Date.UTC(1996, 6, 17, 9, 44, 25)],
    ['29-Feb-2023 00:00:00 +0000', null],
    ['06-Dec-2026 07:50 +0000', null],
    ['06-Dec-2026 07:50:00', null],
    ['06-Dec-2026 07:50:00 0000', null],
    ['06-Dec-2026 07:60:00 +0000', null],
    ['06-Foo-2026 07:50:00 +0000', null],
    ['', null],
  ];
  for (const [s, ms] of dt) assert.equal(parseDateTime(s), ms, s);
  assert.equal(parseDate('1-Feb-1994'), Date.UTC(1994, 1, 1));
  assert.equal(parseDate('01-FEB-1994'), Date.UTC(1994, 1, 1));
  for (const bad of ['1-Feb-94', '1 Feb 1994', '0-Feb-1994', '32-Jan-1994', '1-Feb-1994x', '123-Feb-1994', '']) assert.equal(parseDate(bad), null, bad);
  // round trip
  const ms = Date.UTC(2024, 1, 29, 12, 0, 1);
  assert.equal(parseDateTime(internalDate(ms).slice(1, -1)), ms);
});

test('flagList', () => {
  assert.equal(flagList(['\\Seen', '$Junk']), '(\\Seen $Junk)');
  assert.equal(flagList([]), '()');
});
