/**
 * test/store/names.test.ts: naming rules (folders, domains, addresses, flags) as tables, and
 * the CRAM-MD5 pads against node's HMAC-MD5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { bitsToFlags, domainName, flagsToBits, folderName, parentNames, splitAddress } from '../../src/store/names.ts';
import { cramMd5Digest, cramMd5Pads, cramMd5Verify } from '../../src/store/cram.ts';
import { isPosternError } from '../../src/errors.ts';
import { prngBytes, withSeed } from '../helpers.ts';

test('folder names: valid ones are normalised', () => {
  const ok: Array<[string, string]> = [
    ['INBOX', 'INBOX'], ['inbox', 'INBOX'], ['InBoX/Sub', 'INBOX/Sub'], ['Archive/2024', 'Archive/2024'],
    ['Sent Items', 'Sent Items'], ['Ünïcødé', 'Ünïcødé'], ['a'.repeat(255), 'a'.repeat(255)], ['.hidden', '.hidden'],
  ];
  for (const [inp, out] of ok) assert.equal(folderName(inp), out, inp);
});

test('folder names: bad ones are STORE_BAD_NAME', () => {
  const bad = ['', '/', '/a', 'a/', 'a//b', '..', 'a/../b', '.', 'a/./b', 'a\u0000b', 'a\nb', 'a\u007fb', 'a'.repeat(256), 'é'.repeat(128), ' a', 'a /b'];
  for (const b of bad) assert.throws(() => folderName(b), (e) => isPosternError(e, 'STORE_BAD_NAME'), JSON.stringify(b));
  assert.throws(() => folderName(42), (e) => isPosternError(e, 'STORE_BAD_NAME'));
});

test('parentNames', () => {
  assert.deepEqual(parentNames('a/b/c'), ['a', 'a/b']);
  assert.deepEqual(parentNames('a'), []);
});

test('domains and addresses', () => {
  assert.equal(domainName('Example.ORG.'), 'example.org');
  for (const d of ['', 'exa mple.org', '-a.org', 'a..org', 'a'.repeat(64) + '.org']) assert.throws(() => domainName(d), (e) => isPosternError(e, 'STORE_BAD_NAME'), d);
  assert.deepEqual(splitAddress('Ann@Example.org'), { local: 'ann', domain: 'example.org' });
  assert.deepEqual(splitAddress('postmaster'), { local: 'postmaster', domain: null });
  for (const a of ['', '@x.org', 'a b@x.org', 'a..b@x.org', '.a@x.org', 'a@', 'a@b@']) assert.throws(() => splitAddress(a), (e) => isPosternError(e, 'STORE_BAD_NAME'), a);
});

test('flags: system flags as bits, keywords as atoms', () => {
  const { bits, keywords } = flagsToBits(['\\seen', '\\DELETED', '$Label1', '$label1', 'Work']);
  assert.equal(bits, 1 | 8);
  assert.deepEqual(keywords, ['$Label1', 'Work']);
  assert.deepEqual(bitsToFlags(bits, keywords), ['\\Seen', '\\Deleted', '$Label1', 'Work']);
  for (const f of ['\\Recent', '\\Bogus', 'has space', 'par(en', '', 'quo"te', 'x'.repeat(65)]) {
    assert.throws(() => flagsToBits([f]), (e) => isPosternError(e, 'STORE_BAD_NAME'), f);
  }
  assert.throws(() => flagsToBits(Array.from({ length: 65 }, (_, i) => `k${i}`)), (e) => isPosternError(e, 'STORE_BAD_ARGUMENT'));
});

test('CRAM-MD5 pads give HMAC-MD5 without the password (RFC 2195 example too)', (t) => withSeed(t, async (rnd) => {
  const rfc = cramMd5Digest(cramMd5Pads('tanstaaftanstaaf'), '<1896.697170952@postoffice.reston.mci.net>');
  assert.equal(rfc, 'b913a602c7eda7a495b4e6e7334d3890');
  for (let i = 0; i < 50; i++) {
    const pw = prngBytes(rnd, i * 3).toString('base64');
    const ch = `<${prngBytes(rnd, i * 7).toString('hex')}@host>`;
    assert.equal(cramMd5Digest(cramMd5Pads(pw), ch), createHmac('md5', pw).update(ch).digest('hex'));
  }
  const pads = cramMd5Pads('pw');
  assert.equal(pads.length, 32);
  assert.equal(cramMd5Verify(pads, 'c', createHmac('md5', 'pw').update('c').digest('hex').toUpperCase()), true);
  assert.equal(cramMd5Verify(pads, 'c', createHmac('md5', 'px').update('c').digest('hex')), false);
  assert.equal(cramMd5Verify(null, 'c', 'x'), false);
}));
