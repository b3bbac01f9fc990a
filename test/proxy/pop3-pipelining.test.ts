/**
 * test/proxy/pop3-pipelining.test.ts: the POP3 proxy's back-end login (protocols/pop3Proxy):
 * USER and PASS in one write only when the back end's CAPA says PIPELINING (RFC 2449 §6.6).
 * Two scripted back ends record the order of what they read: one offers PIPELINING (PASS
 * arrives before its USER answer is written), one does not (a PASS read before USER was
 * answered is a violation it refuses, so the login passes only if the proxy waited).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { pop3 } from '../pop3/helpers.ts';
import { startFront, type Front } from './helpers.ts';

interface Scripted {
  port: number;
  /** Per connection: what it read, with `>` marking where it answered USER. */
  log: string[][];
  close(): Promise<void>;
}

async function scripted(pipelining: boolean): Promise<Scripted> {
  const log: string[][] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const mine: string[] = [];
    log.push(mine);
    s.on('error', () => {});
    let buf = '';
    let userAnswered = false;
    s.write('+OK scripted ready\r\n');
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      // every complete line of this chunk is read before anything is answered: a PASS in the
      // same chunk as USER came before the USER answer
      const lines: string[] = [];
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
      const out: string[] = [];
      for (const l of lines) {
        const verb = l.split(' ')[0]!.toUpperCase();
        mine.push(verb);
        if (verb === 'CAPA') out.push(`+OK\r\nUSER\r\n${pipelining ? 'PIPELINING\r\n' : ''}.\r\n`);
        else if (verb === 'USER') out.push('+OK\r\n');
        else if (verb === 'PASS') out.push(!pipelining && !userAnswered ? '-ERR PASS before the USER answer\r\n' : '+OK logged in\r\n');
        else if (verb === 'QUIT') out.push('+OK bye\r\n');
        else out.push('-ERR unknown\r\n');
      }
      if (lines.some((l) => l.toUpperCase().startsWith('USER'))) {
        userAnswered = true;
        mine.push('>');
      }
      if (out.length > 0) s.write(out.join(''));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, log, close: () => new Promise((r) => { srv.close(() => r()); for (const c of sockets) c.destroy(); }) };
}

let withP: Scripted;
let withoutP: Scripted;
let frontP: Front;
let frontN: Front;

before(async () => {
  withP = await scripted(true);
  withoutP = await scripted(false);
  const common = 'authenticateOnProxy = no connectionData = { rwTimeout = 2 }';
  frontP = await startFront({ services: ['pop3Proxy'], pop3: `${common} mappingData = { mappingHost = "127.0.0.1" mappingPort = ${withP.port} }` });
  frontN = await startFront({ services: ['pop3Proxy'], pop3: `${common} mappingData = { mappingHost = "127.0.0.1" mappingPort = ${withoutP.port} }` });
});

after(async () => {
  await frontP?.stop();
  await frontN?.stop();
  await withP?.close();
  await withoutP?.close();
});

async function loginTwice(port: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const c = await pop3(port);
    assert.match(await c.login('someone@example.org', 'secret'), /^\+OK logged in/);
    c.close();
  }
}

test('a back end offering PIPELINING gets USER and PASS together; CAPA is asked once, not per login', async () => {
  await loginTwice(frontP.pop3);
  assert.deepEqual(withP.log[0], ['CAPA', 'USER', 'PASS', '>']);
  assert.deepEqual(withP.log[1], ['USER', 'PASS', '>'], 'the back end\'s PIPELINING is remembered');
});

test('a back end without PIPELINING gets PASS only after its USER answer', async () => {
  await loginTwice(frontN.pop3);
  assert.deepEqual(withoutP.log[0], ['CAPA', 'USER', '>', 'PASS']);
  assert.deepEqual(withoutP.log[1], ['USER', '>', 'PASS']);
});
