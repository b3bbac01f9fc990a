/**
 * test/listeners/tls-options.test.ts: a listener's sslControl options, each tripped over real
 * TLS sockets on implicit-TLS POP3 listeners (README "A listener: … sslControl"):
 * `allowedVersions` (a TLS 1.2-only client is refused by a TLS 1.3-only listener),
 * `cipherSuite` (TLS 1.2: the one suite allowed is the one negotiated; a client without it is
 * refused), `requestClientAuth` with `maxChainDepth` (a client certificate whose chain is
 * deeper than allowed ends the connection; within the depth, or without a certificate, the
 * session goes on).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir } from '../helpers.ts';

let server: Server;
let dir: string;
const file = (n: string): string => path.join(dir, n);
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

before(async () => {
  dir = tmpDir('postern-tls-');
  // the server's certificate; a client CA and a client certificate it signed (chain depth 1)
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('key.pem'), '-out', file('cert.pem'), '-days', '2', '-subj', '/CN=localhost');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=client CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('client.key'), '-out', file('client.csr'), '-subj', '/CN=client');
  openssl('x509', '-req', '-in', file('client.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('client.pem'), '-days', '2');
  const ssl = (more: string): string => `sslEnable = yes sslControl = { certFile = "${file('cert.pem')}" keyFile = "${file('key.pem')}" ${more} }`;
  const configText = `
Server {
    services = (pop3)
    statusListener = 127.0.0.1:0
    logLevel = error
    pop3 = {
        listeners = (
            { address = 127.0.0.1:0 ${ssl('allowedVersions = (tls1_3)')} }
            { address = 127.0.0.2:0 ${ssl('allowedVersions = (tls1_2) cipherSuite = "ECDHE-RSA-AES128-GCM-SHA256"')} }
            { address = 127.0.0.3:0 ${ssl('requestClientAuth = yes maxChainDepth = 0')} }
            { address = 127.0.0.4:0 ${ssl('requestClientAuth = yes maxChainDepth = 1')} }
        )
        minConnThreads = 1
        maxConnThreads = 1
    }
}`;
  server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false });
});

after(async () => {
  await server?.stop();
});

interface Outcome {
  /** The first line the server sent ('' if none), the TLS version and cipher, or the error. */
  line: string;
  version: string | null;
  cipher: string | null;
  error: string | null;
}

/** Connect with `opts`, read the greeting (or see the connection end), close. */
function probe(listener: number, host: string, opts: tls.ConnectionOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = tls.connect({ port: server.port('pop3', listener), host, rejectUnauthorized: false, ...opts });
    let buf = '';
    let done = false;
    const finish = (error: string | null): void => {
      if (done) return;
      done = true;
      resolve({ line: buf.split('\r\n')[0] ?? '', version: s.getProtocol?.() ?? null, cipher: s.getCipher?.()?.name ?? null, error });
      s.destroy();
    };
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\r\n')) setImmediate(() => finish(null)); // a late close still shows as `error`
    });
    s.on('error', (e) => finish(e.message));
    s.on('close', () => finish('closed'));
  });
}

test('allowedVersions: a TLS 1.3-only listener refuses a TLS 1.2 client and serves a TLS 1.3 one', async () => {
  const old = await probe(0, '127.0.0.1', { maxVersion: 'TLSv1.2' });
  assert.equal(old.line, '', 'no greeting');
  assert.ok(old.error !== null, 'the handshake fails');
  const ok = await probe(0, '127.0.0.1');
  assert.match(ok.line, /^\+OK /);
  assert.equal(ok.version, 'TLSv1.3');
});

test('cipherSuite: a TLS 1.2 listener negotiates the one suite it allows and refuses a client without it', async () => {
  const ok = await probe(1, '127.0.0.2');
  assert.match(ok.line, /^\+OK /);
  assert.equal(ok.version, 'TLSv1.2', 'allowedVersions = (tls1_2) caps a TLS 1.3 client');
  assert.equal(ok.cipher, 'ECDHE-RSA-AES128-GCM-SHA256');
  const other = await probe(1, '127.0.0.2', { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' });
  assert.equal(other.line, '', 'no greeting');
  assert.ok(other.error !== null);
});

test('requestClientAuth + maxChainDepth: a chain deeper than allowed ends the connection; within it, or no certificate, the session goes on', async () => {
  const client = { cert: fs.readFileSync(file('client.pem')), key: fs.readFileSync(file('client.key')) };
  const withChain = { ...client, cert: Buffer.concat([client.cert, fs.readFileSync(file('ca.pem'))]) };
  const deep = await probe(2, '127.0.0.3', withChain);
  assert.doesNotMatch(deep.line, /^\+OK/, 'maxChainDepth = 0: a chain of depth 1 is refused');
  assert.ok(deep.error !== null, 'the connection ends');
  const fits = await probe(3, '127.0.0.4', withChain);
  assert.match(fits.line, /^\+OK /, 'maxChainDepth = 1: the same chain is accepted');
  assert.equal(fits.error, null);
  const none = await probe(2, '127.0.0.3');
  assert.match(none.line, /^\+OK /, 'a client without a certificate is served (requestClientAuth asks, does not require)');
});
