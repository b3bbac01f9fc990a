/**
 * test/log/files.test.ts: the Log service's files (src/protocols/log/files.ts) on real files in
 * a temp dir, with an injected clock: rotation at a day, ISO week and month boundary, after
 * fileTime, fileCount old files kept (and none with 0), the first matching rule by priority,
 * the write buffer (writeBufferSize) dropping and counting, and a write error (ENOSPC injected)
 * losing lines and saying so once until an append works again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LogFiles, matchRule, periodStart } from '../../src/protocols/log/files.ts';
import type { LogRuleOptions } from '../../src/config/options.ts';
import type { LogRecord } from '../../src/net/syslog.ts';
import { tmpDir } from '../helpers.ts';

const rule = (o: Partial<LogRuleOptions> = {}): LogRuleOptions => ({
  priority: 1, hostname: '*', module: '*', levels: 31, fileName: 'f.txt', fileSizeBytes: Infinity, fileTimeMs: Infinity, fileCount: 5, rotatePeriod: 'none', ...o,
});
const rec = (msg: string, o: Partial<LogRecord> = {}): LogRecord => ({ time: Date.UTC(2026, 11, 6, 12), level: 'info', hostname: 'h.example', module: 'POP3', msg, ...o });

function files(dir: string, rules: LogRuleOptions[], clock: { t: number }, more: Partial<ConstructorParameters<typeof LogFiles>[0]> = {}): LogFiles {
  return new LogFiles({ dir, rules, writeBufferBytes: 1 << 20, now: () => clock.t, ...more });
}
const read = (dir: string, name: string): string => {
  try {
    return fs.readFileSync(path.join(dir, name), 'utf8');
  } catch {
    return '';
  }
};

for (const [period, first, second] of [
  ['day', Date.UTC(2026, 11, 6, 23, 59, 50), Date.UTC(2026, 11, 7, 0, 0, 5)],
  // Sunday 6 December 2026 → Monday 7 December: a new ISO week
  ['week', Date.UTC(2026, 11, 6, 23, 0), Date.UTC(2026, 11, 7, 1, 0)],
  ['month', Date.UTC(2026, 10, 30, 23, 0), Date.UTC(2026, 11, 1, 0, 30)],
] as const) {
  test(`rotatePeriod = ${period}: the file changes at the boundary, not before (injected clock)`, async () => {
    const dir = tmpDir('postern-logfiles-');
    const clock = { t: first };
    const f = files(dir, [rule({ rotatePeriod: period })], clock);
    f.add(rec('one'));
    await f.flush();
    clock.t = first + 5_000; // same period
    f.add(rec('two'));
    await f.flush();
    assert.equal(read(dir, 'f.txt.1'), '');
    clock.t = second;
    f.add(rec('three'));
    await f.flush();
    assert.match(read(dir, 'f.txt.1'), /POP3: one\n.*POP3: two\n$/);
    assert.match(read(dir, 'f.txt'), /^2026-12-06 12:00:00 \+0000 INFO h\.example POP3: three\n$/);
    assert.equal(f.rotations, 1);
  });
}

test('periodStart: ISO weeks begin on Monday (UTC), months on the 1st', () => {
  assert.equal(periodStart(Date.UTC(2026, 11, 6, 10), 'week'), Date.UTC(2026, 10, 30)); // Sunday → the Monday before
  assert.equal(periodStart(Date.UTC(2026, 11, 7, 10), 'week'), Date.UTC(2026, 11, 7));
  assert.equal(periodStart(Date.UTC(2026, 11, 31, 23), 'month'), Date.UTC(2026, 11, 1));
  assert.equal(periodStart(Date.UTC(2026, 11, 31, 23), 'none'), 0);
});

test('fileTime: a file written that long is rotated; fileCount old files kept, the oldest removed', async () => {
  const dir = tmpDir('postern-logfiles-');
  const clock = { t: Date.UTC(2026, 0, 1) };
  const f = files(dir, [rule({ fileTimeMs: 60_000, fileCount: 2 })], clock);
  for (let i = 0; i < 5; i++) {
    f.add(rec(`gen ${i}`));
    await f.flush();
    clock.t += 61_000;
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['f.txt', 'f.txt.1', 'f.txt.2']);
  assert.match(read(dir, 'f.txt'), /gen 4/);
  assert.match(read(dir, 'f.txt.1'), /gen 3/);
  assert.match(read(dir, 'f.txt.2'), /gen 2/);
  assert.equal(f.rotations, 4);
});

test('fileCount = 0 keeps no old file; fileSize rotates before the file would pass it', async () => {
  const dir = tmpDir('postern-logfiles-');
  const clock = { t: Date.UTC(2026, 0, 1) };
  const f = files(dir, [rule({ fileSizeBytes: 200, fileCount: 0 })], clock);
  for (let i = 0; i < 4; i++) {
    f.add(rec(`line ${i} ${'z'.repeat(80)}`));
    await f.flush();
  }
  assert.deepEqual(fs.readdirSync(dir), ['f.txt']);
  assert.ok(fs.statSync(path.join(dir, 'f.txt')).size <= 200);
  assert.match(read(dir, 'f.txt'), /line 3/);
});

test('the first rule by priority that matches hostname, module and level takes the record', () => {
  const rules = [
    rule({ priority: 1, hostname: 'a.example', fileName: 'a' }),
    rule({ priority: 2, module: 'SMTP-IN', levels: 1 | 2 | 4, fileName: 'smtp-bad' }),
    rule({ priority: 3, module: 'smtp-in', fileName: 'smtp' }),
    rule({ priority: 9, fileName: 'rest' }),
  ];
  assert.equal(matchRule(rules, rec('x', { hostname: 'A.example' }))?.fileName, 'a');
  assert.equal(matchRule(rules, rec('x', { module: 'SMTP-IN', level: 'error' }))?.fileName, 'smtp-bad');
  assert.equal(matchRule(rules, rec('x', { module: 'SMTP-IN', level: 'info' }))?.fileName, 'smtp');
  assert.equal(matchRule(rules, rec('x', { module: 'IMAP' }))?.fileName, 'rest');
  assert.equal(matchRule([rule({ levels: 4 })], rec('x', { level: 'info' })), null);
});

test('writeBufferSize: lines beyond the buffer are dropped and counted', async () => {
  const dir = tmpDir('postern-logfiles-');
  const dropped: number[] = [];
  const f = files(dir, [rule()], { t: Date.UTC(2026, 0, 1) }, { writeBufferBytes: 300, onDropped: (n) => dropped.push(n) });
  for (let i = 0; i < 10; i++) f.add(rec(`b ${i} ${'q'.repeat(40)}`));
  await f.flush();
  const lines = read(dir, 'f.txt').split('\n').filter((l) => l !== '');
  assert.ok(lines.length >= 2 && lines.length < 10, `${lines.length} lines written`);
  assert.equal(f.dropped, 10 - lines.length);
  assert.equal(dropped.reduce((a, b) => a + b, 0), 10 - lines.length);
});

test('a full disk (ENOSPC) loses lines, says so once, and says when writing works again', async () => {
  const dir = tmpDir('postern-logfiles-');
  let full = true;
  const said: Array<[boolean, string, number]> = [];
  const f = files(dir, [rule()], { t: Date.UTC(2026, 0, 1) }, {
    io: {
      appendFile: async (file, data) => {
        if (full) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        await fs.promises.appendFile(file, data);
      },
    },
    onTrouble: (ok, why, n) => said.push([ok, why, n]),
  });
  for (let i = 0; i < 3; i++) {
    f.add(rec(`lost ${i}`));
    f.add(rec(`lost ${i}b`));
    await f.flush();
  }
  assert.equal(f.dropped, 6);
  assert.deepEqual(said, [[false, 'disk full', 2]]);
  full = false;
  f.add(rec('back'));
  await f.flush();
  assert.deepEqual(said, [[false, 'disk full', 2], [true, 'disk full', 6]]);
  assert.equal(read(dir, 'f.txt').trim().split('\n').length, 1);
  // a second episode is said again
  full = true;
  f.add(rec('lost again'));
  await f.flush();
  assert.equal(said.length, 3);
  await f.close();
});

test('flushSync (the thread\'s exit) appends what waits', () => {
  const dir = tmpDir('postern-logfiles-');
  const f = files(dir, [rule({ fileName: 'sub/x.txt' })], { t: Date.UTC(2026, 0, 1) });
  f.add(rec('at exit'));
  f.flushSync();
  assert.match(read(dir, 'sub/x.txt'), /POP3: at exit\n$/);
  assert.equal(f.written, 1);
});
