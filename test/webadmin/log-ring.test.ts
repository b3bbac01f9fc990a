/**
 * status/log-ring.ts (the ring behind `log.tail`), as a pure module: bounded, newest last,
 * filtered by level (at or above) and service, long and non-JSON lines kept safely.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogRing } from '../../src/status/log-ring.ts';

const rec = (level: number, msg: string, service?: string): string => `${JSON.stringify({ level, time: 1000 + level, pid: 1, hostname: 'h', msg, ...(service === undefined ? {} : { service }), extra: 1 })}\n`;

test('the ring keeps the last `size` records, oldest first in a tail', () => {
  const r = new LogRing(3);
  r.push(rec(30, 'a') + rec(30, 'b'));
  r.push(rec(30, 'c'));
  r.push(rec(30, 'd'));
  assert.deepEqual(r.tail({ lines: 10 }).map((x) => x.msg), ['b', 'c', 'd']);
  assert.deepEqual(r.tail({ lines: 2 }).map((x) => x.msg), ['c', 'd']);
});

test('filters: level at or above, service exact; fields without pid/hostname', () => {
  const r = new LogRing(10);
  r.push(rec(20, 'debug', 'pop3') + rec(30, 'info', 'pop3') + rec(40, 'warn', 'imap') + rec(50, 'error', 'pop3'));
  assert.deepEqual(r.tail({ level: 'warn', lines: 10 }).map((x) => x.msg), ['warn', 'error']);
  assert.deepEqual(r.tail({ service: 'pop3', lines: 10 }).map((x) => x.msg), ['debug', 'info', 'error']);
  assert.deepEqual(r.tail({ service: 'pop3', level: 'info', lines: 1 }).map((x) => x.msg), ['error']);
  const one = r.tail({ level: 'error', lines: 1 })[0]!;
  assert.equal(one.level, 'error');
  assert.equal(one.service, 'pop3');
  assert.equal(one.fields, '{"extra":1}');
});

test('a non-JSON line and an overlong one are kept as text, bounded', () => {
  const r = new LogRing(5);
  r.push('not json at all\n');
  r.push(`${'x'.repeat(20_000)}\n`);
  const t = r.tail({ lines: 5 });
  assert.equal(t.length, 2);
  assert.equal(t[0]!.msg, 'not json at all');
  assert.ok(t[1]!.msg.length <= 2000);
});
