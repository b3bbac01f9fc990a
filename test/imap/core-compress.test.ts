/**
 * IMAP COMPRESS=DEFLATE (RFC 4978) over a raw socket with zlib (imaplib cannot): after the
 * tagged OK both directions are raw DEFLATE; commands, literals and large responses go
 * through it; a second COMPRESS is NO [COMPRESSIONACTIVE]; COMPRESS before login is BAD;
 * compressed garbage from the client ends the session; COMPRESS over TLS works the same.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { imap, imapOn, startImap, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';
let env: ImapEnv;

before(async () => {
  env = await startImap();
  await env.addUser(USER, PASS);
});
after(() => env.stop());

/** A client that can switch to DEFLATE; counts the bytes on the wire and after inflating. */
function deflating(socket: net.Socket) {
  const src = new EventEmitter();
  let on = false;
  const counts = { wire: 0, inflated: 0 };
  const inflate = zlib.createInflateRaw();
  inflate.on('data', (d: Buffer) => {
    counts.inflated += d.length;
    src.emit('data', d);
  });
  inflate.on('error', () => src.emit('close'));
  socket.on('data', (d: Buffer) => {
    if (!on) return void src.emit('data', d);
    counts.wire += d.length;
    inflate.write(d);
  });
  // the inflater works off the thread: its last data may come after the socket has closed, so
  // the client sees the close only once the inflater has handed everything on
  inflate.on('end', () => src.emit('close'));
  socket.on('close', () => (on ? inflate.end() : src.emit('close')));
  const deflate = zlib.createDeflateRaw();
  deflate.on('data', (d: Buffer) => socket.write(d));
  const write = (d: string | Buffer): void => {
    if (!on) return void socket.write(d);
    deflate.write(d);
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
  };
  const c = imapOn(socket, src, write);
  return { c, counts, start: () => (on = true), raw: (d: Buffer) => socket.write(d) };
}

async function connect(): Promise<ReturnType<typeof deflating>> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port: env.port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const d = deflating(socket);
  assert.match(await d.c.read(), /^\* OK /);
  return d;
}

test('COMPRESS DEFLATE: commands, literals and large responses go through DEFLATE both ways', async () => {
  const { c, counts, start } = await connect();
  assert.equal((await c.run('COMPRESS DEFLATE', 'z0')).tagged, 'z0 BAD COMPRESS log in first');
  await c.run(`LOGIN ${USER} ${PASS}`, 'z1');
  assert.equal((await c.run('COMPRESS DEFLATE', 'z2')).tagged, 'z2 OK DEFLATE active');
  start();
  assert.equal((await c.run('NOOP', 'z3')).tagged, 'z3 OK NOOP completed');
  assert.equal((await c.run('LIST "" INBOX', 'z4')).untagged[0], '* LIST (\\HasNoChildren) "/" INBOX');
  const body = `Subject: big\r\n\r\n${'All work and no play makes Jack a dull boy.\r\n'.repeat(3000)}`;
  c.write(`z5 APPEND INBOX {${body.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${body}\r\n`);
  assert.match((await c.until('z5')).tagged, /^z5 OK \[APPENDUID /);
  await c.run('SELECT INBOX', 'z6');
  const before = { ...counts };
  const f = await c.run('FETCH 1 RFC822.SIZE', 'z7');
  assert.deepEqual(f.untagged, [`* 1 FETCH (RFC822.SIZE ${body.length})`]);
  c.write('z8 FETCH 1 BODY.PEEK[]\r\n');
  assert.equal(await c.read(), `* 1 FETCH (BODY[] {${body.length}}`);
  const a = await c.until('z8');
  assert.match(a.tagged, /^z8 OK /);
  assert.ok(counts.wire - before.wire < (counts.inflated - before.inflated) / 10, `compressed on the wire: ${counts.wire - before.wire} bytes for ${counts.inflated - before.inflated}`);
  assert.equal((await c.run('COMPRESS DEFLATE', 'z9')).tagged, 'z9 NO [COMPRESSIONACTIVE] DEFLATE already active');
  assert.deepEqual(await c.run('LOGOUT', 'z10'), { untagged: ['* BYE logging out'], tagged: 'z10 OK LOGOUT completed' });
  await c.closed;
});

test('compressed garbage from the client ends the session', async () => {
  const { c, start, raw } = await connect();
  await c.run(`LOGIN ${USER} ${PASS}`, 'g1');
  assert.equal((await c.run('COMPRESS DEFLATE', 'g2')).tagged, 'g2 OK DEFLATE active');
  start();
  raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12, 0x34]));
  await c.closed;
});

test('COMPRESS over implicit TLS', async () => {
  const sock = tls.connect({ port: env.tlsPort, host: '127.0.0.2', rejectUnauthorized: false });
  await new Promise<void>((r) => sock.once('secureConnect', () => r()));
  const d = deflating(sock as unknown as net.Socket);
  assert.match(await d.c.read(), /^\* OK /);
  await d.c.run(`LOGIN ${USER} ${PASS}`, 't1');
  assert.equal((await d.c.run('COMPRESS DEFLATE', 't2')).tagged, 't2 OK DEFLATE active');
  d.start();
  assert.deepEqual(await d.c.run('NAMESPACE', 't3'), { untagged: ['* NAMESPACE (("" "/")) NIL NIL'], tagged: 't3 OK NAMESPACE completed' });
  d.c.close();
  const plain = await imap(env.port); // the server goes on
  assert.match(plain.greeting, /^\* OK /);
  plain.close();
});
