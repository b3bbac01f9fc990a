/**
 * test/session/framed.test.ts: the one dispatcher (session/line-session.ts) fed by the telnet
 * and the IMAP-literal framers, over real sockets (fixtures/framed-protocol.ts, as the test-only
 * services testTelnet and testLiteral): the telnet client's option requests are refused and
 * never reach the command parser; a synchronising literal gets its continuation request, a
 * non-synchronising one none, a literal over a limit is refused and the session goes on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { TEST_LITERAL, TEST_TELNET } from '../fixtures/test-services.ts';
import { DO, IAC, SB, SE, WILL } from '../../src/session/framer-telnet.ts';

let server: Server;
before(async () => {
  const configText = `
Server {
    services = (testTelnet testLiteral)
    statusListener = 127.0.0.1:0
    logLevel = error
    testTelnet = { listeners = ( { address = 127.0.0.1:0 } ) }
    testLiteral = { listeners = ( { address = 127.0.0.1:0 } ) }
}`;
  server = await startServer({ configText, dataDir: tmpDir('postern-framed-'), statusPort: 0, controlSocket: false, testServices: [TEST_TELNET, TEST_LITERAL] });
});
after(async () => server.stop());

/** A raw client: every byte received, kept. */
async function raw(service: string): Promise<{ s: net.Socket; got: () => Buffer; until: (text: string | Buffer) => Promise<Buffer> }> {
  const s = net.connect(server.port(service), '127.0.0.1');
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  await new Promise((r) => s.once('connect', r));
  const until = (text: string | Buffer) => waitFor(() => (got.includes(text) ? got : null), 10_000, JSON.stringify(text.toString()));
  await until('+OK framed\r\n');
  return { s, got: () => got, until };
}

test('telnet: options are refused (DO → WONT, WILL → DONT) and the command line reaches the parser clean', async () => {
  const c = await raw('testTelnet');
  const NAWS = 31;
  const ECHO = 1;
  c.s.write(Buffer.from([IAC, WILL, NAWS, IAC, DO, ECHO]));
  c.s.write(Buffer.concat([Buffer.from('ECHO he'), Buffer.from([IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE, IAC, DO, ECHO]), Buffer.from('llo\r\n')]));
  const got = await c.until('+OK "hello"\r\n');
  const after = got.subarray(got.indexOf('+OK framed\r\n') + 12);
  assert.deepEqual(after.subarray(0, 6), Buffer.from([IAC, 0xfe, NAWS, IAC, 0xfc, ECHO]), 'WILL NAWS refused with DONT, DO ECHO with WONT, once each');
  assert.equal(after.subarray(6).toString('latin1'), '+OK "hello"\r\n');
  c.s.destroy();
});

test('IMAP literals: a continuation request for {n}, none for {n+}, the command gathered whole', async () => {
  const c = await raw('testLiteral');
  c.s.write('a1 LOGIN {4}\r\n');
  await c.until('+ go\r\n');
  c.s.write('user {6+}\r\nsecret\r\n');
  await c.until('+OK [a1 LOGIN |user| |secret|]\r\n');
  assert.equal(c.got().toString().split('+ go').length, 2, 'one continuation request only');
  c.s.write('ECHO after\r\n');
  await c.until('+OK "after"\r\n');
  c.s.destroy();
});

test('IMAP literals: limits refuse the command with TOOBIG and the session goes on', async () => {
  const c = await raw('testLiteral');
  c.s.write('b1 APPEND INBOX {101}\r\n'); // over maxLiteralBytes: no "+ go", the client sends nothing
  await c.until('BAD [TOOBIG] literal\r\n');
  c.s.write(`b2 APPEND INBOX {51+}\r\n${'m'.repeat(51)}\r\nECHO next\r\n`); // LITERAL-: its bytes come anyway, dropped
  await c.until('+OK "next"\r\n');
  assert.equal(c.got().toString().split('BAD [TOOBIG] literal').length, 3);
  c.s.write('b3 X {1+}\r\nx {1+}\r\ny {1+}\r\nz\r\nECHO last\r\n'); // maxLiterals 2
  await c.until('BAD [TOOBIG] count\r\n');
  await c.until('+OK "last"\r\n');
  assert.ok(!c.got().includes('+ go'), 'no continuation request for a refused literal');
  c.s.destroy();
});
