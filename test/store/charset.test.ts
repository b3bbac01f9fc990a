/**
 * store/charset.ts: RFC 2047 encoded words and the charset fallback, as the SORT keys
 * (structure.ts) and the search text (search-text.ts) both decode header fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBytes, decodeWords } from '../../src/store/charset.ts';

test('decodeWords: B and Q words, whitespace between adjacent words dropped, other text kept', () => {
  assert.equal(decodeWords('=?UTF-8?B?SGVsbG8g?= =?utf-8?q?w=C3=B6rld_!?= and more'), 'Hello wörld ! and more');
  assert.equal(decodeWords('plain text'), 'plain text');
  assert.equal(decodeWords('=?ISO-8859-1*en?Q?caf=E9?='), 'café', 'an RFC 2231 language suffix is dropped');
});

test('decodeWords: raw 8-bit header bytes read as UTF-8', () => {
  assert.equal(decodeWords(Buffer.from('Grüße', 'utf8').toString('latin1')), 'Grüße');
});

test('charset fallback: empty, us-ascii and unknown charsets read as UTF-8', () => {
  const b = Buffer.from('é', 'utf8');
  for (const cs of ['', 'us-ascii', 'ASCII', 'x-no-such-charset']) assert.equal(decodeBytes(b, cs), 'é', cs);
  assert.equal(decodeBytes(Buffer.from([0xe9]), 'windows-1252'), 'é');
  assert.equal(decodeWords('=?x-unknown?Q?=C3=A9?='), 'é');
});
