/**
 * test/userdb/file-map.test.ts: the `file` user map (src/userdb/file.ts) through openUserMap:
 * exact entries (case-insensitive) before regular expressions, regexes in file order, host and
 * host:port targets, comments; a changed file is re-read on the next lookup; a bad file keeps
 * the last good version and is logged once; a file that never loaded is USERDB_UNAVAILABLE;
 * parseMapFile names the bad line.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { openUserMap } from '../../src/userdb/index.ts';
import { parseHostPort, parseMapFile } from '../../src/userdb/file.ts';
import { tmpDir } from '../helpers.ts';
import type { Logger } from '../../src/log.ts';

function captureLog(): { log: Logger; lines: Array<{ msg: string }> } {
  const lines: Array<{ msg: string }> = [];
  const log: Logger = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }));
  return { log, lines };
}

const MAP = `# routes of the cluster
alice@example.test   127.0.0.3
Bob@Example.test     127.0.0.4:1110

/.*@sales\\.example\\.test/  backend-sales:2110
/carol@.*/           [::1]:1110
/.*@example\\.test/   127.0.0.3
`;

test('exact entries first, then regexes in order; host and host:port; comments skipped', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'users.map');
  fs.writeFileSync(file, MAP);
  const map = openUserMap({ name: 'f', type: 'file', path: file }, captureLog().log);
  try {
    assert.deepEqual(await map.lookup('ALICE@example.test'), { host: '127.0.0.3', port: null, user: 'ALICE@example.test' });
    assert.deepEqual(await map.lookup('bob@example.test'), { host: '127.0.0.4', port: 1110, user: 'bob@example.test' });
    assert.deepEqual(await map.lookup('zed@sales.example.test'), { host: 'backend-sales', port: 2110, user: 'zed@sales.example.test' });
    assert.deepEqual(await map.lookup('carol@example.test'), { host: '::1', port: 1110, user: 'carol@example.test' }, 'the first matching regex wins');
    assert.deepEqual(await map.lookup('dan@example.test'), { host: '127.0.0.3', port: null, user: 'dan@example.test' });
    assert.equal(await map.lookup('dan@example.test.evil'), null, 'a regex matches the whole login');
    assert.equal(await map.lookup('nobody@elsewhere.test'), null);
    await assert.rejects(map.authenticate('alice@example.test', 'x'), { code: 'NOT_IMPLEMENTED' });
  } finally {
    await map.close();
  }
});

test('a changed file is re-read; a bad one keeps the last good version and is logged once', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'users.map');
  fs.writeFileSync(file, 'alice@example.test 127.0.0.3\n');
  const { log, lines } = captureLog();
  const map = openUserMap({ name: 'f', type: 'file', path: file }, log);
  assert.equal((await map.lookup('alice@example.test'))?.host, '127.0.0.3');
  fs.writeFileSync(file, 'alice@example.test 127.0.0.4:1110\nerin@example.test 127.0.0.3\n');
  assert.deepEqual(await map.lookup('alice@example.test'), { host: '127.0.0.4', port: 1110, user: 'alice@example.test' });
  assert.equal((await map.lookup('erin@example.test'))?.host, '127.0.0.3');
  // a bad line: the last good version stays, one warning however many lookups
  fs.writeFileSync(file, 'alice@example.test 127.0.0.9\nthis line is bad\n');
  for (let i = 0; i < 5; i++) assert.equal((await map.lookup('alice@example.test'))?.port, 1110);
  const warnings = lines.filter((l) => /last good version/.test(l.msg));
  assert.equal(warnings.length, 1, JSON.stringify(lines));
  // the file removed: still the last good one, logged once
  fs.rmSync(file);
  for (let i = 0; i < 3; i++) assert.equal((await map.lookup('erin@example.test'))?.host, '127.0.0.3');
  assert.equal(lines.filter((l) => /cannot be read/.test(l.msg)).length, 1);
  // fixed: used again
  fs.writeFileSync(file, '/.*/ 127.0.0.5\n');
  assert.equal((await map.lookup('alice@example.test'))?.host, '127.0.0.5');
  await map.close();
});

test('a map file that never loaded answers USERDB_UNAVAILABLE', async () => {
  const dir = tmpDir();
  const map = openUserMap({ name: 'f', type: 'file', path: path.join(dir, 'missing.map') }, captureLog().log);
  await assert.rejects(map.lookup('alice@example.test'), { code: 'USERDB_UNAVAILABLE' });
  fs.writeFileSync(path.join(dir, 'missing.map'), '/(/ 127.0.0.3\n');
  await assert.rejects(map.lookup('alice@example.test'), { code: 'USERDB_UNAVAILABLE' });
  await map.close();
});

test('parseMapFile names the bad line; parseHostPort checks host and port', () => {
  assert.throws(() => parseMapFile('# ok\nalice@x 127.0.0.1\nbob@x\n'), { code: 'USERDB_BAD_ENTRY', message: /^line 3: / });
  assert.throws(() => parseMapFile('alice@x 127.0.0.1:70000\n'), { message: /line 1: .*port must be 1-65535/ });
  assert.throws(() => parseMapFile('/a(/ 127.0.0.1\n'), { message: /line 1: bad regular expression/ });
  assert.throws(() => parseMapFile('alice@x bad_host!\n'), { message: /not a host name/ });
  assert.deepEqual(parseHostPort('mail.example.test:143'), { host: 'mail.example.test', port: 143 });
  assert.deepEqual(parseHostPort('::1'), { host: '::1', port: null });
  assert.deepEqual(parseHostPort('[::1]:993'), { host: '::1', port: 993 });
  const m = parseMapFile('a@x 1.2.3.4\nA@X 5.6.7.8\n');
  assert.equal(m.exact.get('a@x')?.host, '1.2.3.4', 'a repeated address: its first line wins');
});
