/**
 * test/session/framers.test.ts: the framers on their own (src/session/framer-*.ts): a table of
 * inputs → frames for each (line, IMAP literals, telnet options), the same frames whatever the
 * input's cut into chunks (every single cut, then seeded random cuts: the seed is in the
 * message of a failure), the limits tripped, and the buffers bounded on random input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Framer } from '../../src/session/framer.ts';
import { LineFramer } from '../../src/session/framer-line.ts';
import { ImapFramer, type ImapFramerOptions } from '../../src/session/framer-imap.ts';
import { DO, DONT, IAC, SB, SE, TelnetFramer, WILL, WONT, telnetEscape } from '../../src/session/framer-telnet.ts';
import { prng } from '../config/fixtures.ts';

const B = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** Push `chunks`, taking every frame after each; frames as short strings, a literal's data
 * chunks joined (their cut depends on the chunks), `go` answering synchronising literals. */
function run(f: Framer, chunks: Buffer[], go = true, bound?: number): string[] {
  const out: string[] = [];
  let data: string | null = null;
  for (const c of chunks) {
    f.push(c);
    for (let fr = f.next(); fr !== null; fr = f.next()) {
      if (fr.kind === 'data') {
        data = (data ?? '') + fr.chunk.toString('latin1');
        if (fr.last) {
          out.push(`data:${data}`);
          data = null;
        }
        continue;
      }
      assert.equal(data, null, 'a frame in the middle of a literal');
      if (fr.kind === 'line') out.push(`line:${fr.line.toString('latin1')}`);
      else if (fr.kind === 'toolong') out.push('toolong');
      else if (fr.kind === 'reply') out.push(`reply:${fr.bytes.toString('hex')}`);
      else if (fr.kind === 'toobig') out.push(`toobig:${fr.limit}:${fr.sync ? 'sync' : 'nonsync'}`);
      else {
        out.push(`literal:${fr.text.toString('latin1')}:${fr.size}:${fr.sync ? 'sync' : 'nonsync'}${fr.binary ? ':binary' : ''}`);
        if (fr.sync) f.literal!(go);
      }
    }
    if (bound !== undefined) assert.ok(f.buffered() <= bound, `buffered ${f.buffered()} > ${bound}`);
  }
  if (data !== null) out.push(`unfinished:${data}`);
  return out;
}

/** Telnet replies may come ahead of lines cut from earlier chunks: compare them apart. */
const apart = (frames: string[]): [string[], string] => [frames.filter((x) => !x.startsWith('reply:')), frames.filter((x) => x.startsWith('reply:')).map((x) => x.slice(6)).join('')];

/** The frames of `input` in one chunk equal those of every cut into two, and of random cuts. */
function splitInvariant(make: () => Framer, input: Buffer, go: boolean, seed: number, norm: (x: string[]) => unknown = (x) => x): void {
  const whole = norm(run(make(), [input], go));
  for (let i = 1; i < input.length; i++) assert.deepEqual(norm(run(make(), [input.subarray(0, i), input.subarray(i)], go)), whole, `cut at ${i} of ${JSON.stringify(input.toString('latin1'))}`);
  const rnd = prng(seed);
  for (let round = 0; round < 20; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; ) {
      const n = 1 + Math.floor(rnd() * 7);
      chunks.push(input.subarray(at, at + n));
      at += n;
    }
    assert.deepEqual(norm(run(make(), chunks, go)), whole, `seed ${seed}, round ${round}: cuts ${chunks.map((c) => c.length).join(',')}`);
  }
}

// ---------------------------------------------------------------- line framer

const LINE_MAX = 10;
const LINE_TABLE: Array<[string, string, string[]]> = [
  ['CRLF and LF lines', 'NOOP\r\nQUIT\n', ['line:NOOP', 'line:QUIT']],
  ['an empty line', '\r\n', ['line:']],
  ['a CR inside a line is data', 'a\rb\r\n', ['line:a\rb']],
  ['a partial line is kept', 'a\r\nbc', ['line:a']],
  ['a line of exactly the limit', '0123456789\r\n', ['line:0123456789']],
  ['a line one byte over', '0123456789A\r\nNOOP\r\n', ['toolong', 'line:NOOP']],
  ['a long line dropped as it streams, reported once', `${'x'.repeat(100)}\r\nNOOP\r\n`, ['toolong', 'line:NOOP']],
];

for (const [name, input, frames] of LINE_TABLE) {
  test(`line framer: ${name}`, () => {
    assert.deepEqual(run(new LineFramer(LINE_MAX), [B(input)]), frames);
    splitInvariant(() => new LineFramer(LINE_MAX), B(input), true, 101);
  });
}

test('line framer: raw bytes are handed as they are; partial and clear', () => {
  const f = new LineFramer(LINE_MAX);
  f.push(B('DATA\r\nhello\r\n.\r\n'));
  assert.deepEqual(f.next(), { kind: 'line', line: B('DATA') });
  assert.equal(f.raw()?.toString(), 'hello\r\n.\r\n');
  f.skip(7);
  assert.equal(f.raw()?.toString(), '.\r\n');
  f.push(B('abc'));
  f.next();
  assert.equal(f.partial(), true);
  f.clear();
  assert.equal(f.partial(), false);
  assert.equal(f.raw(), null);
});

// ---------------------------------------------------------------- IMAP framer

const IMAP: ImapFramerOptions = { maxLineLength: 40, maxLiteralBytes: 100, nonSyncMaxBytes: 50, maxLiterals: 2, maxCommandBytes: 120 };
const imap = (o: Partial<ImapFramerOptions> = {}) => () => new ImapFramer({ ...IMAP, ...o });

const IMAP_TABLE: Array<[string, string, string[], boolean?]> = [
  ['a command without literals', 'a1 NOOP\r\n', ['line:a1 NOOP']],
  ['a synchronising and a non-synchronising literal (LITERAL+)', 'a2 LOGIN {4}\r\nuser {6+}\r\nsecret\r\n', ['literal:a2 LOGIN :4:sync', 'data:user', 'literal: :6:nonsync', 'data:secret', 'line:']],
  ['a literal holds CRLF and braces, unparsed', 'a3 X {7+}\r\nab\r\n{1}\r\na4 NOOP\r\n', ['literal:a3 X :7:nonsync', 'data:ab\r\n{1}', 'line:', 'line:a4 NOOP']],
  ['{0}: one empty data frame', 'a5 APPEND INBOX {0}\r\n\r\n', ['literal:a5 APPEND INBOX :0:sync', 'data:', 'line:']],
  ['literal8 (~{n}, RFC 3516)', 'a6 APPEND INBOX ~{3+}\r\n\x00\xff\x01 x\r\n', ['literal:a6 APPEND INBOX :3:nonsync:binary', 'data:\x00\xff\x01', 'line: x']],
  ['LF-only line ends', 'a7 LOGIN {1}\nu {1}\np\n', ['literal:a7 LOGIN :1:sync', 'data:u', 'literal: :1:sync', 'data:p', 'line:']],
  ['{n-}, {}, {1a} are no literals', 'a {3-}\r\nb {}\r\nc {1a}\r\n', ['line:a {3-}', 'line:b {}', 'line:c {1a}']],
  ['a refused synchronising literal ends the command', 'a8 LOGIN {4}\r\na9 NOOP\r\n', ['literal:a8 LOGIN :4:sync', 'line:a9 NOOP'], false],
  // limits
  ['maxLiteralBytes, synchronising: nothing follows it', 'b1 APPEND INBOX {101}\r\nb2 NOOP\r\n', ['toobig:literal:sync', 'line:b2 NOOP']],
  ['maxLiteralBytes, non-synchronising: its bytes and the command are dropped', `b3 APPEND INBOX {101+}\r\n${'m'.repeat(101)} {2+}\r\nxy\r\nb4 NOOP\r\n`, ['toobig:literal:nonsync', 'line:b4 NOOP']],
  ['a refused command ends at a synchronising literal', `b5 X {101+}\r\n${'m'.repeat(101)} {2}\r\nb6 NOOP\r\n`, ['toobig:literal:nonsync', 'line:b6 NOOP']],
  ['nonSyncMaxBytes (LITERAL-): a large one must be synchronising', `c1 APPEND INBOX {51+}\r\n${'m'.repeat(51)}\r\nc2 APPEND INBOX {51}\r\n${'n'.repeat(51)}\r\n`, ['toobig:literal:nonsync', 'literal:c2 APPEND INBOX :51:sync', `data:${'n'.repeat(51)}`, 'line:']],
  ['maxLiterals per command', 'd1 X {1+}\r\nx {1+}\r\ny {1+}\r\nz\r\nd2 NOOP\r\n', ['literal:d1 X :1:nonsync', 'data:x', 'literal: :1:nonsync', 'data:y', 'toobig:count:nonsync', 'line:d2 NOOP']],
  ['maxCommandBytes, literals counted', `e1 X {60}\r\n${'a'.repeat(60)} {50+}\r\n${'b'.repeat(50)}\r\ne2 NOOP\r\n`, ['literal:e1 X :60:sync', `data:${'a'.repeat(60)}`, 'toobig:command:nonsync', 'line:e2 NOOP']],
  ['maxCommandBytes, on the last part', `e3 X {50}\r\n${'a'.repeat(50)} {30}\r\n${'b'.repeat(30)}${'c'.repeat(30)}\r\ne4 NOOP\r\n`, ['literal:e3 X :50:sync', `data:${'a'.repeat(50)}`, 'literal: :30:sync', `data:${'b'.repeat(30)}`, 'toobig:command:sync', 'line:e4 NOOP']],
  ['a size past 2^53 is refused, not parsed', 'f1 X {99999999999999999999}\r\nf2 NOOP\r\n', ['toobig:literal:sync', 'line:f2 NOOP']],
  ['a line part over maxLineLength ends the command', `g1 X {1+}\r\nx${'y'.repeat(50)}\r\ng2 NOOP\r\n`, ['literal:g1 X :1:nonsync', 'data:x', 'toolong', 'line:g2 NOOP']],
];

IMAP_TABLE.forEach(([name, input, frames, go], i) => {
  test(`IMAP framer: ${name}`, () => {
    assert.deepEqual(run(imap()(), [B(input)], go ?? true), frames);
    splitInvariant(imap(), B(input), go ?? true, 200 + i);
  });
});

test('IMAP framer: a synchronising literal waits for the answer, whatever the client sends early', () => {
  const f = new ImapFramer(IMAP);
  f.push(B('h1 LOGIN {2}\r\n'));
  assert.deepEqual(f.next(), { kind: 'literal', text: B('h1 LOGIN '), size: 2, sync: true, binary: false });
  f.push(B('ab\r\n'));
  assert.equal(f.next(), null, 'no frame before the dispatcher answers');
  assert.equal(f.partial(), false, 'waiting for the server is not a slow client');
  f.literal(true);
  assert.deepEqual(f.next(), { kind: 'data', chunk: B('ab'), last: true });
  assert.deepEqual(f.next(), { kind: 'line', line: B('') });
});

// ---------------------------------------------------------------- telnet framer

const TN_MAX = 20;
const ECHO = 1;
const SGA = 3;
const TTYPE = 24;
const NAWS = 31;
const TELNET_TABLE: Array<[string, Buffer, string[], string]> = [
  ['plain lines', B('help\r\nquit\r\n'), ['line:help', 'line:quit'], ''],
  ['DO is refused with WONT, WILL with DONT', B([IAC, DO, ECHO], [IAC, WILL, NAWS], 'status\r\n'), ['line:status'], 'fffc01fffe1f'],
  ['a client opening (PuTTY-like): all refused, the line clean', B([IAC, WILL, NAWS, IAC, WILL, TTYPE, IAC, DO, ECHO, IAC, DO, SGA], 'who', [IAC, WILL, SGA], 'ami\r\n'), ['line:whoami'], 'fffe1ffffe18fffc01fffc03fffe03'],
  ['a repeated request is answered once', B([IAC, DO, ECHO], 'a\r\n', [IAC, DO, ECHO, IAC, DO, ECHO], 'b\r\n'), ['line:a', 'line:b'], 'fffc01'],
  ['DONT and WONT get no answer', B([IAC, DONT, ECHO, IAC, WONT, NAWS], 'x\r\n'), ['line:x'], ''],
  ['a subnegotiation is dropped, IAC IAC inside it too', B('ab', [IAC, SB, NAWS, 0, 80, IAC, IAC, 24, IAC, SE], 'cd\r\n'), ['line:abcd'], ''],
  ['IAC IAC is a data byte 255', B('a', [IAC, IAC], 'b\r\n'), ['line:a\xffb'], ''],
  ['NOP, AYT, IP, GA are dropped', B([IAC, 241], 'a', [IAC, 246, IAC, 244], 'b', [IAC, 249], '\r\n'), ['line:ab'], ''],
  ['CR NUL is a bare CR', B('a\r', [0], 'b\r\n'), ['line:a\rb'], ''],
  ['a long line is dropped, its options still refused', B('x'.repeat(30), [IAC, DO, ECHO], 'y'.repeat(30), '\r\nok\r\n'), ['toolong', 'line:ok'], 'fffc01'],
];

TELNET_TABLE.forEach(([name, input, lines, replies], i) => {
  test(`telnet framer: ${name}`, () => {
    assert.deepEqual(apart(run(new TelnetFramer(TN_MAX), [input])), [lines, replies]);
    splitInvariant(() => new TelnetFramer(TN_MAX), input, true, 300 + i, apart);
  });
});

test('telnet framer: an unterminated subnegotiation keeps the command deadline running', () => {
  const f = new TelnetFramer(TN_MAX);
  f.push(B([IAC, SB, TTYPE], 'x'.repeat(10_000)));
  assert.equal(f.next(), null);
  assert.equal(f.partial(), true);
  assert.equal(f.buffered(), 0, 'nothing of it is kept');
  f.push(B([IAC, SE], 'ok\r\n'));
  assert.deepEqual(f.next(), { kind: 'line', line: B('ok') });
  assert.equal(f.partial(), false);
});

test('telnet framer: the refusals written are bounded whatever is sent', () => {
  const f = new TelnetFramer(TN_MAX);
  let replied = 0;
  for (let round = 0; round < 4; round++) {
    const b: number[] = [];
    for (let opt = 0; opt < 256; opt++) b.push(IAC, DO, opt, IAC, WILL, opt);
    f.push(Buffer.from(b));
    for (let fr = f.next(); fr !== null; fr = f.next()) if (fr.kind === 'reply') replied += fr.bytes.length;
  }
  assert.equal(replied, 512 * 3);
});

test('telnetEscape doubles 255', () => {
  assert.deepEqual(telnetEscape(B('a', [IAC], 'b')), B('a', [IAC, IAC], 'b'));
  assert.deepEqual(telnetEscape('plain'), B('plain'));
});

// ---------------------------------------------------------------- random input (property)

test('random input: same frames however cut, buffers bounded (property, seeded)', () => {
  const pieces = ['a', ' ', '\r', '\n', '\r\n', '{', '}', '+', '~', '1', '5', '{3}\r\n', '{2+}\r\n', '{60+}\r\n', '{0}\r\n', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'];
  const tn = [[IAC], [IAC, IAC], [IAC, DO], [IAC, WILL, 7], [IAC, SB], [IAC, SE], [0], [13, 0]];
  for (let seed = 1; seed <= 60; seed++) {
    const rnd = prng(seed);
    const parts: Buffer[] = [];
    for (let i = 0; i < 80; i++) {
      const r = rnd();
      parts.push(r < 0.15 ? Buffer.from(tn[Math.floor(rnd() * tn.length)]!) : B(pieces[Math.floor(rnd() * pieces.length)]!));
    }
    const input = Buffer.concat(parts);
    const cuts = (): Buffer[] => {
      const out: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const n = 1 + Math.floor(rnd() * 9);
        out.push(input.subarray(at, at + n));
        at += n;
      }
      return out;
    };
    const go = rnd() < 0.7;
    const makers: Array<[string, () => Framer, number, (x: string[]) => unknown]> = [
      ['line', () => new LineFramer(LINE_MAX), LINE_MAX + 1, (x) => x],
      ['imap', imap(), IMAP.maxLineLength + 1, (x) => x],
      ['telnet', () => new TelnetFramer(TN_MAX), TN_MAX + 1, apart],
    ];
    for (const [name, make, bound, norm] of makers) {
      const whole = norm(run(make(), [input], go));
      // after the frames are taken, what stays buffered is one partial line at most
      assert.deepEqual(norm(run(make(), cuts(), go, bound)), whole, `${name}, seed ${seed}`);
    }
  }
});
