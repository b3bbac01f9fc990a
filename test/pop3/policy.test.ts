/**
 * The seed's per-connection login policy: plainConnAllowLogin / secureConnAllowLogin decide
 * USER/PASS, plainConnAuthTypes / secureConnAuthTypes the SASL mechanisms, allowStartTLS the
 * STLS command; CAPA lists exactly what this connection may use; greetingsText is the greeting;
 * a listener's idleTimeout ends a silent session with POP3's own -ERR.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { pop3, startPop3, type Pop3Env } from './helpers.ts';

let env: Pop3Env;
before(async () => {
  // the 1 s idleTimeout is on the plain listener, where no test logs in: a login (a slow
  // password hash on a loaded machine) never races it
  env = await startPop3({ pop3: 'allowStartTLS = no plainConnAllowLogin = no plainConnAuthTypes = (cramMd5) greetingsText = "Welcome to the test maildrop"', listener: 'idleTimeout = 1' });
  await env.addUser('pol@example.org', 'pw');
});
after(async () => env?.stop());

test('plain connection: no USER, only CRAM-MD5, no STLS; each refused with its error', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  const caps = await c.readMulti();
  assert.ok(!caps.includes('USER'));
  assert.ok(!caps.includes('STLS'));
  assert.ok(caps.includes('SASL CRAM-MD5'));
  assert.equal(await c.cmd('USER pol@example.org'), '-ERR [AUTH] USER/PASS not allowed on this connection');
  assert.equal(await c.cmd('AUTH PLAIN'), '-ERR mechanism not supported on this connection');
  assert.equal(await c.cmd('STLS'), '-ERR STLS not available');
  c.close();
});

test('greetingsText is the greeting', async () => {
  const raw = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.2', port: env.tlsPort, rejectUnauthorized: false });
    s.once('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
  });
  assert.equal(raw, '+OK Welcome to the test maildrop\r\n');
});

test('TLS connection: USER/PASS and every mechanism allowed', async () => {
  const s = tls.connect({ host: '127.0.0.2', port: env.tlsPort, rejectUnauthorized: false });
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (buf += d));
  const until = async (re: RegExp): Promise<string> => {
    for (let i = 0; i < 200 && !re.test(buf); i++) await new Promise((r) => setTimeout(r, 10));
    const m = re.exec(buf);
    assert.ok(m !== null, `expected ${re} in ${JSON.stringify(buf)}`);
    buf = buf.slice(m.index + m[0].length);
    return m[0];
  };
  await until(/\+OK[^\n]*\n/);
  s.write('CAPA\r\n');
  const caps = await until(/\+OK[^]*?\r\n\.\r\n/);
  assert.match(caps, /\r\nUSER\r\n/);
  assert.match(caps, /\r\nSASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\r\n/);
  s.write('USER pol@example.org\r\nPASS pw\r\nSTAT\r\nQUIT\r\n');
  await until(/\+OK send PASS\r\n/);
  await until(/\+OK logged in[^\n]*\n/);
  assert.equal(await until(/\+OK 0 0\r\n/), '+OK 0 0\r\n');
  s.destroy();
});

test('idleTimeout: a silent session is told and closed', async () => {
  const s = net.connect({ host: '127.0.0.1', port: env.port });
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (buf += d));
  const t0 = Date.now();
  await new Promise((r) => s.once('close', r));
  assert.match(buf, /^\+OK [^\r]*\r\n-ERR idle timeout, closing the connection\r\n$/);
  assert.ok(Date.now() - t0 >= 900);
});
