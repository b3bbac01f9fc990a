/**
 * test/ftp/units.test.ts: the FTP service's pure parts, by table: path resolution inside the
 * virtual tree (every escape trick), the name encoding, the configuration files both ways
 * (round trips and every kind of malformed file), the message check of .eml uploads, and the
 * listing formats; the held preliminary reply of a download (data.ts `Transfer.hold`); message
 * file names; a session's body readers (one per segment file, bounded, closed with it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Packr } from 'msgpackr';
import { decodeName, encodeName, formatPath, quotePath, resolvePath } from '../../src/protocols/ftp/paths.ts';
import { decodeAccount, decodeDomain, encodeAccount, encodeDomain } from '../../src/protocols/ftp/registry.ts';
import { messageProblem } from '../../src/protocols/ftp/restore.ts';
import { listLine, mdtmTime, mlsxLine } from '../../src/protocols/ftp/listing.ts';
import { isPosternError } from '../../src/errors.ts';
import { sendBytes, Transfer } from '../../src/protocols/ftp/data.ts';
import { READERS_PER_SESSION, SessionBodies } from '../../src/protocols/ftp/bodies.ts';
import { messageUid } from '../../src/protocols/ftp/tree.ts';
import type { AccountBackup } from '../../src/store/types.ts';

const CWD = ['domains', 'a.org', 'users', 'ann'];

test('paths: relative, absolute, `.` and `..` resolve lexically and never above the root', () => {
  const ok: Array<[string, string]> = [
    ['', '/domains/a.org/users/ann'],
    ['folders/INBOX', '/domains/a.org/users/ann/folders/INBOX'],
    ['/', '/'],
    ['/domains//a.org/./users/', '/domains/a.org/users'],
    ['..', '/domains/a.org/users'],
    ['../../../../..', '/'],
    ['../../../../../../../../etc/passwd', '/etc/passwd'], // a name under the virtual root: not found there
    ['/../../../etc/shadow', '/etc/shadow'],
    ['folders/INBOX/1.eml/../../../CoreConfig.cfg', '/domains/a.org/users/ann/CoreConfig.cfg'],
    ['%2E%2E/%2E%2E', '/domains/a.org/users/ann/%2E%2E/%2E%2E'], // encoded dots are names, not steps
    ['~root', '/domains/a.org/users/ann/~root'],
    ['...', '/domains/a.org/users/ann/...'],
  ];
  for (const [arg, want] of ok) {
    const r = resolvePath(CWD, arg);
    assert.ok(r.ok, `${arg}: ${!r.ok ? r.why : ''}`);
    assert.equal(formatPath(r.names), want, arg);
    assert.ok(r.names.every((n) => n !== '..' && n !== '.' && n !== '' && !n.includes('/')), arg);
  }
});

test('paths: NUL, control characters, backslashes, over-long names and paths, deep paths are refused', () => {
  const bad = [
    'INBOX\0/../../x', 'a\0', 'a\r\nDELE x', 'a\u0007', '..\\..\\etc\\passwd', 'C:\\Windows',
    'x'.repeat(256), `a/${'b'.repeat(300)}`, `/${'abc/'.repeat(300)}`, Array.from({ length: 40 }, () => 'd').join('/'),
    'é'.repeat(128), // 256 bytes in UTF-8
  ];
  for (const arg of bad) assert.equal(resolvePath(CWD, arg).ok, false, JSON.stringify(arg.slice(0, 40)));
  assert.ok(resolvePath([], 'é'.repeat(127)).ok); // 254 bytes is fine
});

test('names: %, / and \\ are encoded; only the exact encoding decodes', () => {
  assert.equal(encodeName('a/b%c\\d'), 'a%2Fb%25c%5Cd');
  assert.equal(decodeName('a%2Fb%25c%5Cd'), 'a/b%c\\d');
  assert.equal(decodeName('plain'), 'plain');
  assert.equal(decodeName('a%2fb'), null); // lower-case hex is not how names are written
  assert.equal(decodeName('%41'), null);
  assert.equal(decodeName('100%'), null);
  assert.equal(quotePath('/a "b"'), '"/a ""b"""');
});

const ACCOUNT: AccountBackup = {
  address: 'ann@a.org', enabled: true, quotaBytes: 1000, quotaMessages: Infinity, services: ['pop3', 'imap'], cramMd5: true,
  passwordHash: 'scrypt$16384$8$1$c2FsdA==$a2V5', cramMd5Pads: new Uint8Array(32).fill(7), aliases: ['info@a.org'],
  scramSha256: 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
  folders: ['INBOX', 'Archive', 'Archive/2024', 'Quote "q" \\ back'], createdAt: 1_700_000_000_000,
};

test('registry: domain and account files round-trip in both kinds', () => {
  const dom = { name: 'a.org', enabled: false, primary: true, createdAt: 1_600_000_000_000 };
  for (const kind of ['bin', 'cfg'] as const) {
    assert.deepEqual(decodeDomain(encodeDomain(dom, kind), kind), dom);
    assert.deepEqual(decodeAccount(encodeAccount(ACCOUNT, kind), kind), ACCOUNT);
    const all = { ...ACCOUNT, services: 'all' as const, cramMd5: false, cramMd5Pads: null, scramSha256: null, quotaBytes: Infinity, aliases: [] };
    assert.deepEqual(decodeAccount(encodeAccount(all, kind), kind), all);
  }
  const text = encodeAccount(ACCOUNT, 'cfg').toString();
  assert.match(text, /^Account \{$/m);
  assert.match(text, /quotaMessages = unlimited/);
  assert.match(text, /services = \(pop3 imap\)/);
});

test('registry: malformed files are refused with a reason naming where', () => {
  const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;
  const cfg = (s: string) => Buffer.from(s);
  const cases: Array<[string, () => unknown, string, RegExp?]> = [
    ['syntax', () => decodeAccount(cfg('Account {\n  address = "a@b.org"\n'), 'cfg'), 'CONFIG_SYNTAX', /line 3/],
    ['unknown attribute', () => decodeAccount(cfg('Account {\n address = "a@b.org"\n passwordHash = "x"\n shell = "/bin/sh"\n}'), 'cfg'), 'CONFIG_UNKNOWN_ATTRIBUTE', /line 4, column 2/],
    ['wrong type', () => decodeAccount(cfg('Account {\n address = "a@b.org"\n passwordHash = "x"\n enabled = maybe\n}'), 'cfg'), 'CONFIG_TYPE', /enabled/],
    ['missing', () => decodeAccount(cfg('Account {\n address = "a@b.org"\n}'), 'cfg'), 'CONFIG_MISSING', /passwordHash/],
    ['duplicate', () => decodeDomain(cfg('Domain {\n name = "a.org"\n name = "b.org"\n}'), 'cfg'), 'CONFIG_DUPLICATE'],
    ['other object', () => decodeAccount(cfg('Domain {\n name = "a.org"\n}'), 'cfg'), 'CONFIG_TYPE', /Account/],
    ['two objects', () => decodeDomain(cfg('Domain { name = "a.org" }\nDomain { name = "b.org" }'), 'cfg'), 'CONFIG_TYPE'],
    ['negative quota', () => decodeAccount(cfg('Account {\n address = "a@b.org"\n passwordHash = "x"\n quotaBytes = -5\n}'), 'cfg'), 'CONFIG_TYPE'],
    ['bad hex', () => decodeAccount(cfg('Account {\n address = "a@b.org"\n passwordHash = "x"\n cramMd5Pads = "zz"\n}'), 'cfg'), 'CONFIG_TYPE'],
    ['not text', () => decodeDomain(Buffer.from([0xff, 0xfe, 0x00, 0x41]), 'cfg'), 'CONFIG_SYNTAX'],
    ['not msgpack', () => decodeDomain(Buffer.from([0x85, 0xa1]), 'bin'), 'CONFIG_SYNTAX'],
    ['trailing junk', () => decodeDomain(Buffer.concat([new Packr({ useRecords: false }).pack({ format: 'postern-domain', version: 1, name: 'a.org' }), Buffer.from('junk')]), 'bin'), 'CONFIG_SYNTAX'],
    ['reserved byte', () => decodeDomain(Buffer.from([0xc1]), 'bin'), 'CONFIG_TYPE'],
    ['wrong format', () => decodeDomain(new Packr({ useRecords: false }).pack({ format: 'postern-account', version: 1, name: 'a.org' }), 'bin'), 'CONFIG_TYPE'],
    ['bin unknown field', () => decodeDomain(new Packr({ useRecords: false }).pack({ format: 'postern-domain', version: 1, name: 'a.org', evil: 1 }), 'bin'), 'CONFIG_UNKNOWN_ATTRIBUTE'],
    ['bin wrong type', () => decodeDomain(new Packr({ useRecords: false }).pack({ format: 'postern-domain', version: 1, name: 7 }), 'bin'), 'CONFIG_TYPE'],
    ['bin array', () => decodeDomain(new Packr({ useRecords: false }).pack([1, 2]), 'bin'), 'CONFIG_TYPE'],
  ];
  for (const [what, fn, c, re] of cases) {
    assert.throws(fn, code(c), what);
    if (re !== undefined) assert.throws(fn, (e: unknown) => re.test((e as Error).message), `${what}: message`);
  }
});

test('message check: a header section first; anything else is refused', () => {
  assert.equal(messageProblem(Buffer.from('From: a@b\r\nSubject: x\r\n folded\r\n\r\nbody\r\n')), null);
  assert.equal(messageProblem(Buffer.from('From: a@b\n\nbody with\x00nul\n')), null); // bytes after the header are the sender's
  assert.match(messageProblem(Buffer.alloc(0))!, /empty/);
  assert.match(messageProblem(Buffer.from('just some text\r\n'))!, /header/);
  assert.match(messageProblem(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0]))!, /header/);
  assert.match(messageProblem(Buffer.from('From: a\r\nnot a header\r\n\r\nx'))!, /bad header line/);
  assert.match(messageProblem(Buffer.from('From: a\0b\r\n\r\nx'))!, /NUL/);
});

test('listing formats: ls -l lines, MLSD facts, MDTM times (UTC)', () => {
  const now = Date.UTC(2024, 5, 1, 12, 0, 0);
  const f = { name: '12.eml', dir: false, size: 1234, mtime: Date.UTC(2024, 4, 2, 3, 4, 5), perm: 'rd' };
  assert.equal(listLine(f, now), '-r--r--r-- 1 postern postern         1234 May 02 03:04 12.eml');
  assert.equal(listLine({ ...f, mtime: Date.UTC(2020, 0, 9) }, now), '-r--r--r-- 1 postern postern         1234 Jan 09  2020 12.eml');
  assert.equal(listLine({ name: 'INBOX', dir: true, size: 0, mtime: f.mtime, perm: 'el' }, now).slice(0, 10), 'drwxr-xr-x');
  assert.equal(mlsxLine(f), 'type=file;size=1234;modify=20240502030405;perm=rd; 12.eml');
  assert.equal(mlsxLine({ name: 'users', dir: true, size: 0, mtime: f.mtime, perm: 'elm' }), 'type=dir;modify=20240502030405;perm=elm; users');
  assert.equal(mdtmTime(Date.UTC(1999, 11, 31, 23, 59, 58)), '19991231235958');
});

test('held 150: a send the socket takes at once keeps it held; one that must wait for the client releases it, once', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const pair = async (): Promise<{ mine: net.Socket; theirs: net.Socket }> => {
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const theirs = net.connect(port, '127.0.0.1');
    theirs.pause(); // the client reads nothing until told
    return { mine: await accepted, theirs };
  };
  try {
    for (const [size, released] of [[100, 0], [32 << 20, 1]] as const) {
      const { mine, theirs } = await pair();
      const t = new Transfer();
      let flushed = 0;
      t.hold(() => flushed++);
      const sent = sendBytes(mine, Buffer.alloc(size, 97), 10_000, t);
      assert.equal(flushed, released, `${size} bytes`);
      theirs.resume();
      await sent;
      t.release();
      assert.equal(flushed, 1, 'written once in all');
      theirs.destroy();
    }
  } finally {
    server.close();
  }
});

test('message names: 1 to 10 digits and .eml, within the UID range; nothing else', () => {
  for (const [name, uid] of [['42.eml', 42], ['0000000042.eml', 42], ['1.eml', 1], ['4294967295.eml', 4294967295]] as const) assert.equal(messageUid(name), uid, name);
  for (const name of ['0.eml', '0000000000.eml', '.eml', '42.EML', '42.emlx', 'x42.eml', '4 2.eml', '-1.eml', '12345678901.eml', '4294967296.eml', '42', '%index.txt', '４２.eml']) assert.equal(messageUid(name), null, name);
});

test('session bodies: one reader per segment file, the least recently used closed past the bound, none after close', async () => {
  const b = new SessionBodies();
  const first = b.reader('/seg/a');
  assert.equal(b.reader('/seg/a'), first);
  for (let i = 1; i < READERS_PER_SESSION; i++) b.reader(`/seg/${i}`);
  assert.equal(b.files, READERS_PER_SESSION);
  b.reader('/seg/a'); // used again: the oldest is now /seg/1
  b.reader('/seg/new');
  assert.equal(b.files, READERS_PER_SESSION);
  assert.equal(b.reader('/seg/a'), first, 'the recently used reader stays');
  assert.equal(b.stream(), b.stream());
  b.close();
  assert.equal(b.files, 0);
  const loc = { path: '/seg/a', offset: 0, length: 1, crc: 0 };
  await assert.rejects(b.reader('/seg/a').read(loc), (e: unknown) => isPosternError(e) && e.code === 'STORE_CLOSED');
  await assert.rejects(first.read(loc), (e: unknown) => isPosternError(e) && e.code === 'STORE_CLOSED');
  assert.equal(b.files, 0, 'a closed session keeps no reader');
});
