/**
 * test/proxy/connection.test.ts: the connections around the splice: TLS to the back end
 * (connectionData sslEnable, with sslVerify off, and a caFile that does not vouch for the back
 * end's certificate: the temporary error), the listener's idleTimeout over the spliced pair, and
 * a client that half-closes after its last commands (the back end's answers still reach it), a
 * stopping front end, and maxConnections counted over two connection threads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { tmpDir, waitFor } from '../helpers.ts';
import { imap, tagged, type ImapEnv } from '../imap/helpers.ts';
import { pop3, readAll } from '../pop3/helpers.ts';
import { selfSignedCert } from '../probed.ts';
import { startBackend, startFront, type Front } from './helpers.ts';

const IDLE_S = 2;
let back: ImapEnv;
let front: Front;

before(async () => {
  back = await startBackend(['alice@example.org']);
  front = await startFront({
    listener: `idleTimeout = ${IDLE_S}`,
    both: 'authenticateOnProxy = no',
    // IMAP: implicit TLS to the back end's TLS listener, any certificate accepted
    imap: `mappingData = { mappingHost = "127.0.0.2" mappingPort = ${back.tlsPort} } connectionData = { sslEnable = yes sslVerify = no rwTimeout = 5 }`,
    // POP3: mappingData on the back end's POP3 listener; (TLS checked below on a second route)
    pop3: `mappingData = { mappingHost = "127.0.0.1" mappingPort = ${back.pop3Port} }`,
  });
});

after(async () => {
  await front?.stop();
  await back?.stop();
});

test('sslEnable: the proxy speaks TLS to the back end (sslVerify = no)', async () => {
  const c = await imap(front.imap);
  assert.match(tagged(await c.run('LOGIN alice@example.org pw-alice')), /^OK \[CAPABILITY /);
  const s = await c.run('SELECT INBOX');
  assert.ok(s.untagged.includes('* 1 EXISTS'));
  c.close();
});

test('sslEnable with a caFile that does not vouch for the back end: the temporary error', async () => {
  const other = selfSignedCert(tmpDir('postern-proxy-ca-')); // a CA that is not the back end's
  const f = await startFront({
    services: ['imapProxy'],
    imap: `authenticateOnProxy = no mappingData = { mappingHost = "127.0.0.2" mappingPort = ${back.tlsPort} } connectionData = { sslEnable = yes caFile = "${other.certFile}" rwTimeout = 5 }`,
  });
  try {
    const c = await imap(f.imap);
    assert.match(tagged(await c.run('LOGIN alice@example.org pw-alice')), /^NO \[UNAVAILABLE\] /);
    c.close();
  } finally {
    await f.stop();
  }
});

test('the listener\'s idleTimeout applies to the spliced pair: silence both ways ends it', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('alice@example.org', 'pw-alice'), /^\+OK/);
  const t0 = Date.now();
  await c.closed;
  const ms = Date.now() - t0;
  assert.ok(ms >= IDLE_S * 1000 - 300, `idle for idleTimeout (${ms} ms)`);
  assert.ok(ms < IDLE_S * 1000 + 5000, `closed within a margin (${ms} ms)`);
  await waitFor(() => (front.server.status().services.find((s) => s.name === 'pop3Proxy')?.listeners[0]?.refused.idle_timeout ?? 0) >= 1, 5000, 'idle_timeout counted');
});

test('a client that half-closes after its last commands still gets the back end\'s answers', async () => {
  const s = net.connect({ host: '127.0.0.1', port: front.pop3 });
  const all = readAll(s);
  s.write('USER alice@example.org\r\nPASS pw-alice\r\nSTAT\r\nQUIT\r\n');
  s.end();
  const text = (await all).toString();
  const lines = text.trim().split('\r\n');
  assert.match(lines[0]!, /^\+OK /); // greeting
  assert.equal(lines[1], '+OK send PASS');
  assert.match(lines[2]!, /^\+OK logged in/);
  assert.match(lines[3]!, /^\+OK 1 \d+$/);
  assert.match(lines[4]!, /signing off/);
});

test('a front end that stops ends its spliced sessions at once (the back end carries on)', async () => {
  const c = await imap(front.imap);
  assert.match(tagged(await c.run('LOGIN alice@example.org pw-alice')), /^OK/);
  assert.match(tagged(await c.run('SELECT INBOX')), /^OK/);
  await front.stop();
  await c.closed;
  const direct = await imap(back.port, 'alice@example.org', 'pw-alice');
  assert.match(tagged(await direct.run('SELECT INBOX')), /^OK/);
  direct.close();
});

test('connectionData maxConnections counts over all the service\'s connection threads', async () => {
  const b = await startBackend(['t1@example.org']);
  const f = await startFront({
    services: ['pop3Proxy'],
    threads: 'minConnThreads = 2 maxConnThreads = 2',
    pop3: `authenticateOnProxy = no mappingData = { mappingHost = "127.0.0.1" mappingPort = ${b.pop3Port} } connectionData = { maxConnections = 2 }`,
  });
  try {
    const held = [];
    for (let i = 0; i < 2; i++) {
      const c = await pop3(f.pop3);
      assert.match(await c.login('t1@example.org', 'pw-t1'), /^\+OK/);
      held.push(c);
    }
    for (let i = 0; i < 3; i++) { // whichever thread takes it
      const c = await pop3(f.pop3);
      assert.match(await c.login('t1@example.org', 'pw-t1'), /^-ERR \[SYS\/TEMP\] too many connections to the mail servers/);
      c.close();
    }
    held[0]!.close();
    await waitFor(async () => {
      const c = await pop3(f.pop3);
      const ok = /^\+OK/.test(await c.login('t1@example.org', 'pw-t1'));
      c.close();
      return ok;
    }, 5000, 'a freed connection');
    held[1]!.close();
  } finally {
    await f.stop();
    await b.stop();
  }
});
