/**
 * test/proxy/parse.test.ts: the IMAP proxy's pre-login command reader (protocols/imapProxy/parse.ts)
 * as a table of input → command or BAD, the ID list written back, and the back-end connection
 * share of one thread (session/backend.ts BackendSlots: ceil(maxConnections / maxConnThreads),
 * PROXY_BUSY past it, a slot given back once), and the connector's errors (PROXY_BACKEND).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idList, parsePreLogin, quote } from '../../src/protocols/imapProxy/parse.ts';
import { BackendSlots, connectBackend } from '../../src/session/backend.ts';
import { closedPort, silentServer } from './helpers.ts';
import { isPosternError } from '../../src/errors.ts';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

test('pre-login commands: table of input → command', () => {
  const rows: Array<[string[], string[], unknown]> = [
    [['a CAPABILITY'], [], { tag: 'a', name: 'CAPABILITY' }],
    [['a1 noop'], [], { tag: 'a1', name: 'NOOP' }],
    [['x LOGIN alice@example.org secret'], [], { tag: 'x', name: 'LOGIN', user: 'alice@example.org', password: 'secret' }],
    [['x LOGIN "al ice" "p\\"w\\\\"'], [], { tag: 'x', name: 'LOGIN', user: 'al ice', password: 'p"w\\' }],
    [['x LOGIN ', ' '], ['alice', 'pässwörd'], { tag: 'x', name: 'LOGIN', user: 'alice', password: 'pässwörd' }],
    [['y AUTHENTICATE plain'], [], { tag: 'y', name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: null }],
    [['y AUTHENTICATE PLAIN AGEAYg=='], [], { tag: 'y', name: 'AUTHENTICATE', mechanism: 'PLAIN', initial: 'AGEAYg==' }],
    [['i ID NIL'], [], { tag: 'i', name: 'ID', params: null }],
    [['i ID ("name" "x" "os" NIL)'], [], { tag: 'i', name: 'ID', params: [['name', 'x'], ['os', null]] }],
    [['s SELECT INBOX'], [], { tag: 's', name: 'OTHER', verb: 'SELECT' }],
  ];
  for (const [parts, lits, want] of rows) {
    const r = parsePreLogin(parts.map(b), lits.map(b));
    assert.ok(r.ok, `${parts.join('{}')}: ${JSON.stringify(r)}`);
    assert.deepEqual(r.cmd, want);
  }
});

test('pre-login commands: malformed input is BAD with the tag when one was read', () => {
  const rows: Array<[string, string | null]> = [
    ['', null],
    ['+x NOOP', null],
    ['a', 'a'],
    ['a LOGIN onlyuser', 'a'],
    ['a LOGIN "unterminated', 'a'],
    ['a NOOP extra', 'a'],
    ['a ID ("odd")', 'a'],
    ['a ID (name "x")', 'a'],
    ['a AUTHENTICATE', 'a'],
    ['a LOGIN "bad\\escape" x', 'a'],
  ];
  for (const [line, tag] of rows) {
    const r = parsePreLogin([b(line)], []);
    assert.equal(r.ok, false, line);
    if (!r.ok) assert.equal(r.tag, tag, line);
  }
});

test('the ID list passed on: quoted again, unquotable pairs left out', () => {
  assert.equal(idList(null), 'NIL');
  assert.equal(idList([['name', 'my "client"'], ['os', null], ['bad', 'a\r\nb']]), '("name" "my \\"client\\"" "os" NIL)');
  assert.equal(idList([['x', '\n']]), 'NIL');
  assert.equal(quote('a\\b'), '"a\\\\b"');
  assert.equal(quote('a\0'), null);
});

test('BackendSlots: the thread\'s share of maxConnections, PROXY_BUSY past it, given back once', () => {
  const slots = new BackendSlots();
  const o = { rwTimeoutMs: 1000, maxConnections: 5, sslEnable: false, caFile: null, sslVerify: true, localInterface: '' };
  assert.equal(slots.limit(o, 2), 3);
  const held = [slots.take(o, 2), slots.take(o, 2), slots.take(o, 2)];
  assert.throws(() => slots.take(o, 2), (e: unknown) => isPosternError(e, 'PROXY_BUSY'));
  held[0]!();
  held[0]!(); // once
  assert.equal(slots.count, 2);
  slots.take(o, 2);
  assert.throws(() => slots.take(o, 2), (e: unknown) => isPosternError(e, 'PROXY_BUSY'));
});

test('connectBackend: a closed port, and a silent back end past the read timeout, are PROXY_BACKEND', async () => {
  const o = { rwTimeoutMs: 500, maxConnections: 5, sslEnable: false, caFile: null, sslVerify: true, localInterface: '' };
  await assert.rejects(connectBackend({ host: '127.0.0.1', port: await closedPort() }, o, 8192), (e: unknown) => isPosternError(e, 'PROXY_BACKEND'));
  const silent = await silentServer();
  try {
    const conn = await connectBackend({ host: '127.0.0.1', port: silent.port }, o, 8192);
    await assert.rejects(conn.readLine(o.rwTimeoutMs), (e: unknown) => isPosternError(e, 'PROXY_BACKEND'));
    conn.close();
  } finally {
    await silent.close();
  }
});
