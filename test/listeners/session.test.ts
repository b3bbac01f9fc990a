/**
 * The shared session dispatcher and the listener's session-level controls, end to end:
 * maxErrors and maxAuthErrors close the session at exactly their value with the protocol's
 * error; over-long lines, binary garbage and wrong-state commands are errors the session
 * survives; idle timeouts; backpressure on a client that stops reading; half-closed sockets;
 * implicit TLS and STARTTLS (pipelined plaintext dropped); a reload that tightens a limit keeps
 * open connections; a flood leaves no drift in the counts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, serviceNode, tmpDir, waitFor, type LineClient } from '../helpers.ts';

const FIXTURE = new URL('../fixtures/line-protocol.ts', import.meta.url).href;
const dir = tmpDir();
const cert = path.join(dir, 'cert.pem');
const key = path.join(dir, 'key.pem');

const config = (webadminMax: number): string => `
Server {
    services = (pop3 imap webmail webadmin)
    statusListener = 127.0.0.1:0
    logLevel = error
    pop3 = {
        listeners = (
            { address = 127.0.4.1:0 }
            { address = 127.0.4.2:0 idleTimeout = 1 }
        )
        maxErrors = 3
        maxAuthErrors = 2
        maxLineLength = 64
    }
    imap = {
        listeners = (
            {
                address = 127.0.5.1:0
                sslEnable = yes
                sslControl = { certFile = "${cert}" keyFile = "${key}" }
            }
            {
                address = 127.0.5.2:0
                sslControl = { certFile = "${cert}" keyFile = "${key}" }
            }
        )
    }
    webmail = {
        listeners = ( { address = 127.0.6.1:0 maxConnections = 50 peerMaxConnections = 1000 maxIntervalConnections = 0 peerMaxIntervalConnections = 0 } )
    }
    webadmin = {
        listeners = ( { address = 127.0.7.1:0 maxConnections = ${webadminMax} } )
    }
}`;

let server: Server;
before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  server = await startServer({ configText: config(10), dataDir: dir, statusPort: 0, controlSocket: false, protocolOverrides: { pop3: FIXTURE, imap: FIXTURE, webmail: FIXTURE, webadmin: FIXTURE }, loadIntervalMs: 100 });
});
after(async () => server.stop());

async function session(svc: string, i = 0, host?: string): Promise<LineClient> {
  const h = host ?? server.status().services.find((s) => s.name === svc)!.listeners[i]!.key.split(':')[0]!;
  const c = await connectLines(server.port(svc, i), h);
  assert.equal(await c.read(), '+OK fixture ready');
  return c;
}

const svcStatus = (name: string) => server.status().services.find((s) => s.name === name)!;

/** The pop3 fixture's session actors as the last status report shows them. */
const pop3Sessions = () => serviceNode(server.status().tree, 'pop3')!.children![0]!.children!.flatMap((t) => t.children ?? []);

test('maxErrors: wrong commands are answered, and the 3rd closes the session with the protocol error', async () => {
  const c = await session('pop3');
  assert.equal(await c.cmd('BOGUS'), '-ERR unknown command');
  assert.equal(await c.cmd('WHOAMI'), '-ERR command not valid in this state');
  assert.equal(await c.cmd('ECHO still fine'), '+OK still fine');
  assert.equal(await c.cmd('ALSO BOGUS'), '-ERR too many errors, closing');
  await c.closed;
  await waitFor(() => svcStatus('pop3').listeners[0]!.refused.error_limit === 1, 5000, 'error_limit counted');
});

test('maxAuthErrors: the 2nd failed login closes the session with -ERR [AUTH]', async () => {
  const c = await session('pop3');
  assert.equal(await c.cmd('LOGIN bob wrong'), '-ERR [AUTH] bad credentials');
  assert.equal(await c.cmd('LOGIN bob wrong'), '-ERR [AUTH] too many authentication failures, closing');
  await c.closed;
  const ok = await session('pop3');
  assert.equal(await ok.cmd('LOGIN bob secret'), '+OK logged in');
  assert.equal(await ok.cmd('WHOAMI'), '+OK bob plain');
  ok.close();
});

test('an over-long line is an error, never a growing buffer; the session carries on', async () => {
  const c = await session('pop3');
  c.socket.write(`ECHO ${'x'.repeat(1_000_000)}\r\n`);
  assert.equal(await c.read(), '-ERR line longer than 64 bytes');
  assert.equal(await c.cmd(`ECHO ${'y'.repeat(59)}`), `+OK ${'y'.repeat(59)}`);
  c.close();
});

test('binary garbage gets protocol errors and the server and other sessions carry on', async () => {
  const other = await session('pop3');
  const c = await session('pop3');
  c.socket.write(Buffer.from([0, 1, 2, 255, 254, 13, 10, 0x80, 0x81, 10]));
  assert.equal(await c.read(), '-ERR unknown command');
  assert.equal(await c.read(), '-ERR unknown command');
  assert.equal(await other.cmd('ECHO unaffected'), '+OK unaffected');
  c.close();
  other.close();
});

test('pipelined commands are answered in order; a half-closed client still gets every reply', async () => {
  const c = await session('pop3');
  c.socket.end('ECHO one\r\nECHO two\r\nNOOP\r\n');
  assert.equal(await c.read(), '+OK one');
  assert.equal(await c.read(), '+OK two');
  assert.equal(await c.read(), '+OK');
  await c.closed;
});

test('idleTimeout closes a silent session with the protocol message and counts it', async () => {
  const c = await session('pop3', 1);
  assert.equal(await c.read(3000), '-ERR idle timeout, closing');
  await c.closed;
  await waitFor(() => svcStatus('pop3').listeners[1]!.refused.idle_timeout === 1, 5000, 'idle_timeout counted');
});

test('a client that stops reading: the session pauses its socket at the high-water mark and loses nothing', async () => {
  const c = await session('pop3');
  c.socket.pause();
  const n = 20_000;
  const payload = 'ECHO abcdefghijklmnopqrstuvwxyz0123456789\r\n'.repeat(n);
  // a first command that takes its time (not a barrier), in the same write: the lines behind it
  // queue up whatever the kernel's socket buffers would absorb of a client that does not read
  c.socket.write(`NAP 3000\r\n${payload}`);
  // the signal: the session's mailbox fills up to the fixture's high-water mark (16, NAP taken
  // out of it by its handler: 15 left queued), where reading pauses; no depth seen on the way
  // passes it, and the unsplit input stays about one socket read (not the 860 KB sent)
  const depths: number[] = [];
  const buffered: number[] = [];
  const depth = (): number => {
    const sessions = pop3Sessions();
    buffered.push(Math.max(0, ...sessions.map((a) => Number(a.extra?.bufferedBytes ?? 0))));
    depths.push(Math.max(0, ...sessions.map((a) => a.mailboxDepth)));
    return depths.at(-1)!;
  };
  await waitFor(() => depth() >= 15, 10_000, 'the session mailbox at its high-water mark');
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 100)); // a few more status reports (not a signal: more samples of the bound)
    depth();
  }
  assert.ok(Math.max(...depths) <= 17, `mailbox depths ${Math.max(...depths)} stay at the high-water mark`);
  assert.ok(Math.max(...buffered) <= 256 * 1024, `the session buffered ${Math.max(...buffered)} bytes while paused`);
  c.socket.resume();
  assert.equal(await c.read(10_000), '+OK nap');
  for (let i = 0; i < n; i++) assert.equal(await c.read(), '+OK abcdefghijklmnopqrstuvwxyz0123456789');
  assert.equal(await c.cmd('NOOP'), '+OK');
  c.close();
});

test('while a barrier command waits for its handler, the session stops reading instead of buffering a flood', async () => {
  const c = await session('pop3');
  const flood = Buffer.alloc(8 * 1024 * 1024, 'A'); // no newline: one endless line
  c.socket.write(Buffer.concat([Buffer.from('SLOW 2000\r\n'), flood])); // one write: the first read holds both
  let replied = false;
  const reply = c.read(15_000).finally(() => (replied = true));
  // the signal: the flood's first bytes sit in the session's buffer behind the barrier; from
  // then until the reply, it holds at most about one socket read, not the flood
  const seen: number[] = [];
  const buffered = (): number => {
    const b = Math.max(0, ...pop3Sessions().map((a) => Number(a.extra?.bufferedBytes ?? 0)));
    seen.push(b);
    return b;
  };
  await waitFor(() => buffered() > 0, 10_000, 'the flood buffered behind the barrier');
  while (!replied) {
    buffered();
    await Promise.race([reply.catch(() => {}), new Promise((r) => setTimeout(r, 25))]);
  }
  assert.ok(Math.max(...seen) <= 256 * 1024, `the session buffered ${Math.max(...seen)} bytes while blocked`);
  assert.equal(await reply, '+OK slow');
  c.close();
});

test('implicit TLS listener: the session runs over TLS', async () => {
  const port = server.port('imap', 0);
  const s = tls.connect({ host: '127.0.5.1', port, rejectUnauthorized: false });
  const lines = await new Promise<string[]>((resolve, reject) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('secureConnect', () => s.write('LOGIN ann secret\r\nWHOAMI\r\nQUIT\r\n'));
    s.on('data', (d: string) => (buf += d));
    s.on('close', () => resolve(buf.trim().split('\r\n')));
    s.on('error', reject);
  });
  assert.deepEqual(lines, ['+OK fixture ready', '+OK logged in', '+OK ann tls', '+OK bye']);
});

test('STARTTLS upgrades the session and drops plaintext pipelined after it', async () => {
  const port = server.port('imap', 1);
  const raw = net.connect({ host: '127.0.5.2', port });
  let buf = '';
  raw.setEncoding('utf8');
  const onData = (d: string): void => void (buf += d);
  raw.on('data', onData);
  await waitFor(() => buf.includes('ready'), 3000, 'greeting');
  raw.write('STARTTLS\r\nLOGIN injected secret\r\n');
  await waitFor(() => buf.includes('begin TLS'), 3000, 'STARTTLS reply');
  raw.off('data', onData);
  const s = tls.connect({ socket: raw, rejectUnauthorized: false });
  await new Promise((r) => s.once('secureConnect', r));
  const out: string[] = [];
  s.setEncoding('utf8');
  s.on('data', (d: string) => out.push(...d.trim().split('\r\n')));
  s.write('WHOAMI\r\n');
  await waitFor(() => out.length >= 1, 3000, 'reply over TLS');
  assert.equal(out[0], '-ERR command not valid in this state'); // the pipelined LOGIN never ran
  s.write('LOGIN ann secret\r\nWHOAMI\r\n');
  await waitFor(() => out.length >= 3, 3000, 'replies over TLS');
  assert.deepEqual(out.slice(1, 3), ['+OK logged in', '+OK ann tls']);
  s.destroy();
});

test('a reload that tightens a limit applies to new connections and keeps open ones', async () => {
  const cs = [];
  for (let i = 0; i < 4; i++) cs.push(await session('webadmin'));
  await server.reload(config(2));
  for (const c of cs) assert.equal(await c.cmd('ECHO kept'), '+OK kept');
  const c = await connectLines(server.port('webadmin'), '127.0.7.1');
  assert.equal(await c.read(), '-ERR connection refused (listener_window)');
  for (const x of cs.splice(0, 3)) x.close();
  await waitFor(() => svcStatus('webadmin').openConnections === 1, 5000, 'release');
  const again = await session('webadmin');
  const refusedAgain = await connectLines(server.port('webadmin'), '127.0.7.1');
  assert.equal(await refusedAgain.read(), '-ERR connection refused (listener_window)');
  again.close();
  cs[0]!.close();
  await server.reload(config(10));
});

test('a flood of connections leaves no drift: zero open afterwards and the limit admits again', async () => {
  const port = server.port('webmail');
  const results = await Promise.all(
    Array.from({ length: 400 }, () =>
      new Promise<'ok' | 'refused' | 'error'>((resolve) => {
        const s = net.connect({ host: '127.0.6.1', port });
        let buf = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          buf += d;
          if (buf.includes('\n')) {
            const ok = buf.startsWith('+OK');
            if (ok) setTimeout(() => s.destroy(), 50);
            resolve(ok ? 'ok' : 'refused');
          }
        });
        s.on('error', () => resolve('error'));
        s.on('close', () => resolve('error'));
      }),
    ),
  );
  assert.ok(results.filter((r) => r === 'ok').length >= 50);
  assert.ok(results.filter((r) => r === 'refused').length > 0);
  await waitFor(() => svcStatus('webmail').openConnections === 0, 10_000, 'zero open after the flood');
  const l = svcStatus('webmail').listeners[0]!;
  assert.equal(l.accepted + (l.refused.listener_window ?? 0), results.filter((r) => r !== 'error').length);
  const cs = [];
  for (let i = 0; i < 50; i++) cs.push(await session('webmail'));
  const over = await connectLines(port, '127.0.6.1');
  assert.equal(await over.read(), '-ERR connection refused (listener_window)');
  for (const c of cs) c.close();
});
