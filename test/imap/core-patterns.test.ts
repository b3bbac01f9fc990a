/**
 * protocols/imap/patterns.ts: LIST / LSUB pattern matching as a table (`*`, `%`, INBOX in any
 * case, the reference joined), and a hostile pattern's cost bounded (no backtracking).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinPattern, matcher } from '../../src/protocols/imap/patterns.ts';

const NAMES = ['INBOX', 'INBOX/Sub', 'Archive', 'Archive/2024', 'Archive/2024/Q1', 'Sent', 'a%b', 'Inbox2'];

const CASES: ReadonlyArray<readonly [string, string, string[]]> = [
  ['', '*', NAMES],
  ['', '%', ['INBOX', 'Archive', 'Sent', 'a%b', 'Inbox2']],
  ['', 'inbox', ['INBOX']],
  ['', 'InBoX/%', ['INBOX/Sub']],
  ['', 'inbox*', ['INBOX', 'INBOX/Sub']],
  ['', 'Inbox*', ['INBOX', 'INBOX/Sub', 'Inbox2']],
  ['', 'Archive/%', ['Archive/2024']],
  ['', 'Archive/*', ['Archive/2024', 'Archive/2024/Q1']],
  ['Archive/', '%', ['Archive/2024']],
  ['Archive', '*', ['Archive', 'Archive/2024', 'Archive/2024/Q1']],
  ['', '%/%', ['INBOX/Sub', 'Archive/2024']],
  ['', '*4', ['Archive/2024']],
  ['', '*%1', ['Archive/2024/Q1']],
  ['', 'archive', []],
  ['', 'S?nt', []],
  ['', '', []],
];

for (const [ref, pattern, expected] of CASES) {
  test(`LIST ${JSON.stringify(ref)} ${JSON.stringify(pattern)}`, () => {
    const m = matcher(joinPattern(ref, pattern));
    assert.deepEqual(NAMES.filter(m), expected);
  });
}

test('a hostile pattern costs pattern × name steps, not an exponential search', () => {
  const name = `${'a/'.repeat(120)}b`;
  const m = matcher(`${'*a%'.repeat(2000)}c`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) assert.equal(m(name), false);
  // generous: a backtracking matcher would not finish at all
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e9 < 20);
  assert.equal(matcher('x'.repeat(5000))('x'.repeat(255)), false, 'more literal characters than any name: no match, no work');
});
