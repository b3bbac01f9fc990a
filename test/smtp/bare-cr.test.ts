/**
 * test/smtp/bare-cr.test.ts: a bare CR (one not followed by LF) in DATA or BDAT is refused
 * exactly as a bare LF is (550 5.5.2), unless `allowBareCarriageReturn`: "\r.\r\n", CR.CR and
 * CRLF.CR never end the text, the message is not queued, and the session carries on. A bare LF
 * in BDAT is refused too; a BODY=BINARYMIME text is binary and not looked at. Also the
 * decoder and the chunk collector against the byte-by-byte definition, in random chunks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkCollector, DotDecoder } from '../../src/protocols/smtp/data.ts';
import { cleanup, queueList, rawSmtp, readInbox, startSmtpServer, waitMessages, type RawSmtp, type TestServer } from './helpers.ts';

let t: TestServer; // defaults: bare CR and bare LF refused
let lax: TestServer; // allowBareCarriageReturn = yes

before(async () => {
  [t, lax] = await Promise.all([startSmtpServer(), startSmtpServer({ smtp: 'allowBareCarriageReturn = yes' })]);
  await t.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
  await lax.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
});
after(async () => {
  await Promise.all([t.stop().catch(() => {}), lax.stop().catch(() => {})]);
  cleanup(t.dir);
  cleanup(lax.dir);
});

async function envelope(c: RawSmtp, body = ''): Promise<void> {
  assert.equal((await c.cmd(`MAIL FROM:<sender@remote.example>${body}`)).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
}

async function data(c: RawSmtp, text: string): Promise<string> {
  await envelope(c);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write(Buffer.from(text, 'latin1'));
  return (await c.reply()).text;
}

const HEAD = 'From: s@remote.example\r\nTo: ann@example.org\r\nSubject: bare\r\n\r\n';
const BARE_CR = [
  ['\\r.\\r\\n', `${HEAD}line\r.\r\nMAIL FROM:<x@y.example>\r\n.\r\n`],
  ['CR.CR', `${HEAD}line\r.\rRCPT TO:<x@y.example>\r\n.\r\n`],
  ['CRLF.CR', `${HEAD}line\r\n.\rDATA\r\n.\r\n`],
  ['CR in a line', `${HEAD}bare\rcr\r\n.\r\n`],
  ['CR before CRLF', `${HEAD}text\r\r\n.\r\n`],
] as const;

test('DATA: every bare CR form is refused with the bare LF code, nothing is queued, the session carries on', async () => {
  const c = await rawSmtp(t.port);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  const lf = await data(c, `${HEAD}bare\nlf\r\n.\r\n`);
  assert.match(lf, /^550 5\.5\.2 Error: bare <LF> received/);
  for (const [name, text] of BARE_CR) {
    const r = await data(c, text);
    assert.match(r, /^550 5\.5\.2 Error: bare <CR> received/, name);
    assert.equal((await c.cmd('NOOP')).code, 250, name);
  }
  assert.match(await data(c, `${HEAD}a good one\r\n.\r\n`), /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await c.cmd('QUIT')).code, 221);
  await waitMessages(t.server, 'ann@example.org', 1);
  assert.deepEqual(await queueList(t.server), []);
});

test('BDAT: a bare CR (also across chunks, and as the last byte) or a bare LF is refused; BINARYMIME is not looked at', async () => {
  const c = await rawSmtp(t.port);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  const bdat = async (chunks: string[], body = ''): Promise<string> => {
    await envelope(c, body);
    for (const [i, chunk] of chunks.entries()) {
      const last = i === chunks.length - 1;
      c.write(Buffer.concat([Buffer.from(`BDAT ${Buffer.byteLength(chunk, 'latin1')}${last ? ' LAST' : ''}\r\n`), Buffer.from(chunk, 'latin1')]));
      const r = await c.reply();
      if (last) return r.text;
      assert.equal(r.code, 250, r.text);
    }
    throw new Error('no chunks');
  };
  assert.match(await bdat([`${HEAD}a\r.\r\nb\r\n`]), /^550 5\.5\.2 Error: bare <CR> received/);
  assert.match(await bdat([`${HEAD}a\r`, 'b\r\n']), /^550 5\.5\.2 Error: bare <CR> received/, 'CR at a chunk edge');
  assert.match(await bdat([`${HEAD}a\r\n`, 'b\r']), /^550 5\.5\.2 Error: bare <CR> received/, 'CR as the last byte');
  assert.match(await bdat([`${HEAD}a\r`, '\nb\n']), /^550 5\.5\.2 Error: bare <LF> received/);
  assert.match(await bdat([`${HEAD}a\r`, '\nb\r\n']), /^250 2\.0\.0 Ok: queued as /, 'CRLF split over two chunks');
  assert.match(await bdat([`${HEAD}\x00\rbinary\n`], ' BODY=BINARYMIME'), /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await c.cmd('NOOP')).code, 250);
  c.close();
  await waitMessages(t.server, 'ann@example.org', 3);
});

test('allowBareCarriageReturn = yes: the bare CR is kept as data (and still ends no line)', async () => {
  const c = await rawSmtp(lax.port);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  assert.match(await data(c, BARE_CR[0][1]), /^250 2\.0\.0 Ok: queued as /);
  assert.match(await data(c, `${HEAD}bare\nlf\r\n.\r\n`), /^550 5\.5\.2 Error: bare <LF> received/, 'bare LF has its own option');
  c.close();
  await waitMessages(lax.server, 'ann@example.org', 1);
  await lax.stop();
  const [m] = await readInbox(lax.dir, 'ann@example.org');
  assert.ok(m!.endsWith('line\r.\r\nMAIL FROM:<x@y.example>\r\n'), JSON.stringify(m));
});

test('the decoder and the collector flag exactly the bare CRs and LFs, in any chunking', () => {
  let seed = 777;
  const rnd = (n: number): number => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  const alphabet = [97, 46, 13, 10, 13, 10];
  const bareCrIn = (b: Buffer, end: number): boolean => b.subarray(0, end).some((c, i) => c === 13 && (i + 1 >= end || b[i + 1] !== 10));
  const bareLfIn = (b: Buffer): boolean => b.some((c, i) => c === 10 && (i === 0 || b[i - 1] !== 13));
  let ended = 0;
  for (let round = 0; round < 5000; round++) {
    const input = Buffer.from(Array.from({ length: rnd(30) }, () => alphabet[rnd(alphabet.length)]!));
    const d = new DotDecoder(1 << 20);
    const k = new ChunkCollector(1 << 20);
    let used = -1;
    for (let at = 0; at < input.length;) {
      const len = 1 + rnd(5);
      const piece = input.subarray(at, at + len);
      k.add(piece);
      if (used < 0) {
        const u = d.feed(piece);
        if (u >= 0) used = at + u;
      }
      at += len;
    }
    const what = JSON.stringify(input.toString('latin1'));
    if (used >= 0) {
      ended++;
      assert.equal(d.bareCr, bareCrIn(input, used), what);
    }
    assert.equal(k.bareCr, bareCrIn(input, input.length), what);
    assert.equal(k.bareLf, bareLfIn(input), what);
  }
  assert.ok(ended > 100, `only ${ended} inputs ended`);
});
