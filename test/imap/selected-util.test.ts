/**
 * test/imap/selected-util.test.ts: sequence sets resolved against a view (selected-util.ts):
 * sequence numbers past EXISTS are an error, `*` is the last message (or the highest UID), a
 * UID range past the last UID still names the last message, `$` is the saved result, and
 * `inUidSet` for QRESYNC's known UIDs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inUidSet, resolveSet } from '../../src/protocols/imap/selected-util.ts';
import { parseSeqSet } from '../../src/protocols/imap/encode.ts';
import type { View } from '../../src/protocols/imap/view.ts';

/** The part of a view resolveSet reads: the UIDs in sequence order. */
function fakeView(uids: number[]): View {
  return { uids, seqOf: (u: number) => uids.indexOf(u) + 1 } as unknown as View;
}

const v = fakeView([3, 5, 9, 10, 42]);
const set = (t: string) => parseSeqSet(t)!;

test('resolveSet: sequence numbers', () => {
  const cases: Array<[string, number[] | string]> = [
    ['1', [3]],
    ['1:3', [3, 5, 9]],
    ['3:1', [3, 5, 9]],
    ['*', [42]],
    ['4:*', [10, 42]],
    ['*:4', [10, 42]],
    ['1,1,2', [3, 5]],
    ['5,1', [3, 42]],
    ['6', 'Invalid messageset'],
    ['1:6', 'Invalid messageset'],
  ];
  for (const [t, want] of cases) {
    const r = resolveSet(v, set(t), false, []);
    assert.deepEqual(r.ok ? r.uids : r.text, want, t);
  }
  const empty = resolveSet(fakeView([]), set('1:*'), false, []);
  assert.equal(empty.ok, false);
});

test('resolveSet: UIDs', () => {
  const cases: Array<[string, number[]]> = [
    ['1:4', [3]],
    ['5', [5]],
    ['6:8', []],
    ['*', [42]],
    ['100:*', [42]], // RFC 9051: n:* names the highest UID even when n is higher
    ['43:100', []],
    ['1:*', [3, 5, 9, 10, 42]],
    ['42,3,9', [3, 9, 42]],
    ['9:5,10', [5, 9, 10]],
  ];
  for (const [t, want] of cases) {
    const r = resolveSet(v, set(t), true, []);
    assert.deepEqual(r.ok ? r.uids : r.text, want, t);
  }
  assert.deepEqual(resolveSet(fakeView([]), set('1:*'), true, []), { ok: true, uids: [] });
});

test('resolveSet: $ is the saved UIDs the view still has, ascending', () => {
  assert.deepEqual(resolveSet(v, '$', false, [42, 7, 3]), { ok: true, uids: [3, 42] });
  assert.deepEqual(resolveSet(v, '$', true, []), { ok: true, uids: [] });
});

test('inUidSet: ranges either way, * as the highest UID, $', () => {
  assert.equal(inUidSet(5, set('1:4,6'), 10, []), false);
  assert.equal(inUidSet(5, set('7:3'), 10, []), true);
  assert.equal(inUidSet(10, set('8:*'), 10, []), true);
  assert.equal(inUidSet(11, set('8:*'), 10, []), false);
  assert.equal(inUidSet(4, '$', 10, [4]), true);
});
